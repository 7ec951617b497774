/*
 * test_gw_alerts.c -- (being written)
 */
#include <stdio.h>

int main(void)
{
    return 0;
}

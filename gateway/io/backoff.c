/*
 * backoff.c -- capped exponential backoff with jitter (see backoff.h).
 */
#include "backoff.h"

#include <stdlib.h>

uint64_t gw_backoff_ms(unsigned attempt, uint64_t min_ms, uint64_t max_ms, unsigned *seed)
{
    uint64_t d = min_ms ? min_ms : 1;
    for (unsigned i = 0; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    return d / 2 + (uint64_t)rand_r(seed) % (d / 2 + 1);
}

uint64_t gw_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t gw_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t gw_mono_ms(void)
{
    return gw_mono_us() / 1000;
}

struct timespec gw_deadline_in(uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

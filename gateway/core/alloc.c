/*
 * alloc.c -- the core's allocator with a failure injection hook for tests.
 */
#include "alloc.h"

#include <stdlib.h>

static long fail_at = -1; /* index of the allocation to fail, or -1 */
static long n_allocs;

static int gw_alloc_should_fail(void)
{
    long i = n_allocs++;
    return fail_at >= 0 && i == fail_at;
}

void *gw_malloc(size_t size)
{
    if (gw_alloc_should_fail())
        return NULL;
    return malloc(size);
}

void *gw_calloc(size_t n, size_t size)
{
    if (gw_alloc_should_fail())
        return NULL;
    return calloc(n, size);
}

void *gw_realloc(void *ptr, size_t size)
{
    if (gw_alloc_should_fail())
        return NULL;
    return realloc(ptr, size);
}

void gw_free(void *ptr)
{
    free(ptr);
}

void gw_alloc_fail_after(long n)
{
    fail_at = n;
    n_allocs = 0;
}

long gw_alloc_count(void)
{
    return n_allocs;
}

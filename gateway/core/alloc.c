/*
 * alloc.c -- the core's allocator with a failure injection hook for tests.
 *
 * The hook's state is per thread: the gateway allocates from its MQTT, HTTP,
 * sink and main threads at once, and a shared counter would be a data race
 * on every allocation. A test arms the hook on the thread that runs the code
 * under test, which is the only one it affects.
 */
#include "alloc.h"

#include <stdlib.h>

static _Thread_local long fail_at = -1; /* index of the allocation to fail, or -1 */
static _Thread_local long n_allocs;

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

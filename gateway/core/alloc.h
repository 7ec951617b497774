/*
 * alloc.h -- every allocation of the core goes through these, so that tests
 * can make the Nth one fail and check that the core fails cleanly (SQLite's
 * fault simulator, curl's torture mode). Outside tests they are malloc & co.
 */
#ifndef CITYGATE_GW_ALLOC_H
#define CITYGATE_GW_ALLOC_H

#include <stddef.h>

void *gw_malloc(size_t size);
void *gw_calloc(size_t n, size_t size);
void *gw_realloc(void *ptr, size_t size);
void gw_free(void *ptr);

/*
 * Test hook: the allocation after the next n succeeds fails (n = 0 fails the
 * very next one); a negative n turns injection off. Tests only; it counts and
 * fails the calling thread's allocations only (other threads are unaffected).
 */
void gw_alloc_fail_after(long n);

/* Allocations the calling thread made since its last gw_alloc_fail_after() call. */
long gw_alloc_count(void);

/* uthash allocates through the core's allocator and reports failure instead of exiting. */
#define uthash_malloc(sz) gw_malloc(sz)
#define uthash_free(ptr, sz) gw_free(ptr)
#define HASH_NONFATAL_OOM 1

#endif

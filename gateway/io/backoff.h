/*
 * backoff.h -- the one retry delay policy of the gateway's adapters: capped
 * exponential backoff with jitter ("equal jitter": half fixed, half random),
 * so a store or webhook coming back is not hit by every retry at once.
 */
#ifndef CITYGATE_GW_BACKOFF_H
#define CITYGATE_GW_BACKOFF_H

#include <stdint.h>
#include <time.h>

/*
 * The delay before retry number attempt (0-based): min_ms doubled attempt
 * times, capped at max_ms, then drawn from [d/2, d]. seed is the caller's
 * rand_r() state.
 */
uint64_t gw_backoff_ms(unsigned attempt, uint64_t min_ms, uint64_t max_ms, unsigned *seed);

/* CLOCK_REALTIME in ms since the epoch: the gateway's arrival clock and log time. */
uint64_t gw_wall_ms(void);

/* CLOCK_MONOTONIC in ms, and in microseconds. */
uint64_t gw_mono_ms(void);
uint64_t gw_mono_us(void);

/* The CLOCK_MONOTONIC time ms from now, for condition variables set to that clock. */
struct timespec gw_deadline_in(uint64_t ms);

#endif

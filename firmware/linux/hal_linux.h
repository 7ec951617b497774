/*
 * hal_linux.h -- the node HAL on Linux: clocks (clock_gettime), randomness
 * (getrandom), a log to stderr with rate-limited repeats, and the ring's
 * storage as a preallocated file (pread, pwrite, fdatasync).
 */
#ifndef CITYGATE_HAL_LINUX_H
#define CITYGATE_HAL_LINUX_H

#include <stddef.h>
#include <stdint.h>

#include "node_hal.h"

/* The HAL's state; reboot_requested is set by the node's reboot command. */
struct hal_linux {
    volatile int reboot_requested;
};

/* Clocks, randomness, log and reboot; ctx is a struct hal_linux (borrowed). */
extern const struct node_hal_ops hal_linux_ops;

/* Monotonic milliseconds. Any thread. */
uint64_t hal_linux_now_ms(void);

/*
 * Logs one event as one line on stderr ("citynode: warn: ..."). A line equal
 * to the previous one within 10 s is counted instead of printed, and the
 * count is reported with the next different line. Any thread.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void hal_linux_logf(enum node_log_level level, const char *fmt, ...);

/*
 * Opens (creating it if missing) the ring file at path, size_bytes long, and
 * fills *st. A file of another size is refused rather than reformatted, since
 * that would throw its frames away. Returns 0, or -1 with why in err (cap
 * bytes). Close with hal_linux_storage_close().
 */
int hal_linux_storage_open(const char *path, uint64_t size_bytes, struct node_storage *st,
                           char *err, size_t cap);

/* Closes the file of st (fsync first). A zeroed st is a no-op. */
void hal_linux_storage_close(struct node_storage *st);

#endif

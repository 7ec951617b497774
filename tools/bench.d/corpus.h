/*
 * corpus.h -- the benchmark's frame corpus on disk, and the small helpers the
 * bench programs share (clocks, number parsing, percentiles).
 *
 * A corpus is what bench_gen writes and what the publisher, the latency
 * probe and the core replay read, so that every case feeds the very same
 * signed frames. The file is a scratch artefact of one bench run on one
 * machine, so records are in native byte order:
 *
 *     "CGBCORP1" | n_frames u32 | n_frames x record
 *     record = flags u8 | topic_len u8 | reserved u16 | payload_len u32 |
 *              ts_ms u64 | topic | payload
 *
 * Thread rules: a loaded corpus is read-only and may be shared by threads.
 */
#ifndef CITYGATE_BENCH_CORPUS_H
#define CITYGATE_BENCH_CORPUS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_CORPUS_MAGIC "CGBCORP1"
#define BENCH_TOPIC_MAX 160
#define BENCH_FRAME_MAX 4096

/* Bits of bench_frame.flags. */
#define BENCH_FRAME_TRIP 1u /* carries a reading that trips the bench's alert rule */

struct bench_frame {
    const char *topic;      /* NUL-terminated, inside the corpus buffer */
    const uint8_t *payload; /* payload_len bytes, inside the corpus buffer */
    uint32_t payload_len;
    uint64_t ts_ms; /* the frame's timestamp_ms */
    unsigned flags; /* BENCH_FRAME_* */
};

struct bench_corpus {
    struct bench_frame *frames;
    size_t n;
    uint8_t *data; /* the file's bytes, which frames point into */
    size_t data_len;
};

/*
 * Reads a corpus file. Returns 0 and fills *c (free with
 * bench_corpus_free()), or -1 with a message on stderr.
 */
int bench_corpus_load(const char *path, struct bench_corpus *c);

/* Releases what bench_corpus_load() allocated; a zeroed corpus is a no-op. */
void bench_corpus_free(struct bench_corpus *c);

/* A corpus being written: open, append records, close. */
struct bench_corpus_writer {
    void *file;
    uint32_t n;
};

/* Creates path and writes the header. Returns 0 or -1 (errno set). */
int bench_corpus_create(struct bench_corpus_writer *w, const char *path);

/* Appends one record (topic and payload borrowed). Returns 0 or -1. */
int bench_corpus_append(struct bench_corpus_writer *w, const char *topic, const uint8_t *payload,
                        size_t len, uint64_t ts_ms, unsigned flags);

/* Writes the frame count into the header and closes. Returns 0 or -1. */
int bench_corpus_close(struct bench_corpus_writer *w);

/* Finds a corpus frame by its payload as it comes back from the broker. */
struct bench_index {
    const struct bench_corpus *corpus;
    size_t *slots; /* hash of the tag's last 8 bytes -> frame index + 1 */
    size_t n_slots;
};

/* Indexes c (borrowed). Returns 0, or -1 when out of memory. */
int bench_index_build(struct bench_index *x, const struct bench_corpus *c);

/* The index of the frame with this payload, or -1. */
long bench_index_find(const struct bench_index *x, const void *payload, size_t len);

void bench_index_free(struct bench_index *x);

/* Creates the empty file path (a signal to the bench script); NULL is a no-op. */
void bench_touch(const char *path);

/* CLOCK_MONOTONIC in ns: one clock for every process of the machine. */
uint64_t bench_mono_ns(void);

/* CLOCK_REALTIME in ms. */
uint64_t bench_wall_ms(void);

/* Sleeps ms milliseconds (restarted after signals). */
void bench_sleep_ms(unsigned ms);

/*
 * Ends a bench program's option parsing the one way they all share: prints
 * usage to stdout and exits 0 for --help (status 0), or to stderr and exits
 * with status (64 for a usage error).
 */
_Noreturn void bench_usage_exit(void (*usage)(FILE *out), int status);

/* Sorts v[0..n) ascending. */
void bench_sort_u64(uint64_t *v, size_t n);

/* The q-quantile (0..1) of sorted v[0..n) by nearest rank; 0 for n == 0. */
uint64_t bench_quantile(const uint64_t *v, size_t n, double q);

#endif

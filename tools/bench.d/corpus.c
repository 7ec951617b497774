/*
 * corpus.c -- the corpus file and the shared helpers of the bench programs
 * (see corpus.h). Loading reads the whole file once and indexes it, so that
 * a publisher never touches the disk while it is being timed.
 */
#include "corpus.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct record_head {
    uint8_t flags;
    uint8_t topic_len;
    uint16_t reserved;
    uint32_t payload_len;
    uint64_t ts_ms;
};

static int fail(const char *path, const char *what)
{
    fprintf(stderr, "corpus %s: %s\n", path, what);
    return -1;
}

int bench_corpus_load(const char *path, struct bench_corpus *c)
{
    FILE *f = fopen(path, "rb");
    uint32_t n = 0;
    size_t off = 12;
    long size;
    int rc = -1;

    memset(c, 0, sizeof *c);
    if (!f)
        return fail(path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 12 || fseek(f, 0, SEEK_SET) != 0) {
        fail(path, "not a corpus (too short)");
        goto out;
    }
    c->data_len = (size_t)size;
    c->data = malloc(c->data_len);
    if (!c->data || fread(c->data, 1, c->data_len, f) != c->data_len) {
        fail(path, "cannot read");
        goto out;
    }
    if (memcmp(c->data, BENCH_CORPUS_MAGIC, 8) != 0) {
        fail(path, "bad magic");
        goto out;
    }
    memcpy(&n, c->data + 8, 4);
    c->frames = calloc(n ? n : 1, sizeof *c->frames);
    if (!c->frames) {
        fail(path, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct record_head h;
        if (off + sizeof h > c->data_len) {
            fail(path, "truncated record header");
            goto out;
        }
        memcpy(&h, c->data + off, sizeof h);
        off += sizeof h;
        if (h.topic_len == 0 || off + h.topic_len + 1 + h.payload_len > c->data_len) {
            fail(path, "truncated record");
            goto out;
        }
        c->frames[i].topic = (const char *)c->data + off;
        off += h.topic_len + 1u; /* the topic is stored with its NUL */
        c->frames[i].payload = c->data + off;
        c->frames[i].payload_len = h.payload_len;
        c->frames[i].ts_ms = h.ts_ms;
        c->frames[i].flags = h.flags;
        off += h.payload_len;
    }
    c->n = n;
    rc = 0;
out:
    fclose(f);
    if (rc != 0)
        bench_corpus_free(c);
    return rc;
}

void bench_corpus_free(struct bench_corpus *c)
{
    free(c->frames);
    free(c->data);
    memset(c, 0, sizeof *c);
}

int bench_corpus_create(struct bench_corpus_writer *w, const char *path)
{
    FILE *f = fopen(path, "wb");
    uint32_t zero = 0;
    w->file = f;
    w->n = 0;
    if (!f)
        return -1;
    if (fwrite(BENCH_CORPUS_MAGIC, 1, 8, f) != 8 || fwrite(&zero, 4, 1, f) != 1) {
        fclose(f);
        w->file = NULL;
        return -1;
    }
    return 0;
}

int bench_corpus_append(struct bench_corpus_writer *w, const char *topic, const uint8_t *payload,
                        size_t len, uint64_t ts_ms, unsigned flags)
{
    size_t tlen = strlen(topic);
    struct record_head h = {(uint8_t)flags, (uint8_t)tlen, 0, (uint32_t)len, ts_ms};
    if (tlen == 0 || tlen > 255 || len > UINT32_MAX || w->n == UINT32_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (fwrite(&h, sizeof h, 1, w->file) != 1 || fwrite(topic, 1, tlen + 1, w->file) != tlen + 1 ||
        fwrite(payload, 1, len, w->file) != len)
        return -1;
    w->n++;
    return 0;
}

int bench_corpus_close(struct bench_corpus_writer *w)
{
    FILE *f = w->file;
    int bad = fseek(f, 8, SEEK_SET) != 0 || fwrite(&w->n, 4, 1, f) != 1;
    bad |= fclose(f) != 0;
    w->file = NULL;
    return bad ? -1 : 0;
}

/* The last 8 bytes of a payload (its tag's tail), or 0. */
static uint64_t tag_tail(const void *payload, size_t len)
{
    uint64_t v = 0;
    if (len >= 8)
        memcpy(&v, (const uint8_t *)payload + len - 8, 8);
    return v;
}

static size_t slot_of(const struct bench_index *x, uint64_t key)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20) & (x->n_slots - 1);
}

int bench_index_build(struct bench_index *x, const struct bench_corpus *c)
{
    x->corpus = c;
    x->n_slots = 1;
    while (x->n_slots < 2 * c->n + 2)
        x->n_slots <<= 1;
    x->slots = calloc(x->n_slots, sizeof *x->slots);
    if (!x->slots)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        size_t s = slot_of(x, tag_tail(c->frames[i].payload, c->frames[i].payload_len));
        while (x->slots[s])
            s = (s + 1) & (x->n_slots - 1);
        x->slots[s] = i + 1;
    }
    return 0;
}

long bench_index_find(const struct bench_index *x, const void *payload, size_t len)
{
    if (len < 8)
        return -1;
    for (size_t s = slot_of(x, tag_tail(payload, len)); x->slots[s];
         s = (s + 1) & (x->n_slots - 1)) {
        const struct bench_frame *f = &x->corpus->frames[x->slots[s] - 1];
        if (f->payload_len == len && memcmp(f->payload, payload, len) == 0)
            return (long)(x->slots[s] - 1);
    }
    return -1;
}

void bench_index_free(struct bench_index *x)
{
    free(x->slots);
    x->slots = NULL;
}

void bench_touch(const char *path)
{
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f)
        fclose(f);
}

uint64_t bench_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void bench_sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void bench_usage_exit(void (*usage)(FILE *out), int status)
{
    usage(status == 0 ? stdout : stderr);
    exit(status);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void bench_sort_u64(uint64_t *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_u64);
}

uint64_t bench_quantile(const uint64_t *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    double rank = ceil(q * (double)n);
    size_t i = rank < 1 ? 0 : (size_t)rank - 1;
    return v[i < n ? i : n - 1];
}

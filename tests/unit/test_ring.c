/*
 * test_ring.c -- the node's store-and-forward ring (firmware/core/ring.c)
 * over an in-memory storage region that can cut a write short, the way a
 * power loss or a SIGKILL does.
 *
 * Covered: order and content through peek/commit/rewind, wraparound of
 * records across the end of the region, recovery after reopening, the
 * oldest records dropped and counted when full, a record cut after every
 * possible number of bytes (detected and skipped, earlier and later records
 * kept), and a corrupt byte at every offset of a record in the middle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.h"
#include "ring.h"

/* A storage region in memory; writes beyond budget bytes are lost (a cut). */
struct mem {
    uint8_t *bytes;
    size_t size;
    long budget; /* bytes that may still be written; -1: unlimited */
    int syncs;
};

static int mem_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    struct mem *m = ctx;
    CU_ASSERT_FATAL(off + len <= m->size);
    memcpy(buf, m->bytes + off, len);
    return 0;
}

static int mem_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
    struct mem *m = ctx;
    CU_ASSERT_FATAL(off + len <= m->size);
    size_t n = len;
    if (m->budget >= 0) {
        n = (size_t)m->budget < len ? (size_t)m->budget : len;
        m->budget -= (long)n;
    }
    memcpy(m->bytes + off, buf, n);
    return 0;
}

static int mem_sync(void *ctx)
{
    ((struct mem *)ctx)->syncs++;
    return 0;
}

static const struct node_storage_ops mem_ops = {mem_read, mem_write, mem_sync};

static void mem_init(struct mem *m, size_t size)
{
    m->bytes = calloc(1, size);
    CU_ASSERT_FATAL(m->bytes != NULL);
    m->size = size;
    m->budget = -1;
    m->syncs = 0;
}

static struct node_ring *open_ring(struct mem *m, size_t max_record)
{
    struct node_storage st = {&mem_ops, m, m->size};
    struct node_ring *r = NULL;
    CU_ASSERT_FATAL(node_ring_open(&st, max_record, &r) == 0);
    return r;
}

/* Payload number i: len bytes derived from i, so that any mix-up shows. */
static size_t payload(unsigned i, uint8_t *buf, size_t len)
{
    for (size_t k = 0; k < len; k++)
        buf[k] = (uint8_t)(i * 31 + k * 7 + (k >> 8));
    memcpy(buf, &i, sizeof i);
    return len;
}

static void append(struct node_ring *r, unsigned i, size_t len)
{
    uint8_t buf[2048];
    CU_ASSERT_FATAL(len <= sizeof buf);
    CU_ASSERT_FATAL(node_ring_append(r, buf, payload(i, buf, len)) == 0);
}

/* Peeks the next record and returns its payload number, or -1 when empty. */
static long next(struct node_ring *r, size_t expect_len, uint64_t *seq)
{
    uint8_t buf[2048], want[2048];
    size_t len = 0;
    uint64_t s = 0;
    int rc = node_ring_peek(r, buf, sizeof buf, &len, &s);
    if (rc == -NODE_EEMPTY)
        return -1;
    CU_ASSERT_FATAL(rc == 0);
    CU_ASSERT_FATAL(len == expect_len);
    unsigned i;
    memcpy(&i, buf, sizeof i);
    payload(i, want, len);
    CU_ASSERT_FATAL(memcmp(buf, want, len) == 0);
    if (seq)
        *seq = s;
    return (long)i;
}

static void test_empty(void)
{
    struct mem m;
    struct node_ring_stats st;
    mem_init(&m, 8192);
    struct node_ring *r = open_ring(&m, 1024);
    node_ring_stats(r, &st);
    CU_ASSERT_EQUAL(st.records, 0);
    CU_ASSERT_EQUAL(st.free_bytes, 8192 - NODE_RING_META_BYTES);
    CU_ASSERT_EQUAL(next(r, 0, NULL), -1);
    CU_ASSERT(m.syncs >= 1); /* the fresh superblock is made durable */
    node_ring_free(r);

    /* Bad arguments are refused, not crashed on. */
    struct node_storage small = {&mem_ops, &m, 1000};
    struct node_ring *r2 = NULL;
    CU_ASSERT_EQUAL(node_ring_open(&small, 100, &r2), -NODE_EINVAL);
    struct node_storage ok = {&mem_ops, &m, 8192};
    CU_ASSERT_EQUAL(node_ring_open(&ok, 8192, &r2), -NODE_EINVAL);
    CU_ASSERT(r2 == NULL);
    node_ring_free(NULL);
    free(m.bytes);
}

static void test_order_commit_rewind(void)
{
    struct mem m;
    struct node_ring_stats st;
    uint64_t seq[10];
    mem_init(&m, 16384);
    struct node_ring *r = open_ring(&m, 1024);
    for (unsigned i = 0; i < 10; i++)
        append(r, i, 100);
    for (unsigned i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(next(r, 100, &seq[i]), (long)i);
    /* Rewind: everything uncommitted comes again. */
    node_ring_rewind(r);
    CU_ASSERT_EQUAL(next(r, 100, &seq[0]), 0);
    CU_ASSERT_EQUAL(next(r, 100, &seq[1]), 1);
    CU_ASSERT_EQUAL(node_ring_commit(r, seq[1]), 0);
    CU_ASSERT_EQUAL(node_ring_commit(r, seq[0]), 0); /* already gone: ignored */
    node_ring_stats(r, &st);
    CU_ASSERT_EQUAL(st.records, 8);
    node_ring_rewind(r);
    CU_ASSERT_EQUAL(next(r, 100, NULL), 2);
    CU_ASSERT_EQUAL(node_ring_flush(r, 1), 0);
    node_ring_free(r);

    /* Reopen: the 8 uncommitted records, in order. */
    r = open_ring(&m, 1024);
    node_ring_stats(r, &st);
    CU_ASSERT_EQUAL(st.records, 8);
    CU_ASSERT_EQUAL(st.recovered, 8);
    CU_ASSERT_EQUAL(st.corrupt_bytes, 0);
    for (unsigned i = 2; i < 10; i++)
        CU_ASSERT_EQUAL(next(r, 100, &seq[i]), (long)i);
    CU_ASSERT_EQUAL(next(r, 100, NULL), -1);
    CU_ASSERT_EQUAL(node_ring_commit(r, seq[9]), 0);
    node_ring_free(r); /* writes the tail without a flush */
    r = open_ring(&m, 1024);
    node_ring_stats(r, &st);
    CU_ASSERT_EQUAL(st.records, 0);
    /* A record too large for the cap or the caller's buffer. */
    uint8_t big[1025] = {0};
    size_t len;
    uint64_t s;
    CU_ASSERT_EQUAL(node_ring_append(r, big, sizeof big), -NODE_ETOOBIG);
    append(r, 1, 1000);
    CU_ASSERT_EQUAL(node_ring_peek(r, big, 10, &len, &s), -NODE_ETOOBIG);
    CU_ASSERT_EQUAL(next(r, 1000, NULL), 1);
    node_ring_free(r);
    free(m.bytes);
}

/* Records of odd sizes go round a small region many times; reopened every few steps. */
static void test_wraparound(void)
{
    struct mem m;
    unsigned written = 0, read = 0;
    mem_init(&m, 4096 + NODE_RING_META_BYTES);
    struct node_ring *r = open_ring(&m, 1000);
    for (int round = 0; round < 300; round++) {
        append(r, written, 37 + (size_t)(written * 53) % 700);
        written++;
        if (round % 3 == 2) {
            uint64_t seq = 0;
            long got;
            while ((got = next(r, 37 + (size_t)(read * 53) % 700, &seq)) >= 0) {
                CU_ASSERT_EQUAL_FATAL(got, (long)read);
                read++;
            }
            CU_ASSERT_EQUAL(node_ring_commit(r, seq), 0);
        }
        if (round % 7 == 6) {
            CU_ASSERT_EQUAL(node_ring_flush(r, 0), 0);
            node_ring_free(r);
            r = open_ring(&m, 1000);
        }
    }
    struct node_ring_stats st;
    node_ring_stats(r, &st);
    CU_ASSERT_EQUAL(st.dropped, 0);
    CU_ASSERT_EQUAL(st.corrupt_bytes, 0);
    CU_ASSERT(read + st.records == written);
    CU_ASSERT(written * 300 > 3 * 4096); /* went round several times */
    node_ring_free(r);
    free(m.bytes);
}

/* Full: the oldest go first, are counted, and the rest stay in order across a reopen. */
static void test_full_drops_oldest(void)
{
    struct mem m;
    struct node_ring_stats st;
    mem_init(&m, 4096 + NODE_RING_META_BYTES);
    struct node_ring *r = open_ring(&m, 1000);
    for (unsigned i = 0; i < 100; i++)
        append(r, i, 176); /* 200 bytes a record: 20 fit */
    node_ring_stats(r, &st);
    CU_ASSERT_EQUAL(st.records, 20);
    CU_ASSERT_EQUAL(st.dropped, 80);
    /* Peeked but unconfirmed records can be dropped too; the cursor follows the tail. */
    CU_ASSERT_EQUAL(next(r, 176, NULL), 80);
    append(r, 100, 176);
    CU_ASSERT_EQUAL(next(r, 176, NULL), 81);
    node_ring_free(r);
    r = open_ring(&m, 1000);
    node_ring_stats(r, &st);
    CU_ASSERT_EQUAL(st.records, 20);
    CU_ASSERT_EQUAL(st.dropped, 0); /* counted since open */
    for (unsigned i = 81; i <= 100; i++)
        CU_ASSERT_EQUAL(next(r, 176, NULL), (long)i);
    CU_ASSERT_EQUAL(next(r, 176, NULL), -1);
    node_ring_free(r);
    free(m.bytes);
}

/*
 * Reads everything and checks it is a strictly increasing run of known
 * payloads; returns how many, with the numbers in got[].
 */
static size_t read_all(struct node_ring *r, size_t len, long *got, size_t cap)
{
    size_t n = 0;
    long i;
    while ((i = next(r, len, NULL)) >= 0) {
        CU_ASSERT_FATAL(n < cap);
        if (n > 0)
            CU_ASSERT_FATAL(i > got[n - 1]);
        got[n++] = i;
    }
    return n;
}

/* Appends records 0..n-1 after `skip` committed ones, so that the cut lands near the wrap. */
static void fill(struct mem *m, unsigned skip, unsigned n, size_t len)
{
    struct node_ring *r = open_ring(m, 1000);
    for (unsigned i = 0; i < skip; i++) {
        uint64_t seq;
        append(r, 1000 + i, len);
        CU_ASSERT_FATAL(next(r, len, &seq) == 1000 + i);
        CU_ASSERT_FATAL(node_ring_commit(r, seq) == 0);
    }
    for (unsigned i = 0; i < n; i++)
        append(r, i, len);
    CU_ASSERT_FATAL(node_ring_flush(r, 1) == 0);
    node_ring_free(r);
}

/* A write cut after every possible number of bytes: never garbage, earlier records kept. */
static void cut_every_offset(unsigned skip, unsigned before, size_t len)
{
    struct mem base, m;
    long got[64];
    size_t rec = NODE_RING_RECORD_OVERHEAD + len;
    mem_init(&base, 4096 + NODE_RING_META_BYTES);
    fill(&base, skip, before, len);
    for (size_t k = 0; k <= rec + 2 * 64; k++) {
        mem_init(&m, base.size);
        memcpy(m.bytes, base.bytes, base.size);
        struct node_ring *r = open_ring(&m, 1000);
        m.budget = (long)k;
        append(r, 500, len); /* may drop old records: writes the superblock first */
        node_ring_free(r);   /* "crash": with the budget spent nothing more lands */
        m.budget = -1;

        r = open_ring(&m, 1000);
        size_t n = read_all(r, len, got, 64);
        int complete = n > 0 && got[n - 1] == 500;
        /* Whatever survived is a run of the newest records, ending with the last complete one. */
        CU_ASSERT_FATAL(n >= 1);
        if (!complete)
            CU_ASSERT_EQUAL_FATAL(got[n - 1], (long)before - 1);
        for (size_t i = 0; i + 1 < n; i++)
            CU_ASSERT_FATAL(got[i] + 1 == got[i + 1] || (got[i + 1] == 500 && i + 2 == n));
        /* Appending after the recovery works, and survives another reopen. */
        append(r, 600, len);
        node_ring_free(r);
        r = open_ring(&m, 1000);
        size_t n2 = read_all(r, len, got, 64);
        CU_ASSERT_EQUAL_FATAL(n2, n + 1 - (n + 1 > 4096 / rec ? 1 : 0));
        CU_ASSERT_EQUAL_FATAL(got[n2 - 1], 600);
        node_ring_free(r);
        free(m.bytes);
    }
    free(base.bytes);
}

static void test_cut_mid_write(void)
{
    cut_every_offset(0, 5, 150);   /* plenty of room */
    cut_every_offset(17, 5, 150);  /* the cut record wraps around the end */
    cut_every_offset(3, 23, 150);  /* full: the append drops the oldest first */
    cut_every_offset(40, 23, 150); /* full and wrapping */
}

/* A corrupt byte anywhere in a middle record: that record is skipped, the others are read. */
static void test_corrupt_middle_record(void)
{
    struct mem base, m;
    long got[16];
    const size_t len = 100, rec = NODE_RING_RECORD_OVERHEAD + 100;
    mem_init(&base, 8192);
    fill(&base, 0, 5, len);
    for (size_t k = 0; k < rec; k++) {
        struct node_ring_stats st;
        mem_init(&m, base.size);
        memcpy(m.bytes, base.bytes, base.size);
        m.bytes[NODE_RING_META_BYTES + 2 * rec + k] ^= 0x40;
        struct node_ring *r = open_ring(&m, 1000);
        node_ring_stats(r, &st);
        CU_ASSERT_EQUAL(st.records, 4);
        CU_ASSERT_EQUAL(st.corrupt_bytes, rec);
        size_t n = read_all(r, len, got, 16);
        CU_ASSERT_EQUAL_FATAL(n, 4);
        CU_ASSERT(got[0] == 0 && got[1] == 1 && got[2] == 3 && got[3] == 4);
        node_ring_free(r);
        free(m.bytes);
    }
    free(base.bytes);
}

/* A torn superblock write leaves the other copy. */
static void test_torn_superblock(void)
{
    struct mem m;
    uint64_t seq;
    long got[16];
    mem_init(&m, 8192);
    fill(&m, 0, 6, 100);
    struct node_ring *r = open_ring(&m, 1000);
    CU_ASSERT_EQUAL(next(r, 100, &seq), 0);
    CU_ASSERT_EQUAL(node_ring_commit(r, seq), 0);
    m.budget = 20; /* the superblock write is cut */
    CU_ASSERT_EQUAL(node_ring_flush(r, 0), 0);
    node_ring_free(r);
    m.budget = -1;
    r = open_ring(&m, 1000);
    /* The commit is lost (the record comes back), nothing else is. */
    CU_ASSERT_EQUAL(read_all(r, 100, got, 16), 6);
    CU_ASSERT_EQUAL(got[0], 0);
    node_ring_free(r);
    free(m.bytes);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"empty ring and bad arguments", test_empty},
        {"order, commit, rewind, reopen", test_order_commit_rewind},
        {"wraparound with reopens", test_wraparound},
        {"full ring drops the oldest and counts them", test_full_drops_oldest},
        {"a write cut at every byte offset", test_cut_mid_write},
        {"a corrupt byte at every offset of a middle record", test_corrupt_middle_record},
        {"a torn superblock write", test_torn_superblock},
        {NULL, NULL},
    };
    return cu_main("ring", tests);
}

/*
 * test_acks.c -- operators' acknowledgements and their file (gateway/acks.h):
 * an acknowledgement survives a reopen, and a file that cannot be read or
 * written says why with the operating system's own error (GW_EOS(errno)),
 * not a bare GW_EIO that leaves the caller to read errno.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acks.h"
#include "cu.h"
#include "err.h"

static char dir[64], path[128];

static const struct gw_alert_event slow = {
    .rule = "slow",
    .site = "s1",
    .node = "node-0001",
    .quantity = "SPEED",
    .quantity_store = "speed",
    .lane = 1,
    .old_level = GW_ALERT_OK,
    .new_level = GW_ALERT_WARN,
    .value = NAN,
};

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_acks.XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/acks", dir);
}

static void test_an_ack_survives_a_reopen(void)
{
    struct gw_acks *a = NULL;
    size_t bad = 1;
    uint64_t at = 0;
    make_dir();
    CU_ASSERT_EQUAL_FATAL(gw_acks_open(path, 1000, &a, &bad), 0); /* no file yet: none */
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(gw_acks_count(a), 0);
    CU_ASSERT_EQUAL(gw_acks_ack(a, &slow, 2000), 0);
    gw_acks_free(a);
    CU_ASSERT_EQUAL_FATAL(gw_acks_open(path, 3000, &a, &bad), 0);
    CU_ASSERT_EQUAL(gw_acks_count(a), 1);
    CU_ASSERT_EQUAL(gw_acks_status(a, &slow, &at), GW_ACK_ACTIVE_ACK);
    CU_ASSERT_EQUAL(at, 2000);
    gw_acks_free(a);
    CU_ASSERT_EQUAL(unlink(path), 0);
    CU_ASSERT_EQUAL(rmdir(dir), 0);
}

static void test_a_file_that_cannot_be_read_says_why(void)
{
    struct gw_acks *a = NULL;
    size_t bad = 0;
    make_dir();
    int rc = gw_acks_open(dir, 1000, &a, &bad); /* a folder: it opens, but reads fail */
    CU_ASSERT_EQUAL(rc, GW_EOS(EISDIR));
    CU_ASSERT_STRING_EQUAL(gw_strerror(rc), strerror(EISDIR));
    CU_ASSERT_PTR_NULL(a);
    CU_ASSERT_EQUAL(rmdir(dir), 0);
}

static void test_a_file_that_cannot_be_written_says_why(void)
{
    struct gw_acks *a = NULL;
    size_t bad = 0;
    uint64_t at = 0;
    make_dir();
    CU_ASSERT_EQUAL_FATAL(gw_acks_open(path, 1000, &a, &bad), 0);
    CU_ASSERT_EQUAL(rmdir(dir), 0); /* its folder is gone */
    int rc = gw_acks_ack(a, &slow, 2000);
    CU_ASSERT_EQUAL(rc, GW_EOS(ENOENT));
    CU_ASSERT_STRING_EQUAL(gw_strerror(rc), strerror(ENOENT));
    /* Kept in memory all the same, until a restart. */
    CU_ASSERT_EQUAL(gw_acks_status(a, &slow, &at), GW_ACK_ACTIVE_ACK);
    gw_acks_free(a);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"an acknowledgement survives a reopen", test_an_ack_survives_a_reopen},
        {"a file that cannot be read says why", test_a_file_that_cannot_be_read_says_why},
        {"a file that cannot be written says why", test_a_file_that_cannot_be_written_says_why},
        {NULL, NULL},
    };
    return cu_main("acks", tests);
}

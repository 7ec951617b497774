/*
 * acks.c -- acknowledged alerts and their file (acks.h).
 *
 * A hash of the acknowledged ids with the time and the level acknowledged.
 * The file is a few lines of text, so each change rewrites it whole: into
 * "<path>.tmp", fsync, rename over the old one, so a crash leaves either
 * the old or the new file, never half of one. Acknowledgements are rare
 * (a person's action), so the write happens where the change does.
 */
#include "acks.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h" /* before uthash.h: its allocator */
#include <uthash.h>

#include "err.h"
#include "messages.h"

#define ACKS_TOPIC_PREFIX "city/v1/alerts/"

struct ack {
    char id[GW_ACK_ID_MAX];
    uint64_t acked_ms;
    int level;           /* enum gw_alert_level acknowledged */
    uint64_t confirm_by; /* read from the file: forgotten unless notified again by then; 0 */
    UT_hash_handle hh;
};

struct gw_acks {
    char *path;
    struct ack *acks;
};

static int acks_add(struct gw_acks *a, const char *id, uint64_t acked_ms, int level,
                    uint64_t confirm_by)
{
    struct ack *k;
    HASH_FIND_STR(a->acks, id, k);
    if (!k) {
        if (HASH_COUNT(a->acks) >= GW_ACKS_MAX)
            return GW_EFULL;
        if (!(k = gw_calloc(1, sizeof *k)))
            return GW_ENOMEM;
        snprintf(k->id, sizeof k->id, "%s", id);
        HASH_ADD_STR(a->acks, id, k);
        if (!k->hh.tbl) {
            gw_free(k);
            return GW_ENOMEM;
        }
    }
    k->acked_ms = acked_ms;
    k->level = level;
    k->confirm_by = confirm_by;
    return 0;
}

static void acks_del(struct gw_acks *a, struct ack *k)
{
    HASH_DEL(a->acks, k);
    gw_free(k);
}

/* An id as the topic grammar makes them: [a-z0-9._-] parts joined by '/'. */
static int valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= GW_ACK_ID_MAX)
        return 0;
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr("._-/", *c)))
            return 0;
    return 1;
}

int gw_acks_open(const char *path, uint64_t now_ms, struct gw_acks **out, size_t *bad_lines)
{
    struct gw_acks *a = gw_calloc(1, sizeof *a);
    char line[GW_ACK_ID_MAX + 64];
    int rc = 0;
    *bad_lines = 0;
    if (!a || !(a->path = strdup(path))) {
        gw_free(a);
        return GW_ENOMEM;
    }
    FILE *f = fopen(path, "r");
    if (!f && errno != ENOENT) {
        rc = gw_err_os(errno);
        goto out;
    }
    while (f && fgets(line, sizeof line, f)) {
        char id[GW_ACK_ID_MAX];
        uint64_t ms;
        int level, end = 0;
        if (!strchr(line, '\n') ||
            sscanf(line, "%299s %" SCNu64 " %d%n", id, &ms, &level, &end) != 3 ||
            line[end] != '\n' || !valid_id(id) || level < GW_ALERT_WARN || level > GW_ALERT_CRIT) {
            (*bad_lines)++;
            continue;
        }
        if ((rc = acks_add(a, id, ms, level, now_ms + GW_ACKS_RECONFIRM_MS)) == GW_ENOMEM)
            goto out;
        if (rc != 0)
            (*bad_lines)++;
        rc = 0;
    }
    if (f && ferror(f))
        rc = gw_err_os(errno);
out:
    if (f)
        fclose(f);
    if (rc != 0) {
        gw_acks_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void gw_acks_free(struct gw_acks *a)
{
    struct ack *k, *tmp;
    if (!a)
        return;
    HASH_ITER(hh, a->acks, k, tmp)
    acks_del(a, k);
    free(a->path);
    gw_free(a);
}

/* Rewrites the file whole. Returns 0 or GW_EOS(errno). */
static int acks_save(const struct gw_acks *a)
{
    char tmp[4096];
    const struct ack *k;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", a->path) >= sizeof tmp)
        return GW_EOS(ENAMETOOLONG);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return gw_err_os(errno);
    for (k = a->acks; k; k = k->hh.next)
        fprintf(f, "%s %" PRIu64 " %d\n", k->id, k->acked_ms, k->level);
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    int error = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        error = errno;
    }
    if (bad)
        return gw_err_os(error);
    return rename(tmp, a->path) == 0 ? 0 : gw_err_os(errno);
}

int gw_acks_id(const struct gw_alert_event *ev, char *buf, size_t cap)
{
    char topic[GW_ACK_ID_MAX + sizeof ACKS_TOPIC_PREFIX];
    int n = gw_msg_alert_topic(ev, topic, sizeof topic);
    size_t skip = strlen(ACKS_TOPIC_PREFIX);
    if (n < 0)
        return n;
    if ((size_t)n - skip >= cap)
        return GW_EFULL;
    memcpy(buf, topic + skip, (size_t)n - skip + 1);
    return n - (int)skip;
}

static struct ack *acks_find(const struct gw_acks *a, const struct gw_alert_event *ev)
{
    char id[GW_ACK_ID_MAX];
    struct ack *k = NULL;
    if (gw_acks_id(ev, id, sizeof id) >= 0)
        HASH_FIND_STR(a->acks, id, k);
    return k;
}

enum gw_ack_status gw_acks_status(const struct gw_acks *a, const struct gw_alert_event *ev,
                                  uint64_t *acked_ms)
{
    struct ack *k;
    if (ev->new_level == GW_ALERT_OK)
        return GW_ACK_CLEARED;
    if ((k = acks_find(a, ev)) && (int)ev->new_level <= k->level) {
        *acked_ms = k->acked_ms;
        return GW_ACK_ACTIVE_ACK;
    }
    return GW_ACK_ACTIVE_UNACK;
}

const char *gw_ack_status_name(enum gw_ack_status s)
{
    return s == GW_ACK_ACTIVE_ACK     ? "ACTIVE_ACK"
           : s == GW_ACK_ACTIVE_UNACK ? "ACTIVE_UNACK"
                                      : "CLEARED";
}

int gw_acks_ack(struct gw_acks *a, const struct gw_alert_event *ev, uint64_t now_ms)
{
    char id[GW_ACK_ID_MAX];
    int rc = gw_acks_id(ev, id, sizeof id);
    if (rc < 0)
        return rc;
    if ((rc = acks_add(a, id, now_ms, (int)ev->new_level, 0)) != 0)
        return rc;
    return acks_save(a);
}

int gw_acks_changed(struct gw_acks *a, const struct gw_alert_event *ev)
{
    struct ack *k = acks_find(a, ev);
    if (!k)
        return 0;
    if (ev->new_level != GW_ALERT_OK && (int)ev->new_level <= k->level) {
        k->confirm_by = 0;
        return 0;
    }
    acks_del(a, k);
    acks_save(a); /* a failure leaves the old file: the next start prunes it */
    return 1;
}

void gw_acks_expire(struct gw_acks *a, uint64_t now_ms)
{
    struct ack *k, *tmp;
    int gone = 0;
    HASH_ITER(hh, a->acks, k, tmp)
    {
        if (k->confirm_by && now_ms > k->confirm_by) {
            acks_del(a, k);
            gone = 1;
        }
    }
    if (gone)
        acks_save(a);
}

size_t gw_acks_count(const struct gw_acks *a)
{
    return HASH_COUNT(a->acks);
}

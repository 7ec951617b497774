/*
 * boot_store.c -- the boot stage's folder on Linux (see boot_store.h).
 *
 * The state file is small and fixed-size: a magic and format version, the
 * primary slot, the security counter, the last event with its version and
 * reason, the trial's end, and the two trailers in MCUboot's byte layout,
 * then a CRC-32 over all of it. It is only ever replaced whole through
 * node_file_write_atomic(); the CRC catches a file damaged by other means.
 */
#include "boot_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "atomic_file.h"

#define STATE_MAGIC "CNBOOT01"
#define OFF_PRIMARY 8
#define OFF_COUNTER 12
#define OFF_EVENT 16
#define OFF_EVENT_VERSION 20
#define OFF_EVENT_REASON 28
#define OFF_TRIAL_END (OFF_EVENT_REASON + NODE_BOOT_REASON_BYTES)
#define OFF_TRAILERS (OFF_TRIAL_END + NODE_BOOT_REASON_BYTES)
#define OFF_CRC (OFF_TRAILERS + 2 * NODE_BOOT_TRAILER_BYTES)
#define STATE_BYTES (OFF_CRC + 4)

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int boot_store_path(const char *dir, const char *name, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int boot_store_slot_path(const char *dir, int slot, char *buf, size_t size)
{
    return boot_store_path(dir, slot ? "slot-1.img" : "slot-0.img", buf, size);
}

int boot_store_lock(const char *dir, char *err, size_t cap)
{
    char path[BOOT_STORE_PATH_MAX];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, cap, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if (boot_store_path(dir, "lock", path, sizeof path) != 0) {
        snprintf(err, cap, "%s: path too long", dir);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, cap, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            snprintf(err, cap, "cannot lock %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

void boot_store_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

int boot_store_load(const char *dir, struct node_boot_state *st, char *err, size_t cap)
{
    char path[BOOT_STORE_PATH_MAX];
    uint8_t b[STATE_BYTES + 1];
    if (boot_store_path(dir, "boot.state", path, sizeof path) != 0) {
        snprintf(err, cap, "%s: path too long", dir);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno != ENOENT) {
            snprintf(err, cap, "cannot read %s: %s", path, strerror(errno));
            return -1;
        }
        node_boot_state_init(st);
        return 0;
    }
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n != STATE_BYTES || memcmp(b, STATE_MAGIC, 8) != 0 ||
        crc32(0, b, OFF_CRC) != get32(b + OFF_CRC) || b[OFF_PRIMARY] > 1) {
        snprintf(err, cap, "%s is damaged; the boot stage will not guess which slot to run", path);
        return -1;
    }
    node_boot_state_init(st);
    st->primary = b[OFF_PRIMARY];
    st->security_counter = get32(b + OFF_COUNTER);
    st->event = (enum node_boot_event)b[OFF_EVENT];
    const uint8_t *v = b + OFF_EVENT_VERSION;
    st->event_version =
        (struct node_image_version){v[0], v[1], (uint16_t)(v[2] | v[3] << 8), get32(v + 4)};
    memcpy(st->event_reason, b + OFF_EVENT_REASON, NODE_BOOT_REASON_BYTES);
    st->event_reason[NODE_BOOT_REASON_BYTES - 1] = '\0';
    memcpy(st->trial_end, b + OFF_TRIAL_END, NODE_BOOT_REASON_BYTES);
    st->trial_end[NODE_BOOT_REASON_BYTES - 1] = '\0';
    node_boot_trailer_decode(b + OFF_TRAILERS, &st->trailer[0]);
    node_boot_trailer_decode(b + OFF_TRAILERS + NODE_BOOT_TRAILER_BYTES, &st->trailer[1]);
    return 0;
}

int boot_store_save(const char *dir, const struct node_boot_state *st, char *err, size_t cap)
{
    char path[BOOT_STORE_PATH_MAX];
    uint8_t b[STATE_BYTES];
    memset(b, 0, sizeof b);
    memcpy(b, STATE_MAGIC, 8);
    b[OFF_PRIMARY] = st->primary;
    put32(b + OFF_COUNTER, st->security_counter);
    b[OFF_EVENT] = (uint8_t)st->event;
    uint8_t *v = b + OFF_EVENT_VERSION;
    v[0] = st->event_version.major;
    v[1] = st->event_version.minor;
    v[2] = (uint8_t)st->event_version.revision;
    v[3] = (uint8_t)(st->event_version.revision >> 8);
    put32(v + 4, st->event_version.build);
    memcpy(b + OFF_EVENT_REASON, st->event_reason, NODE_BOOT_REASON_BYTES);
    memcpy(b + OFF_TRIAL_END, st->trial_end, NODE_BOOT_REASON_BYTES);
    node_boot_trailer_encode(&st->trailer[0], b + OFF_TRAILERS);
    node_boot_trailer_encode(&st->trailer[1], b + OFF_TRAILERS + NODE_BOOT_TRAILER_BYTES);
    put32(b + OFF_CRC, (uint32_t)crc32(0, b, OFF_CRC));
    if (boot_store_path(dir, "boot.state", path, sizeof path) != 0 ||
        node_file_write_atomic(path, b, sizeof b, 0644) != 0) {
        snprintf(err, cap, "cannot write the boot state in %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int empty_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    (void)ctx, (void)off, (void)buf, (void)len;
    return -NODE_EIO;
}

static int empty_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
    (void)ctx, (void)off, (void)buf, (void)len;
    return -NODE_EIO;
}

static int empty_sync(void *ctx)
{
    (void)ctx;
    return 0;
}

static const struct node_storage_ops empty_ops = {empty_read, empty_write, empty_sync};

int boot_slots_load(const char *dir, struct boot_slots *s, char *err, size_t cap)
{
    char path[BOOT_STORE_PATH_MAX];
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 2; i++) {
        s->storage[i] = (struct node_storage){&empty_ops, NULL, 0};
        if (boot_store_slot_path(dir, i, path, sizeof path) != 0) {
            snprintf(err, cap, "%s: path too long", dir);
            goto fail;
        }
        if (node_image_file_load(path, BOOT_SLOT_MAX_BYTES, &s->file[i], err, cap) == 0)
            s->storage[i] = s->file[i].storage;
        else if (errno != ENOENT)
            goto fail;
    }
    return 0;
fail:
    boot_slots_free(s);
    return -1;
}

void boot_slots_free(struct boot_slots *s)
{
    node_image_file_fini(&s->file[0]);
    node_image_file_fini(&s->file[1]);
}

int boot_store_confirm(const char *dir, char *err, size_t cap)
{
    struct node_boot_state st;
    struct node_image_header h = {0};
    struct node_image_file f = {0};
    char path[BOOT_STORE_PATH_MAX], ignore[256];
    int rc = -1;
    int lock = boot_store_lock(dir, err, cap);
    if (lock < 0)
        return -1;
    if (boot_store_load(dir, &st, err, cap) != 0)
        goto out;
    /* The version recorded with the CONFIRMED event; a slot that cannot be read leaves it 0. */
    if (boot_store_slot_path(dir, st.primary, path, sizeof path) == 0 &&
        node_image_file_load(path, BOOT_SLOT_MAX_BYTES, &f, ignore, sizeof ignore) == 0)
        node_image_read_header(&f.storage, &h);
    node_image_file_fini(&f);
    int changed = node_boot_set_confirmed(&st, &h.ver);
    if (changed && boot_store_save(dir, &st, err, cap) != 0)
        goto out;
    rc = changed;
out:
    boot_store_unlock(lock);
    return rc;
}

int boot_store_tell_confirmed(void)
{
    const char *fd_text = getenv("CITYNODE_BOOT_FD");
    char *end;
    if (!fd_text)
        return 1;
    long fd = strtol(fd_text, &end, 10);
    if (*end != '\0' || fd <= 2 || fd >= 1024)
        return 1;
    return write((int)fd, "c", 1) == 1 ? 0 : -1;
}

/*
 * image_file.c -- an image file loaded whole into memory and seen as a
 * struct node_storage.
 *
 * Images are a few MiB at most and are capped by the caller, so reading them
 * whole costs little and closes the gap between checking a file and using
 * it: what the boot stage verifies is exactly what it writes out and runs.
 */
#include "image_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int m_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    const struct node_image_file *f = ctx;
    if (off > f->len || len > f->len - off)
        return -NODE_EIO;
    memcpy(buf, f->data + off, len);
    return 0;
}

static int m_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
    (void)ctx, (void)off, (void)buf, (void)len;
    return -NODE_EIO; /* images are read-only once loaded */
}

static int m_sync(void *ctx)
{
    (void)ctx;
    return 0;
}

static const struct node_storage_ops mem_ops = {m_read, m_write, m_sync};

int node_image_file_load(const char *path, uint64_t max_bytes, struct node_image_file *f, char *err,
                         size_t cap)
{
    struct stat sb;
    uint8_t *data = NULL;
    int rc = -1, e = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        e = errno;
        snprintf(err, cap, "cannot read %s: %s", path, strerror(e));
        goto out;
    }
    if ((uint64_t)sb.st_size > max_bytes) {
        e = EFBIG;
        snprintf(err, cap, "%s is %lld bytes, more than the %llu a slot holds", path,
                 (long long)sb.st_size, (unsigned long long)max_bytes);
        goto out;
    }
    size_t len = (size_t)sb.st_size, done = 0;
    data = malloc(len ? len : 1);
    if (!data) {
        e = ENOMEM;
        snprintf(err, cap, "%s: out of memory", path);
        goto out;
    }
    while (done < len) {
        ssize_t n = read(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            e = n < 0 ? errno : EIO;
            snprintf(err, cap, "cannot read %s: %s", path, n < 0 ? strerror(e) : "file shrank");
            goto out;
        }
        done += (size_t)n;
    }
    node_image_file_take(f, data, len);
    data = NULL;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(data);
    errno = e;
    return rc;
}

void node_image_file_take(struct node_image_file *f, uint8_t *data, size_t len)
{
    f->data = data;
    f->len = len;
    f->storage = (struct node_storage){.ops = &mem_ops, .ctx = f, .size_bytes = len};
}

void node_image_file_fini(struct node_image_file *f)
{
    free(f->data);
    f->data = NULL;
    f->len = 0;
}

/*
 * image_file.h -- an image file loaded whole into memory and seen as a
 * struct node_storage, so that the bytes verified are the bytes used.
 */
#ifndef CITYGATE_IMAGE_FILE_H
#define CITYGATE_IMAGE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "node_hal.h"

struct node_image_file {
    uint8_t *data; /* owned */
    size_t len;
    struct node_storage storage; /* reads data; size_bytes = len */
};

/*
 * Reads the file at path (borrowed), refusing one over max_bytes, into *f.
 * Returns 0, or -1 with a plain-language reason in err (cap bytes); errno
 * is left as the failing call set it (ENOENT for a missing file, EFBIG for
 * one over the cap). Release with node_image_file_fini().
 */
int node_image_file_load(const char *path, uint64_t max_bytes, struct node_image_file *f, char *err,
                         size_t cap);

/*
 * Makes f the image in data (len bytes; f takes ownership of data, which
 * was malloc'ed), as if it had been loaded: for images that arrive in
 * memory (tools/citysim/sim_update.c). Release with node_image_file_fini().
 */
void node_image_file_take(struct node_image_file *f, uint8_t *data, size_t len);

/* Frees what node_image_file_load() or node_image_file_take() holds. A zeroed f is a no-op. */
void node_image_file_fini(struct node_image_file *f);

#endif

/*
 * atomic_file.h -- replacing a file so that a power cut leaves the old or the
 * whole new content, never a mix.
 */
#ifndef CITYGATE_ATOMIC_FILE_H
#define CITYGATE_ATOMIC_FILE_H

#include <stddef.h>

/*
 * Writes len bytes (borrowed) to path through PATH.tmp in the same folder:
 * write, fsync, rename over path, fsync the folder. mode is the file's
 * permission bits. Returns 0, or -1 with errno set (the temporary file is
 * removed). Any thread, but not two writers of one path at once.
 */
int node_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* fsyncs the folder holding path, so that a rename or unlink in it is durable. Returns 0 or -1. */
int node_file_sync_dir(const char *path);

#endif

/*
 * replay_main.c -- runs a fuzz target over every file of a corpus folder, so
 * that the seed corpus (and every crash ever fixed) is replayed under ctest
 * without libFuzzer. Exits non-zero when the folder is missing or empty, so a
 * broken path cannot pass as a green run.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long size;
    int rc = -1;

    if (!f)
        return -1;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc(size ? (size_t)size : 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size)
        goto out;
    LLVMFuzzerTestOneInput(buf, (size_t)size);
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 64;
    }
    DIR *dir = opendir(argv[1]);
    if (!dir) {
        fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
        return 66;
    }
    int n = 0, failed = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        char path[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        if (replay_file(path) != 0) {
            fprintf(stderr, "%s: cannot read\n", path);
            failed++;
        }
        n++;
    }
    closedir(dir);
    printf("replayed %d inputs, %d unreadable\n", n, failed);
    return n == 0 || failed ? 1 : 0;
}

/*
 * credentials.c -- a node's entries in the gateway's registry and in
 * Mosquitto's password_file and acl_file, as text edits.
 *
 * The files are edited line by line rather than regenerated, because they
 * belong to the site: the gateway's own broker user, comments and other
 * nodes' entries stay exactly as the operator or earlier provisionings left
 * them. A node's old entry is found by its name only (the [device ID]
 * header and the lines up to the next section; the "NAME:" line; the "user
 * NAME" line and the topic lines after it), removed, and the new entry
 * appended. The password hash is Mosquitto 2's "$7$" format (its
 * password_mosq.c, and what `mosquitto_passwd -b` writes): PBKDF2 with
 * HMAC-SHA512, 101 iterations, a 12-byte salt, the salt and the 64-byte
 * result in base64 with padding.
 */
#define _GNU_SOURCE /* open_memstream */
#include "credentials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define PW_ITERATIONS 101
#define PW_SALT_BYTES 12
#define PW_HASH_BYTES 64

/* The next line of text [*pos, end): sets *line and *n (newline included); 0 at the end. */
static int next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *n)
{
    if (*pos >= len)
        return 0;
    const char *start = text + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    *n = nl ? (size_t)(nl - start) + 1 : len - *pos;
    *line = start;
    *pos += *n;
    return 1;
}

/* 1 when line (n bytes) starts, after blanks, with word followed by a blank or the end. */
static int starts_with_word(const char *line, size_t n, const char *word)
{
    size_t i = 0, w = strlen(word);
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (n - i < w || memcmp(line + i, word, w) != 0)
        return 0;
    return n - i == w || line[i + w] == ' ' || line[i + w] == '\t' || line[i + w] == '\n' ||
           line[i + w] == '\r';
}

/* 1 when line is "[device ID]" for this id (blanks around allowed). */
static int is_device_header(const char *line, size_t n, const char *id)
{
    char want[96];
    snprintf(want, sizeof want, "[device %s]", id);
    size_t i = 0, w = strlen(want);
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (n - i < w || memcmp(line + i, want, w) != 0)
        return 0;
    for (i += w; i < n; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\n' && line[i] != '\r')
            return 0;
    return 1;
}

static int is_section(const char *line, size_t n)
{
    size_t i = 0;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i < n && line[i] == '[';
}

/* Closes the stream f that writes *buf; returns *buf, or NULL (freed) when the stream failed. */
static char *finish(FILE *f, char **buf)
{
    if (fclose(f) != 0) {
        free(*buf);
        return NULL;
    }
    return *buf;
}

/* Ends what came before an appended entry with a newline. */
static void end_line(FILE *f, const char *old, size_t len)
{
    if (len > 0 && old[len - 1] != '\n')
        fputc('\n', f);
}

char *cf_registry_with(const char *old, size_t len, const char *id, const char *site,
                       const uint8_t *key, size_t key_len, const char *sensors)
{
    char *buf = NULL;
    size_t size = 0, pos = 0, n;
    const char *line;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return NULL;
    int in_ours = 0;
    while (next_line(old, len, &pos, &line, &n)) {
        if (is_section(line, n))
            in_ours = is_device_header(line, n, id);
        if (!in_ours)
            fwrite(line, 1, n, f);
    }
    end_line(f, old, len);
    fprintf(f, "[device %s]\nsite = %s\nkey = ", id, site);
    for (size_t i = 0; i < key_len; i++)
        fprintf(f, "%02x", key[i]);
    fputc('\n', f);
    if (sensors && sensors[0])
        fprintf(f, "sensors = %s\n", sensors);
    return finish(f, &buf);
}

int cf_mosquitto_hash(const char *password, const uint8_t salt[12], char *out, size_t cap)
{
    uint8_t hash[PW_HASH_BYTES];
    unsigned char salt64[4 * ((PW_SALT_BYTES + 2) / 3) + 1];
    unsigned char hash64[4 * ((PW_HASH_BYTES + 2) / 3) + 1];
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, PW_SALT_BYTES, PW_ITERATIONS,
                          EVP_sha512(), sizeof hash, hash) != 1)
        return -1;
    EVP_EncodeBlock(salt64, salt, PW_SALT_BYTES);
    EVP_EncodeBlock(hash64, hash, sizeof hash);
    int w = snprintf(out, cap, "$7$%d$%s$%s", PW_ITERATIONS, salt64, hash64);
    return w > 0 && (size_t)w < cap ? 0 : -1;
}

char *cf_passwd_with(const char *old, size_t len, const char *user, const char *password)
{
    uint8_t salt[PW_SALT_BYTES];
    char hash[256], *buf = NULL;
    size_t size = 0, pos = 0, n, ulen = strlen(user);
    const char *line;
    if (RAND_bytes(salt, sizeof salt) != 1 || cf_mosquitto_hash(password, salt, hash, sizeof hash))
        return NULL;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return NULL;
    while (next_line(old, len, &pos, &line, &n))
        if (!(n > ulen && memcmp(line, user, ulen) == 0 && line[ulen] == ':'))
            fwrite(line, 1, n, f);
    end_line(f, old, len);
    fprintf(f, "%s:%s\n", user, hash);
    return finish(f, &buf);
}

char *cf_acl_with(const char *old, size_t len, const char *user, const char *site)
{
    char *buf = NULL, want[96];
    size_t size = 0, pos = 0, n;
    const char *line;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return NULL;
    snprintf(want, sizeof want, "user %s", user);
    int in_ours = 0;
    while (next_line(old, len, &pos, &line, &n)) {
        if (starts_with_word(line, n, "user") || starts_with_word(line, n, "pattern"))
            in_ours = starts_with_word(line, n, want);
        else if (!starts_with_word(line, n, "topic"))
            in_ours = 0; /* a blank line or a comment ends a block */
        if (!in_ours)
            fwrite(line, 1, n, f);
    }
    end_line(f, old, len);
    fprintf(f,
            "user %s\n"
            "topic write city/v1/%s/%s/data\n"
            "topic write city/v1/%s/%s/status\n"
            "topic read city/v1/%s/%s/cmd\n"
            "topic write city/v1/%s/%s/cmd/reply\n"
            "topic write city/v1/%s/%s/update\n",
            user, site, user, site, user, site, user, site, user, site, user);
    return finish(f, &buf);
}

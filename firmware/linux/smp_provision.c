/*
 * smp_provision.c -- the management port's provisioning group: the node's
 * identity, HMAC key and broker credentials into its provisioning file.
 *
 * The file is rebuilt as text rather than regenerated from struct prov, so
 * that what a technician or the factory wrote beside the identity (the
 * ring, the intervals, the sensors, comments in [sensor] sections) survives
 * a re-provisioning. The new text is loaded with prov_load(), the parser
 * citynode itself uses, before it replaces the old file: a node is never
 * left with a file its firmware refuses at the next start.
 */
#define _GNU_SOURCE /* open_memstream */
#include "smp_provision.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "boot_store.h"
#include "image.h"
#include "provision.h"
#include "smp_cbor.h"
#include "wire.h"

/* The [node] keys this group sets; every other line of the file is kept. */
static const char *const set_keys[] = {"id", "site", "key", "broker", "username", "password"};
#define N_SET (sizeof set_keys / sizeof set_keys[0])

static void refuse(cbor_item_t *rsp, int rc, const char *reason)
{
    smp_cbor_put_int(rsp, "rc", rc);
    smp_cbor_put_str(rsp, "rsn", reason);
}

/*
 * A value that reads back as itself from an INI line: printable, no
 * surrounding space (libinih strips it), no ';' or '#' (comment starts).
 */
static int ini_safe(const uint8_t *v, size_t n)
{
    if (n > 0 && (v[0] == ' ' || v[n - 1] == ' '))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] >= 0x7f || v[i] == ';' || v[i] == '#')
            return 0;
    return 1;
}

/* The key of an INI line ("key = value"), trimmed, into out; 0 when the line has none. */
static int line_key(const char *line, char *out, size_t cap)
{
    const char *eq = strchr(line, '=');
    if (!eq)
        return 0;
    const char *b = line + strspn(line, " \t");
    const char *e = eq;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (e == b || (size_t)(e - b) >= cap)
        return 0;
    memcpy(out, b, (size_t)(e - b));
    out[e - b] = '\0';
    return 1;
}

/*
 * Copies the lines of the old file at path that stay into node_rest (the
 * [node] lines other than set_keys) and sensors_rest (the [sensor] sections,
 * when keep_sensors). A missing file keeps nothing. Returns 0 or -1.
 */
static int keep_old(const char *path, int keep_sensors, FILE *node_rest, FILE *sensors_rest)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    char *line = NULL;
    size_t cap = 0;
    enum { NONE, NODE, SENSOR } sec = NONE;
    while (getline(&line, &cap, f) >= 0) {
        const char *t = line + strspn(line, " \t");
        if (*t == '[') {
            sec = strncmp(t, "[node]", 6) == 0     ? NODE
                  : strncmp(t, "[sensor ", 8) == 0 ? SENSOR
                                                   : NONE;
            if (sec == SENSOR && keep_sensors)
                fputs(line, sensors_rest);
            continue;
        }
        if (sec == SENSOR && keep_sensors) {
            fputs(line, sensors_rest);
        } else if (sec == NODE) {
            char k[64];
            int set = 0;
            if (line_key(line, k, sizeof k))
                for (size_t i = 0; i < N_SET && !set; i++)
                    set = strcmp(k, set_keys[i]) == 0;
            if (!set)
                fputs(line, node_rest);
        }
    }
    free(line);
    int rc = ferror(f) ? -1 : 0;
    fclose(f);
    return rc;
}

/* Every section of a "sensors" text must be a [sensor NAME]. */
static int sensors_only(const uint8_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '\0' || (t[i] < 0x20 && t[i] != '\n' && t[i] != '\t' && t[i] != '\r'))
            return 0;
        int bol = i == 0 || t[i - 1] == '\n';
        size_t j = i;
        while (bol && j < n && (t[j] == ' ' || t[j] == '\t'))
            j++;
        if (bol && j < n && t[j] == '[' && (n - j < 8 || memcmp(t + j, "[sensor ", 8) != 0))
            return 0;
    }
    return 1;
}

static void identity_write(const struct smp_server *s, const cbor_item_t *req, cbor_item_t *rsp)
{
    const uint8_t *v[N_SET], *sensors = NULL, *key = NULL;
    size_t n[N_SET], n_sensors = 0, key_len = 0;
    char path[BOOT_STORE_PATH_MAX], fresh[BOOT_STORE_PATH_MAX], why[256];
    char *node_rest = NULL, *sensors_rest = NULL, *text = NULL;
    size_t node_rest_len = 0, sensors_rest_len = 0, text_len = 0;
    FILE *nr = NULL, *sr = NULL, *out = NULL;
    struct prov *p = NULL;
    for (size_t i = 0; i < N_SET; i++) {
        if (smp_cbor_get_bytes(req, set_keys[i], &v[i], &n[i]) != 0) {
            snprintf(why, sizeof why, "provisioning needs \"%s\"", set_keys[i]);
            return refuse(rsp, SMP_ERR_EINVAL, why);
        }
        if (i == 2) {
            key = v[i], key_len = n[i];
            if (key_len < 16 || key_len > 64)
                return refuse(rsp, SMP_ERR_EINVAL, "the key must be 16 to 64 bytes");
        } else if (n[i] >= PROV_MAX_STR || !ini_safe(v[i], n[i])) {
            snprintf(why, sizeof why,
                     "%s: at most %d printable characters, without ';', '#' or surrounding spaces",
                     set_keys[i], PROV_MAX_STR - 1);
            return refuse(rsp, SMP_ERR_EINVAL, why);
        }
    }
    int new_sensors = smp_cbor_get_bytes(req, "sensors", &sensors, &n_sensors) == 0;
    if (new_sensors && !sensors_only(sensors, n_sensors))
        return refuse(rsp, SMP_ERR_EINVAL, "\"sensors\" may only hold [sensor NAME] sections");
    if (boot_store_path(s->dir, SMP_PROVISION_FILE, path, sizeof path) != 0 ||
        boot_store_path(s->dir, SMP_PROVISION_FILE ".new", fresh, sizeof fresh) != 0)
        return refuse(rsp, SMP_ERR_EUNKNOWN, "path too long");
    nr = open_memstream(&node_rest, &node_rest_len);
    sr = open_memstream(&sensors_rest, &sensors_rest_len);
    out = open_memstream(&text, &text_len);
    p = malloc(sizeof *p);
    if (!nr || !sr || !out || !p) {
        refuse(rsp, SMP_ERR_ENOMEM, "out of memory");
        goto out;
    }
    if (keep_old(path, !new_sensors, nr, sr) != 0) {
        snprintf(why, sizeof why, "cannot read " SMP_PROVISION_FILE ": %s", strerror(errno));
        refuse(rsp, SMP_ERR_EUNKNOWN, why);
        goto out;
    }
    fclose(nr), nr = NULL;
    fclose(sr), sr = NULL;
    fputs("; written by the management port (provisioning group); other keys are kept\n[node]\n",
          out);
    for (size_t i = 0; i < N_SET; i++) {
        fprintf(out, "%s = ", set_keys[i]);
        if (v[i] == key)
            for (size_t k = 0; k < key_len; k++)
                fprintf(out, "%02x", key[k]);
        else
            fwrite(v[i], 1, n[i], out);
        fputc('\n', out);
    }
    fwrite(node_rest, 1, node_rest_len, out);
    if (new_sensors) {
        fputc('\n', out);
        fwrite(sensors, 1, n_sensors, out);
        if (n_sensors > 0 && sensors[n_sensors - 1] != '\n')
            fputc('\n', out);
    } else {
        fwrite(sensors_rest, 1, sensors_rest_len, out);
    }
    if (fclose(out) != 0) {
        out = NULL;
        refuse(rsp, SMP_ERR_ENOMEM, "out of memory");
        goto out;
    }
    out = NULL;
    struct prov_diag diag;
    if (node_file_write_atomic(fresh, text, text_len, 0600) != 0) {
        snprintf(why, sizeof why, "cannot write " SMP_PROVISION_FILE ".new: %s", strerror(errno));
        refuse(rsp, SMP_ERR_EUNKNOWN, why);
        goto out;
    }
    if (prov_load(fresh, p, &diag) != 0) {
        unlink(fresh);
        if (diag.line > 0)
            snprintf(why, sizeof why, "node refused: line %d: %s", diag.line, diag.text);
        else
            snprintf(why, sizeof why, "node refused: %s", diag.text);
        refuse(rsp, SMP_ERR_EINVAL, why);
        goto out;
    }
    if (rename(fresh, path) != 0 || node_file_sync_dir(path) != 0) {
        snprintf(why, sizeof why, "cannot replace " SMP_PROVISION_FILE ": %s", strerror(errno));
        refuse(rsp, SMP_ERR_EUNKNOWN, why);
        goto out;
    }
out:
    if (nr)
        fclose(nr);
    if (sr)
        fclose(sr);
    if (out)
        fclose(out);
    free(node_rest);
    free(sensors_rest);
    free(text);
    free(p);
}

static void identity_read(const struct smp_server *s, cbor_item_t *rsp)
{
    char path[BOOT_STORE_PATH_MAX];
    struct prov_diag diag;
    struct prov *p = malloc(sizeof *p);
    if (!p)
        return refuse(rsp, SMP_ERR_ENOMEM, "out of memory");
    int have = boot_store_path(s->dir, SMP_PROVISION_FILE, path, sizeof path) == 0 &&
               prov_load(path, p, &diag) == 0;
    smp_cbor_put_bool(rsp, "provisioned", have);
    if (have) {
        smp_cbor_put_str(rsp, "id", p->id);
        smp_cbor_put_str(rsp, "site", p->site);
        smp_cbor_put_str(rsp, "broker", p->broker);
        smp_cbor_put_str(rsp, "username", p->username);
    }
    free(p);
}

void smp_provision_handle(const struct smp_server *s, int id, int write, const cbor_item_t *req,
                          cbor_item_t *rsp)
{
    if (id == SMP_PROV_IDENTITY && write)
        identity_write(s, req, rsp);
    else if (id == SMP_PROV_IDENTITY)
        identity_read(s, rsp);
    else if (id == SMP_PROV_BOARD && !write) {
        smp_cbor_put_uint(rsp, "slot_size", s->slot_bytes);
        if (s->cid)
            smp_cbor_put_bytes(rsp, "cid", s->cid, NODE_IMAGE_CID_BYTES);
    } else {
        refuse(rsp, SMP_ERR_ENOTSUP, "unknown group or command");
    }
}

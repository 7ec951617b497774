/*
 * node_cmds.c -- cityflash's commands that talk to a node's management port
 * (`--conn`): echo, reset, info, and image list, upload, test, confirm, in
 * mcumgr's words and with its semantics.
 *
 * An upload sends the image in chunks of 1 KiB; the node answers each with
 * the offset it holds, and the next chunk starts there. After any
 * interruption (the link, cityflash, or the node itself killed) the same
 * command starts again at offset 0 with the image's length and SHA-256, and
 * the node, recognising the image, answers with the offset it reached: the
 * upload resumes from there, never from a guess of the client's.
 *
 * Before the first byte goes out, the node's board (SMP group 64, command
 * 1: its slot size and hardware class) is read, and an image that is larger
 * than the slot or built for another class is refused here; the node makes
 * the same checks itself, for clients that skip them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <openssl/evp.h>

#include "cityflash.h"
#include "conn.h"
#include "crypto_openssl.h"
#include "image.h"
#include "image_file.h"
#include "smp_cbor.h"
#include "smp_provision.h"
#include "wire.h"

#define CHUNK_BYTES 1024
#define MAX_UPLOAD_BYTES (256ull << 20)

static int connect_node(const struct cf_opts *o, struct cf_conn *c)
{
    char err[512];
    if (!o->conn)
        return cf_usage(o, "this command talks to a node: give --conn");
    if (cf_conn_open(c, o->conn, err, sizeof err) != 0)
        return cf_fail(o, EX_UNAVAILABLE, "%s", err);
    return 0;
}

/* Calls the node; on a transport failure or an rc from the node, reports and returns the exit code.
 */
static int call(const struct cf_opts *o, struct cf_conn *c, uint16_t group, uint8_t id, int write,
                const cbor_item_t *req, cbor_item_t **rsp)
{
    char err[512];
    if (cf_conn_call(c, group, id, write, req, rsp, err, sizeof err) != 0)
        return cf_fail(o, EX_UNAVAILABLE, "%s", err);
    uint64_t rc = 0;
    if (smp_cbor_get_uint(*rsp, "rc", &rc) == 0 && rc != 0) {
        const uint8_t *rsn;
        size_t n;
        char why[256];
        if (smp_cbor_get_bytes(*rsp, "rsn", &rsn, &n) == 0)
            snprintf(why, sizeof why, "%.*s", (int)n, (const char *)rsn);
        else
            snprintf(why, sizeof why, "node refused the request (SMP error %llu)",
                     (unsigned long long)rc);
        cbor_decref(rsp);
        return cf_fail(o, rc == 8 ? EX_UNAVAILABLE : EX_DATAERR, "%s", why);
    }
    return 0;
}

int cf_cmd_echo(const struct cf_opts *o, int argc, char **argv)
{
    struct cf_conn c;
    cbor_item_t *req = cbor_new_definite_map(1), *rsp = NULL;
    int rc = argc == 2 ? connect_node(o, &c) : cf_usage(o, "echo takes one TEXT");
    if (rc != 0 || !req)
        goto out;
    smp_cbor_put_str(req, "d", argv[1]);
    if ((rc = call(o, &c, NODE_SMP_GROUP_OS, 0, 1, req, &rsp)) == 0) {
        const uint8_t *r;
        size_t n;
        if (smp_cbor_get_bytes(rsp, "r", &r, &n) != 0) {
            rc = cf_fail(o, EX_PROTOCOL, "the node's echo has no \"r\"");
        } else if (o->json) {
            struct cli_json j;
            char text[1024];
            snprintf(text, sizeof text, "%.*s", (int)n, (const char *)r);
            cf_json_begin(&j);
            cli_json_key(&j, "r");
            cli_json_str(&j, text);
            cli_json_end_object(&j);
        } else {
            printf("%.*s\n", (int)n, (const char *)r);
        }
        cbor_decref(&rsp);
    }
    cf_conn_close(&c);
out:
    if (req)
        cbor_decref(&req);
    return rc;
}

int cf_cmd_reset(const struct cf_opts *o, int argc, char **argv)
{
    (void)argv;
    struct cf_conn c;
    cbor_item_t *rsp = NULL;
    int rc = argc == 1 ? connect_node(o, &c) : cf_usage(o, "reset takes no argument");
    if (rc != 0)
        return rc;
    if ((rc = call(o, &c, NODE_SMP_GROUP_OS, 5, 1, NULL, &rsp)) == 0) {
        cbor_decref(&rsp);
        if (o->json) {
            struct cli_json j;
            cf_json_begin(&j);
            cli_json_end_object(&j);
        } else {
            printf("node restarting\n");
        }
    }
    cf_conn_close(&c);
    return rc;
}

int cf_cmd_info(const struct cf_opts *o, int argc, char **argv)
{
    (void)argv;
    struct cf_conn c;
    cbor_item_t *rsp = NULL;
    int rc = argc == 1 ? connect_node(o, &c) : cf_usage(o, "info takes no argument");
    if (rc != 0)
        return rc;
    if ((rc = call(o, &c, NODE_SMP_GROUP_OS, 7, 0, NULL, &rsp)) == 0) {
        const uint8_t *t;
        size_t n = 0;
        char text[512] = "";
        if (smp_cbor_get_bytes(rsp, "output", &t, &n) == 0)
            snprintf(text, sizeof text, "%.*s", (int)n, (const char *)t);
        if (o->json) {
            struct cli_json j;
            cf_json_begin(&j);
            cli_json_key(&j, "output");
            cli_json_str(&j, text);
            cli_json_end_object(&j);
        } else {
            printf("%s\n", text);
        }
        cbor_decref(&rsp);
    }
    cf_conn_close(&c);
    return rc;
}

/* Prints the "images" array of a state response. */
static int print_images(const struct cf_opts *o, const cbor_item_t *rsp)
{
    cbor_item_t *arr = smp_cbor_get(rsp, "images");
    if (!arr || !cbor_isa_array(arr))
        return cf_fail(o, EX_PROTOCOL, "the node's image list has no \"images\"");
    static const char *const flags[] = {"active", "confirmed", "pending", "permanent", "bootable"};
    struct cli_json j;
    if (o->json) {
        cf_json_begin(&j);
        cli_json_key(&j, "images");
        cli_json_begin_array(&j);
    }
    for (size_t i = 0; i < cbor_array_size(arr); i++) {
        cbor_item_t *m = cbor_array_get(arr, i);
        uint64_t slot = 0;
        const uint8_t *v = NULL, *h = NULL;
        size_t vn = 0, hn = 0;
        char ver[64] = "?", hh[65] = "";
        smp_cbor_get_uint(m, "slot", &slot);
        if (smp_cbor_get_bytes(m, "version", &v, &vn) == 0)
            snprintf(ver, sizeof ver, "%.*s", (int)vn, (const char *)v);
        if (smp_cbor_get_bytes(m, "hash", &h, &hn) == 0 && hn == 32)
            wire_hex_encode(h, 32, hh);
        if (o->json) {
            cli_json_begin_object(&j);
            cli_json_key(&j, "slot");
            cli_json_uint(&j, slot);
            cli_json_key(&j, "version");
            cli_json_str(&j, ver);
            cli_json_key(&j, "hash");
            cli_json_str(&j, hh);
        } else {
            printf("slot %llu: %s", (unsigned long long)slot, ver);
        }
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
            bool b = false;
            smp_cbor_get_bool(m, flags[f], &b);
            if (o->json) {
                cli_json_key(&j, flags[f]);
                cli_json_bool(&j, b);
            } else if (b) {
                printf(" %s", flags[f]);
            }
        }
        if (o->json)
            cli_json_end_object(&j);
        else
            printf("\n  hash %s\n", hh);
        cbor_decref(&m);
    }
    if (o->json) {
        cli_json_end_array(&j);
        cli_json_end_object(&j);
    }
    return 0;
}

static int image_state(const struct cf_opts *o, const char *hash_hex, int write, int confirm)
{
    struct cf_conn c;
    cbor_item_t *req = NULL, *rsp = NULL;
    uint8_t hash[32];
    if (hash_hex &&
        (strlen(hash_hex) != 2 * sizeof hash || wire_hex_decode(hash_hex, hash, sizeof hash) != 0))
        return cf_usage(o, "%s: a hash is 64 hex digits (see `image list`)", hash_hex);
    int rc = connect_node(o, &c);
    if (rc != 0)
        return rc;
    if (write) {
        req = cbor_new_definite_map(2);
        if (!req) {
            rc = cf_fail(o, EX_SOFTWARE, "out of memory");
            goto out;
        }
        if (hash_hex)
            smp_cbor_put_bytes(req, "hash", hash, sizeof hash);
        smp_cbor_put_bool(req, "confirm", confirm);
    }
    if ((rc = call(o, &c, NODE_SMP_GROUP_IMAGE, 0, write, req, &rsp)) == 0) {
        rc = print_images(o, rsp);
        cbor_decref(&rsp);
    }
out:
    if (req)
        cbor_decref(&req);
    cf_conn_close(&c);
    return rc;
}

/*
 * Refuses, before any byte is sent, an image the node's board cannot take.
 * A node without the provisioning group is left to refuse for itself.
 */
static int check_board(const struct cf_opts *o, struct cf_conn *c, const char *path,
                       const struct node_image_info *info, uint64_t len)
{
    cbor_item_t *rsp = NULL;
    char err[512];
    if (cf_conn_call(c, NODE_SMP_GROUP_CITY, SMP_PROV_BOARD, 0, NULL, &rsp, err, sizeof err) != 0)
        return cf_fail(o, EX_UNAVAILABLE, "%s", err);
    uint64_t slot = 0;
    const uint8_t *cid = NULL;
    size_t cid_len = 0;
    int rc = 0;
    if (smp_cbor_get_uint(rsp, "slot_size", &slot) == 0 && len > slot) {
        rc = cf_fail(o, EX_DATAERR,
                     "%s: the image (%llu bytes) is larger than the node's slot "
                     "(%llu bytes); nothing was sent",
                     path, (unsigned long long)len, (unsigned long long)slot);
    } else if (smp_cbor_get_bytes(rsp, "cid", &cid, &cid_len) == 0 &&
               cid_len == NODE_IMAGE_CID_BYTES && node_image_check_class(info, cid) != 0) {
        char img[37] = "none", node[37];
        if (info->has_cid)
            node_image_uuid_format(info->cid, img);
        node_image_uuid_format(cid, node);
        rc = cf_fail(o, EX_DATAERR,
                     "%s is built for hardware class %s, the node is %s; nothing "
                     "was sent",
                     path, img, node);
    }
    cbor_decref(&rsp);
    return rc;
}

static int image_upload(const struct cf_opts *o, const char *path)
{
    struct node_image_file f = {0};
    struct cf_conn c;
    char err[512];
    uint8_t sha[32];
    unsigned sn = 0;
    int rc;
    if (node_image_file_load(path, MAX_UPLOAD_BYTES, &f, err, sizeof err) != 0)
        return cf_fail(o, errno == ENOENT ? EX_NOINPUT : EX_DATAERR, "%s", err);
    struct node_image_info info; /* its hash is the one `image list` and `image test` use */
    int v = node_image_verify(&f.storage, &node_crypto_openssl, NULL, 0, &info);
    if (v < 0) {
        node_image_file_fini(&f);
        return cf_fail(o, EX_DATAERR, "%s: %s (see `cityflash image verify`)", path,
                       node_image_strerror(v));
    }
    EVP_Digest(f.data, f.len, sha, &sn, EVP_sha256(), NULL);
    if ((rc = connect_node(o, &c)) != 0) {
        node_image_file_fini(&f);
        return rc;
    }
    if ((rc = check_board(o, &c, path, &info, f.len)) != 0) {
        cf_conn_close(&c);
        node_image_file_fini(&f);
        return rc;
    }
    struct cli_progress p;
    uint64_t start = cli_now_ms(), off = 0, resumed_at = 0;
    int stalls = 0;
    cli_progress_init(&p, stderr, "upload", f.len, "B", start);
    while (off < f.len) {
        size_t n = f.len - off < CHUNK_BYTES ? f.len - off : CHUNK_BYTES;
        cbor_item_t *req = cbor_new_definite_map(5), *rsp = NULL;
        if (!req) {
            rc = cf_fail(o, EX_SOFTWARE, "out of memory");
            break;
        }
        smp_cbor_put_uint(req, "image", 0);
        smp_cbor_put_uint(req, "off", off);
        smp_cbor_put_bytes(req, "data", f.data + off, n);
        if (off == 0) {
            smp_cbor_put_uint(req, "len", f.len);
            smp_cbor_put_bytes(req, "sha", sha, sizeof sha);
        }
        rc = call(o, &c, NODE_SMP_GROUP_IMAGE, 1, 1, req, &rsp);
        cbor_decref(&req);
        if (rc != 0)
            break;
        uint64_t next;
        int ok = smp_cbor_get_uint(rsp, "off", &next) == 0 && next <= f.len;
        cbor_decref(&rsp);
        if (!ok) {
            rc = cf_fail(o, EX_PROTOCOL, "the node's answer to a chunk has no valid \"off\"");
            break;
        }
        if (off == 0 && next > n)
            resumed_at = next;
        stalls = next > off ? 0 : stalls + 1;
        if (stalls > 8) {
            rc = cf_fail(o, EX_PROTOCOL, "the node keeps answering offset %llu: upload stuck",
                         (unsigned long long)next);
            break;
        }
        off = next;
        cli_progress_update(&p, off, cli_now_ms());
    }
    cli_progress_finish(&p, off, cli_now_ms());
    if (rc == 0) {
        double s = (double)(cli_now_ms() - start) / 1000.0;
        char hh[65];
        wire_hex_encode(info.hash, sizeof info.hash, hh);
        if (o->json) {
            struct cli_json j;
            cf_json_begin(&j);
            cli_json_key(&j, "bytes");
            cli_json_uint(&j, f.len);
            cli_json_key(&j, "resumed_at");
            cli_json_uint(&j, resumed_at);
            cli_json_key(&j, "seconds");
            cli_json_double(&j, s);
            cli_json_key(&j, "hash");
            cli_json_str(&j, hh);
            cli_json_end_object(&j);
        } else {
            if (resumed_at)
                printf("resumed at byte %llu of %zu\n", (unsigned long long)resumed_at, f.len);
            printf("uploaded %zu bytes in %.1f s (%.0f B/s); hash %s\n", f.len, s,
                   s > 0 ? (double)(f.len - resumed_at) / s : 0.0, hh);
            printf("next: cityflash --conn %s image test %s\n", o->conn, hh);
        }
    }
    cf_conn_close(&c);
    node_image_file_fini(&f);
    return rc;
}

int cf_cmd_image_node(const struct cf_opts *o, int argc, char **argv)
{
    const char *sub = argv[1];
    if (strcmp(sub, "list") == 0 && argc == 2)
        return image_state(o, NULL, 0, 0);
    if (strcmp(sub, "upload") == 0 && argc == 3)
        return image_upload(o, argv[2]);
    if (strcmp(sub, "test") == 0 && argc == 3)
        return image_state(o, argv[2], 1, 0);
    if (strcmp(sub, "confirm") == 0 && argc <= 3)
        return image_state(o, argc == 3 ? argv[2] : NULL, 1, 1);
    return cf_usage(o, "image %s: expected list, upload IMAGE, test HASH or confirm [HASH]", sub);
}

/*
 * image_sign.c -- `cityflash image sign` and `cityflash image verify`: MCUboot
 * images made and checked on the technician's machine.
 *
 * Signing lays the image out with the core's encoders (firmware/core/image.h)
 * and signs the SHA-256 digest with the private key through OpenSSL, as
 * imgtool does for ed25519; verifying runs the very check the node's boot
 * stage runs (node_image_verify), so an image that passes here boots there
 * unless the node refuses it for its version or security counter.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "atomic_file.h"
#include "cityflash.h"
#include "crypto_openssl.h"
#include "image.h"
#include "image_file.h"
#include "units.h"
#include "wire.h"

/* Payloads above this are refused: the header's 32-bit size, less room for the rest. */
#define MAX_PAYLOAD_BYTES (UINT32_MAX - 4096u)
#define MAX_IMAGE_BYTES ((uint64_t)UINT32_MAX)
#define MAX_KEYS 8

static EVP_PKEY *read_private(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (k && EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    return k;
}

static int sign_digest(EVP_PKEY *key, const uint8_t digest[NODE_SHA256_BYTES],
                       uint8_t sig[NODE_ED25519_SIG_BYTES])
{
    size_t len = NODE_ED25519_SIG_BYTES;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestSign(md, sig, &len, digest, NODE_SHA256_BYTES) == 1 &&
             len == NODE_ED25519_SIG_BYTES;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

static int image_sign(const struct cf_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"key", required_argument, NULL, 'k'},
        {"version", required_argument, NULL, 'v'},
        {"security-counter", required_argument, NULL, 's'},
        {"cid", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    const char *key_path = NULL;
    struct node_image_header hdr = {.hdr_size = NODE_IMAGE_HEADER_BYTES,
                                    .protect_tlv_size = NODE_IMAGE_PROT_BYTES};
    uint32_t counter = 0;
    uint64_t v;
    uint8_t cid[NODE_IMAGE_CID_BYTES];
    int have_cid = 0;
    int have_version = 0, c, rc = EX_SOFTWARE;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:v:s:C:", longopts, NULL)) != -1) {
        if (c == 'k') {
            key_path = optarg;
        } else if (c == 'v') {
            if (node_image_version_parse(optarg, &hdr.ver) < 0)
                return cf_usage(o, "--version %s: expected MAJOR.MINOR.REVISION[+BUILD]", optarg);
            have_version = 1;
        } else if (c == 's') {
            if (gw_parse_uint(optarg, &v) != 0 || v > UINT32_MAX)
                return cf_usage(o, "--security-counter %s: expected 0 to 4294967295", optarg);
            counter = (uint32_t)v;
        } else if (c == 'C') {
            if (node_image_uuid_parse(optarg, cid) < 0)
                return cf_usage(
                    o, "--cid %s: expected a UUID, xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", optarg);
            have_cid = 1;
            hdr.protect_tlv_size = NODE_IMAGE_PROT_CID_BYTES;
        } else {
            return cf_usage(o, NULL);
        }
    }
    if (!key_path || !have_version || argc - optind != 2)
        return cf_usage(o, "image sign needs --key, --version, PAYLOAD and OUT");
    const char *in_path = argv[optind], *out_path = argv[optind + 1];

    struct node_image_file payload = {0};
    uint8_t *img = NULL;
    EVP_PKEY *key = read_private(key_path);
    char err[512];
    if (!key) {
        rc = cf_fail(o, EX_NOINPUT, "cannot read an ed25519 private key from %s", key_path);
        goto out;
    }
    if (node_image_file_load(in_path, MAX_PAYLOAD_BYTES, &payload, err, sizeof err) != 0) {
        rc = cf_fail(o, errno == ENOENT ? EX_NOINPUT : EX_DATAERR, "%s", err);
        goto out;
    }
    hdr.img_size = (uint32_t)payload.len;
    size_t hashed = NODE_IMAGE_HEADER_BYTES + payload.len + hdr.protect_tlv_size;
    size_t total = hashed + NODE_IMAGE_TLV_BYTES;
    if (!(img = malloc(total))) {
        rc = cf_fail(o, EX_SOFTWARE, "out of memory");
        goto out;
    }
    node_image_encode_header(&hdr, img);
    memcpy(img + NODE_IMAGE_HEADER_BYTES, payload.data, payload.len);
    node_image_encode_protected(counter, have_cid ? cid : NULL,
                                img + NODE_IMAGE_HEADER_BYTES + payload.len);

    uint8_t digest[NODE_SHA256_BYTES], key_hash[NODE_SHA256_BYTES], pub[NODE_ED25519_PUB_BYTES];
    uint8_t sig[NODE_ED25519_SIG_BYTES];
    size_t pub_len = sizeof pub;
    unsigned dlen = 0;
    if (EVP_Digest(img, hashed, digest, &dlen, EVP_sha256(), NULL) != 1 ||
        EVP_PKEY_get_raw_public_key(key, pub, &pub_len) != 1 ||
        node_image_key_hash(&node_crypto_openssl, pub, key_hash) != 0 ||
        sign_digest(key, digest, sig) != 0) {
        rc = cf_fail(o, EX_SOFTWARE, "OpenSSL could not sign the image");
        goto out;
    }
    node_image_encode_tlvs(digest, key_hash, sig, img + hashed);
    if (node_file_write_atomic(out_path, img, total, 0644) != 0) {
        rc = cf_fail(o, EX_CANTCREAT, "cannot write %s: %s", out_path, strerror(errno));
        goto out;
    }
    char ver[48], dhex[2 * NODE_SHA256_BYTES + 1];
    node_image_version_format(&hdr.ver, ver, sizeof ver);
    wire_hex_encode(digest, sizeof digest, dhex);
    if (o->json) {
        struct cli_json j;
        cf_json_begin(&j);
        cli_json_key(&j, "image");
        cli_json_str(&j, out_path);
        cli_json_key(&j, "version");
        cli_json_str(&j, ver);
        cli_json_key(&j, "security_counter");
        cli_json_uint(&j, counter);
        cli_json_key(&j, "bytes");
        cli_json_uint(&j, total);
        cli_json_key(&j, "sha256");
        cli_json_str(&j, dhex);
        cli_json_end_object(&j);
    } else {
        printf("%s: version %s, security counter %u, %zu bytes, sha256 %s\n", out_path, ver,
               counter, total, dhex);
    }
    rc = 0;
out:
    free(img);
    node_image_file_fini(&payload);
    EVP_PKEY_free(key);
    return rc;
}

static int image_verify(const struct cf_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"key", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    uint8_t keys[MAX_KEYS][NODE_ED25519_PUB_BYTES];
    const char *key_paths[MAX_KEYS];
    size_t n_keys = 0;
    char err[512];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:", longopts, NULL)) != -1) {
        if (c != 'k')
            return cf_usage(o, NULL);
        if (n_keys == MAX_KEYS)
            return cf_usage(o, "at most %d --key options", MAX_KEYS);
        if (node_ossl_read_pubkey(optarg, keys[n_keys], err, sizeof err) != 0)
            return cf_fail(o, EX_NOINPUT, "%s", err);
        key_paths[n_keys++] = optarg;
    }
    if (argc - optind != 1)
        return cf_usage(o, "image verify takes one IMAGE");
    const char *path = argv[optind];

    struct node_image_file f = {0};
    struct node_image_info info;
    if (node_image_file_load(path, MAX_IMAGE_BYTES, &f, err, sizeof err) != 0)
        return cf_fail(o, errno == ENOENT ? EX_NOINPUT : EX_IOERR, "%s", err);
    int v = node_image_verify(&f.storage, &node_crypto_openssl, keys, n_keys, &info);
    node_image_file_fini(&f);
    if (v == -NODE_IMAGE_ESIG && n_keys == 1)
        return cf_fail(o, EX_DATAERR, "%s: signature does not match key %s", path, key_paths[0]);
    if (v == -NODE_IMAGE_EUNKNOWN)
        return cf_fail(o, EX_DATAERR, "%s: signed with another key than %s%s", path, key_paths[0],
                       n_keys > 1 ? " and the others given" : "");
    if (v < 0)
        return cf_fail(o, EX_DATAERR, "%s: %s", path, node_image_strerror(v));

    char ver[48], hhex[2 * NODE_SHA256_BYTES + 1];
    node_image_version_format(&info.hdr.ver, ver, sizeof ver);
    wire_hex_encode(info.hash, sizeof info.hash, hhex);
    const char *signer = info.key_index >= 0 ? key_paths[info.key_index] : NULL;
    if (o->json) {
        struct cli_json j;
        cf_json_begin(&j);
        cli_json_key(&j, "image");
        cli_json_str(&j, path);
        cli_json_key(&j, "version");
        cli_json_str(&j, ver);
        cli_json_key(&j, "payload_bytes");
        cli_json_uint(&j, info.hdr.img_size);
        cli_json_key(&j, "image_bytes");
        cli_json_uint(&j, info.total_bytes);
        cli_json_key(&j, "sha256");
        cli_json_str(&j, hhex);
        if (info.has_security_counter) {
            cli_json_key(&j, "security_counter");
            cli_json_uint(&j, info.security_counter);
        }
        if (info.has_cid) {
            char u[37];
            node_image_uuid_format(info.cid, u);
            cli_json_key(&j, "cid");
            cli_json_str(&j, u);
        }
        cli_json_key(&j, "signature_checked");
        cli_json_bool(&j, signer != NULL);
        if (signer) {
            cli_json_key(&j, "key");
            cli_json_str(&j, signer);
        }
        cli_json_end_object(&j);
    } else {
        printf("%s: ok\n", path);
        printf("  version           %s\n", ver);
        if (info.has_security_counter)
            printf("  security counter  %u\n", info.security_counter);
        if (info.has_cid) {
            char u[37];
            node_image_uuid_format(info.cid, u);
            printf("  hardware class    %s\n", u);
        }
        printf("  payload           %u bytes (image %llu bytes)\n", info.hdr.img_size,
               (unsigned long long)info.total_bytes);
        printf("  sha256            %s\n", hhex);
        printf("  signature         %s%s\n", signer ? "good, key " : "not checked (no --key)",
               signer ? signer : "");
    }
    return 0;
}

int cf_cmd_image(const struct cf_opts *o, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "sign") == 0)
        return image_sign(o, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "verify") == 0)
        return image_verify(o, argc - 1, argv + 1);
    if (argc >= 2)
        return cf_cmd_image_node(o, argc, argv);
    return cf_usage(o, "image needs sign, verify, list, upload, test or confirm");
}

/*
 * crypto_openssl.c -- SHA-256 and ed25519 verification for the image and
 * boot code (node_crypto.h), through OpenSSL 3's EVP interface.
 *
 * A hash in progress is an EVP_MD_CTX whose pointer lives in the caller's
 * struct node_sha256; ed25519 is verified with EVP_DigestVerify in its
 * one-shot form (RFC 8032 "pure" ed25519, as bootutil and imgtool use it).
 */
#include "crypto_openssl.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

static int sha_begin(void *ctx, struct node_sha256 *h)
{
    (void)ctx;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return -1;
    }
    h->u.ptr = md;
    return 0;
}

static int sha_update(void *ctx, struct node_sha256 *h, const void *data, size_t len)
{
    (void)ctx;
    return EVP_DigestUpdate(h->u.ptr, data, len) == 1 ? 0 : -1;
}

static int sha_end(void *ctx, struct node_sha256 *h, uint8_t out[NODE_SHA256_BYTES])
{
    (void)ctx;
    int rc = 0;
    if (out) {
        unsigned int n = 0;
        rc = EVP_DigestFinal_ex(h->u.ptr, out, &n) == 1 && n == NODE_SHA256_BYTES ? 0 : -1;
    }
    EVP_MD_CTX_free(h->u.ptr);
    h->u.ptr = NULL;
    return rc;
}

static int ed_verify(void *ctx, const uint8_t pub[NODE_ED25519_PUB_BYTES], const uint8_t *msg,
                     size_t msg_len, const uint8_t sig[NODE_ED25519_SIG_BYTES])
{
    (void)ctx;
    int ok = 0;
    EVP_MD_CTX *md = NULL;
    EVP_PKEY *key =
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, NODE_ED25519_PUB_BYTES);
    if (!key)
        goto out;
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) != 1)
        goto out;
    ok = EVP_DigestVerify(md, sig, NODE_ED25519_SIG_BYTES, msg, msg_len) == 1;
out:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    return ok;
}

static const struct node_crypto_ops openssl_ops = {
    .sha256_begin = sha_begin,
    .sha256_update = sha_update,
    .sha256_end = sha_end,
    .ed25519_verify = ed_verify,
};

const struct node_crypto node_crypto_openssl = {.ops = &openssl_ops, .ctx = NULL};

int node_ossl_read_pubkey(const char *path, uint8_t out[NODE_ED25519_PUB_BYTES], char *err,
                          size_t err_size)
{
    int rc = -1;
    EVP_PKEY *key = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_size, "cannot open key %s", path);
        return -1;
    }
    key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (!key) {
        rewind(f);
        key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    }
    fclose(f);
    size_t len = NODE_ED25519_PUB_BYTES;
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
        snprintf(err, err_size, "%s is not an ed25519 key in PEM", path);
        goto out;
    }
    if (EVP_PKEY_get_raw_public_key(key, out, &len) != 1 || len != NODE_ED25519_PUB_BYTES) {
        snprintf(err, err_size, "cannot read the public key in %s", path);
        goto out;
    }
    rc = 0;
out:
    EVP_PKEY_free(key);
    return rc;
}

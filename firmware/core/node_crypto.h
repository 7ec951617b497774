/*
 * node_crypto.h -- the two primitives the image and boot code need: SHA-256
 * and ed25519 signature verification.
 *
 * The portable core never calls a crypto library itself; it takes these from
 * the port as a const vtable plus a context, so that a microcontroller build
 * can plug in its own (TinyCrypt, Mbed TLS, a hardware engine) while the Linux
 * port uses OpenSSL's EVP interface (firmware/linux/crypto_openssl.c).
 *
 * A hash in progress lives in caller storage of NODE_SHA256_CTX_BYTES bytes,
 * so the core allocates nothing for it. The functions may be called from any
 * one thread at a time per context.
 */
#ifndef CITYGATE_NODE_CRYPTO_H
#define CITYGATE_NODE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define NODE_SHA256_BYTES 32
#define NODE_ED25519_PUB_BYTES 32
#define NODE_ED25519_SIG_BYTES 64
/* Room a port may use for one hash in progress (OpenSSL needs a pointer). */
#define NODE_SHA256_CTX_BYTES 256

struct node_sha256 {
    union {
        uint8_t bytes[NODE_SHA256_CTX_BYTES];
        void *ptr;
        uint64_t align;
    } u;
};

struct node_crypto_ops {
    /* Starts a hash in h (caller storage). Returns 0, or -1 when out of resources. */
    int (*sha256_begin)(void *ctx, struct node_sha256 *h);
    /* Adds len bytes (borrowed). Returns 0 or -1. */
    int (*sha256_update)(void *ctx, struct node_sha256 *h, const void *data, size_t len);
    /*
     * Writes the digest and releases what sha256_begin took; also called
     * with out NULL to abandon a hash. Returns 0 or -1.
     */
    int (*sha256_end)(void *ctx, struct node_sha256 *h, uint8_t out[NODE_SHA256_BYTES]);
    /* 1 when sig is pub's ed25519 signature (RFC 8032, pure) of msg, 0 when not. */
    int (*ed25519_verify)(void *ctx, const uint8_t pub[NODE_ED25519_PUB_BYTES], const uint8_t *msg,
                          size_t msg_len, const uint8_t sig[NODE_ED25519_SIG_BYTES]);
};

struct node_crypto {
    const struct node_crypto_ops *ops;
    void *ctx;
};

#endif

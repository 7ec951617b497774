/*
 * crypto_openssl.h -- node_crypto.h on Linux, through OpenSSL's EVP API, and
 * the reading of ed25519 public keys from PEM files.
 */
#ifndef CITYGATE_CRYPTO_OPENSSL_H
#define CITYGATE_CRYPTO_OPENSSL_H

#include <stddef.h>

#include "node_crypto.h"

/* The OpenSSL crypto port (no context; any thread). */
extern const struct node_crypto node_crypto_openssl;

/*
 * Reads the raw ed25519 public key from a PEM file (path borrowed) holding a
 * public key or a private key (the public half is taken). Returns 0, or -1
 * with a plain-language reason in err (err_size bytes).
 */
int node_ossl_read_pubkey(const char *path, uint8_t out[NODE_ED25519_PUB_BYTES], char *err,
                          size_t err_size);

#endif

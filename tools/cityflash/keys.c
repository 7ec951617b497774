/*
 * keys.c -- `cityflash keys new FILE`: an ed25519 signing key for images.
 *
 * The private key goes to FILE as unencrypted PKCS#8 PEM with mode 0600 (the
 * format `imgtool keygen -t ed25519` writes, so either tool can use it), the
 * public key to FILE.pub as SubjectPublicKeyInfo PEM: that is the file a node
 * is given. An existing file is never overwritten: losing a signing key
 * strands every node that trusts only it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "atomic_file.h"
#include "cityflash.h"

/* The PEM text of key (public or private half) in a malloc'd buffer; NULL on failure. */
static char *pem_of(EVP_PKEY *key, int private, size_t *len)
{
    char *out = NULL, *p;
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return NULL;
    int ok = private ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)
                     : PEM_write_bio_PUBKEY(b, key);
    long n = BIO_get_mem_data(b, &p);
    if (ok == 1 && n > 0 && (out = malloc((size_t)n)) != NULL) {
        memcpy(out, p, (size_t)n);
        *len = (size_t)n;
    }
    BIO_free(b);
    return out;
}

static int keys_new(const struct cf_opts *o, const char *path)
{
    int rc = EX_SOFTWARE;
    char pub_path[4096];
    char *priv_pem = NULL, *pub_pem = NULL;
    size_t priv_len = 0, pub_len = 0;
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);

    if ((size_t)snprintf(pub_path, sizeof pub_path, "%s.pub", path) >= sizeof pub_path) {
        rc = cf_usage(o, "key path too long");
        goto out;
    }
    if (access(path, F_OK) == 0 || access(pub_path, F_OK) == 0) {
        rc = cf_fail(o, EX_CANTCREAT, "%s or %s exists already; keys are never overwritten", path,
                     pub_path);
        goto out;
    }
    if (!kc || EVP_PKEY_keygen_init(kc) != 1 || EVP_PKEY_keygen(kc, &key) != 1 ||
        !(priv_pem = pem_of(key, 1, &priv_len)) || !(pub_pem = pem_of(key, 0, &pub_len))) {
        rc = cf_fail(o, EX_SOFTWARE, "OpenSSL could not make an ed25519 key");
        goto out;
    }
    if (node_file_write_atomic(path, priv_pem, priv_len, 0600) != 0 ||
        node_file_write_atomic(pub_path, pub_pem, pub_len, 0644) != 0) {
        rc = cf_fail(o, EX_CANTCREAT, "cannot write the key: %s", strerror(errno));
        goto out;
    }
    if (o->json) {
        struct cli_json j;
        cf_json_begin(&j);
        cli_json_key(&j, "private");
        cli_json_str(&j, path);
        cli_json_key(&j, "public");
        cli_json_str(&j, pub_path);
        cli_json_end_object(&j);
    } else {
        printf("private key: %s (keep it on this machine)\n", path);
        printf("public key:  %s (give it to the nodes)\n", pub_path);
    }
    rc = 0;
out:
    if (priv_pem)
        OPENSSL_cleanse(priv_pem, priv_len);
    free(priv_pem);
    free(pub_pem);
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(kc);
    return rc;
}

int cf_cmd_keys(const struct cf_opts *o, int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "new") == 0)
        return keys_new(o, argv[2]);
    return cf_usage(o, "keys takes new FILE");
}

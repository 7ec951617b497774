/*
 * credentials.h -- a node's entries in the files of the site's gateway and
 * broker: its [device ID] section of the gateway's registry, its line of
 * Mosquitto's password_file and its block of Mosquitto's acl_file.
 *
 * Each function takes a file's whole text and returns the new text, with
 * the node's old entry (if any) removed and the new one appended, and every
 * other line kept as it was: re-provisioning a node replaces its key and
 * password, so the old ones stop working at the next reload. Nothing here
 * touches a file; provision.c writes them.
 */
#ifndef CITYGATE_CITYFLASH_CREDENTIALS_H
#define CITYGATE_CITYFLASH_CREDENTIALS_H

#include <stddef.h>
#include <stdint.h>

/* The new texts are NUL-terminated; the caller frees them with free(). NULL: out of memory. */

/*
 * The registry text old (len bytes, borrowed) with device id's section
 * replaced by one with site, key (key_len bytes, as hex) and, when
 * sensors is not NULL or empty, "sensors = " that comma-separated list.
 */
char *cf_registry_with(const char *old, size_t len, const char *id, const char *site,
                       const uint8_t *key, size_t key_len, const char *sensors);

/*
 * The password_file text old with user's line replaced by user:HASH, HASH
 * in mosquitto_passwd's format for Mosquitto 2: $7$101$SALT$PBKDF2 (PBKDF2
 * with HMAC-SHA512, 101 iterations, 12 random salt bytes, base64).
 */
char *cf_passwd_with(const char *old, size_t len, const char *user, const char *password);

/*
 * The acl_file text old with user's block replaced by one that lets the
 * node write its data and status topics (the status topic is also its
 * will) and read its command topic, all under city/v1/SITE/USER/, and
 * nothing else. A user's block is its "user NAME" line and the "topic"
 * lines after it.
 */
char *cf_acl_with(const char *old, size_t len, const char *user, const char *site);

/* Mosquitto's $7$ hash of password with salt (12 bytes) into out (cap bytes). Returns 0 or -1. */
int cf_mosquitto_hash(const char *password, const uint8_t salt[12], char *out, size_t cap);

#endif

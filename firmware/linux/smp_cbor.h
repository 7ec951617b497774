/*
 * smp_cbor.h -- the few CBOR shapes SMP uses (a map of text keys to text,
 * byte strings, unsigned integers, booleans and arrays of such maps), over
 * libcbor, for the node's management port and for cityflash.
 */
#ifndef CITYGATE_SMP_CBOR_H
#define CITYGATE_SMP_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

/* The value under key in map (borrowed from map), or NULL when map is not a map or has no key. */
cbor_item_t *smp_cbor_get(const cbor_item_t *map, const char *key);

/* Typed reads: 0 and *out set, or -1 when the key is missing or of another type. */
int smp_cbor_get_uint(const cbor_item_t *map, const char *key, uint64_t *out);
int smp_cbor_get_bool(const cbor_item_t *map, const char *key, bool *out);
/* Byte or text string: *data borrowed from map. */
int smp_cbor_get_bytes(const cbor_item_t *map, const char *key, const uint8_t **data, size_t *len);

/* Adds key: value to map (value's reference is taken). Returns 0 or -1 (out of memory). */
int smp_cbor_put(cbor_item_t *map, const char *key, cbor_item_t *value);
int smp_cbor_put_uint(cbor_item_t *map, const char *key, uint64_t v);
int smp_cbor_put_int(cbor_item_t *map, const char *key, int64_t v);
int smp_cbor_put_bool(cbor_item_t *map, const char *key, bool v);
int smp_cbor_put_str(cbor_item_t *map, const char *key, const char *s);
int smp_cbor_put_bytes(cbor_item_t *map, const char *key, const uint8_t *data, size_t len);

/*
 * Serializes item into buf (cap bytes). Returns the bytes written, or 0 when
 * it does not fit.
 */
size_t smp_cbor_encode(const cbor_item_t *item, uint8_t *buf, size_t cap);

#endif

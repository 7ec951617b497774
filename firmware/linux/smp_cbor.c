/*
 * smp_cbor.c -- the few CBOR shapes SMP uses, over libcbor.
 *
 * Maps are built indefinite-free (definite, grown by libcbor) and looked up
 * by a linear scan: SMP maps have a handful of keys.
 */
#include "smp_cbor.h"

#include <string.h>

cbor_item_t *smp_cbor_get(const cbor_item_t *map, const char *key)
{
    if (!map || !cbor_isa_map(map))
        return NULL;
    size_t n = cbor_map_size(map), klen = strlen(key);
    struct cbor_pair *p = cbor_map_handle(map);
    for (size_t i = 0; i < n; i++) {
        if (cbor_isa_string(p[i].key) && cbor_string_is_definite(p[i].key) &&
            cbor_string_length(p[i].key) == klen &&
            memcmp(cbor_string_handle(p[i].key), key, klen) == 0)
            return p[i].value;
    }
    return NULL;
}

int smp_cbor_get_uint(const cbor_item_t *map, const char *key, uint64_t *out)
{
    cbor_item_t *v = smp_cbor_get(map, key);
    if (!v || !cbor_isa_uint(v))
        return -1;
    *out = cbor_get_int(v);
    return 0;
}

int smp_cbor_get_bool(const cbor_item_t *map, const char *key, bool *out)
{
    cbor_item_t *v = smp_cbor_get(map, key);
    if (!v || !cbor_is_bool(v))
        return -1;
    *out = cbor_get_bool(v);
    return 0;
}

int smp_cbor_get_bytes(const cbor_item_t *map, const char *key, const uint8_t **data, size_t *len)
{
    cbor_item_t *v = smp_cbor_get(map, key);
    if (v && cbor_isa_bytestring(v) && cbor_bytestring_is_definite(v)) {
        *data = cbor_bytestring_handle(v);
        *len = cbor_bytestring_length(v);
        return 0;
    }
    if (v && cbor_isa_string(v) && cbor_string_is_definite(v)) {
        *data = cbor_string_handle(v);
        *len = cbor_string_length(v);
        return 0;
    }
    return -1;
}

int smp_cbor_put(cbor_item_t *map, const char *key, cbor_item_t *value)
{
    cbor_item_t *k = cbor_build_string(key);
    int ok = k && value && cbor_map_add(map, (struct cbor_pair){cbor_move(k), cbor_move(value)});
    if (!ok) {
        if (k && cbor_refcount(k))
            cbor_decref(&k);
        if (value && cbor_refcount(value))
            cbor_decref(&value);
    }
    return ok ? 0 : -1;
}

int smp_cbor_put_uint(cbor_item_t *map, const char *key, uint64_t v)
{
    return smp_cbor_put(map, key, cbor_build_uint64(v));
}

int smp_cbor_put_int(cbor_item_t *map, const char *key, int64_t v)
{
    if (v >= 0)
        return smp_cbor_put_uint(map, key, (uint64_t)v);
    cbor_item_t *i = cbor_build_negint64((uint64_t)(-(v + 1)));
    return smp_cbor_put(map, key, i);
}

int smp_cbor_put_bool(cbor_item_t *map, const char *key, bool v)
{
    return smp_cbor_put(map, key, cbor_build_bool(v));
}

int smp_cbor_put_str(cbor_item_t *map, const char *key, const char *s)
{
    return smp_cbor_put(map, key, cbor_build_string(s));
}

int smp_cbor_put_bytes(cbor_item_t *map, const char *key, const uint8_t *data, size_t len)
{
    return smp_cbor_put(map, key, cbor_build_bytestring(data, len));
}

size_t smp_cbor_encode(const cbor_item_t *item, uint8_t *buf, size_t cap)
{
    return cbor_serialize(item, buf, cap);
}

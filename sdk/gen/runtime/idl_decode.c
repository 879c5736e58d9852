/*  idl_decode.c — strict decoding of the building blocks from msgpack_object.

    Owns: the rules for primitives (type and range checks), strings (length limit, no NUL
    bytes), string lists and maps (limits, string keys, no duplicate keys), enums, and the
    map-of-fields machinery records use (key lookup, duplicates, required fields, union
    kinds).  Every failure is XSP_E_DECODE "<path>: <what>", e.g.
    "volume: uri[2]: string of 4097 bytes exceeds the limit of 4096".
    Never touches: generated types (only xsp_string_list_t/xsp_string_map_t from the runtime).
*/
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "xsp/idl_codec.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int type_error(const msgpack_object *o, const char *want, const xsp_path_t *p, xsp_error_t *err)
{
    return xsp_dec_fail(err, p, "expected %s, got %s", want, xsp_mp_type_name(o));
}

void *xsp_dec_calloc(size_t n, size_t size, const xsp_path_t *p, xsp_error_t *err)
{
    void *v = calloc(n, size);
    if (v == NULL)
        xsp_path_error(err, XSP_E_SYSTEM, p, "out of memory (%zu x %zu bytes)", n, size);
    return v;
}

int xsp_dec_nil(const msgpack_object *o, const xsp_path_t *p, xsp_error_t *err)
{
    return o->type == MSGPACK_OBJECT_NIL ? XSP_OK : type_error(o, "nil", p, err);
}

int xsp_dec_bool(const msgpack_object *o, bool *out, const xsp_path_t *p, xsp_error_t *err)
{
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return type_error(o, "boolean", p, err);
    *out = o->via.boolean;
    return XSP_OK;
}

/* o as a signed value in [min, max] */
static int dec_signed(const msgpack_object *o, int64_t min, int64_t max, const char *what, int64_t *out,
                      const xsp_path_t *p, xsp_error_t *err)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t) max)
            return xsp_dec_fail(err, p, "integer %" PRIu64 " out of range for %s", o->via.u64, what);
        *out = (int64_t) o->via.u64;
        return XSP_OK;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        if (o->via.i64 < min)
            return xsp_dec_fail(err, p, "integer %" PRId64 " out of range for %s", o->via.i64, what);
        *out = o->via.i64;
        return XSP_OK;
    }
    return type_error(o, "integer", p, err);
}

static int dec_unsigned(const msgpack_object *o, uint64_t max, const char *what, uint64_t *out,
                        const xsp_path_t *p, xsp_error_t *err)
{
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return xsp_dec_fail(err, p, "integer %" PRId64 " out of range for %s", o->via.i64, what);
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return type_error(o, "integer", p, err);
    if (o->via.u64 > max)
        return xsp_dec_fail(err, p, "integer %" PRIu64 " out of range for %s", o->via.u64, what);
    *out = o->via.u64;
    return XSP_OK;
}

int xsp_dec_i32(const msgpack_object *o, int32_t *out, const xsp_path_t *p, xsp_error_t *err)
{
    int64_t v = 0;
    int rc = dec_signed(o, INT32_MIN, INT32_MAX, "int32", &v, p, err);
    if (rc == 0)
        *out = (int32_t) v;
    return rc;
}

int xsp_dec_i64(const msgpack_object *o, int64_t *out, const xsp_path_t *p, xsp_error_t *err)
{
    return dec_signed(o, INT64_MIN, INT64_MAX, "int64", out, p, err);
}

int xsp_dec_u32(const msgpack_object *o, uint32_t *out, const xsp_path_t *p, xsp_error_t *err)
{
    uint64_t v = 0;
    int rc = dec_unsigned(o, UINT32_MAX, "uint32", &v, p, err);
    if (rc == 0)
        *out = (uint32_t) v;
    return rc;
}

int xsp_dec_u64(const msgpack_object *o, uint64_t *out, const xsp_path_t *p, xsp_error_t *err)
{
    return dec_unsigned(o, UINT64_MAX, "uint64", out, p, err);
}

/* o must be a string of at most max bytes; checks only */
static int check_str(const msgpack_object *o, size_t max, const xsp_path_t *p, xsp_error_t *err)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return type_error(o, "string", p, err);
    if (o->via.str.size > max)
        return xsp_dec_fail(err, p, "string of %" PRIu32 " bytes exceeds the limit of %zu", o->via.str.size, max);
    if (o->via.str.size && memchr(o->via.str.ptr, '\0', o->via.str.size))
        return xsp_dec_fail(err, p, "string contains a NUL byte");
    return XSP_OK;
}

static char *dup_str(const msgpack_object *o)
{
    char *s = malloc((size_t) o->via.str.size + 1);
    if (s) {
        if (o->via.str.size)
            memcpy(s, o->via.str.ptr, o->via.str.size);
        s[o->via.str.size] = '\0';
    }
    return s;
}

int xsp_dec_str(const msgpack_object *o, char **out, size_t max, const xsp_path_t *p, xsp_error_t *err)
{
    int rc = check_str(o, max, p, err);
    char *s;

    *out = NULL;
    if (rc)
        return rc;
    s = dup_str(o);
    if (s == NULL)
        return xsp_path_error(err, XSP_E_SYSTEM, p, "out of memory");
    *out = s;
    return XSP_OK;
}

int xsp_dec_code(const msgpack_object *o, xsp_code_t *out, const xsp_path_t *p, xsp_error_t *err)
{
    int rc = check_str(o, 64, p, err);
    if (rc)
        return rc;
    *out = xsp_code_from_name(o->via.str.ptr, o->via.str.size);
    return XSP_OK;
}

int xsp_dec_array(const msgpack_object *o, size_t max, const xsp_path_t *p, xsp_error_t *err)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return type_error(o, "array", p, err);
    if (o->via.array.size > max)
        return xsp_dec_fail(err, p, "list of %" PRIu32 " elements exceeds the limit of %zu", o->via.array.size, max);
    return XSP_OK;
}

int xsp_dec_map(const msgpack_object *o, const xsp_path_t *p, xsp_error_t *err)
{
    return o->type == MSGPACK_OBJECT_MAP ? XSP_OK : type_error(o, "map", p, err);
}

int xsp_dec_string_list(const msgpack_object *o, xsp_string_list_t *out, size_t max, size_t elem_max,
                        const xsp_path_t *p, xsp_error_t *err)
{
    int rc;

    xsp_string_list_init(out);
    rc = xsp_dec_array(o, max, p, err);
    if (rc || o->via.array.size == 0)
        return rc;
    out->val = xsp_dec_calloc(o->via.array.size, sizeof *out->val, p, err);
    if (out->val == NULL)
        return XSP_E_SYSTEM;
    out->len = o->via.array.size;
    for (size_t i = 0; i < out->len; i++) {
        xsp_path_t sub = xsp_path_index(p, i);
        rc = xsp_dec_str(&o->via.array.ptr[i], &out->val[i], elem_max, &sub, err);
        if (rc) {
            xsp_string_list_dispose(out);
            return rc;
        }
    }
    return XSP_OK;
}

int xsp_dec_string_map(const msgpack_object *o, xsp_string_map_t *out, size_t max, size_t key_max,
                       size_t val_max, const xsp_path_t *p, xsp_error_t *err)
{
    int rc;

    xsp_string_map_init(out);
    rc = xsp_dec_map(o, p, err);
    if (rc)
        return rc;
    if (o->via.map.size > max)
        return xsp_dec_fail(err, p, "map of %" PRIu32 " entries exceeds the limit of %zu", o->via.map.size, max);
    if (o->via.map.size == 0)
        return XSP_OK;
    out->val = xsp_dec_calloc(o->via.map.size, sizeof *out->val, p, err);
    if (out->val == NULL)
        return XSP_E_SYSTEM;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        char q[96];

        if (kv->key.type != MSGPACK_OBJECT_STR) {
            rc = xsp_dec_fail(err, p, "map key is %s, expected string", xsp_mp_type_name(&kv->key));
            goto fail;
        }
        {
            xsp_path_t sub = xsp_path_key(p, kv->key.via.str.ptr, kv->key.via.str.size);
            if (kv->key.via.str.size > key_max) {
                rc = xsp_dec_fail(err, p, "map key %s of %" PRIu32 " bytes exceeds the limit of %zu",
                                  xsp_quote_for_msg(kv->key.via.str.ptr, kv->key.via.str.size, q, sizeof q),
                                  kv->key.via.str.size, key_max);
                goto fail;
            }
            for (uint32_t j = 0; j < i; j++) {
                const msgpack_object *k2 = &o->via.map.ptr[j].key;
                /* (msgpack-c gives empty strings a NULL ptr: no memcmp on those) */
                if (k2->via.str.size == kv->key.via.str.size
                    && (kv->key.via.str.size == 0
                        || memcmp(k2->via.str.ptr, kv->key.via.str.ptr, kv->key.via.str.size) == 0)) {
                    rc = xsp_dec_fail(err, &sub, "duplicate key");
                    goto fail;
                }
            }
            rc = xsp_dec_str(&kv->key, &out->val[i].key, key_max, &sub, err);
            if (rc == 0)
                rc = xsp_dec_str(&kv->val, &out->val[i].value, val_max, &sub, err);
            out->len = i + 1;
            if (rc)
                goto fail;
        }
    }
    return XSP_OK;
fail:
    xsp_string_map_dispose(out);
    return rc;
}

static void expected_list(const char *const *names, size_t n, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && len + 1 < size; i++) {
        int k = snprintf(buf + len, size - len, "%s%s", i == 0 ? "" : (i + 1 == n ? " or " : ", "), names[i]);
        if (k < 0)
            break;
        len += (size_t) k;
    }
}

int xsp_dec_enum(const msgpack_object *o, const char *const *names, size_t n, const char *what, int *out,
                 const xsp_path_t *p, xsp_error_t *err)
{
    char q[96], exp[256];

    if (o->type != MSGPACK_OBJECT_STR)
        return type_error(o, "string", p, err);
    for (size_t i = 0; i < n; i++)
        if (xsp_name_eq(names[i], o->via.str.ptr, o->via.str.size)) {
            *out = (int) i;
            return XSP_OK;
        }
    expected_list(names, n, exp, sizeof exp);
    return xsp_dec_fail(err, p, "unknown %s value %s (expected %s)", what,
                        xsp_quote_for_msg(o->via.str.ptr, o->via.str.size, q, sizeof q), exp);
}

int xsp_dec_key(const msgpack_object_kv *kv, const char *const *keys, size_t n, unsigned char *seen,
                const char *skip, int *idx, const xsp_path_t *p, xsp_error_t *err)
{
    const char *k;
    size_t klen;

    *idx = -1;
    if (kv->key.type != MSGPACK_OBJECT_STR)
        return xsp_dec_fail(err, p, "map key is %s, expected string", xsp_mp_type_name(&kv->key));
    k = kv->key.via.str.ptr;
    klen = kv->key.via.str.size;
    if (skip && xsp_name_eq(skip, k, klen))
        return XSP_OK;
    for (size_t i = 0; i < n; i++)
        if (xsp_name_eq(keys[i], k, klen)) {
            if (seen[i]) {
                xsp_path_t sub = xsp_path_field(p, keys[i]);
                return xsp_dec_fail(err, &sub, "duplicate field");
            }
            seen[i] = 1;
            *idx = (int) i;
            return XSP_OK;
        }
    return XSP_OK;      /* unknown key: skipped, for forward compatibility */
}

int xsp_dec_required(const unsigned char *seen, const unsigned char *required, const char *const *keys,
                     size_t n, const xsp_path_t *p, xsp_error_t *err)
{
    for (size_t i = 0; i < n; i++)
        if (required[i] && !seen[i]) {
            xsp_path_t sub = xsp_path_field(p, keys[i]);
            return xsp_dec_fail(err, &sub, "required field is missing");
        }
    return XSP_OK;
}

int xsp_dec_kind(const msgpack_object *o, const char *const *names, size_t n, const char *what, int *kind,
                 const xsp_path_t *p, xsp_error_t *err)
{
    const msgpack_object *found = NULL;
    xsp_path_t sub = xsp_path_field(p, "kind");
    char kindname[80];

    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 4 && memcmp(k->via.str.ptr, "kind", 4) == 0) {
            if (found)
                return xsp_dec_fail(err, &sub, "duplicate field");
            found = &o->via.map.ptr[i].val;
        }
    }
    if (found == NULL)
        return xsp_dec_fail(err, &sub, "required field is missing");
    if (xsp_dec_enum(found, names, n, what, kind, &sub, NULL) == XSP_OK)
        return XSP_OK;
    /* the "<what> kind" label only when a message needs it */
    snprintf(kindname, sizeof kindname, "%s kind", what);
    return xsp_dec_enum(found, names, n, kindname, kind, &sub, err);
}

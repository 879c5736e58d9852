/*  idl_encode.c — packing the building blocks with msgpack_packer.

    Owns: the wire form of primitives, strings (NULL packs as ""), error codes (wire names),
    enums (by name table; out-of-range values are refused, never guessed), string lists and
    string maps.  Encoders use the shortest msgpack forms (msgpack-c does).
    Never touches: generated types.
*/
#include "xsp/idl_codec.h"

#include <string.h>

int xsp_pk_str_(msgpack_packer *pk, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (pk->callback == xsp_packbuf_write) {
        /* the common case: header and bytes straight into the buffer, no callbacks */
        xsp_packbuf_t *b = pk->data;
        if (!b->failed && n <= UINT32_MAX && b->cap - b->len >= n + 5) {
            unsigned char *p = (unsigned char *) b->data + b->len;
            if (n < 32) {
                *p++ = (unsigned char) (0xa0u | n);
            } else if (n < 0x100) {
                *p++ = 0xd9;
                *p++ = (unsigned char) n;
            } else if (n < 0x10000) {
                *p++ = 0xda;
                *p++ = (unsigned char) (n >> 8);
                *p++ = (unsigned char) n;
            } else {
                *p++ = 0xdb;
                *p++ = (unsigned char) (n >> 24);
                *p++ = (unsigned char) (n >> 16);
                *p++ = (unsigned char) (n >> 8);
                *p++ = (unsigned char) n;
            }
            if (n)
                memcpy(p, s, n);
            b->len = (size_t) ((char *) p + n - b->data);
            return 0;
        }
    }
    int rc = msgpack_pack_str(pk, n);
    if (rc == 0 && n)
        rc = msgpack_pack_str_body(pk, s, n);
    return rc;
}

int xsp_pk_bool(msgpack_packer *pk, bool v)
{
    return xsp_pk_byte_(pk, v ? 0xc3 : 0xc2);
}

int xsp_pk_i32(msgpack_packer *pk, int32_t v)
{
    return msgpack_pack_int32(pk, v);
}

int xsp_pk_u32(msgpack_packer *pk, uint32_t v)
{
    if (v < 128)
        return xsp_pk_byte_(pk, (unsigned char) v);
    return msgpack_pack_uint32(pk, v);
}

int xsp_pk_i64(msgpack_packer *pk, int64_t v)
{
    return msgpack_pack_int64(pk, v);
}

int xsp_pk_u64(msgpack_packer *pk, uint64_t v)
{
    return msgpack_pack_uint64(pk, v);
}

int xsp_pk_code(msgpack_packer *pk, xsp_code_t v)
{
    return xsp_pk_str(pk, xsp_code_name(v));
}

int xsp_pk_string_list(msgpack_packer *pk, const xsp_string_list_t *l)
{
    int rc = msgpack_pack_array(pk, l->len);
    for (size_t i = 0; rc == 0 && i < l->len; i++)
        rc = xsp_pk_str(pk, l->val[i]);
    return rc;
}

int xsp_pk_string_map(msgpack_packer *pk, const xsp_string_map_t *m)
{
    int rc = msgpack_pack_map(pk, m->len);
    for (size_t i = 0; rc == 0 && i < m->len; i++) {
        rc = xsp_pk_str(pk, m->val[i].key);
        if (rc == 0)
            rc = xsp_pk_str(pk, m->val[i].value);
    }
    return rc;
}

int xsp_pk_enum(msgpack_packer *pk, int v, const char *const *names, size_t n, const char *what,
                const xsp_path_t *p, xsp_error_t *err)
{
    if (v < 0 || (size_t) v >= n)
        return xsp_path_error(err, XSP_E_INVALID_ARGUMENT, p, "invalid %s value %d", what, v);
    if (xsp_pk_str(pk, names[v]))
        return xsp_enc_io(err, p);
    return XSP_OK;
}

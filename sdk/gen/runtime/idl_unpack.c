/*  idl_unpack.c — bytes to msgpack_object, safely and cheaply.

    Owns: the pre-validation walk over raw msgpack bytes and xsp_idl_unpack() (see the top
    of xsp/idl_codec.h for why: msgpack-c allocates from declared counts).
    Never touches: decoding into C types.

    The walk keeps, per open container, how many values it still expects; it allocates
    nothing and reads every byte at most once.  It refuses: truncation, the reserved byte
    0xc1, a container claiming more values than bytes remain (every value takes at least one
    byte), nesting deeper than XSP_IDL_MAX_DEPTH, and bytes after the value.  It also
    counts the values inside containers, so xsp_idl_unpack() then builds the object tree
    itself in ONE exact-size zone block (strings, bins and exts point into the input, as
    msgpack_unpack_next's do) instead of msgpack-c's generic unpacker with its 8 KiB zone:
    that was most of the cost of a typed call (see docs/performance.md).
*/
#include "xsp/idl_codec.h"

#include "idl_head.h"

#include <stdio.h>
#include <string.h>

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/*  The walk; *nested (may be NULL) gets the number of values inside containers. */
static int check_walk(const void *buf, size_t len, const xsp_path_t *root, xsp_error_t *err,
                      uint64_t *nested)
{
    const unsigned char *b = buf;
    uint64_t remaining[XSP_IDL_MAX_DEPTH + 1];
    int depth = 0;
    size_t pos = 0;
    uint64_t total = 0;

    if (len == 0)
        return xsp_dec_fail(err, root, "malformed msgpack: empty payload");
    remaining[0] = 1;
    while (depth >= 0) {
        unsigned char c;
        uint64_t skip, count;
        int lenbytes;
        bool container;

        if (remaining[depth] == 0) {
            depth--;
            continue;
        }
        remaining[depth]--;
        if (pos >= len)
            return xsp_dec_fail(err, root, "malformed msgpack: truncated after %zu bytes", len);
        c = b[pos++];
        if (xsp_mp_head(c, &skip, &count, &lenbytes, &container) != 0)
            return xsp_dec_fail(err, root, "malformed msgpack: invalid byte 0x%02x at byte %zu", c, pos - 1);
        if (lenbytes) {
            uint64_t n;
            if ((size_t) lenbytes > len - pos)
                return xsp_dec_fail(err, root, "malformed msgpack: truncated after %zu bytes", len);
            n = be(b + pos, lenbytes);
            pos += (size_t) lenbytes;
            if (container)
                count = (c == 0xde || c == 0xdf) ? 2 * n : n;
            else
                skip += n;
        }
        if (container) {
            if (count > len - pos)
                return xsp_dec_fail(err, root,
                                    "malformed msgpack: container at byte %zu claims %llu values but only %zu bytes remain",
                                    pos - 1 - (size_t) lenbytes, (unsigned long long) count, len - pos);
            if (count) {
                total += count;
                if (depth + 1 > XSP_IDL_MAX_DEPTH)
                    return xsp_dec_fail(err, root, "malformed msgpack: nested deeper than %d", XSP_IDL_MAX_DEPTH);
                remaining[++depth] = count;
            }
        } else if (skip) {
            if (skip > len - pos)
                return xsp_dec_fail(err, root, "malformed msgpack: truncated after %zu bytes", len);
            pos += (size_t) skip;
        }
    }
    if (pos != len)
        return xsp_dec_fail(err, root, "malformed msgpack: %zu trailing bytes after the value", len - pos);
    if (nested)
        *nested = total;
    return XSP_OK;
}

int xsp_idl_check_msgpack(const void *buf, size_t len, const xsp_path_t *root, xsp_error_t *err)
{
    return check_walk(buf, len, root, err, NULL);
}

int xsp_idl_check_count(const void *buf, size_t len, const xsp_path_t *root, xsp_error_t *err,
                        size_t *nobjs)
{
    uint64_t n = 0;
    int rc = check_walk(buf, len, root, err, &n);
    *nobjs = rc ? 0 : (size_t) n;
    return rc;
}

/* ------------------------------------------------------------------ the tree builder */

/*  Input already validated by check_walk: no bounds or depth checks needed here. */
typedef struct {
    const unsigned char *p;
    msgpack_object *pool;       /* next free element slot */
} build_t;

static void set_int(msgpack_object *o, int64_t v)
{
    if (v < 0) {
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = v;
    } else {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = (uint64_t) v;
    }
}

static void build(build_t *b, msgpack_object *o)
{
    unsigned char c = *b->p++;
    uint64_t n = 0;

    if (c <= 0x7f) {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = c;
        return;
    }
    if (c >= 0xe0) {
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = (int8_t) c;
        return;
    }
    if (c >= 0xa0 && c <= 0xbf) {
        n = c & 0x1fu;
        goto str;
    }
    if (c >= 0x80 && c <= 0x8f) {
        n = c & 0x0fu;
        goto map;
    }
    if (c >= 0x90 && c <= 0x9f) {
        n = c & 0x0fu;
        goto array;
    }
    switch (c) {
    case 0xc0: o->type = MSGPACK_OBJECT_NIL; return;
    case 0xc2: o->type = MSGPACK_OBJECT_BOOLEAN; o->via.boolean = false; return;
    case 0xc3: o->type = MSGPACK_OBJECT_BOOLEAN; o->via.boolean = true; return;
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        int w = 1 << (c - 0xcc);
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = be(b->p, w);
        b->p += w;
        return;
    }
    case 0xd0: set_int(o, (int8_t) be(b->p, 1)); b->p += 1; return;
    case 0xd1: set_int(o, (int16_t) be(b->p, 2)); b->p += 2; return;
    case 0xd2: set_int(o, (int32_t) be(b->p, 4)); b->p += 4; return;
    case 0xd3: set_int(o, (int64_t) be(b->p, 8)); b->p += 8; return;
    case 0xca: {
        uint32_t u = (uint32_t) be(b->p, 4);
        float f;
        memcpy(&f, &u, sizeof f);
        o->type = MSGPACK_OBJECT_FLOAT32;
        o->via.f64 = f;
        b->p += 4;
        return;
    }
    case 0xcb: {
        uint64_t u = be(b->p, 8);
        double d;
        memcpy(&d, &u, sizeof d);
        o->type = MSGPACK_OBJECT_FLOAT64;
        o->via.f64 = d;
        b->p += 8;
        return;
    }
    case 0xd9: case 0xda: case 0xdb: {
        int w = 1 << (c - 0xd9);
        n = be(b->p, w);
        b->p += w;
        goto str;
    }
    case 0xc4: case 0xc5: case 0xc6: {
        int w = 1 << (c - 0xc4);
        n = be(b->p, w);
        b->p += w;
        o->type = MSGPACK_OBJECT_BIN;
        o->via.bin.size = (uint32_t) n;
        o->via.bin.ptr = (const char *) b->p;
        b->p += n;
        return;
    }
    case 0xc7: case 0xc8: case 0xc9: {
        int w = 1 << (c - 0xc7);
        n = be(b->p, w);
        b->p += w;
        goto ext;
    }
    case 0xd4: n = 1; goto ext;
    case 0xd5: n = 2; goto ext;
    case 0xd6: n = 4; goto ext;
    case 0xd7: n = 8; goto ext;
    case 0xd8: n = 16; goto ext;
    case 0xdc: n = be(b->p, 2); b->p += 2; goto array;
    case 0xdd: n = be(b->p, 4); b->p += 4; goto array;
    case 0xde: n = be(b->p, 2); b->p += 2; goto map;
    case 0xdf: n = be(b->p, 4); b->p += 4; goto map;
    default:    /* unreachable: check_walk refused it */
        o->type = MSGPACK_OBJECT_NIL;
        return;
    }
str:
    o->type = MSGPACK_OBJECT_STR;
    o->via.str.size = (uint32_t) n;
    o->via.str.ptr = (const char *) b->p;
    b->p += n;
    return;
ext:
    o->type = MSGPACK_OBJECT_EXT;
    o->via.ext.type = (int8_t) *b->p++;
    o->via.ext.size = (uint32_t) n;
    o->via.ext.ptr = (const char *) b->p;
    b->p += n;
    return;
array:
    o->type = MSGPACK_OBJECT_ARRAY;
    o->via.array.size = (uint32_t) n;
    if (!n) {
        o->via.array.ptr = NULL;
        return;
    }
    o->via.array.ptr = b->pool;
    b->pool += n;
    for (uint64_t i = 0; i < n; i++)
        build(b, &o->via.array.ptr[i]);
    return;
map:
    o->type = MSGPACK_OBJECT_MAP;
    o->via.map.size = (uint32_t) n;
    if (!n) {
        o->via.map.ptr = NULL;
        return;
    }
    o->via.map.ptr = (msgpack_object_kv *) b->pool;
    b->pool += 2 * n;
    for (uint64_t i = 0; i < n; i++) {
        build(b, &o->via.map.ptr[i].key);
        build(b, &o->via.map.ptr[i].val);
    }
}

int xsp_idl_unpack(msgpack_unpacked *up, const void *buf, size_t len, const xsp_path_t *root,
                   xsp_error_t *err)
{
    uint64_t nested = 0;
    build_t b;

    msgpack_unpacked_init(up);
    int rc = check_walk(buf, len, root, err, &nested);
    if (rc)
        return rc;
    /* nested <= len (every value takes a byte), so the block is bounded by the input */
    b.p = buf;
    b.pool = NULL;
    if (nested) {
        size_t bytes = (size_t) nested * sizeof (msgpack_object);
        up->zone = msgpack_zone_new(bytes);
        b.pool = up->zone ? msgpack_zone_malloc(up->zone, bytes) : NULL;
        if (!b.pool) {
            msgpack_unpacked_destroy(up);
            return xsp_path_error(err, XSP_E_SYSTEM, root, "out of memory unpacking %zu bytes", len);
        }
    }
    build(&b, &up->data);
    return XSP_OK;
}

void xsp_idl_build(const void *buf, msgpack_object *pool, msgpack_object *root)
{
    build_t b = { buf, pool };
    build(&b, root);
}

/*  idl_unpack.c — bytes to msgpack_object, safely.

    Owns: the pre-validation walk over raw msgpack bytes and xsp_idl_unpack() (see the top
    of xsp/idl_codec.h for why: msgpack-c allocates from declared counts).
    Never touches: decoding into C types.

    The walk keeps, per open container, how many values it still expects; it allocates
    nothing and reads every byte at most once.  It refuses: truncation, the reserved byte
    0xc1, a container claiming more values than bytes remain (every value takes at least one
    byte), nesting deeper than XSP_IDL_MAX_DEPTH, and bytes after the value.
*/
#include "xsp/idl_codec.h"

#include <stdio.h>
#include <string.h>

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

int xsp_idl_check_msgpack(const void *buf, size_t len, const xsp_path_t *root, xsp_error_t *err)
{
    const unsigned char *b = buf;
    uint64_t remaining[XSP_IDL_MAX_DEPTH + 1];
    int depth = 0;
    size_t pos = 0;

    if (len == 0)
        return xsp_dec_fail(err, root, "malformed msgpack: empty payload");
    remaining[0] = 1;
    while (depth >= 0) {
        unsigned char c;
        uint64_t skip = 0, count = 0;
        int lenbytes = 0;
        bool container = false;

        if (remaining[depth] == 0) {
            depth--;
            continue;
        }
        remaining[depth]--;
        if (pos >= len)
            return xsp_dec_fail(err, root, "malformed msgpack: truncated after %zu bytes", len);
        c = b[pos++];
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            /* fixint, nil, bool */
        } else if (c >= 0x80 && c <= 0x8f) {
            container = true;
            count = 2u * (c & 0x0fu);
        } else if (c >= 0x90 && c <= 0x9f) {
            container = true;
            count = c & 0x0fu;
        } else if (c >= 0xa0 && c <= 0xbf) {
            skip = c & 0x1fu;
        } else {
            switch (c) {
            case 0xc4: case 0xd9: lenbytes = 1; break;                 /* bin8, str8 */
            case 0xc5: case 0xda: lenbytes = 2; break;                 /* bin16, str16 */
            case 0xc6: case 0xdb: lenbytes = 4; break;                 /* bin32, str32 */
            case 0xc7: lenbytes = 1; skip = 1; break;                  /* ext8: +type */
            case 0xc8: lenbytes = 2; skip = 1; break;
            case 0xc9: lenbytes = 4; skip = 1; break;
            case 0xca: skip = 4; break;                                /* float32 */
            case 0xcb: skip = 8; break;                                /* float64 */
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;                                /* fixext1..16: type + data */
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: case 0xde: lenbytes = 2; container = true; break;   /* array16, map16 */
            case 0xdd: case 0xdf: lenbytes = 4; container = true; break;   /* array32, map32 */
            default:
                return xsp_dec_fail(err, root, "malformed msgpack: invalid byte 0x%02x at byte %zu", c, pos - 1);
            }
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
        }
        if (container) {
            if (count > len - pos)
                return xsp_dec_fail(err, root,
                                    "malformed msgpack: container at byte %zu claims %llu values but only %zu bytes remain",
                                    pos - 1 - (size_t) lenbytes, (unsigned long long) count, len - pos);
            if (count) {
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
    return XSP_OK;
}

int xsp_idl_unpack(msgpack_unpacked *up, const void *buf, size_t len, const xsp_path_t *root,
                   xsp_error_t *err)
{
    size_t off = 0;
    msgpack_unpack_return r;
    int rc = xsp_idl_check_msgpack(buf, len, root, err);

    if (rc)
        return rc;
    msgpack_unpacked_init(up);
    r = msgpack_unpack_next(up, buf, len, &off);
    if (r != MSGPACK_UNPACK_SUCCESS || off != len) {
        msgpack_unpacked_destroy(up);
        if (r == MSGPACK_UNPACK_NOMEM_ERROR)
            return xsp_path_error(err, XSP_E_SYSTEM, root, "out of memory unpacking %zu bytes", len);
        return xsp_dec_fail(err, root, "malformed msgpack (msgpack-c error %d)", (int) r);
    }
    return XSP_OK;
}

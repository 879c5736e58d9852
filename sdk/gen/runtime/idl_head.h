/*  idl_head.h — what the first byte of a msgpack value says about the bytes that follow
    (internal to the runtime: idl_unpack.c's validating walk and idl_reader.c's skip).

    Owns: the one table of msgpack type bytes both walks use, so they cannot disagree
    about which bytes a value spans.
    Never touches: memory; it only classifies.
*/
#ifndef XSP_IDL_HEAD_H
#define XSP_IDL_HEAD_H

#include <stdbool.h>
#include <stdint.h>

/*  The value starting with byte c: a container of *count values, or a scalar whose *skip
    bytes follow; *lenbytes more header bytes (a big-endian length) add to *count (times 2
    for a map) or to *skip.  -1 for 0xc1, which msgpack never uses. */
static inline int xsp_mp_head(unsigned char c, uint64_t *skip, uint64_t *count, int *lenbytes,
                              bool *container)
{
    *skip = *count = 0;
    *lenbytes = 0;
    *container = false;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
        return 0;                                               /* fixint, nil, bool */
    if (c >= 0x80 && c <= 0x8f) {
        *container = true;
        *count = 2u * (c & 0x0fu);
        return 0;
    }
    if (c >= 0x90 && c <= 0x9f) {
        *container = true;
        *count = c & 0x0fu;
        return 0;
    }
    if (c >= 0xa0 && c <= 0xbf) {
        *skip = c & 0x1fu;
        return 0;
    }
    switch (c) {
    case 0xc4: case 0xd9: *lenbytes = 1; break;                 /* bin8, str8 */
    case 0xc5: case 0xda: *lenbytes = 2; break;                 /* bin16, str16 */
    case 0xc6: case 0xdb: *lenbytes = 4; break;                 /* bin32, str32 */
    case 0xc7: *lenbytes = 1; *skip = 1; break;                 /* ext8: +type */
    case 0xc8: *lenbytes = 2; *skip = 1; break;
    case 0xc9: *lenbytes = 4; *skip = 1; break;
    case 0xca: *skip = 4; break;                                /* float32 */
    case 0xcb: *skip = 8; break;                                /* float64 */
    case 0xcc: case 0xd0: *skip = 1; break;
    case 0xcd: case 0xd1: *skip = 2; break;
    case 0xce: case 0xd2: *skip = 4; break;
    case 0xcf: case 0xd3: *skip = 8; break;
    case 0xd4: *skip = 2; break;                                /* fixext1..16: type + data */
    case 0xd5: *skip = 3; break;
    case 0xd6: *skip = 5; break;
    case 0xd7: *skip = 9; break;
    case 0xd8: *skip = 17; break;
    case 0xdc: case 0xde: *lenbytes = 2; *container = true; break;   /* array16, map16 */
    case 0xdd: case 0xdf: *lenbytes = 4; *container = true; break;   /* array32, map32 */
    default:
        return -1;                                              /* 0xc1 */
    }
    return 0;
}

#endif

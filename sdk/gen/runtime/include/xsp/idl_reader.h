/*  xsp/idl_reader.h — the fast path of typed decoding: straight from msgpack bytes.

    Owns: a cursor over raw msgpack bytes (xsp_rd_t) and the primitives generated
    `T_read_` functions are made of, plus the arena their strings and arrays may live in.
    Never touches: error messages, msgpack_object trees, generated types.

    The contract that keeps this simple: a reader ACCEPTS exactly what the strict decoders
    of xsp/idl_codec.h accept (xsp_idl_unpack + T_decode_) and produces the same value, but
    it never explains a refusal: every primitive returns 0 or -1, and on -1 the caller
    falls back to the tree path (xsp_idl_unpack + T_decode), which refuses the same bytes
    with the error message naming the field.  So the fast path costs nothing in
    strictness, and messages stay those of one implementation.  tests/idl checks the two
    paths agree on every generated sample (values and refusals) and idl_fuzz on random
    bytes.

    Why: a typed call used to validate the payload, build a msgpack_object tree, then
    decode the tree with a malloc per string — four passes and a dozen heap calls per
    call.  A reader is one pass; with an arena, no heap call at all (docs/performance.md).

    The rules every reader applies, as xsp_idl_unpack's walk does: truncation, the reserved
    byte 0xc1, containers claiming more values than bytes remain, nesting deeper than
    XSP_IDL_MAX_DEPTH and trailing bytes all refuse; strings are str (not bin), at most
    their limit, without NUL bytes; map keys are strings; unknown keys are skipped (their
    values still validated); duplicate known keys refuse.

    Arena: when rd->arena is set, strings and arrays are carved from it (the value must
    then NOT be disposed with T_dispose: xsp_arena_dispose frees it all at once); when
    NULL they are malloc'd exactly as T_decode does, and the value is owned by the caller.
    On -1 the output is partially filled: dispose it (heap mode) or reset the arena.

    Thread-safety: none needed; a reader and its arena belong to one thread at a time.
*/
#ifndef XSP_IDL_READER_H
#define XSP_IDL_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "xsp/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ the arena */

/*  Bump allocation from a caller-given block (e.g. on the stack or inside a larger
    allocation), then from heap chunks chained here.  Zero-filled on allocation. */
typedef struct xsp_arena {
    char *p, *end;              /* the free part of the current block */
    void *chunks;               /* heap chunks, freed by xsp_arena_dispose */
} xsp_arena_t;

/*  Start with mem[0 .. size) (may be NULL, 0). */
void xsp_arena_init(xsp_arena_t *a, void *mem, size_t size);
/*  size bytes, 8-aligned, zeroed; NULL when out of memory. */
void *xsp_arena_alloc(xsp_arena_t *a, size_t size);
/*  Free the heap chunks; the caller's block is the caller's.  a can be re-initialised. */
void xsp_arena_dispose(xsp_arena_t *a);

/* ------------------------------------------------------------------ the cursor */

typedef struct {
    const unsigned char *p, *end;
    int depth;                  /* open non-empty containers above the next value */
    xsp_arena_t *arena;         /* NULL: malloc, owned by the decoded value */
} xsp_rd_t;

static inline void xsp_rd_init(xsp_rd_t *rd, const void *buf, size_t len, xsp_arena_t *arena)
{
    rd->p = (const unsigned char *) buf;
    rd->end = buf ? rd->p + len : rd->p;
    rd->depth = 0;
    rd->arena = arena;
}

/*  Zeroed memory for n elements of size bytes (n > 0), from the arena or calloc. */
void *xsp_rd_alloc(xsp_rd_t *rd, size_t n, size_t size);

/*  Containers.  *n = the number of elements (map: entries); the count is checked against
    the bytes left and the depth limit; a non-empty container is entered (depth + 1) and
    must be left with xsp_rd_leave(rd, n) once its elements are read. */
int xsp_rd_map_(xsp_rd_t *rd, uint32_t *n);
int xsp_rd_array_(xsp_rd_t *rd, uint32_t *n);
static inline int xsp_rd_array(xsp_rd_t *rd, uint32_t *n)
{
    /* the common case inline: a fixarray (up to 15 elements) in a shallow value */
    if (rd->p < rd->end && (*rd->p & 0xf0u) == 0x90u && rd->depth < 16) {
        uint32_t v = *rd->p & 0x0fu;
        if (v > (size_t) (rd->end - rd->p) - 1)
            return -1;
        rd->p++;
        *n = v;
        if (v)
            rd->depth++;
        return 0;
    }
    return xsp_rd_array_(rd, n);
}
static inline int xsp_rd_map(xsp_rd_t *rd, uint32_t *n)
{
    /* the common case inline: a fixmap (up to 15 entries) in a shallow value */
    if (rd->p < rd->end && (*rd->p & 0xf0u) == 0x80u && rd->depth < 16) {
        uint32_t v = *rd->p & 0x0fu;
        if (2 * v > (size_t) (rd->end - rd->p) - 1)
            return -1;
        rd->p++;
        *n = v;
        if (v)
            rd->depth++;
        return 0;
    }
    return xsp_rd_map_(rd, n);
}
static inline void xsp_rd_leave(xsp_rd_t *rd, uint32_t n)
{
    if (n)
        rd->depth--;
}

/*  A string's bytes, borrowed from the input (no NUL check). */
int xsp_rd_raw_str_(xsp_rd_t *rd, const char **s, uint32_t *len);
static inline int xsp_rd_raw_str(xsp_rd_t *rd, const char **s, uint32_t *len)
{
    /* the common cases inline: a fixstr (up to 31 bytes), a str8 (up to 255) */
    if (rd->p < rd->end && (*rd->p & 0xe0u) == 0xa0u) {
        uint32_t n = *rd->p & 0x1fu;
        if (n > (size_t) (rd->end - rd->p) - 1)
            return -1;
        *s = (const char *) rd->p + 1;
        *len = n;
        rd->p += 1 + n;
        return 0;
    }
    if (rd->end - rd->p >= 2 && *rd->p == 0xd9) {
        uint32_t n = rd->p[1];
        if (n > (size_t) (rd->end - rd->p) - 2)
            return -1;
        *s = (const char *) rd->p + 2;
        *len = n;
        rd->p += 2 + n;
        return 0;
    }
    return xsp_rd_raw_str_(rd, s, len);
}
/*  A map key: a string; *s borrowed. */
static inline int xsp_rd_key(xsp_rd_t *rd, const char **s, uint32_t *len)
{
    return xsp_rd_raw_str(rd, s, len);
}
/*  A string of at most max bytes without NUL bytes, copied (arena or malloc) into *out. */
int xsp_rd_str_(xsp_rd_t *rd, char **out, size_t max);
static inline int xsp_rd_str(xsp_rd_t *rd, char **out, size_t max)
{
    /* the common case inline: a fixstr of up to 16 bytes into the arena's current block
       (strings need no alignment), checked for NUL bytes while it is copied */
    xsp_arena_t *a = rd->arena;
    const unsigned char *p = rd->p;
    if (a && a->p && p < rd->end && (*p & 0xe0u) == 0xa0u) {
        uint32_t n = *p & 0x1fu;
        if (n <= 16 && n <= max && n < (size_t) (rd->end - p) && (size_t) (a->end - a->p) > n) {
            char *d = a->p;
            for (uint32_t i = 0; i < n; i++)
                if ((d[i] = (char) p[1 + i]) == '\0')
                    return -1;
            d[n] = '\0';
            a->p = d + n + 1;
            rd->p = p + 1 + n;
            *out = d;
            return 0;
        }
    }
    return xsp_rd_str_(rd, out, max);
}
/*  True (and consumed) if the next value is nil. */
static inline bool xsp_rd_nil(xsp_rd_t *rd)
{
    if (rd->p < rd->end && *rd->p == 0xc0) {
        rd->p++;
        return true;
    }
    return false;
}
int xsp_rd_bool(xsp_rd_t *rd, bool *out);
int xsp_rd_i32(xsp_rd_t *rd, int32_t *out);
int xsp_rd_u32_(xsp_rd_t *rd, uint32_t *out);
static inline int xsp_rd_u32(xsp_rd_t *rd, uint32_t *out)
{
    if (rd->p < rd->end && *rd->p <= 0x7f) {    /* a positive fixint */
        *out = *rd->p++;
        return 0;
    }
    return xsp_rd_u32_(rd, out);
}
int xsp_rd_i64(xsp_rd_t *rd, int64_t *out);
int xsp_rd_u64(xsp_rd_t *rd, uint64_t *out);
/*  An error code by wire name (string ≤ 64 bytes, unknown names give XSP_E_UNKNOWN). */
int xsp_rd_code(xsp_rd_t *rd, xsp_code_t *out);
/*  An enum by name table. */
int xsp_rd_enum(xsp_rd_t *rd, const char *const *names, size_t n, int *out);
/*  Skip one value of any type, validating it as xsp_idl_unpack's walk does. */
int xsp_rd_skip(xsp_rd_t *rd);
/*  The string list / string map building blocks (xsp_string_list_t / xsp_string_map_t). */
struct xsp_string_list;
struct xsp_string_map;
int xsp_rd_string_list(xsp_rd_t *rd, struct xsp_string_list *out, size_t max, size_t elem_max);
int xsp_rd_string_map(xsp_rd_t *rd, struct xsp_string_map *out, size_t max, size_t key_max,
                      size_t val_max);
/*  Nothing may follow the value. */
static inline int xsp_rd_done(const xsp_rd_t *rd)
{
    return rd->p == rd->end ? 0 : -1;
}
/*  True when the len bytes at k spell the NUL-terminated literal `lit` of length n. */
static inline bool xsp_rd_is(const char *k, uint32_t len, const char *lit, uint32_t n)
{
    return len == n && memcmp(k, lit, n) == 0;
}

#ifdef __cplusplus
}
#endif
#endif

/*  idl_reader.c — typed decoding's fast path: primitives over raw msgpack bytes, and the
    arena (see xsp/idl_reader.h for the contract: accept exactly what the strict decoders
    accept, explain nothing, let the caller fall back for the message).

    Owns: msgpack header parsing for the types the IDL uses, the validating skip of
    unknown values (the same rules as idl_unpack.c's walk), string copies into an arena or
    the heap, the arena's chunks.
    Never touches: msgpack_object, error messages, generated types.
*/
#include "xsp/idl_reader.h"

#include <stdlib.h>

#include "xsp/error.h"
#include "xsp/idl_codec.h"
#include "xsp/idl_strings.h"

#include "idl_head.h"

/* ================================================================ arena */

typedef struct chunk {
    struct chunk *next;
    size_t pad_;                /* keeps mem 16-aligned as malloc is */
    char mem[];
} chunk_t;

#define CHUNK_MIN 4096

void xsp_arena_init(xsp_arena_t *a, void *mem, size_t size)
{
    a->p = mem;
    a->end = (char *) mem + (mem ? size : 0);
    a->chunks = NULL;
}

void *xsp_arena_alloc(xsp_arena_t *a, size_t size)
{
    size = (size + 7u) & ~(size_t) 7u;
    uintptr_t at = ((uintptr_t) a->p + 7u) & ~(uintptr_t) 7u;
    if (a->p && at <= (uintptr_t) a->end && size <= (uintptr_t) a->end - at) {
        a->p = (char *) at + size;
        memset((void *) at, 0, size);
        return (void *) at;
    }
    if (size > SIZE_MAX / 2)
        return NULL;
    size_t room = size > CHUNK_MIN ? size : CHUNK_MIN;
    chunk_t *c = malloc(sizeof *c + room);
    if (!c)
        return NULL;
    c->next = a->chunks;
    a->chunks = c;
    a->p = (char *) c->mem + size;
    a->end = (char *) c->mem + room;
    memset(c->mem, 0, size);
    return c->mem;
}

void xsp_arena_dispose(xsp_arena_t *a)
{
    chunk_t *c = a->chunks;
    while (c) {
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->chunks = NULL;
    a->p = a->end = NULL;
}

void *xsp_rd_alloc(xsp_rd_t *rd, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return rd->arena ? xsp_arena_alloc(rd->arena, n * size) : calloc(n, size);
}

/* ================================================================ headers */

static inline uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static inline size_t left(const xsp_rd_t *rd)
{
    return (size_t) (rd->end - rd->p);
}

/*  Enter a container of `count` values (2 per map entry) whose header was just read. */
static inline int enter(xsp_rd_t *rd, uint64_t count)
{
    if (count > left(rd))
        return -1;
    if (count) {
        if (rd->depth + 1 > XSP_IDL_MAX_DEPTH)
            return -1;
        rd->depth++;
    }
    return 0;
}

/*  A container header: fix (0x80 map / 0x90 array) with its 16- and 32-bit forms; a map's
    n entries are 2n values. */
static int rd_container(xsp_rd_t *rd, uint32_t *n, unsigned char fix, unsigned char t16,
                        unsigned char t32, unsigned per)
{
    if (rd->p >= rd->end)
        return -1;
    unsigned char c = *rd->p;
    uint64_t v;
    if ((c & 0xf0u) == fix) {
        v = c & 0x0fu;
        rd->p++;
    } else if (c == t16 && left(rd) >= 3) {
        v = be(rd->p + 1, 2);
        rd->p += 3;
    } else if (c == t32 && left(rd) >= 5) {
        v = be(rd->p + 1, 4);
        rd->p += 5;
    } else {
        return -1;
    }
    *n = (uint32_t) v;
    return enter(rd, per * v);
}

int xsp_rd_map_(xsp_rd_t *rd, uint32_t *n)
{
    return rd_container(rd, n, 0x80, 0xde, 0xdf, 2);
}

int xsp_rd_array_(xsp_rd_t *rd, uint32_t *n)
{
    return rd_container(rd, n, 0x90, 0xdc, 0xdd, 1);
}

int xsp_rd_raw_str_(xsp_rd_t *rd, const char **s, uint32_t *len)
{
    if (rd->p >= rd->end)
        return -1;
    unsigned char c = *rd->p;
    uint64_t n;
    int h;
    if ((c & 0xe0u) == 0xa0u) {
        n = c & 0x1fu;
        h = 1;
    } else if (c == 0xd9 && left(rd) >= 2) {
        n = rd->p[1];
        h = 2;
    } else if (c == 0xda && left(rd) >= 3) {
        n = be(rd->p + 1, 2);
        h = 3;
    } else if (c == 0xdb && left(rd) >= 5) {
        n = be(rd->p + 1, 4);
        h = 5;
    } else {
        return -1;
    }
    if (n > left(rd) - (size_t) h)
        return -1;
    *s = (const char *) rd->p + h;
    *len = (uint32_t) n;
    rd->p += (size_t) h + n;
    return 0;
}

/*  size bytes, 8-aligned, NOT zeroed (strings are written whole at once). */
static void *arena_raw(xsp_arena_t *a, size_t size)
{
    uintptr_t at = ((uintptr_t) a->p + 7u) & ~(uintptr_t) 7u;
    if (a->p && at <= (uintptr_t) a->end && size <= (uintptr_t) a->end - at) {
        a->p = (char *) at + size;
        return (void *) at;
    }
    return xsp_arena_alloc(a, size);
}

static char *copy_str(xsp_rd_t *rd, const char *s, uint32_t n)
{
    char *d = rd->arena ? arena_raw(rd->arena, (size_t) n + 1) : malloc((size_t) n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

int xsp_rd_str_(xsp_rd_t *rd, char **out, size_t max)
{
    const char *s;
    uint32_t n;
    if (xsp_rd_raw_str(rd, &s, &n) || n > max)
        return -1;
    xsp_arena_t *a = rd->arena;
    uintptr_t at = a && a->p ? ((uintptr_t) a->p + 7u) & ~(uintptr_t) 7u : 0;
    if (at && at <= (uintptr_t) a->end && (uintptr_t) a->end - at > n) {
        /* the common case: into the arena's current block; the bump pointer moves only
           once the string is accepted */
        char *d = (char *) at;
        if (n <= 16) {
            /* short: checked for NUL bytes while copied, no library call */
            for (uint32_t i = 0; i < n; i++)
                if ((d[i] = s[i]) == '\0')
                    return -1;
        } else {
            if (memchr(s, '\0', n))
                return -1;
            memcpy(d, s, n);
        }
        d[n] = '\0';
        a->p = d + n + 1;
        *out = d;
        return 0;
    }
    if (n && memchr(s, '\0', n))
        return -1;
    *out = copy_str(rd, s, n);
    return *out ? 0 : -1;
}

int xsp_rd_bool(xsp_rd_t *rd, bool *out)
{
    if (rd->p >= rd->end || (*rd->p != 0xc2 && *rd->p != 0xc3))
        return -1;
    *out = *rd->p++ == 0xc3;
    return 0;
}

/*  Any msgpack integer: *neg tells which of *u / *i holds it (as msgpack-c sorts them:
    non-negative values are "positive" whatever their encoding). */
static int rd_int(xsp_rd_t *rd, bool *neg, uint64_t *u, int64_t *i)
{
    if (rd->p >= rd->end)
        return -1;
    unsigned char c = *rd->p;
    if (c <= 0x7f) {
        rd->p++;
        *neg = false;
        *u = c;
        return 0;
    }
    if (c >= 0xe0) {
        rd->p++;
        *neg = true;
        *i = (int8_t) c;
        return 0;
    }
    int w;
    bool is_signed;
    switch (c) {
    case 0xcc: w = 1; is_signed = false; break;
    case 0xcd: w = 2; is_signed = false; break;
    case 0xce: w = 4; is_signed = false; break;
    case 0xcf: w = 8; is_signed = false; break;
    case 0xd0: w = 1; is_signed = true; break;
    case 0xd1: w = 2; is_signed = true; break;
    case 0xd2: w = 4; is_signed = true; break;
    case 0xd3: w = 8; is_signed = true; break;
    default: return -1;
    }
    if (left(rd) < (size_t) w + 1)
        return -1;
    uint64_t v = be(rd->p + 1, w);
    rd->p += 1 + w;
    if (!is_signed) {
        *neg = false;
        *u = v;
        return 0;
    }
    int64_t s;
    switch (w) {
    case 1: s = (int8_t) v; break;
    case 2: s = (int16_t) v; break;
    case 4: s = (int32_t) v; break;
    default: s = (int64_t) v; break;
    }
    if (s < 0) {
        *neg = true;
        *i = s;
    } else {
        *neg = false;
        *u = (uint64_t) s;
    }
    return 0;
}

static int rd_signed(xsp_rd_t *rd, int64_t min, int64_t max, int64_t *out)
{
    bool neg;
    uint64_t u = 0;
    int64_t i = 0;
    if (rd_int(rd, &neg, &u, &i) || (neg ? i < min : u > (uint64_t) max))
        return -1;
    *out = neg ? i : (int64_t) u;
    return 0;
}

static int rd_unsigned(xsp_rd_t *rd, uint64_t max, uint64_t *out)
{
    bool neg;
    uint64_t u = 0;
    int64_t i = 0;
    if (rd_int(rd, &neg, &u, &i) || neg || u > max)
        return -1;
    *out = u;
    return 0;
}

int xsp_rd_i32(xsp_rd_t *rd, int32_t *out)
{
    int64_t v;
    if (rd_signed(rd, INT32_MIN, INT32_MAX, &v))
        return -1;
    *out = (int32_t) v;
    return 0;
}

int xsp_rd_i64(xsp_rd_t *rd, int64_t *out)
{
    return rd_signed(rd, INT64_MIN, INT64_MAX, out);
}

int xsp_rd_u32_(xsp_rd_t *rd, uint32_t *out)
{
    uint64_t v;
    if (rd_unsigned(rd, UINT32_MAX, &v))
        return -1;
    *out = (uint32_t) v;
    return 0;
}

int xsp_rd_u64(xsp_rd_t *rd, uint64_t *out)
{
    return rd_unsigned(rd, UINT64_MAX, out);
}

int xsp_rd_code(xsp_rd_t *rd, xsp_code_t *out)
{
    const char *s;
    uint32_t n;
    if (xsp_rd_raw_str(rd, &s, &n) || n > 64 || (n && memchr(s, '\0', n)))
        return -1;
    *out = xsp_code_from_name(s, n);
    return 0;
}

int xsp_rd_enum(xsp_rd_t *rd, const char *const *names, size_t n, int *out)
{
    const char *s;
    uint32_t len;
    if (xsp_rd_raw_str(rd, &s, &len))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (xsp_name_eq(names[i], s, len)) {
            *out = (int) i;
            return 0;
        }
    return -1;
}

/* ================================================================ skip */

int xsp_rd_skip(xsp_rd_t *rd)
{
    uint64_t remaining[XSP_IDL_MAX_DEPTH + 1];
    int base = rd->depth, d = 0;

    /* d counts the containers opened by this skip; rd->depth + d is the walk's depth */
    remaining[0] = 1;
    while (d >= 0) {
        if (remaining[d] == 0) {
            d--;
            continue;
        }
        remaining[d]--;
        if (rd->p >= rd->end)
            return -1;
        unsigned char c = *rd->p++;
        uint64_t skip, count;
        int lenbytes;
        bool container;

        if (xsp_mp_head(c, &skip, &count, &lenbytes, &container) != 0)
            return -1;                  /* 0xc1 */
        if (lenbytes) {
            if ((size_t) lenbytes > left(rd))
                return -1;
            uint64_t n = be(rd->p, lenbytes);
            rd->p += lenbytes;
            if (container)
                count = (c == 0xde || c == 0xdf) ? 2 * n : n;
            else
                skip += n;
        }
        if (container) {
            if (count > left(rd))
                return -1;
            if (count) {
                if (base + d + 1 > XSP_IDL_MAX_DEPTH)
                    return -1;
                remaining[++d] = count;
            }
        } else if (skip) {
            if (skip > left(rd))
                return -1;
            rd->p += skip;
        }
    }
    return 0;
}

/* ================================================================ string lists and maps */

int xsp_rd_string_list(xsp_rd_t *rd, xsp_string_list_t *out, size_t max, size_t elem_max)
{
    uint32_t n;
    if (xsp_rd_array(rd, &n) || n > max)
        return -1;
    if (n) {
        out->val = xsp_rd_alloc(rd, n, sizeof *out->val);
        if (!out->val)
            return -1;
        out->len = n;
        for (uint32_t i = 0; i < n; i++)
            if (xsp_rd_str(rd, &out->val[i], elem_max))
                return -1;
    }
    xsp_rd_leave(rd, n);
    return 0;
}

int xsp_rd_string_map(xsp_rd_t *rd, xsp_string_map_t *out, size_t max, size_t key_max,
                      size_t val_max)
{
    uint32_t n;
    if (xsp_rd_map(rd, &n) || n > max)
        return -1;
    if (n) {
        out->val = xsp_rd_alloc(rd, n, sizeof *out->val);
        if (!out->val)
            return -1;
        for (uint32_t i = 0; i < n; i++) {
            const char *k;
            uint32_t kl;
            if (xsp_rd_raw_str(rd, &k, &kl) || kl > key_max || (kl && memchr(k, '\0', kl)))
                return -1;
            for (uint32_t j = 0; j < i; j++) {
                const char *k2 = out->val[j].key;
                if (strncmp(k2, k, kl) == 0 && k2[kl] == '\0')
                    return -1;          /* duplicate key */
            }
            out->val[i].key = copy_str(rd, k, kl);
            out->len = i + 1;
            if (!out->val[i].key || xsp_rd_str(rd, &out->val[i].value, val_max))
                return -1;
        }
    }
    xsp_rd_leave(rd, n);
    return 0;
}

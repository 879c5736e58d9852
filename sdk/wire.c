/*  wire.c — header frames: the per-command field tables, and the msgpack subset behind them.

    Owns: encoding/decoding of header frames (see xsp/wire.h, docs/protocol.md §3).
    Never touches: payloads, sockets, the heap.  Every read is bounds-checked against the
    frame; a hostile frame can only make xsp_hdr_decode return -1 with a reason.

    Data structure: `layouts[cmd]` lists, in wire order, the header fields that follow the
    command number: each entry is a kind (uint or string), the offset of the field inside
    xsp_hdr_t, a wire name for error messages, and for strings a maximum length.  Both the
    encoder and the decoder walk the same table, so they cannot disagree.
*/
#include "xsp/wire.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ writer */

void xsp_mpw_init(xsp_mpw_t *w, void *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = false;
}

static void put(xsp_mpw_t *w, const void *src, size_t n)
{
    if (w->overflow || w->cap - w->len < n) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, src, n);
    w->len += n;
}

static void put_tagged(xsp_mpw_t *w, uint8_t tag, uint64_t v, int bytes)
{
    uint8_t b[9];
    b[0] = tag;
    for (int i = 0; i < bytes; i++)
        b[1 + i] = (uint8_t) (v >> (8 * (bytes - 1 - i)));
    put(w, b, 1 + (size_t) bytes);
}

void xsp_mpw_uint(xsp_mpw_t *w, uint64_t v)
{
    if (v < 128) {
        uint8_t b = (uint8_t) v;
        put(w, &b, 1);
    } else if (v <= UINT8_MAX)
        put_tagged(w, 0xcc, v, 1);
    else if (v <= UINT16_MAX)
        put_tagged(w, 0xcd, v, 2);
    else if (v <= UINT32_MAX)
        put_tagged(w, 0xce, v, 4);
    else
        put_tagged(w, 0xcf, v, 8);
}

static void put_container(xsp_mpw_t *w, uint32_t n, uint8_t fix, uint8_t t16, uint8_t t32)
{
    if (n < 16) {
        uint8_t b = (uint8_t) (fix | n);
        put(w, &b, 1);
    } else if (n <= UINT16_MAX)
        put_tagged(w, t16, n, 2);
    else
        put_tagged(w, t32, n, 4);
}

void xsp_mpw_array(xsp_mpw_t *w, uint32_t n) { put_container(w, n, 0x90, 0xdc, 0xdd); }
void xsp_mpw_map(xsp_mpw_t *w, uint32_t n)   { put_container(w, n, 0x80, 0xde, 0xdf); }

void xsp_mpw_bool(xsp_mpw_t *w, bool v)
{
    uint8_t b = v ? 0xc3 : 0xc2;
    put(w, &b, 1);
}

void xsp_mpw_nil(xsp_mpw_t *w)
{
    uint8_t b = 0xc0;
    put(w, &b, 1);
}

void xsp_mpw_str(xsp_mpw_t *w, const char *s, size_t len)
{
    if (len < 32) {
        uint8_t b = (uint8_t) (0xa0 | len);
        put(w, &b, 1);
    } else if (len <= UINT8_MAX)
        put_tagged(w, 0xd9, len, 1);
    else if (len <= UINT16_MAX)
        put_tagged(w, 0xda, len, 2);
    else if (len <= UINT32_MAX)
        put_tagged(w, 0xdb, len, 4);
    else {
        w->overflow = true;
        return;
    }
    if (len)
        put(w, s, len);
}

void xsp_mpw_cstr(xsp_mpw_t *w, const char *s)
{
    xsp_mpw_str(w, s ? s : "", s ? strlen(s) : 0);
}

/* ------------------------------------------------------------------ reader */

void xsp_mpr_init(xsp_mpr_t *r, const void *buf, size_t len)
{
    r->p = buf;
    r->end = r->p + len;
}

/*  Big-endian unsigned of `bytes` bytes at p+1 (after the tag), if present. */
static int get_be(const xsp_mpr_t *r, int bytes, uint64_t *v)
{
    if (r->end - r->p < 1 + bytes)
        return -1;
    uint64_t x = 0;
    for (int i = 0; i < bytes; i++)
        x = (x << 8) | r->p[1 + i];
    *v = x;
    return 0;
}

int xsp_mpr_peek(const xsp_mpr_t *r)
{
    if (r->p >= r->end)
        return 0;
    uint8_t t = *r->p;
    if (t <= 0x7f || (t >= 0xcc && t <= 0xcf)) return 'u';
    if (t >= 0xe0 || (t >= 0xd0 && t <= 0xd3)) return 'i';
    if ((t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb) || (t >= 0xc4 && t <= 0xc6)) return 's';
    if ((t >= 0x90 && t <= 0x9f) || t == 0xdc || t == 0xdd) return 'a';
    if ((t >= 0x80 && t <= 0x8f) || t == 0xde || t == 0xdf) return 'm';
    if (t == 0xc2 || t == 0xc3) return 'b';
    if (t == 0xc0) return 'n';
    if (t == 0xca || t == 0xcb) return 'f';
    if ((t >= 0xd4 && t <= 0xd8) || (t >= 0xc7 && t <= 0xc9)) return 'x';
    return 0;   /* 0xc1: never used */
}

int xsp_mpr_uint(xsp_mpr_t *r, uint64_t *v)
{
    if (r->p >= r->end)
        return -1;
    uint8_t t = *r->p;
    if (t <= 0x7f) {
        *v = t;
        r->p++;
        return 0;
    }
    if (t < 0xcc || t > 0xcf)
        return -1;
    int bytes = 1 << (t - 0xcc);
    if (get_be(r, bytes, v))
        return -1;
    r->p += 1 + bytes;
    return 0;
}

static int read_container(xsp_mpr_t *r, uint32_t *n, uint8_t fix, uint8_t t16, uint8_t t32)
{
    if (r->p >= r->end)
        return -1;
    uint8_t t = *r->p;
    uint64_t v;
    if ((t & 0xf0) == fix) {
        *n = t & 0x0f;
        r->p++;
        return 0;
    }
    int bytes = t == t16 ? 2 : t == t32 ? 4 : 0;
    if (!bytes || get_be(r, bytes, &v))
        return -1;
    /* every element takes at least one byte: refuse counts the frame cannot hold */
    if (v > (uint64_t) (r->end - r->p))
        return -1;
    *n = (uint32_t) v;
    r->p += 1 + bytes;
    return 0;
}

int xsp_mpr_array(xsp_mpr_t *r, uint32_t *n) { return read_container(r, n, 0x90, 0xdc, 0xdd); }
int xsp_mpr_map(xsp_mpr_t *r, uint32_t *n)   { return read_container(r, n, 0x80, 0xde, 0xdf); }

int xsp_mpr_bool(xsp_mpr_t *r, bool *v)
{
    if (r->p >= r->end || (*r->p != 0xc2 && *r->p != 0xc3))
        return -1;
    *v = *r->p == 0xc3;
    r->p++;
    return 0;
}

int xsp_mpr_nil(xsp_mpr_t *r)
{
    if (r->p >= r->end || *r->p != 0xc0)
        return -1;
    r->p++;
    return 0;
}

int xsp_mpr_str(xsp_mpr_t *r, xsp_str_t *s)
{
    if (r->p >= r->end)
        return -1;
    uint8_t t = *r->p;
    uint64_t len;
    int bytes;
    if (t >= 0xa0 && t <= 0xbf) {
        len = t & 0x1f;
        bytes = 0;
    } else {
        bytes = (t == 0xd9 || t == 0xc4) ? 1 : (t == 0xda || t == 0xc5) ? 2
              : (t == 0xdb || t == 0xc6) ? 4 : -1;
        if (bytes < 0 || get_be(r, bytes, &len))
            return -1;
    }
    if (len > (uint64_t) (r->end - r->p) - 1 - (uint64_t) bytes)
        return -1;
    s->ptr = (const char *) r->p + 1 + bytes;
    s->len = (uint32_t) len;
    r->p += 1 + bytes + len;
    return 0;
}

/*  Skip one object.  Nesting is walked with a pending-count stack bounded at 32 levels. */
int xsp_mpr_skip(xsp_mpr_t *r)
{
    uint64_t pending[32];
    int depth = 0;
    pending[0] = 1;
    const uint8_t *start = r->p;
    while (depth >= 0) {
        if (pending[depth] == 0) {
            depth--;
            continue;
        }
        pending[depth]--;
        uint32_t n;
        uint64_t v;
        xsp_str_t s;
        bool b;
        int kind = xsp_mpr_peek(r);
        uint8_t t = r->p < r->end ? *r->p : 0;
        switch (kind) {
        case 'u':
            if (xsp_mpr_uint(r, &v)) goto bad;
            break;
        case 'i': {
            int bytes = t >= 0xe0 ? 0 : 1 << (t - 0xd0);
            if (r->end - r->p < 1 + bytes) goto bad;
            r->p += 1 + bytes;
            break;
        }
        case 'f': {
            int bytes = t == 0xca ? 4 : 8;
            if (r->end - r->p < 1 + bytes) goto bad;
            r->p += 1 + bytes;
            break;
        }
        case 's':
            if (xsp_mpr_str(r, &s)) goto bad;
            break;
        case 'b':
            if (xsp_mpr_bool(r, &b)) goto bad;
            break;
        case 'n':
            r->p++;
            break;
        case 'x': {
            uint64_t len;
            int hdr;
            if (t >= 0xd4 && t <= 0xd8) {
                len = 1u << (t - 0xd4);
                hdr = 2;
            } else {
                int bytes = 1 << (t - 0xc7);
                if (get_be(r, bytes, &len)) goto bad;
                hdr = 2 + bytes;
            }
            if ((uint64_t) (r->end - r->p) < hdr + len) goto bad;
            r->p += hdr + len;
            break;
        }
        case 'a':
        case 'm':
            if ((kind == 'a' ? xsp_mpr_array(r, &n) : xsp_mpr_map(r, &n)) || depth == 31)
                goto bad;
            pending[++depth] = kind == 'a' ? n : 2ull * n;
            break;
        default:
            goto bad;
        }
    }
    return 0;
bad:
    r->p = start;
    return -1;
}

/* ------------------------------------------------------------------ headers */

typedef struct {
    char kind;          /* 'u' uint64_t, 's' xsp_str_t, 0 = end */
    unsigned short off; /* offsetof(xsp_hdr_t, field) */
    unsigned short max; /* strings: maximum length */
    const char *name;
} field_t;

#define U(f)       { 'u', offsetof(xsp_hdr_t, f), 0, #f }
#define S(f, m)    { 's', offsetof(xsp_hdr_t, f), m, #f }
#define END        { 0, 0, 0, NULL }

static const field_t layouts[XSP_CMD__MAX + 1][13] = {
    [XSP_CMD_HELLO]       = { U(version), S(name, XSP_NAME_MAX), S(role, XSP_ROLE_MAX), U(pid), U(domid), END },
    [XSP_CMD_WELCOME]     = { U(version), U(peer_id), U(heartbeat_ms), U(max_payload), U(max_depth),
                              U(max_outstanding), U(max_credit), S(sw_version, XSP_NAME_MAX), U(boot_id), END },
    [XSP_CMD_REQUEST]     = { U(corr), S(queue, XSP_QUEUE_MAX), U(timeout_ms), U(flags), S(dbg, XSP_DBG_MAX), END },
    [XSP_CMD_DELIVER]     = { U(msg_id), S(queue, XSP_QUEUE_MAX), U(timeout_ms), U(flags), S(dbg, XSP_DBG_MAX),
                              U(peer_id), U(domid), END },
    [XSP_CMD_REPLY]       = { U(msg_id), U(status), END },
    [XSP_CMD_RESULT]      = { U(corr), U(status), U(msg_id), U(service_us), END },
    [XSP_CMD_ERROR]       = { U(ref_cmd), U(corr), S(code, XSP_CODE_MAX), S(message, XSP_MESSAGE_MAX), END },
    [XSP_CMD_SUBSCRIBE]   = { S(queue, XSP_QUEUE_MAX), U(credit), END },
    [XSP_CMD_UNSUBSCRIBE] = { S(queue, XSP_QUEUE_MAX), END },
    [XSP_CMD_CREDIT]      = { S(queue, XSP_QUEUE_MAX), U(credit), END },
    [XSP_CMD_HEARTBEAT]   = { END },
    [XSP_CMD_BYE]         = { END },
    [XSP_CMD_TRACE]       = { U(seq), S(queue, XSP_QUEUE_MAX), U(follow), END },
    [XSP_CMD_TRACE_EVENT] = { U(seq), U(ts_ns), S(code, XSP_CODE_MAX), S(queue, XSP_QUEUE_MAX), U(msg_id),
                              U(corr), S(name, XSP_NAME_MAX + 16), S(to, XSP_NAME_MAX + 16), U(size),
                              S(dbg, XSP_DBG_MAX), U(service_us), U(lost), END },
    [XSP_CMD_TRACE_END]   = { U(seq), U(lost), END },
    [XSP_CMD_UNTRACE]     = { END },
    [XSP_CMD_DIAG]        = { U(corr), END },
    [XSP_CMD_DIAG_REPLY]  = { U(corr), END },
    [XSP_CMD_ACCEPTED]    = { U(corr), U(msg_id), END },
};

static const char *const cmd_names[XSP_CMD__MAX + 1] = {
    "?", "HELLO", "WELCOME", "REQUEST", "DELIVER", "REPLY", "RESULT", "ERROR", "SUBSCRIBE",
    "UNSUBSCRIBE", "CREDIT", "HEARTBEAT", "BYE", "TRACE", "TRACE_EVENT", "TRACE_END",
    "UNTRACE", "DIAG", "DIAG_REPLY", "ACCEPTED",
};

const char *xsp_cmd_name(unsigned cmd)
{
    return cmd >= 1 && cmd <= XSP_CMD__MAX ? cmd_names[cmd] : "?";
}

#define WHY(...) do { if (why) snprintf(why, whylen, __VA_ARGS__); } while (0)

/*  The header codec's inner loop, on every message of every peer and of the switch: the
    forms our encoder writes (fixint and uint8..uint64; fixstr and str8) decoded inline,
    anything else through the general readers above (same acceptance, same result). */
static inline uint64_t be_n(const uint8_t *p, int bytes)
{
    uint32_t x4;
    uint64_t x8;
    switch (bytes) {
    case 1:
        return p[0];
    case 2:
        return (uint64_t) p[0] << 8 | p[1];
    case 4:
        memcpy(&x4, p, 4);
        return __builtin_bswap32(x4);
    default:
        memcpy(&x8, p, 8);
        return __builtin_bswap64(x8);
    }
}

static inline int hdr_uint(xsp_mpr_t *r, uint64_t *v)
{
    const uint8_t *p = r->p;
    if (p < r->end) {
        uint8_t t = *p;
        if (t <= 0x7f) {
            *v = t;
            r->p = p + 1;
            return 0;
        }
        if (t >= 0xcc && t <= 0xcf) {
            int bytes = 1 << (t - 0xcc);
            if (r->end - p < 1 + bytes)
                return -1;
            *v = be_n(p + 1, bytes);
            r->p = p + 1 + bytes;
            return 0;
        }
    }
    return xsp_mpr_uint(r, v);
}

static inline int hdr_str(xsp_mpr_t *r, xsp_str_t *s)
{
    const uint8_t *p = r->p;
    size_t left = (size_t) (r->end - p);
    if (left && (*p & 0xe0) == 0xa0) {
        uint32_t n = *p & 0x1fu;
        if (n > left - 1)
            return -1;
        s->ptr = (const char *) p + 1;
        s->len = n;
        r->p = p + 1 + n;
        return 0;
    }
    if (left >= 2 && *p == 0xd9) {
        uint32_t n = p[1];
        if (n > left - 2)
            return -1;
        s->ptr = (const char *) p + 2;
        s->len = n;
        r->p = p + 2 + n;
        return 0;
    }
    return xsp_mpr_str(r, s);
}

int xsp_hdr_decode(const void *buf, size_t len, xsp_hdr_t *h, char *why, size_t whylen)
{
    xsp_mpr_t r;
    uint32_t n;
    uint64_t cmd;

    memset(h, 0, sizeof *h);
    if (len > XSP_HEADER_MAX) {
        WHY("header frame of %zu bytes is over the %d-byte limit", len, XSP_HEADER_MAX);
        return -1;
    }
    xsp_mpr_init(&r, buf, len);
    if (len && (*r.p & 0xf0) == 0x90) {             /* a fixarray: every header we send */
        n = *r.p++ & 0x0fu;
        if (n == 0) {
            WHY("header frame is not a non-empty msgpack array");
            return -1;
        }
    } else if (xsp_mpr_array(&r, &n) || n == 0) {
        WHY("header frame is not a non-empty msgpack array");
        return -1;
    }
    if (hdr_uint(&r, &cmd) || cmd < 1 || cmd > XSP_CMD__MAX) {
        WHY("header element 0 is not a known command number");
        return -1;
    }
    h->cmd = (xsp_cmd_t) cmd;
    const field_t *f = layouts[cmd];
    uint32_t i = 1;
    for (; f->kind; f++, i++) {
        if (i >= n) {
            WHY("%s header has %u elements; field %u (%s) is missing", cmd_names[cmd], n, i, f->name);
            return -1;
        }
        char *dst = (char *) h + f->off;
        if (f->kind == 'u') {
            if (hdr_uint(&r, (uint64_t *) (void *) dst)) {
                WHY("%s field %u (%s) must be a non-negative integer", cmd_names[cmd], i, f->name);
                return -1;
            }
        } else {
            xsp_str_t *s = (xsp_str_t *) (void *) dst;
            if (hdr_str(&r, s)) {
                WHY("%s field %u (%s) must be a string", cmd_names[cmd], i, f->name);
                return -1;
            }
            if (s->len > f->max) {
                WHY("%s field %u (%s) is %u bytes, over the %u-byte limit", cmd_names[cmd], i,
                    f->name, s->len, f->max);
                return -1;
            }
        }
    }
    /* newer peers may append fields: skip them, but they must be well-formed */
    for (; i < n; i++)
        if (xsp_mpr_skip(&r)) {
            WHY("%s header element %u is malformed", cmd_names[cmd], i);
            return -1;
        }
    if (r.p != r.end) {
        WHY("%zu trailing bytes after the header array", (size_t) (r.end - r.p));
        return -1;
    }
    return 0;
}

/*  The encoder's fast path, in place: the same bytes as the general path below for
    headers of under 16 elements whose strings are under 256 bytes (all of them in
    practice); 0 when the header is not such a one or does not fit, and the caller then
    takes the general path, which decides. */
static size_t hdr_encode_fast(const xsp_hdr_t *h, unsigned cmd, const field_t *f, uint8_t *o,
                              size_t cap)
{
    uint8_t *start = o, *end = o + cap;
    if (cap < 2 || cmd > 0x7f)
        return 0;
    o += 2;                     /* the array header (patched below) and the command */
    start[1] = (uint8_t) cmd;
    unsigned n = 1;
    for (; f->kind; f++, n++) {
        const char *src = (const char *) h + f->off;
        if (f->kind == 'u') {
            uint64_t v = *(const uint64_t *) (const void *) src;
            if (end - o < 9)
                return 0;
            if (v < 128) {
                *o++ = (uint8_t) v;
                continue;
            }
            if (v <= UINT8_MAX) {
                o[0] = 0xcc;
                o[1] = (uint8_t) v;
                o += 2;
            } else if (v <= UINT16_MAX) {
                o[0] = 0xcd;
                o[1] = (uint8_t) (v >> 8);
                o[2] = (uint8_t) v;
                o += 3;
            } else if (v <= UINT32_MAX) {
                uint32_t x = __builtin_bswap32((uint32_t) v);
                o[0] = 0xce;
                memcpy(o + 1, &x, 4);
                o += 5;
            } else {
                uint64_t x = __builtin_bswap64(v);
                o[0] = 0xcf;
                memcpy(o + 1, &x, 8);
                o += 9;
            }
        } else {
            const xsp_str_t *s = (const xsp_str_t *) (const void *) src;
            uint32_t len = s->len;
            if (len > UINT8_MAX || (size_t) (end - o) < 2 + (size_t) len)
                return 0;
            if (len < 32) {
                *o++ = (uint8_t) (0xa0 | len);
            } else {
                *o++ = 0xd9;
                *o++ = (uint8_t) len;
            }
            if (len)
                memcpy(o, s->ptr, len);
            o += len;
        }
    }
    if (n >= 16)
        return 0;
    start[0] = (uint8_t) (0x90 | n);
    return (size_t) (o - start);
}

size_t xsp_hdr_encode(const xsp_hdr_t *h, void *buf, size_t cap)
{
    xsp_mpw_t w;
    unsigned cmd = h->cmd;
    if (cmd < 1 || cmd > XSP_CMD__MAX)
        return 0;
    const field_t *f = layouts[cmd];
    size_t fast = hdr_encode_fast(h, cmd, f, buf, cap);
    if (fast)
        return fast;
    uint32_t n = 1;
    while (f[n - 1].kind)
        n++;
    xsp_mpw_init(&w, buf, cap);
    xsp_mpw_array(&w, n);
    xsp_mpw_uint(&w, cmd);
    for (; f->kind; f++) {
        const char *src = (const char *) h + f->off;
        if (f->kind == 'u') {
            uint64_t v = *(const uint64_t *) (const void *) src;
            if (v < 128 && !w.overflow && w.len < w.cap) {   /* a positive fixint: most fields */
                w.buf[w.len++] = (uint8_t) v;
                continue;
            }
            xsp_mpw_uint(&w, v);
        } else {
            const xsp_str_t *s = (const xsp_str_t *) (const void *) src;
            xsp_mpw_str(&w, s->ptr, s->len);
        }
    }
    return w.overflow ? 0 : w.len;
}

/*  xsp/idl_codec.h — the msgpack building blocks generated encoders and decoders call.

    Owns: field paths for error messages (`Datapath.attach result: implementations[1].params`),
    strict decoding of primitives, string lists and string maps from msgpack_object, their
    encoding with msgpack_packer, and xsp_idl_unpack(): the only way generated code turns
    bytes into a msgpack_object (it validates the bytes first, see below).
    Never touches: generated types, sockets, global state.

    Every decoder returns XSP_OK or XSP_E_DECODE with err->msg = "<root>: <path>: <what>",
    never aborts and leaves its output empty on error.  Encoders return XSP_OK, XSP_E_SYSTEM
    (the packer's write callback failed, e.g. out of memory) or XSP_E_INVALID_ARGUMENT (a
    value that has no encoding, e.g. an out-of-range enum).

    Why validate before msgpack_unpack: msgpack-c allocates an array's or map's element
    storage from its declared count before reading the elements, so 5 hostile bytes could
    ask for 100 GB.  xsp_idl_unpack first walks the bytes (no allocation) and refuses any
    container whose count exceeds the bytes left, truncated input, trailing bytes and
    nesting deeper than XSP_IDL_MAX_DEPTH; memory use is then bounded by the input size.
*/
#ifndef XSP_IDL_CODEC_H
#define XSP_IDL_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <msgpack.h>

#include "xsp/error.h"
#include "xsp/idl_strings.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XSP_IDL_MAX_DEPTH 24      /* msgpack-c itself stops at 32; docs/api.md quotes 24 */

/* ------------------------------------------------------------------ field paths */

typedef enum { XSP_PATH_ROOT_, XSP_PATH_FIELD_, XSP_PATH_INDEX_, XSP_PATH_KEY_ } xsp_path_kind_t;

/*  One step of the path from the value being decoded to the current field.  Lives on the
    stack of the decoder that made it; `up` points at the caller's step. */
typedef struct xsp_path {
    const struct xsp_path *up;
    xsp_path_kind_t kind;
    const char *name;       /* ROOT: label ("volume", "Datapath.attach result"); FIELD: name; KEY: key */
    size_t n;               /* INDEX: index; KEY: key length */
} xsp_path_t;

static inline xsp_path_t xsp_path_root(const char *label)
{
    xsp_path_t p = { NULL, XSP_PATH_ROOT_, label, 0 };
    return p;
}
static inline xsp_path_t xsp_path_field(const xsp_path_t *up, const char *name)
{
    xsp_path_t p = { up, XSP_PATH_FIELD_, name, 0 };
    return p;
}
static inline xsp_path_t xsp_path_index(const xsp_path_t *up, size_t i)
{
    xsp_path_t p = { up, XSP_PATH_INDEX_, NULL, i };
    return p;
}
static inline xsp_path_t xsp_path_key(const xsp_path_t *up, const char *key, size_t len)
{
    xsp_path_t p = { up, XSP_PATH_KEY_, key, len };
    return p;
}

/*  A second ROOT step above `up` (itself a root) appends its text to the root's label:
    xsp_path_suffix(&m, " result") under xsp_path_root("Datapath.attach") names the value
    "Datapath.attach result" without formatting a label on every call. */
static inline xsp_path_t xsp_path_suffix(const xsp_path_t *up, const char *text)
{
    xsp_path_t p = { up, XSP_PATH_ROOT_, text, 0 };
    return p;
}

/*  True when the NUL-terminated name equals the len bytes at k (which may hold anything,
    NULs included).  Stops at the first difference: no strlen over long key tables. */
static inline bool xsp_name_eq(const char *name, const char *k, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (name[i] != k[i] || name[i] == '\0')
            return false;
    return name[len] == '\0';
}

/*  "<root>: a.b[1].c" or "<root>" into buf (always NUL-terminated); returns strlen. */
size_t xsp_path_format(const xsp_path_t *p, char *buf, size_t size);

/*  err = XSP_E_DECODE "<path>: <fmt...>"; returns XSP_E_DECODE. */
int xsp_dec_fail(xsp_error_t *err, const xsp_path_t *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*  err = code "<path>: <fmt...>"; returns code. */
int xsp_path_error(xsp_error_t *err, xsp_code_t code, const xsp_path_t *p, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*  The packer failed: XSP_E_SYSTEM "<path>: msgpack write failed". */
int xsp_enc_io(xsp_error_t *err, const xsp_path_t *p);

/*  "nil", "boolean", "integer", "float", "string", "binary", "array", "map", "extension". */
const char *xsp_mp_type_name(const msgpack_object *o);
/*  Quote an untrusted string for an error message: escaped, at most 40 bytes shown. */
const char *xsp_quote_for_msg(const char *s, size_t len, char *buf, size_t size);

/* ------------------------------------------------------------------ bytes -> object */

/*  Validate buf (exactly one msgpack value, see the top of this file), then unpack it into
    *up (msgpack_unpacked_init is done here).  On success the caller owns *up and must
    msgpack_unpacked_destroy it; on error *up needs nothing.  Errors: XSP_E_DECODE
    "<root>: malformed msgpack: ...". */
int xsp_idl_unpack(msgpack_unpacked *up, const void *buf, size_t len, const xsp_path_t *root,
                   xsp_error_t *err);
/*  The validation alone: XSP_OK, or XSP_E_DECODE with the reason (and byte offset). */
int xsp_idl_check_msgpack(const void *buf, size_t len, const xsp_path_t *root, xsp_error_t *err);

/*  The two steps of xsp_idl_unpack, for callers that keep the tree in memory of their own
    (on the stack, or inside a larger allocation) instead of a msgpack zone:
    xsp_idl_check_count validates as xsp_idl_check_msgpack and sets *nobjs to the number of
    msgpack_object slots the tree needs (at most len); xsp_idl_build then builds the tree
    of the SAME validated bytes into *root, using pool[0 .. nobjs) for container elements.
    Strings, bins and exts point into buf: keep buf and pool alive while using the tree. */
int xsp_idl_check_count(const void *buf, size_t len, const xsp_path_t *root, xsp_error_t *err,
                        size_t *nobjs);
void xsp_idl_build(const void *buf, msgpack_object *pool, msgpack_object *root);

/* ------------------------------------------------------------------ decoding */

int xsp_dec_nil(const msgpack_object *o, const xsp_path_t *p, xsp_error_t *err);
int xsp_dec_bool(const msgpack_object *o, bool *out, const xsp_path_t *p, xsp_error_t *err);
int xsp_dec_i32(const msgpack_object *o, int32_t *out, const xsp_path_t *p, xsp_error_t *err);
int xsp_dec_u32(const msgpack_object *o, uint32_t *out, const xsp_path_t *p, xsp_error_t *err);
int xsp_dec_i64(const msgpack_object *o, int64_t *out, const xsp_path_t *p, xsp_error_t *err);
int xsp_dec_u64(const msgpack_object *o, uint64_t *out, const xsp_path_t *p, xsp_error_t *err);
/*  An error code by wire name (string ≤ 64 bytes); unknown names give XSP_E_UNKNOWN. */
int xsp_dec_code(const msgpack_object *o, xsp_code_t *out, const xsp_path_t *p, xsp_error_t *err);
/*  A string of at most max bytes without NUL bytes, copied into a new *out. */
int xsp_dec_str(const msgpack_object *o, char **out, size_t max, const xsp_path_t *p,
                xsp_error_t *err);
int xsp_dec_string_list(const msgpack_object *o, xsp_string_list_t *out, size_t max,
                        size_t elem_max, const xsp_path_t *p, xsp_error_t *err);
/*  A map of string keys (≤ key_max bytes, unique) to strings (≤ val_max bytes). */
int xsp_dec_string_map(const msgpack_object *o, xsp_string_map_t *out, size_t max,
                       size_t key_max, size_t val_max, const xsp_path_t *p, xsp_error_t *err);
/*  An enum value: a string that is one of names[0..n-1]; `what` names the type in errors. */
int xsp_dec_enum(const msgpack_object *o, const char *const *names, size_t n, const char *what,
                 int *out, const xsp_path_t *p, xsp_error_t *err);
/*  o must be an array of at most max elements. */
int xsp_dec_array(const msgpack_object *o, size_t max, const xsp_path_t *p, xsp_error_t *err);
/*  o must be a map. */
int xsp_dec_map(const msgpack_object *o, const xsp_path_t *p, xsp_error_t *err);
/*  One entry of a record's map: the key must be a string.  *idx = its index in
    keys[0..n-1], or -1 for a key to skip (unknown, or equal to `skip`).  seen[] (n bytes,
    zeroed by the caller) catches duplicate keys. */
int xsp_dec_key(const msgpack_object_kv *kv, const char *const *keys, size_t n,
                unsigned char *seen, const char *skip, int *idx, const xsp_path_t *p,
                xsp_error_t *err);
/*  After the entries: the first key with required[i] && !seen[i] is an error. */
int xsp_dec_required(const unsigned char *seen, const unsigned char *required,
                     const char *const *keys, size_t n, const xsp_path_t *p, xsp_error_t *err);
/*  A union's "kind" entry in map o: *kind = its index in names[0..n-1]. */
int xsp_dec_kind(const msgpack_object *o, const char *const *names, size_t n, const char *what,
                 int *kind, const xsp_path_t *p, xsp_error_t *err);
/*  Calloc for a decoder: NULL -> XSP_E_SYSTEM error set. */
void *xsp_dec_calloc(size_t n, size_t size, const xsp_path_t *p, xsp_error_t *err);

/* ------------------------------------------------------------------ encoding */

/*  In a generated encoder: return XSP_E_SYSTEM if a packer call fails. */
#define XSP_PK(call) do { if ((call) != 0) return xsp_enc_io(err, path); } while (0)

/*  xsp_packbuf_t: where encoders pack to.  Payloads up to XSP_PACKBUF_INLINE bytes stay
    in the struct itself (on the caller's stack), larger ones move to the heap.
    xsp_packbuf_init(b, pk) empties b and points pk (may be NULL) at it; the bytes are
    b->data[0 .. b->len); b->failed after an allocation failure (the write then returns
    -1, so the encoder fails with XSP_E_SYSTEM).  _dispose frees; _release hands the bytes
    over as a malloc'd block (NULL if failed or out of memory) and empties b. */
#define XSP_PACKBUF_INLINE 1024
typedef struct {
    char *data;
    size_t len, cap;
    bool failed;
    char inline_[XSP_PACKBUF_INLINE];
} xsp_packbuf_t;

void xsp_packbuf_init(xsp_packbuf_t *b, msgpack_packer *pk);
void xsp_packbuf_dispose(xsp_packbuf_t *b);
void *xsp_packbuf_release(xsp_packbuf_t *b);
int xsp_packbuf_write(void *data, const char *buf, size_t len);   /* msgpack_packer_write */

/*  n bytes already encoded (a generated constant: a key with its header, a request head). */
static inline int xsp_pk_raw(msgpack_packer *pk, const char *bytes, size_t n)
{
    if (pk->callback == xsp_packbuf_write) {
        xsp_packbuf_t *b = (xsp_packbuf_t *) pk->data;
        if (!b->failed && b->cap - b->len >= n) {
            memcpy(b->data + b->len, bytes, n);
            b->len += n;
            return 0;
        }
    }
    return pk->callback(pk->data, bytes, n);
}
int xsp_pk_str_(msgpack_packer *pk, const char *s);         /* NULL packs "" */
static inline int xsp_pk_str(msgpack_packer *pk, const char *s)
{
    /* the common case inline: a string under 256 bytes into a packbuf with room */
    if (s && pk->callback == xsp_packbuf_write) {
        xsp_packbuf_t *b = (xsp_packbuf_t *) pk->data;
        size_t n = strlen(s);
        if (!b->failed && n < 256 && b->cap - b->len >= n + 2) {
            unsigned char *p = (unsigned char *) b->data + b->len;
            if (n < 32) {
                *p++ = (unsigned char) (0xa0u | n);
            } else {
                *p++ = 0xd9;
                *p++ = (unsigned char) n;
            }
            memcpy(p, s, n);
            b->len = (size_t) ((char *) p + n - b->data);
            return 0;
        }
    }
    return xsp_pk_str_(pk, s);
}
/*  One byte (a fixmap/fixarray header, a small integer, a boolean): the common cases of
    the calls below, without msgpack-c's callback. */
static inline int xsp_pk_byte_(msgpack_packer *pk, unsigned char c)
{
    return xsp_pk_raw(pk, (const char *) &c, 1);
}
static inline int xsp_pk_map(msgpack_packer *pk, size_t n)
{
    return n < 16 ? xsp_pk_byte_(pk, (unsigned char) (0x80u | n)) : msgpack_pack_map(pk, n);
}
static inline int xsp_pk_array(msgpack_packer *pk, size_t n)
{
    return n < 16 ? xsp_pk_byte_(pk, (unsigned char) (0x90u | n)) : msgpack_pack_array(pk, n);
}
int xsp_pk_bool(msgpack_packer *pk, bool v);
int xsp_pk_i32(msgpack_packer *pk, int32_t v);
int xsp_pk_u32(msgpack_packer *pk, uint32_t v);
int xsp_pk_i64(msgpack_packer *pk, int64_t v);
int xsp_pk_u64(msgpack_packer *pk, uint64_t v);
int xsp_pk_code(msgpack_packer *pk, xsp_code_t v);          /* its wire name */
int xsp_pk_string_list(msgpack_packer *pk, const xsp_string_list_t *l);
int xsp_pk_string_map(msgpack_packer *pk, const xsp_string_map_t *m);
/*  An enum value by table: XSP_E_INVALID_ARGUMENT if v is out of range. */
int xsp_pk_enum(msgpack_packer *pk, int v, const char *const *names, size_t n, const char *what,
                const xsp_path_t *p, xsp_error_t *err);

#ifdef __cplusplus
}
#endif
#endif

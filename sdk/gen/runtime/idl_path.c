/*  idl_path.c — field paths and the error messages that name them.

    Owns: rendering an xsp_path_t chain as `<root>: a.b[1].c["key"]`, and the helpers that
    put "<path>: <what>" into an xsp_error_t.  Untrusted text (map keys, bad enum values)
    is escaped and truncated before it reaches a message.
    Never touches: decoding itself (idl_decode.c).
*/
#include "xsp/idl_codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PATH_MAX_STEPS 64

typedef struct {
    char *buf;
    size_t size, len;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->size == 0)
        return;
    for (size_t i = 0; i < n && o->len + 1 < o->size; i++)
        o->buf[o->len++] = s[i];
    o->buf[o->len] = '\0';
}

static void puts_(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

const char *xsp_quote_for_msg(const char *s, size_t len, char *buf, size_t size)
{
    out_t o = { buf, size, 0 };
    size_t shown = len > 40 ? 40 : len;

    if (size)
        buf[0] = '\0';
    put(&o, "\"", 1);
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char) s[i];
        char tmp[8];
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char) c;
            put(&o, tmp, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            puts_(&o, tmp);
        } else {
            put(&o, (const char *) &c, 1);
        }
    }
    put(&o, "\"", 1);
    if (shown < len)
        puts_(&o, "...");
    return buf;
}

size_t xsp_path_format(const xsp_path_t *p, char *buf, size_t size)
{
    const xsp_path_t *steps[PATH_MAX_STEPS];
    size_t n = 0;
    bool truncated = false;
    out_t o = { buf, size, 0 };

    if (size)
        buf[0] = '\0';
    for (const xsp_path_t *q = p; q; q = q->up) {
        if (n == PATH_MAX_STEPS) {
            truncated = true;
            break;
        }
        steps[n++] = q;
    }
    /* steps[n-1] is the root (unless truncated) */
    for (size_t k = n; k-- > 0;) {
        const xsp_path_t *s = steps[k];
        bool first = (k == n - 1);
        bool after_root = !first && steps[k + 1]->kind == XSP_PATH_ROOT_;
        char tmp[96];

        switch (s->kind) {
        case XSP_PATH_ROOT_:
            puts_(&o, s->name ? s->name : "value");
            break;
        case XSP_PATH_FIELD_:
            if (first && truncated)
                puts_(&o, "...");
            puts_(&o, after_root ? ": " : (first ? "" : "."));
            puts_(&o, s->name);
            break;
        case XSP_PATH_INDEX_:
            if (after_root)
                puts_(&o, ": ");
            snprintf(tmp, sizeof tmp, "[%zu]", s->n);
            puts_(&o, tmp);
            break;
        case XSP_PATH_KEY_:
            if (after_root)
                puts_(&o, ": ");
            puts_(&o, "[");
            puts_(&o, xsp_quote_for_msg(s->name, s->n, tmp, sizeof tmp));
            puts_(&o, "]");
            break;
        }
    }
    return o.len;
}

static int vfail(xsp_error_t *err, xsp_code_t code, const xsp_path_t *p, const char *fmt, va_list ap)
{
    char what[XSP_ERROR_MSG_MAX];
    char path[XSP_ERROR_MSG_MAX];

    if (err == NULL)
        return code;
    vsnprintf(what, sizeof what, fmt, ap);
    xsp_path_format(p, path, sizeof path);
    return xsp_error_set(err, code, "%s: %s", path, what);
}

int xsp_dec_fail(xsp_error_t *err, const xsp_path_t *p, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vfail(err, XSP_E_DECODE, p, fmt, ap);
    va_end(ap);
    return rc;
}

int xsp_path_error(xsp_error_t *err, xsp_code_t code, const xsp_path_t *p, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vfail(err, code, p, fmt, ap);
    va_end(ap);
    return rc;
}

int xsp_enc_io(xsp_error_t *err, const xsp_path_t *p)
{
    return xsp_path_error(err, XSP_E_SYSTEM, p, "msgpack write failed (out of memory?)");
}

const char *xsp_mp_type_name(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return "nil";
    case MSGPACK_OBJECT_BOOLEAN:
        return "boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return "integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return "float";
    case MSGPACK_OBJECT_STR:
        return "string";
    case MSGPACK_OBJECT_BIN:
        return "binary";
    case MSGPACK_OBJECT_ARRAY:
        return "array";
    case MSGPACK_OBJECT_MAP:
        return "map";
    case MSGPACK_OBJECT_EXT:
        return "extension";
    }
    return "unknown";
}

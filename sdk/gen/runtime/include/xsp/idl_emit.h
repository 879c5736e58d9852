/*  xsp/idl_emit.h — one walker, three outputs: human text, one-line text and JSON.

    Owns: the layout of every printed value.  Generated `_walk_` functions describe a value
    as a sequence of calls (struct_begin, field, str, ..., struct_end); the xsp_emit_t they
    drive decides how it looks.  Changing how values print is done here, never in generated
    code.
    Never touches: generated types, files (it writes into an xsp_buf_t).

    XSP_EMIT_TEXT — for people, like `xl list -l` but YAML-like, at a base indent:
        key: "vol-1"
        uuid: (none)
        uri:
          [0]: "file:///srv/a.vhd"
        implementations:
          [0]:
            kind: xen_disk
            params: "/dev/sm/x"
        keys: {}
    XSP_EMIT_LINE — one line for traces: {key: "vol-1", uri: ["file:///a"], keys: {}}
        (absent optional fields are left out).
    XSP_EMIT_JSON / XSP_EMIT_JSON_PRETTY — RFC 8259 JSON for --json: structs and unions are
        objects (a union has "kind"), enums are strings, absent optional fields are null,
        invalid UTF-8 bytes become U+FFFD.

    Strings are quoted and escaped in text modes (\n, \t, \", \\, \xNN for control bytes and
    invalid UTF-8) so any value prints on the lines it claims.  Nesting deeper than
    XSP_EMIT_MAX_DEPTH marks the buffer failed.
*/
#ifndef XSP_IDL_EMIT_H
#define XSP_IDL_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xsp/idl_buf.h"
#include "xsp/idl_strings.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Pass as `indent` to a generated `_format` for the one-line form, or to `_to_json` for
    compact JSON. */
#define XSP_FORMAT_LINE (-1)

#define XSP_EMIT_MAX_DEPTH 64

typedef enum { XSP_EMIT_TEXT, XSP_EMIT_LINE, XSP_EMIT_JSON, XSP_EMIT_JSON_PRETTY } xsp_emit_mode_t;

typedef struct xsp_emit {
    xsp_buf_t *b;
    xsp_emit_mode_t mode;
    int indent;                 /* base indent (TEXT, JSON_PRETTY) */
    int depth;                  /* open containers */
    bool slot_open;             /* a label was written and waits for its value */
    int phantom;                /* containers opened beyond XSP_EMIT_MAX_DEPTH (ignored) */
    struct {
        char close;             /* '}' or ']' */
        bool header;            /* TEXT: the container's label line is still open */
        int child_indent;
        size_t count;
    } stack[XSP_EMIT_MAX_DEPTH];
} xsp_emit_t;

void xsp_emit_start(xsp_emit_t *e, xsp_buf_t *b, xsp_emit_mode_t mode, int indent);
/*  XSP_OK or XSP_E_SYSTEM (out of memory or nesting too deep). */
int  xsp_emit_finish(xsp_emit_t *e);

void xsp_emit_struct_begin(xsp_emit_t *e);
void xsp_emit_struct_end(xsp_emit_t *e);
void xsp_emit_field(xsp_emit_t *e, const char *name);
/*  An optional field that is absent: "(none)" in TEXT, null in JSON, nothing in LINE. */
void xsp_emit_absent(xsp_emit_t *e, const char *name);
void xsp_emit_list_begin(xsp_emit_t *e, size_t n);
void xsp_emit_index(xsp_emit_t *e, size_t i);    /* before each list element */
void xsp_emit_list_end(xsp_emit_t *e);
void xsp_emit_map_begin(xsp_emit_t *e, size_t n);
void xsp_emit_key(xsp_emit_t *e, const char *key); /* before each map value */
void xsp_emit_map_end(xsp_emit_t *e);

void xsp_emit_str(xsp_emit_t *e, const char *s);   /* NULL prints as "" */
void xsp_emit_bool(xsp_emit_t *e, bool v);
void xsp_emit_i32(xsp_emit_t *e, int32_t v);
void xsp_emit_u32(xsp_emit_t *e, uint32_t v);
void xsp_emit_i64(xsp_emit_t *e, int64_t v);
void xsp_emit_u64(xsp_emit_t *e, uint64_t v);
/*  A symbolic value (enum value, union kind, error code): bare in text, a string in JSON. */
void xsp_emit_word(xsp_emit_t *e, const char *w);
/*  An enum value: its name, or "(invalid N)" when name is NULL. */
void xsp_emit_enum(xsp_emit_t *e, const char *name, int value);
void xsp_emit_null(xsp_emit_t *e);
void xsp_emit_string_list(xsp_emit_t *e, const xsp_string_list_t *l);
void xsp_emit_string_map(xsp_emit_t *e, const xsp_string_map_t *m);

/*  Mode for a generated `_format(b, p, indent)` / `_to_json(b, p, indent)`. */
static inline xsp_emit_mode_t xsp_emit_text_mode(int indent)
{
    return indent < 0 ? XSP_EMIT_LINE : XSP_EMIT_TEXT;
}
static inline xsp_emit_mode_t xsp_emit_json_mode(int indent)
{
    return indent < 0 ? XSP_EMIT_JSON : XSP_EMIT_JSON_PRETTY;
}

#ifdef __cplusplus
}
#endif
#endif

/*  idl_emit.c — the three layouts behind every generated printer (see xsp/idl_emit.h).

    Owns: text layout (labels, indentation, lazy "{}"/"[]" for empty containers), the
    one-line form, JSON (compact and pretty), and string escaping for each (UTF-8 aware:
    valid sequences pass through, invalid bytes are escaped or replaced).
    Never touches: generated types; the walkers call in here.

    State: a stack of open containers.  Writing a label ("name:", "[3]:", "\"key\":") opens
    a slot; the next value fills it.  In TEXT mode a container's label line is left open
    until its first child (then "\n") or its end (then " {}" / " []"), so empty containers
    stay on one line.
*/
#include "xsp/idl_emit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "xsp/error.h"

/* ------------------------------------------------------------------ strings */

/* length of the valid UTF-8 sequence at s (n bytes available), or 0 if invalid */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;              /* no UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < need)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return need;
}

static void text_string(xsp_buf_t *b, const char *str)
{
    const unsigned char *s = (const unsigned char *) (str ? str : "");
    size_t n = strlen((const char *) s);

    xsp_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k;
        if (c == '"' || c == '\\') {
            xsp_buf_putc(b, '\\');
            xsp_buf_putc(b, (char) c);
            i++;
        } else if (c == '\n') {
            xsp_buf_puts(b, "\\n");
            i++;
        } else if (c == '\t') {
            xsp_buf_puts(b, "\\t");
            i++;
        } else if (c == '\r') {
            xsp_buf_puts(b, "\\r");
            i++;
        } else if (c < 0x20 || c == 0x7f || (k = utf8_len(s + i, n - i)) == 0) {
            xsp_buf_printf(b, "\\x%02x", c);
            i++;
        } else {
            xsp_buf_append(b, s + i, k);
            i += k;
        }
    }
    xsp_buf_putc(b, '"');
}

static void json_string(xsp_buf_t *b, const char *str)
{
    const unsigned char *s = (const unsigned char *) (str ? str : "");
    size_t n = strlen((const char *) s);

    xsp_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k;
        switch (c) {
        case '"': xsp_buf_puts(b, "\\\""); i++; continue;
        case '\\': xsp_buf_puts(b, "\\\\"); i++; continue;
        case '\n': xsp_buf_puts(b, "\\n"); i++; continue;
        case '\t': xsp_buf_puts(b, "\\t"); i++; continue;
        case '\r': xsp_buf_puts(b, "\\r"); i++; continue;
        case '\b': xsp_buf_puts(b, "\\b"); i++; continue;
        case '\f': xsp_buf_puts(b, "\\f"); i++; continue;
        default: break;
        }
        if (c < 0x20) {
            xsp_buf_printf(b, "\\u%04x", c);
            i++;
        } else if ((k = utf8_len(s + i, n - i)) == 0) {
            xsp_buf_puts(b, "\\ufffd");
            i++;
        } else {
            xsp_buf_append(b, s + i, k);
            i += k;
        }
    }
    xsp_buf_putc(b, '"');
}

/* ------------------------------------------------------------------ layout */

static bool is_json(const xsp_emit_t *e)
{
    return e->mode == XSP_EMIT_JSON || e->mode == XSP_EMIT_JSON_PRETTY;
}

void xsp_emit_start(xsp_emit_t *e, xsp_buf_t *b, xsp_emit_mode_t mode, int indent)
{
    memset(e, 0, sizeof *e);
    e->b = b;
    e->mode = mode;
    e->indent = indent < 0 ? 0 : indent;
}

int xsp_emit_finish(xsp_emit_t *e)
{
    if (e->phantom || e->depth) {
        e->b->failed = true;      /* nesting too deep, or unbalanced walker */
    }
    return xsp_buf_status(e->b);
}

typedef enum { LABEL_FIELD, LABEL_INDEX, LABEL_KEY } label_t;

static void slot(xsp_emit_t *e, label_t kind, const char *name, size_t index)
{
    xsp_buf_t *b = e->b;
    int ci;

    if (e->phantom)
        return;
    if (e->depth == 0) {
        /* a label outside any container: print the value as if at top level */
        e->slot_open = false;
        return;
    }
    ci = e->stack[e->depth - 1].child_indent;
    switch (e->mode) {
    case XSP_EMIT_TEXT:
        if (e->stack[e->depth - 1].count == 0 && e->stack[e->depth - 1].header)
            xsp_buf_putc(b, '\n');
        xsp_buf_spaces(b, ci);
        if (kind == LABEL_FIELD)
            xsp_buf_puts(b, name);
        else if (kind == LABEL_INDEX)
            xsp_buf_printf(b, "[%zu]", index);
        else
            text_string(b, name);
        xsp_buf_putc(b, ':');
        break;
    case XSP_EMIT_LINE:
        if (e->stack[e->depth - 1].count)
            xsp_buf_puts(b, ", ");
        if (kind == LABEL_FIELD) {
            xsp_buf_puts(b, name);
            xsp_buf_puts(b, ": ");
        } else if (kind == LABEL_KEY) {
            text_string(b, name);
            xsp_buf_puts(b, ": ");
        }
        break;
    case XSP_EMIT_JSON:
    case XSP_EMIT_JSON_PRETTY:
        if (e->stack[e->depth - 1].count)
            xsp_buf_putc(b, ',');
        if (e->mode == XSP_EMIT_JSON_PRETTY) {
            xsp_buf_putc(b, '\n');
            xsp_buf_spaces(b, ci);
        }
        if (kind != LABEL_INDEX) {
            json_string(b, name);
            xsp_buf_puts(b, e->mode == XSP_EMIT_JSON_PRETTY ? ": " : ":");
        }
        break;
    }
    e->stack[e->depth - 1].count++;
    e->slot_open = true;
}

/* what goes before a value (scalar or container opening) */
static void value_prefix(xsp_emit_t *e)
{
    if (e->mode == XSP_EMIT_TEXT) {
        if (e->slot_open)
            xsp_buf_putc(e->b, ' ');
        else if (e->depth == 0)
            xsp_buf_spaces(e->b, e->indent);
    }
}

static void scalar_begin(xsp_emit_t *e)
{
    value_prefix(e);
}

static void scalar_end(xsp_emit_t *e)
{
    if (e->mode == XSP_EMIT_TEXT)
        xsp_buf_putc(e->b, '\n');
    e->slot_open = false;
}

static void open_(xsp_emit_t *e, char open, char close)
{
    int parent_ci = e->depth ? e->stack[e->depth - 1].child_indent : e->indent;

    if (e->phantom || e->depth == XSP_EMIT_MAX_DEPTH) {
        e->phantom++;
        return;
    }
    e->stack[e->depth].close = close;
    e->stack[e->depth].count = 0;
    e->stack[e->depth].header = false;
    switch (e->mode) {
    case XSP_EMIT_TEXT:
        /* top-level: children at the base indent; nested: 2 more than the label */
        e->stack[e->depth].header = e->slot_open;
        e->stack[e->depth].child_indent = e->slot_open ? parent_ci + 2 : e->indent;
        break;
    case XSP_EMIT_LINE:
        xsp_buf_putc(e->b, open);
        e->stack[e->depth].child_indent = 0;
        break;
    default:
        xsp_buf_putc(e->b, open);
        e->stack[e->depth].child_indent = (e->depth ? parent_ci : e->indent) + 2;
        break;
    }
    e->depth++;
    e->slot_open = false;
}

static void close_(xsp_emit_t *e)
{
    if (e->phantom) {
        e->phantom--;
        return;
    }
    if (e->depth == 0)
        return;
    e->depth--;
    switch (e->mode) {
    case XSP_EMIT_TEXT:
        if (e->stack[e->depth].count == 0) {
            const char *empty = e->stack[e->depth].close == ']' ? "[]" : "{}";
            if (e->stack[e->depth].header) {
                xsp_buf_putc(e->b, ' ');
            } else if (e->depth == 0) {
                xsp_buf_spaces(e->b, e->indent);
            }
            xsp_buf_puts(e->b, empty);
            xsp_buf_putc(e->b, '\n');
        }
        break;
    case XSP_EMIT_LINE:
        xsp_buf_putc(e->b, e->stack[e->depth].close);
        break;
    default:
        if (e->mode == XSP_EMIT_JSON_PRETTY && e->stack[e->depth].count) {
            xsp_buf_putc(e->b, '\n');
            xsp_buf_spaces(e->b, e->stack[e->depth].child_indent - 2);
        }
        xsp_buf_putc(e->b, e->stack[e->depth].close);
        break;
    }
    e->slot_open = false;
}

/* ------------------------------------------------------------------ the walker API */

void xsp_emit_struct_begin(xsp_emit_t *e)
{
    open_(e, '{', '}');
}

void xsp_emit_struct_end(xsp_emit_t *e)
{
    close_(e);
}

void xsp_emit_list_begin(xsp_emit_t *e, size_t n)
{
    (void) n;
    open_(e, '[', ']');
}

void xsp_emit_list_end(xsp_emit_t *e)
{
    close_(e);
}

void xsp_emit_map_begin(xsp_emit_t *e, size_t n)
{
    (void) n;
    open_(e, '{', '}');
}

void xsp_emit_map_end(xsp_emit_t *e)
{
    close_(e);
}

void xsp_emit_field(xsp_emit_t *e, const char *name)
{
    slot(e, LABEL_FIELD, name, 0);
}

void xsp_emit_index(xsp_emit_t *e, size_t i)
{
    slot(e, LABEL_INDEX, NULL, i);
}

void xsp_emit_key(xsp_emit_t *e, const char *key)
{
    slot(e, LABEL_KEY, key ? key : "", 0);
}

void xsp_emit_absent(xsp_emit_t *e, const char *name)
{
    if (e->mode == XSP_EMIT_LINE || e->phantom)
        return;
    slot(e, LABEL_FIELD, name, 0);
    xsp_emit_null(e);
}

void xsp_emit_null(xsp_emit_t *e)
{
    if (e->phantom)
        return;
    scalar_begin(e);
    xsp_buf_puts(e->b, is_json(e) ? "null" : "(none)");
    scalar_end(e);
}

void xsp_emit_str(xsp_emit_t *e, const char *s)
{
    if (e->phantom)
        return;
    scalar_begin(e);
    if (is_json(e))
        json_string(e->b, s);
    else
        text_string(e->b, s);
    scalar_end(e);
}

void xsp_emit_bool(xsp_emit_t *e, bool v)
{
    if (e->phantom)
        return;
    scalar_begin(e);
    xsp_buf_puts(e->b, v ? "true" : "false");
    scalar_end(e);
}

void xsp_emit_i32(xsp_emit_t *e, int32_t v)
{
    xsp_emit_i64(e, v);
}

void xsp_emit_u32(xsp_emit_t *e, uint32_t v)
{
    xsp_emit_u64(e, v);
}

void xsp_emit_i64(xsp_emit_t *e, int64_t v)
{
    if (e->phantom)
        return;
    scalar_begin(e);
    xsp_buf_printf(e->b, "%" PRId64, v);
    scalar_end(e);
}

void xsp_emit_u64(xsp_emit_t *e, uint64_t v)
{
    if (e->phantom)
        return;
    scalar_begin(e);
    xsp_buf_printf(e->b, "%" PRIu64, v);
    scalar_end(e);
}

void xsp_emit_word(xsp_emit_t *e, const char *w)
{
    if (e->phantom)
        return;
    scalar_begin(e);
    if (is_json(e))
        json_string(e->b, w);
    else
        xsp_buf_puts(e->b, w ? w : "");
    scalar_end(e);
}

void xsp_emit_enum(xsp_emit_t *e, const char *name, int value)
{
    char tmp[32];

    if (name == NULL) {
        snprintf(tmp, sizeof tmp, "(invalid %d)", value);
        name = tmp;
    }
    xsp_emit_word(e, name);
}

void xsp_emit_string_list(xsp_emit_t *e, const xsp_string_list_t *l)
{
    xsp_emit_list_begin(e, l->len);
    for (size_t i = 0; i < l->len; i++) {
        xsp_emit_index(e, i);
        xsp_emit_str(e, l->val[i]);
    }
    xsp_emit_list_end(e);
}

void xsp_emit_string_map(xsp_emit_t *e, const xsp_string_map_t *m)
{
    xsp_emit_map_begin(e, m->len);
    for (size_t i = 0; i < m->len; i++) {
        xsp_emit_key(e, m->val[i].key);
        xsp_emit_str(e, m->val[i].value);
    }
    xsp_emit_map_end(e);
}

/*  xsp/idl_buf.h — a growable, always NUL-terminated text buffer.

    Owns: xsp_buf_t, the output of every generated printer (`_format`, `_to_json`).
    Never touches: files or sockets (xsp_buf_write copies the bytes to a FILE* on request).

    Running out of memory never aborts: the buffer remembers it (`failed`), ignores later
    appends, and xsp_buf_status() reports XSP_E_SYSTEM.  A zeroed xsp_buf_t is an empty
    buffer.  Not thread-safe per buffer; no globals.
*/
#ifndef XSP_IDL_BUF_H
#define XSP_IDL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsp_buf {
    char *data;     /* NUL-terminated when non-NULL */
    size_t len;     /* bytes, without the NUL */
    size_t cap;
    bool failed;    /* an allocation failed: the content is truncated */
} xsp_buf_t;

#define XSP_BUF_INIT { NULL, 0, 0, false }

void xsp_buf_init(xsp_buf_t *b);
void xsp_buf_dispose(xsp_buf_t *b);
/*  Empty the buffer, keep its memory, clear `failed`. */
void xsp_buf_reset(xsp_buf_t *b);
void xsp_buf_append(xsp_buf_t *b, const void *p, size_t n);
void xsp_buf_puts(xsp_buf_t *b, const char *s);
void xsp_buf_putc(xsp_buf_t *b, char c);
void xsp_buf_spaces(xsp_buf_t *b, int n);
void xsp_buf_printf(xsp_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*  The text so far: never NULL ("" when empty). */
const char *xsp_buf_str(const xsp_buf_t *b);
/*  XSP_OK, or XSP_E_SYSTEM if an allocation failed. */
int xsp_buf_status(const xsp_buf_t *b);
/*  fwrite the content; XSP_OK, or XSP_E_SYSTEM on a write error or earlier failure. */
int xsp_buf_write(const xsp_buf_t *b, FILE *f);

#ifdef __cplusplus
}
#endif
#endif

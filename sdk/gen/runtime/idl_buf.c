/*  idl_buf.c — xsp_buf_t, the growable text buffer behind every generated printer.

    Owns: the buffer's memory and its out-of-memory state (see xsp/idl_buf.h).
    Never touches: anything else; no globals.
*/
#include "xsp/idl_buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xsp/error.h"

void xsp_buf_init(xsp_buf_t *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

void xsp_buf_dispose(xsp_buf_t *b)
{
    if (b == NULL)
        return;
    free(b->data);
    xsp_buf_init(b);
}

void xsp_buf_reset(xsp_buf_t *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = '\0';
}

/* room for n more bytes plus the NUL */
static bool reserve(xsp_buf_t *b, size_t n)
{
    size_t want, cap;
    char *p;

    if (b->failed)
        return false;
    if (n > SIZE_MAX - b->len - 1) {
        b->failed = true;
        return false;
    }
    want = b->len + n + 1;
    if (want <= b->cap)
        return true;
    cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void xsp_buf_append(xsp_buf_t *b, const void *p, size_t n)
{
    if (!reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void xsp_buf_puts(xsp_buf_t *b, const char *s)
{
    xsp_buf_append(b, s, strlen(s));
}

void xsp_buf_putc(xsp_buf_t *b, char c)
{
    xsp_buf_append(b, &c, 1);
}

void xsp_buf_spaces(xsp_buf_t *b, int n)
{
    if (n <= 0 || !reserve(b, (size_t) n))
        return;
    memset(b->data + b->len, ' ', (size_t) n);
    b->len += (size_t) n;
    b->data[b->len] = '\0';
}

void xsp_buf_printf(xsp_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if (!reserve(b, (size_t) n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
}

const char *xsp_buf_str(const xsp_buf_t *b)
{
    return b->data ? b->data : "";
}

int xsp_buf_status(const xsp_buf_t *b)
{
    return b->failed ? XSP_E_SYSTEM : XSP_OK;
}

int xsp_buf_write(const xsp_buf_t *b, FILE *f)
{
    if (b->failed)
        return XSP_E_SYSTEM;
    if (b->len && fwrite(b->data, 1, b->len, f) != b->len)
        return XSP_E_SYSTEM;
    return XSP_OK;
}

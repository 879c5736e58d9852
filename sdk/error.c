/*  error.c — the code table behind xsp/error.h.  Owns nothing else. */
#include "xsp/error.h"

#include <stdio.h>
#include <string.h>

static const struct { const char *name, *doc; } codes[] = {
#define XSP_X_ROW(e, name, doc) { name, doc },
    XSP_ERROR_CODES(XSP_X_ROW)
#undef XSP_X_ROW
};

const char *xsp_code_name(xsp_code_t code)
{
    if ((unsigned) code >= XSP_E__COUNT)
        return "unknown";
    return codes[code].name;
}

const char *xsp_code_doc(xsp_code_t code)
{
    if ((unsigned) code >= XSP_E__COUNT)
        return codes[XSP_E_UNKNOWN].doc;
    return codes[code].doc;
}

xsp_code_t xsp_code_from_name(const char *name, size_t len)
{
    for (int i = 0; i < XSP_E__COUNT; i++)
        if (strlen(codes[i].name) == len && memcmp(codes[i].name, name, len) == 0)
            return (xsp_code_t) i;
    return XSP_E_UNKNOWN;
}

int xsp_error_vset(xsp_error_t *err, xsp_code_t code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

int xsp_error_set(xsp_error_t *err, xsp_code_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xsp_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void xsp_error_clear(xsp_error_t *err)
{
    if (err) {
        err->code = XSP_OK;
        err->msg[0] = '\0';
    }
}

/*  idl_error_reply.c — xsp_error_t <-> error reply payload (see xsp/idl_error_reply.h).

    Owns: the glue between error.h's value type and the generated xsp_error_reply_t.
    Never touches: the error code list (error.h) or the payload layout (api_common.idl).
*/
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "xsp/idl_error_reply.h"

#include <stdio.h>
#include <string.h>

int xsp_error_reply_from_error(xsp_error_reply_t *r, const xsp_error_t *e)
{
    xsp_error_reply_init(r);
    r->code = e->code;
    if (xsp_str_copy(&r->message, e->msg))
        return XSP_E_SYSTEM;
    return XSP_OK;
}

int xsp_error_reply_set_detail(xsp_error_reply_t *r, const char *key, const char *value)
{
    r->has_detail = true;
    return xsp_string_map_set(&r->detail, key, value);
}

const char *xsp_error_reply_detail(const xsp_error_reply_t *r, const char *key)
{
    return r->has_detail ? xsp_string_map_get(&r->detail, key) : NULL;
}

int xsp_error_reply_to_error(const xsp_error_reply_t *r, xsp_error_t *err)
{
    char msg[XSP_ERROR_MSG_MAX];
    size_t len;

    snprintf(msg, sizeof msg, "%s", r->message ? r->message : "");
    len = strlen(msg);
    if (r->has_detail && r->detail.len) {
        for (size_t i = 0; i < r->detail.len && len + 1 < sizeof msg; i++) {
            int n = snprintf(msg + len, sizeof msg - len, "%s%s=%s", i == 0 ? " [" : ", ",
                             r->detail.val[i].key ? r->detail.val[i].key : "",
                             r->detail.val[i].value ? r->detail.val[i].value : "");
            if (n < 0)
                break;
            len += (size_t) n;
        }
        if (len + 1 < sizeof msg)
            snprintf(msg + len, sizeof msg - len, "]");
    }
    if (r->code == XSP_OK)      /* an error reply must carry an error */
        return xsp_error_set(err, XSP_E_APPLICATION, "error reply with code \"ok\": %s", msg);
    return xsp_error_set(err, r->code, "%s", msg);
}

int xsp_error_reply_pack(msgpack_packer *pk, xsp_code_t code, const char *message,
                         const xsp_string_map_t *detail, xsp_error_t *err)
{
    xsp_error_reply_t r;

    xsp_error_reply_init(&r);
    r.code = code;
    r.message = (char *) message;       /* borrowed: r is never disposed */
    if (detail) {
        r.has_detail = true;
        r.detail = *detail;
    }
    return xsp_error_reply_encode(pk, &r, err);
}

int xsp_error_from_reply_payload(const void *buf, size_t len, xsp_error_t *out)
{
    xsp_error_reply_t r;
    xsp_error_t derr;
    int rc;

    xsp_error_clear(&derr);
    rc = xsp_error_reply_unpack(buf, len, &r, &derr);
    if (rc)
        return xsp_error_set(out, XSP_E_APPLICATION, "undecodable error reply: %s", derr.msg);
    rc = xsp_error_reply_to_error(&r, out);
    xsp_error_reply_dispose(&r);
    return rc;
}

/*  xsp/idl_error_reply.h — between xsp_error_t and the error reply payload.

    Owns: the conversions a server uses to answer a failed call ({"code", "message",
    "detail"}, type xsp_error_reply_t from api_common.idl) and a client uses to turn such a
    payload back into an xsp_error_t.
    Never touches: sockets; the generated xsp_error_reply_* functions do the encoding.
*/
#ifndef XSP_IDL_ERROR_REPLY_H
#define XSP_IDL_ERROR_REPLY_H

#include "xsp/api_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Make *r (empty) say e->code / e->msg, without details: XSP_OK or XSP_E_SYSTEM. */
int xsp_error_reply_from_error(xsp_error_reply_t *r, const xsp_error_t *e);
/*  Add or replace one detail (e.g. "host" for activated-on-another-host). */
int xsp_error_reply_set_detail(xsp_error_reply_t *r, const char *key, const char *value);
/*  The detail `key`, or NULL. */
const char *xsp_error_reply_detail(const xsp_error_reply_t *r, const char *key);
/*  *err = r's code and message, details appended as " [key=value, ...]" (truncated to
    XSP_ERROR_MSG_MAX).  Returns the code. */
int xsp_error_reply_to_error(const xsp_error_reply_t *r, xsp_error_t *err);
/*  Pack an error reply in one call; detail may be NULL.  XSP_OK or an encode error. */
int xsp_error_reply_pack(msgpack_packer *pk, xsp_code_t code, const char *message,
                         const xsp_string_map_t *detail, xsp_error_t *err);
/*  Client side: the error a reply payload (status 1) stands for.  Always fills *out: with
    the server's code and message, or, when the payload cannot be decoded, with
    XSP_E_APPLICATION and the decode error.  Returns out->code. */
int xsp_error_from_reply_payload(const void *buf, size_t len, xsp_error_t *out);

#ifdef __cplusplus
}
#endif
#endif

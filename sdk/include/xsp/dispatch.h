/*  xsp/dispatch.h — the server half of typed API calls: one delivered request as a typed
    call a handler answers now or later.

    Owns: xsp_call_t (a decoded request: its method row, its args, the request it answers),
    the strict decoding of a request payload (envelope, method, args), and every way to
    answer: a typed result (xsp_call_reply, wrapped per method by the generated
    <xsp/MODULE_server.h> as e.g. xsp_datapath_attach_reply) or an error reply
    (xsp_call_fail: code, sentence, optional detail map).
    Never touches: sockets or credit (server.c), args/result layouts (generated code,
    reached through xsp_method_info_t), the choice of handler (the generated dispatcher,
    e.g. xsp_storage_dispatch, switches on the method id and calls the ops table).

    Life of a call (the generated dispatcher does steps 1-3 and 5):
      1. xsp_call_begin   unpack the payload and find the method; a malformed payload is
                          answered `decode`, an unknown method `unimplemented`.  A
                          well-formed request is read here in one pass, args included
                          (xsp/idl_reader.h: no tree, no heap call per string); only what
                          that fast path refuses takes the strict steps below, which say why;
      2. (a NULL op)      xsp_call_unimplemented answers `unimplemented`;
      3. xsp_call_decode  decode the args strictly (nothing to do when step 1 read them);
                          failures are answered `decode` with the
                          field path ("Datapath.attach args: uri: expected string, got
                          integer");
      4. the op runs      and answers exactly once, NOW (before it returns) or LATER (from
                          any thread, e.g. a timer in the plugin's loop or a worker), with
                          a typed reply or xsp_call_fail;
      5. xsp_call_end     if the op returned a non-zero code WITHOUT answering, the call is
                          answered with that code.  So `return xsp_call_fail(call, ...)`,
                          `return xsp_datapath_attach_reply(call, &b)`, `return 0` (answered
                          or will answer later) and `return XSP_E_BACKEND_FAILURE` (answer
                          for me) are all correct.
    Peer input never aborts and never leaks: every failure path answers the request and
    frees what was decoded.

    THREAD-SAFETY: steps 1-3 and 5 run on the thread that runs the request's handler.  A
    call may be answered from any thread (answers go out through xsp_request_reply, which
    is thread-safe), but by exactly one: answering twice is a bug (detected and logged while
    the dispatcher still holds the call, undefined afterwards).
    OWNERSHIP: the call owns its decoded args and its request.  Both stay valid until the
    call is answered (and the op has returned); do not touch the call, its args or its
    request after answering.  A result or detail map given to an answer is only read.
*/
#ifndef XSP_DISPATCH_H
#define XSP_DISPATCH_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "xsp/error.h"
#include "xsp/idl_method.h"
#include "xsp/idl_strings.h"
#include "xsp/server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsp_call xsp_call_t;

/* ------------------------------------------------------------------ answering */

/*  Answer with the method's result (a pointer to its result type; ignored, may be NULL,
    for methods without a result).  If the result cannot be encoded (e.g. an enum out of
    range) the call is answered `internal` instead.  Returns XSP_OK or the code answered. */
int xsp_call_reply(xsp_call_t *call, const void *result);

/*  Answer with an error reply {code, message, detail}.  code must be an error (XSP_OK is
    answered as `internal`); detail (NULL = none) holds the keys docs/api.md lists for the
    code, e.g. {"host": ...} for activated-on-another-host.  The message is one sentence,
    at most 1024 bytes (longer is cut).  Returns code, so a handler can
    `return xsp_call_fail(call, XSP_E_VOLUME_DOES_NOT_EXIST, XSP_DETAIL1("key", k),
                          "no volume %s in %s", k, sr);` */
int xsp_call_fail(xsp_call_t *call, xsp_code_t code, const xsp_string_map_t *detail,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int xsp_call_failv(xsp_call_t *call, xsp_code_t code, const xsp_string_map_t *detail,
                   const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/*  A detail map on the stack, for xsp_call_fail (keys and values are only read). */
#define XSP_DETAIL1(k1, v1) \
    (&(const xsp_string_map_t) { 1, (xsp_string_pair_t[]) { { (char *) (k1), (char *) (v1) } } })
#define XSP_DETAIL2(k1, v1, k2, v2) \
    (&(const xsp_string_map_t) { 2, (xsp_string_pair_t[]) { { (char *) (k1), (char *) (v1) }, \
                                                            { (char *) (k2), (char *) (v2) } } })
#define XSP_DETAIL3(k1, v1, k2, v2, k3, v3) \
    (&(const xsp_string_map_t) { 3, (xsp_string_pair_t[]) { { (char *) (k1), (char *) (v1) }, \
                                                            { (char *) (k2), (char *) (v2) }, \
                                                            { (char *) (k3), (char *) (v3) } } })

/* ------------------------------------------------------------------ accessors */

/*  The method row (wire name, id, ...).  Valid until answered. */
const xsp_method_info_t *xsp_call_method(const xsp_call_t *call);
/*  The decoded args struct (the generated dispatcher passes it to the op, typed).  Valid
    until answered. */
const void *xsp_call_args(const xsp_call_t *call);
/*  The request being answered: caller's peer id, claimed domid, switch dbg, time left
    (xsp/server.h accessors).  Valid until answered. */
xsp_request_t *xsp_call_request(const xsp_call_t *call);

/* ------------------------------------------------------------------ for generated dispatchers */

/*  Step 1.  XSP_OK and *out, or the error already answered (*out NULL, req gone). */
int xsp_call_begin(xsp_request_t *req, const xsp_method_info_t *table, size_t n,
                   xsp_call_t **out);
/*  Step 2: answer `unimplemented` and finish the call.  Returns XSP_E_UNIMPLEMENTED. */
int xsp_call_unimplemented(xsp_call_t *call);
/*  Step 3.  XSP_OK, or XSP_E_DECODE already answered and the call finished. */
int xsp_call_decode(xsp_call_t *call);
/*  Step 5: the op returned rc.  Returns rc (XSP_OK: answered or will be answered). */
int xsp_call_end(xsp_call_t *call, int rc);

#ifdef __cplusplus
}
#endif
#endif

/*  xsp/stub.h — the client half of typed API calls: what generated client stubs call.

    Owns: turning a typed request (a row of a generated method table plus its args struct)
    into a call through xsp/client.h, and turning the answer back into a typed result or an
    error value:
      - transport errors exactly as the client reports them (timeout, expired, ...);
      - a plugin's error reply (RESULT status 1, an `error_reply` payload) as its code, with
        err->msg = the plugin's sentence plus its details " [key=value, ...]", and the
        decoded record itself in *error_reply when the caller asks for it;
      - a malformed answer as XSP_E_DECODE naming the method and the field path
        ("Datapath.attach result: implementations[1].params: expected string, got
        integer"); an error reply with a code this build does not know as XSP_E_UNKNOWN
        (the message quotes the code); any other status as XSP_E_APPLICATION.
    Never touches: sockets (client.c), the layout of args and results (generated code),
    server-side dispatch (xsp/dispatch.h).

    Application code calls the generated stubs in <xsp/MODULE_client.h> (e.g.
    xsp_datapath_attach(), xsp_datapath_attach_send()); the functions here are for generated
    code and for generic tools that call any method through its xsp_method_info_t row.

    THREAD-SAFETY: as xsp/client.h — a client is used by one thread at a time.  No globals.
    OWNERSHIP: args are only read (encoded before the function returns).  result and
    error_reply are caller-owned outputs, always left valid (empty on failure); dispose them
    with the method's _result_dispose / xsp_error_reply_dispose.  In an asynchronous
    completion, result and error_reply are borrowed for the duration of the callback: to
    keep the result, copy it (the type's _copy); never move its strings or arrays out (a
    result read by the fast path lives in an arena that is dropped after the callback).

    An asynchronous stub call keeps its small context (method row, callback, result
    storage) inside the client's call (xsp_client_send_ctx), so it is freed exactly once
    however the call ends: completion, xsp_client_cancel() or xsp_client_destroy().
*/
#ifndef XSP_STUB_H
#define XSP_STUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xsp/client.h"
#include "xsp/error.h"
#include "xsp/idl_error_reply.h"
#include "xsp/idl_method.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  The dbg of a call: the API's dbg argument when given, else opts->dbg (else NULL).  Stubs
    send it both as the args' `dbg` and as the switch REQUEST's dbg, so one string follows
    the call through the caller's logs, the switch trace and the plugin's logs. */
static inline const char *xsp_stub_dbg(const char *dbg, const xsp_call_opts_t *opts)
{
    return dbg ? dbg : opts ? opts->dbg : NULL;
}

/*  Synchronous call of method `mi` with `args` (its args struct) on queue.  dbg (NULL =
    opts->dbg) is the switch dbg.  On XSP_OK *result (mi->result_size bytes; NULL to drop
    it; ignored for methods without a result) holds the decoded result.  When the plugin
    answered with an error reply and error_reply is not NULL, *error_reply holds it (code,
    message, detail); otherwise it is left empty.  Returns err->code. */
int xsp_stub_call(xsp_client_t *client, const char *queue, const xsp_call_opts_t *opts,
                  const xsp_method_info_t *mi, const char *dbg, const void *args,
                  void *result, xsp_error_reply_t *error_reply, xsp_error_t *err);

/*  Completion of an asynchronous stub call, called once inside xsp_client_process():
    result is the decoded result when err->code is XSP_OK and the method has one (else
    NULL); error_reply is the plugin's error reply when it sent one (else NULL).  `fn` and
    `arg` are what was given to xsp_stub_send: generated code passes the application's
    typed callback as fn and calls it through its own type. */
typedef void xsp_stub_done_fn(xsp_client_t *client, uint64_t call_id, const xsp_error_t *err,
                              void *result, const xsp_error_reply_t *error_reply,
                              void (*fn)(void), void *arg);

/*  Start an asynchronous call; done (may be NULL: fire and forget) runs exactly once, as
    for xsp_client_send().  Returns 0, or an error code without ever calling done. */
int xsp_stub_send(xsp_client_t *client, const char *queue, const xsp_call_opts_t *opts,
                  const xsp_method_info_t *mi, const char *dbg, const void *args,
                  xsp_stub_done_fn *done, void (*fn)(void), void *arg, uint64_t *call_id,
                  xsp_error_t *err);

/*  Turn the outcome of a raw call (call_err and reply as xsp_client_call / xsp_done_fn
    give them) into a typed result or an error, as described at the top.  result and
    error_reply as for xsp_stub_call.  Returns err->code. */
int xsp_stub_decode(const xsp_method_info_t *mi, const xsp_error_t *call_err,
                    const xsp_reply_t *reply, void *result, xsp_error_reply_t *error_reply,
                    xsp_error_t *err);

/*  Encode the request payload of mi with args into a new malloc'd buffer (*buf, *len; the
    caller frees *buf).  XSP_OK or an encode error naming the field. */
int xsp_stub_encode(const xsp_method_info_t *mi, const void *args, void **buf, size_t *len,
                    xsp_error_t *err);

#ifdef __cplusplus
}
#endif
#endif

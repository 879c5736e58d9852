/*  xsp/server.h — the serving side: take requests from queues, answer them.

    Owns: one connection (session) to the switch, the server's subscriptions and their
    credit, every request delivered and not yet answered, and an optional pool of worker
    threads for blocking handlers.
    Never touches: payload contents (opaque bytes), signal dispositions other than
    SIGINT/SIGTERM in xsp_server_run (and those only while they are SIG_DFL).

    Flow: xsp_server_subscribe(queue, credit, handler) -> the switch delivers up to
    `credit` requests at a time -> the handler runs with an xsp_request_t -> it answers
    with xsp_request_reply() right away or LATER (keep the pointer, answer from your loop
    or another thread), so one slow request never blocks the others.  Each answer gives
    the credit back.  After a switch restart the server says HELLO and SUBSCRIBEs again by
    itself; requests it held from the old switch are void (their answers are dropped
    locally: the switch that wanted them is gone, and the clients resend).

    Loops: xsp_server_run() blocks until xsp_server_stop() or SIGINT/SIGTERM; or use
    xsp_server_fd() / xsp_server_timeout_ms() / xsp_server_process() in a foreign loop,
    exactly like the client (see xsp/client.h).

    Workers: xsp_server_set_workers(s, n) runs handlers on n threads (for handlers that
    block).  The I/O thread still owns the socket; replies made on any thread are queued
    and sent by the I/O thread (it is woken through the pollable fd).  With n workers each
    subscription's credit is capped at n, so a server never takes more requests than it
    can run at once (a handler that returns without answering still holds its credit
    until it answers).  Without workers the credit is what the caller asked for.

    THREAD-SAFETY: the server is used by one thread (the "I/O thread": the one calling
    run/process/subscribe/destroy).  Exceptions, callable from any thread:
    xsp_server_stop() (also async-signal-safe), xsp_server_max_payload(),
    xsp_request_reply(), xsp_request_release() and the read-only xsp_request_*
    accessors.
    OWNERSHIP: the caller owns the server.  A request handed to a handler belongs to the
    application until it calls exactly one of xsp_request_reply() or
    xsp_request_release(); both free it (do not touch it afterwards).  Strings and bodies
    read from a request are valid until then.  Destroying a server frees requests still
    unanswered (a bug in the application; logged) — their pointers become invalid.
*/
#ifndef XSP_SERVER_H
#define XSP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xsp/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsp_server xsp_server_t;
typedef struct xsp_request xsp_request_t;

/*  A handler: runs on the I/O thread (inside run/process), or on a worker thread when
    workers are set.  It must answer or release req exactly once, now or later. */
typedef void xsp_handler_fn(xsp_server_t *server, xsp_request_t *req, void *arg);

/*  Connect (endpoint NULL = the xsp/endpoint.h rule) and wait up to 5 s for WELCOME.
    name NULL = "xsp-server", role NULL = "server".  NULL + err on failure. */
xsp_server_t *xsp_server_new(const char *endpoint, const char *name, const char *role,
                             uint32_t domid, xsp_error_t *err);

/*  The same with every setting in one struct (zero-initialise it; NULL opts = defaults). */
typedef struct {
    const char *endpoint;   /* NULL = the xsp/endpoint.h rule */
    const char *name;       /* NULL = "xsp-server" */
    const char *role;       /* NULL = "server" */
    uint32_t domid;
    void *zmq_ctx;          /* NULL = an own libzmq context; else one to share, borrowed
                               (see xsp_client_opts_t.zmq_ctx) */
} xsp_server_opts_t;
xsp_server_t *xsp_server_new_opts(const xsp_server_opts_t *opts, xsp_error_t *err);
/*  Stop workers (waits for running handlers to return), say BYE (the switch gives our
    unanswered requests to other servers), free everything.  *self_p becomes NULL. */
void xsp_server_destroy(xsp_server_t **self_p);

/*  Serve queue: up to `credit` requests at a time.  The credit used is what was asked
    (0 counts as 1), lowered (logged at info) to the switch's max_credit and, only when
    the server has workers, to the worker count; without workers it is exactly what was
    asked, so handlers that answer LATER keep that many requests in hand.  Subscribing a
    queue again adds credit and replaces the handler.  Returns 0 or an error code (bad
    queue name). */
int xsp_server_subscribe(xsp_server_t *self, const char *queue, unsigned credit,
                         xsp_handler_fn *fn, void *arg, xsp_error_t *err);
/*  Stop taking requests from queue; requests already delivered may still be answered. */
int xsp_server_unsubscribe(xsp_server_t *self, const char *queue, xsp_error_t *err);

/*  A new-session hook: fn(server, arg) runs on the I/O thread, inside process/run, each
    time the server starts a new session with a restarted switch — after the SUBSCRIBEs of
    every queue went out again and BEFORE any request of the new session reaches a handler
    (on this thread or a worker), so a handler never sees the new session before the hook
    has run.  Not called for the first session (xsp_server_new returns with it).  One hook;
    setting it again replaces it; fn NULL removes it. */
typedef void xsp_server_session_fn(xsp_server_t *server, void *arg);
void xsp_server_on_session(xsp_server_t *self, xsp_server_session_fn *fn, void *arg);

/*  Run handlers on n worker threads (0 = on the I/O thread, the default).  Call before
    subscribing (after, it fails with XSP_E_INVALID_ARGUMENT: the credit already asked for
    was not capped at n); may be called once.  Returns 0 or an error code. */
int xsp_server_set_workers(xsp_server_t *self, unsigned n, xsp_error_t *err);

/*  Blocking loop: returns 0 after xsp_server_stop() or SIGINT/SIGTERM (handlers for those
    are installed while they are SIG_DFL; once caught, the process-wide flag stays set and
    every run returns), -1 if the switch refused us for good (protocol version). */
int xsp_server_run(xsp_server_t *self);
/*  Make run() return soon.  Any thread; async-signal-safe. */
void xsp_server_stop(xsp_server_t *self);
/*  true once SIGINT or SIGTERM was caught by the handler xsp_server_run installs. */
bool xsp_server_interrupted(void);

/*  Foreign loops: watch fd for reading (stable for the server's life), call process when
    it is readable or timeout_ms has passed.  process never blocks; it returns the number
    of messages handled, or -1 once the server was stopped. */
int xsp_server_fd(const xsp_server_t *self);
int xsp_server_timeout_ms(const xsp_server_t *self);
int xsp_server_process(xsp_server_t *self);

/*  Number of requests delivered and not yet answered or released. */
size_t xsp_server_pending(const xsp_server_t *self);
/*  The switch's max_payload from the last WELCOME (any thread, e.g. a handler on a
    worker).  The peer id the switch gave us (I/O thread). */
uint64_t xsp_server_max_payload(const xsp_server_t *self);
uint64_t xsp_server_peer_id(const xsp_server_t *self);

/* ------------------------------------------------------------------ requests */

/*  Read-only accessors (any thread, until the request is answered or released).
    Strings are NUL-terminated. */
const char *xsp_request_queue(const xsp_request_t *req);
uint64_t xsp_request_msg_id(const xsp_request_t *req);
const char *xsp_request_dbg(const xsp_request_t *req);
const void *xsp_request_body(const xsp_request_t *req);   /* NULL when size is 0 */
size_t xsp_request_size(const xsp_request_t *req);
uint64_t xsp_request_peer_id(const xsp_request_t *req);   /* the caller's peer id */
uint32_t xsp_request_domid(const xsp_request_t *req);     /* the caller's claimed domid */
unsigned xsp_request_flags(const xsp_request_t *req);     /* XSP_FLAG_AT_MOST_ONCE */
/*  Milliseconds until the caller's deadline (0 = passed: nobody waits any more),
    or -1 when the request has none. */
int64_t xsp_request_time_left_ms(const xsp_request_t *req);

/*  Answer: status 0 (OK) or 1 (the server's own error; body is its error body), body of
    len bytes (copied; NULL when len is 0).  Frees req.  Any thread.  Returns 0, or -1 if
    the answer could not be queued (out of memory: the request is then released). */
int xsp_request_reply(xsp_request_t *req, unsigned status, const void *body, size_t len);
/*  Give up a request without answering.  Frees req.  Any thread.  The switch keeps it in
    flight: when its deadline passes the client gets `expired`; when this server's session
    ends it goes to another server (or fails with server-lost if at-most-once).  The
    subscription's credit stays taken at least until the deadline passes (for a request
    without a deadline: until the session ends), so release only requests nobody waits for
    any more (xsp_request_time_left_ms() == 0), or when shutting down. */
void xsp_request_release(xsp_request_t *req);

#ifdef __cplusplus
}
#endif
#endif

/*  xsp/client.h — the calling side: send requests to queues, get answers.

    Owns: one connection (session) to the switch and every call made through it:
    correlation ids, deadlines, resending after a switch restart, completion callbacks;
    also the DIAG request and the trace stream for tools.
    Never touches: payload contents (bodies are opaque bytes), threads (there are none:
    the client does work only inside the calls below), signals.

    Two ways to use it:
      * synchronous: xsp_client_call() sends one request and waits for its answer;
      * asynchronous, no threads: xsp_client_send() starts a call and returns at once;
        register xsp_client_fd() in your event loop (poll, libxl osevent hooks, glib) for
        reading, call xsp_client_process() when it is readable and when
        xsp_client_timeout_ms() has passed; completion callbacks run inside process().
        Thousands of calls may be in flight: calls are kept in a hash table by id and a
        deadline heap (no per-message scans).

    Reconnect: when the switch restarts (or is silent for 3 heartbeat intervals) the
    client says HELLO again by itself.  Then every outstanding call is resent if it is
    idempotent (the default), or fails with XSP_E_DISCONNECTED if it was sent
    XSP_CALL_AT_MOST_ONCE (it may or may not have run).  Calls started while there is no
    session wait locally and are sent once one is up (their own timeout still runs).

    Persistent calls (XSP_CALL_PERSISTENT; a switch run with --state-dir, docs/protocol.md
    §6.1, docs/reliability.md): the switch journals the request (fdatasync, shared by a
    batch) and says ACCEPTED before queueing it; xsp_client_accepted() tells.  A call the
    switch ACCEPTED survives a switch crash: after the restart it is neither resent nor
    failed but keeps waiting for its answer, which the restarted switch sends to this
    client's identity (xsp_client_opts_t.identity) — so persistent calls need an
    identity: without one, an accepted call outstanding at a reconnect fails with
    XSP_E_DISCONNECTED (the switch still runs it, but its answer cannot reach us).  A
    persistent call not yet ACCEPTED at a reconnect is resent like any other (at least
    once; AT_MOST_ONCE ones fail as above).  A duplicate answer after a switch crash is
    dropped (its call is no longer outstanding).

    Errors are values (xsp/error.h): a call ends with exactly one of
      XSP_OK            the server answered with status 0; reply->body is the answer;
      XSP_E_APPLICATION the server answered with status != 0 (1 = its own error); the reply
                        (status and body) is available as for XSP_OK;
      XSP_E_TIMEOUT     the caller's own wait limit (wait_ms) passed;
      any switch ERROR  XSP_E_EXPIRED, XSP_E_QUEUE_FULL, XSP_E_TOO_LARGE,
                        XSP_E_TOO_MANY_OUTSTANDING, XSP_E_TOO_MANY_QUEUES,
                        XSP_E_SERVER_LOST, XSP_E_INVALID_ARGUMENT, XSP_E_SHUTDOWN,
                        XSP_E_PROTOCOL, XSP_E_UNKNOWN (a code this build does not know);
                        err->msg is the switch's sentence;
      XSP_E_DISCONNECTED an at-most-once call outstanding when the switch restarted.

    THREAD-SAFETY: none.  A client is used by one thread at a time (no internal locks);
    different clients are independent and may live on different threads.
    OWNERSHIP: the caller owns the client (destroy it with xsp_client_destroy); the client
    copies every argument it keeps (queue, dbg, body); replies are owned as documented at
    xsp_reply_t.
*/
#ifndef XSP_CLIENT_H
#define XSP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xsp/error.h"
#include "xsp/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsp_client xsp_client_t;

/* ------------------------------------------------------------------ creation */

#define XSP_CONNECT_TIMEOUT_MS 5000     /* default wait for WELCOME */

typedef struct {
    const char *endpoint;   /* NULL = xsp_endpoint_resolve() rule (XSP_SWITCH, run dir) */
    const char *name;       /* peer name shown in diagnostics/traces; NULL = "xsp-client" */
    const char *role;       /* NULL = "client" */
    uint32_t domid;         /* domain the caller runs in (a claim); 0 = dom0 */
    int connect_timeout_ms; /* wait for WELCOME: 0 = XSP_CONNECT_TIMEOUT_MS;
                               -1 = do not wait (calls wait locally until connected) */
    const char *identity;   /* this client's identity (its ZeroMQ routing id, 1-255
                               bytes, not starting with a 0 byte), stable across
                               reconnects AND across restarts of this process: answers to
                               persistent calls follow it.  Unique among the switch's
                               peers.  NULL = none (libzmq's generated id).  With an
                               identity, call ids start from a clock-derived value so a
                               restarted process never mistakes an answer meant for its
                               previous life for one of its own calls. */
    void *zmq_ctx;          /* NULL = the client creates its own libzmq context (and with
                               it an I/O thread).  Else a context to share (e.g. with the
                               process's servers: one I/O thread for all, cheaper when they
                               share a core); borrowed: it must outlive the client, which
                               never terminates it. */
} xsp_client_opts_t;

/*  Connect and say HELLO, waiting up to XSP_CONNECT_TIMEOUT_MS for WELCOME.
    NULL + err on failure, e.g. XSP_E_DISCONNECTED "no switch answered at ENDPOINT within
    5000 ms", XSP_E_TOO_MANY_PEERS. */
xsp_client_t *xsp_client_new(const char *endpoint, const char *name, xsp_error_t *err);
xsp_client_t *xsp_client_new_opts(const xsp_client_opts_t *opts, xsp_error_t *err);
/*  Say BYE and free everything.  Outstanding calls are dropped without callbacks (their
    drop hooks run: see xsp_client_send_ctx).
    *self_p becomes NULL; NULL or *NULL is a no-op.  Not from inside a callback. */
void xsp_client_destroy(xsp_client_t **self_p);

/*  The endpoint in use, and what the switch said in its last WELCOME. */
const char *xsp_client_endpoint(const xsp_client_t *self);
uint64_t xsp_client_peer_id(const xsp_client_t *self);
uint64_t xsp_client_max_payload(const xsp_client_t *self);
bool xsp_client_connected(const xsp_client_t *self);

/* ------------------------------------------------------------------ calls */

#define XSP_CALL_AT_MOST_ONCE  0x1u             /* = XSP_FLAG_AT_MOST_ONCE on the wire */
#define XSP_CALL_PERSISTENT    0x2u             /* = XSP_FLAG_PERSISTENT: journaled first */
#define XSP_CALL_DEFAULT_TIMEOUT_MS 30000u
#define XSP_TIMEOUT_INFINITE   UINT32_MAX       /* for timeout_ms / wait_ms */
#define XSP_CALL_GRACE_MS      500u             /* default wait_ms = timeout_ms + this */

typedef struct {
    /*  The request's deadline, told to the switch (it answers XSP_E_EXPIRED when it
        passes, queued or in flight).  0 = XSP_CALL_DEFAULT_TIMEOUT_MS;
        XSP_TIMEOUT_INFINITE = no deadline. */
    uint32_t timeout_ms;
    /*  The caller's own limit: XSP_E_TIMEOUT when no answer came by then.
        0 = timeout_ms + XSP_CALL_GRACE_MS (so the switch's `expired` normally arrives
        first; infinite when timeout_ms is).  Counted from the send call. */
    uint32_t wait_ms;
    unsigned flags;         /* XSP_CALL_AT_MOST_ONCE, XSP_CALL_PERSISTENT */
    const char *dbg;        /* free text recorded in traces and passed to the server
                               (<= 1024 bytes); NULL = "" */
} xsp_call_opts_t;

/*  An answer.  body points to len bytes (NULL when len is 0) owned by the reply until
    xsp_reply_dispose().  A zero-initialised xsp_reply_t is empty and may be disposed. */
typedef struct {
    unsigned status;        /* 0 OK, 1 the server's error, other values passed through */
    const void *body;
    size_t len;
    uint64_t msg_id;        /* the switch's id for the request */
    uint64_t service_us;    /* delivery to reply, measured by the switch */
    void *priv_;            /* internal: the frame holding body */
} xsp_reply_t;

/*  Free the body; the reply becomes empty.  NULL is a no-op. */
void xsp_reply_dispose(xsp_reply_t *reply);
/*  Move src into dst (dst must be empty or disposed); src becomes empty. */
void xsp_reply_move(xsp_reply_t *dst, xsp_reply_t *src);

/*  Synchronous call: send body (len bytes; body may be NULL when len is 0) to queue and
    wait for the answer.  Returns err->code: XSP_OK or XSP_E_APPLICATION with *out filled
    (the caller owns it: xsp_reply_dispose); other codes leave *out empty.  opts NULL =
    defaults.  While waiting, callbacks of this client's asynchronous calls may run. */
int xsp_client_call(xsp_client_t *self, const char *queue, const void *body, size_t len,
                    const xsp_call_opts_t *opts, xsp_reply_t *out, xsp_error_t *err);

/*  Completion of an asynchronous call: runs exactly once per call (never for a cancelled
    one), inside xsp_client_process() (or xsp_client_call()).  err->code as described at
    the top.  reply is borrowed: empty unless err->code is XSP_OK or XSP_E_APPLICATION,
    disposed after the callback returns unless the callback takes it with
    xsp_reply_move().  The callback may start calls (xsp_client_send) and cancel calls;
    it must not call xsp_client_call, xsp_client_diag or xsp_client_destroy. */
typedef void xsp_done_fn(xsp_client_t *client, uint64_t call_id, const xsp_error_t *err,
                         xsp_reply_t *reply, void *arg);

/*  Start a call and return at once; *call_id (may be NULL) gets its id (unique for the
    client's life, never 0).  Returns 0, or an error code (invalid queue name, body over
    the switch's max_payload, out of memory) without ever calling cb. */
int xsp_client_send(xsp_client_t *self, const char *queue, const void *body, size_t len,
                    const xsp_call_opts_t *opts, xsp_done_fn *cb, void *arg,
                    uint64_t *call_id, xsp_error_t *err);
/*  A call's context released without its callback (see xsp_client_send_ctx). */
typedef void xsp_drop_fn(void *ctx);

/*  xsp_client_send with a per-call context that lives and dies with the call, for layers
    on top of the client (the typed stubs of xsp/stub.h use it):  *ctx gets ctx_size
    zeroed, max_align_t-aligned bytes kept inside the call itself (no allocation of their
    own), and cb gets ctx as its arg.  The context is the client's memory: it is valid
    until the call ends and is freed with it, exactly once, however it ends:
      - completion: cb(…, ctx) runs, then the memory is freed;
      - xsp_client_cancel() or xsp_client_destroy(): cb does not run; drop(ctx) runs (when
        drop is not NULL, e.g. to release what the caller stored in ctx), then the memory
        is freed.
    Fill *ctx right after a successful return: no callback runs before the next
    xsp_client_process().  On failure (an error code, as xsp_client_send) *ctx is NULL and
    neither cb nor drop ever runs. */
int xsp_client_send_ctx(xsp_client_t *self, const char *queue, const void *body, size_t len,
                        const xsp_call_opts_t *opts, xsp_done_fn *cb, size_t ctx_size,
                        xsp_drop_fn *drop, void **ctx, uint64_t *call_id, xsp_error_t *err);
/*  Forget a call: its callback will not run (its drop hook does, for a call made with
    xsp_client_send_ctx); a late answer is ignored (the switch may still deliver the
    request).  Returns 0, or -1 if the call is not outstanding. */
int xsp_client_cancel(xsp_client_t *self, uint64_t call_id);
/*  True once the switch said ACCEPTED for this outstanding persistent call (it is in the
    switch's journal); false for any other call or when call_id is not outstanding. */
bool xsp_client_accepted(const xsp_client_t *self, uint64_t call_id);
/*  Number of outstanding calls. */
size_t xsp_client_outstanding(const xsp_client_t *self);

/* ------------------------------------------------------------------ event loop */

/*  A file descriptor to watch for reading (level-triggered).  Stable for the client's
    life, also across reconnects.  Never read or close it yourself. */
int xsp_client_fd(const xsp_client_t *self);
/*  Milliseconds until xsp_client_process() must run at the latest (heartbeats, call
    deadlines); 0 = now. */
int xsp_client_timeout_ms(const xsp_client_t *self);
/*  Handle everything ready: incoming messages, heartbeats, reconnects, expired waits;
    runs completion callbacks.  Never blocks.  Returns the number of messages handled. */
int xsp_client_process(xsp_client_t *self);
/*  Convenience: poll the fd for up to timeout_ms (bounded by xsp_client_timeout_ms), then
    process.  timeout_ms -1 = until something happened. */
int xsp_client_wait(xsp_client_t *self, int timeout_ms);

/* ------------------------------------------------------------------ tools */

/*  Ask the switch for its diagnostics (docs/protocol.md §9).  On success *data (malloc'd,
    the caller frees it) holds *len bytes: one msgpack map.  timeout_ms <= 0 = 5000. */
int xsp_client_diag(xsp_client_t *self, int timeout_ms, void **data, size_t *len,
                    xsp_error_t *err);

/*  One trace event, or the end of a trace, or a trace error.  Strings are borrowed for
    the duration of the callback and are NOT NUL-terminated. */
typedef enum {
    XSP_TRACE_EVENT = 1,    /* a TRACE_EVENT: every field below */
    XSP_TRACE_END,          /* TRACE_END: seq = next sequence, lost; the stream is over */
    XSP_TRACE_ERROR,        /* the switch refused the TRACE: error says why; over */
    XSP_TRACE_RESTART,      /* the switch restarted: following seqs start afresh */
} xsp_trace_kind_t;

typedef struct {
    xsp_trace_kind_t kind;
    uint64_t seq, ts_ns;
    xsp_str_t event;        /* "send", "deliver", "reply", ... */
    xsp_str_t queue;
    uint64_t msg_id, corr;
    xsp_str_t from, to;
    uint64_t size;
    xsp_str_t dbg;
    uint64_t service_us;
    uint64_t lost;          /* events skipped before this one (slow reader) */
    const void *prefix;     /* payload prefix (--trace-payload-bytes), else NULL */
    size_t prefix_len;
    const xsp_error_t *error;   /* XSP_TRACE_ERROR only */
} xsp_trace_event_t;

typedef void xsp_trace_fn(xsp_client_t *client, const xsp_trace_event_t *ev, void *arg);

/*  Start streaming trace events with seq >= from_seq whose queue matches glob (NULL or
    "" = all).  follow = false: the ring's events, then XSP_TRACE_END.  follow = true:
    then new events until xsp_client_trace_stop (re-subscribed automatically after a
    reconnect).  Events are delivered to fn inside xsp_client_process().  A new start
    replaces the previous trace.  Returns 0 or an error code. */
int xsp_client_trace_start(xsp_client_t *self, uint64_t from_seq, const char *glob,
                           bool follow, xsp_trace_fn *fn, void *arg, xsp_error_t *err);
/*  Stop a trace (UNTRACE).  No callbacks after this returns. */
void xsp_client_trace_stop(xsp_client_t *self);
/*  True while a trace is active (started and no END/ERROR seen). */
bool xsp_client_tracing(const xsp_client_t *self);

/*  true for the queue-name alphabet of docs/protocol.md §3.2 (1-255 bytes). */
bool xsp_queue_name_valid(const char *queue);

#ifdef __cplusplus
}
#endif
#endif

/*  client.c — the calling side (see xsp/client.h).

    Owns: the calls of one client — a hash table by correlation id, a list in start order
    (for resending after a reconnect), a min-heap of the callers' wait deadlines — plus the
    DIAG call and the trace subscription.
    Never touches: the socket directly (session.c does), payload contents, threads.

    A call's life:
        send() -> [unsent: no session] -> sent in generation g -> RESULT/ERROR -> callback
    On a new session generation every unsent call is sent; a call sent in an older one is
    resent (idempotent, or refused with no-session so it never reached a server) or ends
    with XSP_E_DISCONNECTED (at-most-once).  The wait deadline is local and runs from the
    start; the deadline told to the switch is the time still left.
*/
#include "xsp/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "session.h"
#include "xsp/endpoint.h"
#include "xsp/log.h"

typedef enum { K_REQUEST, K_DIAG } kind_t;

#define NO_HEAP SIZE_MAX

typedef struct call call_t;
struct call {
    uint64_t id;
    kind_t kind;
    uint64_t gen;               /* session generation it was last sent in; 0 = unsent */
    bool rejected;              /* refused with no-session: it never reached a server */
    bool accepted;              /* PERSISTENT and ACCEPTED: journaled by the switch */
    unsigned flags;
    int64_t sw_deadline;        /* absolute ms of the switch deadline, 0 = none */
    int64_t wait_deadline;      /* absolute ms of the caller's limit, INT64_MAX = none */
    uint32_t wait_ms;           /* for the message */
    size_t heap_idx;
    char *queue;                /* point into the call's own allocation */
    char *dbg;
    uint32_t queue_len, dbg_len;
    const char *body;           /* body_len bytes inside the allocation (after dbg), kept
                                   for a resend; each send copies them into a new frame */
    size_t body_len;
    xsp_done_fn *cb;
    void *arg;                  /* the caller's arg, or ctx */
    xsp_drop_fn *drop;          /* run on ctx when the call ends without its callback */
    void *ctx;                  /* ctx_size bytes inside the allocation, or NULL */
    call_t *prev, *next;
    size_t room;                /* bytes after the struct (tail_), for reuse */
    max_align_t tail_[];        /* ctx, then queue, dbg and the body */
};

typedef struct {
    bool active, follow;
    uint64_t next;              /* next sequence expected */
    char glob[XSP_QUEUE_MAX + 1];
    xsp_trace_fn *fn;
    void *arg;
} trace_t;

struct xsp_client {
    xsp_session_t *s;
    xsp_idmap_t calls;
    call_t *head, *tail;
    call_t **heap;
    size_t heap_len, heap_cap;
    uint64_t next_id;
    uint64_t peer_id;           /* from the last WELCOME */
    bool has_identity;          /* opts.identity was set: answers follow us across restarts */
    trace_t tr;
    call_t *spare;              /* ended calls kept for reuse (next), at most SPARE_MAX */
    size_t n_spare;
    char good_queue[XSP_QUEUE_MAX + 1];     /* the last queue name found valid ("" = none): */
    size_t good_len;                        /* a client calls the same queue again and again */
};

#define SPARE_MAX 64            /* a steady pipeline reuses its calls: no malloc per call */
#define SPARE_ROOM_MAX 4096     /* a call carrying a bigger body is freed, not kept */

/* ================================================================ replies */

/*  priv_ is the frame holding body: a heap zmq_msg_t the reply owns, or, for the reply a
    completion borrows, the caller's frame on our stack, marked by the low bit (frames are
    aligned): no heap call per answer.  xsp_reply_move gives a borrowed one a heap frame. */
#define BORROWED ((uintptr_t) 1)

static zmq_msg_t *reply_frame(const xsp_reply_t *r)
{
    return (zmq_msg_t *) ((uintptr_t) r->priv_ & ~BORROWED);
}

void xsp_reply_dispose(xsp_reply_t *r)
{
    if (!r)
        return;
    if (r->priv_) {
        zmq_msg_close(reply_frame(r));
        if (!((uintptr_t) r->priv_ & BORROWED))
            free(r->priv_);
    }
    memset(r, 0, sizeof *r);
}

void xsp_reply_move(xsp_reply_t *dst, xsp_reply_t *src)
{
    *dst = *src;
    memset(src, 0, sizeof *src);
    if ((uintptr_t) dst->priv_ & BORROWED) {
        zmq_msg_t *m = malloc(sizeof *m), *frame = reply_frame(dst);
        if (!m) {               /* cannot keep it: the taker gets an empty reply */
            zmq_msg_close(frame);
            memset(dst, 0, sizeof *dst);
            return;
        }
        zmq_msg_init(m);
        zmq_msg_move(m, frame);
        dst->priv_ = m;
        dst->body = zmq_msg_data(m);    /* a small frame keeps its bytes inside itself */
    }
}

/*  Fill r, taking over payload's content (no copy) into `frame`, which outlives r's use
    by the completion (the caller's stack): r borrows it. */
static void reply_take(xsp_reply_t *r, zmq_msg_t *payload, zmq_msg_t *frame)
{
    if (!payload || zmq_msg_size(payload) == 0)
        return;
    zmq_msg_init(frame);
    zmq_msg_move(frame, payload);
    r->priv_ = (void *) ((uintptr_t) frame | BORROWED);
    r->body = zmq_msg_data(frame);
    r->len = zmq_msg_size(frame);
}

/* ================================================================ deadline heap */

static bool heap_less(const call_t *a, const call_t *b)
{
    return a->wait_deadline < b->wait_deadline;
}

static void heap_set(xsp_client_t *c, size_t i, call_t *x)
{
    c->heap[i] = x;
    x->heap_idx = i;
}

static void heap_up(xsp_client_t *c, size_t i)
{
    call_t *x = c->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(x, c->heap[p]))
            break;
        heap_set(c, i, c->heap[p]);
        i = p;
    }
    heap_set(c, i, x);
}

static void heap_down(xsp_client_t *c, size_t i)
{
    call_t *x = c->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const call_t *best = x;
        if (l < c->heap_len && heap_less(c->heap[l], best))
            m = l, best = c->heap[l];
        if (l + 1 < c->heap_len && heap_less(c->heap[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        heap_set(c, i, c->heap[m]);
        i = m;
    }
    heap_set(c, i, x);
}

static int heap_push(xsp_client_t *c, call_t *x)
{
    if (c->heap_len == c->heap_cap) {
        size_t ncap = c->heap_cap ? c->heap_cap * 2 : 64;
        call_t **n = realloc(c->heap, ncap * sizeof *n);
        if (!n)
            return -1;
        c->heap = n;
        c->heap_cap = ncap;
    }
    heap_set(c, c->heap_len++, x);
    heap_up(c, x->heap_idx);
    return 0;
}

static void heap_remove(xsp_client_t *c, call_t *x)
{
    size_t i = x->heap_idx;
    if (i == NO_HEAP)
        return;
    x->heap_idx = NO_HEAP;
    call_t *last = c->heap[--c->heap_len];
    if (i == c->heap_len)
        return;
    heap_set(c, i, last);
    heap_up(c, i);
    heap_down(c, last->heap_idx);
}

/* ================================================================ calls */

static void call_free(xsp_client_t *c, call_t *call)
{
    if (c && c->n_spare < SPARE_MAX && call->room <= SPARE_ROOM_MAX) {
        call->next = c->spare;
        c->spare = call;
        c->n_spare++;
        return;
    }
    free(call);
}

/*  A call with room for `room` bytes after the struct: a spare one, or a new one. */
static call_t *call_alloc(xsp_client_t *c, size_t room)
{
    call_t **pp = &c->spare;
    for (int i = 0; *pp && i < 4; i++, pp = &(*pp)->next)     /* sizes rarely differ */
        if ((*pp)->room >= room) {
            call_t *call = *pp;
            *pp = call->next;
            c->n_spare--;
            size_t keep = call->room;
            memset(call, 0, sizeof *call);
            call->room = keep;
            return call;
        }
    call_t *call = malloc(sizeof *call + room);
    if (call) {
        memset(call, 0, sizeof *call);
        call->room = room;
    }
    return call;
}

/*  A call that ends without its callback (cancel, destroy): let its owner release ctx. */
static void call_drop(xsp_client_t *c, call_t *call)
{
    if (call->drop)
        call->drop(call->ctx);
    call_free(c, call);
}

/*  Take the call out of every index (it is then owned by the caller of unlink). */
static void call_unlink(xsp_client_t *c, call_t *call)
{
    xsp_idmap_del(&c->calls, call->id);
    heap_remove(c, call);
    if (call->prev)
        call->prev->next = call->next;
    else
        c->head = call->next;
    if (call->next)
        call->next->prev = call->prev;
    else
        c->tail = call->prev;
    call->prev = call->next = NULL;
}

/*  End a call: out of the indexes, callback, free.  reply may be NULL. */
static void call_complete(xsp_client_t *c, call_t *call, const xsp_error_t *err, xsp_reply_t *reply)
{
    xsp_reply_t empty;
    memset(&empty, 0, sizeof empty);
    if (!reply)
        reply = &empty;
    call_unlink(c, call);
    if (call->cb)
        call->cb(c, call->id, err, reply, call->arg);
    xsp_reply_dispose(reply);
    call_free(c, call);
}

static void call_fail(xsp_client_t *c, call_t *call, xsp_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void call_fail(xsp_client_t *c, call_t *call, xsp_code_t code, const char *fmt, ...)
{
    xsp_error_t err;
    va_list ap;
    va_start(ap, fmt);
    xsp_error_vset(&err, code, fmt, ap);
    va_end(ap);
    call_complete(c, call, &err, NULL);
}

/*  Send (or resend) a call in the current generation.  Stays unsent when there is no
    session; it goes out on the next WELCOME. */
static void call_transmit(xsp_client_t *c, call_t *call, int64_t now)
{
    if (!xsp_session_ready(c->s))
        return;
    xsp_hdr_t h;                /* only the fields sent: xsp_hdr_encode reads nothing else */
    h.corr = call->id;
    int rc;
    if (call->kind == K_DIAG) {
        h.cmd = XSP_CMD_DIAG;
        rc = xsp_session_send(c->s, &h, NULL);
    } else {
        h.cmd = XSP_CMD_REQUEST;
        h.queue = (xsp_str_t) { call->queue, call->queue_len };
        h.dbg = (xsp_str_t) { call->dbg, call->dbg_len };
        h.flags = call->flags & (XSP_FLAG_AT_MOST_ONCE | XSP_FLAG_PERSISTENT);
        h.timeout_ms = 0;
        if (call->sw_deadline) {
            int64_t left = call->sw_deadline - (now ? now : xsp_now_ms());
            h.timeout_ms = left > 0 ? (uint64_t) left : 1;  /* let the switch say expired */
        }
        /* a new frame of the kept bytes: a shared frame (zmq_msg_copy) would cost more
           in reference counting than copying a typical body */
        rc = call->body_len ? xsp_session_send_bytes(c->s, &h, call->body, call->body_len)
                            : xsp_session_send(c->s, &h, NULL);
    }
    if (rc == 0) {
        call->gen = xsp_session_generation(c->s);
        call->rejected = false;
    }
}

/* ================================================================ incoming */

static void on_result(xsp_client_t *c, const xsp_hdr_t *h, zmq_msg_t *payload)
{
    call_t *call = xsp_idmap_get(&c->calls, h->corr);
    if (!call || call->kind != K_REQUEST)
        return;     /* cancelled, timed out, or answered already */
    xsp_reply_t r;
    memset(&r, 0, sizeof r);
    r.status = (unsigned) h->status;
    r.msg_id = h->msg_id;
    r.service_us = h->service_us;
    zmq_msg_t frame;
    reply_take(&r, payload, &frame);
    xsp_error_t err;
    if (h->status == XSP_STATUS_OK)
        xsp_error_clear(&err);
    else
        xsp_error_set(&err, XSP_E_APPLICATION, "the server of queue '%s' answered with status %u",
                      call->queue, r.status);
    call_complete(c, call, &err, &r);
}

static void on_diag_reply(xsp_client_t *c, const xsp_hdr_t *h, zmq_msg_t *payload)
{
    call_t *call = xsp_idmap_get(&c->calls, h->corr);
    if (!call || call->kind != K_DIAG)
        return;
    xsp_reply_t r;
    memset(&r, 0, sizeof r);
    zmq_msg_t frame;
    reply_take(&r, payload, &frame);
    xsp_error_t err;
    xsp_error_clear(&err);
    call_complete(c, call, &err, &r);
}

static void fail_all(xsp_client_t *c, xsp_code_t code, const char *why)
{
    while (c->head)
        call_fail(c, c->head, code, "%s", why);
}

static void trace_emit_simple(xsp_client_t *c, xsp_trace_kind_t kind, uint64_t seq, uint64_t lost,
                              const xsp_error_t *error)
{
    xsp_trace_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.seq = seq;
    ev.lost = lost;
    ev.error = error;
    if (c->tr.fn)
        c->tr.fn(c, &ev, c->tr.arg);
}

static void on_error(xsp_client_t *c, const xsp_hdr_t *h)
{
    xsp_code_t code = xsp_code_from_name(h->code.ptr, h->code.len);
    int mlen = (int) h->message.len;
    const char *msg = h->message.ptr ? h->message.ptr : "";
    switch (h->ref_cmd) {
    case XSP_CMD_REQUEST:
    case XSP_CMD_DIAG: {
        call_t *call = xsp_idmap_get(&c->calls, h->corr);
        if (!call || call->kind != (h->ref_cmd == XSP_CMD_DIAG ? K_DIAG : K_REQUEST))
            return;
        if (code == XSP_E_NO_SESSION) {
            call->rejected = true;  /* resent when the new session is up */
            return;
        }
        if (mlen)
            call_fail(c, call, code, "%.*s", mlen, msg);
        else
            call_fail(c, call, code, "%s", xsp_code_doc(code));
        return;
    }
    case XSP_CMD_TRACE:
        if (c->tr.active && code != XSP_E_NO_SESSION) {
            xsp_error_t err;
            xsp_error_set(&err, code, "%.*s", mlen, msg);
            c->tr.active = false;
            trace_emit_simple(c, XSP_TRACE_ERROR, 0, 0, &err);
        }
        return;
    default:
        if (code == XSP_E_VERSION) {
            char why[XSP_ERROR_MSG_MAX];
            snprintf(why, sizeof why, "the switch refused our protocol version: %.*s", mlen, msg);
            fail_all(c, XSP_E_VERSION, why);
        } else if (code != XSP_E_NO_SESSION) {
            xsp_log(XSP_LOG_DEBUG, "switch error about %s: %s: %.*s", xsp_cmd_name((unsigned) h->ref_cmd),
                    xsp_code_name(code), mlen, msg);
        }
        return;
    }
}

static void on_trace_event(xsp_client_t *c, const xsp_hdr_t *h, zmq_msg_t *payload)
{
    if (!c->tr.active)
        return;
    xsp_trace_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = XSP_TRACE_EVENT;
    ev.seq = h->seq;
    ev.ts_ns = h->ts_ns;
    ev.event = h->code;
    ev.queue = h->queue;
    ev.msg_id = h->msg_id;
    ev.corr = h->corr;
    ev.from = h->name;
    ev.to = h->to;
    ev.size = h->size;
    ev.dbg = h->dbg;
    ev.service_us = h->service_us;
    ev.lost = h->lost;
    if (payload && zmq_msg_size(payload)) {
        ev.prefix = zmq_msg_data(payload);
        ev.prefix_len = zmq_msg_size(payload);
    }
    c->tr.next = h->seq + 1;
    if (c->tr.fn)
        c->tr.fn(c, &ev, c->tr.arg);
}

static void on_message(void *owner, const xsp_hdr_t *h, zmq_msg_t *payload)
{
    xsp_client_t *c = owner;
    switch (h->cmd) {
    case XSP_CMD_RESULT:
        on_result(c, h, payload);
        break;
    case XSP_CMD_ERROR:
        on_error(c, h);
        break;
    case XSP_CMD_DIAG_REPLY:
        on_diag_reply(c, h, payload);
        break;
    case XSP_CMD_ACCEPTED: {
        call_t *call = xsp_idmap_get(&c->calls, h->corr);
        if (call && call->kind == K_REQUEST && (call->flags & XSP_CALL_PERSISTENT))
            call->accepted = true;
        break;
    }
    case XSP_CMD_TRACE_EVENT:
        on_trace_event(c, h, payload);
        break;
    case XSP_CMD_TRACE_END:
        if (c->tr.active) {
            c->tr.active = false;
            trace_emit_simple(c, XSP_TRACE_END, h->seq, h->lost, NULL);
        }
        break;
    default:
        xsp_log(XSP_LOG_DEBUG, "client ignores %s from the switch", xsp_cmd_name(h->cmd));
        break;
    }
}

static void trace_send(xsp_client_t *c, uint64_t from)
{
    xsp_hdr_t h;
    memset(&h, 0, sizeof h);
    h.cmd = XSP_CMD_TRACE;
    h.seq = from;
    h.queue = XSP_STR(c->tr.glob);
    h.follow = c->tr.follow ? 1 : 0;
    xsp_session_send(c->s, &h, NULL);
}

/*  A session began: send what waited, resend or fail what the old session had. */
static void on_welcome(void *owner, bool renewed)
{
    xsp_client_t *c = owner;
    uint64_t gen = xsp_session_generation(c->s);
    c->peer_id = xsp_session_welcome(c->s)->peer_id;
    call_t *lost = NULL;       /* at-most-once calls to fail, chained through next */
    for (call_t *call = c->head, *next; call; call = next) {
        next = call->next;
        if (call->gen == gen)
            continue;
        if (call->accepted && !call->rejected && c->has_identity) {
            call->gen = gen;        /* journaled: its answer comes to our identity */
            continue;
        }
        if (call->gen == 0 || call->rejected || call->kind == K_DIAG ||
            (!(call->flags & XSP_CALL_AT_MOST_ONCE) && !call->accepted)) {
            call_transmit(c, call, 0);
        } else {
            call_unlink(c, call);
            call->next = lost;
            lost = call;
        }
    }
    /* callbacks only after the walk: they may start or cancel calls */
    while (lost) {
        call_t *call = lost;
        lost = call->next;
        call->next = NULL;
        xsp_error_t err;
        if (call->accepted)
            xsp_error_set(&err, XSP_E_DISCONNECTED,
                          "the switch restarted with this persistent call outstanding (queue '%s'): "
                          "it is journaled and will run, but its answer cannot reach a client "
                          "without an identity (xsp_client_opts_t.identity)", call->queue);
        else
            xsp_error_set(&err, XSP_E_DISCONNECTED,
                          "the switch restarted with this at-most-once call outstanding (queue '%s'); "
                          "it may or may not have run", call->queue);
        if (call->cb)
            call->cb(c, call->id, &err, &(xsp_reply_t) { 0 }, call->arg);
        call_free(c, call);
    }
    if (c->tr.active) {
        if (renewed) {
            /* A restarted switch numbers events afresh; we cannot tell a restart from
               a renewed session on the same switch, so start from its ring's start. */
            c->tr.next = 0;
            trace_emit_simple(c, XSP_TRACE_RESTART, 0, 0, NULL);
        }
        if (c->tr.active)
            trace_send(c, c->tr.next);
    }
}

/* ================================================================ public */

bool xsp_queue_name_valid(const char *q)
{
    if (!q)
        return false;
    size_t n = 0;
    for (; q[n]; n++) {         /* one pass, no strchr: this runs on every call */
        unsigned char ch = (unsigned char) q[n];
        if (n == XSP_QUEUE_MAX ||
            !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-' || ch == ':' || ch == '/' || ch == '@' || ch == '+'))
            return false;
    }
    return n >= 1;
}

xsp_client_t *xsp_client_new_opts(const xsp_client_opts_t *opts, xsp_error_t *err)
{
    xsp_client_opts_t o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    char ep[XSP_ENDPOINT_MAX];
    if (xsp_endpoint_resolve(o.endpoint, ep, sizeof ep) != 0) {
        xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "the switch endpoint is too long");
        return NULL;
    }
    xsp_client_t *c = calloc(1, sizeof *c);
    if (!c) {
        xsp_error_set(err, XSP_E_SYSTEM, "out of memory");
        return NULL;
    }
    xsp_idmap_init(&c->calls);
    if (o.identity) {
        size_t n = strlen(o.identity);
        if (n == 0 || n > 255) {
            xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "an identity is 1-255 bytes (got %zu)", n);
            xsp_client_destroy(&c);
            return NULL;
        }
        c->has_identity = true;
        /* call ids unique across this identity's lives: microseconds of the realtime
           clock, shifted to leave room for 4096 calls per microsecond */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        c->next_id = ((uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u) << 12;
    }
    xsp_session_cfg_t cfg = {
        .endpoint = ep,
        .name = o.name ? o.name : "xsp-client",
        .role = o.role ? o.role : "client",
        .domid = o.domid,
        .zmq_ctx = o.zmq_ctx,
        .identity = o.identity,
    };
    xsp_session_events_t ev = { .message = on_message, .welcome = on_welcome };
    c->s = xsp_session_new(&cfg, &ev, c, err);
    if (!c->s) {
        xsp_client_destroy(&c);
        return NULL;
    }
    if (o.connect_timeout_ms >= 0) {
        int t = o.connect_timeout_ms ? o.connect_timeout_ms : XSP_CONNECT_TIMEOUT_MS;
        if (xsp_session_wait_ready(c->s, t, err) != 0) {
            xsp_client_destroy(&c);
            return NULL;
        }
    }
    xsp_error_clear(err);
    return c;
}

xsp_client_t *xsp_client_new(const char *endpoint, const char *name, xsp_error_t *err)
{
    xsp_client_opts_t o;
    memset(&o, 0, sizeof o);
    o.endpoint = endpoint;
    o.name = name;
    return xsp_client_new_opts(&o, err);
}

void xsp_client_destroy(xsp_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    xsp_client_t *c = *self_p;
    *self_p = NULL;
    while (c->head) {
        call_t *call = c->head;
        call_unlink(c, call);
        call_drop(NULL, call);
    }
    while (c->spare) {
        call_t *next = c->spare->next;
        free(c->spare);
        c->spare = next;
    }
    xsp_session_destroy(&c->s);
    xsp_idmap_dispose(&c->calls);
    free(c->heap);
    free(c);
}

const char *xsp_client_endpoint(const xsp_client_t *c)
{
    return xsp_session_endpoint(c->s);
}

uint64_t xsp_client_peer_id(const xsp_client_t *c)
{
    return c->peer_id;
}

uint64_t xsp_client_max_payload(const xsp_client_t *c)
{
    return xsp_session_welcome(c->s)->max_payload;
}

bool xsp_client_connected(const xsp_client_t *c)
{
    return xsp_session_ready(c->s);
}

bool xsp_client_accepted(const xsp_client_t *self, uint64_t call_id)
{
    const call_t *call = call_id ? xsp_idmap_get(&self->calls, call_id) : NULL;
    return call && call->accepted;
}

size_t xsp_client_outstanding(const xsp_client_t *c)
{
    return c->calls.len;
}

/*  Create and index a call; it is sent right away when a session is up. */
static call_t *call_start(xsp_client_t *c, kind_t kind, const char *queue, const void *body,
                          size_t len, const xsp_call_opts_t *opts, xsp_done_fn *cb, void *arg,
                          size_t ctx_size, xsp_drop_fn *drop, xsp_error_t *err)
{
    xsp_call_opts_t o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    if (o.timeout_ms == 0)
        o.timeout_ms = XSP_CALL_DEFAULT_TIMEOUT_MS;
    if (o.wait_ms == 0)
        o.wait_ms = o.timeout_ms == XSP_TIMEOUT_INFINITE ? XSP_TIMEOUT_INFINITE
                  : o.timeout_ms > XSP_TIMEOUT_INFINITE - XSP_CALL_GRACE_MS - 1 ? XSP_TIMEOUT_INFINITE - 1
                  : o.timeout_ms + XSP_CALL_GRACE_MS;
    if (kind == K_REQUEST) {
        size_t qn = queue ? strnlen(queue, XSP_QUEUE_MAX + 1) : 0;
        if (qn && qn == c->good_len && memcmp(queue, c->good_queue, qn) == 0) {
            /* the same name as the last call: valid */
        } else if (xsp_queue_name_valid(queue)) {
            memcpy(c->good_queue, queue, qn + 1);
            c->good_len = qn;
        } else {
            xsp_error_set(err, XSP_E_INVALID_ARGUMENT,
                          "'%s' is not a queue name (1-255 of A-Z a-z 0-9 . _ - : / @ +)",
                          queue ? queue : "(null)");
            return NULL;
        }
        if (o.dbg && strlen(o.dbg) > XSP_DBG_MAX) {
            xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "dbg is over %d bytes", XSP_DBG_MAX);
            return NULL;
        }
        if (!body && len) {
            xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "body is NULL but len is %zu", len);
            return NULL;
        }
    }
    /* one allocation: the call, the caller's ctx, the queue name and dbg */
    const char *qname = kind == K_REQUEST ? queue : "(diag)";
    const char *dbg = o.dbg ? o.dbg : "";
    size_t qlen = strlen(qname), dlen = strlen(dbg);
    size_t ctx_room = (ctx_size + sizeof (max_align_t) - 1) / sizeof (max_align_t) * sizeof (max_align_t);
    size_t blen = kind == K_REQUEST ? len : 0;
    call_t *call = call_alloc(c, ctx_room + qlen + 1 + dlen + 1 + blen);
    if (!call) {
        xsp_error_set(err, XSP_E_SYSTEM, "out of memory");
        return NULL;
    }
    memset(call->tail_, 0, ctx_room);
    char *strings = (char *) call->tail_ + ctx_room;
    call->queue = strings;
    memcpy(call->queue, qname, qlen + 1);
    call->dbg = strings + qlen + 1;
    memcpy(call->dbg, dbg, dlen + 1);
    if (blen) {
        char *b = call->dbg + dlen + 1;
        memcpy(b, body, blen);
        call->body = b;
        call->body_len = blen;
    }
    call->queue_len = (uint32_t) qlen;
    call->dbg_len = (uint32_t) dlen;
    if (ctx_size) {
        call->ctx = call->tail_;
        arg = call->ctx;
    }
    call->drop = drop;
    call->heap_idx = NO_HEAP;
    call->kind = kind;
    call->id = ++c->next_id;
    call->flags = o.flags & (XSP_CALL_AT_MOST_ONCE | XSP_CALL_PERSISTENT);
    call->cb = cb;
    call->arg = arg;
    /* the clock only when a deadline needs it (a call without limits reads none) */
    bool sw_limit = o.timeout_ms != XSP_TIMEOUT_INFINITE && kind != K_DIAG;
    int64_t now = sw_limit || o.wait_ms != XSP_TIMEOUT_INFINITE ? xsp_now_ms() : 0;
    call->sw_deadline = sw_limit ? now + o.timeout_ms : 0;
    call->wait_deadline = o.wait_ms == XSP_TIMEOUT_INFINITE ? INT64_MAX : now + o.wait_ms;
    call->wait_ms = o.wait_ms;
    if (xsp_idmap_put(&c->calls, call->id, call) != 0 ||
        (call->wait_deadline != INT64_MAX && heap_push(c, call) != 0)) {
        xsp_idmap_del(&c->calls, call->id);
        call_free(c, call);
        xsp_error_set(err, XSP_E_SYSTEM, "out of memory");
        return NULL;
    }
    call->prev = c->tail;
    if (c->tail)
        c->tail->next = call;
    else
        c->head = call;
    c->tail = call;
    call_transmit(c, call, now);     /* the clock read above: at most one per call */
    xsp_error_clear(err);
    return call;
}

int xsp_client_send(xsp_client_t *c, const char *queue, const void *body, size_t len,
                    const xsp_call_opts_t *opts, xsp_done_fn *cb, void *arg, uint64_t *call_id,
                    xsp_error_t *err)
{
    uint64_t maxp = xsp_session_welcome(c->s)->max_payload;
    if (maxp && len > maxp)
        return xsp_error_set(err, XSP_E_TOO_LARGE, "a body of %zu bytes is over the switch's "
                             "max_payload of %llu bytes", len, (unsigned long long) maxp);
    call_t *call = call_start(c, K_REQUEST, queue, body, len, opts, cb, arg, 0, NULL, err);
    if (!call)
        return err ? err->code : XSP_E_INVALID_ARGUMENT;
    if (call_id)
        *call_id = call->id;
    return XSP_OK;
}

int xsp_client_send_ctx(xsp_client_t *c, const char *queue, const void *body, size_t len,
                        const xsp_call_opts_t *opts, xsp_done_fn *cb, size_t ctx_size,
                        xsp_drop_fn *drop, void **ctx, uint64_t *call_id, xsp_error_t *err)
{
    *ctx = NULL;
    uint64_t maxp = xsp_session_welcome(c->s)->max_payload;
    if (maxp && len > maxp)
        return xsp_error_set(err, XSP_E_TOO_LARGE, "a body of %zu bytes is over the switch's "
                             "max_payload of %llu bytes", len, (unsigned long long) maxp);
    call_t *call = call_start(c, K_REQUEST, queue, body, len, opts, cb, NULL,
                              ctx_size ? ctx_size : 1, drop, err);
    if (!call)
        return err ? err->code : XSP_E_INVALID_ARGUMENT;
    *ctx = call->ctx;
    if (call_id)
        *call_id = call->id;
    return XSP_OK;
}

int xsp_client_cancel(xsp_client_t *c, uint64_t call_id)
{
    call_t *call = xsp_idmap_get(&c->calls, call_id);
    if (!call)
        return -1;
    call_unlink(c, call);
    call_drop(c, call);
    return 0;
}

int xsp_client_fd(const xsp_client_t *c)
{
    return xsp_session_fd(c->s);
}

int xsp_client_timeout_ms(const xsp_client_t *c)
{
    int t = xsp_session_timeout_ms(c->s);
    if (c->heap_len) {
        int64_t d = c->heap[0]->wait_deadline - xsp_now_ms();
        if (d < 0)
            d = 0;
        if (d < t)
            t = (int) d;
    }
    return t;
}

static void expire_waits(xsp_client_t *c)
{
    if (!c->heap_len)
        return;                 /* no clock read when no call has a wait limit */
    int64_t now = xsp_now_ms();
    while (c->heap_len && c->heap[0]->wait_deadline <= now) {
        call_t *call = c->heap[0];
        if (call->kind == K_DIAG)
            call_fail(c, call, XSP_E_TIMEOUT, "the switch at %s did not answer DIAG within %u ms",
                      xsp_session_endpoint(c->s), call->wait_ms);
        else
            call_fail(c, call, XSP_E_TIMEOUT, "no answer from queue '%s' within %u ms%s",
                      call->queue, call->wait_ms,
                      xsp_session_ready(c->s) ? "" : " (no connection to the switch)");
    }
}

int xsp_client_process(xsp_client_t *c)
{
    int n = xsp_session_process(c->s);
    expire_waits(c);
    return n;
}

int xsp_client_wait(xsp_client_t *c, int timeout_ms)
{
    int t = xsp_client_timeout_ms(c);
    if (timeout_ms >= 0 && timeout_ms < t)
        t = timeout_ms;
    xsp_session_poll(c->s, t);
    return xsp_client_process(c);
}

/* ---- synchronous calls ---- */

typedef struct {
    bool done;
    xsp_error_t err;
    xsp_reply_t reply;
} sync_t;

static void sync_done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_reply_t *reply,
                      void *arg)
{
    (void) c;
    (void) id;
    sync_t *r = arg;
    r->done = true;
    r->err = *err;
    xsp_reply_move(&r->reply, reply);
}

static int sync_wait(xsp_client_t *c, sync_t *r, xsp_reply_t *out, xsp_error_t *err)
{
    while (!r->done)
        xsp_client_wait(c, -1);
    if (err)
        *err = r->err;
    if (out)
        xsp_reply_move(out, &r->reply);
    else
        xsp_reply_dispose(&r->reply);
    return r->err.code;
}

int xsp_client_call(xsp_client_t *c, const char *queue, const void *body, size_t len,
                    const xsp_call_opts_t *opts, xsp_reply_t *out, xsp_error_t *err)
{
    sync_t r;
    memset(&r, 0, sizeof r);
    if (out)
        memset(out, 0, sizeof *out);
    xsp_client_process(c);  /* notice a restart or our own silence before sending */
    int rc = xsp_client_send(c, queue, body, len, opts, sync_done, &r, NULL, err);
    if (rc != XSP_OK)
        return rc;
    return sync_wait(c, &r, out, err);
}

int xsp_client_diag(xsp_client_t *c, int timeout_ms, void **data, size_t *len, xsp_error_t *err)
{
    sync_t r;
    memset(&r, 0, sizeof r);
    *data = NULL;
    *len = 0;
    xsp_call_opts_t o;
    memset(&o, 0, sizeof o);
    o.wait_ms = timeout_ms > 0 ? (uint32_t) timeout_ms : 5000;
    xsp_client_process(c);
    if (!call_start(c, K_DIAG, NULL, NULL, 0, &o, sync_done, &r, 0, NULL, err))
        return err ? err->code : XSP_E_SYSTEM;
    xsp_reply_t rep;
    memset(&rep, 0, sizeof rep);
    int rc = sync_wait(c, &r, &rep, err);
    if (rc == XSP_OK) {
        *data = malloc(rep.len ? rep.len : 1);
        if (!*data) {
            xsp_reply_dispose(&rep);
            return xsp_error_set(err, XSP_E_SYSTEM, "out of memory");
        }
        if (rep.len)
            memcpy(*data, rep.body, rep.len);
        *len = rep.len;
    }
    xsp_reply_dispose(&rep);
    return rc;
}

/* ---- traces ---- */

int xsp_client_trace_start(xsp_client_t *c, uint64_t from_seq, const char *glob, bool follow,
                           xsp_trace_fn *fn, void *arg, xsp_error_t *err)
{
    if (glob && strlen(glob) > XSP_QUEUE_MAX)
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "the queue glob is over %d bytes",
                             XSP_QUEUE_MAX);
    c->tr.active = true;
    c->tr.follow = follow;
    c->tr.next = from_seq;
    snprintf(c->tr.glob, sizeof c->tr.glob, "%s", glob ? glob : "");
    c->tr.fn = fn;
    c->tr.arg = arg;
    if (xsp_session_ready(c->s))
        trace_send(c, from_seq);
    xsp_error_clear(err);
    return XSP_OK;
}

void xsp_client_trace_stop(xsp_client_t *c)
{
    if (!c->tr.active)
        return;
    c->tr.active = false;
    c->tr.fn = NULL;
    if (xsp_session_ready(c->s)) {
        xsp_hdr_t h;
        memset(&h, 0, sizeof h);
        h.cmd = XSP_CMD_UNTRACE;
        xsp_session_send(c->s, &h, NULL);
    }
}

bool xsp_client_tracing(const xsp_client_t *c)
{
    return c->tr.active;
}

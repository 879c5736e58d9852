/*  server.c — the serving side (see xsp/server.h).

    Owns: the server's subscriptions, every request delivered and not yet answered (the
    "live" list), the worker pool (a job FIFO under a mutex) and the "done" FIFO through
    which answers made on other threads reach the I/O thread (mutex + eventfd watched by
    the session's pollable fd).
    Never touches: the socket except through session.c, and only on the I/O thread;
    payload contents.

    Which thread does what:
      I/O thread   session, live list, subscriptions, sending REPLY, running handlers
                   when there are no workers
      workers      pop a job, run its handler (nothing else)
      any thread   xsp_request_reply/release: on the I/O thread *inside process* they
                   send at once; anywhere else they push to the done FIFO and kick.
    A request remembers the session generation it came in; an answer for an older one
    is dropped (a restarted switch numbers msg_ids afresh: sending it could answer a
    different request).
*/
#define _GNU_SOURCE
#include "xsp/server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "session.h"
#include "xsp/client.h"
#include "xsp/endpoint.h"
#include "xsp/log.h"
#include "xsp/wire.h"

typedef struct sub sub_t;
struct sub {
    char queue[XSP_QUEUE_MAX + 1];
    unsigned credit;            /* credit asked for (after clamping) */
    bool active;                /* false after unsubscribe: kept for late deliveries */
    xsp_handler_fn *fn;
    void *arg;
    sub_t *next;
};

struct xsp_request {
    xsp_server_t *srv;
    uint64_t msg_id, gen, peer_id;
    uint32_t domid;
    unsigned flags;
    int64_t deadline;           /* absolute ms, 0 = none */
    char *queue, *dbg;          /* point into the same allocation */
    bool has_body;
    zmq_msg_t body;
    const void *body_data;      /* body's bytes (NULL when empty) and size, read once */
    size_t body_size;
    xsp_handler_fn *fn;
    void *arg;
    /* the answer, set by reply/release */
    bool release;
    unsigned status;
    bool has_answer;
    zmq_msg_t answer;
    xsp_request_t *prev, *next; /* live list: I/O thread only */
    xsp_request_t *qnext;       /* job FIFO or done FIFO: under srv->mu */
    size_t room;                /* bytes after the struct (queue, dbg), for reuse */
};

#define SPARE_MAX 64            /* ended requests kept for reuse: no calloc per delivery */

struct xsp_server {
    xsp_session_t *s;
    sub_t *subs;
    xsp_request_t *live;
    size_t nlive;
    xsp_request_t *spare;       /* ended requests for reuse (next): I/O thread only */
    size_t n_spare;
    /* shared with other threads, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    xsp_request_t *jobs_head, *jobs_tail;
    xsp_request_t *done_head, *done_tail;
    bool quit;
    int donefd;
    atomic_bool done_signal;    /* donefd was written since the I/O thread last read it */
    atomic_bool stop;
    _Atomic uint64_t max_payload;   /* from the last WELCOME; read by any thread */
    unsigned nworkers;
    pthread_t *workers;
    xsp_server_session_fn *session_fn;  /* the new-session hook (I/O thread) */
    void *session_arg;
};

/*  The server whose process() runs on this thread right now (replies go out directly). */
static __thread xsp_server_t *tl_io;

/* ================================================================ requests */

const char *xsp_request_queue(const xsp_request_t *r) { return r->queue; }
uint64_t xsp_request_msg_id(const xsp_request_t *r) { return r->msg_id; }
const char *xsp_request_dbg(const xsp_request_t *r) { return r->dbg; }
uint64_t xsp_request_peer_id(const xsp_request_t *r) { return r->peer_id; }
uint32_t xsp_request_domid(const xsp_request_t *r) { return r->domid; }
unsigned xsp_request_flags(const xsp_request_t *r) { return r->flags; }

const void *xsp_request_body(const xsp_request_t *r)
{
    return r->body_data;
}

size_t xsp_request_size(const xsp_request_t *r)
{
    return r->body_size;
}

int64_t xsp_request_time_left_ms(const xsp_request_t *r)
{
    if (!r->deadline)
        return -1;
    int64_t left = r->deadline - xsp_now_ms();
    return left > 0 ? left : 0;
}

/*  I/O thread only (s NULL: really free). */
static void request_free(xsp_server_t *s, xsp_request_t *r)
{
    if (r->has_body)
        zmq_msg_close(&r->body);
    if (r->has_answer)
        zmq_msg_close(&r->answer);
    if (s && s->n_spare < SPARE_MAX) {
        r->next = s->spare;
        s->spare = r;
        s->n_spare++;
        return;
    }
    free(r);
}

/*  I/O thread only: a zeroed request with `room` bytes after it, spare or new. */
static xsp_request_t *request_alloc(xsp_server_t *s, size_t room)
{
    xsp_request_t **pp = &s->spare;
    for (int i = 0; *pp && i < 4; i++, pp = &(*pp)->next)     /* sizes rarely differ */
        if ((*pp)->room >= room) {
            xsp_request_t *r = *pp;
            *pp = r->next;
            s->n_spare--;
            size_t keep = r->room;
            memset(r, 0, sizeof *r + room);
            r->room = keep;
            return r;
        }
    xsp_request_t *r = calloc(1, sizeof *r + room);
    if (r)
        r->room = room;
    return r;
}

static void live_unlink(xsp_server_t *s, xsp_request_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        s->live = r->next;
    if (r->next)
        r->next->prev = r->prev;
    s->nlive--;
}

/*  I/O thread: send the answer (if it still means anything) and free the request. */
static void finish(xsp_server_t *s, xsp_request_t *r)
{
    if (!r->release) {
        if (r->gen == xsp_session_generation(s->s) && xsp_session_ready(s->s)) {
            xsp_hdr_t h;        /* only REPLY's fields: xsp_hdr_encode reads nothing else */
            h.cmd = XSP_CMD_REPLY;
            h.msg_id = r->msg_id;
            h.status = r->status;
            zmq_msg_t *payload = NULL;
            if (r->has_answer && zmq_msg_size(&r->answer) > 0) {
                payload = &r->answer;
                r->has_answer = false;  /* consumed by the send */
            }
            xsp_session_send(s->s, &h, payload);
        } else {
            xsp_log(XSP_LOG_DEBUG, "dropping the answer to message %llu of queue '%s': it came "
                    "from a switch session that has ended", (unsigned long long) r->msg_id, r->queue);
        }
    }
    live_unlink(s, r);
    request_free(s, r);
}

/*  Wake the I/O thread: donefd first, then the flag it checks (so a process() that sees
    the flag always finds the write to read; one that runs between the two finds the fd
    readable and the flag down, and comes back a moment later). */
static void signal_done(xsp_server_t *s)
{
    uint64_t one = 1;
    ssize_t w = write(s->donefd, &one, sizeof one);
    (void) w;
    atomic_store(&s->done_signal, true);
}

/*  Hand an answered/released request to the I/O thread. */
static void hand_back(xsp_request_t *r)
{
    xsp_server_t *s = r->srv;
    if (tl_io == s) {
        finish(s, r);
        return;
    }
    pthread_mutex_lock(&s->mu);
    r->qnext = NULL;
    if (s->done_tail)
        s->done_tail->qnext = r;
    else
        s->done_head = r;
    s->done_tail = r;
    pthread_mutex_unlock(&s->mu);
    signal_done(s);
}

int xsp_request_reply(xsp_request_t *r, unsigned status, const void *body, size_t len)
{
    if (!r)
        return -1;
    uint64_t maxp = atomic_load(&r->srv->max_payload);
    char too_big[160];
    if (maxp && len > maxp) {
        /* the switch would refuse it and the caller would wait for nothing */
        int n = snprintf(too_big, sizeof too_big,
                         "xsp: the answer of %zu bytes is over the switch's max_payload of %llu bytes",
                         len, (unsigned long long) maxp);
        xsp_log(XSP_LOG_WARN, "%s (queue '%s')", too_big, r->queue);
        status = XSP_STATUS_ERROR;
        body = too_big;
        len = n > 0 ? (size_t) n : 0;
    }
    r->status = status;
    r->release = false;
    if (len) {
        if (zmq_msg_init_size(&r->answer, len) != 0) {
            r->release = true;
            hand_back(r);
            return -1;
        }
        memcpy(zmq_msg_data(&r->answer), body, len);
        r->has_answer = true;
    }
    hand_back(r);
    return 0;
}

void xsp_request_release(xsp_request_t *r)
{
    if (!r)
        return;
    r->release = true;
    hand_back(r);
}

/* ================================================================ workers */

static void *worker_main(void *arg)
{
    xsp_server_t *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->jobs_head && !s->quit)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit) {
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
        xsp_request_t *r = s->jobs_head;
        s->jobs_head = r->qnext;
        if (!s->jobs_head)
            s->jobs_tail = NULL;
        r->qnext = NULL;
        pthread_mutex_unlock(&s->mu);
        r->fn(s, r, r->arg);
    }
}

int xsp_server_set_workers(xsp_server_t *s, unsigned n, xsp_error_t *err)
{
    if (s->workers)
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "the server already has workers");
    for (const sub_t *b = s->subs; b; b = b->next)
        if (b->active)
            /* the credit asked for was not capped at the worker count: it would change
               silently at the next re-SUBSCRIBE (switch restart) */
            return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "workers must be set before "
                                 "subscribing (queue '%s' is subscribed)", b->queue);
    if (n == 0)
        return XSP_OK;
    if (n > 1024)
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "%u workers is over the limit of 1024", n);
    s->workers = calloc(n, sizeof *s->workers);
    if (!s->workers)
        return xsp_error_set(err, XSP_E_SYSTEM, "out of memory");
    /* workers never take signals: those belong to the application's threads */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = 0;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        rc = pthread_create(&s->workers[i], NULL, worker_main, s);
        if (rc == 0)
            s->nworkers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return xsp_error_set(err, XSP_E_SYSTEM, "cannot start worker %u: %s", s->nworkers, strerror(rc));
    xsp_error_clear(err);
    return XSP_OK;
}

/* ================================================================ subscriptions */

static sub_t *sub_find(xsp_server_t *s, const char *queue, size_t len)
{
    for (sub_t *b = s->subs; b; b = b->next)
        if (strlen(b->queue) == len && memcmp(b->queue, queue, len) == 0)
            return b;
    return NULL;
}

/*  The credit a subscription really gets (xsp/server.h): what was asked, at least 1, at
    most the switch's max_credit and, with workers, at most the worker count (a request
    beyond it would wait in the job FIFO while another server may be idle).  Without
    workers it is exactly what was asked: handlers that answer later need that credit. */
static unsigned clamp_credit(const xsp_server_t *s, unsigned long long credit)
{
    uint64_t maxc = xsp_session_welcome(s->s)->max_credit;
    if (maxc && credit > maxc)
        credit = maxc;
    if (s->nworkers && credit > s->nworkers)
        credit = s->nworkers;
    return credit ? (unsigned) credit : 1;
}

static void send_subscribe(xsp_server_t *s, const sub_t *b, unsigned credit)
{
    xsp_hdr_t h;
    memset(&h, 0, sizeof h);
    h.cmd = XSP_CMD_SUBSCRIBE;
    h.queue = XSP_STR(b->queue);
    h.credit = credit;
    xsp_session_send(s->s, &h, NULL);
}

int xsp_server_subscribe(xsp_server_t *s, const char *queue, unsigned credit, xsp_handler_fn *fn,
                         void *arg, xsp_error_t *err)
{
    if (!xsp_queue_name_valid(queue))
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT,
                             "'%s' is not a queue name (1-255 of A-Z a-z 0-9 . _ - : / @ +)",
                             queue ? queue : "(null)");
    if (!fn)
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "no handler for queue '%s'", queue);
    sub_t *b = sub_find(s, queue, strlen(queue));
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b)
            return xsp_error_set(err, XSP_E_SYSTEM, "out of memory");
        snprintf(b->queue, sizeof b->queue, "%s", queue);
        b->next = s->subs;
        s->subs = b;
    }
    unsigned before = b->active ? b->credit : 0;
    unsigned long long asked = (unsigned long long) before + (credit ? credit : 1);
    unsigned total = clamp_credit(s, asked);
    if (total < asked)
        xsp_log(XSP_LOG_INFO, "queue '%s': credit %llu lowered to %u (%s)", queue, asked, total,
                s->nworkers && total == s->nworkers ? "the worker count" : "the switch's max_credit");
    b->credit = total;
    b->active = true;
    b->fn = fn;
    b->arg = arg;
    if (total > before && xsp_session_ready(s->s))
        send_subscribe(s, b, total - before);   /* SUBSCRIBE again adds credit */
    xsp_error_clear(err);
    return XSP_OK;
}

int xsp_server_unsubscribe(xsp_server_t *s, const char *queue, xsp_error_t *err)
{
    sub_t *b = queue ? sub_find(s, queue, strlen(queue)) : NULL;
    if (!b || !b->active)
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "queue '%s' is not subscribed",
                             queue ? queue : "(null)");
    b->active = false;
    b->credit = 0;
    if (xsp_session_ready(s->s)) {
        xsp_hdr_t h;
        memset(&h, 0, sizeof h);
        h.cmd = XSP_CMD_UNSUBSCRIBE;
        h.queue = XSP_STR(b->queue);
        xsp_session_send(s->s, &h, NULL);
    }
    xsp_error_clear(err);
    return XSP_OK;
}

/* ================================================================ incoming */

static void on_deliver(xsp_server_t *s, const xsp_hdr_t *h, zmq_msg_t *payload)
{
    size_t qlen = h->queue.len, dlen = h->dbg.len;
    xsp_request_t *r = request_alloc(s, qlen + 1 + dlen + 1);
    if (!r) {
        xsp_log(XSP_LOG_ERR, "out of memory: message %llu is left to expire",
                (unsigned long long) h->msg_id);
        return;
    }
    r->srv = s;
    r->msg_id = h->msg_id;
    r->gen = xsp_session_generation(s->s);
    r->peer_id = h->peer_id;
    r->domid = (uint32_t) h->domid;
    r->flags = (unsigned) h->flags;
    r->deadline = h->timeout_ms ? xsp_now_ms() + (int64_t) h->timeout_ms : 0;
    r->queue = (char *) (r + 1);
    memcpy(r->queue, h->queue.ptr, qlen);
    r->dbg = r->queue + qlen + 1;
    if (dlen)
        memcpy(r->dbg, h->dbg.ptr, dlen);
    if (payload) {
        zmq_msg_init(&r->body);
        zmq_msg_move(&r->body, payload);
        r->body_size = zmq_msg_size(&r->body);
        r->body_data = r->body_size ? zmq_msg_data(&r->body) : NULL;
        r->has_body = true;
    }
    r->next = s->live;
    if (s->live)
        s->live->prev = r;
    s->live = r;
    s->nlive++;

    sub_t *b = sub_find(s, h->queue.ptr, qlen);
    if (!b) {
        char msg[XSP_QUEUE_MAX + 64];
        int n = snprintf(msg, sizeof msg, "xsp: queue '%s' is not served here", r->queue);
        xsp_request_reply(r, XSP_STATUS_ERROR, msg, n > 0 ? (size_t) n : 0);
        return;
    }
    r->fn = b->fn;
    r->arg = b->arg;
    if (s->nworkers) {
        pthread_mutex_lock(&s->mu);
        if (s->jobs_tail)
            s->jobs_tail->qnext = r;
        else
            s->jobs_head = r;
        s->jobs_tail = r;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
    } else {
        r->fn(s, r, r->arg);
    }
}

static void on_message(void *owner, const xsp_hdr_t *h, zmq_msg_t *payload)
{
    xsp_server_t *s = owner;
    if (h->cmd == XSP_CMD_DELIVER) {
        on_deliver(s, h, payload);
    } else if (h->cmd == XSP_CMD_ERROR) {
        xsp_code_t code = xsp_code_from_name(h->code.ptr, h->code.len);
        if (code != XSP_E_NO_SESSION)
            xsp_log(h->ref_cmd == XSP_CMD_SUBSCRIBE ? XSP_LOG_ERR : XSP_LOG_WARN,
                    "the switch refused our %s: %s: %.*s", xsp_cmd_name((unsigned) h->ref_cmd),
                    xsp_code_name(code), (int) h->message.len, h->message.ptr);
    } else {
        xsp_log(XSP_LOG_DEBUG, "server ignores %s from the switch", xsp_cmd_name(h->cmd));
    }
}

static void on_welcome(void *owner, bool renewed)
{
    xsp_server_t *s = owner;
    atomic_store(&s->max_payload, xsp_session_welcome(s->s)->max_payload);
    if (renewed) {
        /* jobs from the old session nobody has started: void, drop them */
        uint64_t gen = xsp_session_generation(s->s);
        xsp_request_t *stale = NULL;
        pthread_mutex_lock(&s->mu);
        xsp_request_t **pp = &s->jobs_head;
        s->jobs_tail = NULL;
        while (*pp) {
            xsp_request_t *r = *pp;
            if (r->gen != gen) {
                *pp = r->qnext;
                r->qnext = stale;
                stale = r;
            } else {
                s->jobs_tail = r;
                pp = &r->qnext;
            }
        }
        pthread_mutex_unlock(&s->mu);
        while (stale) {
            xsp_request_t *r = stale;
            stale = r->qnext;
            r->release = true;
            finish(s, r);
        }
        xsp_log(XSP_LOG_INFO, "new session with the switch: subscribing again");
    }
    for (sub_t *b = s->subs; b; b = b->next) {
        if (b->active) {
            b->credit = clamp_credit(s, b->credit);
            send_subscribe(s, b, b->credit);
        }
    }
    /* before returning to the session, which then delivers the new session's requests */
    if (renewed && s->session_fn)
        s->session_fn(s, s->session_arg);
}

void xsp_server_on_session(xsp_server_t *s, xsp_server_session_fn *fn, void *arg)
{
    s->session_fn = fn;
    s->session_arg = arg;
}

/* ================================================================ life */

xsp_server_t *xsp_server_new(const char *endpoint, const char *name, const char *role,
                             uint32_t domid, xsp_error_t *err)
{
    xsp_server_opts_t o = { .endpoint = endpoint, .name = name, .role = role, .domid = domid };
    return xsp_server_new_opts(&o, err);
}

xsp_server_t *xsp_server_new_opts(const xsp_server_opts_t *opts, xsp_error_t *err)
{
    xsp_server_opts_t o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    const char *endpoint = o.endpoint, *name = o.name, *role = o.role;
    char ep[XSP_ENDPOINT_MAX];
    if (xsp_endpoint_resolve(endpoint, ep, sizeof ep) != 0) {
        xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "the switch endpoint is too long");
        return NULL;
    }
    xsp_server_t *s = calloc(1, sizeof *s);
    if (!s) {
        xsp_error_set(err, XSP_E_SYSTEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    atomic_init(&s->stop, false);
    atomic_init(&s->done_signal, false);
    atomic_init(&s->max_payload, 0);
    s->donefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->donefd < 0) {
        xsp_error_set(err, XSP_E_SYSTEM, "eventfd: %s", strerror(errno));
        xsp_server_destroy(&s);
        return NULL;
    }
    xsp_session_cfg_t cfg = {
        .endpoint = ep,
        .name = name ? name : "xsp-server",
        .role = role ? role : "server",
        .domid = o.domid,
        .zmq_ctx = o.zmq_ctx,
    };
    xsp_session_events_t ev = { .message = on_message, .welcome = on_welcome };
    s->s = xsp_session_new(&cfg, &ev, s, err);
    if (!s->s || xsp_session_watch_fd(s->s, s->donefd) != 0 ||
        xsp_session_wait_ready(s->s, XSP_CONNECT_TIMEOUT_MS, err) != 0) {
        if (s->s && err && err->code == XSP_OK)
            xsp_error_set(err, XSP_E_SYSTEM, "epoll: %s", strerror(errno));
        xsp_server_destroy(&s);
        return NULL;
    }
    xsp_error_clear(err);
    return s;
}

static xsp_request_t *take_done(xsp_server_t *s)
{
    pthread_mutex_lock(&s->mu);
    xsp_request_t *list = s->done_head;
    s->done_head = s->done_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    return list;
}

static void flush_done(xsp_server_t *s)
{
    for (xsp_request_t *r = take_done(s); r;) {
        xsp_request_t *next = r->qnext;
        finish(s, r);
        r = next;
    }
}

static void drain_done(xsp_server_t *s)
{
    if (!atomic_exchange(&s->done_signal, false) && !atomic_load(&s->stop))
        return;
    uint64_t junk;
    ssize_t r = read(s->donefd, &junk, sizeof junk);    /* an eventfd: one read drains it */
    (void) r;
    flush_done(s);
}

void xsp_server_destroy(xsp_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    xsp_server_t *s = *self_p;
    *self_p = NULL;
    if (s->workers) {
        pthread_mutex_lock(&s->mu);
        s->quit = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        for (unsigned i = 0; i < s->nworkers; i++)
            pthread_join(s->workers[i], NULL);
        free(s->workers);
    }
    if (s->s) {
        xsp_server_t *prev = tl_io;
        tl_io = s;
        flush_done(s);          /* answers made before we stopped still go out */
        tl_io = prev;
    }
    if (s->nlive)
        xsp_log(XSP_LOG_WARN, "server destroyed with %zu request(s) neither answered nor "
                "released: the switch gives them to another server", s->nlive);
    while (s->live) {
        xsp_request_t *r = s->live;
        live_unlink(s, r);
        request_free(NULL, r);
    }
    while (s->spare) {
        xsp_request_t *next = s->spare->next;
        free(s->spare);
        s->spare = next;
    }
    xsp_session_destroy(&s->s);
    while (s->subs) {
        sub_t *b = s->subs;
        s->subs = b->next;
        free(b);
    }
    if (s->donefd >= 0)
        close(s->donefd);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int xsp_server_fd(const xsp_server_t *s)
{
    return xsp_session_fd(s->s);
}

int xsp_server_timeout_ms(const xsp_server_t *s)
{
    return atomic_load(&s->stop) ? 0 : xsp_session_timeout_ms(s->s);
}

int xsp_server_process(xsp_server_t *s)
{
    xsp_server_t *prev = tl_io;
    tl_io = s;
    /* requests answered on other threads: only when one said so (no read(2) and no lock
       per call on a server whose handlers answer inline) */
    drain_done(s);
    int n = xsp_session_process(s->s);
    drain_done(s);
    tl_io = prev;
    return atomic_load(&s->stop) ? -1 : n;
}

size_t xsp_server_pending(const xsp_server_t *s)
{
    return s->nlive;
}

uint64_t xsp_server_max_payload(const xsp_server_t *s)
{
    return atomic_load(&((xsp_server_t *) s)->max_payload);
}

uint64_t xsp_server_peer_id(const xsp_server_t *s)
{
    return xsp_session_welcome(s->s)->peer_id;
}

void xsp_server_stop(xsp_server_t *s)
{
    /* Wake the loop first, then set stop: once the loop sees stop its owner may destroy s
       (and close donefd) at any moment, so nothing here may follow the store.  A loop
       woken before the store finds stop unset and donefd still readable (drain_done reads
       it only when signalled or stopping), so it comes straight back until it sees it. */
    uint64_t one = 1;
    ssize_t w = write(s->donefd, &one, sizeof one);
    (void) w;
    atomic_store(&s->stop, true);
}

/* ---- signals ---- */

static volatile sig_atomic_t g_signalled;
static int g_sigfd = -1;
static pthread_once_t g_sig_once = PTHREAD_ONCE_INIT;

static void sig_init(void)
{
    g_sigfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

static void on_signal(int sig)
{
    g_signalled = sig;
    uint64_t one = 1;
    ssize_t w = write(g_sigfd, &one, sizeof one);
    (void) w;
}

bool xsp_server_interrupted(void)
{
    return g_signalled != 0;
}

int xsp_server_run(xsp_server_t *s)
{
    static const int sigs[2] = { SIGINT, SIGTERM };
    struct sigaction old[2];
    bool installed[2] = { false, false };
    pthread_once(&g_sig_once, sig_init);
    for (int i = 0; i < 2 && g_sigfd >= 0; i++) {
        if (sigaction(sigs[i], NULL, &old[i]) == 0 && old[i].sa_handler == SIG_DFL) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_signal;
            sigemptyset(&sa.sa_mask);
            installed[i] = sigaction(sigs[i], &sa, NULL) == 0;
        }
    }
    bool watching = g_sigfd >= 0 && xsp_session_watch_fd(s->s, g_sigfd) == 0;
    int rc = 0;
    while (!atomic_load(&s->stop) && !g_signalled) {
        if (xsp_session_failed(s->s)) {
            rc = -1;
            break;
        }
        xsp_session_poll(s->s, xsp_server_timeout_ms(s));
        xsp_server_process(s);
    }
    if (watching)
        xsp_session_unwatch_fd(s->s, g_sigfd);
    for (int i = 0; i < 2; i++)
        if (installed[i])
            sigaction(sigs[i], &old[i], NULL);
    return rc;
}

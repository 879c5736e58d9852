/*  rawpeer.c — see rawpeer.h. */
#define _GNU_SOURCE
#include "rawpeer.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zmq.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_ctx;
static rp_t *g_peers;
static __thread rp_t *tl_peers;

void *rp_ctx(void)
{
    pthread_mutex_lock(&g_lock);
    if (!g_ctx) {
        g_ctx = zmq_ctx_new();
        swt_cleanup_hook = rp_cleanup;
        swt_idle_hook = rp_tick_all;
    }
    pthread_mutex_unlock(&g_lock);
    CHECK(g_ctx);
    return g_ctx;
}

/* ------------------------------------------------------------------ messages */

void rp_msg_clear(rp_msg_t *m)
{
    free(m->payload);
    m->payload = NULL;
    m->payload_len = 0;
    m->nframes = 0;
    m->hdr_len = 0;
    memset(&m->h, 0, sizeof m->h);
}

#define S(x) (int) (x).len, (x).ptr ? (x).ptr : ""

const char *rp_msg_describe(const rp_msg_t *m, char *buf, size_t cap)
{
    const xsp_hdr_t *h = &m->h;
    int n;
    switch (h->cmd) {
    case XSP_CMD_ERROR:
        n = snprintf(buf, cap, "ERROR(ref_cmd=%" PRIu64 " ref=%" PRIu64 " code=%.*s: %.*s)", h->ref_cmd,
                     h->corr, S(h->code), S(h->message));
        break;
    case XSP_CMD_RESULT:
        n = snprintf(buf, cap, "RESULT(corr=%" PRIu64 " status=%" PRIu64 " msg_id=%" PRIu64 " service_us=%" PRIu64 ")",
                     h->corr, h->status, h->msg_id, h->service_us);
        break;
    case XSP_CMD_DELIVER:
        n = snprintf(buf, cap, "DELIVER(msg_id=%" PRIu64 " queue=%.*s timeout=%" PRIu64 " flags=%" PRIu64 " dbg=%.*s peer=%" PRIu64 ")",
                     h->msg_id, S(h->queue), h->timeout_ms, h->flags, S(h->dbg), h->peer_id);
        break;
    case XSP_CMD_TRACE_EVENT:
        n = snprintf(buf, cap, "TRACE_EVENT(seq=%" PRIu64 " %.*s queue=%.*s msg_id=%" PRIu64 " %.*s -> %.*s lost=%" PRIu64 ")",
                     h->seq, S(h->code), S(h->queue), h->msg_id, S(h->name), S(h->to), h->lost);
        break;
    case XSP_CMD_TRACE_END:
        n = snprintf(buf, cap, "TRACE_END(next_seq=%" PRIu64 " lost=%" PRIu64 ")", h->seq, h->lost);
        break;
    case XSP_CMD_WELCOME:
        n = snprintf(buf, cap, "WELCOME(peer_id=%" PRIu64 ")", h->peer_id);
        break;
    case XSP_CMD_DIAG_REPLY:
        n = snprintf(buf, cap, "DIAG_REPLY(corr=%" PRIu64 ")", h->corr);
        break;
    default:
        n = snprintf(buf, cap, "%s", xsp_cmd_name(h->cmd));
    }
    if (n >= 0 && (size_t) n < cap && m->nframes == 2)
        snprintf(buf + n, cap - (size_t) n, " + payload[%zu]", m->payload_len);
    return buf;
}

/* ------------------------------------------------------------------ peers */

static void tl_unlink(rp_t *p)
{
    for (rp_t **pp = &tl_peers; *pp; pp = &(*pp)->tl_next)
        if (*pp == p) {
            *pp = p->tl_next;
            return;
        }
}

static rp_t *connect_with_curve(const char *endpoint, int rcvhwm, const char *identity,
                                const char *const *curve)
{
    rp_t *p = calloc(1, sizeof *p);
    CHECK(p);
    p->sock = zmq_socket(rp_ctx(), ZMQ_DEALER);
    CHECKF(p->sock, "zmq_socket: %s", zmq_strerror(errno));
    if (curve)
        CHECKF(zmq_setsockopt(p->sock, ZMQ_CURVE_SERVERKEY, curve[0], 40) == 0 &&
               zmq_setsockopt(p->sock, ZMQ_CURVE_PUBLICKEY, curve[1], 40) == 0 &&
               zmq_setsockopt(p->sock, ZMQ_CURVE_SECRETKEY, curve[2], 40) == 0,
               "CURVE options: %s", zmq_strerror(errno));
    if (identity)
        CHECKF(zmq_setsockopt(p->sock, ZMQ_ROUTING_ID, identity, strlen(identity)) == 0,
               "ZMQ_ROUTING_ID: %s", zmq_strerror(errno));
    int linger = 0, sndtimeo = 5000;
    zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(p->sock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
    if (rcvhwm > 0) {
        zmq_setsockopt(p->sock, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
        int rcvbuf = 4096;
        zmq_setsockopt(p->sock, ZMQ_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    CHECKF(zmq_connect(p->sock, endpoint) == 0, "zmq_connect(%s): %s", endpoint, zmq_strerror(errno));
    p->last_send_ns = p->last_recv_ns = swt_now_ns();
    p->tl_next = tl_peers;
    tl_peers = p;
    pthread_mutex_lock(&g_lock);
    p->g_next = g_peers;
    if (g_peers)
        g_peers->g_prev = p;
    g_peers = p;
    pthread_mutex_unlock(&g_lock);
    return p;
}

static rp_t *connect_with(const char *endpoint, int rcvhwm, const char *identity)
{
    return connect_with_curve(endpoint, rcvhwm, identity, NULL);
}

rp_t *rp_connect_curve(const char *endpoint, const char *server_key, const char *public_key,
                       const char *secret_key)
{
    const char *const k[3] = { server_key, public_key, secret_key };
    return connect_with_curve(endpoint, 0, NULL, k);
}

rp_t *rp_connect_opts(const char *endpoint, int rcvhwm)
{
    return connect_with(endpoint, rcvhwm, NULL);
}

rp_t *rp_connect_id(const char *endpoint, const char *identity)
{
    return connect_with(endpoint, 0, identity);
}

rp_t *rp_connect(const char *endpoint)
{
    return rp_connect_opts(endpoint, 0);
}

static void free_peer(rp_t *p)
{
    zmq_close(p->sock);
    pthread_mutex_lock(&g_lock);
    if (p->g_prev)
        p->g_prev->g_next = p->g_next;
    else
        g_peers = p->g_next;
    if (p->g_next)
        p->g_next->g_prev = p->g_prev;
    pthread_mutex_unlock(&g_lock);
    free(p);
}

void rp_close(rp_t *p)
{
    if (!p)
        return;
    tl_unlink(p);
    free_peer(p);
}

void rp_bye(rp_t *p)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_BYE };
    rp_send_hdr(p, &h, NULL, 0, false);
    p->session = false;
    /* give the BYE a moment to leave before the socket goes (linger is 0) */
    int linger = 1000;
    zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof linger);
    rp_close(p);
}

void rp_cleanup(void)
{
    pthread_mutex_lock(&g_lock);
    rp_t *p = g_peers;
    g_peers = NULL;
    void *ctx = g_ctx;
    g_ctx = NULL;
    pthread_mutex_unlock(&g_lock);
    tl_peers = NULL;
    while (p) {
        rp_t *next = p->g_next;
        zmq_close(p->sock);
        free(p);
        p = next;
    }
    if (ctx)
        zmq_ctx_term(ctx);
}

/* ------------------------------------------------------------------ sending */

static void send_frames(rp_t *p, int n, const void *const *bufs, const size_t *lens, bool tick)
{
    for (int i = 0; i < n; i++) {
        int rc;
        do
            rc = zmq_send(p->sock, bufs[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0);
        while (rc < 0 && errno == EINTR);
        CHECKF(rc >= 0, "peer %s: zmq_send frame %d/%d: %s", p->name, i + 1, n, zmq_strerror(errno));
    }
    p->last_send_ns = swt_now_ns();
    if (tick)
        rp_tick_all();
}

void rp_send_frames(rp_t *p, int n, const void *const *bufs, const size_t *lens)
{
    send_frames(p, n, bufs, lens, true);
}

void rp_send_raw(rp_t *p, const void *buf, size_t len)
{
    const void *b[1] = { buf };
    size_t l[1] = { len };
    rp_send_frames(p, 1, b, l);
}

void rp_send_hdr(rp_t *p, const xsp_hdr_t *h, const void *payload, size_t len, bool with_payload)
{
    uint8_t buf[XSP_HEADER_MAX * 2];
    size_t n = xsp_hdr_encode(h, buf, sizeof buf);
    CHECKF(n > 0, "cannot encode a %s header", xsp_cmd_name(h->cmd));
    const void *b[2] = { buf, payload ? payload : "" };
    size_t l[2] = { n, payload ? len : 0 };
    rp_send_frames(p, with_payload ? 2 : 1, b, l);
}

void rp_request(rp_t *p, uint64_t corr, const char *queue, uint64_t timeout_ms, uint64_t flags,
                const char *dbg, const void *payload, size_t len)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_REQUEST, .corr = corr, .timeout_ms = timeout_ms, .flags = flags };
    h.queue = XSP_STR(queue);
    h.dbg = XSP_STR(dbg ? dbg : "");
    rp_send_hdr(p, &h, payload, len, true);
}

void rp_reply(rp_t *p, uint64_t msg_id, uint64_t status, const void *payload, size_t len)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_REPLY, .msg_id = msg_id, .status = status };
    rp_send_hdr(p, &h, payload, len, true);
}

void rp_subscribe(rp_t *p, const char *queue, uint64_t credit)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_SUBSCRIBE, .credit = credit };
    h.queue = XSP_STR(queue);
    rp_send_hdr(p, &h, NULL, 0, false);
}

void rp_unsubscribe(rp_t *p, const char *queue)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_UNSUBSCRIBE };
    h.queue = XSP_STR(queue);
    rp_send_hdr(p, &h, NULL, 0, false);
}

void rp_credit(rp_t *p, const char *queue, uint64_t credit)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_CREDIT, .credit = credit };
    h.queue = XSP_STR(queue);
    rp_send_hdr(p, &h, NULL, 0, false);
}

void rp_heartbeat(rp_t *p)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_HEARTBEAT };
    rp_send_hdr(p, &h, NULL, 0, false);
}

void rp_trace(rp_t *p, uint64_t from_seq, const char *glob, bool follow)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_TRACE, .seq = from_seq, .follow = follow };
    h.queue = XSP_STR(glob ? glob : "");
    rp_send_hdr(p, &h, NULL, 0, false);
}

void rp_untrace(rp_t *p)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_UNTRACE };
    rp_send_hdr(p, &h, NULL, 0, false);
}

void rp_diag(rp_t *p, uint64_t corr)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_DIAG, .corr = corr };
    rp_send_hdr(p, &h, NULL, 0, false);
}

/* ------------------------------------------------------------------ heartbeats */

static void tick(rp_t *p, uint64_t now)
{
    if (!p->session || p->silent || !p->heartbeat_ms)
        return;
    if (now - p->last_send_ns < p->heartbeat_ms * 1000000ull / 3)
        return;
    uint8_t buf[8];
    xsp_hdr_t h = { .cmd = XSP_CMD_HEARTBEAT };
    size_t n = xsp_hdr_encode(&h, buf, sizeof buf);
    if (zmq_send(p->sock, buf, n, ZMQ_DONTWAIT) >= 0)
        p->last_send_ns = now;
}

void rp_tick_all(void)
{
    uint64_t now = swt_now_ns();
    for (rp_t *p = tl_peers; p; p = p->tl_next)
        tick(p, now);
}

void rp_sleep(unsigned ms)
{
    uint64_t end = swt_now_ns() + (uint64_t) ms * 1000000ull;
    for (;;) {
        rp_tick_all();
        uint64_t now = swt_now_ns();
        if (now >= end)
            return;
        uint64_t left = (end - now) / 1000000ull;
        swt_msleep(left > 20 ? 20 : left ? (unsigned) left : 1);
    }
}

/* ------------------------------------------------------------------ receiving */

/*  Read the rest of a message whose first frame is in f0. */
static void take(rp_t *p, zmq_msg_t *f0, rp_msg_t *m)
{
    rp_msg_clear(m);
    size_t hl = zmq_msg_size(f0);
    bool more = zmq_msg_more(f0);
    CHECKF(hl <= sizeof m->hdr, "peer %s: a header frame of %zu bytes from the switch", p->name, hl);
    memcpy(m->hdr, zmq_msg_data(f0), hl);
    m->hdr_len = hl;
    m->nframes = 1;
    zmq_msg_close(f0);
    while (more) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        int rc;
        do
            rc = zmq_msg_recv(&f, p->sock, 0);
        while (rc < 0 && errno == EINTR);
        CHECKF(rc >= 0, "zmq_msg_recv: %s", zmq_strerror(errno));
        more = zmq_msg_more(&f);
        if (m->nframes == 1) {
            m->payload_len = zmq_msg_size(&f);
            m->payload = malloc(m->payload_len + 1);
            CHECK(m->payload);
            memcpy(m->payload, zmq_msg_data(&f), m->payload_len);
            m->payload[m->payload_len] = '\0';
        }
        m->nframes++;
        zmq_msg_close(&f);
    }
    char why[256] = "";
    CHECKF(m->nframes <= 2, "peer %s: the switch sent a %d-frame message", p->name, m->nframes);
    CHECKF(xsp_hdr_decode(m->hdr, m->hdr_len, &m->h, why, sizeof why) == 0,
           "peer %s: the switch sent a header that does not decode: %s", p->name, why);
    p->last_recv_ns = swt_now_ns();
    /* session bookkeeping: so automatic heartbeats stop when the session is gone */
    if (m->h.cmd == XSP_CMD_WELCOME) {
        p->session = true;
        p->peer_id = m->h.peer_id;
        p->heartbeat_ms = m->h.heartbeat_ms;
        p->max_payload = m->h.max_payload;
        p->max_depth = m->h.max_depth;
        p->max_outstanding = m->h.max_outstanding;
        p->max_credit = m->h.max_credit;
        p->boot_id = m->h.boot_id;
    } else if (m->h.cmd == XSP_CMD_ERROR && m->h.ref_cmd == 0 &&
               (rp_str_eq(m->h.code, "version") || rp_str_eq(m->h.code, "too-many-peers"))) {
        p->session = false;
    } else if (m->h.cmd == XSP_CMD_ERROR && rp_str_eq(m->h.code, "no-session")) {
        p->session = false;
    }
}

bool rp_poll_msg(rp_t *p, rp_msg_t *m)
{
    for (;;) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, p->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&f);
            CHECKF(errno == EAGAIN || errno == EINTR, "zmq_msg_recv: %s", zmq_strerror(errno));
            return false;
        }
        take(p, &f, m);
        if (m->h.cmd != XSP_CMD_HEARTBEAT)
            return true;
    }
}

bool rp_recv_hb(rp_t *p, rp_msg_t *m, unsigned timeout_ms, bool with_heartbeats)
{
    uint64_t end = swt_now_ns() + (uint64_t) timeout_ms * 1000000ull;
    for (;;) {
        rp_tick_all();
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, p->sock, ZMQ_DONTWAIT) >= 0) {
            take(p, &f, m);
            if (with_heartbeats || m->h.cmd != XSP_CMD_HEARTBEAT)
                return true;
            continue;
        }
        zmq_msg_close(&f);
        CHECKF(errno == EAGAIN || errno == EINTR, "zmq_msg_recv: %s", zmq_strerror(errno));
        uint64_t now = swt_now_ns();
        if (now >= end)
            return false;
        uint64_t left_ms = (end - now + 999999) / 1000000ull;
        long slice = left_ms > 20 ? 20 : (long) left_ms;
        zmq_pollitem_t it = { p->sock, 0, ZMQ_POLLIN, 0 };
        zmq_poll(&it, 1, slice);
    }
}

bool rp_recv(rp_t *p, rp_msg_t *m, unsigned timeout_ms)
{
    return rp_recv_hb(p, m, timeout_ms, false);
}

/* ------------------------------------------------------------------ session */

void rp_hello(rp_t *p, const char *name, const char *role, uint64_t pid, uint64_t domid)
{
    snprintf(p->name, sizeof p->name, "%s", name);
    p->domid = domid;
    xsp_hdr_t h = { .cmd = XSP_CMD_HELLO, .version = XSP_PROTO_VERSION, .pid = pid, .domid = domid };
    h.name = XSP_STR(name);
    h.role = XSP_STR(role);
    rp_send_hdr(p, &h, NULL, 0, false);
    rp_msg_t m = { 0 };
    rp_expect_cmd(p, &m, XSP_CMD_WELCOME);
    CHECK_U(m.h.version, ==, XSP_PROTO_VERSION);
    rp_msg_clear(&m);
}

rp_t *rp_open(const char *endpoint, const char *name, const char *role)
{
    rp_t *p = rp_connect(endpoint);
    rp_hello(p, name, role, (uint64_t) getpid(), 0);
    return p;
}

/* ------------------------------------------------------------------ expectations */

static void next_or_fail(const char *file, int line, rp_t *p, rp_msg_t *m, const char *want)
{
    if (!rp_recv(p, m, swt_ms(RP_TIMEOUT)))
        swt_fail(file, line, want, "peer %s: nothing arrived within %u ms", p->name, swt_ms(RP_TIMEOUT));
}

void rp_expect_cmd_at(const char *file, int line, rp_t *p, rp_msg_t *out, unsigned cmd)
{
    rp_msg_t tmp = { 0 };
    rp_msg_t *m = out ? out : &tmp;
    char want[64], got[2048];
    snprintf(want, sizeof want, "expect %s", xsp_cmd_name(cmd));
    next_or_fail(file, line, p, m, want);
    if (m->h.cmd != cmd)
        swt_fail(file, line, want, "peer %s: got %s", p->name, rp_msg_describe(m, got, sizeof got));
    rp_msg_clear(&tmp);
}

void rp_expect_error_at(const char *file, int line, rp_t *p, rp_msg_t *out, const char *code,
                        int ref_cmd, uint64_t ref)
{
    rp_msg_t tmp = { 0 };
    rp_msg_t *m = out ? out : &tmp;
    char want[160], got[2048];
    snprintf(want, sizeof want, "expect ERROR %s (ref_cmd %d, ref %llu)", code, ref_cmd,
             ref == RP_ANY ? 0ull : (unsigned long long) ref);
    next_or_fail(file, line, p, m, want);
    if (m->h.cmd != XSP_CMD_ERROR || !rp_str_eq(m->h.code, code) ||
        (ref_cmd >= 0 && m->h.ref_cmd != (uint64_t) ref_cmd) || (ref != RP_ANY && m->h.corr != ref))
        swt_fail(file, line, want, "peer %s: got %s", p->name, rp_msg_describe(m, got, sizeof got));
    CHECKF(m->nframes == 1, "an ERROR must not carry a payload frame");
    rp_msg_clear(&tmp);
}

void rp_expect_result_at(const char *file, int line, rp_t *p, rp_msg_t *out, uint64_t corr)
{
    rp_msg_t tmp = { 0 };
    rp_msg_t *m = out ? out : &tmp;
    char want[96], got[2048];
    snprintf(want, sizeof want, "expect RESULT corr %llu", (unsigned long long) corr);
    next_or_fail(file, line, p, m, want);
    if (m->h.cmd != XSP_CMD_RESULT || (corr != RP_ANY && m->h.corr != corr))
        swt_fail(file, line, want, "peer %s: got %s", p->name, rp_msg_describe(m, got, sizeof got));
    rp_msg_clear(&tmp);
}

void rp_expect_deliver_at(const char *file, int line, rp_t *p, rp_msg_t *out)
{
    rp_expect_cmd_at(file, line, p, out, XSP_CMD_DELIVER);
}

void rp_expect_nothing_at(const char *file, int line, rp_t *p, unsigned ms)
{
    rp_msg_t m = { 0 };
    char got[2048];
    if (rp_recv(p, &m, ms)) {
        rp_msg_describe(&m, got, sizeof got);
        rp_msg_clear(&m);
        swt_fail(file, line, "expect nothing", "peer %s: got %s", p->name, got);
    }
    rp_msg_clear(&m);
}

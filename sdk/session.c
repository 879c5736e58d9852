/*  session.c — one DEALER connection to the switch, kept alive (see session.h).

    Owns: the ZeroMQ context and socket of one peer, HELLO/WELCOME, heartbeats, liveness,
    re-HELLO after a switch restart, the stable epoll fd; plus the private clock and the
    u64 -> pointer table used by client.c and server.c.
    Never touches: requests, calls, subscriptions or payload contents (its owner's).
*/
#define _GNU_SOURCE
#include "session.h"
#include "xsp/cert.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "xsp/log.h"

/* ================================================================ clock */

int64_t xsp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ================================================================ idmap */

static size_t idmap_slot(uint64_t key, size_t mask)
{
    /* Fibonacci hashing: the top bits of key * 2^64/phi, so sequential ids land far
       apart (short probe runs) for one multiply; mask + 1 is a power of two >= 64 */
    return (size_t) ((key * 0x9e3779b97f4a7c15ull) >> (__builtin_clzll((uint64_t) mask) & 63));
}

void xsp_idmap_init(xsp_idmap_t *m)
{
    memset(m, 0, sizeof *m);
}

void xsp_idmap_dispose(xsp_idmap_t *m)
{
    free(m->e);
    memset(m, 0, sizeof *m);
}

void *xsp_idmap_get(const xsp_idmap_t *m, uint64_t key)
{
    if (!m->cap || !key)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = idmap_slot(key, mask);; i = (i + 1) & mask) {
        if (m->e[i].key == key)
            return m->e[i].val;
        if (m->e[i].key == 0)
            return NULL;
    }
}

static int idmap_grow(xsp_idmap_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    xsp_idmap_entry_t *e = calloc(ncap, sizeof *e);
    if (!e)
        return -1;
    size_t mask = ncap - 1;
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->e[j].key)
            continue;
        size_t i = idmap_slot(m->e[j].key, mask);
        while (e[i].key)
            i = (i + 1) & mask;
        e[i] = m->e[j];
    }
    free(m->e);
    m->e = e;
    m->cap = ncap;
    return 0;
}

int xsp_idmap_put(xsp_idmap_t *m, uint64_t key, void *val)
{
    if (!key || !val)
        return -1;
    if ((m->len + 1) * 2 > m->cap && idmap_grow(m))
        return -1;
    size_t mask = m->cap - 1;
    size_t i = idmap_slot(key, mask);
    while (m->e[i].key && m->e[i].key != key)
        i = (i + 1) & mask;
    if (!m->e[i].key) {
        m->e[i].key = key;
        m->len++;
    }
    m->e[i].val = val;
    return 0;
}

void *xsp_idmap_del(xsp_idmap_t *m, uint64_t key)
{
    if (!m->cap || !key)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = idmap_slot(key, mask);
    while (m->e[i].key != key) {
        if (!m->e[i].key)
            return NULL;
        i = (i + 1) & mask;
    }
    void *val = m->e[i].val;
    /* backward-shift deletion: move later members of the probe run into the hole */
    size_t hole = i;
    for (size_t j = (hole + 1) & mask; m->e[j].key; j = (j + 1) & mask) {
        size_t home = idmap_slot(m->e[j].key, mask);
        /* j's entry may move to hole iff home is not cyclically in (hole, j] */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays)
            continue;
        m->e[hole] = m->e[j];
        hole = j;
    }
    m->e[hole].key = 0;
    m->e[hole].val = NULL;
    m->len--;
    return val;
}

/* ================================================================ session */

typedef enum { ST_CONNECTING, ST_READY, ST_FAILED } state_t;

#define DEFAULT_HEARTBEAT_MS 1000
#define PROCESS_BUDGET 1024     /* messages per xsp_session_process before yielding */
#define CLOSE_LINGER_MS 100     /* let BYE leave on destroy */

struct xsp_session {
    void *ctx;
    bool own_ctx;               /* created here (terminated on destroy), not lent */
    void *sock;
    int zfd;                    /* ZMQ_FD of sock, member of epfd */
    int epfd;                   /* the stable pollable fd */
    int kickfd;                 /* eventfd: "a message is waiting", see check_kick */
    bool kicked;                /* kickfd was written since process() last drained it */
    char endpoint[1024];
    char name[XSP_NAME_MAX + 1];
    char role[XSP_ROLE_MAX + 1];
    char identity[256];         /* routing id; "" = none */
    uint32_t domid;
    state_t state;
    uint64_t gen;               /* WELCOMEs seen */
    xsp_welcome_t w;
    int64_t hb;                 /* heartbeat interval in force, ms */
    int64_t last_send, last_recv, hello_at;
    int64_t now;                /* the clock read when the outer xsp_session_process began */
    uint64_t sends;             /* messages sent so far (see xsp_session_process's end) */
    int in_process;             /* nesting depth of xsp_session_process */
    xsp_error_t refused;        /* why the last HELLO was refused (code XSP_OK if not) */
    xsp_session_events_t ev;
    void *owner;
};

static int64_t hello_retry_ms(const xsp_session_t *s)
{
    return s->hb * 3 > 1000 ? s->hb * 3 : 1000;
}

/*  After a send outside xsp_session_process: the send may have consumed the ZMQ_FD
    signal of a message that arrived meanwhile; make the pollable fd readable. */
static void check_kick(xsp_session_t *s)
{
    if (s->in_process || !s->sock)
        return;
    int events = 0;
    size_t sz = sizeof events;
    if (zmq_getsockopt(s->sock, ZMQ_EVENTS, &events, &sz) == 0 && (events & ZMQ_POLLIN)) {
        uint64_t one = 1;
        ssize_t w = write(s->kickfd, &one, sizeof one);
        (void) w;
        s->kicked = true;
    }
}

static void close_socket(xsp_session_t *s, int linger)
{
    if (!s->sock)
        return;
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->zfd, NULL);
    zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s->sock);
    s->sock = NULL;
    s->zfd = -1;
}

/*  CURVE for tcp endpoints (docs/security.md): $XSP_CURVE_CERT names this peer's secret
    certificate (NAME.key_secret from `xsp keygen`), $XSP_CURVE_SERVER the switch's public
    one.  Without them a tcp connection uses no encryption (and a switch started with
    --curve-secret refuses it).  ipc endpoints never use CURVE. */
static int apply_curve(xsp_session_t *s, void *sock, xsp_error_t *err)
{
    const char *mine = getenv("XSP_CURVE_CERT"), *theirs = getenv("XSP_CURVE_SERVER");
    if (strncmp(s->endpoint, "tcp://", 6) != 0 || !mine || !*mine)
        return XSP_OK;
    xsp_cert_t me, sw;
    if (xsp_cert_load(mine, &me, err) != XSP_OK)
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "XSP_CURVE_CERT: %s", err->msg);
    if (!me.secret_key[0])
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "XSP_CURVE_CERT %s holds no secret-key "
                             "(give the NAME.key_secret file)", mine);
    if (!theirs || !*theirs)
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "XSP_CURVE_CERT is set but XSP_CURVE_SERVER "
                             "(the switch's public certificate) is not");
    if (xsp_cert_load(theirs, &sw, err) != XSP_OK)
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "XSP_CURVE_SERVER: %s", err->msg);
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, sw.public_key, XSP_Z85_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, me.public_key, XSP_Z85_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, me.secret_key, XSP_Z85_KEY_LEN + 1) != 0)
        return xsp_error_set(err, XSP_E_SYSTEM, "cannot set the CURVE keys: %s", zmq_strerror(errno));
    return XSP_OK;
}

static int open_socket(xsp_session_t *s, xsp_error_t *err)
{
    void *sock = zmq_socket(s->ctx, ZMQ_DEALER);
    if (!sock)
        return xsp_error_set(err, XSP_E_SYSTEM, "cannot create a socket: %s", zmq_strerror(errno));
    int linger = CLOSE_LINGER_MS, ivl = 100, ivl_max = 0, sndhwm = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    /* Never refuse a send locally: the switch bounds what a peer may have outstanding. */
    zmq_setsockopt(sock, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm);
    if (apply_curve(s, sock, err) != XSP_OK) {
        zmq_close(sock);
        return err->code;
    }
    if (s->identity[0] && zmq_setsockopt(sock, ZMQ_ROUTING_ID, s->identity, strlen(s->identity)) != 0) {
        int e = errno;
        zmq_close(sock);
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "cannot set the identity '%s': %s",
                             s->identity, zmq_strerror(e));
    }
    if (zmq_connect(sock, s->endpoint) != 0) {
        int e = errno;
        zmq_close(sock);
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "cannot connect to '%s': %s",
                             s->endpoint, zmq_strerror(e));
    }
    int fd = -1;
    size_t sz = sizeof fd;
    struct epoll_event ee = { .events = EPOLLIN };
    ee.data.fd = -1;
    if (zmq_getsockopt(sock, ZMQ_FD, &fd, &sz) != 0 ||
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ee) != 0) {
        int e = errno;
        zmq_close(sock);
        return xsp_error_set(err, XSP_E_SYSTEM, "cannot watch the socket: %s", strerror(e));
    }
    s->sock = sock;
    s->zfd = fd;
    return 0;
}

static int raw_send(xsp_session_t *s, const xsp_hdr_t *h, zmq_msg_t *payload)
{
    uint8_t buf[XSP_HEADER_MAX];
    size_t n = xsp_hdr_encode(h, buf, sizeof buf);
    if (n == 0 || !s->sock) {
        if (payload)
            zmq_msg_close(payload);
        errno = n == 0 ? EMSGSIZE : ENOTCONN;
        return -1;
    }
    int rc = zmq_send(s->sock, buf, n, ZMQ_DONTWAIT | (payload ? ZMQ_SNDMORE : 0));
    if (rc >= 0 && payload) {
        rc = zmq_msg_send(payload, s->sock, ZMQ_DONTWAIT);
        if (rc >= 0)
            zmq_msg_init(payload);  /* sent: leave an empty message behind */
    }
    if (payload)
        zmq_msg_close(payload);
    if (rc < 0) {
        int e = errno;
        xsp_log(XSP_LOG_WARN, "send %s to %s failed: %s", xsp_cmd_name(h->cmd), s->endpoint,
                zmq_strerror(e));
        errno = e;
        return -1;
    }
    /* inside process() the clock read at its start is good enough for heartbeats (a batch
       takes microseconds); one clock read per message was measurable */
    s->last_send = s->in_process ? s->now : xsp_now_ms();
    s->sends++;
    check_kick(s);
    return 0;
}

static void send_hello(xsp_session_t *s)
{
    xsp_hdr_t h;
    memset(&h, 0, sizeof h);
    h.cmd = XSP_CMD_HELLO;
    h.version = XSP_PROTO_VERSION;
    h.name = XSP_STR(s->name);
    h.role = XSP_STR(s->role);
    h.pid = (uint64_t) getpid();
    h.domid = s->domid;
    s->state = ST_CONNECTING;
    s->hello_at = xsp_now_ms();
    xsp_error_clear(&s->refused);
    raw_send(s, &h, NULL);
}

/*  The switch is gone: drop the socket and whatever it still queued for the old switch,
    connect afresh and say HELLO first. */
static void reconnect(xsp_session_t *s, const char *why)
{
    xsp_log(XSP_LOG_INFO, "switch at %s %s: reconnecting", s->endpoint, why);
    close_socket(s, 0);
    xsp_error_t err;
    if (open_socket(s, &err) != 0) {
        xsp_log(XSP_LOG_ERR, "%s", err.msg);
        s->state = ST_CONNECTING;
        s->hello_at = xsp_now_ms();
        return;
    }
    send_hello(s);
}

xsp_session_t *xsp_session_new(const xsp_session_cfg_t *cfg, const xsp_session_events_t *ev,
                               void *owner, xsp_error_t *err)
{
    if (!cfg || !cfg->endpoint || !*cfg->endpoint) {
        xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "no switch endpoint given");
        return NULL;
    }
    if (strlen(cfg->endpoint) >= sizeof ((xsp_session_t *) 0)->endpoint) {
        xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "switch endpoint is too long");
        return NULL;
    }
    xsp_session_t *s = calloc(1, sizeof *s);
    if (!s) {
        xsp_error_set(err, XSP_E_SYSTEM, "out of memory");
        return NULL;
    }
    s->zfd = s->epfd = s->kickfd = -1;
    snprintf(s->endpoint, sizeof s->endpoint, "%s", cfg->endpoint);
    snprintf(s->name, sizeof s->name, "%s", cfg->name && *cfg->name ? cfg->name : "xsp");
    snprintf(s->role, sizeof s->role, "%s", cfg->role && *cfg->role ? cfg->role : "client");
    s->domid = cfg->domid;
    snprintf(s->identity, sizeof s->identity, "%s", cfg->identity ? cfg->identity : "");
    s->hb = DEFAULT_HEARTBEAT_MS;
    if (ev)
        s->ev = *ev;
    s->owner = owner;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->own_ctx = cfg->zmq_ctx == NULL;
    s->ctx = s->own_ctx ? zmq_ctx_new() : cfg->zmq_ctx;
    if (s->epfd < 0 || s->kickfd < 0 || !s->ctx) {
        xsp_error_set(err, XSP_E_SYSTEM, "cannot create the session: %s", strerror(errno));
        xsp_session_destroy(&s);
        return NULL;
    }
    struct epoll_event ee = { .events = EPOLLIN };
    ee.data.fd = s->kickfd;
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->kickfd, &ee) != 0 || open_socket(s, err) != 0) {
        if (err && err->code == XSP_OK)
            xsp_error_set(err, XSP_E_SYSTEM, "epoll: %s", strerror(errno));
        xsp_session_destroy(&s);
        return NULL;
    }
    s->last_recv = s->last_send = xsp_now_ms();
    send_hello(s);
    return s;
}

void xsp_session_destroy(xsp_session_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    xsp_session_t *s = *self_p;
    *self_p = NULL;
    if (s->sock && s->state == ST_READY) {
        xsp_hdr_t h;
        memset(&h, 0, sizeof h);
        h.cmd = XSP_CMD_BYE;
        s->in_process = 1;  /* no kick: nobody polls any more */
        raw_send(s, &h, NULL);
    }
    close_socket(s, CLOSE_LINGER_MS);
    if (s->ctx && s->own_ctx)
        zmq_ctx_term(s->ctx);
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->kickfd >= 0)
        close(s->kickfd);
    free(s);
}

bool xsp_session_ready(const xsp_session_t *s)
{
    return s->state == ST_READY;
}

bool xsp_session_failed(const xsp_session_t *s)
{
    return s->state == ST_FAILED;
}

uint64_t xsp_session_generation(const xsp_session_t *s)
{
    return s->gen;
}

const xsp_welcome_t *xsp_session_welcome(const xsp_session_t *s)
{
    return &s->w;
}

const char *xsp_session_endpoint(const xsp_session_t *s)
{
    return s->endpoint;
}

int xsp_session_fd(const xsp_session_t *s)
{
    return s->epfd;
}

int xsp_session_watch_fd(xsp_session_t *s, int fd)
{
    struct epoll_event ee = { .events = EPOLLIN };
    ee.data.fd = fd;
    return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ee);
}

int xsp_session_unwatch_fd(xsp_session_t *s, int fd)
{
    return epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int xsp_session_send(xsp_session_t *s, const xsp_hdr_t *h, zmq_msg_t *payload)
{
    if (s->state != ST_READY) {
        if (payload)
            zmq_msg_close(payload);
        errno = ENOTCONN;
        return -1;
    }
    return raw_send(s, h, payload);
}

int xsp_session_send_bytes(xsp_session_t *s, const xsp_hdr_t *h, const void *body, size_t len)
{
    if (!body)
        return xsp_session_send(s, h, NULL);
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, len) != 0)
        return -1;
    if (len)
        memcpy(zmq_msg_data(&m), body, len);
    return xsp_session_send(s, h, &m);
}

static void on_welcome(xsp_session_t *s, const xsp_hdr_t *h)
{
    s->w.peer_id = h->peer_id;
    s->w.heartbeat_ms = h->heartbeat_ms ? h->heartbeat_ms : DEFAULT_HEARTBEAT_MS;
    s->w.max_payload = h->max_payload;
    s->w.max_depth = h->max_depth;
    s->w.max_outstanding = h->max_outstanding;
    s->w.max_credit = h->max_credit;
    size_t n = h->sw_version.len < XSP_NAME_MAX ? h->sw_version.len : XSP_NAME_MAX;
    memcpy(s->w.sw_version, h->sw_version.ptr, n);
    s->w.sw_version[n] = '\0';
    s->hb = (int64_t) (s->w.heartbeat_ms > 3600000 ? 3600000 : s->w.heartbeat_ms);
    s->state = ST_READY;
    s->gen++;
    xsp_error_clear(&s->refused);
    xsp_log(XSP_LOG_DEBUG, "session %llu with %s: peer id %llu, heartbeat %lld ms",
            (unsigned long long) s->gen, s->endpoint, (unsigned long long) s->w.peer_id,
            (long long) s->hb);
    if (s->ev.welcome)
        s->ev.welcome(s->owner, s->gen > 1);
}

static void on_error(xsp_session_t *s, const xsp_hdr_t *h)
{
    xsp_code_t code = xsp_code_from_name(h->code.ptr, h->code.len);
    if (code == XSP_E_NO_SESSION) {
        if (s->state == ST_READY) {
            xsp_log(XSP_LOG_INFO, "switch at %s lost our session (restarted?): saying HELLO again",
                    s->endpoint);
            send_hello(s);
        }
        return;
    }
    if (h->ref_cmd == XSP_CMD_HELLO || (h->ref_cmd == 0 && s->state != ST_READY) ||
        code == XSP_E_VERSION) {
        xsp_error_set(&s->refused, code, "the switch at %s refused us: %s: %.*s", s->endpoint,
                      xsp_code_name(code), (int) h->message.len, h->message.ptr);
        xsp_log(XSP_LOG_ERR, "%s", s->refused.msg);
        if (code == XSP_E_VERSION)
            s->state = ST_FAILED;
    }
}

static void handle(xsp_session_t *s, zmq_msg_t *hdr, zmq_msg_t *payload)
{
    xsp_hdr_t h;
    char why[160];
    /* any message is a sign of life.  The outermost process() call stamps last_recv with
       its END once it handled anything (a long batch must not make the switch look
       silent), so the clock is read here only inside a nested call (a handler running the
       loop), whose tick may come before that end: one clock read per batch, not per
       message, on the hot path */
    s->last_recv = s->in_process > 1 ? xsp_now_ms() : s->now;
    if (xsp_hdr_decode(zmq_msg_data(hdr), zmq_msg_size(hdr), &h, why, sizeof why) != 0) {
        xsp_log(XSP_LOG_WARN, "ignoring a malformed message from the switch: %s", why);
        return;
    }
    switch (h.cmd) {
    case XSP_CMD_WELCOME:
        on_welcome(s, &h);
        return;
    case XSP_CMD_HEARTBEAT:
        return;
    case XSP_CMD_ERROR:
        on_error(s, &h);
        break;
    default:
        break;
    }
    if (s->ev.message)
        s->ev.message(s->owner, &h, payload);
}

/*  Whether a message waits in the socket (we were slow to read it: the switch was not silent). */
static bool pending(xsp_session_t *s)
{
    int ev = 0;
    size_t sz = sizeof ev;
    return s->sock && zmq_getsockopt(s->sock, ZMQ_EVENTS, &ev, &sz) == 0 && (ev & ZMQ_POLLIN);
}

/*  now: the caller's fresh clock reading. */
static void tick(xsp_session_t *s, int64_t now)
{
    if (s->state == ST_READY) {
        if (now - s->last_recv >= 3 * s->hb && !pending(s)) {
            reconnect(s, "was silent for 3 heartbeat intervals");
        } else if (now - s->last_send >= 3 * s->hb) {
            /* nobody ran our loop: the switch has ended our session by now */
            xsp_log(XSP_LOG_DEBUG, "we were silent for 3 heartbeat intervals: HELLO again");
            send_hello(s);
        } else if (now - s->last_send >= s->hb) {
            xsp_hdr_t h;
            memset(&h, 0, sizeof h);
            h.cmd = XSP_CMD_HEARTBEAT;
            raw_send(s, &h, NULL);
        }
    } else if (s->state == ST_CONNECTING) {
        if (now - s->hello_at >= hello_retry_ms(s))
            reconnect(s, "did not answer HELLO");
    }
}

int xsp_session_process(xsp_session_t *s)
{
    int handled = 0;
    if (!s->in_process++)
        s->now = xsp_now_ms();
    uint64_t junk;
    if (s->kicked) {            /* only we write it: no read(2) per call when it is idle */
        s->kicked = false;
        ssize_t r = read(s->kickfd, &junk, sizeof junk);    /* an eventfd: one read drains it */
        (void) r;
    }
    bool drained = false;       /* the loop ended on EAGAIN, which re-armed ZMQ_FD */
    uint64_t sends_at_drain = 0;
    /* receive until EAGAIN (which also re-arms ZMQ_FD), or until the budget is spent */
    while (handled < PROCESS_BUDGET && s->sock) {
        zmq_msg_t hdr, payload;
        zmq_msg_init(&hdr);
        if (zmq_msg_recv(&hdr, s->sock, ZMQ_DONTWAIT) < 0) {
            drained = errno == EAGAIN;
            sends_at_drain = s->sends;
            zmq_msg_close(&hdr);
            break;
        }
        handled++;
        bool has_payload = false, extra = false;
        if (zmq_msg_more(&hdr)) {
            zmq_msg_init(&payload);
            zmq_msg_recv(&payload, s->sock, ZMQ_DONTWAIT);
            has_payload = true;
            while (zmq_msg_more(&payload)) {
                zmq_msg_t x;
                zmq_msg_init(&x);
                int rc = zmq_msg_recv(&x, s->sock, ZMQ_DONTWAIT);
                bool more = rc >= 0 && zmq_msg_more(&x);
                zmq_msg_close(&x);
                extra = true;
                if (!more)
                    break;
            }
        }
        if (extra)
            xsp_log(XSP_LOG_WARN, "ignoring a message of more than two frames from the switch");
        else
            handle(s, &hdr, has_payload ? &payload : NULL);
        zmq_msg_close(&hdr);
        if (has_payload)
            zmq_msg_close(&payload);
    }
    if (handled) {
        /* A call lasts as long as the handlers run inside it (a server answering inline
           under a steady stream may handle a whole budget of slow requests): what it
           received and sent is as recent as its end, not the clock read at its start,
           else tick() would take a busy call for 3 silent heartbeats and drop a healthy
           session. */
        int64_t end = xsp_now_ms();
        s->last_recv = end;
        if (s->last_send == s->now)
            s->last_send = end;
        s->now = end;
    }
    /* the outermost call's clock reading is fresh (its start, or its end if it handled
       anything); a nested call may sit inside a long handler: it reads the clock */
    tick(s, s->in_process == 1 ? s->now : xsp_now_ms());
    s->in_process--;
    /* Budget spent, or something sent after the EAGAIN that re-armed ZMQ_FD (tick()'s
       heartbeat, a handler's send in a loop that did not drain): make sure we are called
       again.  A drained loop with no send since needs no ZMQ_EVENTS query (a syscall) */
    if (!s->in_process && (!drained || s->sends != sends_at_drain))
        check_kick(s);
    return handled;
}

int xsp_session_timeout_ms(const xsp_session_t *s)
{
    int64_t now = xsp_now_ms(), at;
    if (s->state == ST_READY) {
        at = s->last_send + s->hb;
        if (s->last_recv + 3 * s->hb < at)
            at = s->last_recv + 3 * s->hb;
    } else if (s->state == ST_CONNECTING) {
        at = s->hello_at + hello_retry_ms(s);
    } else {
        at = now + 1000;
    }
    int64_t d = at - now;
    return d < 0 ? 0 : d > 3600000 ? 3600000 : (int) d;
}

void xsp_session_poll(xsp_session_t *s, int timeout_ms)
{
    struct pollfd p = { .fd = s->epfd, .events = POLLIN };
    poll(&p, 1, timeout_ms);
}

int xsp_session_wait_ready(xsp_session_t *s, int timeout_ms, xsp_error_t *err)
{
    int64_t end = timeout_ms < 0 ? INT64_MAX : xsp_now_ms() + timeout_ms;
    for (;;) {
        xsp_session_process(s);
        if (s->state == ST_READY)
            return 0;
        if (s->refused.code != XSP_OK) {
            if (err)
                *err = s->refused;
            return s->refused.code;
        }
        int64_t left = end - xsp_now_ms();
        if (left <= 0)
            return xsp_error_set(err, XSP_E_DISCONNECTED,
                                 "no switch answered at %s within %d ms", s->endpoint, timeout_ms);
        int t = xsp_session_timeout_ms(s);
        xsp_session_poll(s, left < t ? (int) left : t);
    }
}

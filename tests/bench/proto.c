/*  proto.c — what bench peers put on the wire, per target protocol (see proto_t in bench.h).

    Owns: the DEALER socket options every bench peer uses, sessions (HELLO/WELCOME,
    heartbeats, BYE), how a server joins (SUBSCRIBE to the switch, or registration with the
    bare relay), the REQUEST header clients send, and a server's answer to one request.
    Headers are encoded and decoded only with libxsp's xsp_hdr_encode / xsp_hdr_decode.
    Never touches: windows, counters, timing of a phase (load.c), processes (child.c).

    Cost matters here: these functions run once per message on the core that clients and
    servers share, so they allocate nothing and copy only headers (payload frames are
    forwarded as received, zero copy) — except a server given a reply template
    (raw_same_payload), which builds each reply frame like any real server must.
*/
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

int frames_recv(void *sock, frames_t *m, int flags)
{
    m->n = 0;
    m->truncated = false;
    for (;;) {
        zmq_msg_t scratch;
        zmq_msg_t *f = m->n < MAX_FRAMES ? &m->f[m->n] : &scratch;
        zmq_msg_init(f);
        /* later parts of a message are already here: only the first may wait */
        bool first = m->n == 0 && !m->truncated;
        if (zmq_msg_recv(f, sock, first ? flags : 0) < 0) {
            int e = errno;
            zmq_msg_close(f);
            frames_close(m);
            errno = e;
            return -1;
        }
        int more = zmq_msg_more(f);
        if (f == &scratch) {
            zmq_msg_close(f);
            m->truncated = true;
        } else
            m->n++;
        if (!more)
            return m->n;
    }
}

void frames_close(frames_t *m)
{
    for (int i = 0; i < m->n; i++)
        zmq_msg_close(&m->f[i]);
    m->n = 0;
}

void *peer_socket(void *zctx, const char *endpoint, char *err, size_t errlen)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    if (!s) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
        return NULL;
    }
    int linger = 200, hwm = 100000, rcvtimeo = 100;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &rcvtimeo, sizeof rcvtimeo);
    if (zmq_connect(s, endpoint)) {
        snprintf(err, errlen, "connect %s: %s", endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static int send_hdr(void *sock, const xsp_hdr_t *h, int flags)
{
    uint8_t buf[512];
    size_t len = xsp_hdr_encode(h, buf, sizeof buf);
    if (!len) {
        errno = EMSGSIZE;
        return -1;
    }
    return zmq_send(sock, buf, len, flags) < 0 ? -1 : 0;
}

static int send_cmd(peer_t *p, const xsp_hdr_t *h)
{
    int rc = send_hdr(p->sock, h, 0);
    p->last_send_ns = now_ns();
    return rc;
}

/*  Wait up to timeout_ms for a header of command `want` from the switch, skipping
    HEARTBEATs.  0, or -1 with err (an ERROR frame's code and message included). */
static int await_cmd(peer_t *p, xsp_cmd_t want, xsp_hdr_t *h, frames_t *m, int timeout_ms,
                     char *err, size_t errlen)
{
    uint64_t deadline = now_ns() + (uint64_t) timeout_ms * 1000000u;
    char why[128];
    while (now_ns() < deadline) {
        if (frames_recv(p->sock, m, 0) < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            snprintf(err, errlen, "recv: %s", zmq_strerror(errno));
            return -1;
        }
        if (xsp_hdr_decode(zmq_msg_data(&m->f[0]), zmq_msg_size(&m->f[0]), h, why, sizeof why)) {
            snprintf(err, errlen, "undecodable header while waiting for %s: %s",
                     xsp_cmd_name(want), why);
            frames_close(m);
            return -1;
        }
        if (h->cmd == want)
            return 0;           /* m stays open: h points into it */
        if (h->cmd == XSP_CMD_ERROR) {
            snprintf(err, errlen, "switch answered ERROR %.*s: %.*s while we waited for %s",
                     (int) h->code.len, h->code.ptr, (int) h->message.len, h->message.ptr,
                     xsp_cmd_name(want));
            frames_close(m);
            return -1;
        }
        frames_close(m);        /* HEARTBEAT or anything else early: skip */
    }
    snprintf(err, errlen, "no %s within %d ms", xsp_cmd_name(want), timeout_ms);
    return -1;
}

int peer_join(peer_t *p, const char *name, const char *role, char *err, size_t errlen)
{
    p->heartbeat_ms = 0;
    p->max_outstanding = UINT64_MAX;
    p->max_credit = UINT64_MAX;
    p->last_send_ns = now_ns();
    if (p->proto != PROTO_XSP)
        return 0;
    xsp_hdr_t h = { .cmd = XSP_CMD_HELLO, .version = XSP_PROTO_VERSION, .name = XSP_STR(name),
                    .role = XSP_STR(role), .pid = (uint64_t) getpid(), .domid = 0 };
    if (send_cmd(p, &h)) {
        snprintf(err, errlen, "send HELLO: %s", zmq_strerror(errno));
        return -1;
    }
    frames_t m;
    if (await_cmd(p, XSP_CMD_WELCOME, &h, &m, 5000, err, errlen))
        return -1;
    if (h.version != XSP_PROTO_VERSION) {
        snprintf(err, errlen, "WELCOME with protocol version %llu", (unsigned long long) h.version);
        frames_close(&m);
        return -1;
    }
    p->heartbeat_ms = h.heartbeat_ms;
    p->max_outstanding = h.max_outstanding;
    p->max_credit = h.max_credit;
    frames_close(&m);
    return 0;
}

int peer_serve(peer_t *p, const char *queue, uint64_t credit, char *err, size_t errlen)
{
    if (p->proto == PROTO_XSP) {
        if (credit > p->max_credit)
            credit = p->max_credit;
        xsp_hdr_t h = { .cmd = XSP_CMD_SUBSCRIBE, .queue = XSP_STR(queue), .credit = credit };
        if (send_cmd(p, &h)) {
            snprintf(err, errlen, "send SUBSCRIBE: %s", zmq_strerror(errno));
            return -1;
        }
        return 0;
    }
    if (zmq_send(p->sock, RELAY_REGISTER, strlen(RELAY_REGISTER), 0) < 0) {
        snprintf(err, errlen, "send registration: %s", zmq_strerror(errno));
        return -1;
    }
    uint64_t deadline = now_ns() + 5000000000u;
    frames_t m;
    while (now_ns() < deadline) {
        if (frames_recv(p->sock, &m, 0) < 0)
            continue;
        bool ok = m.n == 1 && zmq_msg_size(&m.f[0]) == strlen(RELAY_REGISTERED)
                  && !memcmp(zmq_msg_data(&m.f[0]), RELAY_REGISTERED, strlen(RELAY_REGISTERED));
        frames_close(&m);
        if (ok)
            return 0;
    }
    snprintf(err, errlen, "the relay did not acknowledge the server within 5 s");
    return -1;
}

/*  Heartbeats go out every half interval whatever else was sent: one tiny frame per 0.5 s
    costs nothing measurable and saves a clock read per message. */
void peer_tick(peer_t *p)
{
    if (p->proto != PROTO_XSP || !p->heartbeat_ms)
        return;
    uint64_t now = now_ns();
    if (now - p->last_send_ns < p->heartbeat_ms * 500000u)     /* half an interval */
        return;
    xsp_hdr_t h = { .cmd = XSP_CMD_HEARTBEAT };
    send_cmd(p, &h);
}

void peer_leave(peer_t *p)
{
    if (p->proto != PROTO_XSP)
        return;
    xsp_hdr_t h = { .cmd = XSP_CMD_BYE };
    send_cmd(p, &h);
}

size_t request_header(uint8_t *buf, size_t cap, uint64_t corr, const char *queue, uint64_t timeout_ms,
                      uint64_t flags)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_REQUEST, .corr = corr, .queue = XSP_STR(queue),
                    .timeout_ms = timeout_ms, .flags = flags, .dbg = { "", 0 } };
    return xsp_hdr_encode(&h, buf, cap);
}

int server_answer(peer_t *p, frames_t *m, const uint8_t *tmpl, size_t tlen, char *err, size_t errlen)
{
    xsp_hdr_t h;
    char why[128];
    /* PROTO_ROUTED: [route, header, payload]; PROTO_XSP: [header, payload] */
    int hi = p->proto == PROTO_ROUTED ? 1 : 0;
    if (m->n <= hi || m->n > hi + 2 || m->truncated) {
        snprintf(err, errlen, "server received a message of %d frames", m->n);
        return -1;
    }
    if (xsp_hdr_decode(zmq_msg_data(&m->f[hi]), zmq_msg_size(&m->f[hi]), &h, why, sizeof why)) {
        snprintf(err, errlen, "server received an undecodable header: %s", why);
        return -1;
    }
    xsp_hdr_t a;
    if (p->proto == PROTO_XSP) {
        if (h.cmd == XSP_CMD_HEARTBEAT)
            return 0;
        if (h.cmd != XSP_CMD_DELIVER) {
            if (h.cmd == XSP_CMD_ERROR)
                snprintf(err, errlen, "server received ERROR %.*s: %.*s", (int) h.code.len,
                         h.code.ptr, (int) h.message.len, h.message.ptr);
            else
                snprintf(err, errlen, "server received %s, expected DELIVER", xsp_cmd_name(h.cmd));
            return -1;
        }
        a = (xsp_hdr_t) { .cmd = XSP_CMD_REPLY, .msg_id = h.msg_id, .status = XSP_STATUS_OK };
    } else {
        if (h.cmd != XSP_CMD_REQUEST) {
            snprintf(err, errlen, "server received %s, expected REQUEST", xsp_cmd_name(h.cmd));
            return -1;
        }
        a = (xsp_hdr_t) { .cmd = XSP_CMD_RESULT, .corr = h.corr, .status = XSP_STATUS_OK };
        if (zmq_msg_send(&m->f[0], p->sock, ZMQ_SNDMORE) < 0)
            goto send_failed;
    }
    bool has_payload = m->n == hi + 2;
    if (tmpl) {
        /* a reply of its own size: the template, led by the request's corr bytes */
        zmq_msg_t r;
        zmq_msg_init_size(&r, tlen);
        if (tlen) {
            uint8_t *d = zmq_msg_data(&r);
            memcpy(d, tmpl, tlen);
            size_t k = has_payload ? zmq_msg_size(&m->f[hi + 1]) : 0;
            k = k < 8 ? k : 8;
            if (k)
                memcpy(d, zmq_msg_data(&m->f[hi + 1]), k < tlen ? k : tlen);
        }
        if (send_hdr(p->sock, &a, ZMQ_SNDMORE) || zmq_msg_send(&r, p->sock, 0) < 0) {
            zmq_msg_close(&r);
            goto send_failed;
        }
        return 1;
    }
    if (send_hdr(p->sock, &a, has_payload ? ZMQ_SNDMORE : 0))
        goto send_failed;
    if (has_payload && zmq_msg_send(&m->f[hi + 1], p->sock, 0) < 0)
        goto send_failed;
    return 1;
send_failed:
    snprintf(err, errlen, "server send: %s", zmq_strerror(errno));
    return -1;
}

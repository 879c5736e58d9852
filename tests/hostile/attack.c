/*  attack.c — a hostile switch peer (see attack.h).  Raw frames only: every header is
    built with xsp_hdr_encode (or is deliberately not a header at all), sent with
    ZMQ_DONTWAIT so the attacker never blocks on the switch, and what comes back is read
    only where the mode says so.
*/
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "attack.h"
#include "xsp/wire.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

typedef struct {
    void *ctx;
    const char *ep;
    uint64_t sent, eagain;
    uint64_t errors;                /* ERROR frames read back */
    uint64_t err_too_large, err_protocol, err_outstanding, err_queues, err_expired, err_invalid;
} atk_t;

static void *dealer(atk_t *a, int rcvhwm)
{
    void *s = zmq_socket(a->ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (rcvhwm > 0)
        zmq_setsockopt(s, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    if (zmq_connect(s, a->ep) < 0) {
        zmq_close(s);
        return NULL;
    }
    return s;
}

/*  Send [header, payload?] without blocking: 0, or -1 (EAGAIN counted). */
static int send_hdr(atk_t *a, void *s, const xsp_hdr_t *h, const void *payload, size_t len, bool with_payload)
{
    uint8_t buf[XSP_HEADER_MAX + 64];
    size_t n = xsp_hdr_encode(h, buf, sizeof buf);
    if (!n)
        return -1;
    if (zmq_send(s, buf, n, ZMQ_DONTWAIT | (with_payload ? ZMQ_SNDMORE : 0)) < 0) {
        a->eagain++;
        return -1;
    }
    if (with_payload && zmq_send(s, payload, len, 0) < 0)
        return -1;
    a->sent++;
    return 0;
}

static void count_error(atk_t *a, const xsp_hdr_t *h)
{
    a->errors++;
#define IS(c) (h->code.len == strlen(c) && memcmp(h->code.ptr, c, h->code.len) == 0)
    if (IS("too-large"))
        a->err_too_large++;
    else if (IS("protocol"))
        a->err_protocol++;
    else if (IS("too-many-outstanding"))
        a->err_outstanding++;
    else if (IS("too-many-queues"))
        a->err_queues++;
    else if (IS("expired"))
        a->err_expired++;
    else if (IS("invalid-argument"))
        a->err_invalid++;
#undef IS
}

/*  Read whatever is waiting (counting ERRORs); with wait_ms > 0 wait that long for the
    first message.  Returns the last header's command (0 if nothing came). */
static int drain(atk_t *a, void *s, int wait_ms, xsp_hdr_t *last)
{
    int cmd = 0;
    zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };
    if (wait_ms > 0 && zmq_poll(&it, 1, wait_ms) <= 0)
        return 0;
    for (int i = 0; i < 100000; i++) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, s, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&f);
            break;
        }
        xsp_hdr_t h;
        bool more = zmq_msg_more(&f);
        if (xsp_hdr_decode(zmq_msg_data(&f), zmq_msg_size(&f), &h, NULL, 0) == 0) {
            cmd = h.cmd;
            if (h.cmd == XSP_CMD_ERROR)
                count_error(a, &h);
            if (last) {
                *last = h;
                last->code = last->name = last->message = last->queue = last->dbg = (xsp_str_t) { "", 0 };
            }
        }
        zmq_msg_close(&f);
        while (more) {
            zmq_msg_init(&f);
            zmq_msg_recv(&f, s, 0);
            more = zmq_msg_more(&f);
            zmq_msg_close(&f);
        }
    }
    return cmd;
}

static void *session(atk_t *a, const char *name, int rcvhwm)
{
    void *s = dealer(a, rcvhwm);
    if (!s)
        return NULL;
    xsp_hdr_t h = { .cmd = XSP_CMD_HELLO, .version = XSP_PROTO_VERSION, .name = XSP_STR(name),
                    .role = XSP_STR("hostile"), .pid = (uint64_t) getpid() };
    uint64_t end = now_ms() + 5000;
    while (send_hdr(a, s, &h, NULL, 0, false) < 0 && now_ms() < end)
        usleep(1000);
    while (now_ms() < end)
        if (drain(a, s, 100, NULL) == XSP_CMD_WELCOME)
            return s;
    zmq_close(s);
    return NULL;
}

static void request(atk_t *a, void *s, uint64_t corr, const char *queue, uint64_t timeout_ms,
                    const void *payload, size_t len)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_REQUEST, .corr = corr, .queue = XSP_STR(queue),
                    .timeout_ms = timeout_ms, .dbg = XSP_STR("hostile") };
    send_hdr(a, s, &h, payload, len, true);
}

static void heartbeat(atk_t *a, void *s)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_HEARTBEAT };
    send_hdr(a, s, &h, NULL, 0, false);
}

/* ------------------------------------------------------------------ modes */

static int oversized(atk_t *a, uint64_t end, unsigned long long max_payload)
{
    void *s = session(a, "hostile-oversized", 0);
    if (!s)
        return -1;
    size_t big = (size_t) max_payload + 1;
    char *buf = calloc(1, 17u << 20);
    if (!buf)
        return -1;
    memset(buf, 0xa5, 17u << 20);
    uint64_t n = 0, huge = 0;
    while (now_ms() < end) {
        n++;
        request(a, s, n, "hostile.big", 0, buf, big);
        if (n % 10 == 0) {          /* a header frame over 4096 bytes: not even msgpack */
            if (zmq_send(s, buf, XSP_HEADER_MAX + 100, ZMQ_DONTWAIT) >= 0)
                a->sent++;
        }
        if (n % 50 == 0) {          /* three frames */
            uint8_t hb[16];
            xsp_hdr_t h = { .cmd = XSP_CMD_HEARTBEAT };
            size_t hl = xsp_hdr_encode(&h, hb, sizeof hb);
            if (zmq_send(s, hb, hl, ZMQ_DONTWAIT | ZMQ_SNDMORE) >= 0) {
                zmq_send(s, "a", 1, ZMQ_SNDMORE);
                zmq_send(s, "b", 1, 0);
                a->sent++;
            }
        }
        if (n % 200 == 0) {         /* a 17 MiB frame: the transport drops the connection */
            void *t = dealer(a, 0);
            if (t) {
                zmq_send(t, buf, 17u << 20, ZMQ_DONTWAIT);
                huge++;
                usleep(20000);
                zmq_close(t);
            }
        }
        drain(a, s, 0, NULL);
    }
    drain(a, s, 200, NULL);
    printf("attack oversized sent=%llu huge=%llu errors=%llu too_large=%llu protocol=%llu\n",
           (unsigned long long) a->sent, (unsigned long long) huge, (unsigned long long) a->errors,
           (unsigned long long) a->err_too_large, (unsigned long long) a->err_protocol);
    free(buf);
    zmq_close(s);
    return 0;
}

static int tiny(atk_t *a, uint64_t end)
{
    void *s = session(a, "hostile-tiny", 1);
    if (!s)
        return -1;
    uint64_t n = 0;
    while (now_ms() < end) {
        for (int i = 0; i < 256; i++) {
            xsp_hdr_t h = { .cmd = XSP_CMD_REQUEST, .corr = ++n, .queue = XSP_STR("hostile.sink"),
                            .dbg = XSP_STR("") };
            if (send_hdr(a, s, &h, "t", 1, true) < 0) {
                usleep(200);
                break;
            }
        }
    }
    printf("attack tiny sent=%llu eagain=%llu\n", (unsigned long long) a->sent,
           (unsigned long long) a->eagain);
    zmq_close(s);
    return 0;
}

static int names(atk_t *a, uint64_t end)
{
    void *s = session(a, "hostile-names", 0);
    if (!s)
        return -1;
    uint64_t n = 0;
    char q[XSP_QUEUE_MAX + 1];
    while (now_ms() < end) {
        n++;
        /* a new queue holding one request for 200 ms */
        snprintf(q, sizeof q, "hostile.q.%llu", (unsigned long long) n);
        request(a, s, n, q, 200, "x", 1);
        /* a new queue created by SUBSCRIBE, left idle at once */
        snprintf(q, sizeof q, "hostile.s.%llu", (unsigned long long) n);
        xsp_hdr_t h = { .cmd = XSP_CMD_SUBSCRIBE, .queue = XSP_STR(q), .credit = 0 };
        send_hdr(a, s, &h, NULL, 0, false);
        h.cmd = XSP_CMD_UNSUBSCRIBE;
        send_hdr(a, s, &h, NULL, 0, false);
        if (n % 16 == 0) {          /* the longest name, and a name that is not one */
            char pre[40];
            int k = snprintf(pre, sizeof pre, "hostile.long.%llu.", (unsigned long long) n);
            memset(q, 'L', XSP_QUEUE_MAX);
            memcpy(q, pre, (size_t) k);
            q[XSP_QUEUE_MAX] = '\0';
            request(a, s, n, q, 200, "x", 1);
            request(a, s, n, "hostile bad name!", 200, "x", 1);
        }
        if (n % 64 == 0)
            usleep(1000);           /* let deadlines pass now and then */
        drain(a, s, 0, NULL);
    }
    drain(a, s, 300, NULL);
    printf("attack names sent=%llu errors=%llu too_many_queues=%llu expired=%llu invalid=%llu\n",
           (unsigned long long) a->sent, (unsigned long long) a->errors,
           (unsigned long long) a->err_queues, (unsigned long long) a->err_expired,
           (unsigned long long) a->err_invalid);
    zmq_close(s);
    return 0;
}

static int trace(atk_t *a, uint64_t end)
{
    void *s = session(a, "hostile-trace", 1);
    if (!s)
        return -1;
    xsp_hdr_t h = { .cmd = XSP_CMD_TRACE, .seq = 0, .queue = XSP_STR(""), .follow = 1 };
    send_hdr(a, s, &h, NULL, 0, false);
    while (now_ms() < end) {
        heartbeat(a, s);            /* alive, subscribed, and never reading */
        usleep(200000);
    }
    printf("attack trace sent=%llu\n", (unsigned long long) a->sent);
    zmq_close(s);
    return 0;
}

/*  A client that never reads, asking its own server for max_payload answers: each RESULT
    would wait in the switch for a reader that never comes. */
static int selfserve(atk_t *a, uint64_t end, unsigned long long max_payload)
{
    void *srv = session(a, "hostile-selfserve-srv", 0);
    void *cli = session(a, "hostile-selfserve-cli", 1);
    char *big = malloc((size_t) max_payload);
    if (!srv || !cli || !big) {
        free(big);
        return -1;
    }
    memset(big, 0x5a, (size_t) max_payload);
    xsp_hdr_t sub = { .cmd = XSP_CMD_SUBSCRIBE, .queue = XSP_STR("hostile.self"), .credit = 256 };
    send_hdr(a, srv, &sub, NULL, 0, false);
    uint64_t n = 0, replies = 0, last_hb = now_ms();
    while (now_ms() < end) {
        for (int i = 0; i < 32; i++)
            request(a, cli, ++n, "hostile.self", 0, "x", 1);
        zmq_pollitem_t it = { srv, 0, ZMQ_POLLIN, 0 };
        zmq_poll(&it, 1, 5);
        for (int i = 0; i < 256; i++) {
            zmq_msg_t f;
            zmq_msg_init(&f);
            if (zmq_msg_recv(&f, srv, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&f);
                break;
            }
            xsp_hdr_t h;
            bool more = zmq_msg_more(&f);
            bool deliver = xsp_hdr_decode(zmq_msg_data(&f), zmq_msg_size(&f), &h, NULL, 0) == 0 &&
                           h.cmd == XSP_CMD_DELIVER;
            uint64_t id = deliver ? h.msg_id : 0;
            zmq_msg_close(&f);
            while (more) {
                zmq_msg_init(&f);
                zmq_msg_recv(&f, srv, 0);
                more = zmq_msg_more(&f);
                zmq_msg_close(&f);
            }
            if (deliver) {
                xsp_hdr_t r = { .cmd = XSP_CMD_REPLY, .msg_id = id, .status = 0 };
                if (send_hdr(a, srv, &r, big, (size_t) max_payload, true) == 0)
                    replies++;
            }
        }
        if (now_ms() - last_hb >= 200) {    /* the client stays alive without reading */
            heartbeat(a, cli);
            last_hb = now_ms();
        }
    }
    printf("attack selfserve requests=%llu replies=%llu\n", (unsigned long long) n,
           (unsigned long long) replies);
    free(big);
    zmq_close(srv);
    zmq_close(cli);
    return 0;
}

/*  Thousands of long-named queues (so a DIAG report is ~1 MiB), then DIAG after DIAG from
    a peer that never reads them. */
#define DIAG_OWNERS 8
static int diag(atk_t *a, uint64_t end)
{
    void *own[DIAG_OWNERS] = { 0 };
    char q[XSP_QUEUE_MAX + 1];
    uint64_t queues = 0;
    for (int i = 0; i < DIAG_OWNERS; i++) {
        char name[32];
        snprintf(name, sizeof name, "hostile-diag-owner%d", i);
        if (!(own[i] = session(a, name, 0)))
            return -1;
        for (int j = 0; j < 256; j++) {     /* the default --max-queues-per-peer */
            int k = snprintf(q, sizeof q, "hostile.diag.%d.%d.", i, j);
            memset(q + k, 'n', 200);
            q[k + 200] = '\0';
            xsp_hdr_t h = { .cmd = XSP_CMD_SUBSCRIBE, .queue = XSP_STR(q), .credit = 0 };
            while (send_hdr(a, own[i], &h, NULL, 0, false) < 0 && now_ms() < end)
                usleep(1000);
            queues++;
        }
    }
    void *s = session(a, "hostile-diag", 1);
    if (!s)
        return -1;
    uint64_t n = 0, last_hb = now_ms();
    while (now_ms() < end) {
        xsp_hdr_t h = { .cmd = XSP_CMD_DIAG, .corr = ++n };
        send_hdr(a, s, &h, NULL, 0, false);
        usleep(500);
        if (now_ms() - last_hb >= 200) {
            for (int i = 0; i < DIAG_OWNERS; i++) {
                heartbeat(a, own[i]);
                drain(a, own[i], 0, NULL);
            }
            last_hb = now_ms();
        }
    }
    printf("attack diag queues=%llu diags=%llu\n", (unsigned long long) queues, (unsigned long long) n);
    for (int i = 0; i < DIAG_OWNERS; i++)
        zmq_close(own[i]);
    zmq_close(s);
    return 0;
}

#define HALF_DEALERS 200
#define HALF_RAW 100

static int raw_connect(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) != 0)
        return -1;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", ep + 6);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static int hello(atk_t *a, uint64_t end)
{
    void *d[HALF_DEALERS] = { 0 };
    int raw[HALF_RAW];
    uint64_t opened = 0, raw_opened = 0, raw_closed = 0;
    for (int i = 0; i < HALF_RAW; i++)
        raw[i] = -1;
    int di = 0, ri = 0;
    while (now_ms() < end) {
        /* a HELLO, then silence */
        if (d[di])
            zmq_close(d[di]);
        d[di] = dealer(a, 1);
        if (d[di]) {
            xsp_hdr_t h = { .cmd = XSP_CMD_HELLO, .version = XSP_PROTO_VERSION,
                            .name = XSP_STR("hostile-half"), .role = XSP_STR("hostile"), .pid = 1 };
            send_hdr(a, d[di], &h, NULL, 0, false);
            opened++;
        }
        di = (di + 1) % HALF_DEALERS;
        /* a connection that never says a word, not even the ZMTP greeting; replaced only
           once the switch closed it */
        if (raw[ri] < 0 && (raw[ri] = raw_connect(a->ep)) >= 0)
            raw_opened++;
        ri = (ri + 1) % HALF_RAW;
        for (int i = 0; i < HALF_RAW; i++) {
            if (raw[i] < 0)
                continue;
            char junk[256];
            ssize_t r = read(raw[i], junk, sizeof junk);   /* the switch's greeting, or EOF */
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                close(raw[i]);
                raw[i] = -1;
                raw_closed++;
            }
        }
        usleep(10000);
    }
    printf("attack hello sessions=%llu raw_opened=%llu raw_closed=%llu\n", (unsigned long long) opened,
           (unsigned long long) raw_opened, (unsigned long long) raw_closed);
    for (int i = 0; i < HALF_DEALERS; i++)
        if (d[i])
            zmq_close(d[i]);
    for (int i = 0; i < HALF_RAW; i++)
        if (raw[i] >= 0)
            close(raw[i]);
    return 0;
}

int hostile_attack(const char *mode, const char *endpoint, unsigned duration_ms,
                   unsigned long long max_payload)
{
    atk_t a = { .ctx = zmq_ctx_new(), .ep = endpoint };
    int max_sockets = 4096;
    zmq_ctx_set(a.ctx, ZMQ_MAX_SOCKETS, max_sockets);
    uint64_t end = now_ms() + duration_ms;
    int rc;
    if (!strcmp(mode, "oversized"))
        rc = oversized(&a, end, max_payload);
    else if (!strcmp(mode, "tiny"))
        rc = tiny(&a, end);
    else if (!strcmp(mode, "names"))
        rc = names(&a, end);
    else if (!strcmp(mode, "trace"))
        rc = trace(&a, end);
    else if (!strcmp(mode, "hello"))
        rc = hello(&a, end);
    else if (!strcmp(mode, "selfserve"))
        rc = selfserve(&a, end, max_payload);
    else if (!strcmp(mode, "diag"))
        rc = diag(&a, end);
    else {
        fprintf(stderr, "attack: unknown mode '%s'\n", mode);
        rc = -1;
    }
    if (rc < 0)
        fprintf(stderr, "attack %s: could not open a session with %s\n", mode, endpoint);
    fflush(stdout);
    zmq_ctx_term(a.ctx);
    return rc;
}

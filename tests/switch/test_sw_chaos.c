/*  test_sw_chaos.c — valid but hostile traffic: every session lifecycle path at once.
    --heartbeat-ms 100, seeded PRNG (XSP_CHAOS_SEED).

    lifecycle   4 clients and 4 servers on 3 queues do random valid things for a few
                seconds: requests with and without deadlines and AT_MOST_ONCE; servers that
                answer late or never, answer with unknown msg_ids, add credit, unsubscribe
                and resubscribe, say BYE, say HELLO again, fall silent until declared dead,
                close their socket and reconnect; clients that do the same.  Checked all
                along: every answer a client receives is for a request it has pending in
                its current session, at most one final answer per request, a RESULT carries
                exactly its own request's echoed body, errors are only the codes that can
                happen (expired, server-lost, no-session; invalid-argument for servers) —
                never `protocol`.  Then all servers serve everything: every request of a
                live session gets its answer (none lost), queues drain to depth 0 and
                inflight 0, and the switch exits 0 with no sanitizer report.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "rawpeer.h"
#include "swdiag.h"

#define NCLI 4
#define NSRV 4
#define MAXREQ 6000
#define BOGUS_BASE (1ull << 40)

static const char *const queues[3] = { "c.a", "c.b", "c.c" };
static uint64_t rng;

static uint64_t rnd(void)
{
    uint64_t x = rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static unsigned rn(unsigned n)
{
    return (unsigned) (rnd() % n);
}

enum { NONE, PENDING, DONE, ABANDONED };

typedef struct {
    rp_t *p;
    int idx;
    unsigned hellos, welcomes;  /* HELLOs sent / WELCOMEs received: session numbers */
    uint64_t silent_until;      /* playing dead until then (ms), 0 = not */
    unsigned char state[MAXREQ];
    unsigned epoch[MAXREQ];     /* the session (HELLO count) a request was sent in */
    uint64_t next_corr;
    uint64_t answered, abandoned, sent;
} client_t;

typedef struct {
    rp_t *p;
    int idx;
    bool hello_pending;
    uint64_t silent_until;
    struct { uint64_t msg_id; char body[64]; size_t len; } held[64];
    int nheld;
    uint64_t served;
} server_t;

static const char *ep;
static client_t cl[NCLI];
static server_t sv[NSRV];

static void send_hello(rp_t *p, const char *name, const char *role)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_HELLO, .version = 1, .pid = 1 };
    h.name = XSP_STR(name);
    h.role = XSP_STR(role);
    rp_send_hdr(p, &h, NULL, 0, false);
}

static void body_of(int client, uint64_t corr, char *buf, size_t cap, size_t *len)
{
    *len = (size_t) snprintf(buf, cap, "c%d:%llu:", client, (unsigned long long) corr);
}

/* ------------------------------------------------------------------ clients */

/*  Session k starts with the k-th WELCOME and ends with the next: messages to one peer
    are ordered, so after WELCOME k+1 nothing of session k's requests may arrive. */
static void client_hello(client_t *c)
{
    send_hello(c->p, "chaos-client", "client");
    c->hellos++;
}

static void abandon_before(client_t *c, unsigned epoch)
{
    for (uint64_t i = 0; i < c->next_corr; i++)
        if (c->state[i] == PENDING && c->epoch[i] < epoch) {
            c->state[i] = ABANDONED;
            c->abandoned++;
        }
}

static void client_welcomed(client_t *c)
{
    c->welcomes++;
    abandon_before(c, c->welcomes);
}

/*  A new socket: nothing sent on the old one can be answered any more. */
static void client_vanish(client_t *c)
{
    abandon_before(c, c->hellos + 1);
    c->welcomes = c->hellos;    /* WELCOMEs owed to the old socket never come */
}

static void client_handle(client_t *c, rp_msg_t *m)
{
    char got[2048];
    rp_msg_describe(m, got, sizeof got);
    if (m->h.cmd == XSP_CMD_WELCOME) {
        CHECKF(c->welcomes < c->hellos, "client %d: unexpected WELCOME", c->idx);
        client_welcomed(c);
        return;
    }
    if (m->h.cmd == XSP_CMD_ERROR && m->h.ref_cmd != XSP_CMD_REQUEST) {
        CHECKF(rp_str_eq(m->h.code, "no-session"), "client %d: %s", c->idx, got);
        return;
    }
    CHECKF(m->h.cmd == XSP_CMD_RESULT || m->h.cmd == XSP_CMD_ERROR, "client %d got %s", c->idx, got);
    uint64_t corr = m->h.corr;
    CHECKF(corr < c->next_corr, "client %d: answer for a corr it never used: %s", c->idx, got);
    CHECKF(c->state[corr] != DONE, "client %d: a second answer for corr %llu: %s", c->idx,
           (unsigned long long) corr, got);
    CHECKF(c->state[corr] != ABANDONED, "client %d: an answer for corr %llu of a previous session: %s", c->idx,
           (unsigned long long) corr, got);
    CHECK(c->state[corr] == PENDING);
    if (m->h.cmd == XSP_CMD_RESULT) {
        char want[64], full[80];
        size_t wl;
        body_of(c->idx, corr, want, sizeof want, &wl);
        int fl = snprintf(full, sizeof full, "echo:%s", want);
        CHECKF(m->payload_len == (size_t) fl && memcmp(m->payload, full, (size_t) fl) == 0,
               "client %d corr %llu: RESULT body '%.*s', want '%s'", c->idx, (unsigned long long) corr,
               (int) m->payload_len, m->payload ? (char *) m->payload : "", full);
    } else {
        CHECKF(rp_str_eq(m->h.code, "expired") || rp_str_eq(m->h.code, "server-lost") ||
                   rp_str_eq(m->h.code, "no-session"),
               "client %d: %s", c->idx, got);
    }
    c->state[corr] = DONE;
    c->answered++;
}

static void client_step(client_t *c, uint64_t now)
{
    if (c->silent_until) {
        if (now < c->silent_until)
            return;
        c->silent_until = 0;
        c->p->silent = false;
        client_hello(c);
    }
    unsigned r = rn(1000);
    if (r < 880 && c->next_corr < MAXREQ) {
        uint64_t corr = c->next_corr++;
        char b[64];
        size_t bl;
        body_of(c->idx, corr, b, sizeof b, &bl);
        uint64_t timeout = rn(3) ? 0 : 30 + rn(400);
        uint64_t flags = rn(5) == 0 ? XSP_FLAG_AT_MOST_ONCE : 0;
        rp_request(c->p, corr, queues[rn(3)], timeout, flags, "chaos", b, bl);
        c->state[corr] = PENDING;
        c->epoch[corr] = c->hellos;
        c->sent++;
    } else if (r < 883) {                        /* HELLO again on a live session */
        client_hello(c);
    } else if (r < 884) {                        /* fall silent until declared dead */
        c->p->silent = true;
        c->silent_until = now + 450 + rn(200);
    } else if (r < 886) {                        /* vanish: close the socket, come back */
        client_vanish(c);
        rp_close(c->p);
        c->p = rp_connect(ep);
        client_hello(c);
    }
}

/* ------------------------------------------------------------------ servers */

static void server_handle(server_t *s, rp_msg_t *m)
{
    char got[2048];
    rp_msg_describe(m, got, sizeof got);
    if (m->h.cmd == XSP_CMD_WELCOME) {
        s->hello_pending = false;
        return;
    }
    if (m->h.cmd == XSP_CMD_ERROR) {
        CHECKF(rp_str_eq(m->h.code, "no-session") || rp_str_eq(m->h.code, "invalid-argument"), "server %d: %s",
               s->idx, got);
        return;
    }
    CHECKF(m->h.cmd == XSP_CMD_DELIVER, "server %d got %s", s->idx, got);
    CHECK(m->payload_len < 64);
    if (s->nheld == 64) {                        /* full: answer the oldest */
        rp_reply(s->p, s->held[0].msg_id, 0, s->held[0].body, s->held[0].len);
        memmove(&s->held[0], &s->held[1], 63 * sizeof s->held[0]);
        s->nheld--;
    }
    s->held[s->nheld].msg_id = m->h.msg_id;
    s->held[s->nheld].len = (size_t) snprintf(s->held[s->nheld].body, sizeof s->held[0].body, "echo:%.*s",
                                              (int) m->payload_len, (char *) m->payload);
    s->nheld++;
}

static void server_answer(server_t *s, int k)
{
    rp_reply(s->p, s->held[k].msg_id, 0, s->held[k].body, s->held[k].len);
    s->held[k] = s->held[--s->nheld];
    s->served++;
}

static void server_subscribe_all(server_t *s, uint64_t credit)
{
    for (int q = 0; q < 3; q++)
        rp_subscribe(s->p, queues[q], credit);
}

static void server_step(server_t *s, uint64_t now)
{
    if (s->silent_until) {
        if (now < s->silent_until)
            return;
        s->silent_until = 0;
        s->p->silent = false;
        send_hello(s->p, "chaos-server", "server");
        s->hello_pending = true;
        server_subscribe_all(s, 1 + rn(4));
    }
    unsigned r = rn(1000);
    if (r < 600) {
        if (s->nheld)
            server_answer(s, (int) rn((unsigned) s->nheld));
    } else if (r < 640) {
        rp_reply(s->p, BOGUS_BASE + rn(1000), 0, "bogus", 5);           /* unknown msg_id */
    } else if (r < 700) {
        rp_credit(s->p, queues[rn(3)], 1 + rn(3));
    } else if (r < 730) {
        rp_unsubscribe(s->p, queues[rn(3)]);
    } else if (r < 780) {
        rp_subscribe(s->p, queues[rn(3)], 1 + rn(4));
    } else if (r < 783) {                        /* HELLO again: old deliveries become stale */
        send_hello(s->p, "chaos-server", "server");
        s->hello_pending = true;
        server_subscribe_all(s, 1 + rn(4));
    } else if (r < 785) {                        /* BYE, new socket */
        rp_bye(s->p);
        s->p = rp_connect(ep);
        s->nheld = 0;
        send_hello(s->p, "chaos-server", "server");
        s->hello_pending = true;
        server_subscribe_all(s, 1 + rn(4));
    } else if (r < 786) {                        /* fall silent until declared dead */
        s->p->silent = true;
        s->silent_until = now + 450 + rn(200);
    } else if (r < 788) {                        /* close without BYE */
        rp_close(s->p);
        s->p = rp_connect(ep);
        s->nheld = 0;
        send_hello(s->p, "chaos-server", "server");
        s->hello_pending = true;
        server_subscribe_all(s, 1 + rn(4));
    }
}

/* ------------------------------------------------------------------ driver */

static void poll_all(int ms)
{
    zmq_pollitem_t it[NCLI + NSRV];
    for (int i = 0; i < NCLI; i++)
        it[i] = (zmq_pollitem_t) { cl[i].p->sock, 0, ZMQ_POLLIN, 0 };
    for (int i = 0; i < NSRV; i++)
        it[NCLI + i] = (zmq_pollitem_t) { sv[i].p->sock, 0, ZMQ_POLLIN, 0 };
    zmq_poll(it, NCLI + NSRV, ms);
    rp_msg_t m = { 0 };
    for (int i = 0; i < NCLI; i++)
        if (!cl[i].silent_until)
            while (rp_poll_msg(cl[i].p, &m))
                client_handle(&cl[i], &m);
    for (int i = 0; i < NSRV; i++)
        if (!sv[i].silent_until)
            while (rp_poll_msg(sv[i].p, &m))
                server_handle(&sv[i], &m);
    rp_msg_clear(&m);
    rp_tick_all();
}

static void lifecycle(void)
{
    const char *seed_env = getenv("XSP_CHAOS_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 0xc4a05ull;
    rng = seed ? seed : 1;
    swt_note("chaos seed 0x%llx (XSP_CHAOS_SEED replays)", (unsigned long long) seed);
    swt_switch_t *sw = swt_start("--heartbeat-ms", "100", NULL);
    ep = sw->endpoint;
    rp_t *obs = rp_open(ep, "obs", "cli");
    for (int i = 0; i < NSRV; i++) {
        sv[i].idx = i;
        sv[i].p = rp_open(ep, "chaos-server", "server");
        server_subscribe_all(&sv[i], 2);
    }
    for (int i = 0; i < NCLI; i++) {
        cl[i].idx = i;
        cl[i].p = rp_open(ep, "chaos-client", "client");
        cl[i].hellos = cl[i].welcomes = 1;
    }
    uint64_t end = swt_now_ms() + 3000;
    int steps = 0;
    uint64_t next_step = 0;
    while (swt_now_ms() < end) {
        uint64_t now = swt_now_ms();
        if (now >= next_step) {             /* about one step per millisecond */
            for (int i = 0; i < NCLI; i++)
                client_step(&cl[i], now);
            for (int i = 0; i < NSRV; i++)
                server_step(&sv[i], now);
            steps++;
            next_step = now + 1;
        }
        poll_all(1);
    }
    /* heal: everybody back, every server serves every queue and answers everything */
    for (int i = 0; i < NCLI; i++)
        if (cl[i].silent_until) {
            cl[i].silent_until = 0;
            cl[i].p->silent = false;
            client_hello(&cl[i]);
        }
    for (int i = 0; i < NSRV; i++) {
        if (sv[i].silent_until) {
            sv[i].silent_until = 0;
            sv[i].p->silent = false;
            send_hello(sv[i].p, "chaos-server", "server");
            sv[i].hello_pending = true;
        }
        server_subscribe_all(&sv[i], 50);
    }
    uint64_t heal_end = swt_now_ms() + swt_ms(10000);
    for (;;) {
        poll_all(5);
        for (int i = 0; i < NSRV; i++)
            while (sv[i].nheld)
                server_answer(&sv[i], 0);
        uint64_t pending = 0;
        for (int i = 0; i < NCLI; i++) {
            if (cl[i].welcomes < cl[i].hellos)
                pending++;
            for (uint64_t k = 0; k < cl[i].next_corr; k++)
                pending += cl[i].state[k] == PENDING;
        }
        if (!pending)
            break;
        if (swt_now_ms() > heal_end) {
            for (int i = 0; i < NCLI; i++)
                for (uint64_t k = 0; k < cl[i].next_corr; k++)
                    if (cl[i].state[k] == PENDING)
                        FAILF("client %d corr %llu never got an answer (%llu requests still pending)", i,
                              (unsigned long long) k, (unsigned long long) pending);
            FAILF("a HELLO was never answered");
        }
    }
    uint64_t sent = 0, answered = 0, abandoned = 0, served = 0;
    for (int i = 0; i < NCLI; i++) {
        sent += cl[i].sent;
        answered += cl[i].answered;
        abandoned += cl[i].abandoned;
    }
    for (int i = 0; i < NSRV; i++)
        served += sv[i].served;
    /* queues drain completely (orphans answered by the healed servers) */
    CHECK(WAIT_FOR(5000, ({
        poll_all(1);
        for (int i = 0; i < NSRV; i++)
            while (sv[i].nheld)
                server_answer(&sv[i], 0);
        swd_t *d = swd_fetch(obs);
        uint64_t busy = 0;
        for (int q = 0; q < 3; q++) {
            const msgpack_object *o = swd_queue(d, queues[q]);
            if (o)
                busy += swd_obj_u(o, "depth") + swd_obj_u(o, "inflight");
        }
        swd_free(d);
        busy == 0;
    })));
    swd_t *d = swd_fetch(obs);
    swt_note("%d steps: %llu requests, %llu answered, %llu abandoned with their session; servers answered %llu; "
             "switch: requeued %llu, expired %llu, server_lost %llu, late %llu, peers up/down %llu/%llu",
             steps, (unsigned long long) sent, (unsigned long long) answered, (unsigned long long) abandoned,
             (unsigned long long) served, (unsigned long long) swd_u(d, "counters.requeued"),
             (unsigned long long) swd_u(d, "counters.expired"), (unsigned long long) swd_u(d, "counters.server_lost"),
             (unsigned long long) swd_u(d, "counters.late_replies"), (unsigned long long) swd_u(d, "counters.peers_up"),
             (unsigned long long) swd_u(d, "counters.peers_down"));
    CHECK_U(swd_u(d, "counters.protocol_errors"), ==, 0);
    swd_free(d);
    CHECK(sent > 1000);
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "lifecycle", lifecycle, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 50);
}

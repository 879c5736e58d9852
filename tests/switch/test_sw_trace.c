/*  test_sw_trace.c — traces (docs/protocol.md §8).

    basic            TRACE(0, "", 0): every event still held, contiguous seq from 1, ts_ns
                     not decreasing, then TRACE_END(next_seq = last + 1, lost 0), then
                     nothing more (the subscriber is forgotten).  The events of one request:
                     send (client label, corr, dbg, size), deliver (server label), reply
                     (server → client, service_us), in that order; peer-up, subscribe;
                     `error` events carry "code: message" in dbg
    queue_labels     from/to per §8: a queue as its bare name (send → q, deliver q →,
                     subscribe → q, requeue server → q), expire switch → client with
                     "expired: ..." in dbg, its queue and corr
    long_dbg         a 1024-byte dbg (the field's maximum) reaches the server whole; the
                     trace keeps its first 256 bytes (§8); 255- and 256-byte dbgs are kept whole
    payload_prefix   --trace-payload-bytes 4: events carry a 2nd frame with the first 4
                     payload bytes (fewer for shorter payloads); without it: no 2nd frame
    glob             "a.*", "?.one", exact name: only matching queues' events (events
                     without a queue always included); a glob with a NUL byte is
                     invalid-argument and subscribes nothing
    follow           follow streams live events (no TRACE_END), with its glob; UNTRACE stops
                     it; a new TRACE replaces the old one; DIAG shows `tracing`
    ring_bound       --trace-events 64 and 1000 request/reply: a TRACE from 0 returns at most
                     64 events, the newest, lost 0; a TRACE from 1 reports the skipped
                     events in `lost`; one from beyond the newest means "from now"
    slow_subscriber  a follower that never reads (RCVHWM 1) while ~50k events happen: the
                     switch keeps serving a client/server pair at full speed, reports lost
                     events (counters.trace_lost or the subscriber's next event), and its RSS
                     grows by less than a few MiB (bounded ring + bounded socket buffers)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "rawpeer.h"
#include "swdiag.h"

/* ------------------------------------------------------------------ collecting events */

typedef struct {
    uint64_t seq, ts_ns, msg_id, corr, size, service_us, lost;
    char event[65], queue[256], from[81], to[81], dbg[1025];
    int nframes;
    char prefix[257];
    size_t prefix_len;
} ev_t;

typedef struct {
    ev_t *ev;
    int n, cap;
    uint64_t end_next_seq, end_lost;
    bool ended;
} evlist_t;

static void cstr(char *dst, size_t cap, xsp_str_t s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static void ev_from_msg(ev_t *e, const rp_msg_t *m)
{
    memset(e, 0, sizeof *e);
    e->seq = m->h.seq;
    e->ts_ns = m->h.ts_ns;
    e->msg_id = m->h.msg_id;
    e->corr = m->h.corr;
    e->size = m->h.size;
    e->service_us = m->h.service_us;
    e->lost = m->h.lost;
    cstr(e->event, sizeof e->event, m->h.code);
    cstr(e->queue, sizeof e->queue, m->h.queue);
    cstr(e->from, sizeof e->from, m->h.name);
    cstr(e->to, sizeof e->to, m->h.to);
    cstr(e->dbg, sizeof e->dbg, m->h.dbg);
    e->nframes = m->nframes;
    if (m->nframes == 2) {
        e->prefix_len = m->payload_len < 256 ? m->payload_len : 256;
        memcpy(e->prefix, m->payload, e->prefix_len);
    }
}

static void ev_push(evlist_t *l, const rp_msg_t *m)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->ev = realloc(l->ev, (size_t) l->cap * sizeof *l->ev);
        CHECK(l->ev);
    }
    ev_from_msg(&l->ev[l->n++], m);
}

static void ev_free(evlist_t *l)
{
    free(l->ev);
    memset(l, 0, sizeof *l);
}

/*  TRACE(from, glob, 0) and collect until TRACE_END. */
static void trace_all(rp_t *t, uint64_t from, const char *glob, evlist_t *l)
{
    memset(l, 0, sizeof *l);
    rp_trace(t, from, glob, false);
    rp_msg_t m = { 0 };
    char got[2048];
    for (;;) {
        CHECKF(rp_recv(t, &m, swt_ms(5000)), "no TRACE_END after %d events", l->n);
        if (m.h.cmd == XSP_CMD_TRACE_END) {
            l->ended = true;
            l->end_next_seq = m.h.seq;
            l->end_lost = m.h.lost;
            CHECK(m.nframes == 1);
            break;
        }
        CHECKF(m.h.cmd == XSP_CMD_TRACE_EVENT, "tracer got %s", rp_msg_describe(&m, got, sizeof got));
        ev_push(l, &m);
    }
    rp_msg_clear(&m);
}

static const ev_t *find_ev(const evlist_t *l, const char *event, uint64_t msg_id)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->ev[i].event, event) == 0 && (!msg_id || l->ev[i].msg_id == msg_id))
            return &l->ev[i];
    return NULL;
}

static const ev_t *find_ev_from(const evlist_t *l, const char *event, const char *from)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->ev[i].event, event) == 0 && strcmp(l->ev[i].from, from) == 0)
            return &l->ev[i];
    return NULL;
}

static void label(char *buf, size_t cap, const rp_t *p)
{
    snprintf(buf, cap, "%s#%llu", p->name, (unsigned long long) p->peer_id);
}

/* ------------------------------------------------------------------ cases */

static void basic(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *srv = rp_open(sw->endpoint, "tsrv", "server");
    rp_t *cli = rp_open(sw->endpoint, "tcli", "client");
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    char sl[96], cl[96];
    label(sl, sizeof sl, srv);
    label(cl, sizeof cl, cli);
    rp_subscribe(srv, "tq", 1);
    rp_request(cli, 9, "tq", 0, 0, "dbg-123", "hello", 5);
    rp_msg_t d = { 0 };
    rp_expect_deliver(srv, &d);
    uint64_t mid = d.h.msg_id;
    rp_sleep(20);
    rp_reply(srv, mid, 0, "world!", 6);
    rp_expect_result(cli, NULL, 9);
    rp_request(cli, 10, "bad name", 0, 0, "", "x", 1);
    rp_expect_error(cli, NULL, "invalid-argument", XSP_CMD_REQUEST, 10);

    rp_t *t = rp_open(sw->endpoint, "tracer", "trace");
    evlist_t l;
    trace_all(t, 0, "", &l);
    CHECK(l.n >= 8);
    CHECK_U(l.ev[0].seq, ==, 1);
    for (int i = 1; i < l.n; i++) {
        CHECKF(l.ev[i].seq == l.ev[i - 1].seq + 1, "event %d has seq %llu after %llu", i,
               (unsigned long long) l.ev[i].seq, (unsigned long long) l.ev[i - 1].seq);
        CHECK(l.ev[i].ts_ns >= l.ev[i - 1].ts_ns);
        CHECK_U(l.ev[i].lost, ==, 0);
    }
    CHECK_U(l.end_next_seq, ==, l.ev[l.n - 1].seq + 1);
    CHECK_U(l.end_lost, ==, 0);
    CHECKF(find_ev_from(&l, "peer-up", sl), "no peer-up from %s", sl);
    CHECKF(find_ev_from(&l, "peer-up", cl), "no peer-up from %s", cl);
    const ev_t *sub = find_ev(&l, "subscribe", 0);
    CHECK(sub && strcmp(sub->queue, "tq") == 0 && strcmp(sub->from, sl) == 0);
    const ev_t *s = find_ev(&l, "send", mid), *dv = find_ev(&l, "deliver", mid), *r = find_ev(&l, "reply", mid);
    CHECKF(s && dv && r, "send %p deliver %p reply %p", (void *) s, (void *) dv, (void *) r);
    CHECK(s->seq < dv->seq && dv->seq < r->seq);
    CHECK(strcmp(s->queue, "tq") == 0 && strcmp(dv->queue, "tq") == 0 && strcmp(r->queue, "tq") == 0);
    CHECK_U(s->corr, ==, 9);
    CHECK_U(dv->corr, ==, 9);
    CHECK_U(r->corr, ==, 9);
    CHECKF(strcmp(s->from, cl) == 0, "send from '%s', want '%s'", s->from, cl);
    CHECKF(strcmp(dv->to, sl) == 0, "deliver to '%s', want '%s'", dv->to, sl);
    CHECKF(strcmp(r->from, sl) == 0 && strcmp(r->to, cl) == 0, "reply %s -> %s", r->from, r->to);
    CHECK(strcmp(s->dbg, "dbg-123") == 0 && strcmp(dv->dbg, "dbg-123") == 0 && strcmp(r->dbg, "dbg-123") == 0);
    CHECK_U(s->size, ==, 5);
    CHECK_U(dv->size, ==, 5);
    CHECK_U(r->size, ==, 6);
    CHECK_U(r->service_us, >=, 15000);
    CHECK_U(r->service_us, <, 10000000);
    CHECK(s->nframes == 1);                 /* no payload prefix by default */
    /* the refusal: an `error` event, switch → client, dbg "code: message" */
    const ev_t *e = NULL;
    for (int i = 0; i < l.n; i++)
        if (strcmp(l.ev[i].event, "error") == 0 && l.ev[i].corr == 10)
            e = &l.ev[i];
    CHECKF(e, "no error event for the refused request");
    CHECKF(strncmp(e->dbg, "invalid-argument: ", 18) == 0, "error event dbg '%s'", e->dbg);
    CHECKF(strcmp(e->to, cl) == 0, "error event to '%s'", e->to);
    CHECKF(strcmp(e->from, "switch") == 0, "error event from '%s', want 'switch'", e->from);
    CHECKF(e->queue[0] == '\0', "error event for a refused request has queue '%s', want \"\"", e->queue);
    /* the subscriber is forgotten: new activity reaches it no more */
    ev_free(&l);
    swd_t *g = swd_fetch(obs);
    const msgpack_object *tp = swd_peer(g, t->peer_id);
    CHECK(tp);
    CHECKF(!swd_obj_bool(tp, "tracing"), "DIAG still shows the one-shot tracer as tracing after TRACE_END");
    swd_free(g);
    rp_request(cli, 11, "tq", 0, 0, "", "x", 1);
    rp_expect_nothing(t, 300);
    rp_msg_clear(&d);
    swt_stop(sw);
}

static void queue_labels(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *srv = rp_open(sw->endpoint, "lsrv", "server");
    rp_t *cli = rp_open(sw->endpoint, "lcli", "client");
    char cl[96];
    label(cl, sizeof cl, cli);
    rp_subscribe(srv, "lq", 1);
    rp_request(cli, 1, "lq", 0, 0, "", "x", 1);
    rp_msg_t d = { 0 };
    rp_expect_deliver(srv, &d);
    uint64_t mid = d.h.msg_id;
    rp_bye(srv);                            /* requeue */
    rp_request(cli, 2, "exp.q", 100, 0, "", "x", 1);
    rp_expect_error(cli, NULL, "expired", XSP_CMD_REQUEST, 2);
    rp_t *t = rp_open(sw->endpoint, "tracer", "trace");
    evlist_t l;
    trace_all(t, 0, "", &l);
    const ev_t *s = find_ev(&l, "send", mid), *dv = find_ev(&l, "deliver", mid), *rq = find_ev(&l, "requeue", mid),
               *sb = find_ev(&l, "subscribe", 0), *ex = find_ev(&l, "expire", 0);
    CHECK(s && dv && rq && sb && ex);
    char bad[1024] = "";
    size_t n = 0;
#define WANT(cond, ...) do { if (!(cond)) n += (size_t) snprintf(bad + n, sizeof bad - n, __VA_ARGS__); } while (0)
    WANT(strcmp(s->to, "lq") == 0, " send.to='%s' (want 'lq');", s->to);
    WANT(strcmp(dv->from, "lq") == 0, " deliver.from='%s' (want 'lq');", dv->from);
    WANT(strcmp(sb->to, "lq") == 0, " subscribe.to='%s' (want 'lq');", sb->to);
    WANT(strcmp(rq->to, "lq") == 0, " requeue.to='%s' (want 'lq');", rq->to);
    WANT(strncmp(rq->from, "lsrv#", 5) == 0, " requeue.from='%s' (want 'lsrv#N');", rq->from);
    WANT(strcmp(ex->from, "switch") == 0, " expire.from='%s' (want 'switch');", ex->from);
    WANT(strcmp(ex->to, cl) == 0, " expire.to='%s' (want '%s');", ex->to, cl);
    WANT(strcmp(ex->queue, "exp.q") == 0, " expire.queue='%s' (want 'exp.q');", ex->queue);
    WANT(strncmp(ex->dbg, "expired: ", 9) == 0, " expire.dbg='%s' (want 'expired: ...');", ex->dbg);
    WANT(ex->corr == 2, " expire.corr=%llu (want 2);", (unsigned long long) ex->corr);
#undef WANT
    CHECKF(n == 0, "from/to of trace events (spec §8: queues as their bare name, expire switch -> client):%s", bad);
    ev_free(&l);
    rp_msg_clear(&d);
    swt_stop(sw);
}

static void long_dbg(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *srv = rp_open(sw->endpoint, "dsrv", "server");
    rp_t *cli = rp_open(sw->endpoint, "dcli", "client");
    rp_subscribe(srv, "dbgq", 1);
    static char dbg[1025];
    for (int i = 0; i < 1024; i++)
        dbg[i] = (char) ('a' + i % 26);
    dbg[1024] = '\0';
    rp_request(cli, 1, "dbgq", 0, 0, dbg, "x", 1);
    rp_msg_t d = { 0 };
    rp_expect_deliver(srv, &d);
    CHECKF(d.h.dbg.len == 1024 && memcmp(d.h.dbg.ptr, dbg, 1024) == 0, "DELIVER dbg has %u bytes", d.h.dbg.len);
    rp_t *t = rp_open(sw->endpoint, "tracer", "trace");
    evlist_t l;
    trace_all(t, 0, "dbgq", &l);
    const ev_t *s = find_ev(&l, "send", d.h.msg_id), *dv = find_ev(&l, "deliver", d.h.msg_id);
    CHECK(s && dv);
    /* §8: only the first 256 bytes of dbg are kept in the ring */
    CHECKF(strlen(s->dbg) == 256 && memcmp(s->dbg, dbg, 256) == 0,
           "the `send` trace event carries %zu bytes of the request's 1024-byte dbg, want its first 256 (§8)",
           strlen(s->dbg));
    CHECK(strlen(dv->dbg) == 256 && memcmp(dv->dbg, dbg, 256) == 0);
    ev_free(&l);
    /* and a dbg of exactly 256 bytes is kept whole, 255 too */
    for (int len = 255; len <= 256; len++) {
        char d256[257];
        memcpy(d256, dbg, (size_t) len);
        d256[len] = '\0';
        rp_request(cli, (uint64_t) len, "dbgq2", 0, 0, d256, "x", 1);
        rp_expect_nothing(cli, 50);
        trace_all(t, 0, "dbgq2", &l);
        const ev_t *e = NULL;
        for (int i = 0; i < l.n; i++)
            if (strcmp(l.ev[i].event, "send") == 0 && l.ev[i].corr == (uint64_t) len)
                e = &l.ev[i];
        CHECK(e);
        CHECKF(strcmp(e->dbg, d256) == 0, "a %d-byte dbg is kept as %zu bytes in the trace", len, strlen(e->dbg));
        ev_free(&l);
    }
    rp_msg_clear(&d);
    swt_stop(sw);
}

static void payload_prefix(void)
{
    swt_switch_t *sw = swt_start("--trace-payload-bytes", "4", NULL);
    rp_t *srv = rp_open(sw->endpoint, "psrv", "server");
    rp_t *cli = rp_open(sw->endpoint, "pcli", "client");
    rp_subscribe(srv, "pq", 2);
    rp_request(cli, 1, "pq", 0, 0, "", "abcdefgh", 8);
    rp_request(cli, 2, "pq", 0, 0, "", "xy", 2);
    rp_msg_t d1 = { 0 }, d2 = { 0 };
    rp_expect_deliver(srv, &d1);
    rp_expect_deliver(srv, &d2);
    rp_reply(srv, d1.h.msg_id, 0, "ABCDEFGH", 8);
    rp_expect_result(cli, NULL, 1);
    rp_t *t = rp_open(sw->endpoint, "tracer", "trace");
    evlist_t l;
    trace_all(t, 0, "", &l);
    const ev_t *s1 = find_ev(&l, "send", d1.h.msg_id), *s2 = find_ev(&l, "send", d2.h.msg_id),
               *r1 = find_ev(&l, "reply", d1.h.msg_id);
    CHECK(s1 && s2 && r1);
    CHECK(s1->nframes == 2 && s1->prefix_len == 4 && memcmp(s1->prefix, "abcd", 4) == 0);
    CHECK(s2->nframes == 2 && s2->prefix_len == 2 && memcmp(s2->prefix, "xy", 2) == 0);
    CHECK(r1->nframes == 2 && r1->prefix_len == 4 && memcmp(r1->prefix, "ABCD", 4) == 0);
    CHECK_U(s1->size, ==, 8);
    ev_free(&l);
    rp_msg_clear(&d1);
    rp_msg_clear(&d2);
    swt_stop(sw);
}

static void glob(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *cli = rp_open(sw->endpoint, "gcli", "client");
    const char *qs[] = { "a.one", "a.two", "b.one" };
    for (int i = 0; i < 3; i++)
        rp_request(cli, (uint64_t) i, qs[i], 0, 0, "", "x", 1);
    rp_t *t = rp_open(sw->endpoint, "tracer", "trace");
    struct { const char *glob; bool want[3]; } cases[] = {
        { "a.*", { true, true, false } },
        { "?.one", { true, false, true } },
        { "b.one", { false, false, true } },
        { "*", { true, true, true } },
        { "zzz", { false, false, false } },
        { "[ab].one", { true, false, true } },
        { "a.[!o]*", { false, true, false } },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        evlist_t l;
        trace_all(t, 0, cases[c].glob, &l);
        bool seen[3] = { false, false, false }, peer_up = false;
        for (int i = 0; i < l.n; i++) {
            if (strcmp(l.ev[i].event, "peer-up") == 0)
                peer_up = true;
            for (int k = 0; k < 3; k++)
                if (strcmp(l.ev[i].queue, qs[k]) == 0) {
                    seen[k] = true;
                    CHECKF(cases[c].want[k], "glob '%s' passed a %s event of queue %s", cases[c].glob,
                           l.ev[i].event, qs[k]);
                }
        }
        for (int k = 0; k < 3; k++)
            CHECKF(seen[k] == cases[c].want[k], "glob '%s': queue %s %s", cases[c].glob, qs[k],
                   seen[k] ? "seen" : "missing");
        CHECKF(peer_up, "glob '%s' dropped the queue-less peer-up events", cases[c].glob);
        ev_free(&l);
    }
    /* a glob with a NUL byte is not acceptable: invalid-argument, and no subscription */
    xsp_hdr_t h = { .cmd = XSP_CMD_TRACE, .seq = 0, .follow = 1, .queue = { "a\0*", 3 } };
    rp_send_hdr(t, &h, NULL, 0, false);
    rp_expect_error(t, NULL, "invalid-argument", XSP_CMD_TRACE, RP_ANY);
    rp_request(cli, 9, "a.one", 0, 0, "", "x", 1);
    rp_expect_nothing(t, 200);
    swt_stop(sw);
}

static void follow(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv = rp_open(sw->endpoint, "fsrv", "server");
    rp_t *cli = rp_open(sw->endpoint, "fcli", "client");
    rp_t *t = rp_open(sw->endpoint, "follower", "trace");
    rp_subscribe(srv, "f.q", 4);
    uint64_t next = swd_now_u(obs, "trace.next_seq");
    rp_trace(t, next, "f.*", true);
    CHECK(WAIT_FOR(2000, ({ swd_t *g = swd_fetch(obs); bool b = swd_obj_bool(swd_peer(g, t->peer_id), "tracing"); swd_free(g); b; })));
    rp_expect_nothing(t, 100);              /* nothing new yet (and no TRACE_END) */
    rp_request(cli, 1, "g.q", 0, 0, "", "x", 1);  /* not matching */
    rp_request(cli, 2, "f.q", 0, 0, "live", "y", 1);
    rp_msg_t d = { 0 }, m = { 0 };
    rp_expect_deliver(srv, &d);
    rp_reply(srv, d.h.msg_id, 0, "z", 1);
    rp_expect_result(cli, NULL, 2);
    const char *want[] = { "send", "deliver", "reply" };
    for (int i = 0; i < 3; i++) {
        rp_expect_cmd(t, &m, XSP_CMD_TRACE_EVENT);
        CHECKF(rp_str_eq(m.h.code, want[i]), "live event %d is %.*s, want %s", i, (int) m.h.code.len,
               m.h.code.ptr, want[i]);
        CHECK_STR(m.h.queue, "f.q");
        CHECK_U(m.h.msg_id, ==, d.h.msg_id);
        CHECK_U(m.h.seq, >=, next);
    }
    rp_expect_nothing(t, 200);
    /* UNTRACE: then a DIAG round trip orders us after it; nothing follows */
    rp_untrace(t);
    swd_t *g = swd_fetch(t);
    CHECK(!swd_obj_bool(swd_peer(g, t->peer_id), "tracing"));
    swd_free(g);
    rp_request(cli, 3, "f.q", 0, 0, "", "y", 1);
    rp_expect_deliver(srv, &d);
    rp_reply(srv, d.h.msg_id, 0, "z", 1);
    rp_expect_result(cli, NULL, 3);
    rp_expect_nothing(t, 300);
    /* a new TRACE replaces the old one: follow, then a one-shot */
    rp_trace(t, swd_now_u(obs, "trace.next_seq"), "", true);
    rp_trace(t, 0, "nomatch", false);
    rp_msg_t e = { 0 };
    do
        CHECK(rp_recv(t, &e, swt_ms(3000)));
    while (e.h.cmd == XSP_CMD_TRACE_EVENT);
    CHECK(e.h.cmd == XSP_CMD_TRACE_END);
    rp_request(cli, 4, "f.q", 0, 0, "", "y", 1);
    rp_expect_deliver(srv, &d);
    rp_reply(srv, d.h.msg_id, 0, "z", 1);
    rp_expect_result(cli, NULL, 4);
    rp_expect_nothing(t, 300);              /* the follow subscription was replaced */
    rp_msg_clear(&d);
    rp_msg_clear(&m);
    rp_msg_clear(&e);
    swt_stop(sw);
}

/*  n request/reply round trips through queue q, pipelined (window w). */
static void pump_requests(rp_t *cli, rp_t *srv, const char *q, int n, int w, unsigned stall_ms)
{
    int sent = 0, done = 0;
    rp_msg_t m = { 0 };
    uint64_t progress = swt_now_ms();
    while (done < n) {
        while (sent < n && sent - done < w) {
            rp_request(cli, (uint64_t) sent, q, 0, 0, "flood", "payload", 7);
            sent++;
        }
        zmq_pollitem_t it[2] = { { srv->sock, 0, ZMQ_POLLIN, 0 }, { cli->sock, 0, ZMQ_POLLIN, 0 } };
        zmq_poll(it, 2, 20);
        while (rp_poll_msg(srv, &m)) {
            CHECK(m.h.cmd == XSP_CMD_DELIVER);
            rp_reply(srv, m.h.msg_id, 0, "ok", 2);
        }
        while (rp_poll_msg(cli, &m)) {
            CHECKF(m.h.cmd == XSP_CMD_RESULT, "client got %s", xsp_cmd_name(m.h.cmd));
            done++;
            progress = swt_now_ms();
        }
        CHECKF(swt_now_ms() - progress < stall_ms, "no result for %u ms (%d of %d done): the switch stalled",
               stall_ms, done, n);
        rp_tick_all();
    }
    rp_msg_clear(&m);
}

static void ring_bound(void)
{
    swt_switch_t *sw = swt_start("--trace-events", "64", NULL);
    rp_t *srv = rp_open(sw->endpoint, "rsrv", "server");
    rp_t *cli = rp_open(sw->endpoint, "rcli", "client");
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_subscribe(srv, "ring", 64);
    pump_requests(cli, srv, "ring", 1000, 50, swt_ms(3000));
    swd_t *g = swd_fetch(obs);
    CHECK_U(swd_u(g, "trace.capacity"), ==, 64);
    CHECK_U(swd_u(g, "limits.trace_events"), ==, 64);
    uint64_t next = swd_u(g, "trace.next_seq");
    CHECK_U(next, >, 3000);
    swd_free(g);
    rp_t *t = rp_open(sw->endpoint, "tracer", "trace");
    evlist_t l;
    trace_all(t, 0, "", &l);
    swt_note("TRACE from 0 returned %d events (ring 64), next_seq %llu", l.n, (unsigned long long) l.end_next_seq);
    CHECK(l.n > 0 && l.n <= 64);
    for (int i = 1; i < l.n; i++)
        CHECK_U(l.ev[i].seq, ==, l.ev[i - 1].seq + 1);
    CHECK_U(l.ev[l.n - 1].seq + 1, ==, l.end_next_seq);
    CHECK_U(l.ev[0].lost, ==, 0);           /* from 0 = what is still held: nothing lost */
    CHECK_U(l.end_lost, ==, 0);
    ev_free(&l);
    /* from 1: everything before the ring's oldest was lost, and says so */
    trace_all(t, 1, "", &l);
    CHECK(l.n > 0 && l.n <= 64);
    CHECKF(l.ev[0].lost == l.ev[0].seq - 1, "first event seq %llu reports lost %llu, want %llu",
           (unsigned long long) l.ev[0].seq, (unsigned long long) l.ev[0].lost,
           (unsigned long long) (l.ev[0].seq - 1));
    for (int i = 1; i < l.n; i++)
        CHECK_U(l.ev[i].lost, ==, 0);
    ev_free(&l);
    /* beyond the newest: "from now" — nothing old, nothing lost */
    trace_all(t, next + 1000000, "", &l);
    CHECK_U(l.n, ==, 0);
    CHECK_U(l.end_lost, ==, 0);
    CHECK(l.end_next_seq >= next && l.end_next_seq < next + 100);
    ev_free(&l);
    swt_stop(sw);
}

static void slow_subscriber(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *srv = rp_open(sw->endpoint, "ssrv", "server");
    rp_t *cli = rp_open(sw->endpoint, "scli", "client");
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_subscribe(srv, "flood", 256);
    /* warm up pools and maps, then take the baseline */
    pump_requests(cli, srv, "flood", 3000, 200, swt_ms(3000));
    rp_sleep(100);
    long rss0 = swt_rss_kb(sw->pid);
    /* the slow follower: tiny receive buffer, never reads */
    rp_t *slow = rp_connect_opts(sw->endpoint, 1);
    rp_hello(slow, "slowpoke", "trace", 1, 0);
    rp_trace(slow, 0, "", true);
    uint64_t t0 = swt_now_ms();
    int n = 17000;                          /* 3 events each: ~51k events */
    pump_requests(cli, srv, "flood", n, 200, swt_ms(3000));
    uint64_t took = swt_now_ms() - t0;
    long rss1 = swt_rss_kb(sw->pid);
    swd_t *g = swd_fetch(obs);
    uint64_t lost = swd_u(g, "counters.trace_lost");
    uint64_t next = swd_u(g, "trace.next_seq");
    CHECK(swd_peer(g, slow->peer_id) != NULL);      /* still a live session */
    swd_free(g);
    swt_note("%d round trips (%llu events) in %llu ms with a stuck follower; RSS %ld -> %ld KiB; trace_lost %llu",
             n, (unsigned long long) next, (unsigned long long) took, rss0, rss1, (unsigned long long) lost);
    CHECKF(took < swt_ms(20000), "the flood took %llu ms", (unsigned long long) took);
    long limit_kb = swt_sanitized() ? 48 * 1024 : 8 * 1024;
    CHECKF(rss1 - rss0 < limit_kb, "switch RSS grew by %ld KiB (limit %ld KiB) with one stuck trace follower",
           rss1 - rss0, limit_kb);
    /* now read: somewhere the follower is told it lost events */
    rp_msg_t m = { 0 };
    uint64_t reported = 0, events = 0;
    while (rp_recv(slow, &m, 500)) {
        if (m.h.cmd == XSP_CMD_TRACE_EVENT) {
            events++;
            reported += m.h.lost;
        }
    }
    rp_msg_clear(&m);
    swt_note("follower then read %llu events reporting %llu lost", (unsigned long long) events,
             (unsigned long long) reported);
    CHECKF(lost > 0 || reported > 0, "no lost events reported (counters.trace_lost %llu, in events %llu)",
           (unsigned long long) lost, (unsigned long long) reported);
    CHECK(reported > 0);
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "basic", basic, false },
        { "queue_labels", queue_labels, false },
        { "long_dbg", long_dbg, false },
        { "payload_prefix", payload_prefix, false },
        { "glob", glob, false },
        { "follow", follow, false },
        { "ring_bound", ring_bound, false },
        { "slow_subscriber", slow_subscriber, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 50);
}

/*  test_sw_diag.c — the DIAG report in a known situation (docs/protocol.md §9).

    known_state   with every limit set on the command line, 4 peers (client, server,
                  follower tracer, observer), 5 requests on a queue whose server has credit
                  2 and 1 on a queue without a server, DIAG shows exactly: version,
                  heartbeat_ms, every limit, every counter, both queues (depth, inflight,
                  consumers, sent, delivered, replied, expired, requeued, errors), every
                  peer (id, name, role, pid, domid, outstanding, inflight, subscriptions
                  with credit, tracing, last_seen_ms), trace capacity/next_seq; then after
                  a reply, a refusal, a silent spell and a client's BYE, the changes.
    names_sanitized  a peer name/role with bytes outside printable ASCII shows them as `?`
                  in DIAG and in trace labels (§2)
    corr          DIAG_REPLY echoes the corr (0, small, 2^64-1) and is one msgpack map
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rawpeer.h"
#include "swdiag.h"

static void known_state(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "500", "--max-payload", "5000", "--max-depth", "100",
                                 "--max-outstanding", "50", "--max-outstanding-bytes", "100000",
                                 "--max-credit", "20", "--max-queues", "30", "--max-peers", "10",
                                 "--max-messages", "1000", "--trace-events", "128", "--trace-payload-bytes", "8",
                                 "--send-hwm", "5000", "--recv-hwm", "500", "--max-frame", "70000", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *cli = rp_connect(sw->endpoint);
    rp_hello(cli, "diag-client", "client", 4242, 7);
    rp_t *srv = rp_connect(sw->endpoint);
    rp_hello(srv, "diag-server", "server", 777, 3);
    rp_t *tr = rp_connect(sw->endpoint);
    rp_hello(tr, "diag-tracer", "trace", 99, 0);
    rp_trace(tr, 0, "", true);
    rp_subscribe(srv, "dq", 2);
    for (int i = 0; i < 5; i++)
        rp_request(cli, (uint64_t) i, "dq", 0, 0, "", "12345", 5);
    rp_request(cli, 5, "dq2", 0, 0, "", "abc", 3);
    rp_msg_t d1 = { 0 }, d2 = { 0 };
    rp_expect_deliver(srv, &d1);
    rp_expect_deliver(srv, &d2);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "dq2", "depth") == 1));

    swd_t *d = swd_fetch(obs);
    CHECK(swd_obj_str_eq(d->root, "version", XSP_VERSION));
    CHECK_U(swd_u(d, "heartbeat_ms"), ==, swt_ms(500));
    uint64_t up1 = swd_u(d, "uptime_ms");
    static const struct { const char *k; uint64_t v; } lim[] = {
        { "limits.max_payload", 5000 }, { "limits.max_depth", 100 }, { "limits.max_outstanding", 50 },
        { "limits.max_credit", 20 }, { "limits.max_queues", 30 }, { "limits.max_peers", 10 },
        { "limits.trace_events", 128 }, { "limits.trace_payload_bytes", 8 },
        { "limits.max_outstanding_bytes", 100000 }, { "limits.max_messages", 1000 },
        { "limits.send_hwm", 5000 }, { "limits.recv_hwm", 500 }, { "limits.max_frame", 70000 },
    };
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++)
        CHECKF(swd_u(d, lim[i].k) == lim[i].v, "%s is %llu, want %llu", lim[i].k,
               (unsigned long long) swd_u(d, lim[i].k), (unsigned long long) lim[i].v);
    static const struct { const char *k; uint64_t v; } ctr[] = {
        { "counters.sent", 6 }, { "counters.delivered", 2 }, { "counters.replied", 0 },
        { "counters.expired", 0 }, { "counters.requeued", 0 }, { "counters.server_lost", 0 },
        { "counters.errors", 0 }, { "counters.protocol_errors", 0 }, { "counters.late_replies", 0 },
        { "counters.replies_refused", 0 }, { "counters.peers_up", 4 }, { "counters.peers_down", 0 },
        { "counters.requests_held", 6 }, { "counters.queues", 2 },
    };
    for (size_t i = 0; i < sizeof ctr / sizeof ctr[0]; i++)
        CHECKF(swd_u(d, ctr[i].k) == ctr[i].v, "%s is %llu, want %llu", ctr[i].k,
               (unsigned long long) swd_u(d, ctr[i].k), (unsigned long long) ctr[i].v);
    (void) swd_u(d, "counters.trace_lost");          /* present */
    (void) swd_u(d, "counters.undeliverable");
    CHECK_U(swd_u(d, "trace.capacity"), ==, 128);
    CHECK_U(swd_u(d, "trace.next_seq"), >, 10);

    CHECK_U(swd_nqueues(d), ==, 2);
    const msgpack_object *q = swd_queue(d, "dq");
    CHECK(q);
    static const struct { const char *k; uint64_t v; } qf[] = {
        { "depth", 3 }, { "inflight", 2 }, { "consumers", 1 }, { "sent", 5 }, { "delivered", 2 },
        { "replied", 0 }, { "expired", 0 }, { "requeued", 0 }, { "errors", 0 },
    };
    for (size_t i = 0; i < sizeof qf / sizeof qf[0]; i++)
        CHECKF(swd_obj_u(q, qf[i].k) == qf[i].v, "queue dq %s is %llu, want %llu", qf[i].k,
               (unsigned long long) swd_obj_u(q, qf[i].k), (unsigned long long) qf[i].v);
    const msgpack_object *q2 = swd_queue(d, "dq2");
    CHECK(q2);
    CHECK_U(swd_obj_u(q2, "depth"), ==, 1);
    CHECK_U(swd_obj_u(q2, "inflight"), ==, 0);
    CHECK_U(swd_obj_u(q2, "consumers"), ==, 0);
    CHECK_U(swd_obj_u(q2, "sent"), ==, 1);
    CHECK_U(swd_obj_u(q2, "delivered"), ==, 0);

    CHECK_U(swd_npeers(d), ==, 4);
    const msgpack_object *pc = swd_peer(d, cli->peer_id), *ps = swd_peer(d, srv->peer_id),
                         *pt = swd_peer(d, tr->peer_id), *po = swd_peer(d, obs->peer_id);
    CHECK(pc && ps && pt && po);
    CHECK(swd_obj_str_eq(pc, "name", "diag-client") && swd_obj_str_eq(pc, "role", "client"));
    CHECK_U(swd_obj_u(pc, "pid"), ==, 4242);
    CHECK_U(swd_obj_u(pc, "domid"), ==, 7);
    CHECK_U(swd_obj_u(pc, "outstanding"), ==, 6);
    CHECK_U(swd_obj_u(pc, "inflight"), ==, 0);
    CHECK(!swd_obj_bool(pc, "tracing"));
    CHECK_U(swd_obj_u(pc, "last_seen_ms"), <, 2000);
    const msgpack_object *subs = swd_get(pc, "subscriptions");
    CHECK(subs && subs->type == MSGPACK_OBJECT_ARRAY && subs->via.array.size == 0);
    CHECK(swd_obj_str_eq(ps, "name", "diag-server") && swd_obj_str_eq(ps, "role", "server"));
    CHECK_U(swd_obj_u(ps, "pid"), ==, 777);
    CHECK_U(swd_obj_u(ps, "domid"), ==, 3);
    CHECK_U(swd_obj_u(ps, "outstanding"), ==, 0);
    CHECK_U(swd_obj_u(ps, "inflight"), ==, 2);
    subs = swd_get(ps, "subscriptions");
    CHECK(subs && subs->type == MSGPACK_OBJECT_ARRAY && subs->via.array.size == 1);
    CHECK(swd_obj_str_eq(&subs->via.array.ptr[0], "queue", "dq"));
    CHECK_U(swd_obj_u(&subs->via.array.ptr[0], "credit"), ==, 0);
    CHECK_U(swd_obj_u(&subs->via.array.ptr[0], "inflight"), ==, 2);
    CHECK(!swd_obj_bool(ps, "tracing"));
    CHECK(swd_obj_bool(pt, "tracing"));
    CHECK(swd_obj_str_eq(pt, "role", "trace"));
    CHECK_U(swd_obj_u(pt, "pid"), ==, 99);
    CHECK(swd_obj_str_eq(po, "name", "obs"));
    swd_free(d);

    /* a reply, a refusal, a silent spell */
    rp_reply(srv, d1.h.msg_id, 0, "r", 1);
    rp_expect_result(cli, NULL, 0);
    rp_expect_deliver(srv, &d1);             /* the credit came back */
    static char big[6000];
    rp_request(cli, 50, "dq", 0, 0, "", big, sizeof big);
    rp_expect_error(cli, NULL, "too-large", XSP_CMD_REQUEST, 50);
    cli->silent = true;
    rp_sleep(300);
    swt_msleep(0);
    d = swd_fetch(obs);
    CHECK_U(swd_u(d, "uptime_ms"), >=, up1 + 250);
    CHECK_U(swd_u(d, "counters.replied"), ==, 1);
    CHECK_U(swd_u(d, "counters.delivered"), ==, 3);
    CHECK_U(swd_u(d, "counters.errors"), ==, 1);
    CHECK_U(swd_u(d, "counters.requests_held"), ==, 5);
    q = swd_queue(d, "dq");
    CHECK_U(swd_obj_u(q, "depth"), ==, 2);
    CHECK_U(swd_obj_u(q, "inflight"), ==, 2);
    CHECK_U(swd_obj_u(q, "replied"), ==, 1);
    pc = swd_peer(d, cli->peer_id);
    CHECK_U(swd_obj_u(pc, "outstanding"), ==, 5);
    CHECK_U(swd_obj_u(pc, "last_seen_ms"), >=, 250);
    swd_free(d);
    cli->silent = false;

    /* the client leaves: its waiting requests go, the counters say so */
    rp_bye(cli);
    CHECK(WAIT_FOR(2000, swd_now_u(obs, "counters.peers_down") == 1));
    d = swd_fetch(obs);
    CHECK_U(swd_npeers(d), ==, 3);
    CHECK_U(swd_obj_u(swd_queue(d, "dq"), "depth"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(d, "dq2"), "depth"), ==, 0);
    swd_free(d);
    rp_msg_clear(&d1);
    rp_msg_clear(&d2);
    swt_stop(sw);
}

/* (spelled with \x3f so that no "??x" trigraph sequence appears) */
#define SANE_NAME "a\x3f" "b\x3f\x3f\x3f" "~ z"
#define SANE_ROLE "r\x3f\x3f"

static void names_sanitized(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *p = rp_connect(sw->endpoint);
    xsp_hdr_t h = { .cmd = XSP_CMD_HELLO, .version = 1, .pid = 1 };
    h.name = (xsp_str_t) { "a\x01" "b\xff\xc3\xa9" "~ z", 9 };
    h.role = (xsp_str_t) { "r\n\0", 3 };
    rp_send_hdr(p, &h, NULL, 0, false);
    rp_msg_t m = { 0 };
    rp_expect_cmd(p, &m, XSP_CMD_WELCOME);
    uint64_t id = m.h.peer_id;
    rp_msg_clear(&m);
    swd_t *d = swd_fetch(obs);
    const msgpack_object *pe = swd_peer(d, id);
    CHECK(pe);
    const msgpack_object *nm = swd_get(pe, "name");
    CHECKF(swd_obj_str_eq(pe, "name", SANE_NAME), "DIAG name is \"%.*s\", not the printable-ASCII form \"%s\"",
           nm ? (int) nm->via.str.size : 0, nm ? nm->via.str.ptr : "", SANE_NAME);
    CHECKF(swd_obj_str_eq(pe, "role", SANE_ROLE), "DIAG role is not \"%s\"", SANE_ROLE);
    swd_free(d);
    /* the trace label too */
    rp_t *t = rp_open(sw->endpoint, "tracer", "trace");
    rp_trace(t, 0, "", false);
    char want[64];
    snprintf(want, sizeof want, "%s#%llu", SANE_NAME, (unsigned long long) id);
    bool found = false;
    for (;;) {
        CHECK(rp_recv(t, &m, swt_ms(3000)));
        if (m.h.cmd == XSP_CMD_TRACE_END)
            break;
        if (rp_str_eq(m.h.code, "peer-up") && rp_str_eq(m.h.name, want))
            found = true;
    }
    rp_msg_clear(&m);
    CHECKF(found, "no peer-up event from '%s'", want);
    swt_stop(sw);
}

static void corr(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *p = rp_open(sw->endpoint, "p", "cli");
    const uint64_t corrs[] = { 0, 1, 300, UINT64_MAX };
    for (size_t i = 0; i < sizeof corrs / sizeof corrs[0]; i++) {
        rp_diag(p, corrs[i]);
        rp_msg_t m = { 0 };
        rp_expect_cmd(p, &m, XSP_CMD_DIAG_REPLY);
        CHECK_U(m.h.corr, ==, corrs[i]);
        CHECK(m.nframes == 2 && m.payload_len > 0);
        CHECK((m.payload[0] & 0xf0) == 0x80 || m.payload[0] == 0xde || m.payload[0] == 0xdf);
        rp_msg_clear(&m);
    }
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "known_state", known_state, false },
        { "names_sanitized", names_sanitized, false },
        { "corr", corr, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 45);
}

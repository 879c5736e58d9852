/*  test_sw_deadline.c — request deadlines (docs/protocol.md §3.2 timeout_ms, §6).

    queued            no server: ERROR expired (ref_cmd 3, ref = corr) after the timeout,
                      not before, exactly once; queue empties; DIAG expired; a server
                      subscribing later gets nothing; deadlines fire in deadline order
    inflight          the server holds it past the deadline: the client gets ERROR expired
                      exactly once; the server's late REPLY is dropped and counted
                      (late_replies), traced `drop`; nobody receives anything for it (the
                      client, a bystander peer, the server itself); answering it again is
                      refused (ERROR invalid-argument to the server, replies_refused)
    credit_held       an in-flight request that expired stays counted against its
                      server's credit (DIAG credit 0, inflight 1) until the server answers;
                      that answer is a late reply and lets the next request through
    expired_then_server_dies  the server dies holding an expired request: it is dropped,
                      not requeued (no other server sees it, the client hears nothing more)
    timeout_left      DELIVER carries the milliseconds left, not the original timeout
    answered_in_time  a request answered before its deadline never expires later
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rawpeer.h"
#include "swdiag.h"

static void queued(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    uint64_t t0 = swt_now_ms();
    rp_request(cli, 5, "nobody", 200, 0, "dbg-exp", "x", 1);
    rp_msg_t e = { 0 };
    rp_expect_error(cli, &e, "expired", XSP_CMD_REQUEST, 5);
    uint64_t took = swt_now_ms() - t0;
    swt_note("expired after %llu ms (timeout 200)", (unsigned long long) took);
    CHECKF(took >= 190, "expired after only %llu ms", (unsigned long long) took);
    CHECKF(took < swt_ms(2500), "expired only after %llu ms", (unsigned long long) took);
    rp_expect_nothing(cli, 500);        /* exactly once */
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_u(d, "counters.expired"), ==, 1);
    CHECK_U(swd_obj_u(swd_queue(d, "nobody"), "depth"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(d, "nobody"), "expired"), ==, 1);
    CHECK_U(swd_obj_u(swd_peer(d, cli->peer_id), "outstanding"), ==, 0);
    swd_free(d);
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_subscribe(srv, "nobody", 5);
    rp_expect_nothing(srv, 200);

    /* deadline order, not arrival order */
    rp_request(cli, 10, "nobody2", 600, 0, "", "a", 1);
    rp_request(cli, 11, "nobody2", 150, 0, "", "b", 1);
    rp_expect_error(cli, NULL, "expired", XSP_CMD_REQUEST, 11);
    rp_expect_error(cli, NULL, "expired", XSP_CMD_REQUEST, 10);
    rp_expect_nothing(cli, 200);
    rp_msg_clear(&e);
    swt_stop(sw);
}

static void inflight(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *bystander = rp_open(sw->endpoint, "bystander", "client");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_subscribe(srv, "slow", 1);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "slow", "consumers") == 1));
    rp_request(cli, 21, "slow", 300, 0, "dbg-inflight", "work", 4);
    rp_msg_t dl = { 0 };
    rp_expect_deliver(srv, &dl);
    CHECK(dl.h.timeout_ms > 0 && dl.h.timeout_ms <= 300);
    rp_expect_error(cli, NULL, "expired", XSP_CMD_REQUEST, 21);
    rp_expect_nothing(cli, 500);        /* exactly once */
    CHECK_U(swd_now_u(obs, "counters.expired"), ==, 1);
    /* the server answers late */
    rp_reply(srv, dl.h.msg_id, 0, "late", 4);
    CHECK(WAIT_FOR(2000, swd_now_u(obs, "counters.late_replies") == 1));
    rp_expect_nothing(cli, 300);
    rp_expect_nothing(bystander, 10);
    rp_expect_nothing(srv, 10);         /* the server is not told */
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_u(d, "counters.replied"), ==, 0);
    CHECK_U(swd_u(d, "counters.late_replies"), ==, 1);
    CHECK_U(swd_obj_u(swd_queue(d, "slow"), "inflight"), ==, 0);
    CHECK_U(swd_obj_u(swd_peer(d, cli->peer_id), "outstanding"), ==, 0);
    swd_free(d);
    /* answering it a second time: it is no longer in flight to the server, so this is not
       a late reply but a refused one (ERROR to the server); still delivered to nobody */
    rp_reply(srv, dl.h.msg_id, 0, "late2", 5);
    rp_expect_error(srv, NULL, "invalid-argument", XSP_CMD_REPLY, dl.h.msg_id);
    CHECK_U(swd_now_u(obs, "counters.replies_refused"), ==, 1);
    CHECK_U(swd_now_u(obs, "counters.late_replies"), ==, 1);
    rp_expect_nothing(cli, 100);
    /* trace: expire and drop for this msg_id */
    rp_t *t = rp_open(sw->endpoint, "tracer", "trace");
    rp_trace(t, 0, "", false);
    bool saw_expire = false, saw_drop = false;
    rp_msg_t m = { 0 };
    for (;;) {
        CHECK(rp_recv(t, &m, swt_ms(5000)));
        if (m.h.cmd == XSP_CMD_TRACE_END)
            break;
        if (m.h.msg_id == dl.h.msg_id && rp_str_eq(m.h.code, "expire"))
            saw_expire = true;
        if (m.h.msg_id == dl.h.msg_id && rp_str_eq(m.h.code, "drop"))
            saw_drop = true;
    }
    CHECK(saw_expire);
    CHECK(saw_drop);
    rp_msg_clear(&m);
    rp_msg_clear(&dl);
    swt_stop(sw);
}

static void credit_held(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_subscribe(srv, "cr", 1);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "cr", "consumers") == 1));
    rp_request(cli, 1, "cr", 200, 0, "", "r1", 2);
    rp_msg_t d1 = { 0 }, d2 = { 0 };
    rp_expect_deliver(srv, &d1);
    rp_request(cli, 2, "cr", 0, 0, "", "r2", 2);
    rp_expect_error(cli, NULL, "expired", XSP_CMD_REQUEST, 1);
    /* §6: the expired request stays counted against the server's credit until it answers */
    rp_expect_nothing(srv, 300);
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_sub_credit(d, srv->peer_id, "cr"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(d, "cr"), "inflight"), ==, 1);
    CHECK_U(swd_obj_u(swd_queue(d, "cr"), "depth"), ==, 1);
    CHECK_U(swd_obj_u(swd_peer(d, cli->peer_id), "outstanding"), ==, 1);   /* only r2 */
    swd_free(d);
    /* the late answer is dropped, and frees the slot for r2 */
    rp_reply(srv, d1.h.msg_id, 0, "late", 4);
    rp_expect_deliver(srv, &d2);
    CHECK(d2.payload_len == 2 && memcmp(d2.payload, "r2", 2) == 0);
    CHECK_U(swd_now_u(obs, "counters.late_replies"), ==, 1);
    rp_reply(srv, d2.h.msg_id, 0, "ok", 2);
    rp_msg_t r = { 0 };
    rp_expect_result(cli, &r, 2);
    CHECK(r.payload_len == 2 && memcmp(r.payload, "ok", 2) == 0);
    rp_expect_nothing(cli, 200);
    rp_msg_clear(&d1);
    rp_msg_clear(&d2);
    rp_msg_clear(&r);
    swt_stop(sw);
}

static void expired_then_server_dies(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "100", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *sx = rp_open(sw->endpoint, "sx", "server");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_subscribe(sx, "ed", 1);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "ed", "consumers") == 1));
    rp_request(cli, 1, "ed", 150, 0, "", "r1", 2);
    rp_expect_deliver(sx, NULL);
    rp_expect_error(cli, NULL, "expired", XSP_CMD_REQUEST, 1);
    rp_t *s2 = rp_open(sw->endpoint, "s2", "server");
    rp_subscribe(s2, "ed", 1);
    uint64_t sx_id = sx->peer_id;
    rp_close(sx);                        /* dies holding the expired request */
    /* wait for sx's death itself: "consumers == 1" alone may still be sx (the switch can
       read obs's DIAG before s2's SUBSCRIBE: they come on different connections) */
    CHECK(WAIT_FOR(3000, !swd_now_peer_present(obs, sx_id)));
    CHECK(WAIT_FOR(3000, swd_now_queue(obs, "ed", "consumers") == 1));
    /* §6: dropped, not requeued */
    rp_expect_nothing(s2, 300);
    rp_expect_nothing(cli, 10);
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_u(d, "counters.requeued"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(d, "ed"), "depth"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(d, "ed"), "inflight"), ==, 0);
    CHECK_U(swd_u(d, "counters.requests_held"), ==, 0);
    swd_free(d);
    swt_stop(sw);
}

static void timeout_left(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_request(cli, 1, "tl", 2000, 0, "", "x", 1);
    /* from when the switch surely holds it (its clock starts at the latest then), not from
       our send: a loaded switch may read it late */
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "tl", "depth") == 1));
    uint64_t t0 = swt_now_ms();
    rp_sleep(400);
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_subscribe(srv, "tl", 1);
    rp_msg_t d = { 0 };
    rp_expect_deliver(srv, &d);
    uint64_t waited = swt_now_ms() - t0;
    swt_note("DELIVER timeout_ms %llu after %llu ms in the queue", (unsigned long long) d.h.timeout_ms,
             (unsigned long long) waited);
    CHECK(d.h.timeout_ms >= 1);
    CHECKF(d.h.timeout_ms <= 2000 - 350, "DELIVER timeout_ms %llu after %llu ms waiting",
           (unsigned long long) d.h.timeout_ms, (unsigned long long) waited);
    rp_reply(srv, d.h.msg_id, 0, "", 0);
    rp_expect_result(cli, NULL, 1);
    rp_msg_clear(&d);
    swt_stop(sw);
}

static void answered_in_time(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_subscribe(srv, "ok", 4);
    for (int i = 0; i < 4; i++)
        rp_request(cli, (uint64_t) i, "ok", 250, 0, "", "x", 1);
    rp_msg_t d = { 0 };
    for (int i = 0; i < 4; i++) {
        rp_expect_deliver(srv, &d);
        rp_reply(srv, d.h.msg_id, 0, "y", 1);
    }
    for (int i = 0; i < 4; i++)
        rp_expect_result(cli, NULL, (uint64_t) i);
    rp_expect_nothing(cli, 600);
    CHECK_U(swd_now_u(obs, "counters.expired"), ==, 0);
    rp_msg_clear(&d);
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "queued", queued, false },
        { "inflight", inflight, false },
        { "credit_held", credit_held, false },
        { "expired_then_server_dies", expired_then_server_dies, false },
        { "timeout_left", timeout_left, false },
        { "answered_in_time", answered_in_time, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 45);
}

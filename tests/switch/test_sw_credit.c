/*  test_sw_credit.c — competing consumers, credit and round robin (docs/protocol.md §5).

    fair_two         2 servers with equal credit each take 35-65% of 400 requests
    fair_three       3 servers with equal credit each take 20-46% of 600 requests
    window           a server with credit 2 never holds more than 2 unanswered deliveries
                     (checked at every step, and by DIAG: inflight 2, credit 0, depth rest);
                     each REPLY lets exactly one more through
    credit_cmd       CREDIT(q, n) lets n more through; SUBSCRIBE again adds credit; CREDIT
                     or UNSUBSCRIBE on a queue the peer does not serve is invalid-argument
                     (ref_cmd 10 / 9)
    clamp            credit above --max-credit is clamped silently (SUBSCRIBE and CREDIT)
    credit_overflow  CREDIT with a huge n (2^64-1) on a subscription that has credit is
                     clamped to max_credit too, not wrapped around
    zero_credit      SUBSCRIBE with credit 0 is allowed: the subscription exists (consumers
                     1) and receives nothing until CREDIT
    round_robin      3 servers with credit 10 and 30 waiting requests: deliveries rotate
                     strictly (each server's msg_ids step by 3)
    round_robin_lru  "the subscription that received the least recently goes first":
                     S1 gets r1, S2 gets r2, S2 answers before S1; r3 must go to S1
    unsubscribe      UNSUBSCRIBE stops new deliveries; what is in flight can still be
                     answered and reaches the client; the queue then waits for a server
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "rawpeer.h"
#include "swdiag.h"

/*  Serve `total` requests already sent to the queue with servers srv[0..n-1], answering
    immediately; counts per server in got[]. */
static void serve_all(rp_t **srv, int n, rp_t *cli, int total, int *got)
{
    int results = 0;
    rp_msg_t m = { 0 };
    uint64_t deadline = swt_now_ms() + swt_ms(15000);
    while (results < total) {
        CHECKF(swt_now_ms() < deadline, "only %d of %d results", results, total);
        zmq_pollitem_t it[8];
        for (int i = 0; i < n; i++)
            it[i] = (zmq_pollitem_t) { srv[i]->sock, 0, ZMQ_POLLIN, 0 };
        it[n] = (zmq_pollitem_t) { cli->sock, 0, ZMQ_POLLIN, 0 };
        zmq_poll(it, n + 1, 20);
        rp_tick_all();
        for (int i = 0; i < n; i++)
            while (rp_poll_msg(srv[i], &m)) {
                CHECK(m.h.cmd == XSP_CMD_DELIVER);
                got[i]++;
                rp_reply(srv[i], m.h.msg_id, 0, m.payload, m.payload_len);
            }
        while (rp_poll_msg(cli, &m)) {
            CHECK(m.h.cmd == XSP_CMD_RESULT);
            results++;
        }
    }
    rp_msg_clear(&m);
}

static void fair(int nsrv, int total, int lo_pct, int hi_pct)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv[4];
    for (int i = 0; i < nsrv; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        srv[i] = rp_open(sw->endpoint, name, "server");
        rp_subscribe(srv[i], "fair", 4);
    }
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "fair", "consumers") == nsrv));
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    for (int i = 0; i < total; i++)
        rp_request(cli, (uint64_t) i, "fair", 0, 0, "", "x", 1);
    int got[4] = { 0 };
    serve_all(srv, nsrv, cli, total, got);
    for (int i = 0; i < nsrv; i++) {
        int pct = got[i] * 100 / total;
        swt_note("server %d took %d of %d (%d%%)", i, got[i], total, pct);
        CHECKF(pct >= lo_pct && pct <= hi_pct, "server %d took %d%% (want %d-%d%%)", i, pct, lo_pct, hi_pct);
    }
    swt_stop(sw);
}

static void fair_two(void)
{
    fair(2, 400, 35, 65);
}

static void fair_three(void)
{
    fair(3, 600, 20, 46);
}

static void window(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_subscribe(srv, "win", 2);
    for (int i = 0; i < 10; i++)
        rp_request(cli, (uint64_t) i, "win", 0, 0, "", "w", 1);
    rp_msg_t d[2] = { { 0 } };
    rp_expect_deliver(srv, &d[0]);
    rp_expect_deliver(srv, &d[1]);
    rp_expect_nothing(srv, 300);         /* credit 2: no third */
    swd_t *g = swd_fetch(obs);
    const msgpack_object *q = swd_queue(g, "win");
    CHECK(q);
    CHECK_U(swd_obj_u(q, "inflight"), ==, 2);
    CHECK_U(swd_obj_u(q, "depth"), ==, 8);
    CHECK(swd_sub_credit(g, srv->peer_id, "win") == 0);
    CHECK_U(swd_obj_u(swd_peer(g, srv->peer_id), "inflight"), ==, 2);
    swd_free(g);
    /* each reply lets exactly one more through; never more than 2 unanswered */
    int answered = 0, outstanding = 2;
    while (answered < 10) {
        rp_msg_t *a = &d[answered % 2];
        rp_reply(srv, a->h.msg_id, 0, "r", 1);
        answered++;
        outstanding--;
        rp_msg_clear(a);
        if (answered + outstanding < 10) {
            rp_expect_deliver(srv, a);
            outstanding++;
        }
        CHECK(outstanding <= 2);
        rp_expect_nothing(srv, 30);
    }
    for (int i = 0; i < 10; i++)
        rp_expect_result(cli, NULL, (uint64_t) i);
    CHECK(swd_now_queue(obs, "win", "inflight") == 0);
    swt_stop(sw);
}

static void credit_cmd(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_subscribe(srv, "cq", 1);
    for (int i = 0; i < 8; i++)
        rp_request(cli, (uint64_t) i, "cq", 0, 0, "", "c", 1);
    rp_expect_deliver(srv, NULL);
    rp_expect_nothing(srv, 200);
    rp_credit(srv, "cq", 2);            /* two more, without any reply */
    rp_expect_deliver(srv, NULL);
    rp_expect_deliver(srv, NULL);
    rp_expect_nothing(srv, 200);
    rp_subscribe(srv, "cq", 1);         /* SUBSCRIBE again adds credit */
    rp_expect_deliver(srv, NULL);
    rp_expect_nothing(srv, 200);
    swd_t *g = swd_fetch(obs);
    CHECK_U(swd_obj_u(swd_queue(g, "cq"), "inflight"), ==, 4);
    CHECK_U(swd_obj_u(swd_queue(g, "cq"), "consumers"), ==, 1);   /* still one subscription */
    CHECK_U(swd_obj_u(swd_queue(g, "cq"), "depth"), ==, 4);
    swd_free(g);
    /* CREDIT / UNSUBSCRIBE for a queue this peer does not serve */
    rp_credit(srv, "other", 5);
    rp_expect_error(srv, NULL, "invalid-argument", XSP_CMD_CREDIT, 0);
    rp_credit(cli, "cq", 5);
    rp_expect_error(cli, NULL, "invalid-argument", XSP_CMD_CREDIT, 0);
    rp_unsubscribe(cli, "cq");
    rp_expect_error(cli, NULL, "invalid-argument", XSP_CMD_UNSUBSCRIBE, 0);
    CHECK(swd_now_queue(obs, "other", "depth") == -1);  /* CREDIT creates no queue */
    rp_expect_nothing(cli, 50);
    swt_stop(sw);
}

static void clamp(void)
{
    swt_switch_t *sw = swt_start("--max-credit", "8", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    CHECK_U(srv->max_credit, ==, 8);     /* from WELCOME */
    rp_subscribe(srv, "cl", 100);
    CHECK(WAIT_FOR(2000, ({ swd_t *g = swd_fetch(obs); int64_t c = swd_sub_credit(g, srv->peer_id, "cl"); swd_free(g); c == 8; })));
    rp_credit(srv, "cl", 1000);
    rp_subscribe(srv, "cl", 5);
    rp_expect_nothing(srv, 100);         /* clamping is silent */
    swd_t *g = swd_fetch(obs);
    CHECK_U(swd_sub_credit(g, srv->peer_id, "cl"), ==, 8);
    swd_free(g);
    /* so at most 8 deliveries go out */
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    for (int i = 0; i < 12; i++)
        rp_request(cli, (uint64_t) i, "cl", 0, 0, "", "c", 1);
    for (int i = 0; i < 8; i++)
        rp_expect_deliver(srv, NULL);
    rp_expect_nothing(srv, 200);
    swt_stop(sw);
}

static void credit_overflow(void)
{
    swt_switch_t *sw = swt_start("--max-credit", "8", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_subscribe(srv, "ov", 1);
    rp_credit(srv, "ov", UINT64_MAX);    /* 1 + (2^64-1): must clamp to 8, not wrap to 0 */
    CHECK(WAIT_FOR(1000, ({ swd_t *g = swd_fetch(obs); int64_t c = swd_sub_credit(g, srv->peer_id, "ov"); swd_free(g); c >= 0; })));
    swd_t *g = swd_fetch(obs);
    int64_t credit = swd_sub_credit(g, srv->peer_id, "ov");
    swd_free(g);
    CHECKF(credit == 8, "credit after CREDIT(2^64-1) on credit 1 is %lld, want 8 (max_credit)", (long long) credit);
    rp_subscribe(srv, "ov", UINT64_MAX - 3);
    g = swd_fetch(obs);
    credit = swd_sub_credit(g, srv->peer_id, "ov");
    swd_free(g);
    CHECKF(credit == 8, "credit after SUBSCRIBE(2^64-4) on credit 8 is %lld, want 8", (long long) credit);
    /* and the server does get requests */
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_request(cli, 1, "ov", 0, 0, "", "o", 1);
    rp_expect_deliver(srv, NULL);
    swt_stop(sw);
}

static void zero_credit(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_subscribe(srv, "zq", 0);
    rp_expect_nothing(srv, 100);         /* allowed: no error */
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "zq", "consumers") == 1));
    rp_request(cli, 1, "zq", 0, 0, "", "z", 1);
    rp_expect_nothing(srv, 300);         /* nothing until CREDIT */
    swd_t *g = swd_fetch(obs);
    CHECK_U(swd_sub_credit(g, srv->peer_id, "zq"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(g, "zq"), "depth"), ==, 1);
    swd_free(g);
    rp_credit(srv, "zq", 1);             /* the subscription exists, so CREDIT is fine */
    rp_msg_t d = { 0 };
    rp_expect_deliver(srv, &d);
    rp_reply(srv, d.h.msg_id, 0, "", 0);
    rp_expect_result(cli, NULL, 1);
    rp_msg_clear(&d);
    swt_stop(sw);
}

static void round_robin(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv[3];
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "rr%d", i);
        srv[i] = rp_open(sw->endpoint, name, "server");
        rp_subscribe(srv[i], "rr", 10);
    }
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "rr", "consumers") == 3));
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    for (int i = 0; i < 30; i++)
        rp_request(cli, (uint64_t) i, "rr", 0, 0, "", "r", 1);
    uint64_t first[3];
    for (int i = 0; i < 3; i++) {
        rp_msg_t d = { 0 };
        uint64_t prev = 0;
        for (int k = 0; k < 10; k++) {
            rp_expect_deliver(srv[i], &d);
            if (k == 0)
                first[i] = d.h.msg_id;
            else
                CHECKF(d.h.msg_id == prev + 3, "server %d: delivery %d has msg_id %llu after %llu (not strict rotation)",
                       i, k, (unsigned long long) d.h.msg_id, (unsigned long long) prev);
            prev = d.h.msg_id;
        }
        rp_msg_clear(&d);
        rp_expect_nothing(srv[i], i == 0 ? 100 : 10);
    }
    /* the three start on three consecutive msg_ids */
    uint64_t lo = first[0] < first[1] ? first[0] : first[1];
    lo = lo < first[2] ? lo : first[2];
    CHECK(first[0] + first[1] + first[2] == 3 * lo + 3);
    swt_stop(sw);
}

static void round_robin_lru(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *s1 = rp_open(sw->endpoint, "s1", "server");
    rp_t *s2 = rp_open(sw->endpoint, "s2", "server");
    rp_subscribe(s1, "lru", 1);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "lru", "consumers") == 1));
    rp_subscribe(s2, "lru", 1);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "lru", "consumers") == 2));
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_msg_t d1 = { 0 }, d2 = { 0 }, d3 = { 0 };
    rp_request(cli, 1, "lru", 0, 0, "", "1", 1);
    rp_expect_deliver(s1, &d1);          /* s1 subscribed first */
    rp_request(cli, 2, "lru", 0, 0, "", "2", 1);
    rp_expect_deliver(s2, &d2);
    /* s2 answers first, then s1: both have credit again; s1 received least recently */
    rp_reply(s2, d2.h.msg_id, 0, "", 0);
    rp_expect_result(cli, NULL, 2);
    rp_reply(s1, d1.h.msg_id, 0, "", 0);
    rp_expect_result(cli, NULL, 1);
    rp_request(cli, 3, "lru", 0, 0, "", "3", 1);
    rp_msg_t m = { 0 };
    if (rp_recv(s2, &m, 300)) {
        char got[512];
        FAILF("request 3 went to s2, which received request 2 — more recently than s1 received request 1 "
              "(spec §5.4: the subscription that received the least recently goes first); s2 got %s",
              rp_msg_describe(&m, got, sizeof got));
    }
    rp_expect_deliver(s1, &d3);
    rp_msg_clear(&d1);
    rp_msg_clear(&d2);
    rp_msg_clear(&d3);
    swt_stop(sw);
}

static void unsubscribe(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_subscribe(srv, "uq", 5);
    rp_request(cli, 1, "uq", 0, 0, "", "a", 1);
    rp_request(cli, 2, "uq", 0, 0, "", "b", 1);
    rp_msg_t d1 = { 0 }, d2 = { 0 };
    rp_expect_deliver(srv, &d1);
    rp_expect_deliver(srv, &d2);
    rp_unsubscribe(srv, "uq");
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "uq", "consumers") == 0));
    rp_request(cli, 3, "uq", 0, 0, "", "c", 1);
    rp_expect_nothing(srv, 300);         /* no new deliveries */
    /* in-flight ones may still be answered */
    rp_reply(srv, d2.h.msg_id, 0, "B", 1);
    rp_reply(srv, d1.h.msg_id, 0, "A", 1);
    rp_msg_t r = { 0 };
    rp_expect_result(cli, &r, 2);
    CHECK(r.payload_len == 1 && r.payload[0] == 'B');
    rp_expect_result(cli, &r, 1);
    CHECK(r.payload_len == 1 && r.payload[0] == 'A');
    rp_expect_nothing(srv, 200);         /* credit coming back does not resubscribe */
    CHECK(swd_now_queue(obs, "uq", "depth") == 1);
    CHECK_U(swd_now_u(obs, "counters.late_replies"), ==, 0);
    /* another server gets the waiting one */
    rp_t *s2 = rp_open(sw->endpoint, "s2", "server");
    rp_subscribe(s2, "uq", 1);
    rp_msg_t d3 = { 0 };
    rp_expect_deliver(s2, &d3);
    CHECK(d3.payload_len == 1 && d3.payload[0] == 'c');
    rp_msg_clear(&d1);
    rp_msg_clear(&d2);
    rp_msg_clear(&d3);
    rp_msg_clear(&r);
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "fair_two", fair_two, false },
        { "fair_three", fair_three, false },
        { "window", window, false },
        { "credit_cmd", credit_cmd, false },
        { "clamp", clamp, false },
        { "credit_overflow", credit_overflow, false },
        { "zero_credit", zero_credit, false },
        { "round_robin", round_robin, false },
        { "round_robin_lru", round_robin_lru, false },
        { "unsubscribe", unsubscribe, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 45);
}

/*  test_sw_backpressure.c — peers that stop reading never slow the switch
    (docs/protocol.md §9 `undeliverable`).

    stuck_server  a server that stops reading (RCVHWM 1, its pipe filled by a trace it
                  follows) cannot be handed a DELIVER: the request goes back to the head of
                  its queue, the subscription's credit drops to 0 (DIAG), undeliverable
                  counts it, and another server gets the request; once the stuck server has
                  read its backlog, CREDIT gives it deliveries again
    stuck_client  a client that sends 30000 requests and never reads: its RESULTs beyond
                  what its pipe holds are dropped and counted (undeliverable), every request
                  is still answered and forgotten (outstanding 0), other peers are served
                  promptly meanwhile, the switch's RSS stays bounded; what the client reads
                  later is a subset of its answers, each once
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "rawpeer.h"
#include "swdiag.h"

/*  n request/reply round trips through queue q, pipelined (window w). */
static void pump_requests(rp_t *cli, rp_t *srv, const char *q, int n, int w)
{
    int sent = 0, done = 0;
    rp_msg_t m = { 0 };
    uint64_t progress = swt_now_ms();
    while (done < n) {
        while (sent < n && sent - done < w) {
            rp_request(cli, (uint64_t) sent, q, 0, 0, "", "payload", 7);
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
        CHECKF(swt_now_ms() - progress < swt_ms(3000), "no progress (%d of %d done)", done, n);
        rp_tick_all();
    }
    rp_msg_clear(&m);
}

static void drain(rp_t *p, unsigned quiet_ms)
{
    rp_msg_t m = { 0 };
    while (rp_recv_hb(p, &m, quiet_ms, true))
        ;
    rp_msg_clear(&m);
}

static void stuck_server(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *fs = rp_open(sw->endpoint, "flood-srv", "server");
    rp_t *fc = rp_open(sw->endpoint, "flood-cli", "client");
    rp_subscribe(fs, "flood", 256);
    rp_t *stuck = rp_connect_opts(sw->endpoint, 1);
    rp_hello(stuck, "stuck-srv", "server", 1, 0);
    rp_subscribe(stuck, "sq", 5);
    rp_trace(stuck, 0, "", true);       /* its pipe fills with events it never reads */
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "sq", "consumers") == 1));
    pump_requests(fc, fs, "flood", 8000, 200);
    CHECK(WAIT_FOR(3000, swd_now_u(obs, "counters.trace_lost") > 0));     /* it is stuck */
    uint64_t und0 = swd_now_u(obs, "counters.undeliverable");
    rp_request(fc, 777, "sq", 0, 0, "", "for-sq", 6);
    CHECK(WAIT_FOR(3000, ({ swd_t *g = swd_fetch(obs); int64_t c = swd_sub_credit(g, stuck->peer_id, "sq");
                            bool ok = c == 0 && swd_obj_u(swd_queue(g, "sq"), "depth") == 1 &&
                                      swd_obj_u(swd_queue(g, "sq"), "inflight") == 0;
                            swd_free(g); ok; })));
    CHECK_U(swd_now_u(obs, "counters.undeliverable"), >, und0);
    CHECK(swd_now_peer_present(obs, stuck->peer_id));   /* stuck, not dead */
    /* another server gets it from the head of the queue */
    rp_t *s2 = rp_open(sw->endpoint, "s2", "server");
    rp_subscribe(s2, "sq", 1);
    rp_msg_t d = { 0 };
    rp_expect_deliver(s2, &d);
    CHECK(d.payload_len == 6 && memcmp(d.payload, "for-sq", 6) == 0);
    rp_reply(s2, d.h.msg_id, 0, "done", 4);
    rp_expect_result(fc, NULL, 777);
    rp_unsubscribe(s2, "sq");
    /* the stuck server reads its backlog; CREDIT brings it back */
    rp_untrace(stuck);
    drain(stuck, 300);
    swd_t *g = swd_fetch(stuck);
    CHECK_U(swd_sub_credit(g, stuck->peer_id, "sq"), ==, 0);
    swd_free(g);
    rp_credit(stuck, "sq", 1);
    rp_request(fc, 778, "sq", 0, 0, "", "again", 5);
    rp_expect_deliver(stuck, &d);
    CHECK(d.payload_len == 5 && memcmp(d.payload, "again", 5) == 0);
    rp_reply(stuck, d.h.msg_id, 0, "ok", 2);
    rp_expect_result(fc, NULL, 778);
    rp_msg_clear(&d);
    swt_stop(sw);
}

static void stuck_client(void)
{
    swt_switch_t *sw = swt_start("--max-outstanding", "100000", "--max-messages", "200000", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *psrv = rp_open(sw->endpoint, "probe-srv", "server");
    rp_t *pcli = rp_open(sw->endpoint, "probe-cli", "client");
    rp_subscribe(srv, "kq", 1000);
    rp_subscribe(psrv, "probe", 10);
    rp_t *k = rp_connect_opts(sw->endpoint, 1);
    rp_hello(k, "stuck-client", "client", 1, 0);
    long rss0 = swt_rss_kb(sw->pid);
    const int n = 30000;
    int sent = 0, served = 0;
    rp_msg_t m = { 0 };
    uint64_t worst_probe = 0;
    while (served < n) {
        for (int b = 0; b < 500 && sent < n; b++, sent++)
            rp_request(k, (uint64_t) sent, "kq", 0, 0, "", "req", 3);
        while (rp_recv(srv, &m, 20)) {
            CHECK(m.h.cmd == XSP_CMD_DELIVER);
            rp_reply(srv, m.h.msg_id, 0, "result-body", 11);
            served++;
            if (served % 5000 == 0) {
                /* a probe round trip: others are served promptly */
                uint64_t t0 = swt_now_ms();
                rp_request(pcli, (uint64_t) served, "probe", 0, 0, "", "p", 1);
                rp_msg_t pd = { 0 };
                rp_expect_deliver(psrv, &pd);
                rp_reply(psrv, pd.h.msg_id, 0, "p", 1);
                rp_expect_result(pcli, NULL, (uint64_t) served);
                rp_msg_clear(&pd);
                uint64_t dt = swt_now_ms() - t0;
                worst_probe = dt > worst_probe ? dt : worst_probe;
            }
        }
    }
    rp_msg_clear(&m);
    swd_t *g = swd_fetch(obs);
    uint64_t und = swd_u(g, "counters.undeliverable");
    CHECK_U(swd_u(g, "counters.replied"), >=, (uint64_t) n);
    CHECK_U(swd_obj_u(swd_peer(g, k->peer_id), "outstanding"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(g, "kq"), "depth"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(g, "kq"), "inflight"), ==, 0);
    swd_free(g);
    long rss1 = swt_rss_kb(sw->pid);
    swt_note("%d requests from a client that never read: undeliverable %llu, worst probe %llu ms, RSS %ld -> %ld KiB",
             n, (unsigned long long) und, (unsigned long long) worst_probe, rss0, rss1);
    CHECK(und > 0);
    /* a switch blocked on the stuck client would not answer at all: 2.5 s (x3 under
       ASan/valgrind) is generous for a loaded machine */
    CHECKF(worst_probe < swt_ms(2500), "a probe round trip took %llu ms", (unsigned long long) worst_probe);
    long limit_kb = swt_sanitized() ? 64 * 1024 : 24 * 1024;
    CHECKF(rss1 - rss0 < limit_kb, "RSS grew by %ld KiB", rss1 - rss0);
    /* what the client finally reads: each answer at most once */
    static unsigned char seen[30000];
    memset(seen, 0, sizeof seen);
    int got = 0;
    while (rp_recv(k, &m, 500)) {
        CHECKF(m.h.cmd == XSP_CMD_RESULT, "the stuck client got %s", xsp_cmd_name(m.h.cmd));
        CHECK(m.h.corr < (uint64_t) n && !seen[m.h.corr]);
        seen[m.h.corr] = 1;
        CHECK(m.payload_len == 11 && memcmp(m.payload, "result-body", 11) == 0);
        got++;
    }
    rp_msg_clear(&m);
    swt_note("the client read %d of %d results later", got, n);
    CHECK(got > 0 && got < n);
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "stuck_server", stuck_server, false },
        { "stuck_client", stuck_client, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 50);
}

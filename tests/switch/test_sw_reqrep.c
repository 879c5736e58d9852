/*  test_sw_reqrep.c — request/reply through the switch (docs/protocol.md §3, §5, §10).

    roundtrip          payload intact both ways (text, binary with NULs, 100 KiB, empty),
                       corr echoed, msg_id = the delivered one and increasing, service_us
                       present and plausible, DELIVER fields (queue, timeout left, flags,
                       dbg, caller peer_id/domid), status passed through (0, 1, 42); a
                       REPLY without a payload frame still gives a 2-frame RESULT
    spec_example       the literal REQUEST bytes of §3.1 are accepted and delivered
    routing            two clients with the same corr: each RESULT goes to its own sender,
                       in any reply order; a third peer receives nothing
    queue_on_first_use a REQUEST or a SUBSCRIBE creates its queue (DIAG)
    wait_for_server    requests to a queue without a server wait (no error), then reach
                       the first server to subscribe, in order
    foreign_reply      a REPLY not in flight to the sender's session (another server's
                       delivery, an id never delivered, from a non-server, answered twice)
                       is refused: ERROR invalid-argument (ref_cmd 5, ref msg_id), the same
                       sentence either way, replies_refused, a log line naming the sender;
                       the genuine answer still reaches the client; a reply to a request
                       that expired in flight is late (late_replies), not refused
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rawpeer.h"
#include "swdiag.h"

static void roundtrip(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *srv = rp_open(sw->endpoint, "echo-server", "server");
    rp_t *cli = rp_connect(sw->endpoint);
    rp_hello(cli, "rr-client", "client", 4242, 7);
    rp_subscribe(srv, "echo", 4);

    /* payloads: text, binary with NULs, 100 KiB pseudo-random, empty */
    size_t big_len = 100 * 1024;
    uint8_t *big = malloc(big_len);
    CHECK(big);
    uint32_t x = 12345;
    for (size_t i = 0; i < big_len; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (uint8_t) (x >> 16);
    }
    static const uint8_t bin[] = { 0, 1, 2, 0, 0xff, 0xfe, 0, 'x' };
    struct { const void *p; size_t n; uint64_t status; } cases[] = {
        { "abc", 3, 0 }, { bin, sizeof bin, 1 }, { big, big_len, 0 }, { "", 0, 42 },
    };
    uint64_t last_id = 0;
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t corr = 1000 + i * 7;
        rp_request(cli, corr, "echo", 5000, 0, "dbg-roundtrip", cases[i].p, cases[i].n);
        rp_msg_t d = { 0 }, r = { 0 };
        rp_expect_deliver(srv, &d);
        CHECK_STR(d.h.queue, "echo");
        CHECK_STR(d.h.dbg, "dbg-roundtrip");
        CHECK_U(d.h.flags, ==, 0);
        CHECK(d.h.timeout_ms > 0 && d.h.timeout_ms <= 5000);
        CHECK_U(d.h.peer_id, ==, cli->peer_id);
        CHECK_U(d.h.domid, ==, 7);
        CHECK_U(d.h.msg_id, >, last_id);
        last_id = d.h.msg_id;
        CHECKF(d.nframes == 2, "DELIVER has %d frames", d.nframes);
        CHECK_U(d.payload_len, ==, cases[i].n);
        CHECK(cases[i].n == 0 || memcmp(d.payload, cases[i].p, cases[i].n) == 0);

        /* answer with a transformed body after a short pause (service_us) */
        size_t rl = cases[i].n + 6;
        uint8_t *rb = malloc(rl);
        memcpy(rb, "reply:", 6);
        memcpy(rb + 6, d.payload, cases[i].n);
        rp_sleep(30);
        rp_reply(srv, d.h.msg_id, cases[i].status, rb, rl);
        rp_expect_result(cli, &r, corr);
        CHECK_U(r.h.msg_id, ==, d.h.msg_id);
        CHECK_U(r.h.status, ==, cases[i].status);
        CHECK_U(r.h.service_us, >=, 25000);
        CHECK_U(r.h.service_us, <, 10000000);
        CHECKF(r.nframes == 2, "RESULT has no payload frame");
        CHECK_U(r.payload_len, ==, rl);
        CHECK(memcmp(r.payload, rb, rl) == 0);
        free(rb);
        rp_msg_clear(&d);
        rp_msg_clear(&r);
    }
    /* a request without a deadline: DELIVER timeout 0 */
    rp_request(cli, 99, "echo", 0, 0, "", "z", 1);
    rp_msg_t d = { 0 };
    rp_expect_deliver(srv, &d);
    CHECK_U(d.h.timeout_ms, ==, 0);
    rp_reply(srv, d.h.msg_id, 0, "Z", 1);
    rp_expect_result(cli, NULL, 99);
    /* a REQUEST without a payload frame is one with an empty payload (§1) */
    xsp_hdr_t bareq = { .cmd = XSP_CMD_REQUEST, .corr = 98 };
    bareq.queue = XSP_STR("echo");
    bareq.dbg = XSP_STR("");
    rp_send_hdr(cli, &bareq, NULL, 0, false);
    rp_expect_deliver(srv, &d);
    CHECKF(d.nframes == 2 && d.payload_len == 0, "DELIVER for a payload-less REQUEST: %d frames, %zu bytes",
           d.nframes, d.payload_len);
    rp_reply(srv, d.h.msg_id, 0, "", 0);
    rp_expect_result(cli, NULL, 98);
    /* a REPLY without a payload frame: the RESULT still has two frames (§5.6) */
    rp_request(cli, 100, "echo", 0, 0, "", "z", 1);
    rp_expect_deliver(srv, &d);
    xsp_hdr_t bare = { .cmd = XSP_CMD_REPLY, .msg_id = d.h.msg_id, .status = 0 };
    rp_send_hdr(srv, &bare, NULL, 0, false);
    rp_msg_t r0 = { 0 };
    rp_expect_result(cli, &r0, 100);
    CHECKF(r0.nframes == 2 && r0.payload_len == 0, "RESULT for a payload-less REPLY has %d frames", r0.nframes);
    rp_msg_clear(&r0);
    rp_msg_clear(&d);
    rp_expect_nothing(cli, 100);
    rp_expect_nothing(srv, 100);
    free(big);
    rp_bye(cli);
    rp_bye(srv);
    swt_stop(sw);
}

static void spec_example(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_subscribe(srv, "echo", 1);
    /* frame 0: 96 03 07 a4 65 63 68 6f cd 13 88 00 a2 74 31 ; frame 1: "abc" */
    static const uint8_t hdr[] = { 0x96, 0x03, 0x07, 0xa4, 0x65, 0x63, 0x68, 0x6f,
                                   0xcd, 0x13, 0x88, 0x00, 0xa2, 0x74, 0x31 };
    const void *b[2] = { hdr, "abc" };
    size_t l[2] = { sizeof hdr, 3 };
    rp_send_frames(cli, 2, b, l);
    rp_msg_t d = { 0 };
    rp_expect_deliver(srv, &d);
    CHECK_STR(d.h.queue, "echo");
    CHECK_STR(d.h.dbg, "t1");
    CHECK(d.h.timeout_ms > 4000 && d.h.timeout_ms <= 5000);
    CHECK_U(d.payload_len, ==, 3);
    CHECK(memcmp(d.payload, "abc", 3) == 0);
    rp_reply(srv, d.h.msg_id, 0, "ok", 2);
    rp_msg_t r = { 0 };
    rp_expect_result(cli, &r, 7);
    CHECK(r.payload_len == 2 && memcmp(r.payload, "ok", 2) == 0);
    rp_msg_clear(&d);
    rp_msg_clear(&r);
    swt_stop(sw);
}

/*  Only the session a request is in flight to may answer it (docs/protocol.md §5.7).
    Every other REPLY is refused: ERROR invalid-argument (ref_cmd 5, ref = msg_id), counted
    in replies_refused (never in late_replies), logged with the sender, and routed nowhere —
    while the real server's answer still reaches the client.  A genuinely late reply (the
    request is in flight to this server but expired) is not refused: late_replies, and the
    server is not told. */
static void foreign_reply(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *thief = rp_open(sw->endpoint, "thief", "server");
    rp_t *c = rp_open(sw->endpoint, "c", "client");
    rp_subscribe(srv, "q", 8);
    rp_subscribe(thief, "other", 8);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "q", "consumers") == 1));
    rp_request(c, 7, "q", 0, 0, "", "secret", 6);
    rp_msg_t d = { 0 }, e1 = { 0 }, e2 = { 0 }, r = { 0 };
    rp_expect_deliver(srv, &d);

    /* 1. another server answers srv's delivery (an id it guessed or saw): refused */
    rp_reply(thief, d.h.msg_id, 0, "forged", 6);
    rp_expect_error(thief, &e1, "invalid-argument", XSP_CMD_REPLY, d.h.msg_id);
    CHECKF(strstr((const char *) e1.h.message.ptr, "not in flight to this session") != NULL,
           "sentence: %.*s", (int) e1.h.message.len, e1.h.message.ptr);
    /* 2. an id never delivered to anyone: refused with the very same sentence (a prober
          cannot tell another server's request from no request) */
    uint64_t never = d.h.msg_id + 1000;
    rp_reply(thief, never, 0, "forged", 6);
    rp_expect_error(thief, &e2, "invalid-argument", XSP_CMD_REPLY, never);
    char s1[XSP_MESSAGE_MAX + 1], s2[XSP_MESSAGE_MAX + 1];
    snprintf(s1, sizeof s1, "%.*s", (int) e1.h.message.len, e1.h.message.ptr);
    snprintf(s2, sizeof s2, "%.*s", (int) e2.h.message.len, e2.h.message.ptr);
    char *n1 = strstr(s1, " is not"), *n2 = strstr(s2, " is not");
    CHECK(n1 && n2 && strcmp(n1, n2) == 0);
    /* 3. a peer that serves nothing at all: refused too */
    rp_reply(c, d.h.msg_id, 0, "forged", 6);
    rp_expect_error(c, NULL, "invalid-argument", XSP_CMD_REPLY, d.h.msg_id);
    rp_expect_nothing(c, 200);              /* no forged RESULT reached the client */
    swd_t *g = swd_fetch(obs);
    CHECK_U(swd_u(g, "counters.replies_refused"), ==, 3);
    CHECK_U(swd_u(g, "counters.late_replies"), ==, 0);
    CHECK_U(swd_u(g, "refusals.invalid-argument"), ==, 3);
    CHECK_U(swd_u(g, "counters.replied"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(g, "q"), "inflight"), ==, 1);   /* still srv's to answer */
    swd_free(g);
    CHECK(WAIT_FOR(2000, swt_log_contains(sw, "refused a REPLY from thief#")));
    CHECK(swt_log_contains(sw, "is in flight to another server [1 refused from this session]"));

    /* 4. the real server's answer still reaches the client, and only the client */
    rp_reply(srv, d.h.msg_id, 0, "genuine", 7);
    rp_expect_result(c, &r, 7);
    CHECKF(r.payload_len == 7 && memcmp(r.payload, "genuine", 7) == 0, "client got '%.*s'",
           (int) r.payload_len, (char *) r.payload);
    rp_expect_nothing(thief, 50);
    rp_expect_nothing(srv, 50);
    /* 5. answering it twice: no longer in flight to srv, refused */
    rp_reply(srv, d.h.msg_id, 0, "again", 5);
    rp_expect_error(srv, NULL, "invalid-argument", XSP_CMD_REPLY, d.h.msg_id);
    rp_expect_nothing(c, 100);

    /* 6. a genuinely late reply: delivered to srv, expired in flight -> late_replies, the
          server is not told */
    rp_request(c, 8, "q", swt_ms(300), 0, "", "slow", 4);
    rp_expect_deliver(srv, &d);
    rp_expect_error(c, NULL, "expired", XSP_CMD_REQUEST, 8);
    rp_reply(srv, d.h.msg_id, 0, "late", 4);
    CHECK(WAIT_FOR(2000, swd_now_u(obs, "counters.late_replies") == 1));
    rp_expect_nothing(srv, 100);
    rp_expect_nothing(c, 50);
    CHECK_U(swd_now_u(obs, "counters.replies_refused"), ==, 4);
    rp_msg_clear(&d);
    rp_msg_clear(&e1);
    rp_msg_clear(&e2);
    rp_msg_clear(&r);
    rp_bye(c);
    rp_bye(thief);
    rp_bye(srv);
    swt_stop(sw);
}

static void routing(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *c1 = rp_open(sw->endpoint, "c1", "client");
    rp_t *c2 = rp_open(sw->endpoint, "c2", "client");
    rp_t *c3 = rp_open(sw->endpoint, "bystander", "client");
    rp_subscribe(srv, "q", 8);
    for (int round = 0; round < 3; round++) {
        rp_request(c1, 1, "q", 0, 0, "", "from-c1", 7);
        rp_request(c2, 1, "q", 0, 0, "", "from-c2", 7);
        rp_msg_t d1 = { 0 }, d2 = { 0 };
        rp_expect_deliver(srv, &d1);
        rp_expect_deliver(srv, &d2);
        if (d1.h.peer_id == c2->peer_id) {      /* two peers: either may come first */
            rp_msg_t tmp = d1;
            d1 = d2;
            d2 = tmp;
        }
        CHECK(memcmp(d1.payload, "from-c1", 7) == 0);
        CHECK(memcmp(d2.payload, "from-c2", 7) == 0);
        CHECK_U(d1.h.peer_id, ==, c1->peer_id);
        CHECK_U(d2.h.peer_id, ==, c2->peer_id);
        /* answer in reverse order (round 0, 2) or in order (round 1) */
        rp_msg_t *first = round == 1 ? &d1 : &d2, *second = round == 1 ? &d2 : &d1;
        char a1[32], a2[32];
        int n1 = snprintf(a1, sizeof a1, "to-%.7s", (char *) first->payload);
        int n2 = snprintf(a2, sizeof a2, "to-%.7s", (char *) second->payload);
        rp_reply(srv, first->h.msg_id, 0, a1, (size_t) n1);
        rp_reply(srv, second->h.msg_id, 0, a2, (size_t) n2);
        rp_msg_t r1 = { 0 }, r2 = { 0 };
        rp_expect_result(c1, &r1, 1);
        rp_expect_result(c2, &r2, 1);
        CHECKF(r1.payload_len == 10 && memcmp(r1.payload, "to-from-c1", 10) == 0, "c1 got '%s'", r1.payload);
        CHECKF(r2.payload_len == 10 && memcmp(r2.payload, "to-from-c2", 10) == 0, "c2 got '%s'", r2.payload);
        CHECK_U(r1.h.msg_id, ==, d1.h.msg_id);
        CHECK_U(r2.h.msg_id, ==, d2.h.msg_id);
        rp_msg_clear(&d1);
        rp_msg_clear(&d2);
        rp_msg_clear(&r1);
        rp_msg_clear(&r2);
    }
    rp_expect_nothing(c1, 150);
    rp_expect_nothing(c2, 50);
    rp_expect_nothing(c3, 50);
    rp_expect_nothing(srv, 50);
    swt_stop(sw);
}

static void queue_on_first_use(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    CHECK(swd_now_queue(obs, "fresh", "depth") == -1);
    CHECK(swd_now_queue(obs, "sub.only", "depth") == -1);
    swd_t *d0 = swd_fetch(obs);
    CHECK_U(swd_nqueues(d0), ==, 0);
    swd_free(d0);
    rp_request(cli, 1, "fresh", 0, 0, "", "x", 1);
    rp_subscribe(srv, "sub.only", 1);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "fresh", "depth") == 1));
    swd_t *d = swd_fetch(obs);
    const msgpack_object *q = swd_queue(d, "fresh");
    CHECK(q);
    CHECK_U(swd_obj_u(q, "consumers"), ==, 0);
    CHECK_U(swd_obj_u(q, "sent"), ==, 1);
    const msgpack_object *s = swd_queue(d, "sub.only");
    CHECK(s);
    CHECK_U(swd_obj_u(s, "consumers"), ==, 1);
    CHECK_U(swd_obj_u(s, "depth"), ==, 0);
    CHECK_U(swd_nqueues(d), ==, 2);
    swd_free(d);
    rp_expect_nothing(cli, 100);
    swt_stop(sw);
}

static void wait_for_server(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    for (int i = 0; i < 3; i++) {
        char p[16];
        snprintf(p, sizeof p, "req%d", i);
        rp_request(cli, (uint64_t) i, "later", 0, 0, "", p, 4);
    }
    rp_expect_nothing(cli, 400);     /* waiting is not an error */
    CHECK_U(swd_now_queue(obs, "later", "depth"), ==, 3);
    rp_t *srv = rp_open(sw->endpoint, "late-server", "server");
    rp_subscribe(srv, "later", 10);
    uint64_t last = 0;
    for (int i = 0; i < 3; i++) {
        rp_msg_t d = { 0 };
        rp_expect_deliver(srv, &d);
        char p[16];
        snprintf(p, sizeof p, "req%d", i);
        CHECKF(d.payload_len == 4 && memcmp(d.payload, p, 4) == 0, "delivery %d carries '%s'", i, d.payload);
        CHECK_U(d.h.msg_id, >, last);
        last = d.h.msg_id;
        rp_reply(srv, d.h.msg_id, 0, p, 4);
        rp_msg_clear(&d);
    }
    for (int i = 0; i < 3; i++)
        rp_expect_result(cli, NULL, (uint64_t) i);
    CHECK_U(swd_now_queue(obs, "later", "depth"), ==, 0);
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "roundtrip", roundtrip, false },
        { "spec_example", spec_example, false },
        { "routing", routing, false },
        { "foreign_reply", foreign_reply, false },
        { "queue_on_first_use", queue_on_first_use, false },
        { "wait_for_server", wait_for_server, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 45);
}

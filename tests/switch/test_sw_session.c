/*  test_sw_session.c — sessions (docs/protocol.md §4, §7).

    version          HELLO with version 2 (and 0) → ERROR `version`, ref_cmd 0; the peer has
                     no session: its next REQUEST gets `no-session` with ref = corr; a peer
                     WITH a session that says HELLO v2 loses it (gone from DIAG); HELLO v1
                     afterwards works
    no_session       before HELLO: REQUEST → no-session (ref_cmd 3, ref = corr, a 64-bit
                     corr), REPLY → (5, msg_id), DIAG → (17, corr), SUBSCRIBE → (8),
                     HEARTBEAT → (11), TRACE, BYE ...; nothing is created (no queue, no
                     peer, no delivery to a server)
    rehello          a second HELLO on a live session ends the old one as if it died (its
                     queued requests dropped, its subscriptions gone, in-flight requeued)
                     and starts a new one with a new peer_id; the new session answering a
                     delivery of the old one is refused (invalid-argument, replies_refused)
    too_many_peers   --max-peers 2: a 3rd HELLO gets `too-many-peers` (ref_cmd 0) and no
                     session; after one peer says BYE, it gets in
    welcome          WELCOME carries version 1, a fresh increasing peer_id, the configured
                     heartbeat and limits, the switch version string and a boot_id (the
                     same for every peer of one run)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rawpeer.h"
#include "swdiag.h"

static void send_hello(rp_t *p, uint64_t version, const char *name)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_HELLO, .version = version, .pid = 1, .domid = 0 };
    h.name = XSP_STR(name);
    h.role = XSP_STR("client");
    rp_send_hdr(p, &h, NULL, 0, false);
}

static void version(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *p = rp_connect(sw->endpoint);
    send_hello(p, 2, "v2");
    rp_expect_error(p, NULL, "version", 0, RP_ANY);
    rp_request(p, 555, "q", 0, 0, "", "x", 1);
    rp_expect_error(p, NULL, "no-session", XSP_CMD_REQUEST, 555);
    send_hello(p, 0, "v0");
    rp_expect_error(p, NULL, "version", 0, RP_ANY);
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_npeers(d), ==, 1);      /* only obs */
    CHECK(swd_queue(d, "q") == NULL);
    swd_free(d);

    /* a live session that says HELLO v2 is forgotten */
    rp_t *live = rp_open(sw->endpoint, "live", "client");
    uint64_t id = live->peer_id;
    rp_request(live, 1, "waiting", 0, 0, "", "x", 1);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "waiting", "depth") == 1));
    send_hello(live, 2, "live");
    rp_expect_error(live, NULL, "version", 0, RP_ANY);
    CHECK(WAIT_FOR(2000, !swd_now_peer_present(obs, id)));
    CHECK_U(swd_now_queue(obs, "waiting", "depth"), ==, 0);
    rp_request(live, 2, "waiting", 0, 0, "", "x", 1);
    rp_expect_error(live, NULL, "no-session", XSP_CMD_REQUEST, 2);
    /* and v1 works again */
    rp_hello(p, "v1-now", "client", 1, 0);
    CHECK(p->peer_id > id);
    swt_stop(sw);
}

static void no_session(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_subscribe(srv, "q", 5);
    rp_t *p = rp_connect(sw->endpoint);
    uint64_t big = 0xfedcba9876543210ull;
    rp_request(p, big, "q", 0, 0, "", "x", 1);
    rp_expect_error(p, NULL, "no-session", XSP_CMD_REQUEST, big);
    rp_reply(p, 12345, 0, "r", 1);
    rp_expect_error(p, NULL, "no-session", XSP_CMD_REPLY, 12345);
    rp_diag(p, 4242);
    rp_expect_error(p, NULL, "no-session", XSP_CMD_DIAG, 4242);
    rp_subscribe(p, "newq", 1);
    rp_expect_error(p, NULL, "no-session", XSP_CMD_SUBSCRIBE, RP_ANY);
    rp_credit(p, "q", 1);
    rp_expect_error(p, NULL, "no-session", XSP_CMD_CREDIT, RP_ANY);
    rp_unsubscribe(p, "q");
    rp_expect_error(p, NULL, "no-session", XSP_CMD_UNSUBSCRIBE, RP_ANY);
    rp_heartbeat(p);
    rp_expect_error(p, NULL, "no-session", XSP_CMD_HEARTBEAT, RP_ANY);
    rp_trace(p, 0, "", true);
    rp_expect_error(p, NULL, "no-session", XSP_CMD_TRACE, RP_ANY);
    rp_untrace(p);
    rp_expect_error(p, NULL, "no-session", XSP_CMD_UNTRACE, RP_ANY);
    xsp_hdr_t bye = { .cmd = XSP_CMD_BYE };
    rp_send_hdr(p, &bye, NULL, 0, false);
    rp_expect_error(p, NULL, "no-session", XSP_CMD_BYE, RP_ANY);
    rp_expect_nothing(p, 100);
    rp_expect_nothing(srv, 10);          /* nothing was queued */
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_npeers(d), ==, 2);
    CHECK(swd_queue(d, "newq") == NULL);
    CHECK_U(swd_obj_u(swd_queue(d, "q"), "sent"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(d, "q"), "depth"), ==, 0);
    swd_free(d);
    swt_stop(sw);
}

static void rehello(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *p = rp_open(sw->endpoint, "first", "server");
    uint64_t first_id = p->peer_id;
    rp_subscribe(p, "served", 1);
    rp_request(p, 1, "asked", 0, 0, "", "x", 1);        /* queued, no server */
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_request(cli, 9, "served", 0, 0, "", "job", 3);
    rp_msg_t d = { 0 };
    rp_expect_deliver(p, &d);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "asked", "depth") == 1));
    rp_hello(p, "second", "client", 2, 0);
    CHECK_U(p->peer_id, >, first_id);
    swd_t *g = swd_fetch(obs);
    CHECK(swd_peer(g, first_id) == NULL);
    CHECK(swd_peer(g, p->peer_id) != NULL);
    CHECK(swd_obj_str_eq(swd_peer(g, p->peer_id), "name", "second"));
    CHECK_U(swd_obj_u(swd_queue(g, "asked"), "depth"), ==, 0);         /* dropped */
    CHECK_U(swd_obj_u(swd_queue(g, "served"), "consumers"), ==, 0);    /* subscription gone */
    CHECK_U(swd_obj_u(swd_queue(g, "served"), "depth"), ==, 1);        /* requeued */
    CHECK_U(swd_u(g, "counters.requeued"), ==, 1);
    swd_free(g);
    /* the old session's delivery is not this session's to answer: refused (protocol §3.2:
       a server drops answers to deliveries of an earlier session) */
    rp_reply(p, d.h.msg_id, 0, "stale", 5);
    rp_expect_error(p, NULL, "invalid-argument", XSP_CMD_REPLY, d.h.msg_id);
    CHECK_U(swd_now_u(obs, "counters.replies_refused"), ==, 1);
    CHECK_U(swd_now_u(obs, "counters.late_replies"), ==, 0);
    rp_expect_nothing(cli, 200);
    rp_msg_clear(&d);
    swt_stop(sw);
}

static void too_many_peers(void)
{
    swt_switch_t *sw = swt_start("--max-peers", "2", NULL);
    rp_t *a = rp_open(sw->endpoint, "a", "client");
    rp_t *b = rp_open(sw->endpoint, "b", "client");
    rp_t *c = rp_connect(sw->endpoint);
    send_hello(c, 1, "c");
    rp_expect_error(c, NULL, "too-many-peers", 0, RP_ANY);
    rp_request(c, 31, "q", 0, 0, "", "x", 1);
    rp_expect_error(c, NULL, "no-session", XSP_CMD_REQUEST, 31);
    swd_t *d = swd_fetch(a);
    CHECK_U(swd_npeers(d), ==, 2);
    CHECK_U(swd_u(d, "limits.max_peers"), ==, 2);
    swd_free(d);
    rp_bye(b);
    CHECK(WAIT_FOR(2000, ({ swd_t *g = swd_fetch(a); uint32_t n = swd_npeers(g); swd_free(g); n == 1; })));
    rp_hello(c, "c", "client", 3, 0);
    rp_request(c, 32, "q", 0, 0, "", "x", 1);
    rp_expect_nothing(c, 100);
    swt_stop(sw);
}

static void welcome(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "250", "--max-payload", "5000", "--max-depth", "77",
                                 "--max-outstanding", "66", "--max-credit", "55", NULL);
    rp_t *p = rp_connect(sw->endpoint);
    send_hello(p, 1, "w");
    rp_msg_t m = { 0 };
    rp_expect_cmd(p, &m, XSP_CMD_WELCOME);
    CHECK_U(m.h.version, ==, 1);
    CHECK_U(m.h.heartbeat_ms, ==, swt_ms(250));
    CHECK_U(m.h.max_payload, ==, 5000);
    CHECK_U(m.h.max_depth, ==, 77);
    CHECK_U(m.h.max_outstanding, ==, 66);
    CHECK_U(m.h.max_credit, ==, 55);
    CHECK_STR(m.h.sw_version, XSP_VERSION);
    CHECKF(m.h.boot_id != 0, "WELCOME boot_id is 0");
    uint64_t id1 = m.h.peer_id;
    CHECK(m.nframes == 1);
    rp_t *q = rp_open(sw->endpoint, "w2", "client");
    CHECK_U(q->peer_id, >, id1);
    CHECK_U(q->boot_id, ==, m.h.boot_id);        /* one boot, one id */
    rp_msg_clear(&m);
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "version", version, false },
        { "no_session", no_session, false },
        { "rehello", rehello, false },
        { "too_many_peers", too_many_peers, false },
        { "welcome", welcome, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 45);
}

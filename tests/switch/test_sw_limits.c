/*  test_sw_limits.c — every limit's ERROR (docs/protocol.md §5.1, §7).  Each refusal is
    one ERROR with ref_cmd 3 and ref = corr, leaves the session usable, leaves no request
    behind, and counts in DIAG counters.errors.

    too_large         --max-payload 1000: 1000 bytes accepted, 1001 refused `too-large`
    transport_limit   a 17 MiB frame (over --max-frame, default max_payload + 64 KiB) is
                      refused by the transport: that connection is closed (its next request
                      meets `no-session`), the switch and other peers carry on
    max_frame         --max-payload 1000 --max-frame 8192 (DIAG limits.max_frame): a payload
                      of 8000 bytes still gets `too-large`; one of 9000 bytes closes the
                      connection (`no-session` after it); --max-frame below --max-payload is
                      a usage error
    queue_full        --max-depth 3: the 4th waiting request is `queue-full`; other queues
                      unaffected; room again once one is delivered
    outstanding       --max-outstanding 3: the 4th request of a client (queued or in flight)
                      is `too-many-outstanding`; other clients have their own count; an
                      answer frees a slot
    outstanding_bytes --max-outstanding-bytes 1000: payload bytes queued or in flight
    too_many_queues   --max-queues 2: a REQUEST or SUBSCRIBE creating a 3rd queue is
                      `too-many-queues` (ref_cmd 3 / 8); existing queues still work; once
                      another peer's queue is idle it is forgotten to make room
                      (queues_reclaimed), a queue in use never is
    queue_names       names outside 1-255 bytes of [A-Za-z0-9._-:/@+] are
                      `invalid-argument` (REQUEST, SUBSCRIBE), create nothing; every allowed
                      character and a 255-byte name work; 256 bytes is a `protocol` error
                      (string over its limit)
    max_messages      --max-messages 3: the 4th request held by the switch (any queue, any
                      client) is `queue-full`; room again once one is answered
    check_order       when several checks fail, the first in §5.1's order answers:
                      too-large before too-many-outstanding, too-many-outstanding before
                      too-many-queues, and the queue name before the payload size
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "rawpeer.h"
#include "swdiag.h"

static void too_large(void)
{
    swt_switch_t *sw = swt_start("--max-payload", "1000", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    CHECK_U(cli->max_payload, ==, 1000);
    static char buf[2000];
    memset(buf, 'p', sizeof buf);
    rp_request(cli, 1, "big", 0, 0, "", buf, 1000);
    rp_request(cli, 2, "big", 0, 0, "", buf, 1001);
    rp_expect_error(cli, NULL, "too-large", XSP_CMD_REQUEST, 2);
    rp_request(cli, 3, "big", 0, 0, "", buf, 2000);
    rp_expect_error(cli, NULL, "too-large", XSP_CMD_REQUEST, 3);
    rp_expect_nothing(cli, 100);
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_obj_u(swd_queue(d, "big"), "depth"), ==, 1);
    CHECK_U(swd_obj_u(swd_queue(d, "big"), "sent"), ==, 1);
    CHECK_U(swd_u(d, "counters.errors"), ==, 2);
    CHECK_U(swd_obj_u(swd_peer(d, cli->peer_id), "outstanding"), ==, 1);
    swd_free(d);
    /* the session goes on: the accepted one is served */
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_subscribe(srv, "big", 1);
    rp_msg_t m = { 0 };
    rp_expect_deliver(srv, &m);
    CHECK_U(m.payload_len, ==, 1000);
    rp_reply(srv, m.h.msg_id, 0, "", 0);
    rp_expect_result(cli, NULL, 1);
    rp_msg_clear(&m);
    swt_stop(sw);
}

static void transport_limit(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *big = rp_open(sw->endpoint, "big", "client");
    size_t n = 17u << 20;
    char *buf = malloc(n);
    CHECK(buf);
    memset(buf, 'b', n);
    rp_request(big, 1, "huge", 0, 0, "", buf, n);
    free(buf);
    /* the connection is dropped; libzmq reconnects under a new routing id, which has no
       session: the peer's next request meets no-session (retry while it reconnects) */
    rp_msg_t m = { 0 };
    bool saw_no_session = false;
    uint64_t end = swt_now_ms() + swt_ms(5000);
    for (uint64_t corr = 2; !saw_no_session && swt_now_ms() < end; corr++) {
        rp_request(big, corr, "huge", 0, 0, "", "x", 1);
        while (rp_recv(big, &m, 200)) {
            CHECKF(m.h.cmd == XSP_CMD_ERROR && rp_str_eq(m.h.code, "no-session"),
                   "after a 17 MiB frame the peer got %s", xsp_cmd_name(m.h.cmd));
            saw_no_session = true;
        }
    }
    CHECK(saw_no_session);
    rp_msg_clear(&m);
    CHECK(swt_alive(sw));
    /* nothing of it was queued; others are served */
    CHECK(swd_now_queue(obs, "huge", "depth") <= 0);
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_subscribe(srv, "fine", 1);
    rp_request(cli, 9, "fine", 0, 0, "", "ok", 2);
    rp_expect_deliver(srv, &m);
    rp_reply(srv, m.h.msg_id, 0, "", 0);
    rp_expect_result(cli, NULL, 9);
    rp_msg_clear(&m);
    swt_stop(sw);
}

/*  Send a REQUEST with a len-byte payload until the connection is found closed: the next
    request meets no-session (libzmq reconnects under a new routing id). */
static void expect_closed_after(rp_t *p, size_t len)
{
    char *buf = malloc(len);
    CHECK(buf);
    memset(buf, 'f', len);
    rp_request(p, 1, "frames", 0, 0, "", buf, len);
    free(buf);
    rp_msg_t m = { 0 };
    bool saw_no_session = false;
    uint64_t end = swt_now_ms() + swt_ms(5000);
    for (uint64_t corr = 2; !saw_no_session && swt_now_ms() < end; corr++) {
        rp_request(p, corr, "frames", 0, 0, "", "x", 1);
        while (rp_recv(p, &m, 200)) {
            CHECKF(m.h.cmd == XSP_CMD_ERROR && rp_str_eq(m.h.code, "no-session"),
                   "after a %zu-byte frame the peer got %s", len, xsp_cmd_name(m.h.cmd));
            saw_no_session = true;
        }
    }
    CHECKF(saw_no_session, "a %zu-byte frame did not close the connection", len);
    rp_msg_clear(&m);
}

static void max_frame(void)
{
    swt_switch_t *sw = swt_start("--max-payload", "1000", "--max-frame", "8192", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    CHECK_U(swd_now_u(obs, "limits.max_frame"), ==, 8192);
    rp_t *a = rp_open(sw->endpoint, "a", "client");
    static char buf[8000];
    memset(buf, 'a', sizeof buf);
    rp_request(a, 1, "frames", 0, 0, "", buf, sizeof buf);     /* a frame the transport takes */
    rp_expect_error(a, NULL, "too-large", XSP_CMD_REQUEST, 1);
    rp_t *b = rp_open(sw->endpoint, "b", "client");
    expect_closed_after(b, 9000);                               /* over --max-frame */
    CHECK(swt_alive(sw));
    CHECK_U(swd_now_u(obs, "refusals.too-large"), ==, 1);
    /* an inconsistent pair is refused at start */
    char out[1024];
    const char *args[] = { "--max-payload", "10000", "--max-frame", "5000", NULL };
    int st = swt_run_argv(args, out, sizeof out, swt_ms(5000));
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status 0x%x: %s", st, out);
    CHECKF(strstr(out, "--max-frame 5000 is below --max-payload 10000") != NULL, "%s", out);
    swt_stop(sw);
}

static void queue_full(void)
{
    swt_switch_t *sw = swt_start("--max-depth", "3", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    CHECK_U(cli->max_depth, ==, 3);
    for (int i = 0; i < 3; i++)
        rp_request(cli, (uint64_t) i, "full", 0, 0, "", "f", 1);
    rp_request(cli, 3, "full", 0, 0, "", "f", 1);
    rp_expect_error(cli, NULL, "queue-full", XSP_CMD_REQUEST, 3);
    rp_request(cli, 4, "other", 0, 0, "", "o", 1);      /* per queue */
    rp_expect_nothing(cli, 150);
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_obj_u(swd_queue(d, "full"), "depth"), ==, 3);
    CHECK_U(swd_obj_u(swd_queue(d, "full"), "errors"), >=, 1);
    CHECK_U(swd_obj_u(swd_queue(d, "other"), "depth"), ==, 1);
    CHECK_U(swd_u(d, "counters.errors"), ==, 1);
    swd_free(d);
    /* one delivered (in flight, no longer waiting): room for one more */
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_subscribe(srv, "full", 1);
    rp_expect_deliver(srv, NULL);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "full", "depth") == 2));
    rp_request(cli, 5, "full", 0, 0, "", "f", 1);
    rp_request(cli, 6, "full", 0, 0, "", "f", 1);
    rp_expect_error(cli, NULL, "queue-full", XSP_CMD_REQUEST, 6);
    rp_expect_nothing(cli, 100);
    swt_stop(sw);
}

static void outstanding(void)
{
    swt_switch_t *sw = swt_start("--max-outstanding", "3", NULL);
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *c1 = rp_open(sw->endpoint, "c1", "client");
    rp_t *c2 = rp_open(sw->endpoint, "c2", "client");
    CHECK_U(c1->max_outstanding, ==, 3);
    rp_subscribe(srv, "o", 1);
    for (int i = 0; i < 3; i++)
        rp_request(c1, (uint64_t) i, "o", 0, 0, "", "x", 1);
    rp_msg_t d = { 0 };
    rp_expect_deliver(srv, &d);          /* one in flight, two queued: still 3 outstanding */
    rp_request(c1, 3, "o", 0, 0, "", "x", 1);
    rp_expect_error(c1, NULL, "too-many-outstanding", XSP_CMD_REQUEST, 3);
    rp_request(c1, 4, "elsewhere", 0, 0, "", "x", 1);   /* per client, not per queue */
    rp_expect_error(c1, NULL, "too-many-outstanding", XSP_CMD_REQUEST, 4);
    for (int i = 0; i < 3; i++)
        rp_request(c2, (uint64_t) i, "o2", 0, 0, "", "x", 1);
    rp_expect_nothing(c2, 150);
    rp_reply(srv, d.h.msg_id, 0, "", 0);
    rp_expect_result(c1, NULL, 0);
    rp_request(c1, 5, "o", 0, 0, "", "x", 1);            /* a slot is free again */
    rp_expect_nothing(c1, 150);
    rp_request(c1, 6, "o", 0, 0, "", "x", 1);
    rp_expect_error(c1, NULL, "too-many-outstanding", XSP_CMD_REQUEST, 6);
    rp_msg_clear(&d);
    swt_stop(sw);
}

static void outstanding_bytes(void)
{
    swt_switch_t *sw = swt_start("--max-outstanding-bytes", "1000", NULL);
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    static char buf[1000];
    memset(buf, 'b', sizeof buf);
    rp_subscribe(srv, "ob", 1);
    rp_request(cli, 1, "ob", 0, 0, "", buf, 600);
    rp_msg_t d = { 0 };
    rp_expect_deliver(srv, &d);          /* in flight still counts */
    rp_request(cli, 2, "ob", 0, 0, "", buf, 500);
    rp_expect_error(cli, NULL, "too-many-outstanding", XSP_CMD_REQUEST, 2);
    rp_request(cli, 3, "ob", 0, 0, "", buf, 400);        /* exactly 1000 */
    rp_expect_nothing(cli, 150);
    rp_request(cli, 4, "ob", 0, 0, "", buf, 1);
    rp_expect_error(cli, NULL, "too-many-outstanding", XSP_CMD_REQUEST, 4);
    rp_request(cli, 5, "ob", 0, 0, "", "", 0);           /* empty bodies still fit */
    rp_expect_nothing(cli, 100);
    rp_reply(srv, d.h.msg_id, 0, "", 0);
    rp_expect_result(cli, NULL, 1);
    rp_request(cli, 6, "ob", 0, 0, "", buf, 500);
    rp_expect_nothing(cli, 150);
    rp_msg_clear(&d);
    swt_stop(sw);
}

static void too_many_queues(void)
{
    swt_switch_t *sw = swt_start("--max-queues", "2", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_request(cli, 1, "q1", 0, 0, "", "x", 1);
    rp_subscribe(srv, "q2", 1);
    /* (no ordering between two peers' messages: wait until both queues exist) */
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "q1", "depth") == 1 && swd_now_queue(obs, "q2", "consumers") == 1));
    rp_request(cli, 3, "q3", 0, 0, "", "x", 1);
    rp_expect_error(cli, NULL, "too-many-queues", XSP_CMD_REQUEST, 3);
    rp_subscribe(srv, "q4", 1);
    rp_expect_error(srv, NULL, "too-many-queues", XSP_CMD_SUBSCRIBE, 0);
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_nqueues(d), ==, 2);
    CHECK(swd_queue(d, "q3") == NULL && swd_queue(d, "q4") == NULL);
    swd_free(d);
    /* existing queues still work */
    rp_request(cli, 4, "q2", 0, 0, "", "y", 1);
    rp_msg_t m = { 0 };
    rp_expect_deliver(srv, &m);
    rp_reply(srv, m.h.msg_id, 0, "", 0);
    rp_expect_result(cli, NULL, 4);
    rp_request(cli, 5, "q1", 0, 0, "", "x", 1);
    rp_expect_nothing(cli, 100);
    /* at --max-queues, another peer's idle queue is forgotten to make room (never one in
       use): q2 (srv's) goes idle, cli's q3 now gets in; q1 (2 waiting requests) stays */
    rp_unsubscribe(srv, "q2");
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "q2", "consumers") == 0));
    rp_request(cli, 6, "q3", 0, 0, "", "z", 1);
    rp_expect_nothing(cli, 100);
    d = swd_fetch(obs);
    CHECK(swd_queue(d, "q2") == NULL);
    CHECK_U(swd_obj_u(swd_queue(d, "q1"), "depth"), ==, 2);
    CHECK_U(swd_obj_u(swd_queue(d, "q3"), "depth"), ==, 1);
    CHECK_U(swd_u(d, "counters.queues_reclaimed"), ==, 1);
    swd_free(d);
    rp_request(cli, 7, "q4", 0, 0, "", "z", 1);         /* nothing idle left to forget */
    rp_expect_error(cli, NULL, "too-many-queues", XSP_CMD_REQUEST, 7);
    rp_msg_clear(&m);
    swt_stop(sw);
}

static void queue_names(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    static const struct { const char *s; size_t n; } bad[] = {
        { "", 0 }, { "has space", 9 }, { "a*b", 3 }, { "a?b", 3 }, { "tab\t", 4 }, { "comma,", 6 },
        { "hash#", 5 }, { "new\nline", 8 }, { "nul\0x", 5 }, { "\xc3\xbc", 2 }, { "semi;", 5 },
        { "quote\"", 6 }, { "back\\slash", 10 }, { "\x7f", 1 }, { "[x]", 3 },
    };
    uint64_t corr = 100;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++, corr++) {
        xsp_hdr_t h = { .cmd = XSP_CMD_REQUEST, .corr = corr, .queue = { bad[i].s, (uint32_t) bad[i].n } };
        h.dbg = XSP_STR("");
        rp_send_hdr(cli, &h, "x", 1, true);
        rp_expect_error(cli, NULL, "invalid-argument", XSP_CMD_REQUEST, corr);
        xsp_hdr_t s = { .cmd = XSP_CMD_SUBSCRIBE, .credit = 1, .queue = { bad[i].s, (uint32_t) bad[i].n } };
        rp_send_hdr(srv, &s, NULL, 0, false);
        rp_expect_error(srv, NULL, "invalid-argument", XSP_CMD_SUBSCRIBE, 0);
    }
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_nqueues(d), ==, 0);
    swd_free(d);
    /* every allowed character, and the maximum length */
    char longname[256];
    memset(longname, 'n', 255);
    longname[255] = '\0';
    const char *good[] = { "ABCXYZabcxyz0189._-:/@+", "a", longname };
    for (int i = 0; i < 3; i++) {
        rp_subscribe(srv, good[i], 1);
        rp_request(cli, (uint64_t) i, good[i], 0, 0, "", "g", 1);
        rp_msg_t m = { 0 };
        rp_expect_deliver(srv, &m);
        CHECK(m.h.queue.len == strlen(good[i]) && memcmp(m.h.queue.ptr, good[i], m.h.queue.len) == 0);
        rp_reply(srv, m.h.msg_id, 0, "", 0);
        rp_expect_result(cli, NULL, (uint64_t) i);
        rp_msg_clear(&m);
    }
    /* 256 bytes: over the field's limit — a malformed header */
    char toolong[257];
    memset(toolong, 'n', 256);
    toolong[256] = '\0';
    rp_request(cli, 77, toolong, 0, 0, "", "x", 1);
    rp_expect_error(cli, NULL, "protocol", XSP_CMD_REQUEST, 77);
    rp_expect_nothing(cli, 100);
    rp_expect_nothing(srv, 10);
    swt_stop(sw);
}

static void max_messages(void)
{
    swt_switch_t *sw = swt_start("--max-messages", "3", NULL);
    rp_t *c1 = rp_open(sw->endpoint, "c1", "client");
    rp_t *c2 = rp_open(sw->endpoint, "c2", "client");
    rp_request(c1, 1, "m1", 0, 0, "", "x", 1);
    rp_request(c1, 2, "m2", 0, 0, "", "x", 1);
    rp_expect_nothing(c1, 100);
    rp_request(c2, 3, "m3", 0, 0, "", "x", 1);
    rp_expect_nothing(c2, 100);
    rp_request(c2, 4, "m1", 0, 0, "", "x", 1);      /* 4th in the whole switch */
    rp_expect_error(c2, NULL, "queue-full", XSP_CMD_REQUEST, 4);
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_subscribe(srv, "m1", 1);
    rp_msg_t d = { 0 };
    rp_expect_deliver(srv, &d);
    rp_reply(srv, d.h.msg_id, 0, "", 0);
    rp_expect_result(c1, NULL, 1);
    rp_request(c2, 5, "m1", 0, 0, "", "x", 1);      /* room again */
    rp_expect_deliver(srv, &d);
    rp_msg_clear(&d);
    swt_stop(sw);
}

static void check_order(void)
{
    swt_switch_t *sw = swt_start("--max-payload", "10", "--max-outstanding", "1", "--max-queues", "1", NULL);
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_request(cli, 1, "only", 0, 0, "", "x", 1);        /* uses the one slot and the one queue */
    rp_expect_nothing(cli, 100);
    /* too-large (payload) before too-many-outstanding */
    rp_request(cli, 2, "only", 0, 0, "", "01234567890", 11);
    rp_expect_error(cli, NULL, "too-large", XSP_CMD_REQUEST, 2);
    /* too-many-outstanding before too-many-queues */
    rp_request(cli, 3, "newq", 0, 0, "", "x", 1);
    rp_expect_error(cli, NULL, "too-many-outstanding", XSP_CMD_REQUEST, 3);
    /* queue name before payload size (and before outstanding) */
    rp_request(cli, 4, "bad name", 0, 0, "", "01234567890", 11);
    rp_expect_error(cli, NULL, "invalid-argument", XSP_CMD_REQUEST, 4);
    rp_request(cli, 5, "bad name", 0, 0, "", "x", 1);
    rp_expect_error(cli, NULL, "invalid-argument", XSP_CMD_REQUEST, 5);
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "too_large", too_large, false },
        { "transport_limit", transport_limit, false },
        { "max_frame", max_frame, false },
        { "queue_full", queue_full, false },
        { "outstanding", outstanding, false },
        { "outstanding_bytes", outstanding_bytes, false },
        { "too_many_queues", too_many_queues, false },
        { "queue_names", queue_names, false },
        { "max_messages", max_messages, false },
        { "check_order", check_order, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 45);
}

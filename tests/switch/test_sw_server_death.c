/*  test_sw_server_death.c — a server dies with requests in flight (docs/protocol.md §6).
    All cases run the switch with --heartbeat-ms 100.

    sigkill_requeue   a server in a child process holds r1 (r2 waits behind it) and is
                      SIGKILLed: r1 goes back to the HEAD of the queue and completes on
                      another server before r2, same msg_id and body; the client gets
                      exactly one RESULT each; DIAG requeued = 1; trace shows `requeue`
                      (from the dead server's label) and its `peer-down`
    silent_requeue    a server that stops heartbeating (socket still open) is dead after 3
                      silent intervals — not before (~300 ms), and within 2.5 s (x3 under
                      ASan/valgrind: far below the 3 s of the default 1 s interval) —
                      and its request completes elsewhere; its late REPLY then gets
                      `no-session` and never reaches the client
    close_requeue     a server that closes its socket without BYE: requeued
    bye_requeue       BYE with a request in flight: requeued at once (heartbeat 1 s here,
                      so not by the heartbeat)
    requeue_order     3 in flight + 1 waiting: after the death the next server gets all
                      four in the original order
    amo_sigkill       AT_MOST_ONCE request in flight on a SIGKILLed child server: the
                      client gets ERROR server-lost (ref = corr) exactly once; no other
                      server sees it; DIAG server_lost = 1
    amo_silent        the same with a silent (not heartbeating) server
    amo_deadline      an AT_MOST_ONCE request WITH a deadline whose server dies: after
                      server-lost, nothing happens at its old deadline (no second ERROR, no
                      `expired` for another request, no hang), DIAG books stay right
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rawpeer.h"
#include "swdiag.h"

/* ------------------------------------------------------------------ child server */

/*  child server ENDPOINT QUEUE CREDIT: prints "ready PEER_ID", then "deliver MSG_ID FLAGS"
    per DELIVER, never answers, heartbeats until killed. */
static void child_server(void)
{
    CHECK(swt_argc >= 3);
    rp_t *p = rp_open(swt_argv[0], "child-srv", "server");
    rp_subscribe(p, swt_argv[1], strtoull(swt_argv[2], NULL, 10));
    printf("ready %llu\n", (unsigned long long) p->peer_id);
    fflush(stdout);
    rp_msg_t m = { 0 };
    for (;;) {
        if (!rp_recv(p, &m, 1000))
            continue;
        if (m.h.cmd == XSP_CMD_DELIVER) {
            printf("deliver %llu %llu\n", (unsigned long long) m.h.msg_id, (unsigned long long) m.h.flags);
            fflush(stdout);
        }
    }
}

typedef struct {
    pid_t pid;
    int fd;
    uint64_t peer_id;
} child_t;

static child_t start_child(const char *ep, const char *queue, const char *credit)
{
    child_t c;
    c.pid = swt_spawn_child("server", &c.fd, ep, queue, credit, NULL);
    char line[128];
    CHECKF(swt_read_line(c.fd, line, sizeof line, swt_ms(5000)) > 0, "the child server did not start");
    CHECKF(sscanf(line, "ready %llu", (unsigned long long *) &c.peer_id) == 1, "child said '%s'", line);
    return c;
}

static uint64_t child_delivery(child_t *c, uint64_t *flags)
{
    char line[128];
    unsigned long long id = 0, fl = 0;
    CHECKF(swt_read_line(c->fd, line, sizeof line, swt_ms(5000)) > 0, "the child server got no DELIVER");
    CHECKF(sscanf(line, "deliver %llu %llu", &id, &fl) == 2, "child said '%s'", line);
    if (flags)
        *flags = fl;
    return id;
}

static void child_kill(child_t *c)
{
    swt_kill_child(c->pid);
    close(c->fd);
}

/* ------------------------------------------------------------------ trace helper */

/*  TRACE(0, "", 0) from a fresh peer: true when an event `kind` with msg_id (0 = any) and
    from-label prefix exists. */
static bool trace_has(const char *ep, const char *kind, uint64_t msg_id, const char *from_prefix)
{
    rp_t *t = rp_open(ep, "tracer", "trace");
    rp_trace(t, 0, "", false);
    rp_msg_t m = { 0 };
    bool found = false;
    for (;;) {
        CHECKF(rp_recv(t, &m, swt_ms(5000)), "no TRACE_END");
        if (m.h.cmd == XSP_CMD_TRACE_END)
            break;
        CHECK(m.h.cmd == XSP_CMD_TRACE_EVENT);
        if (rp_str_eq(m.h.code, kind) && (!msg_id || m.h.msg_id == msg_id) &&
            (!from_prefix || (m.h.name.len >= strlen(from_prefix) &&
                              memcmp(m.h.name.ptr, from_prefix, strlen(from_prefix)) == 0)))
            found = true;
    }
    rp_msg_clear(&m);
    rp_close(t);
    return found;
}

/* ------------------------------------------------------------------ cases */

static void sigkill_requeue(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "100", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    child_t ch = start_child(sw->endpoint, "work", "1");
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "work", "consumers") == 1));
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_request(cli, 1, "work", 0, 0, "first-dbg", "first", 5);
    uint64_t m1 = child_delivery(&ch, NULL);
    rp_request(cli, 2, "work", 0, 0, "second-dbg", "second", 6);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "work", "depth") == 1));
    uint64_t t0 = swt_now_ms();
    child_kill(&ch);
    CHECK(WAIT_FOR(3000, swd_now_queue(obs, "work", "consumers") == 0));
    swt_note("death noticed %llu ms after SIGKILL", (unsigned long long) (swt_now_ms() - t0));
    /* by the 100 ms heartbeat: 3 silent intervals + one tick; bound 2.5 s (x3 under
       ASan/valgrind), generous for a loaded machine, still below the 3 s that the
       default 1 s interval would need */
    CHECKF(swt_now_ms() - t0 < swt_ms(2500), "server death took %llu ms to notice",
           (unsigned long long) (swt_now_ms() - t0));
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_obj_u(swd_queue(d, "work"), "depth"), ==, 2);
    CHECK_U(swd_obj_u(swd_queue(d, "work"), "inflight"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(d, "work"), "requeued"), ==, 1);
    CHECK_U(swd_u(d, "counters.requeued"), ==, 1);
    CHECK(swd_peer(d, ch.peer_id) == NULL);
    swd_free(d);
    rp_expect_nothing(cli, 100);        /* the client is not bothered */

    rp_t *s2 = rp_open(sw->endpoint, "s2", "server");
    rp_subscribe(s2, "work", 1);
    rp_msg_t dl = { 0 }, r = { 0 };
    rp_expect_deliver(s2, &dl);
    CHECK_U(dl.h.msg_id, ==, m1);       /* the requeued one, at the head */
    CHECK(dl.payload_len == 5 && memcmp(dl.payload, "first", 5) == 0);
    CHECK_STR(dl.h.dbg, "first-dbg");
    rp_reply(s2, dl.h.msg_id, 0, "done1", 5);
    rp_expect_result(cli, &r, 1);
    CHECK_U(r.h.msg_id, ==, m1);
    CHECK(r.payload_len == 5 && memcmp(r.payload, "done1", 5) == 0);
    rp_expect_deliver(s2, &dl);
    CHECK(dl.payload_len == 6 && memcmp(dl.payload, "second", 6) == 0);
    rp_reply(s2, dl.h.msg_id, 0, "done2", 5);
    rp_expect_result(cli, &r, 2);
    rp_expect_nothing(cli, 200);
    CHECKF(trace_has(sw->endpoint, "requeue", m1, "child-srv#"), "no `requeue` trace event for msg %llu",
           (unsigned long long) m1);
    CHECK(trace_has(sw->endpoint, "peer-down", 0, "child-srv#"));
    rp_msg_clear(&dl);
    rp_msg_clear(&r);
    swt_stop(sw);
}

static void silent_requeue(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "100", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *sx = rp_open(sw->endpoint, "silent-srv", "server");
    rp_subscribe(sx, "work", 1);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "work", "consumers") == 1));
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_request(cli, 7, "work", 0, 0, "", "payload", 7);
    rp_msg_t dl = { 0 };
    rp_expect_deliver(sx, &dl);
    uint64_t m1 = dl.h.msg_id;
    /* from now on sx says nothing at all */
    sx->silent = true;
    uint64_t silent_since = sx->last_send_ns / 1000000ull;
    rp_t *s2 = rp_open(sw->endpoint, "s2", "server");
    rp_subscribe(s2, "work", 1);
    rp_sleep(120);
    uint64_t asked = swt_now_ms();
    bool present = swd_now_peer_present(obs, sx->peer_id);
    if (swt_now_ms() - silent_since < 250)      /* only meaningful if we asked in time */
        CHECKF(present, "a server silent for only %llu ms was declared dead",
               (unsigned long long) (asked - silent_since));
    rp_msg_t d2 = { 0 };
    rp_expect_deliver(s2, &d2);
    uint64_t dead_after = swt_now_ms() - silent_since;
    swt_note("silent server's request requeued %llu ms after its last message", (unsigned long long) dead_after);
    CHECKF(dead_after >= 290, "declared dead after only %llu ms (< 3 intervals of 100 ms)",
           (unsigned long long) dead_after);
    /* bound: see sigkill_requeue */
    CHECKF(dead_after < swt_ms(2500), "declared dead only after %llu ms", (unsigned long long) dead_after);
    CHECK_U(d2.h.msg_id, ==, m1);
    CHECK(d2.payload_len == 7 && memcmp(d2.payload, "payload", 7) == 0);
    CHECK(!swd_now_peer_present(obs, sx->peer_id));
    rp_reply(s2, m1, 0, "from-s2", 7);
    rp_msg_t r = { 0 };
    rp_expect_result(cli, &r, 7);
    CHECK(r.payload_len == 7 && memcmp(r.payload, "from-s2", 7) == 0);
    /* the silent server wakes up and answers: its session is gone */
    rp_reply(sx, m1, 0, "from-sx", 7);
    rp_expect_error(sx, NULL, "no-session", XSP_CMD_REPLY, m1);
    rp_expect_nothing(cli, 300);
    rp_expect_nothing(s2, 10);
    CHECK(trace_has(sw->endpoint, "requeue", m1, "silent-srv#"));
    rp_msg_clear(&dl);
    rp_msg_clear(&d2);
    rp_msg_clear(&r);
    swt_stop(sw);
}

static void close_requeue(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "100", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *sx = rp_open(sw->endpoint, "closing-srv", "server");
    rp_subscribe(sx, "work", 1);
    rp_t *s2 = rp_open(sw->endpoint, "s2", "server");
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "work", "consumers") == 1));
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_request(cli, 3, "work", 0, 0, "", "abc", 3);
    rp_msg_t dl = { 0 };
    rp_expect_deliver(sx, &dl);
    rp_subscribe(s2, "work", 1);
    rp_close(sx);                       /* gone, no BYE */
    rp_msg_t d2 = { 0 };
    rp_expect_deliver(s2, &d2);
    CHECK_U(d2.h.msg_id, ==, dl.h.msg_id);
    rp_reply(s2, d2.h.msg_id, 0, "ok", 2);
    rp_expect_result(cli, NULL, 3);
    CHECK_U(swd_now_u(obs, "counters.requeued"), ==, 1);
    rp_msg_clear(&dl);
    rp_msg_clear(&d2);
    swt_stop(sw);
}

static void bye_requeue(void)
{
    swt_switch_t *sw = swt_start(NULL);  /* heartbeat 1 s: a BYE must not wait for it */
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *sx = rp_open(sw->endpoint, "bye-srv", "server");
    rp_t *s2 = rp_open(sw->endpoint, "s2", "server");
    rp_subscribe(sx, "work", 1);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "work", "consumers") == 1));
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_request(cli, 3, "work", 0, 0, "", "abc", 3);
    rp_msg_t dl = { 0 };
    rp_expect_deliver(sx, &dl);
    rp_subscribe(s2, "work", 1);
    uint64_t t0 = swt_now_ms();
    rp_bye(sx);
    rp_msg_t d2 = { 0 };
    rp_expect_deliver(s2, &d2);
    CHECKF(swt_now_ms() - t0 < swt_ms(500), "requeue after BYE took %llu ms", (unsigned long long) (swt_now_ms() - t0));
    CHECK_U(d2.h.msg_id, ==, dl.h.msg_id);
    rp_reply(s2, d2.h.msg_id, 0, "ok", 2);
    rp_expect_result(cli, NULL, 3);
    rp_msg_clear(&dl);
    rp_msg_clear(&d2);
    swt_stop(sw);
}

static void requeue_order(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "100", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    child_t ch = start_child(sw->endpoint, "ord", "3");
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "ord", "consumers") == 1));
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    uint64_t ids[3];
    for (int i = 0; i < 4; i++) {
        char p[4] = { 'r', (char) ('1' + i), 0, 0 };
        rp_request(cli, (uint64_t) (i + 1), "ord", 0, 0, "", p, 2);
        if (i < 3)
            ids[i] = child_delivery(&ch, NULL);
    }
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "ord", "depth") == 1));
    child_kill(&ch);
    CHECK(WAIT_FOR(3000, swd_now_queue(obs, "ord", "depth") == 4));
    rp_t *s2 = rp_open(sw->endpoint, "s2", "server");
    rp_subscribe(s2, "ord", 10);
    rp_msg_t d = { 0 };
    for (int i = 0; i < 4; i++) {
        rp_expect_deliver(s2, &d);
        char p[3] = { 'r', (char) ('1' + i), 0 };
        CHECKF(d.payload_len == 2 && memcmp(d.payload, p, 2) == 0, "delivery %d after requeue is '%s', want '%s'",
               i, d.payload, p);
        if (i < 3)
            CHECK_U(d.h.msg_id, ==, ids[i]);
        rp_reply(s2, d.h.msg_id, 0, "", 0);
    }
    for (int i = 0; i < 4; i++)
        rp_expect_result(cli, NULL, (uint64_t) (i + 1));
    CHECK_U(swd_now_u(obs, "counters.requeued"), ==, 3);
    rp_msg_clear(&d);
    swt_stop(sw);
}

static void amo_sigkill(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "100", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    child_t ch = start_child(sw->endpoint, "amo", "1");
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "amo", "consumers") == 1));
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_request(cli, 77, "amo", 0, XSP_FLAG_AT_MOST_ONCE, "", "once", 4);
    uint64_t flags = 0;
    uint64_t m1 = child_delivery(&ch, &flags);
    CHECK_U(flags, ==, XSP_FLAG_AT_MOST_ONCE);      /* passed to the server */
    rp_t *s2 = rp_open(sw->endpoint, "s2", "server");
    rp_subscribe(s2, "amo", 1);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "amo", "consumers") == 2));
    child_kill(&ch);
    rp_expect_error(cli, NULL, "server-lost", XSP_CMD_REQUEST, 77);
    rp_expect_nothing(cli, 400);        /* exactly once */
    rp_expect_nothing(s2, 10);          /* never delivered again */
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_u(d, "counters.server_lost"), ==, 1);
    CHECK_U(swd_u(d, "counters.requeued"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(d, "amo"), "depth"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(d, "amo"), "inflight"), ==, 0);
    CHECK_U(swd_obj_u(swd_peer(d, cli->peer_id), "outstanding"), ==, 0);
    swd_free(d);
    (void) m1;
    swt_stop(sw);
}

static void amo_silent(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "100", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *sx = rp_open(sw->endpoint, "silent-srv", "server");
    rp_subscribe(sx, "amo", 1);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "amo", "consumers") == 1));
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_t *s2 = rp_open(sw->endpoint, "s2", "server");
    rp_request(cli, 78, "amo", 0, XSP_FLAG_AT_MOST_ONCE, "", "once", 4);
    rp_msg_t dl = { 0 };
    rp_expect_deliver(sx, &dl);
    sx->silent = true;
    rp_subscribe(s2, "amo", 1);
    rp_expect_error(cli, NULL, "server-lost", XSP_CMD_REQUEST, 78);
    rp_expect_nothing(cli, 400);
    rp_expect_nothing(s2, 10);
    CHECK_U(swd_now_u(obs, "counters.server_lost"), ==, 1);
    rp_msg_clear(&dl);
    swt_stop(sw);
}

static void amo_deadline(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "100", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *sx = rp_open(sw->endpoint, "doomed-srv", "server");
    rp_subscribe(sx, "amo", 1);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "amo", "consumers") == 1));
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    /* at-most-once WITH a deadline, in flight when the server goes; the deadline must
       outlast noticing the death (3 silent intervals, 300-400 ms) even on a loaded machine
       or under valgrind, or the request rightly expires first */
    unsigned timeout = swt_ms(1500);
    uint64_t sent = swt_now_ms();
    rp_request(cli, 1, "amo", timeout, XSP_FLAG_AT_MOST_ONCE, "", "once", 4);
    rp_expect_deliver(sx, NULL);
    rp_close(sx);
    rp_expect_error(cli, NULL, "server-lost", XSP_CMD_REQUEST, 1);
    /* an unrelated request without a deadline waits in another queue */
    rp_request(cli, 2, "idle", 0, 0, "", "wait", 4);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "idle", "depth") == 1));
    /* until well past the first request's deadline: nothing may happen to anybody */
    uint64_t past = sent + timeout + 400, now = swt_now_ms();
    rp_msg_t m = { 0 };
    if (rp_recv(cli, &m, past > now ? (unsigned) (past - now) : 1)) {
        char got[2048];
        FAILF("after server-lost, at the dead request's deadline the client got %s "
              "(the at-most-once request was freed but left in the deadline heap?)",
              rp_msg_describe(&m, got, sizeof got));
    }
    rp_msg_clear(&m);
    CHECKF(swt_alive(sw), "the switch died at the dead at-most-once request's deadline");
    rp_expect_nothing(obs, 10);
    /* the switch still answers promptly and its books are right */
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_u(d, "counters.expired"), ==, 0);
    CHECK_U(swd_u(d, "counters.server_lost"), ==, 1);
    CHECK_U(swd_obj_u(swd_queue(d, "idle"), "depth"), ==, 1);
    CHECK_U(swd_obj_u(swd_peer(d, cli->peer_id), "outstanding"), ==, 1);
    swd_free(d);
    rp_request(cli, 3, "idle", 0, 0, "", "more", 4);
    rp_expect_nothing(cli, 200);
    CHECK_U(swd_now_queue(obs, "idle", "depth"), ==, 2);
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "sigkill_requeue", sigkill_requeue, false },
        { "silent_requeue", silent_requeue, false },
        { "close_requeue", close_requeue, false },
        { "bye_requeue", bye_requeue, false },
        { "requeue_order", requeue_order, false },
        { "amo_sigkill", amo_sigkill, false },
        { "amo_silent", amo_silent, false },
        { "amo_deadline", amo_deadline, false },
        { "server", child_server, true },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 45);
}

/*  test_hostile_faults.c — faults under load, with real processes (docs/reliability.md
    "Limits under attack"; docs/protocol.md §6).

    server_sigkill  two server processes share queue "work" (credit 32 each); this process
                    keeps 400 requests outstanding out of 4000 (every third AT_MOST_ONCE,
                    deadline 15 s) and SIGKILLs one server after 1500 answers (that server stops
                    answering after 600, so it surely dies with 32 in flight).  Counted
                    exactly: every request is answered once, by a RESULT or (only AT_MOST_ONCE
                    ones) by server-lost; nothing expires, nothing is answered twice, nothing
                    hangs; DIAG server_lost equals the server-lost errors seen, and the dead
                    server's deliveries were requeued or failed (requeued + server_lost > 0)
    client_vanish   a client process sends 4000 requests to a queue whose server holds 100 of
                    them unanswered, then is SIGKILLed: the 3900 still queued are dropped,
                    the 100 in flight become orphans whose replies are dropped and counted
                    (late_replies +100, exactly); the switch then holds nothing and serves
                    another client at once
    (A peer that stops reading its socket: tests/switch backpressure.* and the tiny / trace
    attackers of hostile.flood.flood.)
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "rawpeer.h"
#include "swdiag.h"

/* ------------------------------------------------------------------ child processes */

/*  child server EP QUEUE CREDIT [HOLD_AFTER]: answers every delivery at once with its body;
    with HOLD_AFTER, only the first HOLD_AFTER ones: the later ones stay in flight (so the
    test surely kills it with requests in flight, however fast the machine). */
static void child_server(void)
{
    CHECK(swt_argc >= 3);
    unsigned long long hold_after = swt_argc >= 4 ? strtoull(swt_argv[3], NULL, 10) : ~0ull, n = 0;
    rp_t *p = rp_open(swt_argv[0], "fault-srv", "server");
    rp_subscribe(p, swt_argv[1], strtoull(swt_argv[2], NULL, 10));
    printf("ready %llu\n", (unsigned long long) p->peer_id);
    fflush(stdout);
    rp_msg_t m = { 0 };
    for (;;) {
        if (!rp_recv(p, &m, 1000))
            continue;
        if (m.h.cmd == XSP_CMD_DELIVER && n++ < hold_after)
            rp_reply(p, m.h.msg_id, 0, m.payload, m.payload_len);
    }
}

/*  child client EP QUEUE N: sends N requests, says "sent", then waits to be killed. */
static void child_client(void)
{
    CHECK(swt_argc >= 3);
    rp_t *p = rp_open(swt_argv[0], "fault-cli", "client");
    int n = atoi(swt_argv[2]);
    for (int i = 0; i < n; i++)
        rp_request(p, (uint64_t) i, swt_argv[1], 0, 0, "vanish", "body-of-a-request", 17);
    rp_diag(p, 1);              /* in order after the requests: all of them were accepted */
    rp_expect_cmd(p, NULL, XSP_CMD_DIAG_REPLY);
    printf("sent %llu\n", (unsigned long long) p->peer_id);
    fflush(stdout);
    for (;;)
        rp_sleep(1000);
}

static uint64_t wait_ready(int fd, const char *word)
{
    char line[128];
    CHECKF(swt_read_line(fd, line, sizeof line, swt_ms(10000)) > 0, "child did not say %s", word);
    CHECKF(strncmp(line, word, strlen(word)) == 0, "child said '%s'", line);
    return strtoull(line + strlen(word), NULL, 10);
}

/* ------------------------------------------------------------------ cases */

static void server_sigkill(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *cli = rp_open(sw->endpoint, "load-cli", "client");
    int fa, fb;
    pid_t a = swt_spawn_child("server", &fa, sw->endpoint, "work", "32", "600", NULL);  /* then holds 32 */
    pid_t b = swt_spawn_child("server", &fb, sw->endpoint, "work", "32", NULL);
    wait_ready(fa, "ready");
    wait_ready(fb, "ready");
    CHECK(WAIT_FOR(3000, swd_now_queue(obs, "work", "consumers") == 2));

    enum { N = 4000, WINDOW = 400, KILL_AT = 1500 };
    static unsigned char answered[N];
    static uint64_t sent_ms[N];
    memset(answered, 0, sizeof answered);
    int sent = 0, done = 0, results = 0, lost = 0, other = 0;
    bool killed = false;
    uint64_t worst = 0, t_kill = 0;
    rp_msg_t m = { 0 };
    while (done < N) {
        while (sent < N && sent - done < WINDOW) {
            char body[32];
            int len = snprintf(body, sizeof body, "req-%d", sent);
            sent_ms[sent] = swt_now_ms();
            rp_request(cli, (uint64_t) sent, "work", 15000, (sent % 3 == 0) ? XSP_FLAG_AT_MOST_ONCE : 0,
                       "fault", body, (size_t) len);
            sent++;
        }
        CHECKF(rp_recv(cli, &m, swt_ms(20000)), "no answer in 20 s: %d of %d answered", done, N);
        uint64_t c = m.h.corr;
        CHECKF(c < (uint64_t) sent, "answer to an unknown corr %llu", (unsigned long long) c);
        CHECKF(!answered[c], "request %llu answered twice", (unsigned long long) c);
        answered[c] = 1;
        done++;
        uint64_t dt = swt_now_ms() - sent_ms[c];
        worst = dt > worst ? dt : worst;
        if (m.h.cmd == XSP_CMD_RESULT) {
            char body[32];
            int len = snprintf(body, sizeof body, "req-%llu", (unsigned long long) c);
            CHECK(m.payload_len == (size_t) len && memcmp(m.payload, body, (size_t) len) == 0);
            results++;
        } else if (m.h.cmd == XSP_CMD_ERROR && rp_str_eq(m.h.code, "server-lost")) {
            CHECKF(c % 3 == 0, "request %llu (not at-most-once) failed with server-lost", (unsigned long long) c);
            lost++;
        } else {
            char desc[512];
            FAILF("request %llu: %s", (unsigned long long) c, rp_msg_describe(&m, desc, sizeof desc));
            other++;
        }
        if (!killed && done == KILL_AT) {
            swt_kill_child(a);
            killed = true;
            t_kill = swt_now_ms();
        }
    }
    rp_msg_clear(&m);
    swd_t *d = swd_fetch(obs);
    uint64_t d_lost = swd_u(d, "counters.server_lost"), d_requeued = swd_u(d, "counters.requeued");
    swt_note("%d requests, server SIGKILLed after %d answers: %d results, %d server-lost (at-most-once), "
             "%d other; switch: server_lost %llu, requeued %llu; slowest answer %llu ms (kill at +%llu ms)",
             N, KILL_AT, results, lost, other, (unsigned long long) d_lost,
             (unsigned long long) d_requeued, (unsigned long long) worst,
             (unsigned long long) (t_kill ? t_kill - sent_ms[0] : 0));
    CHECK_U(results + lost, ==, N);
    CHECK_U(d_lost, ==, (uint64_t) lost);
    CHECK_U(d_lost + d_requeued, >, 0);
    CHECK_U(swd_u(d, "counters.expired"), ==, 0);
    CHECK_U(swd_u(d, "counters.requests_held"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(d, "work"), "consumers"), ==, 1);
    swd_free(d);
    swt_kill_child(b);
    swt_stop(sw);
}

static void client_vanish(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv = rp_open(sw->endpoint, "hold-srv", "server");
    rp_subscribe(srv, "held", 100);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "held", "consumers") == 1));
    enum { N = 4000, CREDIT = 100 };
    int fd;
    pid_t c = swt_spawn_child("client", &fd, sw->endpoint, "held", "4000", NULL);
    uint64_t cid = wait_ready(fd, "sent");
    /* the server takes its 100 and holds them */
    static uint64_t ids[CREDIT];
    rp_msg_t m = { 0 };
    for (int i = 0; i < CREDIT; i++) {
        rp_expect_deliver(srv, &m);
        ids[i] = m.h.msg_id;
    }
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_obj_u(swd_peer(d, cid), "outstanding"), ==, N);
    CHECK_U(swd_obj_u(swd_queue(d, "held"), "depth"), ==, N - CREDIT);
    CHECK_U(swd_u(d, "counters.requests_held"), ==, N);
    uint64_t late0 = swd_u(d, "counters.late_replies");
    swd_free(d);
    long rss_full = swt_rss_kb(sw->pid);

    swt_kill_child(c);
    uint64_t t0 = swt_now_ms();
    CHECK(WAIT_FOR(6000, !swd_now_peer_present(obs, cid)));
    uint64_t noticed = swt_now_ms() - t0;
    d = swd_fetch(obs);
    CHECK_U(swd_obj_u(swd_queue(d, "held"), "depth"), ==, 0);         /* queued: dropped */
    CHECK_U(swd_obj_u(swd_queue(d, "held"), "inflight"), ==, CREDIT); /* orphans */
    CHECK_U(swd_u(d, "counters.requests_held"), ==, CREDIT);
    swd_free(d);
    for (int i = 0; i < CREDIT; i++)
        rp_reply(srv, ids[i], 0, "too late", 8);
    CHECK(WAIT_FOR(3000, swd_now_u(obs, "counters.late_replies") == late0 + CREDIT));
    d = swd_fetch(obs);
    CHECK_U(swd_u(d, "counters.late_replies"), ==, late0 + CREDIT);
    CHECK_U(swd_u(d, "counters.requests_held"), ==, 0);
    CHECK_U(swd_u(d, "counters.held_bytes"), ==, 0);
    CHECK_U(swd_obj_u(swd_queue(d, "held"), "inflight"), ==, 0);
    swd_free(d);
    /* the server's credit came back with the late replies: it serves the next client */
    rp_t *c2 = rp_open(sw->endpoint, "next-cli", "client");
    rp_request(c2, 1, "held", 5000, 0, "", "again", 5);
    rp_expect_deliver(srv, &m);
    rp_reply(srv, m.h.msg_id, 0, "ok", 2);
    rp_expect_result(c2, NULL, 1);
    rp_msg_clear(&m);
    swt_note("client with %d outstanding (%d in flight) SIGKILLed: noticed in %llu ms, %d queued dropped, "
             "%d late replies dropped; RSS with them held %ld KiB, after %ld KiB",
             N, CREDIT, (unsigned long long) noticed, N - CREDIT, CREDIT, rss_full, swt_rss_kb(sw->pid));
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "server_sigkill", server_sigkill, false },
        { "client_vanish", client_vanish, false },
        { "server", child_server, true },
        { "client", child_client, true },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 55);
}

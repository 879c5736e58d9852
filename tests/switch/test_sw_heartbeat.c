/*  test_sw_heartbeat.c — heartbeats and death by silence (docs/protocol.md §4.4).
    --heartbeat-ms 100.

    switch_sends      the switch sends a HEARTBEAT every interval, each a 1-frame [11]:
                      the first 10 take at least 9 intervals from the HELLO (never
                      faster: load cannot make it pass) and at most 5 s (x3 under
                      ASan/valgrind: generous for a loaded machine, still far below the
                      10 s the default 1 s interval would take)
    silent_dead       a peer silent for 3 intervals is dead: still in DIAG after ~2
                      intervals, gone after ~4 (not before 3; bound 2.5 s, x3 under
                      ASan/valgrind: below the 3 s of the default interval), counters.peers_down,
                      trace `peer-down` with its label; its next message meets no-session
    any_message       a peer that never sends HEARTBEAT but sends other messages (DIAG every
                      interval) stays alive
    heartbeat_only    a peer that only heartbeats (no other traffic) stays alive for 2 s
    not_answered      the switch never answers a peer's HEARTBEAT (interval 5 s: 20
                      HEARTBEATs sent, nothing at all comes back within 400 ms)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rawpeer.h"
#include "swdiag.h"

static void switch_sends(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "100", NULL);
    uint64_t t0 = swt_now_ms();         /* before the HELLO: no heartbeat can be older */
    rp_t *p = rp_open(sw->endpoint, "hb", "client");
    CHECK_U(p->heartbeat_ms, ==, 100);
    rp_msg_t m = { 0 };
    int beats = 0;
    uint64_t end = t0 + swt_ms(5000);
    while (beats < 10) {
        uint64_t now = swt_now_ms();
        CHECKF(now < end && rp_recv_hb(p, &m, (unsigned) (end - now), true),
               "only %d heartbeats in %u ms at 100 ms", beats, swt_ms(5000));
        CHECKF(m.h.cmd == XSP_CMD_HEARTBEAT, "got %s", xsp_cmd_name(m.h.cmd));
        CHECK(m.nframes == 1 && m.hdr_len == 2 && m.hdr[0] == 0x91 && m.hdr[1] == 0x0b);
        beats++;
    }
    rp_msg_clear(&m);
    uint64_t took = swt_now_ms() - t0;
    swt_note("10 heartbeats from the switch in %llu ms (interval 100 ms)", (unsigned long long) took);
    /* ticks are at least one interval apart, so the 10th is >= 9 intervals after the 1st */
    CHECKF(took >= 900, "10 heartbeats in only %llu ms at 100 ms", (unsigned long long) took);
    swt_stop(sw);
}

static void silent_dead(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "100", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *p = rp_open(sw->endpoint, "quiet", "client");
    char lbl[96];
    snprintf(lbl, sizeof lbl, "quiet#%llu", (unsigned long long) p->peer_id);
    rp_heartbeat(p);
    uint64_t last = p->last_send_ns / 1000000ull;
    p->silent = true;
    rp_sleep(180);
    uint64_t asked = swt_now_ms();
    bool present = swd_now_peer_present(obs, p->peer_id);
    if (asked - last < 250)
        CHECKF(present, "declared dead after only ~%llu ms of silence", (unsigned long long) (asked - last));
    CHECK(WAIT_FOR(3000, !swd_now_peer_present(obs, p->peer_id)));
    uint64_t gone = swt_now_ms() - last;
    swt_note("silent peer gone from DIAG %llu ms after its last message", (unsigned long long) gone);
    CHECK(gone >= 290);
    CHECKF(gone < swt_ms(2500), "took %llu ms", (unsigned long long) gone);
    CHECK_U(swd_now_u(obs, "counters.peers_down"), ==, 1);
    /* trace: peer-down with its label */
    rp_t *t = rp_open(sw->endpoint, "tracer", "trace");
    rp_trace(t, 0, "", false);
    rp_msg_t m = { 0 };
    bool found = false;
    for (;;) {
        CHECK(rp_recv(t, &m, swt_ms(3000)));
        if (m.h.cmd == XSP_CMD_TRACE_END)
            break;
        if (rp_str_eq(m.h.code, "peer-down") && rp_str_eq(m.h.name, lbl))
            found = true;
    }
    CHECKF(found, "no peer-down trace event from %s", lbl);
    rp_msg_clear(&m);
    /* back from the dead: no session */
    rp_diag(p, 5);
    rp_expect_error(p, NULL, "no-session", XSP_CMD_DIAG, 5);
    swt_stop(sw);
}

static void any_message(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "100", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *p = rp_open(sw->endpoint, "chatty", "client");
    p->silent = true;                   /* no HEARTBEATs, but DIAG every ~60 ms */
    uint64_t end = swt_now_ms() + 1200;
    while (swt_now_ms() < end) {
        swd_t *d = swd_fetch(p);
        swd_free(d);
        rp_sleep(60);
    }
    CHECK(swd_now_peer_present(obs, p->peer_id));
    CHECK_U(swd_now_u(obs, "counters.peers_down"), ==, 0);
    swt_stop(sw);
}

static void heartbeat_only(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "100", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *p = rp_open(sw->endpoint, "beater", "client");
    rp_sleep(2000);                     /* rawpeer heartbeats every ~33 ms */
    CHECK(swd_now_peer_present(obs, p->peer_id));
    CHECK_U(swd_now_u(obs, "counters.peers_down"), ==, 0);
    swt_stop(sw);
}

static void not_answered(void)
{
    swt_switch_t *sw = swt_start("--heartbeat-ms", "5000", NULL);
    rp_t *p = rp_open(sw->endpoint, "hb", "client");
    for (int i = 0; i < 20; i++)
        rp_heartbeat(p);
    rp_msg_t m = { 0 };
    if (rp_recv_hb(p, &m, 400, true)) {
        char got[512];
        FAILF("a peer's HEARTBEAT was answered with %s (§4.4: the switch never answers one)",
              rp_msg_describe(&m, got, sizeof got));
    }
    rp_msg_clear(&m);
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "switch_sends", switch_sends, false },
        { "silent_dead", silent_dead, false },
        { "any_message", any_message, false },
        { "heartbeat_only", heartbeat_only, false },
        { "not_answered", not_answered, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 45);
}

/*  test_hostile_flood.c — the switch under a combined flood from hostile peer processes
    while a well-behaved client/server pair keeps working (docs/reliability.md, "Limits
    under attack").

    flood   a real xsp-switch with its default limits.  A good client and server (this
            process) measure the median round trip on the idle switch; then five hostile
            child processes (attack.h: oversized, tiny, names, trace, hello) attack at once
            for 8 s (6 s under ASan) while the good pair goes on with round trips and the
            switch's VmRSS is sampled.  Asserted: every good request succeeds; peak RSS stays
            within the documented bound above idle; the median round trip under flood stays
            within 50 x max(idle median, 1 ms); every kind of refusal shows in the DIAG
            counters (too-large, protocol, too-many-outstanding, too-many-queues with
            queue_quota_refused, invalid-argument, expired, queues_reclaimed, trace_lost,
            undeliverable, peers_down for the half-open sessions) and the hostile children
            saw explicit ERRORs; the switch closed raw connections that never sent the
            ZMTP greeting; once the attackers are gone the switch holds nothing
            (requests_held 0, held_bytes 0) and still serves the good pair.
            Numbers (RSS idle/peak, RTT medians and factor) are printed.
    unread  default limits: a peer serving its own queue 1 MiB answers it never reads and a
            peer asking for ~0.7 MiB DIAG reports it never reads (attack.h selfserve, diag)
            for 6 s while a good pair exchanges 100 KiB bodies: every good round trip
            succeeds, RSS stays within the same bound, answers over the unread budget are
            dropped (unread_dropped) and DIAGs refused (too-many-outstanding), the unread
            bytes never pass --max-unread-total, and nothing is left unread afterwards
    unread_limits  --max-unread-bytes 65536: a peer that does not read gets each DIAG
            answered by a report or too-many-outstanding (each exactly once), its 100 KiB
            answers sent or dropped (read later: intact, and with the dropped ones they
            account for every request), its budget free again once it read; then
            --max-unread-total 262144 bounds two lazy peers together (also under valgrind)
    quota   --max-queues-per-peer 3: a peer's 4th live queue is too-many-queues (REQUEST
            and SUBSCRIBE) and counted in queue_quota_refused; another peer can still
            create queues; once the peer's queues are idle they are reclaimed and it may
            create new ones; a dead peer's queues stop counting against it
    held    --max-held-bytes 8192: requests whose header + payload bytes would pass the
            limit are queue-full; room again once one is answered; DIAG held_bytes tracks
            the bytes and returns to 0
    handshake  --handshake-ms 300: a raw connection that never sends the ZMTP greeting is
            closed by the switch (EOF) within a few hundred ms; a DEALER that completes the
            handshake but never says HELLO holds no session and costs nothing in DIAG
*/
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "attack.h"
#include "rawpeer.h"
#include "swdiag.h"

/* The documented bounds (docs/reliability.md "Limits under attack"). */
#define RSS_BOUND_KB        (64 * 1024)     /* peak VmRSS above idle during the flood */
#define RSS_BOUND_ASAN_KB   (512 * 1024)    /* ASan's quarantine keeps freed memory */
#define LATENCY_FACTOR      50              /* median RTT under flood vs max(idle, 1 ms) */

static void child_attack(void)
{
    CHECK(swt_argc >= 4);
    int rc = hostile_attack(swt_argv[0], swt_argv[1], (unsigned) atoi(swt_argv[2]),
                            strtoull(swt_argv[3], NULL, 10));
    fflush(stdout);
    _exit(rc ? 1 : 0);
}

static uint64_t round_trip(rp_t *cli, rp_t *srv, uint64_t corr)
{
    uint64_t t0 = swt_now_ns();
    rp_request(cli, corr, "good", 20000, 0, "good", "ping", 4);
    rp_msg_t d = { 0 }, r = { 0 };
    rp_expect_deliver(srv, &d);
    CHECK(d.payload_len == 4 && memcmp(d.payload, "ping", 4) == 0);
    rp_reply(srv, d.h.msg_id, 0, "pong", 4);
    rp_expect_result(cli, &r, corr);
    CHECK_U(r.h.status, ==, 0);
    CHECK(r.payload_len == 4 && memcmp(r.payload, "pong", 4) == 0);
    rp_msg_clear(&d);
    rp_msg_clear(&r);
    return swt_now_ns() - t0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_u64);
    return n ? v[n / 2] : 0;
}

static uint64_t refusals(const swd_t *d, const char *code)
{
    char path[96];
    uint64_t v = 0;
    snprintf(path, sizeof path, "refusals.%s", code);
    swd_try_u(d, path, &v);
    return v;
}

static uint64_t refusals_now(rp_t *obs, const char *code)
{
    swd_t *d = swd_fetch(obs);
    uint64_t v = refusals(d, code);
    swd_free(d);
    return v;
}

/*  "attack MODE k=v ..." -> the value of key, or -1. */
static long long field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    return p ? atoll(p + strlen(pat)) : -1;
}

/*  One attack child per mode, each flooding for `ms` ms. */
static void spawn_attacks(const char *const *m, int n, const swt_switch_t *sw, unsigned ms,
                          uint64_t max_payload, pid_t *pid, int *fd)
{
    char dur[16], maxp[32];
    snprintf(dur, sizeof dur, "%u", ms);
    snprintf(maxp, sizeof maxp, "%llu", (unsigned long long) max_payload);
    for (int i = 0; i < n; i++)
        pid[i] = swt_spawn_child("attack", &fd[i], m[i], sw->endpoint, dur, maxp, NULL);
}

/*  Each attacker's report line and exit status (0 expected); the switch's RSS stays
    sampled into *rss_peak while they finish. */
static void collect_attacks(const char *const *m, int n, pid_t *pid, int *fd, char (*line)[512],
                            const swt_switch_t *sw, uint64_t end, long *rss_peak)
{
    for (int i = 0; i < n; i++) {
        while (swt_read_line(fd[i], line[i], 512, 50) < 0) {
            CHECKF(swt_now_ms() < end + swt_ms(15000), "attack %s did not report", m[i]);
            long rss = swt_rss_kb(sw->pid);
            *rss_peak = rss > *rss_peak ? rss : *rss_peak;
            rp_tick_all();
        }
        int st = swt_wait_child(pid[i], swt_ms(10000));
        CHECKF(st == 0, "attack %s exited with status %d", m[i], st);
        close(fd[i]);
        swt_note("%s", line[i]);
    }
}

#define NMODES 5
static const char *const modes[NMODES] = { "oversized", "tiny", "names", "trace", "hello" };

static void flood(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *cli = rp_open(sw->endpoint, "good-cli", "client");
    rp_t *srv = rp_open(sw->endpoint, "good-srv", "server");
    rp_subscribe(srv, "good", 16);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "good", "consumers") == 1));

    /* idle: warm up, then the baseline */
    enum { NBASE = 300 };
    static uint64_t base[NBASE], during[200000];
    uint64_t corr = 0;
    for (int i = 0; i < 100; i++)
        round_trip(cli, srv, ++corr);
    for (int i = 0; i < NBASE; i++)
        base[i] = round_trip(cli, srv, ++corr);
    uint64_t med_idle = median(base, NBASE);
    long rss_idle = swt_rss_kb(sw->pid);
    swd_t *d0 = swd_fetch(obs);

    /* the flood */
    unsigned ms = swt_sanitized() ? 6000 : 8000;
    pid_t pid[NMODES];
    int fd[NMODES];
    spawn_attacks(modes, NMODES, sw, ms, cli->max_payload, pid, fd);
    swt_note("flood: %d hostile processes for %u ms; idle RSS %ld KiB, idle median RTT %llu us",
             NMODES, ms, rss_idle, (unsigned long long) (med_idle / 1000));
    uint64_t start = swt_now_ms(), end = start + ms, last_sample = 0;
    long rss_peak = rss_idle;
    size_t n = 0;
    while (swt_now_ms() < end) {
        uint64_t rtt = round_trip(cli, srv, ++corr);
        if (swt_now_ms() > start + 500 && n < sizeof during / sizeof *during)
            during[n++] = rtt;          /* (the attackers need a moment to get going) */
        if (swt_now_ms() - last_sample >= 10) {
            long rss = swt_rss_kb(sw->pid);
            rss_peak = rss > rss_peak ? rss : rss_peak;
            last_sample = swt_now_ms();
        }
    }
    /* the attackers finish on their own; the switch stays sampled meanwhile */
    char line[NMODES][512];
    collect_attacks(modes, NMODES, pid, fd, line, sw, end, &rss_peak);
    CHECKF(n >= 20, "only %zu good round trips during the flood", n);
    uint64_t med_flood = median(during, n);
    uint64_t floor_ns = med_idle > 1000000 ? med_idle : 1000000;
    swt_note("good pair: %zu round trips during the flood, all answered; median RTT idle %llu us, "
             "under flood %llu us (x%.1f; bound x%d of max(idle, 1 ms))", n,
             (unsigned long long) (med_idle / 1000), (unsigned long long) (med_flood / 1000),
             (double) med_flood / (double) (med_idle ? med_idle : 1), LATENCY_FACTOR);
    swt_note("switch RSS: idle %ld KiB, peak %ld KiB under flood (+%ld KiB; bound +%d KiB)", rss_idle,
             rss_peak, rss_peak - rss_idle, swt_sanitized() ? RSS_BOUND_ASAN_KB : RSS_BOUND_KB);
    CHECKF(med_flood <= LATENCY_FACTOR * floor_ns, "median RTT under flood %llu us",
           (unsigned long long) (med_flood / 1000));
    CHECKF(rss_peak - rss_idle <= (swt_sanitized() ? RSS_BOUND_ASAN_KB : RSS_BOUND_KB),
           "RSS grew by %ld KiB", rss_peak - rss_idle);

    /* every refusal explicit: counted by the switch, and seen by the attackers */
    swd_t *d1 = swd_fetch(obs);
    static const char *const codes[] = { "too-large", "protocol", "too-many-outstanding",
                                         "too-many-queues", "invalid-argument", "expired" };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        uint64_t a = refusals(d0, codes[i]), b = refusals(d1, codes[i]);
        swt_note("refusals.%s: %llu", codes[i], (unsigned long long) (b - a));
        CHECKF(b > a, "no %s refusal was counted", codes[i]);
    }
    static const char *const ctrs[] = { "counters.protocol_errors", "counters.queue_quota_refused",
                                        "counters.queues_reclaimed", "counters.trace_lost",
                                        "counters.undeliverable", "counters.peers_down" };
    for (size_t i = 0; i < sizeof ctrs / sizeof *ctrs; i++) {
        uint64_t a = swd_u(d0, ctrs[i]), b = swd_u(d1, ctrs[i]);
        swt_note("%s: +%llu", ctrs[i], (unsigned long long) (b - a));
        CHECKF(b > a, "%s did not move", ctrs[i]);
    }
    CHECK_U(swd_u(d1, "counters.errors") - swd_u(d0, "counters.errors"), >=,
            refusals(d1, "too-large") - refusals(d0, "too-large"));
    CHECK(field(line[0], "too_large") > 0 && field(line[0], "protocol") > 0);
    CHECK(field(line[2], "too_many_queues") > 0 && field(line[2], "expired") > 0 &&
          field(line[2], "invalid") > 0);
    CHECK(field(line[4], "sessions") > 0);
    CHECKF(field(line[4], "raw_closed") > 0, "no raw connection was closed by the switch: %s", line[4]);
    CHECK_U(swd_u(d1, "counters.queues"), <=, swd_u(d1, "limits.max_queues"));
    swd_free(d0);
    swd_free(d1);

    /* the attackers are gone: everything they held is released, the good pair still works */
    CHECK(WAIT_FOR(10000, ({ swd_t *g = swd_fetch(obs);
                             bool ok = swd_u(g, "counters.requests_held") == 0 &&
                                       swd_u(g, "counters.held_bytes") == 0 && swd_npeers(g) == 3;
                             swd_free(g); ok; })));
    round_trip(cli, srv, ++corr);
    swt_note("after the flood: nothing held, 3 peers, RSS %ld KiB", swt_rss_kb(sw->pid));
    swt_stop(sw);
}

/*  A round trip of `len`-byte bodies both ways, checked byte for byte. */
static void big_round_trip(rp_t *cli, rp_t *srv, uint64_t corr, const char *body, size_t len)
{
    rp_request(cli, corr, "good", 20000, 0, "good", body, len);
    rp_msg_t d = { 0 }, r = { 0 };
    rp_expect_deliver(srv, &d);
    CHECK(d.payload_len == len && memcmp(d.payload, body, len) == 0);
    rp_reply(srv, d.h.msg_id, 0, body, len);
    rp_expect_result(cli, &r, corr);
    CHECK_U(r.h.status, ==, 0);
    CHECK(r.payload_len == len && memcmp(r.payload, body, len) == 0);
    rp_msg_clear(&d);
    rp_msg_clear(&r);
}

/*  Answers nobody reads (default limits): a peer serving its own queue 1 MiB answers and
    never reading them, and a peer asking for ~0.7 MiB DIAG reports and never reading them,
    for 6 s, while a good pair exchanges 100 KiB bodies.  The switch's RSS stays within the
    flood bound, every good round trip succeeds, answers over the budget are dropped and
    counted (unread_dropped), too-many-outstanding refusals are counted (DIAGs over the
    budget — unread_limits checks those one by one — and the self-serving client's requests
    over --max-outstanding), the unread bytes never pass --max-unread-total, and once the
    attackers are gone nothing is left unread. */
static void unread(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *cli = rp_open(sw->endpoint, "good-cli", "client");
    rp_t *srv = rp_open(sw->endpoint, "good-srv", "server");
    rp_subscribe(srv, "good", 16);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "good", "consumers") == 1));
    static char body[100 * 1024];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char) (i * 7 + 3);
    uint64_t corr = 0;
    for (int i = 0; i < 20; i++)
        big_round_trip(cli, srv, ++corr, body, sizeof body);
    long rss_idle = swt_rss_kb(sw->pid);
    swd_t *d0 = swd_fetch(obs);
    uint64_t total_limit = swd_u(d0, "limits.max_unread_total");

    static const char *const umodes[] = { "selfserve", "diag" };
    enum { NU = 2 };
    unsigned ms = swt_sanitized() ? 4000 : 6000;
    pid_t pid[NU];
    int fd[NU];
    spawn_attacks(umodes, NU, sw, ms, cli->max_payload, pid, fd);
    uint64_t end = swt_now_ms() + ms, last_sample = 0, last_diag = swt_now_ms();
    long rss_peak = rss_idle;
    uint64_t unread_peak = 0, n = 0;
    while (swt_now_ms() < end) {
        big_round_trip(cli, srv, ++corr, body, sizeof body);
        n++;
        if (swt_now_ms() - last_sample >= 10) {
            long rss = swt_rss_kb(sw->pid);
            rss_peak = rss > rss_peak ? rss : rss_peak;
            last_sample = swt_now_ms();
        }
        if (swt_now_ms() - last_diag >= 250) {
            uint64_t u = swd_now_u(obs, "counters.unread_bytes");
            unread_peak = u > unread_peak ? u : unread_peak;
            CHECKF(u <= total_limit, "unread bytes %llu over --max-unread-total %llu",
                   (unsigned long long) u, (unsigned long long) total_limit);
            last_diag = swt_now_ms();
        }
    }
    char line[NU][512];
    collect_attacks(umodes, NU, pid, fd, line, sw, end, &rss_peak);
    swd_t *d1 = swd_fetch(obs);
    uint64_t dropped = swd_u(d1, "counters.unread_dropped") - swd_u(d0, "counters.unread_dropped");
    uint64_t tmo = refusals(d1, "too-many-outstanding") - refusals(d0, "too-many-outstanding");
    swt_note("good pair: %llu round trips of 100 KiB each way during the attack, all answered",
             (unsigned long long) n);
    swt_note("answers dropped over the unread budget: %llu; too-many-outstanding refusals: %llu; "
             "unread bytes at most %llu (limit %llu)", (unsigned long long) dropped,
             (unsigned long long) tmo, (unsigned long long) unread_peak, (unsigned long long) total_limit);
    swt_note("switch RSS: idle %ld KiB, peak %ld KiB (+%ld KiB; bound +%d KiB)", rss_idle, rss_peak,
             rss_peak - rss_idle, swt_sanitized() ? RSS_BOUND_ASAN_KB : RSS_BOUND_KB);
    CHECKF(n >= 10, "only %llu good round trips", (unsigned long long) n);
    CHECK(field(line[0], "replies") > 0 && field(line[1], "diags") > 0);
    CHECKF(dropped > 0, "no answer was dropped over the budget");
    CHECKF(tmo > 0, "no too-many-outstanding refusal was counted");
    CHECKF(rss_peak - rss_idle <= (swt_sanitized() ? RSS_BOUND_ASAN_KB : RSS_BOUND_KB),
           "RSS grew by %ld KiB", rss_peak - rss_idle);
    swd_free(d0);
    swd_free(d1);
    /* the attackers are gone: nothing unread, nothing held */
    CHECK(WAIT_FOR(10000, ({ swd_t *g = swd_fetch(obs);
                             bool ok = swd_u(g, "counters.unread_bytes") == 0 &&
                                       swd_u(g, "counters.requests_held") == 0 && swd_npeers(g) == 3;
                             swd_free(g); ok; })));
    big_round_trip(cli, srv, ++corr, body, sizeof body);
    swt_stop(sw);
}

/*  A peer that does not read, against small budgets (--max-unread-bytes 65536): its DIAGs
    get a report or, over the budget, ERROR too-many-outstanding (each corr exactly one of
    the two); its 100 KiB answers are sent while it has nothing unread, else dropped (DIAG
    unread_dropped, undeliverable, a log line) — what it reads later is a subset of its
    answers, intact, and with the dropped ones accounts for every request; once it has read
    everything its budget is free again.  Then --max-unread-total 262144 bounds the switch's
    total whatever the per-peer budget. */
static void unread_limits(void)
{
    swt_switch_t *sw = swt_start("--max-unread-bytes", "65536", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    CHECK_U(swd_now_u(obs, "limits.max_unread_bytes"), ==, 65536);
    /* ~300 queues with long names: a DIAG report of ~100 KiB */
    rp_t *owner = rp_open(sw->endpoint, "owner", "server");
    char q[XSP_QUEUE_MAX + 1];
    for (int j = 0; j < 250; j++) {
        int k = snprintf(q, sizeof q, "unread.%d.", j);
        memset(q + k, 'n', 200);
        q[k + 200] = '\0';
        rp_subscribe(owner, q, 0);
    }
    CHECK(WAIT_FOR(3000, swd_now_u(obs, "counters.queues") >= 250));
    rp_t *lazy = rp_connect_opts(sw->endpoint, 1);
    rp_hello(lazy, "lazy", "cli", 1, 0);
    enum { NDIAG = 40 };
    for (uint64_t c = 1; c <= NDIAG; c++)
        rp_diag(lazy, c);
    CHECK(WAIT_FOR(5000, refusals_now(obs, "too-many-outstanding") > 0));
    /* (libzmq may have written the last report out by now: only the bound is certain) */
    swd_t *g = swd_fetch(obs);
    uint64_t mine = swd_obj_u(swd_peer(g, lazy->peer_id), "unread_bytes");
    CHECKF(mine <= 65536 + 200000, "lazy has %llu bytes unread", (unsigned long long) mine);
    swd_free(g);
    /* it reads now: every DIAG answered exactly once, by a report or a refusal */
    bool seen[NDIAG + 1] = { false };
    unsigned reports = 0, refused = 0;
    rp_msg_t m = { 0 };
    while (reports + refused < NDIAG) {
        CHECKF(rp_recv(lazy, &m, swt_ms(5000)), "%u reports + %u refusals of %d DIAGs", reports,
               refused, NDIAG);
        if (m.h.cmd == XSP_CMD_DIAG_REPLY) {
            reports++;
        } else {
            CHECKF(m.h.cmd == XSP_CMD_ERROR && rp_str_eq(m.h.code, "too-many-outstanding") &&
                   m.h.ref_cmd == XSP_CMD_DIAG, "lazy got %s", xsp_cmd_name(m.h.cmd));
            refused++;
        }
        CHECK(m.h.corr >= 1 && m.h.corr <= NDIAG && !seen[m.h.corr]);
        seen[m.h.corr] = true;
    }
    swt_note("%d DIAGs never read: %u reports, %u refused", NDIAG, reports, refused);
    CHECK(reports >= 1 && refused >= 1);
    CHECK(WAIT_FOR(3000, swd_now_u(obs, "counters.unread_bytes") == 0));

    /* answers: 40 requests of lazy, answered with 100 KiB each while it does not read */
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_subscribe(srv, "big", 64);
    static char body[100 * 1024];
    memset(body, 'b', sizeof body);
    enum { NREQ = 40 };
    for (uint64_t c = 1; c <= NREQ; c++)
        rp_request(lazy, 100 + c, "big", 0, 0, "", "q", 1);
    for (int i = 0; i < NREQ; i++) {
        rp_expect_deliver(srv, &m);
        rp_reply(srv, m.h.msg_id, 0, body, sizeof body);
    }
    CHECK(WAIT_FOR(5000, swd_now_u(obs, "counters.replied") == NREQ));
    g = swd_fetch(obs);
    uint64_t dropped = swd_u(g, "counters.unread_dropped");
    CHECKF(dropped > 0, "no answer dropped");
    CHECK_U(swd_u(g, "counters.undeliverable"), >=, dropped);
    CHECK_U(swd_obj_u(swd_peer(g, lazy->peer_id), "outstanding"), ==, 0);
    CHECK_U(swd_obj_u(swd_peer(g, lazy->peer_id), "unread_bytes"), <=, 65536 + sizeof body);
    swd_free(g);
    CHECK(swt_log_contains(sw, "dropped an answer of 102400 bytes for lazy#"));
    unsigned got = 0;
    while (rp_recv(lazy, &m, 500)) {
        CHECKF(m.h.cmd == XSP_CMD_RESULT, "lazy got %s", xsp_cmd_name(m.h.cmd));
        CHECK(m.payload_len == sizeof body && memcmp(m.payload, body, sizeof body) == 0);
        got++;
    }
    swt_note("%d answers of 100 KiB never read: %u read later, %llu dropped", NREQ, got,
             (unsigned long long) dropped);
    CHECK_U(got + dropped, ==, NREQ);
    CHECK(WAIT_FOR(3000, swd_now_u(obs, "counters.unread_bytes") == 0));
    rp_request(lazy, 999, "big", 0, 0, "", "q", 1);       /* its budget is free again */
    rp_expect_deliver(srv, &m);
    rp_reply(srv, m.h.msg_id, 0, body, sizeof body);
    rp_expect_result(lazy, NULL, 999);
    rp_msg_clear(&m);
    swt_stop(sw);

    /* the switch's total: two lazy clients, a generous per-peer budget, a small total */
    sw = swt_start("--max-unread-total", "262144", NULL);
    obs = rp_open(sw->endpoint, "obs", "cli");
    srv = rp_open(sw->endpoint, "srv", "server");
    rp_subscribe(srv, "big", 128);
    rp_t *l1 = rp_connect_opts(sw->endpoint, 1), *l2 = rp_connect_opts(sw->endpoint, 1);
    rp_hello(l1, "lazy1", "cli", 1, 0);
    rp_hello(l2, "lazy2", "cli", 1, 0);
    for (uint64_t c = 1; c <= NREQ; c++) {
        rp_request(l1, c, "big", 0, 0, "", "q", 1);
        rp_request(l2, c, "big", 0, 0, "", "q", 1);
    }
    uint64_t upeak = 0;
    for (int i = 0; i < 2 * NREQ; i++) {
        rp_expect_deliver(srv, &m);
        rp_reply(srv, m.h.msg_id, 0, body, sizeof body);
        if (i % 8 == 7) {
            uint64_t u = swd_now_u(obs, "counters.unread_bytes");
            upeak = u > upeak ? u : upeak;
        }
    }
    CHECK(WAIT_FOR(5000, swd_now_u(obs, "counters.replied") == 2 * NREQ));
    CHECK_U(upeak, <=, 262144);
    CHECK_U(swd_now_u(obs, "counters.unread_dropped"), >, 0);
    swt_note("two lazy clients, --max-unread-total 262144: unread bytes at most %llu, %llu answers dropped",
             (unsigned long long) upeak, (unsigned long long) swd_now_u(obs, "counters.unread_dropped"));
    rp_msg_clear(&m);
    swt_stop(sw);
}

static void quota(void)
{
    swt_switch_t *sw = swt_start("--max-queues-per-peer", "3", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *a = rp_open(sw->endpoint, "a", "client");
    rp_t *b = rp_open(sw->endpoint, "b", "server");
    rp_msg_t m = { 0 };
    rp_request(a, 1, "a1", 300, 0, "", "x", 1);     /* expires: then a1 is idle */
    rp_request(a, 2, "a2", 0, 0, "", "x", 1);       /* waits: a2 stays in use */
    rp_subscribe(a, "a3", 0);                       /* in use while subscribed */
    rp_request(a, 4, "a4", 0, 0, "", "x", 1);
    rp_expect_error(a, &m, "too-many-queues", XSP_CMD_REQUEST, 4);
    rp_expect_error(a, NULL, "expired", XSP_CMD_REQUEST, 1);
    rp_request(a, 5, "a5", 0, 0, "", "x", 1);       /* a1 is reclaimed for it */
    rp_unsubscribe(a, "a3");
    rp_request(a, 6, "a6", 0, 0, "", "x", 1);       /* a3 is reclaimed for it */
    rp_request(a, 7, "a7", 0, 0, "", "x", 1);       /* a2, a5, a6 are in use */
    rp_expect_error(a, NULL, "too-many-queues", XSP_CMD_REQUEST, 7);
    swd_t *d = swd_fetch(obs);
    CHECK(swd_queue(d, "a1") == NULL && swd_queue(d, "a3") == NULL);
    CHECK(swd_queue(d, "a2") && swd_queue(d, "a5") && swd_queue(d, "a6"));
    CHECK_U(swd_u(d, "counters.queues_reclaimed"), ==, 2);
    CHECK_U(swd_u(d, "counters.queue_quota_refused"), ==, 2);
    swd_free(d);
    /* another peer is not limited by a's quota */
    rp_subscribe(b, "b1", 1);
    rp_subscribe(b, "b2", 1);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "b2", "consumers") == 1));
    /* a request to an existing queue does not create one */
    rp_request(a, 8, "b1", 0, 0, "", "x", 1);
    rp_expect_deliver(b, &m);
    rp_reply(b, m.h.msg_id, 0, "y", 1);
    rp_expect_result(a, NULL, 8);
    /* a dies: its queues stay (their requests are dropped) but count against nobody */
    rp_bye(a);
    rp_t *a2 = rp_open(sw->endpoint, "a-again", "client");
    for (int i = 0; i < 3; i++) {
        char q[16];
        snprintf(q, sizeof q, "n%d", i);
        rp_request(a2, (uint64_t) (10 + i), q, 0, 0, "", "x", 1);
    }
    rp_request(a2, 13, "n3", 0, 0, "", "x", 1);
    rp_expect_error(a2, NULL, "too-many-queues", XSP_CMD_REQUEST, 13);
    rp_msg_clear(&m);
    swt_stop(sw);
}

static void held(void)
{
    swt_switch_t *sw = swt_start("--max-held-bytes", "8192", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *c = rp_open(sw->endpoint, "c", "client");
    rp_t *s = rp_open(sw->endpoint, "s", "server");
    static char body[3000];
    memset(body, 'b', sizeof body);
    CHECK_U(swd_now_u(obs, "limits.max_held_bytes"), ==, 8192);
    rp_request(c, 1, "h", 0, 0, "", body, sizeof body);
    rp_request(c, 2, "h", 0, 0, "", body, sizeof body);
    rp_request(c, 3, "h", 0, 0, "", body, sizeof body);    /* 3 x (3000 + header) > 8192 */
    rp_msg_t m = { 0 };
    rp_expect_error(c, &m, "queue-full", XSP_CMD_REQUEST, 3);
    uint64_t hb = swd_now_u(obs, "counters.held_bytes");
    CHECKF(hb > 6000 && hb < 6200, "held_bytes %llu", (unsigned long long) hb);
    rp_subscribe(s, "h", 1);
    rp_expect_deliver(s, &m);
    rp_reply(s, m.h.msg_id, 0, "ok", 2);
    rp_expect_result(c, NULL, 1);
    rp_request(c, 4, "h", 0, 0, "", body, sizeof body);    /* room again */
    for (int i = 0; i < 2; i++) {
        rp_expect_deliver(s, &m);
        rp_reply(s, m.h.msg_id, 0, "ok", 2);
    }
    rp_expect_result(c, NULL, 2);
    rp_expect_result(c, NULL, 4);
    CHECK(WAIT_FOR(2000, swd_now_u(obs, "counters.held_bytes") == 0));
    CHECK_U(swd_now_u(obs, "refusals.queue-full"), ==, 1);
    rp_msg_clear(&m);
    swt_stop(sw);
}

static void handshake(void)
{
    swt_switch_t *sw = swt_start("--handshake-ms", "300", NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    CHECK_U(swd_now_u(obs, "limits.handshake_ms"), ==, 300);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    CHECK(strlen(sw->sock_path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, sw->sock_path, strlen(sw->sock_path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    CHECK(connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0);
    uint64_t t0 = swt_now_ms();
    char buf[256];
    ssize_t r;
    bool eof = false;
    while (swt_now_ms() - t0 < swt_ms(3000)) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 50) > 0) {
            r = read(fd, buf, sizeof buf);  /* the switch's half of the greeting, then EOF */
            if (r <= 0) {
                eof = true;
                break;
            }
        }
        rp_tick_all();
    }
    uint64_t dt = swt_now_ms() - t0;
    close(fd);
    CHECKF(eof, "a connection that never sent the ZMTP greeting was not closed in %llu ms",
           (unsigned long long) dt);
    swt_note("a silent raw connection was closed after %llu ms (--handshake-ms 300)", (unsigned long long) dt);
    /* a DEALER that completed the handshake but never says HELLO: no session, no state */
    rp_t *mute = rp_connect(sw->endpoint);
    rp_sleep(200);
    swd_t *g = swd_fetch(obs);
    CHECK_U(swd_npeers(g), ==, 1);
    CHECK_U(swd_u(g, "counters.peers_up"), ==, 1);
    swd_free(g);
    rp_close(mute);
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "flood", flood, false },
        { "unread", unread, false },
        { "unread_limits", unread_limits, false },
        { "quota", quota, false },
        { "held", held, false },
        { "handshake", handshake, false },
        { "attack", child_attack, true },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 55);
}

/*  test_sw_malformed.c — malformed input never disturbs the switch (docs/protocol.md §1-3, §7).

    While a well-behaved client/server pair (own thread, own queue) does request/reply
    round trips and checks every answer, attackers send bad frames:

    shapes     a catalogue of hand-made bad messages — empty header, non-arrays, empty
               array, unknown commands (0, 20, 99, 255, 2^64-1, negative, string), wrong
               field types (string for uint, uint for string, negative, float, bool, nil,
               array), missing fields, huge declared str/bin/array/map/ext lengths
               (0xdb ff ff ff ff ...), truncations of a valid REQUEST at every length,
               trailing bytes after the array, 3/4/5-frame messages, a payload on HEARTBEAT,
               SUBSCRIBE, DIAG, HELLO, BYE, TRACE, the switch-only commands (WELCOME,
               DELIVER, RESULT, ERROR, TRACE_EVENT, TRACE_END, DIAG_REPLY), strings over
               their limits, headers of 4097+ bytes — each from a peer with a session and
               one without.  Each is answered by exactly one ERROR `protocol` (ref_cmd /
               ref as §3.2 says where the header says them), counters.protocol_errors goes
               up by exactly one, nothing is queued or subscribed, the attacker's session
               continues.  Also: well-formed extra trailing elements are ignored (MUST), a
               4096-byte header is accepted.
    fuzz       seeded PRNG (XSP_FUZZ_SEED, default fixed; printed): 2500 random or mutated
               frames that the codec rejects (or with bad frame counts / switch-only
               commands), from a session and from a session-less peer — each answered by
               one ERROR protocol, protocol_errors rises by exactly their number; then
               1500 arbitrary mutations (valid ones included) sent blind.  The switch stays
               up, the pair never misses an answer, the switch exits 0 (no ASan report).
*/
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rawpeer.h"
#include "swdiag.h"

#define PAIR_QUEUE "good.pair.queue.0123456789"

/* ------------------------------------------------------------------ the good pair */

static const char *endpoint;
static atomic_int pair_stop;
static atomic_long pair_rounds;

static void *pair_thread(void *arg)
{
    (void) arg;
    rp_t *srv = rp_open(endpoint, "pair-server", "server");
    rp_t *cli = rp_open(endpoint, "pair-client", "client");
    rp_subscribe(srv, PAIR_QUEUE, 1);
    rp_msg_t d = { 0 }, r = { 0 };
    for (uint64_t i = 1; !atomic_load(&pair_stop); i++) {
        char body[64], ans[64];
        int bl = snprintf(body, sizeof body, "question-%llu", (unsigned long long) i);
        int al = snprintf(ans, sizeof ans, "answer-%llu", (unsigned long long) i);
        rp_request(cli, i, PAIR_QUEUE, 0, 0, "pair", body, (size_t) bl);
        rp_expect_deliver(srv, &d);
        CHECKF(d.payload_len == (size_t) bl && memcmp(d.payload, body, (size_t) bl) == 0,
               "pair server got '%s' for round %llu", d.payload, (unsigned long long) i);
        rp_reply(srv, d.h.msg_id, 0, ans, (size_t) al);
        rp_expect_result(cli, &r, i);
        CHECKF(r.payload_len == (size_t) al && memcmp(r.payload, ans, (size_t) al) == 0,
               "pair client got '%s' for round %llu", r.payload, (unsigned long long) i);
        atomic_fetch_add(&pair_rounds, 1);
    }
    rp_msg_clear(&d);
    rp_msg_clear(&r);
    rp_bye(cli);
    rp_bye(srv);
    return NULL;
}

static pthread_t pair_start(const char *ep)
{
    endpoint = ep;
    atomic_store(&pair_stop, 0);
    atomic_store(&pair_rounds, 0);
    pthread_t t;
    pthread_create(&t, NULL, pair_thread, NULL);
    uint64_t end = swt_now_ms() + swt_ms(5000);
    while (atomic_load(&pair_rounds) == 0 && swt_now_ms() < end)
        rp_sleep(5);
    CHECKF(atomic_load(&pair_rounds) > 0, "the good pair never completed a round trip");
    return t;
}

static long pair_finish(pthread_t t)
{
    long before = atomic_load(&pair_rounds);
    CHECK(WAIT_FOR(3000, atomic_load(&pair_rounds) > before));   /* still going */
    atomic_store(&pair_stop, 1);
    pthread_join(t, NULL);
    return atomic_load(&pair_rounds);
}

/* ------------------------------------------------------------------ building frames */

typedef struct {
    int n;
    uint8_t f[6][8192];
    size_t len[6];
} frames_t;

/*  "91 0b | 61 62": frames separated by '|', bytes in hex. */
static void from_hex(frames_t *fr, const char *hex)
{
    memset(fr->len, 0, sizeof fr->len);
    fr->n = 1;
    for (const char *p = hex; *p; p++) {
        if (*p == '|') {
            fr->n++;
            continue;
        }
        if (isspace((unsigned char) *p))
            continue;
        unsigned v;
        CHECKF(sscanf(p, "%2x", &v) == 1, "bad hex in test data: %s", hex);
        fr->f[fr->n - 1][fr->len[fr->n - 1]++] = (uint8_t) v;
        p++;
    }
}

static void send_fr(rp_t *p, const frames_t *fr)
{
    const void *b[6];
    for (int i = 0; i < fr->n; i++)
        b[i] = fr->f[i];
    rp_send_frames(p, fr->n, b, fr->len);
}

static size_t encode(const xsp_hdr_t *h, uint8_t *buf, size_t cap)
{
    size_t n = xsp_hdr_encode(h, buf, cap);
    CHECK(n > 0);
    return n;
}

/*  A REQUEST header with one extra string element of `extra` bytes appended. */
static size_t request_with_extra(uint8_t *buf, size_t cap, uint64_t corr, const char *queue, size_t extra)
{
    xsp_mpw_t w;
    xsp_mpw_init(&w, buf, cap);
    xsp_mpw_array(&w, 7);
    xsp_mpw_uint(&w, XSP_CMD_REQUEST);
    xsp_mpw_uint(&w, corr);
    xsp_mpw_cstr(&w, queue);
    xsp_mpw_uint(&w, 0);
    xsp_mpw_uint(&w, 0);
    xsp_mpw_cstr(&w, "");
    static char filler[8192];
    memset(filler, 'e', sizeof filler);
    xsp_mpw_str(&w, filler, extra);
    CHECK(!w.overflow);
    return w.len;
}

/* ------------------------------------------------------------------ shapes */

typedef struct {
    const char *what;
    const char *hex;
    int ref_cmd;                /* expected ref_cmd; -1 = any */
    uint64_t ref;               /* expected ref; RP_ANY = any */
} shape_t;

static const shape_t shapes[] = {
    { "empty header frame", "", 0, RP_ANY },
    { "positive int", "05", 0, RP_ANY },
    { "empty map", "80", 0, RP_ANY },
    { "map", "81 a1 61 01", 0, RP_ANY },
    { "string", "a2 68 69", 0, RP_ANY },
    { "nil", "c0", 0, RP_ANY },
    { "true", "c3", 0, RP_ANY },
    { "float64", "cb 3f f0 00 00 00 00 00 00", 0, RP_ANY },
    { "never-used byte c1", "c1", 0, RP_ANY },
    { "empty array", "90", 0, RP_ANY },
    { "cmd 0", "91 00", 0, RP_ANY },
    { "cmd 20", "91 14", 0, RP_ANY },
    { "cmd 99", "91 63", 0, RP_ANY },
    { "cmd 255", "91 cc ff", 0, RP_ANY },
    { "cmd 2^64-1", "91 cf ff ff ff ff ff ff ff ff", 0, RP_ANY },
    { "cmd 99 with fields", "96 63 07 a1 71 00 00 a0", 0, RP_ANY },
    { "cmd negative", "91 ff", 0, RP_ANY },
    { "cmd as string", "91 a1 33", 0, RP_ANY },
    { "cmd as float", "91 ca 40 40 00 00", 0, RP_ANY },
    /* wrong field types */
    { "REQUEST corr str", "96 03 a1 78 a1 71 00 00 a0", 3, 0 },
    { "REQUEST corr negative", "96 03 d0 85 a1 71 00 00 a0", 3, 0 },
    { "REQUEST corr float", "96 03 ca 3f 80 00 00 a1 71 00 00 a0", 3, 0 },
    { "REQUEST corr bool", "96 03 c3 a1 71 00 00 a0", 3, 0 },
    { "REQUEST corr nil", "96 03 c0 a1 71 00 00 a0", 3, 0 },
    { "REQUEST queue uint", "96 03 07 05 00 00 a0", 3, 7 },
    { "REQUEST queue array", "96 03 07 91 01 00 00 a0", 3, 7 },
    { "REQUEST timeout str", "96 03 07 a1 71 a1 74 00 a0", 3, 7 },
    { "REQUEST flags negative", "96 03 07 a1 71 00 ff a0", 3, 7 },
    { "REQUEST dbg uint", "96 03 07 a1 71 00 00 05", 3, 7 },
    { "REQUEST dbg map", "96 03 07 a1 71 00 00 80", 3, 7 },
    { "HELLO version str", "96 01 a1 31 a1 6e a1 72 01 00", 1, RP_ANY },
    { "HELLO name uint", "96 01 01 05 a1 72 01 00", 1, RP_ANY },
    { "HELLO pid negative", "96 01 01 a1 6e a1 72 ff 00", 1, RP_ANY },
    { "REPLY msg_id str", "93 05 a1 31 00", 5, 0 },
    { "REPLY status str", "93 05 09 a1 30", 5, 9 },
    { "SUBSCRIBE credit str", "93 08 a1 71 a1 31", 8, RP_ANY },
    { "SUBSCRIBE queue array", "93 08 90 01", 8, RP_ANY },
    { "CREDIT credit negative", "93 0a a1 71 ff", 10, RP_ANY },
    { "UNSUBSCRIBE queue uint", "92 09 01", 9, RP_ANY },
    { "TRACE follow str", "94 0d 00 a0 a1 78", 13, RP_ANY },
    { "TRACE from_seq str", "94 0d a0 a0 00", 13, RP_ANY },
    { "DIAG corr str", "92 11 a1 63", 17, 0 },
    /* missing fields */
    { "REQUEST [3]", "91 03", 3, 0 },
    { "REQUEST [3, corr, queue]", "93 03 07 a1 71", 3, 7 },
    { "REQUEST without dbg", "95 03 07 a1 71 00 00", 3, 7 },
    { "REPLY [5]", "91 05", 5, 0 },
    { "REPLY [5, msg_id]", "92 05 09", 5, 9 },
    { "HELLO [1, 1, name]", "93 01 01 a1 6e", 1, RP_ANY },
    { "SUBSCRIBE [8, q]", "92 08 a1 71", 8, RP_ANY },
    { "UNSUBSCRIBE [9]", "91 09", 9, RP_ANY },
    { "CREDIT [10, q]", "92 0a a1 71", 10, RP_ANY },
    { "TRACE [13, 0]", "92 0d 00", 13, RP_ANY },
    { "DIAG [17]", "91 11", 17, 0 },
    /* huge declared lengths */
    { "queue str32 4 GiB", "96 03 07 db ff ff ff ff", 3, 7 },
    { "queue str32 4 GiB + bytes", "96 03 07 db ff ff ff ff 61 62 63", 3, 7 },
    { "dbg str32 4 GiB", "96 03 07 a1 71 00 00 db ff ff ff ff 61", 3, 7 },
    { "queue bin32 4 GiB", "96 03 07 c6 ff ff ff ff", 3, 7 },
    { "queue str16 64 KiB", "96 03 07 da ff ff 61 62", 3, 7 },
    { "queue str8 past the end", "96 03 07 d9 20 61", 3, 7 },
    { "fixstr past the end", "96 03 07 bf 61", 3, 7 },
    { "array32 2^32-1", "dd ff ff ff ff 03", 0, RP_ANY },
    { "array16 65535", "dc ff ff 03 07", 0, RP_ANY },
    { "map32 2^32-1", "df ff ff ff ff", 0, RP_ANY },
    { "extra element array32 huge", "92 0b dd ff ff ff ff", 11, RP_ANY },
    { "extra element map16 huge", "92 0b de ff ff", 11, RP_ANY },
    { "extra element ext32 huge", "92 0b c9 ff ff ff ff 01", 11, RP_ANY },
    { "extra element str32 huge", "92 0b db ff ff ff ff", 11, RP_ANY },
    { "extra element c1", "92 0b c1", 11, RP_ANY },
    { "uint64 cut short", "96 03 cf 00 00", 3, 0 },
    /* trailing bytes after the array */
    { "HEARTBEAT + 00", "91 0b 00", 11, RP_ANY },
    { "HEARTBEAT + c1", "91 0b c1", 11, RP_ANY },
    { "REQUEST + ff", "96 03 07 a1 71 00 00 a0 ff", 3, 7 },
    { "two arrays", "91 0b 91 0b", 11, RP_ANY },
    /* frame counts */
    { "REQUEST in 3 frames", "96 03 07 a2 33 66 00 00 a0 | 61 | 62", 3, 7 },
    { "REQUEST in 4 frames", "96 03 07 a2 33 66 00 00 a0 | 61 | 62 | 63", 3, 7 },
    { "REQUEST in 5 empty frames", "96 03 07 a2 33 66 00 00 a0 | | | |", 3, 7 },
    { "HEARTBEAT in 3 frames", "91 0b | | ", 11, RP_ANY },
    { "garbage in 3 frames", "ff | ff | ff", 0, RP_ANY },
    /* payload on commands that take none */
    { "HEARTBEAT + payload", "91 0b | 61", 11, RP_ANY },
    { "HEARTBEAT + empty payload", "91 0b |", 11, RP_ANY },
    { "SUBSCRIBE + payload", "93 08 a2 33 66 05 | 61", 8, RP_ANY },
    { "UNSUBSCRIBE + payload", "92 09 a2 33 66 | 61", 9, RP_ANY },
    { "CREDIT + payload", "93 0a a2 33 66 05 | 61", 10, RP_ANY },
    { "DIAG + payload", "92 11 2a | 61", 17, 42 },
    { "HELLO + payload", "96 01 01 a1 6e a1 72 01 00 | 61", 1, RP_ANY },
    { "BYE + payload", "91 0c | 61", 12, RP_ANY },
    { "TRACE + payload", "94 0d 00 a0 00 | 61", 13, RP_ANY },
    { "UNTRACE + payload", "91 10 | 61", 16, RP_ANY },
    { NULL, NULL, 0, 0 },
};

/*  Send one bad message from p and check: exactly one ERROR protocol, the counter +1. */
static void expect_protocol(rp_t *p, rp_t *obs, const frames_t *fr, const char *what, int ref_cmd,
                            uint64_t ref)
{
    uint64_t before = swd_now_u(obs, "counters.protocol_errors");
    send_fr(p, fr);
    rp_msg_t m = { 0 };
    char got[2048];
    CHECKF(rp_recv(p, &m, swt_ms(RP_TIMEOUT)), "%s (peer %s): no answer", what, p->name);
    CHECKF(m.h.cmd == XSP_CMD_ERROR && rp_str_eq(m.h.code, "protocol"), "%s (peer %s): got %s", what, p->name,
           rp_msg_describe(&m, got, sizeof got));
    CHECKF(ref_cmd < 0 || m.h.ref_cmd == (uint64_t) ref_cmd, "%s: ref_cmd %llu, want %d", what,
           (unsigned long long) m.h.ref_cmd, ref_cmd);
    CHECKF(ref == RP_ANY || m.h.corr == ref, "%s: ref %llu, want %llu", what, (unsigned long long) m.h.corr,
           (unsigned long long) ref);
    CHECKF(m.h.message.len > 0, "%s: ERROR without a message", what);
    rp_msg_clear(&m);
    uint64_t after = swd_now_u(obs, "counters.protocol_errors");
    CHECKF(after == before + 1, "%s: protocol_errors went from %llu to %llu", what, (unsigned long long) before,
           (unsigned long long) after);
}

static void shapes_from(rp_t *att, rp_t *obs, bool has_session)
{
    frames_t *fr = malloc(sizeof *fr);
    CHECK(fr);
    for (const shape_t *s = shapes; s->what; s++) {
        from_hex(fr, s->hex);
        expect_protocol(att, obs, fr, s->what, s->ref_cmd, s->ref);
    }
    /* truncations of a valid REQUEST (corr 0x1234: 3 bytes) at every length */
    xsp_hdr_t h = { .cmd = XSP_CMD_REQUEST, .corr = 0x1234, .timeout_ms = 70000, .flags = 1 };
    h.queue = XSP_STR("trunc.q");
    h.dbg = XSP_STR("some dbg text");
    uint8_t full[256];
    size_t n = encode(&h, full, sizeof full);
    fr->n = 1;
    for (size_t cut = 1; cut < n; cut++) {
        memcpy(fr->f[0], full, cut);
        fr->len[0] = cut;
        char what[128];
        snprintf(what, sizeof what, "REQUEST cut to %zu of %zu bytes", cut, n);
        expect_protocol(att, obs, fr, what, cut >= 2 ? 3 : 0, cut >= 5 ? 0x1234 : 0);
    }
    /* the switch-only commands, well-formed (from a peer without a session `no-session`
       is as right an answer: §4.1 and §7 both apply; only checked with a session) */
    static const unsigned only[] = { XSP_CMD_WELCOME, XSP_CMD_DELIVER, XSP_CMD_RESULT, XSP_CMD_ERROR,
                                     XSP_CMD_TRACE_EVENT, XSP_CMD_TRACE_END, XSP_CMD_DIAG_REPLY };
    for (size_t i = 0; has_session && i < sizeof only / sizeof only[0]; i++) {
        xsp_hdr_t o = { .cmd = (xsp_cmd_t) only[i], .version = 1, .corr = 5, .msg_id = 6 };
        o.queue = XSP_STR("q");
        o.code = XSP_STR("x");
        fr->len[0] = encode(&o, fr->f[0], sizeof fr->f[0]);
        fr->n = 1;
        char what[128];
        snprintf(what, sizeof what, "switch-only %s", xsp_cmd_name(only[i]));
        expect_protocol(att, obs, fr, what, (int) only[i], RP_ANY);
        if (only[i] == XSP_CMD_RESULT || only[i] == XSP_CMD_DELIVER) {   /* and with a payload */
            fr->n = 2;
            fr->len[1] = 3;
            memcpy(fr->f[1], "abc", 3);
            snprintf(what, sizeof what, "switch-only %s + payload", xsp_cmd_name(only[i]));
            expect_protocol(att, obs, fr, what, (int) only[i], RP_ANY);
        }
    }
    /* strings over their limits */
    char lim[1100];
    memset(lim, 's', sizeof lim);
    xsp_hdr_t r = { .cmd = XSP_CMD_REQUEST, .corr = 8 };
    r.queue = XSP_STR("q");
    r.dbg = (xsp_str_t) { lim, 1025 };
    fr->n = 1;
    fr->len[0] = encode(&r, fr->f[0], sizeof fr->f[0]);
    expect_protocol(att, obs, fr, "dbg of 1025 bytes", 3, 8);
    xsp_hdr_t hl = { .cmd = XSP_CMD_HELLO, .version = 1 };
    hl.name = (xsp_str_t) { lim, 65 };
    hl.role = XSP_STR("r");
    fr->len[0] = encode(&hl, fr->f[0], sizeof fr->f[0]);
    expect_protocol(att, obs, fr, "HELLO name of 65 bytes", 1, RP_ANY);
    hl.name = XSP_STR("n");
    hl.role = (xsp_str_t) { lim, 33 };
    fr->len[0] = encode(&hl, fr->f[0], sizeof fr->f[0]);
    expect_protocol(att, obs, fr, "HELLO role of 33 bytes", 1, RP_ANY);
    /* headers over 4096 bytes */
    for (size_t target = 4097; target <= 4100; target++) {
        size_t extra = 4000;
        while (request_with_extra(fr->f[0], sizeof fr->f[0], 9, "big.hdr", extra) < target)
            extra++;
        fr->len[0] = request_with_extra(fr->f[0], sizeof fr->f[0], 9, "big.hdr", extra);
        fr->n = 2;
        fr->len[1] = 1;
        fr->f[1][0] = 'x';
        char what[128];
        snprintf(what, sizeof what, "REQUEST header of %zu bytes", fr->len[0]);
        expect_protocol(att, obs, fr, what, -1, RP_ANY);
    }
    fr->n = 1;
    fr->len[0] = 8000;
    memset(fr->f[0], 0x91, 8000);
    expect_protocol(att, obs, fr, "8000 bytes of 0x91", 0, RP_ANY);
    free(fr);
}

static void shapes_case(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    pthread_t pair = pair_start(sw->endpoint);
    rp_t *att = rp_open(sw->endpoint, "attacker", "client");
    rp_t *anon = rp_connect(sw->endpoint);
    snprintf(anon->name, sizeof anon->name, "no-session");
    swt_note("%zu shapes + truncations + switch-only + limits, from a session", sizeof shapes / sizeof shapes[0] - 1);
    shapes_from(att, obs, true);
    swt_note("... and from a peer without a session");
    shapes_from(anon, obs, false);

    /* nothing was queued, subscribed or created by any of it */
    swd_t *d = swd_fetch(obs);
    CHECK(swd_peer(d, att->peer_id) != NULL);       /* session intact */
    for (const char *q = "3f"; q; q = NULL) {
        const msgpack_object *o = swd_queue(d, q);
        CHECKF(!o || (swd_obj_u(o, "depth") == 0 && swd_obj_u(o, "consumers") == 0),
               "a malformed message queued or subscribed on '%s'", q);
    }
    CHECK(swd_queue(d, "big.hdr") == NULL);
    CHECK(swd_queue(d, "trunc.q") == NULL);
    CHECK_U(swd_npeers(d), ==, 4);                  /* obs, pair x2, attacker: no new sessions */
    swd_free(d);

    /* well-formed trailing elements are ignored (a later minor revision may add fields) */
    uint64_t pe = swd_now_u(obs, "counters.protocol_errors");
    frames_t *fr = malloc(sizeof *fr);
    from_hex(fr, "98 0b 01 a1 78 92 01 02 81 a1 61 01 c0 c3 cb 3f f8 00 00 00 00 00 00");
    send_fr(att, fr);
    from_hex(fr, "97 03 07 a7 65 78 74 72 61 2e 71 00 00 a0 a6 66 75 74 75 72 65 | 62 6f 64 79");
    send_fr(att, fr);               /* REQUEST corr 7 "extra.q" + extra "future", body "body" */
    rp_expect_nothing(att, 200);
    CHECK_U(swd_now_u(obs, "counters.protocol_errors"), ==, pe);
    CHECK_U(swd_now_queue(obs, "extra.q", "depth"), ==, 1);
    /* a header of exactly 4096 bytes is fine */
    size_t extra = 3900;
    while (request_with_extra(fr->f[0], sizeof fr->f[0], 10, "exact.q", extra) < 4096)
        extra++;
    fr->len[0] = request_with_extra(fr->f[0], sizeof fr->f[0], 10, "exact.q", extra);
    CHECK_U(fr->len[0], ==, 4096);
    fr->n = 1;
    send_fr(att, fr);
    rp_expect_nothing(att, 200);
    CHECK_U(swd_now_queue(obs, "exact.q", "depth"), ==, 1);
    /* deep nesting inside an extra element: the switch may refuse it, but must survive */
    fr->n = 1;
    fr->len[0] = 0;
    fr->f[0][fr->len[0]++] = 0x92;
    fr->f[0][fr->len[0]++] = 0x0b;
    for (int i = 0; i < 60; i++)
        fr->f[0][fr->len[0]++] = 0x91;
    fr->f[0][fr->len[0]++] = 0x00;
    send_fr(att, fr);
    rp_msg_t m = { 0 };
    if (rp_recv(att, &m, 300))
        CHECKF(m.h.cmd == XSP_CMD_ERROR && rp_str_eq(m.h.code, "protocol"), "deep nesting answered with %s",
               xsp_cmd_name(m.h.cmd));
    rp_msg_clear(&m);
    free(fr);
    /* the attacker's session works */
    swd_t *d2 = swd_fetch(att);
    swd_free(d2);
    long rounds = pair_finish(pair);
    swt_note("the good pair did %ld round trips meanwhile", rounds);
    CHECK(rounds > 0);
    CHECK(swt_alive(sw));
    swt_stop(sw);
}

/* ------------------------------------------------------------------ fuzz */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static unsigned rn(unsigned n)
{
    return (unsigned) (rnd() % n);
}

/*  A random well-formed header of any command (fields random, short strings). */
static size_t random_header(uint8_t *buf, size_t cap)
{
    static const char *const qs[] = { "fz", "f.z", "", "q", "fz/1" };
    xsp_hdr_t h = { .cmd = (xsp_cmd_t) (1 + rn(XSP_CMD__MAX)) };
    h.version = rn(4) ? 1 : rn(3);
    h.name = XSP_STR("fuzz");
    h.role = XSP_STR("fz");
    h.corr = rnd() >> rn(64);
    h.msg_id = rn(4) ? rn(50) : rnd();
    const char *q = qs[rn(5)];          /* (XSP_STR evaluates its argument twice) */
    h.queue = XSP_STR(q);
    h.timeout_ms = rn(3) ? 0 : rn(100);
    h.flags = rn(2);
    const char *dbg = rn(2) ? "d" : "";
    h.dbg = XSP_STR(dbg);
    h.status = rn(3);
    h.credit = rn(4);
    h.seq = rn(10);
    h.follow = 0;               /* a follow trace from a blind attacker would only add noise */
    h.code = XSP_STR("c");
    return xsp_hdr_encode(&h, buf, cap);
}

static void mutate(uint8_t *b, size_t *len, size_t cap)
{
    int k = 1 + (int) rn(4);
    for (int i = 0; i < k; i++) {
        switch (rn(6)) {
        case 0:                                  /* flip a bit */
            if (*len)
                b[rn((unsigned) *len)] ^= (uint8_t) (1u << rn(8));
            break;
        case 1:                                  /* random byte */
            if (*len)
                b[rn((unsigned) *len)] = (uint8_t) rnd();
            break;
        case 2:                                  /* truncate */
            if (*len)
                *len = rn((unsigned) *len);
            break;
        case 3:                                  /* insert */
            if (*len + 1 < cap) {
                size_t at = rn((unsigned) *len + 1);
                memmove(b + at + 1, b + at, *len - at);
                b[at] = (uint8_t) rnd();
                (*len)++;
            }
            break;
        case 4:                                  /* delete */
            if (*len) {
                size_t at = rn((unsigned) *len);
                memmove(b + at, b + at + 1, *len - at - 1);
                (*len)--;
            }
            break;
        default:                                 /* interesting byte */ {
            static const uint8_t hot[] = { 0xc1, 0xdb, 0xdd, 0xdf, 0xc6, 0xc9, 0xff, 0x00, 0x9f, 0xbf, 0xcf, 0xd3 };
            if (*len)
                b[rn((unsigned) *len)] = hot[rn(sizeof hot)];
        }
        }
    }
}

static void random_frames(frames_t *fr)
{
    unsigned kind = rn(10);
    fr->n = 1;
    if (kind < 3) {                              /* pure random bytes */
        fr->len[0] = rn(48);
        for (size_t i = 0; i < fr->len[0]; i++)
            fr->f[0][i] = (uint8_t) rnd();
    } else if (kind < 9) {                       /* a mutated valid header */
        fr->len[0] = random_header(fr->f[0], sizeof fr->f[0]);
        mutate(fr->f[0], &fr->len[0], 256);
    } else {                                     /* near the 4096-byte limit */
        size_t extra = 3950 + rn(200);
        fr->len[0] = request_with_extra(fr->f[0], sizeof fr->f[0], rnd(), "fz", extra);
        if (rn(2))
            mutate(fr->f[0], &fr->len[0], sizeof fr->f[0]);
    }
    unsigned more = rn(8);                       /* mostly 1-2 frames, sometimes 3-5 */
    int extra_frames = more < 4 ? 0 : more < 7 ? 1 : 2 + (int) rn(3);
    for (int i = 0; i < extra_frames; i++) {
        fr->len[fr->n] = rn(16);
        for (size_t j = 0; j < fr->len[fr->n]; j++)
            fr->f[fr->n][j] = (uint8_t) rnd();
        fr->n++;
    }
}

/*  What the switch must answer: 1 = ERROR protocol, 0 = something else may happen. */
static int must_be_protocol_error(const frames_t *fr, xsp_hdr_t *h, bool has_session)
{
    if (fr->n >= 3)
        return 1;
    if (xsp_hdr_decode(fr->f[0], fr->len[0], h, NULL, 0) < 0)
        return 1;
    if (fr->n == 2 && h->cmd != XSP_CMD_REQUEST && h->cmd != XSP_CMD_REPLY)
        return 1;
    switch (h->cmd) {
    case XSP_CMD_WELCOME: case XSP_CMD_DELIVER: case XSP_CMD_RESULT: case XSP_CMD_ERROR:
    case XSP_CMD_TRACE_EVENT: case XSP_CMD_TRACE_END: case XSP_CMD_DIAG_REPLY:
        return has_session;     /* without a session, no-session is a right answer too */
    default:
        return 0;
    }
}

static int fuzz_strict(rp_t *p, rp_t *obs, int count, bool has_session)
{
    frames_t *fr = malloc(sizeof *fr);
    CHECK(fr);
    uint64_t before = swd_now_u(obs, "counters.protocol_errors");
    int sent = 0, skipped = 0;
    rp_msg_t m = { 0 };
    char got[2048];
    while (sent < count) {
        random_frames(fr);
        xsp_hdr_t h;
        if (!must_be_protocol_error(fr, &h, has_session)) {
            skipped++;
            continue;
        }
        send_fr(p, fr);
        sent++;
        CHECKF(rp_recv(p, &m, swt_ms(RP_TIMEOUT)), "fuzz frame %d (peer %s): no answer", sent, p->name);
        CHECKF(m.h.cmd == XSP_CMD_ERROR && rp_str_eq(m.h.code, "protocol"), "fuzz frame %d (peer %s): got %s",
               sent, p->name, rp_msg_describe(&m, got, sizeof got));
        bool decodes = xsp_hdr_decode(fr->f[0], fr->len[0], &h, NULL, 0) == 0;
        CHECKF(!decodes || m.h.ref_cmd == h.cmd, "fuzz frame %d: a readable %s answered with ref_cmd %llu", sent,
               xsp_cmd_name(h.cmd), (unsigned long long) m.h.ref_cmd);
    }
    rp_msg_clear(&m);
    uint64_t after = swd_now_u(obs, "counters.protocol_errors");
    CHECKF(after - before == (uint64_t) sent, "protocol_errors rose by %llu for %d bad messages",
           (unsigned long long) (after - before), sent);
    free(fr);
    return skipped;
}

static void fuzz(void)
{
    const char *seed_env = getenv("XSP_FUZZ_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 0x5eed2024c0ffeeull;
    rng_state = seed ? seed : 1;
    swt_note("fuzz seed 0x%llx (set XSP_FUZZ_SEED to replay)", (unsigned long long) seed);
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    pthread_t pair = pair_start(sw->endpoint);
    rp_t *att = rp_open(sw->endpoint, "fuzzer", "client");
    rp_t *anon = rp_connect(sw->endpoint);
    snprintf(anon->name, sizeof anon->name, "no-session");

    int skipped = fuzz_strict(att, obs, 2000, true);
    skipped += fuzz_strict(anon, obs, 500, false);
    swt_note("2500 rejected frames answered one by one (%d valid candidates skipped)", skipped);
    CHECK(swd_now_peer_present(obs, att->peer_id));

    /* blind: anything, valid or not, from a fresh peer; drain whatever comes back */
    rp_t *blind = rp_open(sw->endpoint, "blind", "client");
    frames_t *fr = malloc(sizeof *fr);
    rp_msg_t m = { 0 };
    for (int i = 0; i < 1500; i++) {
        random_frames(fr);
        send_fr(blind, fr);
        while (rp_poll_msg(blind, &m))
            ;
    }
    free(fr);
    rp_sleep(200);
    while (rp_poll_msg(blind, &m))
        ;
    rp_msg_clear(&m);
    CHECK(swt_alive(sw));
    swd_t *d = swd_fetch(obs);
    swt_note("after fuzzing: protocol_errors %llu, errors %llu, peers %u, queues %u",
             (unsigned long long) swd_u(d, "counters.protocol_errors"), (unsigned long long) swd_u(d, "counters.errors"),
             swd_npeers(d), swd_nqueues(d));
    swd_free(d);
    long rounds = pair_finish(pair);
    swt_note("the good pair did %ld round trips meanwhile", rounds);
    CHECK(rounds > 10);
    CHECK(swt_alive(sw));
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "shapes", shapes_case, false },
        { "fuzz", fuzz, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 50);
}

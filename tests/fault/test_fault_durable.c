/*  test_fault_durable.c — the real xsp-switch with --state-dir, SIGKILLed and restarted.

    replay            3 PERSISTENT requests ACCEPTED (1 in flight, 2 queued); SIGKILL; a
                      restart on the same state dir delivers all 3 again, in order, with
                      the same msg ids; one answered before its client is back (held), two
                      after; the client reconnecting with the same identity gets all 3
                      RESULTs with the right ids and bodies
    kill_under_load   a client keeps 64 PERSISTENT requests outstanding against an echoing
                      server; the switch is SIGKILLed mid-load and restarted: every request
                      whose ACCEPTED arrived is answered (counted per corr), none is lost;
                      duplicates (a RESULT sent just before the kill whose DONE record
                      had not reached the file) are counted and reported; a request sent
                      but not yet ACCEPTED at the kill may be answered too (counted)
    bad_state_dir     missing, not a directory, not writable, in use by another switch:
                      exit 1 with a sentence naming the cause
    no_state_dir      a PERSISTENT request to a switch without --state-dir: ERROR
                      invalid-argument, not a silent non-durable acceptance
    damaged_journal   the real switch on a journal written by a SIGKILLed switch (3
                      ACCEPTED requests): with the first record's body garbled (valid
                      records follow) it refuses to start (exit 1) with a sentence naming
                      the file and the offset, and leaves the file byte for byte as it was;
                      with the last record cut short (a torn tail) it starts, logs the
                      offset and the bytes cut, and delivers exactly the first two requests
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rawpeer.h"
#include "swtest.h"

static char state[64];

static void mkstate(void)
{
    snprintf(state, sizeof state, "/tmp/xsp-fault.XXXXXX");
    CHECK(mkdtemp(state));
}

static void rmstate(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", state);
    CHECK(system(cmd) == 0);
}

static swt_switch_t *start_on(const char *run_dir)
{
    if (run_dir)
        return swt_start("--run-dir", run_dir, "--state-dir", state, NULL);
    return swt_start("--state-dir", state, NULL);
}

static void t_replay(void)
{
    mkstate();
    swt_switch_t *sw = start_on(NULL);
    rp_t *c = rp_connect_id(sw->endpoint, "replay-client");
    rp_hello(c, "replay-client", "client", (uint64_t) getpid(), 0);
    uint64_t ids[3];
    for (int i = 0; i < 3; i++) {
        char body[32];
        snprintf(body, sizeof body, "body-%d", i);
        rp_request(c, 100 + (uint64_t) i, "work", 0, XSP_FLAG_PERSISTENT, "dbg", body, strlen(body));
        rp_msg_t m = { 0 };
        rp_expect_cmd(c, &m, XSP_CMD_ACCEPTED);
        CHECK_U(m.h.corr, ==, 100 + i);
        ids[i] = m.h.msg_id;
        rp_msg_clear(&m);
    }
    rp_t *s = rp_open(sw->endpoint, "server", "server");
    rp_subscribe(s, "work", 1);
    rp_msg_t d = { 0 };
    rp_expect_deliver(s, &d);
    CHECK_U(d.h.msg_id, ==, ids[0]);
    CHECK(d.h.flags & XSP_FLAG_PERSISTENT);
    rp_msg_clear(&d);
    swt_kill(sw);
    rp_close(s);
    /* The client goes away too, before the new switch starts: its old socket would
       reconnect on its own with the same routing id, and a ROUTER refuses a second
       connection with an id in use until it has seen the first one go. */
    rp_close(c);
    swt_note("SIGKILLed with 1 request in flight and 2 queued");

    swt_switch_t *sw2 = start_on(sw->run_dir);
    s = rp_open(sw2->endpoint, "server2", "server");
    rp_subscribe(s, "work", 10);
    for (int i = 0; i < 3; i++) {
        rp_expect_deliver(s, &d);
        CHECK_U(d.h.msg_id, ==, ids[i]);
        char want[32];
        snprintf(want, sizeof want, "body-%d", i);
        CHECK(d.payload_len == strlen(want) && !memcmp(d.payload, want, d.payload_len));
        CHECK_STR(d.h.dbg, "dbg");
        rp_msg_clear(&d);
    }
    rp_reply(s, ids[0], 0, "answer-0", 8);        /* held: its client has no session yet */
    rp_sleep(100);
    c = rp_connect_id(sw2->endpoint, "replay-client");
    rp_hello(c, "replay-client", "client", (uint64_t) getpid(), 0);
    rp_msg_t r = { 0 };
    rp_expect_result(c, &r, 100);
    CHECK_U(r.h.msg_id, ==, ids[0]);
    CHECK(r.payload_len == 8 && !memcmp(r.payload, "answer-0", 8));
    rp_msg_clear(&r);
    for (int i = 1; i < 3; i++) {
        char body[32];
        snprintf(body, sizeof body, "answer-%d", i);
        rp_reply(s, ids[i], 0, body, strlen(body));
        rp_expect_result(c, &r, 100 + (uint64_t) i);
        CHECK_U(r.h.msg_id, ==, ids[i]);
        CHECK(r.payload_len == strlen(body) && !memcmp(r.payload, body, r.payload_len));
        rp_msg_clear(&r);
    }
    rp_expect_nothing(c, 200);
    rp_bye(c);
    rp_bye(s);
    swt_stop(sw2);
    /* everything answered: a third start replays nothing */
    swt_switch_t *sw3 = start_on(NULL);
    rp_t *s3 = rp_open(sw3->endpoint, "server3", "server");
    rp_subscribe(s3, "work", 10);
    rp_expect_nothing(s3, 300);
    rp_bye(s3);
    swt_stop(sw3);
    rmstate();
}

#define LOAD_N 20000            /* corrs 1..LOAD_N */
#define WINDOW 64

static uint8_t accepted[LOAD_N + 1], answered[LOAD_N + 1];

/*  Echo deliveries on s; count ACCEPTED and RESULT on c.  Returns when `until` says so. */
static void pump(rp_t *c, rp_t *s, uint64_t *next, uint64_t stop_at_accepted, uint64_t *nacc,
                 uint64_t *nans, uint64_t *dups, bool send_more, unsigned ms)
{
    uint64_t end = swt_now_ms() + swt_ms(ms);
    while (swt_now_ms() < end) {
        while (send_more && *next <= LOAD_N && *next - 1 - *nans < WINDOW) {
            uint64_t corr = (*next)++;
            rp_request(c, corr, "load", 0, XSP_FLAG_PERSISTENT, "", &corr, sizeof corr);
        }
        rp_msg_t m = { 0 };
        bool any = false;
        while (s && rp_poll_msg(s, &m)) {
            any = true;
            if (m.h.cmd == XSP_CMD_DELIVER)
                rp_reply(s, m.h.msg_id, 0, m.payload, m.payload_len);
            rp_msg_clear(&m);
        }
        while (rp_poll_msg(c, &m)) {
            any = true;
            uint64_t corr = m.h.corr;
            if (m.h.cmd == XSP_CMD_ACCEPTED) {
                CHECK(corr >= 1 && corr <= LOAD_N && !accepted[corr]);
                accepted[corr] = 1;
                (*nacc)++;
            } else if (m.h.cmd == XSP_CMD_RESULT) {
                CHECK(corr >= 1 && corr <= LOAD_N);
                CHECK(m.payload_len == 8 && !memcmp(m.payload, &corr, 8));
                if (answered[corr]++)
                    (*dups)++;      /* a client drops a RESULT for a corr it has its answer for */
                else
                    (*nans)++;
            } else if (m.h.cmd == XSP_CMD_ERROR) {
                /* no-session: sent to the dead switch's successor before our new HELLO */
                CHECKF(rp_str_eq(m.h.code, "no-session"), "unexpected ERROR %.*s", (int) m.h.code.len,
                       m.h.code.ptr);
            }
            rp_msg_clear(&m);
        }
        /* stop with work in the switch (accepted, unanswered): a starved test can find
           every accepted request answered at the moment it reaches the count */
        if (stop_at_accepted && *nacc >= stop_at_accepted && *nacc > *nans)
            return;
        if (!send_more && *nans >= *nacc) {
            bool all = true;
            for (uint64_t i = 1; i <= LOAD_N && all; i++)
                all = !accepted[i] || answered[i];
            if (all)
                return;
        }
        if (!any)
            rp_sleep(1);
    }
}

static void t_kill_under_load(void)
{
    mkstate();
    swt_switch_t *sw = start_on(NULL);
    rp_t *c = rp_connect_id(sw->endpoint, "load-client");
    rp_hello(c, "load-client", "client", (uint64_t) getpid(), 0);
    rp_t *s = rp_open(sw->endpoint, "echo", "server");
    rp_subscribe(s, "load", WINDOW);
    uint64_t next = 1, nacc = 0, nans = 0, dups = 0;
    /* under ASan every fdatasync'd turn is slow and the turns small: kill sooner */
    uint64_t kill_at = swt_sanitized() ? 400 : 3000;
    pump(c, s, &next, kill_at, &nacc, &nans, &dups, true, 30000);
    CHECK_U(nacc, >=, kill_at);
    swt_kill(sw);
    uint64_t sent = next - 1, acc_at_kill = nacc, ans_at_kill = nans;
    swt_note("SIGKILL under load: %llu sent, %llu accepted, %llu answered",
             (unsigned long long) sent, (unsigned long long) acc_at_kill, (unsigned long long) ans_at_kill);
    CHECK_U(acc_at_kill, >, ans_at_kill);     /* there was work in the switch */
    rp_close(s);
    rp_close(c);

    swt_switch_t *sw2 = start_on(sw->run_dir);
    c = rp_connect_id(sw2->endpoint, "load-client");
    rp_hello(c, "load-client", "client", (uint64_t) getpid(), 0);
    s = rp_open(sw2->endpoint, "echo2", "server");
    rp_subscribe(s, "load", WINDOW);
    pump(c, s, &next, 0, &nacc, &nans, &dups, false, 30000);
    uint64_t missing = 0, extra = 0;
    for (uint64_t i = 1; i <= LOAD_N; i++) {
        if (accepted[i] && !answered[i])
            missing++;
        if (answered[i] && !accepted[i])
            extra++;
    }
    swt_note("after restart: %llu accepted, %llu answered once to the caller, %llu missing, "
             "%llu duplicate RESULTs dropped by the client, %llu answered without ACCEPTED",
             (unsigned long long) nacc, (unsigned long long) nans, (unsigned long long) missing,
             (unsigned long long) dups, (unsigned long long) extra);
    CHECK_U(missing, ==, 0);
    /* a request journaled just before the kill, whose ACCEPTED never left, may be answered
       too: only requests that were sent and never acknowledged can be such extras */
    CHECK_U(extra, <=, sent - acc_at_kill);
    CHECK_U(nans, ==, nacc + extra);
    rp_bye(c);
    rp_bye(s);
    swt_stop(sw2);
    rmstate();
}

/*  The run dir of the refused switches: its own per test run (a fixed path was shared by
    fault.durable.bad_state_dir and memcheck.fault.durable.bad_state_dir running at once:
    "another xsp-switch is running on ..."). */
static char refused_base[64], refused_run[80];

static void expect_refusal(const char *dir, const char *needle)
{
    const char *args[] = { swt_switch_bin(), "--run-dir", refused_run, "--state-dir", dir, NULL };
    char out[4096];
    int st = swt_run_argv(args + 1, out, sizeof out, swt_ms(5000));
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 1, "--state-dir %s: status 0x%x; said: %s", dir, st, out);
    CHECKF(strstr(out, needle) && !strstr(out, "ready"), "--state-dir %s said: %s", dir, out);
    swt_note("--state-dir %s: %s", dir, needle);
}

static void t_bad_state_dir(void)
{
    mkstate();
    snprintf(refused_base, sizeof refused_base, "/tmp/xsp-fault-run.XXXXXX");
    CHECK(mkdtemp(refused_base));
    snprintf(refused_run, sizeof refused_run, "%s/run", refused_base);
    expect_refusal("/nonexistent/xsp-state", "No such file or directory");
    char file[96];
    snprintf(file, sizeof file, "%s/plain", state);
    FILE *f = fopen(file, "w");
    CHECK(f);
    fclose(f);
    expect_refusal(file, "is not a directory");
    expect_refusal("/sys", "not writable");
    swt_switch_t *sw = start_on(NULL);
    expect_refusal(state, "in use by another xsp-switch");
    swt_stop(sw);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", refused_base);
    CHECK(system(cmd) == 0);
    rmstate();
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    CHECKF(f, "open %s", path);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    CHECK(n > 0);
    rewind(f);
    uint8_t *buf = malloc((size_t) n);
    CHECK(buf && fread(buf, 1, (size_t) n, f) == (size_t) n);
    fclose(f);
    *len = (size_t) n;
    return buf;
}

static void write_all(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECKF(f, "open %s", path);
    CHECK(fwrite(buf, 1, len, f) == len);
    CHECK(fclose(f) == 0);
}

static void t_damaged_journal(void)
{
    mkstate();
    swt_switch_t *sw = start_on(NULL);
    rp_t *c = rp_connect_id(sw->endpoint, "damaged-client");
    rp_hello(c, "damaged-client", "client", (uint64_t) getpid(), 0);
    uint64_t ids[3];
    for (int i = 0; i < 3; i++) {
        rp_request(c, 10 + (uint64_t) i, "work", 0, XSP_FLAG_PERSISTENT, "", "body", 4);
        rp_msg_t m = { 0 };
        rp_expect_cmd(c, &m, XSP_CMD_ACCEPTED);
        ids[i] = m.h.msg_id;
        rp_msg_clear(&m);
    }
    swt_kill(sw);
    rp_close(c);
    char jpath[128];
    snprintf(jpath, sizeof jpath, "%s/journal", state);
    size_t len;
    uint8_t *orig = read_all(jpath, &len);
    /* the records: "XSPJRNL1", then len:u32 crc:u32 type:u8 body[len], little endian */
    size_t off[8], n = 0;
    CHECK(len > 8 && memcmp(orig, "XSPJRNL1", 8) == 0);
    for (size_t o = 8; o + 9 <= len && n < 8;) {
        uint32_t l = (uint32_t) orig[o] | (uint32_t) orig[o + 1] << 8 | (uint32_t) orig[o + 2] << 16 |
                     (uint32_t) orig[o + 3] << 24;
        off[n++] = o;
        o += 9 + l;
    }
    CHECKF(n == 3, "%zu records in the journal, want 3 ACCEPTs", n);

    /* 1. a checksum mismatch in the first record, valid records after it */
    uint8_t *bad = malloc(len);
    CHECK(bad);
    memcpy(bad, orig, len);
    bad[off[0] + 12] ^= 0x40;
    write_all(jpath, bad, len);
    snprintf(refused_base, sizeof refused_base, "/tmp/xsp-fault-run.XXXXXX");
    CHECK(mkdtemp(refused_base));
    snprintf(refused_run, sizeof refused_run, "%s/run", refused_base);
    char needle[256];
    snprintf(needle, sizeof needle, "%s is corrupt: the record at offset %zu fails its checksum", jpath, off[0]);
    expect_refusal(state, needle);
    size_t len2;
    uint8_t *after = read_all(jpath, &len2);
    CHECK(len2 == len && memcmp(after, bad, len) == 0);        /* untouched */
    free(after);

    /* 2. the last record cut short: a torn tail */
    size_t cut = off[2] + 5;
    write_all(jpath, orig, cut);
    sw = swt_start("--run-dir", refused_run, "--state-dir", state, NULL);
    snprintf(needle, sizeof needle, "torn tail at offset %zu: cutting %zu bytes", off[2], cut - off[2]);
    CHECKF(WAIT_FOR(3000, swt_log_contains(sw, needle)), "the log lacks \"%s\"", needle);
    rp_t *s = rp_open(sw->endpoint, "server", "server");
    rp_subscribe(s, "work", 10);
    rp_msg_t d = { 0 };
    for (int i = 0; i < 2; i++) {
        rp_expect_deliver(s, &d);
        CHECK_U(d.h.msg_id, ==, ids[i]);
    }
    rp_expect_nothing(s, 300);                 /* the torn third one is gone */
    rp_msg_clear(&d);
    rp_bye(s);
    swt_stop(sw);
    swt_note("garbled first record: refused at offset %zu; torn last record: %zu bytes cut, 2 of 3 replayed",
             off[0], cut - off[2]);
    free(bad);
    free(orig);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", refused_base);
    CHECK(system(cmd) == 0);
    rmstate();
}

static void t_no_state_dir(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *c = rp_open(sw->endpoint, "c", "client");
    rp_request(c, 5, "q", 0, XSP_FLAG_PERSISTENT, "", "x", 1);
    rp_msg_t m = { 0 };
    rp_expect_error(c, &m, "invalid-argument", XSP_CMD_REQUEST, 5);
    CHECK(strstr((const char *) m.h.message.ptr, "--state-dir"));
    rp_msg_clear(&m);
    rp_bye(c);
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "replay", t_replay, false },
        { "kill_under_load", t_kill_under_load, false },
        { "bad_state_dir", t_bad_state_dir, false },
        { "no_state_dir", t_no_state_dir, false },
        { "damaged_journal", t_damaged_journal, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 80);
}

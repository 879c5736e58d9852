/*  test_sw_lifecycle.c — start, shutdown, the run directory and the socket file
    (docs/protocol.md §1, §6 Shutdown).

    sigterm          SIGTERM with 3 requests waiting and 1 in flight (+1 waiting behind
                     it): the client gets ERROR `shutdown` (ref_cmd 3, ref = corr) for each
                     of the 5, once; the switch exits 0 promptly (200 ms linger; bound
                     2 s, x5 under ASan/valgrind, for a loaded machine); switch.sock and
                     switch.lock are gone
    sigint           the same exit for SIGINT (exit 0, files removed)
    second_instance  a second xsp-switch on the same run dir refuses to start (non-zero
                     exit, no ready line, the message names another xsp-switch); the first
                     keeps serving, its socket file still there
    second_instance_message  the refusal is one log line naming the running pid and dir
    restart          after a clean stop, and after a SIGKILL (stale files left), a new switch
                     starts on the same run dir; an old peer's next request gets no-session;
                     the new WELCOME has another boot_id; msg_ids keep increasing
    socket_mode      the socket file is a socket with mode 0600 owned by us; the run dir
                     is 0700
    socket_group     --group NAME: mode 0660, group NAME
    tcp_listen       --listen tcp://127.0.0.1:0: the ready line names the bound port; a tcp
                     client and an ipc server talk through the one switch
    bad_options      bad options exit 2 without starting (--no-ipc alone, out-of-range or
                     non-numeric values, unknown options, stray arguments); --help and
                     --version exit 0
*/
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rawpeer.h"
#include "swdiag.h"

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void sigterm(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv = rp_open(sw->endpoint, "srv", "server");
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    CHECK(exists(sw->sock_path) && exists(sw->lock_path));
    rp_subscribe(srv, "sq", 1);
    for (int i = 1; i <= 3; i++)
        rp_request(cli, (uint64_t) i, "nq", 0, 0, "", "w", 1);
    rp_request(cli, 4, "sq", 0, 0, "", "f", 1);
    rp_expect_deliver(srv, NULL);
    rp_request(cli, 5, "sq", 0, 0, "", "b", 1);
    CHECK(WAIT_FOR(2000, swd_now_queue(obs, "sq", "depth") == 1 && swd_now_queue(obs, "nq", "depth") == 3));
    unsigned ms = swt_stop(sw);
    swt_note("exit 0 %u ms after SIGTERM", ms);
    CHECKF(ms < (swt_sanitized() ? 10000u : 2000u), "the switch took %u ms to exit", ms);
    bool seen[6] = { false };
    rp_msg_t m = { 0 };
    char got[2048];
    for (int k = 0; k < 5; k++) {
        CHECKF(rp_recv(cli, &m, swt_ms(2000)), "only %d shutdown errors arrived", k);
        CHECKF(m.h.cmd == XSP_CMD_ERROR && rp_str_eq(m.h.code, "shutdown") && m.h.ref_cmd == XSP_CMD_REQUEST,
               "got %s", rp_msg_describe(&m, got, sizeof got));
        CHECK(m.h.corr >= 1 && m.h.corr <= 5);
        CHECKF(!seen[m.h.corr], "two shutdown errors for corr %llu", (unsigned long long) m.h.corr);
        seen[m.h.corr] = true;
    }
    rp_msg_clear(&m);
    cli->silent = true;                 /* the switch is gone: stop heartbeating */
    rp_expect_nothing(cli, 200);
    CHECKF(!exists(sw->lock_path), "%s is left behind after a clean shutdown", sw->lock_path);
    CHECKF(!exists(sw->sock_path), "%s is left behind after a clean shutdown", sw->sock_path);
}

static void sigint(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *cli = rp_open(sw->endpoint, "cli", "client");
    rp_request(cli, 1, "nq", 0, 0, "", "w", 1);
    rp_expect_nothing(cli, 50);
    swt_stop_sig(sw, SIGINT);
    rp_expect_error(cli, NULL, "shutdown", XSP_CMD_REQUEST, 1);
    cli->silent = true;
    CHECKF(!exists(sw->lock_path), "%s left behind", sw->lock_path);
    CHECKF(!exists(sw->sock_path), "%s left behind", sw->sock_path);
}

static void second_instance(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *a = rp_open(sw->endpoint, "a", "client");
    char out[4096];
    uint64_t t0 = swt_now_ms();
    int st = swt_run_expect_exit(sw->run_dir, out, sizeof out, swt_ms(5000));
    swt_note("second switch: status 0x%x after %llu ms, said: %s", st, (unsigned long long) (swt_now_ms() - t0), out);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) != 0, "a second switch on the same run dir exited with status 0x%x", st);
    CHECKF(strstr(out, "another xsp-switch") != NULL, "the refusal does not mention another xsp-switch: %s", out);
    CHECKF(strstr(out, "ready") == NULL, "the second switch printed a ready line: %s", out);
    /* the first one is untouched */
    CHECK(swt_alive(sw));
    CHECK(exists(sw->sock_path));
    rp_t *b = rp_open(sw->endpoint, "b", "server");
    rp_subscribe(b, "q", 1);
    rp_request(a, 1, "q", 0, 0, "", "x", 1);
    rp_msg_t d = { 0 };
    rp_expect_deliver(b, &d);
    rp_reply(b, d.h.msg_id, 0, "y", 1);
    rp_expect_result(a, NULL, 1);
    rp_msg_clear(&d);
    swt_stop(sw);
}

static void second_instance_message(void)
{
    swt_switch_t *sw = swt_start(NULL);
    char out[4096];
    swt_run_expect_exit(sw->run_dir, out, sizeof out, swt_ms(5000));
    /* one line naming the running switch's pid and the run dir */
    char want[256];
    snprintf(want, sizeof want, "another xsp-switch (pid %d) is running on %s", (int) sw->pid, sw->run_dir);
    CHECKF(strstr(out, want) != NULL, "the refusal is not one line \"%s\": it reads \"%s\"", want, out);
    swt_stop(sw);
}

static void restart(void)
{
    swt_switch_t *sw = swt_start(NULL);
    char run_dir[sizeof sw->run_dir];
    snprintf(run_dir, sizeof run_dir, "%s", sw->run_dir);
    swt_stop(sw);
    swt_switch_t *sw2 = swt_start("--run-dir", run_dir, NULL);   /* the later --run-dir wins */
    CHECK(strstr(sw2->endpoint, run_dir) != NULL);
    rp_t *p = rp_open(sw2->endpoint, "p", "client");
    uint64_t id = p->peer_id, boot = p->boot_id;
    /* a msg_id from this run */
    rp_t *s = rp_open(sw2->endpoint, "s", "server");
    rp_subscribe(s, "ids", 1);
    rp_request(p, 1000, "ids", 0, 0, "", "x", 1);
    rp_msg_t d = { 0 };
    rp_expect_deliver(s, &d);
    uint64_t first_run_id = d.h.msg_id;
    rp_reply(s, d.h.msg_id, 0, "", 0);
    rp_expect_result(p, NULL, 1000);
    rp_close(s);
    /* SIGKILL leaves the lock file and socket file behind; a new switch starts anyway */
    swt_kill(sw2);
    CHECK(exists(run_dir));
    swt_switch_t *sw3 = swt_start("--run-dir", run_dir, NULL);
    /* the old peer reconnects by itself (same endpoint) but the new switch does not know it */
    bool ok = false;
    rp_msg_t m = { 0 };
    p->silent = true;
    for (uint64_t corr = 1; !ok && corr < 50; corr++) {
        rp_request(p, corr, "q", 0, 0, "", "x", 1);
        if (rp_recv(p, &m, 200)) {
            CHECKF(m.h.cmd == XSP_CMD_ERROR && rp_str_eq(m.h.code, "no-session") && m.h.corr == corr,
                   "after a restart the old peer got %s", xsp_cmd_name(m.h.cmd));
            ok = true;
        }
    }
    CHECK(ok);
    rp_msg_clear(&m);
    rp_hello(p, "p-again", "client", 1, 0);
    CHECK(p->peer_id <= id + 1);         /* peer ids restart with the switch */
    CHECKF(p->boot_id != boot, "boot_id %llu did not change across a restart", (unsigned long long) boot);
    /* msg ids do not restart: unique across restarts on one host (§3.2) */
    rp_t *s3 = rp_open(sw3->endpoint, "s", "server");
    rp_subscribe(s3, "ids", 1);
    rp_request(p, 2000, "ids", 0, 0, "", "x", 1);
    rp_expect_deliver(s3, &d);
    CHECKF(d.h.msg_id > first_run_id, "msg_id %llu after the restart, %llu before", (unsigned long long) d.h.msg_id,
           (unsigned long long) first_run_id);
    rp_msg_clear(&d);
    swt_stop(sw3);
}

static void socket_mode(void)
{
    swt_switch_t *sw = swt_start(NULL);
    struct stat st;
    CHECKF(stat(sw->sock_path, &st) == 0, "stat %s: %s", sw->sock_path, strerror(errno));
    CHECK(S_ISSOCK(st.st_mode));
    CHECKF((st.st_mode & 07777) == 0600, "socket file mode %04o, want 0600", (unsigned) (st.st_mode & 07777));
    CHECK_U(st.st_uid, ==, geteuid());
    CHECKF(stat(sw->run_dir, &st) == 0, "stat %s", sw->run_dir);
    CHECKF((st.st_mode & 07777) == 0700, "run dir mode %04o, want 0700", (unsigned) (st.st_mode & 07777));
    swt_stop(sw);
}

static void socket_group(void)
{
    struct group *g = getgrgid(getegid());
    CHECKF(g, "no group entry for gid %u", (unsigned) getegid());
    char name[256];
    snprintf(name, sizeof name, "%s", g->gr_name);
    swt_switch_t *sw = swt_start("--group", name, NULL);
    struct stat st;
    CHECK(stat(sw->sock_path, &st) == 0);
    CHECKF((st.st_mode & 07777) == 0660, "socket file mode %04o with --group, want 0660",
           (unsigned) (st.st_mode & 07777));
    CHECK_U(st.st_gid, ==, getegid());
    swt_stop(sw);
}

static void tcp_listen(void)
{
    swt_switch_t *sw = swt_start("--listen", "tcp://127.0.0.1:0", NULL);
    const char *tcp = strstr(sw->ready, "tcp://127.0.0.1:");
    CHECKF(tcp, "the ready line does not name the tcp endpoint: %s", sw->ready);
    char ep[128];
    snprintf(ep, sizeof ep, "%.*s", (int) strcspn(tcp, " "), tcp);
    CHECKF(strcmp(ep, "tcp://127.0.0.1:0") != 0, "the ready line shows port 0, not the bound port");
    rp_t *srv = rp_open(sw->endpoint, "ipc-srv", "server");   /* one switch, two transports */
    rp_t *cli = rp_open(ep, "tcp-cli", "client");
    rp_subscribe(srv, "both", 1);
    rp_request(cli, 1, "both", 0, 0, "", "over-tcp", 8);
    rp_msg_t d = { 0 };
    rp_expect_deliver(srv, &d);
    CHECK(d.payload_len == 8 && memcmp(d.payload, "over-tcp", 8) == 0);
    rp_reply(srv, d.h.msg_id, 0, "back", 4);
    rp_expect_result(cli, NULL, 1);
    rp_msg_clear(&d);
    swt_stop(sw);
}

static void bad_options(void)
{
    static const char *const cases[][4] = {
        { "--no-ipc", NULL },
        { "--heartbeat-ms", "5", NULL },
        { "--heartbeat-ms", "abc", NULL },
        { "--max-depth", "0", NULL },
        { "--max-payload", "-1", NULL },
        { "--trace-payload-bytes", "257", NULL },
        { "--bogus-option", NULL },
        { "stray-argument", NULL },
    };
    char out[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = swt_run_argv(cases[i], out, sizeof out, swt_ms(5000));
        CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 2, "xsp-switch %s %s: status 0x%x (want exit 2); said: %s",
               cases[i][0], cases[i][1] ? cases[i][1] : "", st, out);
        CHECKF(strstr(out, "ready") == NULL, "xsp-switch %s started anyway", cases[i][0]);
    }
    static const char *const help[] = { "--help", NULL };
    int st = swt_run_argv(help, out, sizeof out, swt_ms(5000));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(strstr(out, "--heartbeat-ms") != NULL && strstr(out, "--max-outstanding-bytes") != NULL);
    static const char *const version[] = { "--version", NULL };
    st = swt_run_argv(version, out, sizeof out, swt_ms(5000));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(strstr(out, XSP_VERSION) != NULL);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "sigterm", sigterm, false },
        { "sigint", sigint, false },
        { "second_instance", second_instance, false },
        { "second_instance_message", second_instance_message, false },
        { "restart", restart, false },
        { "socket_mode", socket_mode, false },
        { "socket_group", socket_group, false },
        { "tcp_listen", tcp_listen, false },
        { "bad_options", bad_options, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 45);
}

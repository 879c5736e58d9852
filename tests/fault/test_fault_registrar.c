/*  test_fault_registrar — resolves under load while the registrar and xenstored die.

    Real processes: an xsp-switch, an xsp-registrar (`--store xenstore` on the real
    xenstored fixture; with argument "file", `--store file:`), one xsp-test-plugin that
    registers itself for the schemes mem: and file:, and this test as a toolstack keeping
    WINDOW asynchronous Registrar.resolve calls in flight (generated stubs), each with a
    1 s deadline.  While the load runs:
      - the registrar is SIGKILLed and restarted, twice;
      - (xenstore) xenstored is SIGKILLed and restarted: the registrar reconnects and writes
        its registrations again (/tool/xsp/plugins/xsp-plugin-test is back).
    Checks, counted per outcome code:
      - every resolve completes: with the right answer, or an explicit error (expired while
        the registrar was down, no-plugin-for-uri while the plugin re-registers) — never
        silently, never past its deadline (the test's own wait is deadline + 2 s);
      - after each restart, resolves succeed again without any operator action, within a
        bound (RECOVER_MS; the time taken is printed);
      - no answer is wrong (queue and plugin are checked on every success).
*/
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xenstore.h>

#include "xs_fixture.h"
#include "xsp/registrar_client.h"
#include "xsp_test.h"

#define RQ "org.xen.xsp.registrar"
#define PQ "test.fault.registrar"
#define WINDOW 16
#define CALL_MS 1000
#define RECOVER_MS 20000        /* bound on recovery after a restart (not a timing check) */

static xsp_test_switch_t sw;
static pid_t registrar_pid, xenstored_pid, plugin_pid;
static char dir[256], store[400], xsrun[400];
static bool use_xenstore;
static xsp_client_t *cl;

static unsigned outstanding, sent, ok, by_code[XSP_E__COUNT + 1], wrong;
static long long last_ok_ms;

static int slow(int ms)
{
    return getenv("XSP_TEST_SLOW") || getenv("ASAN_OPTIONS") ? ms * 3 : ms;
}

static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static void kill_pid(pid_t *pid, int sig)
{
    if (*pid <= 0)
        return;
    kill(*pid, sig);
    waitpid(*pid, NULL, 0);
    *pid = 0;
}

static void cleanup(void)
{
    kill_pid(&plugin_pid, SIGKILL);
    kill_pid(&registrar_pid, SIGKILL);
    if (xenstored_pid > 0)
        xs_fixture_stop(xenstored_pid);
}

static void start_registrar(void)
{
    char bin[512];
    xsp_test_bin("xsp-registrar", bin, sizeof bin);
    char *argv[] = { bin, "--switch", sw.endpoint, "--store", store, "--state-dir", dir,
                     "--policy", "/dev/null", "--log-level", "warn", NULL };
    registrar_pid = spawn(argv);
}

static void start_xenstored(void)
{
    char why[2048];
    CHECK_MSG(xs_fixture_start(xsrun, &xenstored_pid, why, sizeof why) == 0,
              "the xenstored fixture could not start: %s", why);
}

static void on_resolved(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_resolve_result_t *r,
                        const xsp_error_reply_t *er, void *arg)
{
    (void) c;
    (void) id;
    (void) er;
    (void) arg;
    outstanding--;
    if (err->code == XSP_OK) {
        ok++;
        last_ok_ms = xsp_test_now_ms();
        if (!r->queue || strcmp(r->queue, PQ) != 0 || !r->plugin || strcmp(r->plugin, "xsp-plugin-test") != 0)
            wrong++;
        return;
    }
    by_code[err->code < XSP_E__COUNT ? err->code : XSP_E__COUNT]++;
    /* the explicit errors a toolstack may see while the registrar or its store restarts */
    CHECK_MSG(err->code == XSP_E_EXPIRED || err->code == XSP_E_TIMEOUT ||
              err->code == XSP_E_NO_PLUGIN_FOR_URI || err->code == XSP_E_SERVER_LOST ||
              err->code == XSP_E_DISCONNECTED,
              "resolve failed with an unexpected %s: %s", xsp_code_name(err->code), err->msg);
}

/*  Keep WINDOW resolves in flight for ms milliseconds. */
static void load(int ms)
{
    long long end = xsp_test_now_ms() + ms;
    while (xsp_test_now_ms() < end) {
        while (outstanding < WINDOW) {
            xsp_error_t err;
            xsp_call_opts_t o = { .timeout_ms = CALL_MS, .wait_ms = CALL_MS + 2000 };
            const char *uri = sent % 2 ? "mem://seed/vol-0" : "file:///srv/x";
            CHECK_EQ(xsp_registrar_resolve_send(cl, RQ, &o, "fault-load", uri, NULL, on_resolved, NULL,
                                                NULL, &err), XSP_OK);
            outstanding++;
            sent++;
        }
        xsp_client_wait(cl, 20);
    }
}

/*  Run the load until resolves succeed again; returns the milliseconds it took. */
static long long recover(const char *what)
{
    long long t0 = xsp_test_now_ms();
    unsigned ok0 = ok;
    while (ok < ok0 + 50) {
        CHECK_MSG(xsp_test_now_ms() - t0 < slow(RECOVER_MS), "%s: resolves did not recover within %d ms",
                  what, slow(RECOVER_MS));
        load(50);
    }
    long long took = last_ok_ms - t0;
    printf("  %s: resolving again after %lld ms\n", what, took);
    return took;
}

static bool xs_has_registration(void)
{
    struct xs_handle *h = xs_open(0);
    if (!h)
        return false;
    unsigned len = 0;
    char *v = xs_read(h, XBT_NULL, "/tool/xsp/plugins/xsp-plugin-test/queues/0", &len);
    bool ok_ = v && strcmp(v, PQ) == 0;
    free(v);
    xs_close(h);
    return ok_;
}

int main(int argc, char **argv)
{
    use_xenstore = !(argc > 1 && strcmp(argv[1], "file") == 0);
    setvbuf(stdout, NULL, _IONBF, 0);
    atexit(cleanup);
    CHECK(xsp_test_tmpdir(dir, sizeof dir));
    snprintf(store, sizeof store, "file:%s/registrar.state", dir);
    if (use_xenstore) {
        snprintf(xsrun, sizeof xsrun, "%s/xs", dir);
        start_xenstored();
        snprintf(store, sizeof store, "xenstore");
    }
    CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "200", NULL) == 0);
    start_registrar();
    char bin[512];
    xsp_test_bin("xsp-test-plugin", bin, sizeof bin);
    char *pargv[] = { bin, "--switch", sw.endpoint, "--queue", PQ, "--scheme", "mem", "--scheme", "file",
                      "--seed-volumes", "1", "--backend-domain", "0", "--log-level", "warn", NULL };
    plugin_pid = spawn(pargv);
    xsp_error_t err;
    xsp_client_opts_t co = { .endpoint = sw.endpoint, .name = "fault-toolstack" };
    CHECK_MSG((cl = xsp_client_new_opts(&co, &err)) != NULL, "%s", err.msg);

    recover("start (plugin registering)");
    load(500);
    printf("ok 1 - %u resolves under load before any fault, %u wrong\n", ok, wrong);
    CHECK_EQ(wrong, 0);

    for (int i = 1; i <= 2; i++) {
        kill_pid(&registrar_pid, SIGKILL);
        load(300);                              /* resolves pile up / expire meanwhile */
        start_registrar();
        recover(i == 1 ? "registrar SIGKILL + restart #1" : "registrar SIGKILL + restart #2");
    }
    printf("ok 2 - registrar SIGKILLed and restarted twice under load: recovered each time\n");

    if (use_xenstore) {
        CHECK(xs_has_registration());
        xs_fixture_stop(xenstored_pid);         /* SIGTERM + reap: an in-memory store is gone */
        xenstored_pid = 0;
        load(300);
        start_xenstored();
        recover("xenstored restart");
        long long t0 = xsp_test_now_ms();
        while (!xs_has_registration()) {
            CHECK_MSG(xsp_test_now_ms() - t0 < slow(RECOVER_MS),
                      "the registrar did not write its registrations back into the new xenstored");
            load(100);
        }
        printf("ok 3 - xenstored restarted under load: resolves recovered; /tool/xsp/plugins "
               "rewritten after %lld ms\n", xsp_test_now_ms() - t0);
    }

    /* drain: every resolve completes (none hangs past its deadline + grace) */
    long long t0 = xsp_test_now_ms();
    while (outstanding) {
        CHECK_MSG(xsp_test_now_ms() - t0 < CALL_MS + 3000, "%u resolves still outstanding %d ms after "
                  "the last was sent", outstanding, CALL_MS + 3000);
        xsp_client_wait(cl, 50);
    }
    unsigned failed = 0;
    printf("  %u resolves sent: %u answered correctly", sent, ok);
    for (int c = 0; c <= XSP_E__COUNT; c++)
        if (by_code[c]) {
            printf(", %u %s", by_code[c], c < XSP_E__COUNT ? xsp_code_name((xsp_code_t) c) : "other");
            failed += by_code[c];
        }
    printf("\n");
    CHECK_EQ(ok + failed, sent);
    CHECK_EQ(wrong, 0);
    printf("ok 4 - every resolve completed: right answer or explicit error; none wrong, none hung\n");
    xsp_client_destroy(&cl);
    kill_pid(&plugin_pid, SIGTERM);
    kill_pid(&registrar_pid, SIGTERM);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    return 0;
}

/*  test_fault_registrar — resolves under load while the registrar and xenstored die.

    Real processes: an xsp-switch, an xsp-registrar (`--store xenstore` on the real
    xenstored fixture; with argument "file", `--store file:`), two xsp-test-plugin processes
    that register themselves through the SDK (--scheme): xsp-plugin-fa serves mem: on
    queue test.fault.a, xsp-plugin-fb serves file: on test.fault.b; and this test as a
    toolstack keeping WINDOW asynchronous Registrar.resolve calls in flight (generated
    stubs), alternating the two schemes, each with a CALL_MS deadline.
    Faults while the load runs:
      1. the registrar is SIGKILLed, down 300 ms (less than a deadline), restarted;
      2. the registrar is SIGKILLed, down 1.5 deadlines (resolves expire), restarted;
      3. (xenstore) xenstored is SIGKILLed, down 300 ms, restarted with an empty database:
         the registrar reconnects and writes /tool/xsp/plugins/xsp-plugin-f{a,b} again.
    Checks:
      - every resolve completes: with the right answer for its scheme (plugin and queue), or
        an explicit error code (counted by code; only expired, timeout, no-plugin-for-uri,
        server-lost, disconnected — a starved machine can make the 600 ms session timeout
        pass — are acceptable here) — never silently;
      - no resolve completes later than its wait limit (deadline + XSP_CALL_GRACE_MS) plus
        LATE_SLACK_MS: nothing hangs (checked per call, and by a final drain);
      - after each fault both schemes resolve correctly again without any operator action,
        within RECOVER_MS (a bound against hangs, not a timing assertion); the time from the
        restart to the first right answer and the longest stretch without one are printed;
      - (xenstore) both registrations are back in the restarted xenstored, with their queue.
    Times are scaled x3 under ASan or XSP_TEST_SLOW.
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
#define WINDOW 16
#define CALL_MS 1000
#define LATE_SLACK_MS 1000      /* loop latency allowed past a call's wait limit */
#define RECOVER_MS 20000        /* bound on recovery after a restart (not a timing check) */

/* the two plugins and what each scheme must resolve to */
static const struct {
    const char *name, *plugin, *queue, *scheme, *uri;
} P[2] = {
    { "fa", "xsp-plugin-fa", "test.fault.a", "mem", "mem://seed/vol-0" },
    { "fb", "xsp-plugin-fb", "test.fault.b", "file", "file:///srv/x" },
};

static xsp_test_switch_t sw;
static pid_t registrar_pid, xenstored_pid, plugin_pid[2];
static char dir[256], store[400], xsrun[400];
static bool use_xenstore;
static xsp_client_t *cl;

/* the books: every resolve sent ends in exactly one of ok / by_code */
static unsigned outstanding, sent, ok, ok_by[2], wrong, late, by_code[XSP_E__COUNT + 1];
static long long last_ok_ms, max_gap_ms, first_ok_after_ms, mark_ms, max_elapsed_ms;

typedef struct {
    long long sent_ms;
    int which;                  /* index into P */
} call_t;

static bool slow(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#else
    return getenv("XSP_TEST_SLOW") != NULL;
#endif
}

static int ms(int v) { return slow() ? v * 3 : v; }

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
    for (int i = 0; i < 2; i++)
        kill_pid(&plugin_pid[i], SIGKILL);
    kill_pid(&registrar_pid, SIGKILL);
    if (xenstored_pid > 0)
        kill_pid(&xenstored_pid, SIGKILL);
}

static void start_registrar(void)
{
    char bin[512];
    xsp_test_bin("xsp-registrar", bin, sizeof bin);
    char *argv[] = { bin, "--switch", sw.endpoint, "--store", store, "--state-dir", dir,
                     "--policy", "/dev/null", "--log-level", "warn", NULL };
    registrar_pid = spawn(argv);
}

static void start_plugin(int i)
{
    char bin[512];
    xsp_test_bin("xsp-test-plugin", bin, sizeof bin);
    char *argv[] = { bin, "--switch", sw.endpoint, "--plugin-name", (char *) P[i].name,
                     "--queue", (char *) P[i].queue, "--scheme", (char *) P[i].scheme,
                     "--seed-volumes", "1", "--backend-domain", "0", "--log-level", "warn", NULL };
    plugin_pid[i] = spawn(argv);
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
    call_t *k = arg;
    long long now = xsp_test_now_ms(), elapsed = now - k->sent_ms;
    outstanding--;
    if (elapsed > max_elapsed_ms)
        max_elapsed_ms = elapsed;
    if (elapsed > CALL_MS + (long long) XSP_CALL_GRACE_MS + ms(LATE_SLACK_MS))
        late++;
    if (err->code == XSP_OK) {
        ok++;
        ok_by[k->which]++;
        if (!r->queue || strcmp(r->queue, P[k->which].queue) != 0 || !r->plugin ||
            strcmp(r->plugin, P[k->which].plugin) != 0) {
            wrong++;
            fprintf(stderr, "wrong answer for %s: %s on %s\n", P[k->which].uri,
                    r->plugin ? r->plugin : "(null)", r->queue ? r->queue : "(null)");
        }
        if (last_ok_ms && now - last_ok_ms > max_gap_ms)
            max_gap_ms = now - last_ok_ms;
        last_ok_ms = now;
        if (!first_ok_after_ms && k->sent_ms >= mark_ms)
            first_ok_after_ms = now;
    } else {
        by_code[err->code < XSP_E__COUNT ? err->code : XSP_E__COUNT]++;
        /* the explicit errors a toolstack may see while the registrar or its store restarts */
        CHECK_MSG(err->code == XSP_E_EXPIRED || err->code == XSP_E_TIMEOUT ||
                  err->code == XSP_E_NO_PLUGIN_FOR_URI || err->code == XSP_E_SERVER_LOST ||
                  err->code == XSP_E_DISCONNECTED,
                  "resolve of %s failed with an unexpected %s: %s", P[k->which].uri,
                  xsp_code_name(err->code), err->msg);
    }
    free(k);
}

/*  Keep WINDOW resolves in flight for t milliseconds. */
static void load(int t)
{
    long long end = xsp_test_now_ms() + t;
    do {
        while (outstanding < WINDOW) {
            xsp_error_t err;
            xsp_call_opts_t o = { .timeout_ms = CALL_MS };  /* wait_ms: + XSP_CALL_GRACE_MS */
            call_t *k = malloc(sizeof *k);
            CHECK(k);
            k->sent_ms = xsp_test_now_ms();
            k->which = (int) (sent % 2);
            CHECK_EQ(xsp_registrar_resolve_send(cl, RQ, &o, "fault-load", P[k->which].uri, NULL,
                                                on_resolved, k, NULL, &err), XSP_OK);
            outstanding++;
            sent++;
        }
        xsp_client_wait(cl, 5);
    } while (xsp_test_now_ms() < end);
}

static void print_codes(const char *prefix, const unsigned *before)
{
    printf("%s", prefix);
    bool any = false;
    for (int c = 0; c <= XSP_E__COUNT; c++)
        if (by_code[c] - before[c]) {
            printf("%s%u %s", any ? ", " : "", by_code[c] - before[c],
                   c < XSP_E__COUNT ? xsp_code_name((xsp_code_t) c) : "other");
            any = true;
        }
    printf("%s", any ? "" : "no errors");
}

/*  A fault: kill_fn takes something down for down_ms while the load runs, restart_fn brings
    it back; then run the load until both schemes resolve correctly again (50 right answers
    each, sent after the restart).  Prints what the toolstack saw; returns when the restart
    began (test clock). */
static bool xs_has_registrations(void);

static long long fault(const char *what, void (*kill_fn)(void), int down_ms, void (*restart_fn)(void),
                       bool (*probe)(void))
{
    unsigned before[XSP_E__COUNT + 1];
    memcpy(before, by_code, sizeof before);
    max_gap_ms = 0;
    long long t_kill = xsp_test_now_ms();
    kill_fn();
    load(down_ms);
    long long t_restart = xsp_test_now_ms();
    restart_fn();
    mark_ms = t_restart;
    first_ok_after_ms = 0;
    unsigned a0 = ok_by[0], b0 = ok_by[1];
    long long probe_ms = -1;
    while (ok_by[0] < a0 + 50 || ok_by[1] < b0 + 50 || !first_ok_after_ms || (probe && probe_ms < 0)) {
        CHECK_MSG(xsp_test_now_ms() - t_restart < ms(RECOVER_MS),
                  "%s: no recovery within %d ms of the restart (%u/%u right answers since%s)",
                  what, ms(RECOVER_MS), ok_by[0] - a0, ok_by[1] - b0,
                  probe && probe_ms < 0 ? "; the registrations are not back in xenstore" : "");
        load(5);
        if (probe && probe_ms < 0 && probe())
            probe_ms = xsp_test_now_ms() - t_restart;
    }
    load(200);                                  /* and they keep working */
    printf("  %s: down %lld ms; first right answer to a resolve sent after the restart %lld ms "
           "after it; longest stretch without a right answer %lld ms; ",
           what, t_restart - t_kill, first_ok_after_ms - t_restart, max_gap_ms);
    print_codes("errors during the fault: ", before);
    if (probe)
        printf("; registrations back in xenstore %lld ms after the restart", probe_ms);
    printf("\n");
    return t_restart;
}

static void kill_registrar(void) { kill_pid(&registrar_pid, SIGKILL); }
static void kill_xenstored(void) { kill_pid(&xenstored_pid, SIGKILL); }

/*  Both registrations are in xenstore with their queue. */
static bool xs_has_registrations(void)
{
    struct xs_handle *h = xs_open(0);
    if (!h)
        return false;
    bool all = true;
    for (int i = 0; i < 2; i++) {
        char path[256];
        unsigned len = 0;
        snprintf(path, sizeof path, "/tool/xsp/plugins/%s/queues/0", P[i].plugin);
        char *v = xs_read(h, XBT_NULL, path, &len);
        all = all && v && strcmp(v, P[i].queue) == 0;
        free(v);
    }
    xs_close(h);
    return all;
}

int main(int argc, char **argv)
{
    use_xenstore = !(argc > 1 && strcmp(argv[1], "file") == 0);
    setvbuf(stdout, NULL, _IONBF, 0);
    atexit(cleanup);
    signal(SIGPIPE, SIG_IGN);                   /* xs_* on a dead xenstored */
    CHECK(xsp_test_tmpdir(dir, sizeof dir));
    snprintf(store, sizeof store, "file:%s/registrar.state", dir);
    if (use_xenstore) {
        snprintf(xsrun, sizeof xsrun, "%s/xs", dir);
        start_xenstored();
        snprintf(store, sizeof store, "xenstore");
    }
    CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "200", NULL) == 0);
    start_registrar();
    for (int i = 0; i < 2; i++)
        start_plugin(i);
    xsp_error_t err;
    xsp_client_opts_t co = { .endpoint = sw.endpoint, .name = "fault-toolstack" };
    CHECK_MSG((cl = xsp_client_new_opts(&co, &err)) != NULL, "%s", err.msg);

    /* the plugins register themselves: resolves fail with no-plugin-for-uri until then */
    long long t0 = xsp_test_now_ms();
    while (ok_by[0] < 50 || ok_by[1] < 50) {
        CHECK_MSG(xsp_test_now_ms() - t0 < ms(RECOVER_MS), "the plugins never became resolvable");
        load(10);
    }
    load(500);
    printf("ok 1 - both plugins registered themselves; %u resolves under load before any fault, "
           "%u wrong\n", ok, wrong);
    CHECK_EQ(wrong, 0);
    if (use_xenstore)
        CHECK(xs_has_registrations());

    fault("registrar SIGKILL #1 (down < deadline)", kill_registrar, 300, start_registrar, NULL);
    fault("registrar SIGKILL #2 (down 1.5 deadlines)", kill_registrar, CALL_MS * 3 / 2, start_registrar, NULL);
    printf("ok 2 - registrar SIGKILLed and restarted twice under load: recovered each time\n");

    if (use_xenstore) {
        fault("xenstored SIGKILL", kill_xenstored, 300, start_xenstored, xs_has_registrations);
        CHECK(xs_has_registrations());
        printf("ok 3 - xenstored SIGKILLed and restarted under load: resolves kept working; the "
               "registrar wrote /tool/xsp/plugins/xsp-plugin-f{a,b} back into the new xenstored\n");
    }

    /* drain: every resolve completes (none hangs past its wait limit) */
    t0 = xsp_test_now_ms();
    while (outstanding) {
        CHECK_MSG(xsp_test_now_ms() - t0 < CALL_MS + XSP_CALL_GRACE_MS + ms(LATE_SLACK_MS),
                  "%u resolves still outstanding after their wait limit", outstanding);
        xsp_client_wait(cl, 50);
    }
    unsigned failed = 0, zero[XSP_E__COUNT + 1] = { 0 };
    for (int c = 0; c <= XSP_E__COUNT; c++)
        failed += by_code[c];
    printf("  %u resolves sent: %u right (%u mem:, %u file:), ", sent, ok, ok_by[0], ok_by[1]);
    print_codes("", zero);
    printf("; slowest completion %lld ms, %u past the wait limit\n", max_elapsed_ms, late);
    CHECK_EQ(ok + failed, sent);
    CHECK_EQ(wrong, 0);
    CHECK_EQ(late, 0);
    printf("ok 4 - every resolve completed: right answer or explicit error; none wrong, none hung\n");
    xsp_client_destroy(&cl);
    for (int i = 0; i < 2; i++)
        kill_pid(&plugin_pid[i], SIGTERM);
    kill_pid(&registrar_pid, SIGTERM);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    return 0;
}

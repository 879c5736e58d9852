/*  tests/registrar/test_registrar_e2e.c — xsp-registrar end to end: a real xsp-switch
    (heartbeat 100 ms), the real xsp-registrar with a file store and a policy file, plugins
    and toolstack clients speaking the generated Registrar stubs.

    Checks: no-plugin-for-uri naming the scheme; register from the caller's domain (domid
    from the switch, policy by domain); refusals (policy, scheme conflict with detail
    `conflict`); resolve; confirmation by DIAG; a plugin that dies is removed (resolve
    fails, a parked watch wakes with `removed`) within one heartbeat timeout; a registration
    whose queue never gets a consumer expires; unregister permissions; a restarted registrar
    recovers registrations from its store.

    Run as `test_registrar_e2e` (file store) or `test_registrar_e2e xenstore` (the real
    xenstored fixture of tests/xenstored, --store xenstore): the same scenario, plus checks
    of what xenstore holds.

    Owns: a private temp dir (state file, policy, xenstored run dir) and the switch,
    registrar and xenstored it starts (killed at exit).  Exit 1 on the first failed check.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xsp/client.h"
#include "xsp/registrar_client.h"
#include "xsp/server.h"
#include "xsp_test.h"

#ifdef REGTEST_WITH_XENSTORE
#include <xenstore.h>

#include "xs_fixture.h"
#endif

#define RQ "org.xen.xsp.registrar"

static xsp_test_switch_t sw;
static pid_t registrar_pid, xenstored_pid;
static bool use_xenstore;
static char dir[256], state_spec[400], policy_path[400];

static void kill_registrar(void)
{
    if (registrar_pid > 0) {
        kill(registrar_pid, SIGKILL);
        waitpid(registrar_pid, NULL, 0);
        registrar_pid = 0;
    }
#ifdef REGTEST_WITH_XENSTORE
    if (xenstored_pid > 0)
        xs_fixture_stop(xenstored_pid);
    xenstored_pid = 0;
#endif
}

/* What xenstore holds at path ("" when absent); only with the xenstore store. */
static void xs_expect(const char *path, const char *want, const char *perms)
{
#ifdef REGTEST_WITH_XENSTORE
    struct xs_handle *h;
    unsigned len = 0, n = 0;
    char *v, got[64] = "";
    struct xs_permissions *p;

    if (!use_xenstore)
        return;
    CHECK((h = xs_open(0)) != NULL);
    v = xs_read(h, XBT_NULL, path, &len);
    CHECK_STR(v ? v : "", want);
    if (perms && (p = xs_get_permissions(h, XBT_NULL, path, &n))) {
        for (unsigned i = 0; i < n; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%c%u", i ? "," : "",
                     p[i].perms == XS_PERM_READ ? 'r' : p[i].perms == XS_PERM_NONE ? 'n' : 'x',
                     p[i].id);
        free(p);
        CHECK_STR(got, perms);
    }
    free(v);
    xs_close(h);
#else
    (void)path;
    (void)want;
    (void)perms;
#endif
}

static void start_registrar(void)
{
    char bin[512];
    pid_t pid;

    xsp_test_bin("xsp-registrar", bin, sizeof bin);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(bin, bin, "--switch", sw.endpoint, "--store", state_spec, "--policy", policy_path,
              "--log-level", getenv("XSP_TEST_VERBOSE") ? "debug" : "warn", (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    registrar_pid = pid;
}

static int stop_registrar(void)
{
    int status = 0;

    kill(registrar_pid, SIGTERM);
    waitpid(registrar_pid, &status, 0);
    registrar_pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static xsp_client_t *client_for(uint32_t domid, const char *name)
{
    xsp_client_opts_t o = { .endpoint = sw.endpoint, .name = name, .domid = domid };
    xsp_error_t err = { 0 };
    xsp_client_t *c = xsp_client_new_opts(&o, &err);

    CHECK_MSG(c != NULL, "%s", err.msg);
    return c;
}

static xsp_client_t *clients[4];

/* Keep every client's session alive while time passes. */
static void pump(int ms)
{
    long long end = xsp_test_now_ms() + ms;

    while (xsp_test_now_ms() < end)
        for (int i = 0; i < 4; i++)
            if (clients[i])
                xsp_client_wait(clients[i], 5);
}

/* ------------------------------------------------------------------ a plugin's server */

typedef struct {
    const char *queue;
    uint32_t domid;
    pthread_t thread;
    xsp_server_t *server;
    volatile int ready;
} plugin_t;

static void echo(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void)s;
    (void)arg;
    xsp_request_reply(req, 0, NULL, 0);
}

static void *plugin_main(void *arg)
{
    plugin_t *p = arg;
    xsp_error_t err = { 0 };

    p->server = xsp_server_new(sw.endpoint, "test-plugin", "plugin", p->domid, &err);
    if (!p->server || xsp_server_subscribe(p->server, p->queue, 4, echo, NULL, &err) != 0) {
        fprintf(stderr, "plugin: %s\n", err.msg);
        p->ready = -1;
        return NULL;
    }
    p->ready = 1;
    xsp_server_run(p->server);
    xsp_server_destroy(&p->server);    /* BYE: the switch sees peer-down */
    return NULL;
}

static void plugin_start(plugin_t *p, const char *queue, uint32_t domid)
{
    memset(p, 0, sizeof *p);
    p->queue = queue;
    p->domid = domid;
    CHECK(pthread_create(&p->thread, NULL, plugin_main, p) == 0);
    while (!p->ready)
        pump(5);
    CHECK(p->ready == 1);
}

static void plugin_stop(plugin_t *p)
{
    xsp_server_stop(p->server);
    pthread_join(p->thread, NULL);
}

/* ------------------------------------------------------------------ helpers */

static void request(xsp_registration_request_t *q, const char *name, const char *scheme,
                    const char *queue)
{
    xsp_registration_request_init(q);
    q->name = strdup(name);
    q->version = strdup("1.0");
    q->api_version = strdup("1.0");
    *xsp_plugin_kind_list_add(&q->kinds) = XSP_PLUGIN_KIND_DATAPATH;
    xsp_string_list_append(&q->schemes, scheme);
    xsp_string_list_append(&q->queues, queue);
    q->backend_policy.kind = XSP_BACKEND_POLICY_KIND_OWN_DOMAIN;
}

static const char *detail(const xsp_error_reply_t *er, const char *key)
{
    return er->detail.len ? xsp_string_map_get(&er->detail, key) : NULL;
}

static int do_register(xsp_client_t *c, const char *name, const char *scheme, const char *queue,
                       xsp_registration_t *out, xsp_error_reply_t *er, xsp_error_t *err)
{
    xsp_registrar_register_args_t a;
    int rc;

    xsp_registrar_register_args_init(&a);
    a.dbg = strdup("e2e");
    request(&a.request, name, scheme, queue);
    rc = xsp_registrar_register_args_call(c, RQ, NULL, &a, out, er, err);
    xsp_registrar_register_args_dispose(&a);
    return rc;
}

static int do_resolve(xsp_client_t *c, const char *uri, xsp_resolve_result_t *out,
                      xsp_error_reply_t *er, xsp_error_t *err)
{
    xsp_registrar_resolve_args_t a;
    int rc;

    xsp_registrar_resolve_args_init(&a);
    a.uri = strdup(uri);
    rc = xsp_registrar_resolve_args_call(c, RQ, NULL, &a, out, er, err);
    xsp_registrar_resolve_args_dispose(&a);
    return rc;
}

static size_t count(xsp_client_t *c, const char *name, bool *confirmed)
{
    xsp_registration_list_t l;
    xsp_error_t err = { 0 };
    size_t n = 0;

    xsp_registration_list_init(&l);
    xsp_registrar_list(c, RQ, NULL, "e2e", NULL, NULL, NULL, &l, &err);
    CHECK_CODE(err, XSP_OK);
    for (size_t i = 0; i < l.len; i++)
        if (!name || strcmp(l.val[i].name, name) == 0) {
            n++;
            if (confirmed)
                *confirmed = l.val[i].confirmed;
        }
    xsp_registration_list_dispose(&l);
    return n;
}

typedef struct {
    bool done;
    xsp_error_t err;
    xsp_watch_result_t res;
} watch_wait_t;

static void watch_done(xsp_client_t *c, uint64_t id, const xsp_error_t *err,
                       xsp_watch_result_t *res, const xsp_error_reply_t *er, void *arg)
{
    watch_wait_t *w = arg;

    (void)c;
    (void)id;
    (void)er;
    w->done = true;
    w->err = *err;
    if (res)
        xsp_watch_result_copy(&w->res, res);
}

int main(int argc, char **argv)
{
    xsp_client_t *c0, *c5, *c7;
    xsp_registration_t reg;
    xsp_resolve_result_t res;
    xsp_error_reply_t er;
    xsp_error_t err = { 0 };
    plugin_t p;
    char id[160];
    bool confirmed = false;
    long long t0;
    FILE *f;

    setvbuf(stdout, NULL, _IONBF, 0);
    atexit(kill_registrar);
    CHECK(xsp_test_tmpdir(dir, sizeof dir));
    snprintf(state_spec, sizeof state_spec, "file:%s/registrar.state", dir);
    use_xenstore = argc > 1 && strcmp(argv[1], "xenstore") == 0;
    if (use_xenstore) {
#ifdef REGTEST_WITH_XENSTORE
        char rundir[400], why[2048];

        snprintf(rundir, sizeof rundir, "%s/xs", dir);
        CHECK_MSG(xs_fixture_start(rundir, &xenstored_pid, why, sizeof why) == 0,
                  "the xenstored fixture could not start: %s", why);
        snprintf(state_spec, sizeof state_spec, "xenstore");
        printf("ok 0 - xenstored fixture up; --store xenstore\n");
#else
        CHECK_MSG(false, "built without the xenstored fixture");
#endif
    }
    snprintf(policy_path, sizeof policy_path, "%s/registrar.conf", dir);
    CHECK((f = fopen(policy_path, "w")) != NULL);
    fputs("allow domain 0 schemes * queues *\n"
          "allow domain 5 schemes nbd,nbd+unix queues test.nbd*\n", f);
    fclose(f);
    CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "100", NULL) == 0);
    start_registrar();
    clients[0] = c0 = client_for(0, "toolstack");
    clients[1] = c5 = client_for(5, "plugin-dom5");
    clients[2] = c7 = client_for(7, "intruder-dom7");

    /* 1. Nothing registered: no-plugin-for-uri naming the scheme. */
    xsp_error_reply_init(&er);
    xsp_resolve_result_init(&res);
    do_resolve(c0, "NBD://host/export", &res, &er, &err);
    CHECK_CODE(err, XSP_E_NO_PLUGIN_FOR_URI);
    CHECK_STR(detail(&er, "scheme"), "nbd");
    printf("ok 1 - resolve without plugins: %s\n", err.msg);
    xsp_error_reply_dispose(&er);
    do_resolve(c0, "not a uri", &res, &er, &err);
    CHECK_CODE(err, XSP_E_INVALID_ARGUMENT);
    CHECK_STR(detail(&er, "argument"), "uri");
    xsp_error_reply_dispose(&er);
    printf("ok 2 - a malformed URI is invalid-argument\n");

    /* 2. A plugin in domain 5 subscribes, then registers. */
    plugin_start(&p, "test.nbd", 5);
    xsp_registration_init(&reg);
    do_register(c5, "xsp-plugin-nbd", "nbd", "test.nbd", &reg, &er, &err);
    CHECK_CODE(err, XSP_OK);
    CHECK_EQ(reg.domid, 5);
    CHECK(strncmp(reg.id, "xsp-plugin-nbd.", 15) == 0);
    snprintf(id, sizeof id, "%s", reg.id);
    xsp_registration_dispose(&reg);
    xs_expect("/tool/xsp/plugins/xsp-plugin-nbd/id", id, "n0,r5");
    printf("ok 3 - domain 5 registered xsp-plugin-nbd (id %s)\n", id);

    do_resolve(c0, "nbd://host/export", &res, &er, &err);
    CHECK_CODE(err, XSP_OK);
    CHECK_STR(res.plugin, "xsp-plugin-nbd");
    CHECK_STR(res.queue, "test.nbd");
    CHECK_STR(res.registration_id, id);
    CHECK_EQ(res.domid, 5);
    xsp_resolve_result_dispose(&res);
    printf("ok 4 - resolve nbd:// -> xsp-plugin-nbd on test.nbd, domain 5\n");

    /* 3. Refusals. */
    do_register(c7, "evil", "nbd+unix", "test.nbd2", &reg, &er, &err);
    CHECK_CODE(err, XSP_E_PERMISSION_DENIED);
    CHECK(detail(&er, "reason") != NULL);
    xsp_error_reply_dispose(&er);
    printf("ok 5 - domain 7 refused by the policy: %s\n", err.msg);
    do_register(c0, "other-nbd", "nbd", "test.other", &reg, &er, &err);
    CHECK_CODE(err, XSP_E_PERMISSION_DENIED);
    CHECK_STR(detail(&er, "conflict"), "xsp-plugin-nbd");
    xsp_error_reply_dispose(&er);
    printf("ok 6 - a second plugin for nbd is a conflict: %s\n", err.msg);
    do_register(c0, "sneaky", "sneaky", RQ, &reg, &er, &err);
    CHECK_CODE(err, XSP_E_INVALID_ARGUMENT);
    CHECK_STR(detail(&er, "argument"), "queues");
    xsp_error_reply_dispose(&er);
    printf("ok 6b - the registrar's own queue cannot be registered\n");

    /* 4. Confirmed by DIAG. */
    t0 = xsp_test_now_ms();
    while (count(c0, "xsp-plugin-nbd", &confirmed) == 1 && !confirmed && xsp_test_now_ms() - t0 < 10000)
        pump(20);
    CHECK(confirmed);
    printf("ok 7 - confirmed alive after %lld ms\n", xsp_test_now_ms() - t0);

    /* 5. The plugin dies: a parked watch wakes with `removed`, resolve fails. */
    {
        watch_wait_t w = { 0 };
        xsp_watch_result_t now;
        xsp_call_opts_t o = { .timeout_ms = 10000 };
        uint64_t next;

        xsp_watch_result_init(&now);
        xsp_registrar_watch(c0, RQ, NULL, "e2e", UINT64_MAX, 0, &now, &err);
        CHECK_CODE(err, XSP_OK);
        CHECK_EQ(now.events.len, 0);
        next = now.next_seq;
        xsp_watch_result_dispose(&now);
        xsp_watch_result_init(&w.res);
        CHECK(xsp_registrar_watch_send(c0, RQ, &o, "e2e", next, 5000, watch_done, &w, NULL, &err) == 0);
        pump(200);
        CHECK(!w.done);
        t0 = xsp_test_now_ms();
        plugin_stop(&p);
        while (!w.done && xsp_test_now_ms() - t0 < 5000)
            pump(5);
        CHECK(w.done);
        CHECK_CODE(w.err, XSP_OK);
        CHECK(w.res.events.len >= 1);
        CHECK_EQ(w.res.events.val[0].kind, XSP_WATCH_EVENT_KIND_REMOVED);
        CHECK_STR(w.res.events.val[0].registration.name, "xsp-plugin-nbd");
        CHECK_EQ(w.res.events.val[0].seq, next);
        printf("ok 8 - the plugin died; the watch saw `removed` after %lld ms\n",
               xsp_test_now_ms() - t0);
        xsp_watch_result_dispose(&w.res);
    }
    do_resolve(c0, "nbd://host/export", &res, &er, &err);
    CHECK_CODE(err, XSP_E_NO_PLUGIN_FOR_URI);
    xsp_error_reply_dispose(&er);
    xs_expect("/tool/xsp/plugins/xsp-plugin-nbd/id", "", NULL);
    printf("ok 9 - resolve no longer answers the dead plugin (and the store forgot it)\n");

    /* 6. Registered but never subscribed: expires after one heartbeat timeout. */
    do_register(c0, "ghost", "ghost", "test.ghost", &reg, &er, &err);
    CHECK_CODE(err, XSP_OK);
    xsp_registration_dispose(&reg);
    CHECK_EQ(count(c0, "ghost", NULL), 1);
    t0 = xsp_test_now_ms();
    while (count(c0, "ghost", NULL) == 1 && xsp_test_now_ms() - t0 < 10000)
        pump(20);
    CHECK_EQ(count(c0, "ghost", NULL), 0);
    printf("ok 10 - a registration without a consumer expired after %lld ms\n",
           xsp_test_now_ms() - t0);

    /* 7. A restarted registrar recovers from its state file. */
    plugin_start(&p, "test.nbd", 5);
    do_register(c5, "xsp-plugin-nbd", "nbd", "test.nbd", &reg, &er, &err);
    CHECK_CODE(err, XSP_OK);
    snprintf(id, sizeof id, "%s", reg.id);
    xsp_registration_dispose(&reg);
    CHECK_EQ(stop_registrar(), 0);
    printf("ok 11 - the registrar stopped cleanly on SIGTERM\n");
    start_registrar();
    do_resolve(c0, "nbd://host/export", &res, &er, &err);
    CHECK_CODE(err, XSP_OK);
    CHECK_STR(res.registration_id, id);
    xsp_resolve_result_dispose(&res);
    pump(xsp_test_ms(600));     /* longer than the grace period: the DIAG keeps it */
    CHECK_EQ(count(c0, "xsp-plugin-nbd", &confirmed), 1);
    {   /* confirmed by the registrar's next DIAG (a loaded machine may delay it) */
        long long t1 = xsp_test_now_ms();
        while (!confirmed && xsp_test_now_ms() - t1 < 10000) {
            pump(50);
            CHECK_EQ(count(c0, "xsp-plugin-nbd", &confirmed), 1);
        }
    }
    CHECK(confirmed);
    xs_expect("/tool/xsp/plugins/xsp-plugin-nbd/domid", "5", "n0,r5");
    printf("ok 12 - after a restart the registration (id %s) is recovered and confirmed\n", id);

    /* 8. Unregister: only the owner (or dom0). */
    xsp_registrar_unregister(c7, RQ, NULL, "e2e", id, &err);
    CHECK_CODE(err, XSP_E_PERMISSION_DENIED);
    xsp_registrar_unregister(c5, RQ, NULL, "e2e", id, &err);
    CHECK_CODE(err, XSP_OK);
    CHECK_EQ(count(c0, NULL, NULL), 0);
    xsp_registrar_unregister(c5, RQ, NULL, "e2e", id, &err);
    CHECK_CODE(err, XSP_OK);
    xs_expect("/tool/xsp/plugins/xsp-plugin-nbd/id", "", NULL);
    printf("ok 13 - unregister: refused for domain 7, done for domain 5, idempotent\n");

    plugin_stop(&p);
    CHECK_EQ(stop_registrar(), 0);
    for (int i = 0; i < 4; i++)
        xsp_client_destroy(&clients[i]);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    kill_registrar();       /* and xenstored, before the temp dir goes */
    printf("all ok\n");
    return 0;
}

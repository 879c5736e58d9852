/*  test_storage_plugin_restart.c — a plugin SIGKILLed and restarted on the same queue while a
    client keeps calling: with the switch's requeue semantics every call still completes,
    exactly once and successfully, and calls after the restart succeed.

    The client keeps WINDOW asynchronous stub calls (Datapath.attach and Volume.stat of
    seeded volumes, the same after a restart thanks to --seed-volumes) in flight from one
    poll() loop.  After a third of them completed the plugin is SIGKILLed (its in-flight
    requests go back to the head of the queue when the switch declares it dead), calls keep
    being sent (they wait in the queue), and a new plugin process is started on the queue.
    Then the switch itself is SIGKILLed and restarted: the plugin says HELLO and subscribes
    again by itself, and its (re)subscribe hook (where registration will go) runs again.
*/
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage_test.h"
#include "xsp/xsp.h"
#include "xsp/storage_client.h"

#define TOTAL 600
#define WINDOW 16
#define SEED 8

static int done[TOTAL];
static size_t n_done, n_sent, n_after_restart;
static bool restarted;
static xsp_client_t *c;
static xsp_call_opts_t o = { .timeout_ms = 30000 };

static void attach_done(xsp_client_t *cl, uint64_t id, const xsp_error_t *err, xsp_backend_t *b,
                        const xsp_error_reply_t *er, void *arg)
{
    size_t i = (size_t) (uintptr_t) arg;
    (void) cl;
    (void) id;
    (void) er;
    CHECK_MSG(err->code == XSP_OK, "call %zu: %s: %s", i, xsp_code_name(err->code), err->msg);
    CHECK(b && b->implementations.len == 4);
    CHECK_EQ(done[i], 0);
    done[i]++;
    n_done++;
    n_after_restart += restarted;
}

static void stat_done(xsp_client_t *cl, uint64_t id, const xsp_error_t *err, xsp_volume_t *v,
                      const xsp_error_reply_t *er, void *arg)
{
    size_t i = (size_t) (uintptr_t) arg;
    char want[32];
    (void) cl;
    (void) id;
    (void) er;
    CHECK_MSG(err->code == XSP_OK, "call %zu: %s: %s", i, xsp_code_name(err->code), err->msg);
    snprintf(want, sizeof want, "vol-%zu", i % SEED);
    CHECK_STR(v->key, want);
    CHECK_EQ(done[i], 0);
    done[i]++;
    n_done++;
    n_after_restart += restarted;
}

static void top_up(void)
{
    xsp_error_t err;
    char s[64], dbg[64];
    while (n_sent < TOTAL && n_sent - n_done < WINDOW) {
        size_t i = n_sent++;
        snprintf(dbg, sizeof dbg, "restart:%zu", i);
        if (i % 2) {
            snprintf(s, sizeof s, "mem://seed/vol-%zu", i % SEED);
            CHECK_EQ(xsp_datapath_attach_send(c, ST_QUEUE, &o, dbg, s, "4", attach_done, (void *) (uintptr_t) i,
                                              NULL, &err), XSP_OK);
        } else {
            snprintf(s, sizeof s, "vol-%zu", i % SEED);
            CHECK_EQ(xsp_volume_stat_send(c, ST_QUEUE, &o, dbg, "mem://seed", s, stat_done, (void *) (uintptr_t) i,
                                          NULL, &err), XSP_OK);
        }
    }
}

static void pump(int ms)
{
    struct pollfd p = { .fd = xsp_client_fd(c), .events = POLLIN };
    int t = xsp_client_timeout_ms(c);
    poll(&p, 1, t < ms ? t : ms);
    xsp_client_process(c);
    top_up();
}

int main(void)
{
    xsp_test_switch_t sw;
    xsp_error_t err;
    CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "100", NULL) == 0);
    pid_t plugin = st_plugin(&sw, ST_QUEUE, "--seed-volumes", "8", NULL);
    c = xsp_client_new(sw.endpoint, "storage-restart", &err);
    CHECK_MSG(c, "%s", err.msg);

    long long end = xsp_test_now_ms() + 60000;
    top_up();
    while (n_done < TOTAL / 3 && xsp_test_now_ms() < end)
        pump(50);
    CHECK(n_done >= TOTAL / 3);

    st_kill(plugin);                            /* a crash, with calls in flight */
    size_t at_kill = n_done;
    fprintf(stderr, "plugin killed after %zu calls (%zu in flight)\n", at_kill, n_sent - n_done);
    long long down = xsp_test_now_ms() + 300;   /* calls keep coming; they wait in the queue */
    while (xsp_test_now_ms() < down)
        pump(20);
    CHECK(n_done - at_kill <= WINDOW);          /* nobody answered meanwhile (a few may have been on the wire) */

    restarted = true;
    plugin = st_plugin(&sw, ST_QUEUE, "--seed-volumes", "8", NULL);
    while (n_done < TOTAL && xsp_test_now_ms() < end)
        pump(50);
    CHECK_MSG(n_done == TOTAL, "%zu of %d calls completed", n_done, TOTAL);
    for (size_t i = 0; i < TOTAL; i++)
        CHECK_EQ(done[i], 1);
    CHECK(n_after_restart >= TOTAL / 2);
    fprintf(stderr, "%zu calls completed after the restart\n", n_after_restart);

    /* and a plain synchronous call on the new plugin */
    xsp_plugin_info_t info;
    CHECK_EQ(xsp_plugin_query(c, ST_QUEUE, &o, "restart:after", &info, &err), XSP_OK);
    CHECK_STR(info.plugin, "memory");
    xsp_plugin_info_dispose(&info);
    char *diag = NULL;
    CHECK_EQ(xsp_plugin_diagnostics(c, ST_QUEUE, &o, "restart:diag", &diag, &err), XSP_OK);
    CHECK_MSG(strstr(diag, "sessions: 1\n"), "%s", diag);
    free(diag);

    /* now the SWITCH restarts: the plugin says HELLO again, subscribes again by itself and
       runs its (re)subscribe hook (the registrar hook point) again */
    xsp_test_switch_kill(&sw);
    CHECK(xsp_test_switch_restart(&sw) == 0);
    CHECK_EQ(xsp_plugin_diagnostics(c, ST_QUEUE, &o, "restart:diag2", &diag, &err), XSP_OK);
    CHECK_MSG(strstr(diag, "sessions: 2\n"), "%s", diag);
    free(diag);

    xsp_client_destroy(&c);
    CHECK_EQ(st_stop(plugin), 0);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

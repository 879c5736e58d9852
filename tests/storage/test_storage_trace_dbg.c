/*  test_storage_trace_dbg.c — a stub call's dbg argument is the switch REQUEST's dbg: it shows
    in the switch trace (send, deliver and reply events) and reaches the plugin in DELIVER as
    well as in the args.  Checked for the synchronous stub, the asynchronous stub and the
    args-struct stub, and for dbg NULL (then opts->dbg is used for both).
*/
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "storage_test.h"
#include "xsp/xsp.h"
#include "xsp/storage_client.h"

typedef struct {
    char dbg[128];
    unsigned seen;              /* bit 0 send, 1 deliver, 2 reply */
} want_t;

static want_t wants[4];

static void on_trace(xsp_client_t *c, const xsp_trace_event_t *ev, void *arg)
{
    (void) c;
    (void) arg;
    if (ev->kind != XSP_TRACE_EVENT)
        return;
    for (size_t i = 0; i < 4; i++) {
        want_t *w = &wants[i];
        if (ev->dbg.len != strlen(w->dbg) || memcmp(ev->dbg.ptr, w->dbg, ev->dbg.len) != 0)
            continue;
        CHECK(ev->queue.len == strlen(ST_QUEUE) && memcmp(ev->queue.ptr, ST_QUEUE, ev->queue.len) == 0);
        if (ev->event.len == 4 && memcmp(ev->event.ptr, "send", 4) == 0)
            w->seen |= 1;
        else if (ev->event.len == 7 && memcmp(ev->event.ptr, "deliver", 7) == 0)
            w->seen |= 2;
        else if (ev->event.len == 5 && memcmp(ev->event.ptr, "reply", 5) == 0)
            w->seen |= 4;
    }
}

typedef struct {
    const char *dbg;
    bool done;
} diag_t;

static void diag_done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, char **text,
                      const xsp_error_reply_t *er, void *arg)
{
    diag_t *d = arg;
    char line[200];
    (void) c;
    (void) id;
    (void) er;
    CHECK_MSG(err->code == XSP_OK, "%s", err->msg);
    snprintf(line, sizeof line, "args dbg: %s\nheader dbg: %s\n", d->dbg, d->dbg);
    CHECK_MSG(strstr(*text, line) != NULL, "%s", *text);
    d->done = true;
}

int main(void)
{
    xsp_test_switch_t sw;
    xsp_error_t err;
    CHECK(xsp_test_switch_start(&sw, NULL) == 0);
    pid_t plugin = st_plugin(&sw, ST_QUEUE, "--seed-volumes", "1", NULL);

    xsp_client_t *tracer = xsp_client_new(sw.endpoint, "storage-tracer", &err);
    CHECK_MSG(tracer, "%s", err.msg);
    CHECK_EQ(xsp_client_trace_start(tracer, UINT64_MAX, "org.xen.xsp.storage.*", true, on_trace, NULL,
                                    &err), XSP_OK);
    xsp_client_t *c = xsp_client_new(sw.endpoint, "storage-trace-caller", &err);
    CHECK_MSG(c, "%s", err.msg);
    for (int i = 0; i < 10; i++)    /* let the TRACE subscription settle */
        xsp_client_wait(tracer, 10);

    for (size_t i = 0; i < 4; i++)
        snprintf(wants[i].dbg, sizeof wants[i].dbg, "trace-dbg %d #%zu vm-start", (int) getpid(), i);
    xsp_call_opts_t o = { .timeout_ms = 10000 };

    /* 0: synchronous stub */
    xsp_backend_t b;
    CHECK_EQ(xsp_datapath_attach(c, ST_QUEUE, &o, wants[0].dbg, "mem://seed/vol-0", "3", &b, &err), XSP_OK);
    xsp_backend_dispose(&b);

    /* 1: asynchronous stub; the plugin saw the same dbg in DELIVER */
    diag_t d = { wants[1].dbg, false };
    CHECK_EQ(xsp_plugin_diagnostics_send(c, ST_QUEUE, &o, wants[1].dbg, diag_done, &d, NULL, &err), XSP_OK);
    while (!d.done)
        xsp_client_wait(c, 100);

    /* 2: the args-struct stub */
    xsp_volume_stat_args_t a = { .dbg = wants[2].dbg, .sr = "mem://seed", .key = "vol-0" };
    xsp_volume_t v;
    CHECK_EQ(xsp_volume_stat_args_call(c, ST_QUEUE, &o, &a, &v, NULL, &err), XSP_OK);
    xsp_volume_dispose(&v);

    /* 3: dbg NULL: opts->dbg */
    xsp_call_opts_t od = o;
    od.dbg = wants[3].dbg;
    xsp_plugin_info_t info;
    CHECK_EQ(xsp_plugin_query(c, ST_QUEUE, &od, NULL, &info, &err), XSP_OK);
    xsp_plugin_info_dispose(&info);

    long long end = xsp_test_now_ms() + 5000;
    bool all = false;
    while (!all && xsp_test_now_ms() < end) {
        xsp_client_wait(tracer, 50);
        all = true;
        for (size_t i = 0; i < 4; i++)
            all = all && wants[i].seen == 7;
    }
    for (size_t i = 0; i < 4; i++)
        CHECK_MSG(wants[i].seen == 7, "'%s': events seen %#x (want send, deliver, reply)", wants[i].dbg,
                  wants[i].seen);

    xsp_client_trace_stop(tracer);
    xsp_client_destroy(&tracer);
    xsp_client_destroy(&c);
    CHECK_EQ(st_stop(plugin), 0);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

/*  test_storage_cancel.c — typed asynchronous calls that end without their completion.

    An asynchronous stub call keeps its context (method row, callback, result storage)
    inside the client's call (xsp_client_send_ctx), so xsp_client_cancel() and
    xsp_client_destroy() free it exactly once (the ASan build's leak check, and valgrind,
    would report a context that is not freed; a double free crashes).  Checked here through
    a real switch and a real xsp-test-plugin:
      - of 200 Datapath.attach calls, every other one is cancelled right after it is sent:
        the other 100 complete exactly once with their own result, no cancelled one ever
        completes, and cancelling again (or a finished call) is refused;
      - 50 more are left outstanding when the client is destroyed: no completion runs;
      - a raw xsp_client_send_ctx call: the drop hook runs exactly once for a cancelled
        call and for one dropped by destroy, never for one that completed, and a send
        that fails runs neither hook nor callback.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage_test.h"
#include "xsp/xsp.h"
#include "xsp/storage_client.h"

#define N_CALLS 200
#define N_LEFT 50

typedef struct {
    int idx;
    int done;
    bool cancelled;
} slot_t;

static slot_t slots[N_CALLS + N_LEFT];
static int completions;

static void attach_done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_backend_t *b,
                        const xsp_error_reply_t *er, void *arg)
{
    slot_t *s = arg;
    char want[96];
    (void) c;
    (void) id;
    CHECK_MSG(!s->cancelled, "cancelled call %d completed", s->idx);
    CHECK_MSG(s->done == 0, "call %d completed twice", s->idx);
    s->done++;
    completions++;
    CHECK_MSG(err->code == XSP_OK, "attach %d: %s", s->idx, err->msg);
    CHECK(b != NULL && er == NULL);
    snprintf(want, sizeof want, "/dev/mem/vol-%d", s->idx % 20);
    CHECK(b->implementations.len >= 2);
    CHECK_STR(b->implementations.val[1].u.block_device.path, want);
}

static void send_attach(xsp_client_t *c, int i, uint64_t *id)
{
    char uri[64];
    xsp_error_t err;
    xsp_call_opts_t o = { .timeout_ms = 30000 };
    slots[i].idx = i;
    snprintf(uri, sizeof uri, "mem://seed/vol-%d", i % 20);
    CHECK_EQ(xsp_datapath_attach_send(c, ST_QUEUE, &o, NULL, uri, "7", attach_done, &slots[i], id, &err),
             XSP_OK);
}

/* ---- the raw context API ---- */

static int drops, raw_done_calls;

static void count_drop(void *ctx)
{
    CHECK(ctx != NULL);
    CHECK_EQ(*(int *) ctx, 4242);
    *(int *) ctx = 0;       /* a second drop of the same context would fail the check above */
    drops++;
}

static void raw_done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_reply_t *r, void *arg)
{
    (void) c;
    (void) id;
    (void) err;
    (void) r;
    CHECK_EQ(*(int *) arg, 4242);
    raw_done_calls++;
}

int main(void)
{
    xsp_test_switch_t sw;
    xsp_error_t err;
    CHECK(xsp_test_switch_start(&sw, NULL) == 0);
    pid_t plugin = st_plugin(&sw, ST_QUEUE, "--seed-volumes", "20", "--domain", "5", NULL);
    xsp_client_t *c = xsp_client_new(sw.endpoint, "storage-cancel", &err);
    CHECK_MSG(c, "%s", err.msg);
    xsp_call_opts_t o = { .timeout_ms = 30000 };
    xsp_plugin_info_t info;     /* the plugin is up */
    CHECK_EQ(xsp_plugin_query(c, ST_QUEUE, &o, "cancel:up", &info, &err), XSP_OK);
    xsp_plugin_info_dispose(&info);

    /* half cancelled at once */
    int kept = 0;
    for (int i = 0; i < N_CALLS; i++) {
        uint64_t id;
        send_attach(c, i, &id);
        if (i % 2) {
            CHECK_EQ(xsp_client_cancel(c, id), 0);
            CHECK_EQ(xsp_client_cancel(c, id), -1);     /* once only */
            slots[i].cancelled = true;
        } else {
            kept++;
        }
    }
    CHECK_EQ(xsp_client_outstanding(c), (size_t) kept);
    long long end = xsp_test_now_ms() + 20000;
    while (completions < kept && xsp_test_now_ms() < end)
        xsp_client_wait(c, 100);
    CHECK_EQ(completions, kept);
    for (int i = 0; i < N_CALLS; i++)
        CHECK_EQ(slots[i].done, slots[i].cancelled ? 0 : 1);
    CHECK_EQ(xsp_client_outstanding(c), 0);

    /* raw: a completed call (no drop), a cancelled one (one drop) */
    void *ctx = NULL;
    uint64_t id;
    CHECK_EQ(xsp_client_send_ctx(c, ST_QUEUE, "x", 1, &o, raw_done, sizeof (int), count_drop, &ctx, &id,
                                 &err), XSP_OK);
    CHECK(ctx != NULL);
    *(int *) ctx = 4242;
    while (raw_done_calls < 1 && xsp_test_now_ms() < end)
        xsp_client_wait(c, 100);
    CHECK_EQ(raw_done_calls, 1);
    CHECK_EQ(drops, 0);
    CHECK_EQ(xsp_client_send_ctx(c, ST_QUEUE, "x", 1, &o, raw_done, sizeof (int), count_drop, &ctx, &id,
                                 &err), XSP_OK);
    *(int *) ctx = 4242;
    CHECK_EQ(xsp_client_cancel(c, id), 0);
    CHECK_EQ(drops, 1);
    /* a send that fails: no context, no hook, no callback */
    CHECK(xsp_client_send_ctx(c, "bad queue name", "x", 1, &o, raw_done, sizeof (int), count_drop, &ctx,
                              &id, &err) == XSP_E_INVALID_ARGUMENT);
    CHECK(ctx == NULL);
    CHECK_EQ(drops, 1);

    /* left outstanding at destroy: typed ones and a raw one (its drop runs) */
    for (int i = N_CALLS; i < N_CALLS + N_LEFT; i++)
        send_attach(c, i, NULL);
    CHECK_EQ(xsp_client_send_ctx(c, ST_QUEUE, "x", 1, &o, raw_done, sizeof (int), count_drop, &ctx, &id,
                                 &err), XSP_OK);
    *(int *) ctx = 4242;
    CHECK_EQ(xsp_client_outstanding(c), (size_t) N_LEFT + 1);
    int before = completions;
    xsp_client_destroy(&c);
    CHECK(c == NULL);
    CHECK_EQ(completions, before);
    CHECK_EQ(drops, 2);
    CHECK_EQ(raw_done_calls, 1);

    CHECK_EQ(st_stop(plugin), 0);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    printf("ok: %d completed, %d cancelled, %d dropped at destroy; drop hooks exactly once\n", kept,
           N_CALLS - kept, N_LEFT + 1);
    return 0;
}

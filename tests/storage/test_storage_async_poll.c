/*  test_storage_async_poll.c — the asynchronous stubs from a plain poll() loop, no threads.

    320+ typed calls in flight at once on one client — Datapath.attach, Volume.stat (some of
    unknown volumes: typed errors with detail), and Volume.resize, which the plugin answers
    LATER from a timer — each completion must run exactly once, with the right typed result
    for its own call.  In loop mode (no workers) the slow resizes must not hold up the
    others: every fast call completes before the first resize does.

        test_storage_async_poll [WORKERS]
    With workers the plugin's credit is capped at the worker count (server.c), so held
    resizes occupy credit: that variant checks results only, with fewer, shorter resizes.
*/
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage_test.h"
#include "xsp/xsp.h"
#include "xsp/storage_client.h"

#define SEED 50
#define N_ATTACH 150
#define N_STAT 150
#define N_MISSING 10            /* of the stats: unknown volumes */

enum { K_ATTACH, K_STAT, K_RESIZE };

typedef struct {
    int kind, idx;
    int done;                   /* completions seen: must end at exactly 1 */
    long long at;               /* when */
} slot_t;

static slot_t *slots;
static size_t n_slots, n_done;
static long long t0;

static void finish(slot_t *s)
{
    CHECK_MSG(s->done == 0, "call %d (kind %d) completed twice", s->idx, s->kind);
    s->done++;
    s->at = xsp_test_now_ms() - t0;
    n_done++;
}

static void attach_done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_backend_t *b,
                        const xsp_error_reply_t *er, void *arg)
{
    slot_t *s = arg;
    char want[64];
    (void) c;
    (void) id;
    CHECK_MSG(err->code == XSP_OK, "attach %d: %s", s->idx, err->msg);
    CHECK(b != NULL && er == NULL);
    CHECK_EQ(b->implementations.len, 4);
    snprintf(want, sizeof want, "/dev/mem/vol-%d", s->idx % SEED);
    CHECK_STR(b->implementations.val[1].u.block_device.path, want);
    CHECK_EQ(b->domain.domid, 5);
    /* keep the result: it is borrowed (xsp/stub.h), so a copy, which must be equal */
    xsp_backend_t mine;
    CHECK_EQ(xsp_backend_copy(&mine, b), XSP_OK);
    CHECK(xsp_backend_equal(&mine, b));
    xsp_backend_dispose(&mine);
    finish(s);
}

static void stat_done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_volume_t *v,
                      const xsp_error_reply_t *er, void *arg)
{
    slot_t *s = arg;
    char want[64];
    (void) c;
    (void) id;
    if (s->idx >= N_STAT - N_MISSING) {
        snprintf(want, sizeof want, "missing-%d", s->idx);
        CHECK_CODE(*err, XSP_E_VOLUME_DOES_NOT_EXIST);
        CHECK(v == NULL && er != NULL);
        CHECK_STR(xsp_error_reply_detail(er, "key"), want);
        CHECK_STR(xsp_error_reply_detail(er, "sr"), "mem://seed");
    } else {
        snprintf(want, sizeof want, "vol-%d", s->idx % SEED);
        CHECK_MSG(err->code == XSP_OK, "stat %d: %s", s->idx, err->msg);
        CHECK(v != NULL && er == NULL);
        CHECK_STR(v->key, want);
        CHECK(v->virtual_size >= (1u << 20));
    }
    finish(s);
}

static void resize_done(xsp_client_t *c, uint64_t id, const xsp_error_t *err,
                        const xsp_error_reply_t *er, void *arg)
{
    slot_t *s = arg;
    (void) c;
    (void) id;
    CHECK_MSG(err->code == XSP_OK && er == NULL, "resize %d: %s", s->idx, err->msg);
    finish(s);
}

int main(int argc, char **argv)
{
    const char *workers = argc > 1 ? argv[1] : "0";
    bool loop_mode = strcmp(workers, "0") == 0;
    int n_resize = loop_mode ? 20 : 2;
    const char *delay = loop_mode ? "1000" : "100";
    xsp_test_switch_t sw;
    xsp_error_t err;
    CHECK(xsp_test_switch_start(&sw, NULL) == 0);
    pid_t plugin = st_plugin(&sw, ST_QUEUE, "--seed-volumes", "50", "--resize-delay-ms", delay,
                             "--workers", workers, "--domain", "5", NULL);
    xsp_client_t *c = xsp_client_new(sw.endpoint, "storage-async", &err);
    CHECK_MSG(c, "%s", err.msg);
    xsp_call_opts_t o = { .timeout_ms = 30000 };
    xsp_plugin_info_t info;     /* the plugin is up (the call waits in the queue until it is) */
    CHECK_EQ(xsp_plugin_query(c, ST_QUEUE, &o, "async:up", &info, &err), XSP_OK);
    xsp_plugin_info_dispose(&info);

    n_slots = (size_t) n_resize + N_ATTACH + N_STAT;
    slots = calloc(n_slots, sizeof *slots);
    CHECK(slots);
    t0 = xsp_test_now_ms();
    size_t k = 0;
    char key[64], uri[96], dbg[64];
    /* the slow ones first, so they are delivered first */
    for (int i = 0; i < n_resize; i++, k++) {
        slots[k] = (slot_t) { K_RESIZE, i, 0, 0 };
        snprintf(key, sizeof key, "vol-%d", i);
        snprintf(dbg, sizeof dbg, "async:resize:%d", i);
        CHECK_EQ(xsp_volume_resize_send(c, ST_QUEUE, &o, dbg, "mem://seed", key, 2u << 20, resize_done,
                                        &slots[k], NULL, &err), XSP_OK);
    }
    for (int i = 0; i < N_ATTACH || i < N_STAT; i++) {
        if (i < N_ATTACH) {
            slots[k] = (slot_t) { K_ATTACH, i, 0, 0 };
            snprintf(uri, sizeof uri, "mem://seed/vol-%d", i % SEED);
            snprintf(dbg, sizeof dbg, "async:attach:%d", i);
            uint64_t id = 0;
            CHECK_EQ(xsp_datapath_attach_send(c, ST_QUEUE, &o, dbg, uri, "12", attach_done, &slots[k],
                                              &id, &err), XSP_OK);
            CHECK(id != 0);
            k++;
        }
        if (i < N_STAT) {
            slots[k] = (slot_t) { K_STAT, i, 0, 0 };
            if (i >= N_STAT - N_MISSING)
                snprintf(key, sizeof key, "missing-%d", i);
            else
                snprintf(key, sizeof key, "vol-%d", i % SEED);
            snprintf(dbg, sizeof dbg, "async:stat:%d", i);
            CHECK_EQ(xsp_volume_stat_send(c, ST_QUEUE, &o, dbg, "mem://seed", key, stat_done, &slots[k],
                                          NULL, &err), XSP_OK);
            k++;
        }
    }
    CHECK_EQ(k, n_slots);
    CHECK(xsp_client_outstanding(c) >= 300);
    fprintf(stderr, "%zu calls in flight\n", xsp_client_outstanding(c));

    /* one thread, one poll() loop */
    long long end = xsp_test_now_ms() + 60000;
    while (n_done < n_slots && xsp_test_now_ms() < end) {
        struct pollfd p = { .fd = xsp_client_fd(c), .events = POLLIN };
        poll(&p, 1, xsp_client_timeout_ms(c));
        xsp_client_process(c);
    }
    CHECK_MSG(n_done == n_slots, "%zu of %zu calls completed", n_done, n_slots);
    /* nothing more arrives: every callback ran exactly once */
    long long settle = xsp_test_now_ms() + 200;
    while (xsp_test_now_ms() < settle) {
        struct pollfd p = { .fd = xsp_client_fd(c), .events = POLLIN };
        poll(&p, 1, 50);
        xsp_client_process(c);
    }
    CHECK_EQ(n_done, n_slots);
    CHECK_EQ(xsp_client_outstanding(c), 0);

    long long fast_last = 0, slow_first = -1;
    for (size_t i = 0; i < n_slots; i++) {
        CHECK_EQ(slots[i].done, 1);
        if (slots[i].kind == K_RESIZE)
            slow_first = slow_first < 0 || slots[i].at < slow_first ? slots[i].at : slow_first;
        else if (slots[i].at > fast_last)
            fast_last = slots[i].at;
    }
    fprintf(stderr, "fast calls all done after %lld ms; first resize after %lld ms\n", fast_last, slow_first);
    if (loop_mode) {
        CHECK(slow_first >= 1000);
        CHECK_MSG(fast_last < slow_first, "a slow resize held up the fast calls");
    }

    /* the resizes happened */
    xsp_volume_t v;
    CHECK_EQ(xsp_volume_stat(c, ST_QUEUE, &o, "async:check", "mem://seed", "vol-0", &v, &err), XSP_OK);
    CHECK(v.virtual_size == (2u << 20));
    xsp_volume_dispose(&v);

    free(slots);
    xsp_client_destroy(&c);
    CHECK_EQ(st_stop(plugin), 0);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

/*  test_sdk_workers.c — a bounded worker pool runs blocking handlers concurrently.

    4 workers, a handler that sleeps 200 ms: 4 calls must all finish in well under
    4 x 200 ms (loose bound: 600 ms), at most 4 handlers may ever run at once, and the
    answers made on worker threads must reach the right callers. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "xsp/xsp.h"
#include "xsp_test.h"

static atomic_int running, max_running, handled;

static void sleepy(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void) s;
    (void) arg;
    int now = atomic_fetch_add(&running, 1) + 1;
    int m = atomic_load(&max_running);
    while (now > m && !atomic_compare_exchange_weak(&max_running, &m, now))
        ;
    usleep(200000);
    atomic_fetch_sub(&running, 1);
    atomic_fetch_add(&handled, 1);
    char buf[64];
    int n = snprintf(buf, sizeof buf, "done:%.*s", (int) xsp_request_size(req),
                     (const char *) xsp_request_body(req));
    xsp_request_reply(req, XSP_STATUS_OK, buf, (size_t) n);
}

static void *serve(void *arg)
{
    xsp_server_run(arg);
    return NULL;
}

static int completed;
static long long last_done;

static void done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_reply_t *r, void *arg)
{
    (void) c;
    (void) id;
    char want[64];
    int n = snprintf(want, sizeof want, "done:job%d", (int) (intptr_t) arg);
    CHECK_MSG(err->code == XSP_OK, "%s", err->msg);
    CHECK(r->len == (size_t) n && memcmp(r->body, want, (size_t) n) == 0);
    completed++;
    last_done = xsp_test_now_ms();
}

static long long run_batch(xsp_client_t *c, int jobs)
{
    xsp_error_t err;
    completed = 0;
    long long t0 = xsp_test_now_ms();
    for (int i = 0; i < jobs; i++) {
        char body[16];
        int n = snprintf(body, sizeof body, "job%d", i);
        CHECK_EQ(xsp_client_send(c, "sleepy", body, (size_t) n, NULL, done, (void *) (intptr_t) i,
                                 NULL, &err), XSP_OK);
    }
    while (completed < jobs && xsp_test_now_ms() - t0 < 10000)
        xsp_client_wait(c, 100);
    CHECK_EQ(completed, jobs);
    return last_done - t0;
}

int main(void)
{
    xsp_test_switch_t sw;
    CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "100", NULL) == 0);
    xsp_error_t err;
    xsp_server_t *s = xsp_server_new(sw.endpoint, "pool-server", NULL, 0, &err);
    CHECK_MSG(s, "%s", err.msg);
    CHECK_EQ(xsp_server_set_workers(s, 4, &err), XSP_OK);
    CHECK_EQ(xsp_server_set_workers(s, 2, &err), XSP_E_INVALID_ARGUMENT);   /* once only */
    /* credit 64 is capped at the 4 workers: never more requests than can run */
    CHECK_EQ(xsp_server_subscribe(s, "sleepy", 64, sleepy, NULL, &err), XSP_OK);
    {   /* workers after a subscription: refused (its credit was not capped at them) */
        xsp_server_t *late = xsp_server_new(sw.endpoint, "late", NULL, 0, &err);
        CHECK_MSG(late, "%s", err.msg);
        CHECK_EQ(xsp_server_subscribe(late, "late-queue", 8, sleepy, NULL, &err), XSP_OK);
        CHECK_EQ(xsp_server_set_workers(late, 2, &err), XSP_E_INVALID_ARGUMENT);
        CHECK(strstr(err.msg, "before subscribing") != NULL);
        xsp_server_destroy(&late);
    }
    pthread_t th;
    CHECK(pthread_create(&th, NULL, serve, s) == 0);

    xsp_client_t *c = xsp_client_new(sw.endpoint, "pool-client", &err);
    CHECK_MSG(c, "%s", err.msg);

    long long took = run_batch(c, 4);
    fprintf(stderr, "4 x 200 ms handlers on 4 workers took %lld ms\n", took);
    CHECK(took >= 190);
    CHECK(took < 600);
    CHECK_EQ(atomic_load(&max_running), 4);

    /* 8 jobs on 4 workers: two rounds, never more than 4 at once */
    took = run_batch(c, 8);
    fprintf(stderr, "8 x 200 ms handlers on 4 workers took %lld ms\n", took);
    CHECK(took >= 390);
    CHECK(took < 1000);
    CHECK_EQ(atomic_load(&max_running), 4);
    CHECK_EQ(atomic_load(&handled), 12);

    xsp_client_destroy(&c);
    xsp_server_stop(s);
    pthread_join(th, NULL);
    xsp_server_destroy(&s);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

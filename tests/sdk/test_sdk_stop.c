/*  test_sdk_stop.c — xsp_server_stop() from another thread while the server's own thread
    destroys the server as soon as its loop returns.

    The contract (xsp/server.h): stop may be called from any thread; once the loop has seen
    it the owner may free the server at once.  So stop must wake the loop and touch nothing
    of the server afterwards.  200 rounds: a thread creates a server, subscribes, runs
    xsp_server_run() and destroys the server the moment it returns; the main thread calls
    xsp_server_stop() as soon as the loop runs.  Every loop must end within 500 ms: the
    stop woke it (the switch's default 1-s heartbeat is the loop's longest sleep, so a
    lost wake-up shows), and under ASan a touch after the store is a heap-use-after-free
    if the owner wins the race.  A stop before the loop starts makes it return at once. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "xsp/xsp.h"
#include "xsp_test.h"

#define ROUNDS 200

typedef struct {
    const char *endpoint;
    _Atomic(xsp_server_t *) server;     /* set once subscribed, before the loop */
    atomic_bool ended;
    int rc;
} round_t;

static void handler(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void) s;
    (void) arg;
    xsp_request_release(req);
}

static void *serve(void *arg)
{
    round_t *r = arg;
    xsp_error_t err;
    xsp_server_t *s = xsp_server_new(r->endpoint, "stop-server", NULL, 0, &err);
    CHECK_MSG(s, "%s", err.msg);
    CHECK_EQ(xsp_server_subscribe(s, "stop.q", 1, handler, NULL, &err), XSP_OK);
    atomic_store(&r->server, s);
    r->rc = xsp_server_run(s);
    xsp_server_destroy(&s);             /* at once: the stopper must be done with it */
    atomic_store(&r->ended, true);
    return NULL;
}

int main(void)
{
    xsp_test_switch_t sw;
    CHECK(xsp_test_switch_start(&sw, NULL) == 0);      /* the default heartbeat: 1 s */

    long long slowest = 0;
    for (int i = 0; i < ROUNDS; i++) {
        round_t r = { .endpoint = sw.endpoint };
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, serve, &r), 0);
        xsp_server_t *s;
        while (!(s = atomic_load(&r.server)))
            xsp_test_ms(0);
        if (i % 2)
            xsp_test_ms(1);             /* half the rounds: the loop is already waiting */
        long long t = xsp_test_now_ms();
        xsp_server_stop(s);
        while (!atomic_load(&r.ended) && xsp_test_now_ms() - t < 500)
            xsp_test_ms(1);
        CHECK_MSG(atomic_load(&r.ended), "round %d: the loop did not end within 500 ms of the stop", i);
        CHECK_EQ(pthread_join(th, NULL), 0);
        CHECK_EQ(r.rc, 0);
        if (xsp_test_now_ms() - t > slowest)
            slowest = xsp_test_now_ms() - t;
    }
    printf("ok: %d stops from another thread, each loop ended (slowest %lld ms), server freed at once\n",
           ROUNDS, slowest);

    /* a stop before the loop: run returns at once */
    xsp_error_t err;
    xsp_server_t *s = xsp_server_new(sw.endpoint, "stop-early", NULL, 0, &err);
    CHECK_MSG(s, "%s", err.msg);
    xsp_server_stop(s);
    long long t = xsp_test_now_ms();
    CHECK_EQ(xsp_server_run(s), 0);
    CHECK(xsp_test_now_ms() - t < 1000);
    xsp_server_destroy(&s);
    printf("ok: a stop before the loop makes it return at once\n");

    CHECK(xsp_test_switch_stop(&sw) == 0);
    return 0;
}

/*  test_sdk_later.c — a server answers LATER: a slow request does not block a fast one.

    One thread, one poll() loop driving both a server and an asynchronous client through
    their fds and timeouts (the "foreign event loop" API).  The handler keeps a `slow`
    request and answers it 400 ms later from the loop; a `fast` one is answered at once. */
#include <poll.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "xsp/xsp.h"
#include "xsp_test.h"

static xsp_request_t *held;
static long long held_until;
static long long t0, fast_at, slow_at;
static bool fast_done, slow_done;

static void handler(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void) s;
    (void) arg;
    if (xsp_request_size(req) == 4 && memcmp(xsp_request_body(req), "slow", 4) == 0) {
        CHECK(held == NULL);
        held = req;                             /* answered later, from the loop */
        held_until = xsp_test_now_ms() + 10000;   /* or as soon as "fast" is answered */
    } else {
        xsp_request_reply(req, XSP_STATUS_OK, "fast-done", 9);
    }
}

static void done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_reply_t *r, void *arg)
{
    (void) c;
    (void) id;
    const char *which = arg;
    CHECK_MSG(err->code == XSP_OK, "%s: %s", which, err->msg);
    if (strcmp(which, "slow") == 0) {
        CHECK(r->len == 9 && memcmp(r->body, "slow-done", 9) == 0);
        slow_at = xsp_test_now_ms() - t0;
        slow_done = true;
    } else {
        CHECK(r->len == 9 && memcmp(r->body, "fast-done", 9) == 0);
        fast_at = xsp_test_now_ms() - t0;
        fast_done = true;
    }
}

static void pump(xsp_client_t *c, xsp_server_t *s, int max_ms)
{
    struct pollfd p[2] = { { .fd = xsp_client_fd(c), .events = POLLIN },
                           { .fd = xsp_server_fd(s), .events = POLLIN } };
    int t = xsp_client_timeout_ms(c);
    if (xsp_server_timeout_ms(s) < t)
        t = xsp_server_timeout_ms(s);
    if (held) {
        long long d = held_until - xsp_test_now_ms();
        if (d < t)
            t = d < 0 ? 0 : (int) d;
    }
    poll(p, 2, t < max_ms ? t : max_ms);
    xsp_server_process(s);
    xsp_client_process(c);
    if (held && (fast_done || xsp_test_now_ms() >= held_until)) {
        xsp_request_t *r = held;
        held = NULL;
        CHECK_EQ(xsp_request_reply(r, XSP_STATUS_OK, "slow-done", 9), 0);
    }
}

int main(void)
{
    xsp_test_switch_t sw;
    CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "100", NULL) == 0);
    xsp_error_t err;
    xsp_server_t *s = xsp_server_new(sw.endpoint, "later-server", NULL, 0, &err);
    CHECK_MSG(s, "%s", err.msg);
    CHECK_EQ(xsp_server_subscribe(s, "work", 2, handler, NULL, &err), XSP_OK);
    xsp_client_t *c = xsp_client_new(sw.endpoint, "later-client", &err);
    CHECK_MSG(c, "%s", err.msg);

    /* let the SUBSCRIBE reach the switch */
    long long until = xsp_test_now_ms() + 100;
    while (xsp_test_now_ms() < until)
        pump(c, s, 20);

    t0 = xsp_test_now_ms();
    CHECK_EQ(xsp_client_send(c, "work", "slow", 4, NULL, done, "slow", NULL, &err), XSP_OK);
    /* the slow one is delivered (and held) before the fast one is sent; generous deadline:
       under valgrind and a loaded machine the switch may take seconds */
    long long settle = xsp_test_now_ms() + 10000;
    while (!held && xsp_test_now_ms() < settle)
        pump(c, s, 10);
    CHECK(held != NULL);
    CHECK_EQ(xsp_server_pending(s), 1);
    CHECK_EQ(xsp_client_send(c, "work", "fast", 4, NULL, done, "fast", NULL, &err), XSP_OK);

    long long end = xsp_test_now_ms() + 15000;
    while ((!fast_done || !slow_done) && xsp_test_now_ms() < end)
        pump(c, s, 50);
    CHECK_MSG(fast_done && slow_done, "fast %lld ms, slow %lld ms", fast_at, slow_at);
    fprintf(stderr, "fast answered after %lld ms, slow after %lld ms\n", fast_at, slow_at);
    /* the held request did not block the next one: "fast" was answered while "slow" was
       still held (it is released only once "fast" is answered, or after 10 s) */
    CHECK(fast_at <= slow_at);
    CHECK_MSG(slow_at < 10000, "slow released by its 10 s fallback: fast was stuck behind it");
    CHECK_EQ(xsp_server_pending(s), 0);

    xsp_client_destroy(&c);
    xsp_server_destroy(&s);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

/*  test_sdk_reconnect.c — the switch is SIGKILLed and restarted on the same endpoint while
    a client and servers are connected.

    One thread pumps everything (client, servers) through their fds, so the test controls
    exactly what is outstanding when the switch dies:
      A  idempotent call to `hold` (no server yet): waits in the switch's queue; after the
         restart it is resent and completes once a server for `hold` appears;
      B  at-most-once call to `hold`: fails with XSP_E_DISCONNECTED after the restart;
      D  idempotent call to `slowq`, delivered and held by the server when the switch
         dies: resent, delivered again, answered; the stale answer to the old delivery is
         dropped by the server (msg ids restart with the switch);
    and after the restart the old server's `echo` subscription works again (RESUBSCRIBE).
    The first server's new-session hook (xsp_server_on_session) runs once per restart, and
    before the new session's first request reaches a handler: D's second delivery sees it. */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "xsp/xsp.h"
#include "xsp_test.h"

#define MAXHELD 8
static xsp_request_t *held[MAXHELD];
static long long held_until[MAXHELD];
static int slow_deliveries;
static int new_sessions;            /* srv[0]'s new-session hook calls */
static int sessions_at_delivery[2]; /* new_sessions when D was delivered (1st, 2nd time) */

static void echo(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void) s;
    (void) arg;
    xsp_request_reply(req, XSP_STATUS_OK, xsp_request_body(req), xsp_request_size(req));
}

static void slow(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void) s;
    (void) arg;
    if (slow_deliveries < 2)
        sessions_at_delivery[slow_deliveries] = new_sessions;
    slow_deliveries++;
    for (int i = 0; i < MAXHELD; i++)
        if (!held[i]) {
            held[i] = req;
            held_until[i] = xsp_test_now_ms() + 500;
            return;
        }
    CHECK(!"too many held requests");
}

typedef struct {
    const char *name;
    bool done;
    xsp_error_t err;
    char body[64];
} result_t;

static void done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_reply_t *r, void *arg)
{
    (void) c;
    (void) id;
    result_t *res = arg;
    CHECK_MSG(!res->done, "call %s completed twice", res->name);
    res->done = true;
    res->err = *err;
    snprintf(res->body, sizeof res->body, "%.*s", (int) r->len, r->body ? (const char *) r->body : "");
}

static xsp_client_t *cl;
static xsp_server_t *srv[2];

static void on_session(xsp_server_t *s, void *arg)
{
    CHECK(s == srv[0]);
    CHECK(arg == &new_sessions);
    new_sessions++;
}

static void pump(int ms)
{
    long long end = xsp_test_now_ms() + ms;
    do {
        struct pollfd p[3];
        int n = 0, t = xsp_client_timeout_ms(cl);
        p[n++] = (struct pollfd) { .fd = xsp_client_fd(cl), .events = POLLIN };
        for (int i = 0; i < 2; i++)
            if (srv[i]) {
                p[n++] = (struct pollfd) { .fd = xsp_server_fd(srv[i]), .events = POLLIN };
                if (xsp_server_timeout_ms(srv[i]) < t)
                    t = xsp_server_timeout_ms(srv[i]);
            }
        poll(p, (nfds_t) n, t < 10 ? t : 10);
        for (int i = 0; i < 2; i++)
            if (srv[i])
                xsp_server_process(srv[i]);
        xsp_client_process(cl);
        for (int i = 0; i < MAXHELD; i++)
            if (held[i] && xsp_test_now_ms() >= held_until[i]) {
                xsp_request_t *r = held[i];
                held[i] = NULL;
                xsp_request_reply(r, XSP_STATUS_OK, "slow-done", 9);
            }
    } while (xsp_test_now_ms() < end);
}

static bool pump_until(bool *flag, int ms)
{
    long long end = xsp_test_now_ms() + ms;
    while (!*flag && xsp_test_now_ms() < end)
        pump(5);
    return *flag;
}

int main(void)
{
    xsp_test_switch_t sw;
    CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "100", NULL) == 0);
    xsp_error_t err;
    srv[0] = xsp_server_new(sw.endpoint, "rc-server", NULL, 0, &err);
    CHECK_MSG(srv[0], "%s", err.msg);
    CHECK_EQ(xsp_server_subscribe(srv[0], "echo", 4, echo, NULL, &err), XSP_OK);
    CHECK_EQ(xsp_server_subscribe(srv[0], "slowq", 4, slow, NULL, &err), XSP_OK);
    xsp_server_on_session(srv[0], on_session, &new_sessions);
    cl = xsp_client_new(sw.endpoint, "rc-client", &err);
    CHECK_MSG(cl, "%s", err.msg);
    pump(100);

    result_t before = { .name = "before" };
    CHECK_EQ(xsp_client_send(cl, "echo", "before", 6, NULL, done, &before, NULL, &err), XSP_OK);
    CHECK(pump_until(&before.done, 2000));
    CHECK_CODE(before.err, XSP_OK);
    CHECK_STR(before.body, "before");
    uint64_t old_peer = xsp_client_peer_id(cl);

    xsp_call_opts_t idem = { .timeout_ms = 20000 };
    xsp_call_opts_t amo = { .timeout_ms = 20000, .flags = XSP_CALL_AT_MOST_ONCE };
    result_t a = { .name = "A" }, b = { .name = "B" }, d = { .name = "D" };
    CHECK_EQ(xsp_client_send(cl, "hold", "A-body", 6, &idem, done, &a, NULL, &err), XSP_OK);
    CHECK_EQ(xsp_client_send(cl, "hold", "B-body", 6, &amo, done, &b, NULL, &err), XSP_OK);
    CHECK_EQ(xsp_client_send(cl, "slowq", "D-body", 6, &idem, done, &d, NULL, &err), XSP_OK);
    pump(150);
    CHECK_EQ(slow_deliveries, 1);       /* D is held by the server */
    CHECK(!a.done && !b.done && !d.done);
    CHECK_EQ(xsp_client_outstanding(cl), 3);

    long long t_kill = xsp_test_now_ms();
    xsp_test_switch_kill(&sw);
    pump(50);
    CHECK_EQ(xsp_test_switch_restart(&sw), 0);

    /* B fails as soon as the client has a new session */
    CHECK(pump_until(&b.done, 5000));
    CHECK_CODE(b.err, XSP_E_DISCONNECTED);
    CHECK(strstr(b.err.msg, "at-most-once") != NULL);
    fprintf(stderr, "client renewed its session %lld ms after the kill\n", xsp_test_now_ms() - t_kill);
    CHECK(xsp_client_connected(cl));
    CHECK(!a.done);

    /* D is delivered again by the new switch and answered; the stale answer is dropped */
    CHECK(pump_until(&d.done, 5000));
    CHECK_CODE(d.err, XSP_OK);
    CHECK_STR(d.body, "slow-done");
    CHECK_EQ(slow_deliveries, 2);
    CHECK_EQ(sessions_at_delivery[0], 0);
    CHECK_EQ(sessions_at_delivery[1], 1);   /* the hook ran before the handler saw D again */

    /* a server for `hold` appears: A (resent) completes */
    srv[1] = xsp_server_new(sw.endpoint, "rc-server-2", NULL, 0, &err);
    CHECK_MSG(srv[1], "%s", err.msg);
    CHECK_EQ(xsp_server_subscribe(srv[1], "hold", 4, echo, NULL, &err), XSP_OK);
    CHECK(pump_until(&a.done, 5000));
    CHECK_CODE(a.err, XSP_OK);
    CHECK_STR(a.body, "A-body");

    /* the first server subscribed again by itself */
    result_t after = { .name = "after" };
    CHECK_EQ(xsp_client_send(cl, "echo", "after", 5, NULL, done, &after, NULL, &err), XSP_OK);
    CHECK(pump_until(&after.done, 5000));
    CHECK_CODE(after.err, XSP_OK);
    CHECK_STR(after.body, "after");
    CHECK_EQ(xsp_client_outstanding(cl), 0);
    (void) old_peer;

    /* a second restart, detected by silence this time (nothing outstanding) */
    xsp_test_switch_kill(&sw);
    pump(400);                  /* > 3 heartbeat intervals: everyone notices */
    CHECK_EQ(xsp_test_switch_restart(&sw), 0);
    result_t again = { .name = "again" };
    CHECK_EQ(xsp_client_send(cl, "echo", "again", 5, NULL, done, &again, NULL, &err), XSP_OK);
    CHECK(pump_until(&again.done, 5000));
    CHECK_CODE(again.err, XSP_OK);
    CHECK_STR(again.body, "again");
    CHECK_EQ(new_sessions, 2);

    pump(600);                  /* held stale requests get answered (and dropped) */
    xsp_client_destroy(&cl);
    xsp_server_destroy(&srv[0]);
    xsp_server_destroy(&srv[1]);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

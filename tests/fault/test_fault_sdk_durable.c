/*  test_fault_sdk_durable — persistent calls through libxsp survive a switch crash.

    A real xsp-switch with --state-dir; a libxsp client WITH an identity sends persistent
    calls to a queue nobody serves yet and waits until every one is ACCEPTED; a second
    client WITHOUT an identity does the same with one call.  The switch is SIGKILLed and
    started again on the same state directory; then a libxsp server subscribes.  Checks:
      - every accepted call of the client with an identity is answered exactly once, with
        its own answer, after the restart (neither resent nor failed by the SDK);
      - the call of the client without an identity fails with XSP_E_DISCONNECTED naming
        the missing identity — and the switch still ran it (the server saw it);
      - the server saw each journaled request exactly once (nothing was in flight);
      - a new client process life with the same identity (destroy + new) does not take the
        answer meant for its previous life as one of its own calls.
*/
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsp/client.h"
#include "xsp/server.h"
#include "xsp_test.h"

#define NCALLS 5

static int done_count[NCALLS], ok_count[NCALLS];
static int served;              /* requests the server answered */
static xsp_error_t anon_err;    /* the identity-less client's outcome */
static bool anon_done;

static void done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_reply_t *r, void *arg)
{
    (void) c;
    (void) id;
    int i = (int) (intptr_t) arg;
    done_count[i]++;
    CHECK_MSG(done_count[i] == 1, "call %d completed %d times", i, done_count[i]);
    CHECK_MSG(err->code == XSP_OK, "call %d: %s: %s", i, xsp_code_name(err->code), err->msg);
    char want[32];
    snprintf(want, sizeof want, "answer-body-%d", i);
    CHECK_MSG(r->len == strlen(want) && !memcmp(r->body, want, r->len), "call %d: wrong answer", i);
    ok_count[i]++;
}

static void anon_done_fn(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_reply_t *r, void *arg)
{
    (void) c;
    (void) id;
    (void) r;
    (void) arg;
    CHECK(!anon_done);
    anon_done = true;
    anon_err = *err;
}

static void handler(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void) s;
    (void) arg;
    char out[64];
    int n = snprintf(out, sizeof out, "answer-%.*s", (int) xsp_request_size(req),
                     (const char *) xsp_request_body(req));
    served++;
    CHECK_EQ(xsp_request_reply(req, XSP_STATUS_OK, out, (size_t) n), 0);
}

/*  Process every given client/server (NULL entries skipped) for up to max_ms. */
static void pump(xsp_client_t **cs, int nc, xsp_server_t *s, int max_ms)
{
    struct pollfd p[4];
    int n = 0;
    for (int i = 0; i < nc; i++)
        if (cs[i])
            p[n++] = (struct pollfd) { .fd = xsp_client_fd(cs[i]), .events = POLLIN };
    if (s)
        p[n++] = (struct pollfd) { .fd = xsp_server_fd(s), .events = POLLIN };
    poll(p, (nfds_t) n, max_ms);
    if (s)
        xsp_server_process(s);
    for (int i = 0; i < nc; i++)
        if (cs[i])
            xsp_client_process(cs[i]);
}

static int slow(int ms)
{
    return getenv("XSP_TEST_SLOW") ? ms * 3 : ms;
}

int main(void)
{
    char state[256];
    CHECK(xsp_test_tmpdir(state, sizeof state));
    xsp_test_switch_t sw;
    CHECK(xsp_test_switch_start(&sw, "--state-dir", state, "--heartbeat-ms", "200", NULL) == 0);
    xsp_error_t err;

    xsp_client_opts_t co = { .endpoint = sw.endpoint, .name = "toolstack", .identity = "toolstack-1" };
    xsp_client_t *c = xsp_client_new_opts(&co, &err);
    CHECK_MSG(c, "%s", err.msg);
    xsp_client_t *anon = xsp_client_new(sw.endpoint, "anon", &err);
    CHECK_MSG(anon, "%s", err.msg);

    xsp_call_opts_t po = { .flags = XSP_CALL_PERSISTENT, .timeout_ms = 60000, .dbg = "durable" };
    uint64_t ids[NCALLS], anon_id;
    for (int i = 0; i < NCALLS; i++) {
        char body[32];
        int n = snprintf(body, sizeof body, "body-%d", i);
        CHECK_EQ(xsp_client_send(c, "work", body, (size_t) n, &po, done, (void *) (intptr_t) i,
                                 &ids[i], &err), XSP_OK);
    }
    CHECK_EQ(xsp_client_send(anon, "work", "anon", 4, &po, anon_done_fn, NULL, &anon_id, &err), XSP_OK);

    /* wait until the switch has journaled (ACCEPTED) every one */
    xsp_client_t *both[2] = { c, anon };
    long long until = xsp_test_now_ms() + slow(10000);
    int accepted = 0;
    while (xsp_test_now_ms() < until) {
        pump(both, 2, NULL, 20);
        accepted = xsp_client_accepted(anon, anon_id);
        for (int i = 0; i < NCALLS; i++)
            accepted += xsp_client_accepted(c, ids[i]);
        if (accepted == NCALLS + 1)
            break;
    }
    CHECK_MSG(accepted == NCALLS + 1, "only %d of %d calls ACCEPTED", accepted, NCALLS + 1);
    CHECK(!xsp_client_accepted(c, 0));
    fprintf(stderr, "all %d persistent calls accepted; SIGKILL the switch\n", NCALLS + 1);

    xsp_test_switch_kill(&sw);
    CHECK(xsp_test_switch_restart(&sw) == 0);
    xsp_server_t *s = xsp_server_new(sw.endpoint, "worker", NULL, 0, &err);
    CHECK_MSG(s, "%s", err.msg);
    CHECK_EQ(xsp_server_subscribe(s, "work", 8, handler, NULL, &err), XSP_OK);

    until = xsp_test_now_ms() + slow(20000);
    int answered = 0;
    while (xsp_test_now_ms() < until && (answered < NCALLS || !anon_done)) {
        pump(both, 2, s, 20);
        answered = 0;
        for (int i = 0; i < NCALLS; i++)
            answered += ok_count[i];
    }
    CHECK_MSG(answered == NCALLS, "%d of %d accepted calls answered after the restart", answered, NCALLS);
    CHECK_MSG(anon_done, "the identity-less client's call never completed");
    CHECK_MSG(anon_err.code == XSP_E_DISCONNECTED && strstr(anon_err.msg, "identity"),
              "identity-less call ended with %s: %s", xsp_code_name(anon_err.code), anon_err.msg);
    /* the switch still ran it: the server sees NCALLS + 1 requests (and no duplicates) */
    until = xsp_test_now_ms() + slow(10000);
    while (xsp_test_now_ms() < until && served < NCALLS + 1)
        pump(both, 2, s, 20);
    CHECK_MSG(served == NCALLS + 1, "the server answered %d requests, expected %d", served, NCALLS + 1);
    CHECK_EQ(xsp_client_outstanding(c), 0);
    CHECK_EQ(xsp_client_outstanding(anon), 0);
    fprintf(stderr, "after the restart: %d/%d answered exactly once; identity-less: %s\n",
            answered, NCALLS, xsp_code_name(anon_err.code));

    /* A new life with the same identity: the call of the previous life (journaled, its
       client gone) is answered to the new process, which must not take it for one of its
       own calls: its call ids start elsewhere. */
    xsp_client_destroy(&anon);
    xsp_server_destroy(&s);                         /* nobody serves "later" for now */
    uint64_t old_id;
    CHECK_EQ(xsp_client_send(c, "later", "old", 3, &po, done, (void *) (intptr_t) 0, &old_id, &err), XSP_OK);
    until = xsp_test_now_ms() + slow(10000);
    while (xsp_test_now_ms() < until && !xsp_client_accepted(c, old_id))
        pump(&c, 1, NULL, 20);
    CHECK(xsp_client_accepted(c, old_id));
    xsp_client_destroy(&c);                         /* the process "dies" */
    c = xsp_client_new_opts(&co, &err);
    CHECK_MSG(c, "%s", err.msg);
    uint64_t new_id;
    CHECK_EQ(xsp_client_send(c, "other", "new", 3, &(xsp_call_opts_t) { .timeout_ms = 60000 },
                             anon_done_fn, NULL, &new_id, &err), XSP_OK);
    CHECK_MSG(new_id != old_id, "the new life reused call id %llu", (unsigned long long) old_id);
    s = xsp_server_new(sw.endpoint, "worker2", NULL, 0, &err);
    CHECK_MSG(s, "%s", err.msg);
    CHECK_EQ(xsp_server_subscribe(s, "later", 8, handler, NULL, &err), XSP_OK);
    int before = served;
    until = xsp_test_now_ms() + slow(10000);
    while (xsp_test_now_ms() < until && served == before)
        pump(&c, 1, s, 20);
    CHECK_MSG(served == before + 1, "the previous life's call was not run");
    for (int i = 0; i < 10; i++)
        pump(&c, 1, s, 20);                         /* its answer arrives and is dropped */
    CHECK_EQ(done_count[0], 1);                     /* not completed a second time */
    CHECK_EQ(xsp_client_outstanding(c), 1);         /* our own "other" call still waits */
    CHECK(xsp_client_cancel(c, new_id) == 0);

    xsp_client_destroy(&c);
    xsp_server_destroy(&s);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

/*  test_sdk_async.c — 500 calls in flight from a plain poll() loop, no threads.

    The echo server runs in a forked child process (forked before any ZeroMQ context
    exists), so this process only has the client and its poll loop.  Every body carries
    its index; every callback must run exactly once, with its own body. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xsp/xsp.h"
#include "xsp_test.h"

#define N 500

static int done_count[N];
static int completed, failures;

static void echo(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void) s;
    (void) arg;
    xsp_request_reply(req, XSP_STATUS_OK, xsp_request_body(req), xsp_request_size(req));
}

static pid_t fork_server(const char *endpoint)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);   /* never outlive the test */
        xsp_error_t err;
        xsp_server_t *s = xsp_server_new(endpoint, "async-echo", "server", 0, &err);
        if (!s || xsp_server_subscribe(s, "echo", 32, echo, NULL, &err) != XSP_OK) {
            fprintf(stderr, "server: %s\n", err.msg);
            _exit(1);
        }
        xsp_server_run(s);      /* until SIGTERM */
        xsp_server_destroy(&s);
        _exit(0);
    }
    return pid;
}

static void done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_reply_t *r, void *arg)
{
    (void) c;
    (void) id;
    int i = (int) (intptr_t) arg;
    CHECK(i >= 0 && i < N);
    done_count[i]++;
    completed++;
    char want[32];
    int n = snprintf(want, sizeof want, "body-%d", i);
    if (err->code != XSP_OK || r->len != (size_t) n || memcmp(r->body, want, (size_t) n) != 0) {
        fprintf(stderr, "call %d: %s: %s (len %zu)\n", i, xsp_code_name(err->code), err->msg, r->len);
        failures++;
    }
}

int main(void)
{
    xsp_test_switch_t sw;
    CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "100", NULL) == 0);
    pid_t server = fork_server(sw.endpoint);

    xsp_error_t err;
    xsp_client_t *c = xsp_client_new(sw.endpoint, "async-client", &err);
    CHECK_MSG(c, "%s", err.msg);

    uint64_t ids[N];
    for (int i = 0; i < N; i++) {
        char body[32];
        int n = snprintf(body, sizeof body, "body-%d", i);
        CHECK_EQ(xsp_client_send(c, "echo", body, (size_t) n, NULL, done, (void *) (intptr_t) i,
                                 &ids[i], &err), XSP_OK);
        CHECK(ids[i] != 0);
        CHECK(i == 0 || ids[i] != ids[i - 1]);
    }
    CHECK_EQ(xsp_client_outstanding(c), N);
    CHECK_EQ(completed, 0);     /* callbacks only ever run inside process() */

    long long end = xsp_test_now_ms() + 20000;
    while (completed < N && xsp_test_now_ms() < end) {
        struct pollfd p = { .fd = xsp_client_fd(c), .events = POLLIN };
        int t = xsp_client_timeout_ms(c);
        CHECK(t >= 0);
        poll(&p, 1, t > 1000 ? 1000 : t);
        xsp_client_process(c);
    }
    CHECK_EQ(completed, N);
    CHECK_EQ(failures, 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ(done_count[i], 1);
    CHECK_EQ(xsp_client_outstanding(c), 0);

    /* cancel: the callback never runs, even when the answer arrives */
    uint64_t id;
    completed = 0;
    CHECK_EQ(xsp_client_send(c, "echo", "body-0", 6, NULL, done, (void *) 0, &id, &err), XSP_OK);
    CHECK_EQ(xsp_client_cancel(c, id), 0);
    CHECK_EQ(xsp_client_cancel(c, id), -1);
    long long stop = xsp_test_now_ms() + 300;
    while (xsp_test_now_ms() < stop)
        xsp_client_wait(c, 50);
    CHECK_EQ(completed, 0);

    xsp_client_destroy(&c);
    kill(server, SIGTERM);
    int status;
    CHECK(waitpid(server, &status, 0) == server);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

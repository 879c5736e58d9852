/*  test_sdk_errors.c — errors are values: expired, queue-full, too-large, the caller's
    own timeout, no switch, bad arguments; a switch started with small limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsp/xsp.h"
#include "xsp_test.h"

static int ndone;
static xsp_error_t last[8];

static void done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_reply_t *r, void *arg)
{
    (void) c;
    (void) id;
    (void) r;
    last[(intptr_t) arg] = *err;
    ndone++;
}

int main(void)
{
    xsp_test_switch_t sw;
    CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "100", "--max-depth", "2",
                                "--max-payload", "1024", NULL) == 0);
    xsp_error_t err;
    xsp_client_t *c = xsp_client_new(sw.endpoint, "err-client", &err);
    CHECK_MSG(c, "%s", err.msg);
    CHECK_EQ(xsp_client_max_payload(c), 1024);
    xsp_reply_t r;

    /* expired: the switch's deadline passes with no server */
    xsp_call_opts_t o = { .timeout_ms = 200, .dbg = "expire-me" };
    long long t0 = xsp_test_now_ms();
    CHECK_EQ(xsp_client_call(c, "nobody", "x", 1, &o, &r, &err), XSP_E_EXPIRED);
    long long took = xsp_test_now_ms() - t0;
    CHECK_CODE(err, XSP_E_EXPIRED);
    CHECK(err.msg[0] != '\0');
    CHECK_MSG(took >= 180 && took < 5000, "took %lld ms", took);   /* 200 ms, not a default */
    CHECK(r.body == NULL && r.len == 0);

    /* the caller's own timeout: no switch deadline reached yet */
    xsp_call_opts_t w = { .timeout_ms = 10000, .wait_ms = 200 };
    t0 = xsp_test_now_ms();
    CHECK_EQ(xsp_client_call(c, "nobody", "x", 1, &w, &r, &err), XSP_E_TIMEOUT);
    took = xsp_test_now_ms() - t0;
    CHECK_MSG(took >= 180 && took < 5000, "took %lld ms", took);   /* wait_ms, not timeout_ms */
    CHECK(strstr(err.msg, "nobody") != NULL);

    /* too-large: caught locally from WELCOME's max_payload */
    char *big = calloc(1, 2000);
    CHECK(big);
    CHECK_EQ(xsp_client_call(c, "nobody", big, 1025, NULL, &r, &err), XSP_E_TOO_LARGE);
    CHECK_EQ(xsp_client_send(c, "nobody", big, 2000, NULL, done, NULL, NULL, &err), XSP_E_TOO_LARGE);
    CHECK_EQ(ndone, 0);     /* refused at once: no callback */
    free(big);

    /* queue-full: depth 2, the third waiting request is refused by the switch */
    xsp_call_opts_t longo = { .timeout_ms = 5000 };
    for (intptr_t i = 0; i < 3; i++)
        CHECK_EQ(xsp_client_send(c, "full", "x", 1, &longo, done, (void *) i, NULL, &err), XSP_OK);
    long long end = xsp_test_now_ms() + 3000;
    while (ndone < 1 && xsp_test_now_ms() < end)
        xsp_client_wait(c, 50);
    CHECK_EQ(ndone, 1);
    CHECK_CODE(last[2], XSP_E_QUEUE_FULL);
    CHECK_EQ(xsp_client_outstanding(c), 2);

    /* a sync call with a refused request returns the switch's code too */
    CHECK_EQ(xsp_client_call(c, "full", "x", 1, &longo, &r, &err), XSP_E_QUEUE_FULL);
    CHECK(strlen(err.msg) > 0);

    /* invalid arguments are caught before sending */
    CHECK_EQ(xsp_client_call(c, "no spaces", "x", 1, NULL, &r, &err), XSP_E_INVALID_ARGUMENT);
    CHECK_EQ(xsp_client_call(c, "q", NULL, 5, NULL, &r, &err), XSP_E_INVALID_ARGUMENT);
    char longdbg[1100];
    memset(longdbg, 'd', sizeof longdbg - 1);
    longdbg[sizeof longdbg - 1] = '\0';
    xsp_call_opts_t bd = { .dbg = longdbg };
    CHECK_EQ(xsp_client_call(c, "q", "x", 1, &bd, &r, &err), XSP_E_INVALID_ARGUMENT);

    /* cancel the two waiting ones: no callbacks */
    xsp_client_destroy(&c);
    CHECK_EQ(ndone, 1);

    /* no switch at all: a clear error within the connect timeout */
    char dir[256], ep[300];
    CHECK(xsp_test_tmpdir(dir, sizeof dir));
    snprintf(ep, sizeof ep, "ipc://%s/none.sock", dir);
    xsp_client_opts_t co = { .endpoint = ep, .connect_timeout_ms = 300 };
    t0 = xsp_test_now_ms();
    CHECK(xsp_client_new_opts(&co, &err) == NULL);
    took = xsp_test_now_ms() - t0;
    CHECK_CODE(err, XSP_E_DISCONNECTED);
    CHECK(strstr(err.msg, "no switch answered at") && strstr(err.msg, ep) && strstr(err.msg, "300 ms"));
    CHECK(took >= 290 && took < 5000);

    /* bad endpoint */
    CHECK(xsp_client_new("nonsense://x", "x", &err) == NULL);
    CHECK_CODE(err, XSP_E_INVALID_ARGUMENT);

    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

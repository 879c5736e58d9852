/*  test_sdk_roundtrip.c — synchronous calls client -> switch -> server and back.

    A server thread serves `echo` (answers with the body), `meta` (answers with what the
    server saw: dbg, caller domid and peer id, flags) and `fail` (answers status 1).
    The client checks bodies of 0, 64 and ~1 MiB bytes, and the error-reply path. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "xsp/xsp.h"
#include "xsp_test.h"

/*  Whether `xsp diag` on the switch at ep lists the peer `label` (name#id). */
static bool peer_listed(const char *ep, const char *label)
{
    char bin[512], cmd[1200], line[512], want[160];
    xsp_test_bin("xsp", bin, sizeof bin);
    snprintf(cmd, sizeof cmd, "'%s' --switch '%s' diag 2>&1", bin, ep);
    snprintf(want, sizeof want, " %s ", label);
    FILE *f = popen(cmd, "r");
    CHECK(f);
    bool found = false, ok = false;
    while (fgets(line, sizeof line, f)) {
        found = found || strstr(line, want) != NULL;
        ok = ok || strncmp(line, "peers (", 7) == 0;
    }
    CHECK_MSG(pclose(f) == 0 && ok, "%s failed", cmd);
    return found;
}

static void echo(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void) s;
    (void) arg;
    xsp_request_reply(req, XSP_STATUS_OK, xsp_request_body(req), xsp_request_size(req));
}

static void meta(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void) s;
    (void) arg;
    char buf[1200];
    int n = snprintf(buf, sizeof buf, "queue=%s dbg=%s domid=%u peer=%llu flags=%u left=%s",
                     xsp_request_queue(req), xsp_request_dbg(req), xsp_request_domid(req),
                     (unsigned long long) xsp_request_peer_id(req), xsp_request_flags(req),
                     xsp_request_time_left_ms(req) > 0 ? "yes" : "no");
    xsp_request_reply(req, XSP_STATUS_OK, buf, (size_t) n);
}

static void fail(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void) s;
    (void) arg;
    xsp_request_reply(req, XSP_STATUS_ERROR, "no such volume", 14);
}

static void *serve(void *arg)
{
    xsp_server_run(arg);
    return NULL;
}

int main(void)
{
    xsp_test_switch_t sw;
    CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "100", NULL) == 0);

    xsp_error_t err;
    xsp_server_t *srv = xsp_server_new(sw.endpoint, "rt-server", "server", 0, &err);
    CHECK_MSG(srv, "%s", err.msg);
    CHECK(xsp_server_subscribe(srv, "echo", 4, echo, NULL, &err) == XSP_OK);
    CHECK(xsp_server_subscribe(srv, "meta", 1, meta, NULL, &err) == XSP_OK);
    CHECK(xsp_server_subscribe(srv, "fail", 1, fail, NULL, &err) == XSP_OK);
    CHECK(xsp_server_subscribe(srv, "bad name!", 1, fail, NULL, &err) == XSP_E_INVALID_ARGUMENT);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, serve, srv) == 0);

    xsp_client_opts_t co = { .endpoint = sw.endpoint, .name = "rt-client", .domid = 7 };
    xsp_client_t *c = xsp_client_new_opts(&co, &err);
    CHECK_MSG(c, "%s", err.msg);
    CHECK(xsp_client_connected(c));
    CHECK(xsp_client_peer_id(c) > 0);
    CHECK(xsp_client_max_payload(c) == 1048576);

    size_t sizes[] = { 0, 64, 1000000 };
    unsigned char *big = malloc(1000000);
    CHECK(big);
    for (size_t i = 0; i < 1000000; i++)
        big[i] = (unsigned char) (i * 7 + 3);
    uint64_t last_msg_id = 0;
    for (size_t k = 0; k < 3; k++) {
        xsp_reply_t r;
        int rc = xsp_client_call(c, "echo", sizes[k] ? big : NULL, sizes[k], NULL, &r, &err);
        CHECK_CODE(err, XSP_OK);
        CHECK_EQ(rc, XSP_OK);
        CHECK_EQ(r.status, 0);
        CHECK_EQ(r.len, sizes[k]);
        CHECK(sizes[k] == 0 ? r.body == NULL : memcmp(r.body, big, sizes[k]) == 0);
        CHECK(r.msg_id > last_msg_id);
        last_msg_id = r.msg_id;
        xsp_reply_dispose(&r);
        CHECK(r.body == NULL && r.len == 0);
    }

    /* what the server sees */
    xsp_call_opts_t o = { .timeout_ms = 5000, .dbg = "task-42 op=attach", .flags = XSP_CALL_AT_MOST_ONCE };
    xsp_reply_t r;
    CHECK_EQ(xsp_client_call(c, "meta", "x", 1, &o, &r, &err), XSP_OK);
    char want[256];
    snprintf(want, sizeof want, "queue=meta dbg=task-42 op=attach domid=7 peer=%llu flags=1 left=yes",
             (unsigned long long) xsp_client_peer_id(c));
    CHECK(r.len == strlen(want) && memcmp(r.body, want, r.len) == 0);
    xsp_reply_dispose(&r);

    /* a server's error answer: XSP_E_APPLICATION with the body */
    CHECK_EQ(xsp_client_call(c, "fail", "v1", 2, NULL, &r, &err), XSP_E_APPLICATION);
    CHECK_CODE(err, XSP_E_APPLICATION);
    CHECK_EQ(r.status, 1);
    CHECK(r.len == 14 && memcmp(r.body, "no such volume", 14) == 0);
    xsp_reply_dispose(&r);

    /* local argument checks */
    CHECK_EQ(xsp_client_call(c, "bad queue", "x", 1, NULL, &r, &err), XSP_E_INVALID_ARGUMENT);
    CHECK_EQ(xsp_client_call(c, "", "x", 1, NULL, &r, &err), XSP_E_INVALID_ARGUMENT);
    /* the client remembers the last valid name: a buffer that held it and now holds a bad
       one (or a longer one with it as prefix) must still be refused */
    char qbuf[XSP_QUEUE_MAX + 2];
    snprintf(qbuf, sizeof qbuf, "meta");
    CHECK_EQ(xsp_client_call(c, qbuf, "x", 1, &o, &r, &err), XSP_OK);
    xsp_reply_dispose(&r);
    qbuf[2] = ' ';
    CHECK_EQ(xsp_client_call(c, qbuf, "x", 1, NULL, &r, &err), XSP_E_INVALID_ARGUMENT);
    snprintf(qbuf, sizeof qbuf, "meta x");
    CHECK_EQ(xsp_client_call(c, qbuf, "x", 1, NULL, &r, &err), XSP_E_INVALID_ARGUMENT);
    memset(qbuf, 'm', XSP_QUEUE_MAX + 1);           /* one byte over the limit */
    qbuf[XSP_QUEUE_MAX + 1] = '\0';
    CHECK_EQ(xsp_client_call(c, qbuf, "x", 1, NULL, &r, &err), XSP_E_INVALID_ARGUMENT);
    CHECK(r.body == NULL);
    CHECK_EQ(xsp_client_outstanding(c), 0);

    /* a synchronous client idle for more than 3 heartbeat intervals (nobody ran its loop):
       the switch has ended its session; the next call says HELLO again by itself */
    uint64_t peer_before = xsp_client_peer_id(c);
    char label[64];
    snprintf(label, sizeof label, "rt-client#%llu", (unsigned long long) peer_before);
    CHECK(peer_listed(sw.endpoint, label));
    long long idle0 = xsp_test_now_ms();
    while (peer_listed(sw.endpoint, label) && xsp_test_now_ms() - idle0 < 20000)
        usleep(50000);
    CHECK_MSG(!peer_listed(sw.endpoint, label), "the switch kept the idle client's session");
    CHECK_EQ(xsp_client_call(c, "echo", "idle", 4, NULL, &r, &err), XSP_OK);
    CHECK(r.len == 4 && memcmp(r.body, "idle", 4) == 0);
    xsp_reply_dispose(&r);
    CHECK(xsp_client_peer_id(c) != peer_before);

    xsp_client_destroy(&c);
    CHECK(c == NULL);
    xsp_server_stop(srv);
    pthread_join(th, NULL);
    xsp_server_destroy(&srv);
    free(big);

    /* a client and a server sharing the application's libzmq context (one I/O thread):
       calls work, and neither terminates the lent context (zmq_ctx_term would block or
       fail if a session had left a socket open; a second term would fail) */
    void *zctx = zmq_ctx_new();
    CHECK(zctx != NULL);
    xsp_server_opts_t so = { .endpoint = sw.endpoint, .name = "shared-srv", .zmq_ctx = zctx };
    srv = xsp_server_new_opts(&so, &err);
    CHECK_MSG(srv, "%s", err.msg);
    CHECK_EQ(xsp_server_subscribe(srv, "echo", 4, echo, NULL, &err), XSP_OK);
    CHECK(pthread_create(&th, NULL, serve, srv) == 0);
    xsp_client_opts_t sco = { .endpoint = sw.endpoint, .name = "shared-cli", .zmq_ctx = zctx };
    c = xsp_client_new_opts(&sco, &err);
    CHECK_MSG(c, "%s", err.msg);
    CHECK_EQ(xsp_client_call(c, "echo", "shared", 6, NULL, &r, &err), XSP_OK);
    CHECK(r.len == 6 && memcmp(r.body, "shared", 6) == 0);
    xsp_reply_dispose(&r);
    xsp_client_destroy(&c);
    xsp_server_stop(srv);
    pthread_join(th, NULL);
    xsp_server_destroy(&srv);
    CHECK_EQ(zmq_ctx_term(zctx), 0);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

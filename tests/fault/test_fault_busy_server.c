/*  test_fault_busy_server — a server whose inline handler is slow keeps its session.

    Found by fault.soak: a server answering in its event loop (handlers run inside
    xsp_server_process) with a steady stream of requests never sees EAGAIN, so one
    xsp_server_process call handles up to a whole batch (1024 messages).  The session used
    the clock read at the start of that call as the time of every message received in it;
    at the end, with the call lasting more than 3 heartbeats, it concluded the switch had
    been silent, dropped a healthy session and reconnected (requests in flight requeued,
    AT_MOST_ONCE ones failed server-lost).

    Real switch (heartbeat 100 ms, so 300 ms of "silence" ends a session), one server on
    queue busy with an inline handler taking 2 ms and credit 8, and a client keeping 64
    calls in flight for 3 s (several batches' worth of handler time past the 300 ms).
    Checks: every call answered OK; the server kept one session all along (its peer id never
    changed; the switch saw no peer go down).
*/
#define _GNU_SOURCE
#include <msgpack.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xsp/client.h"
#include "xsp/server.h"
#include "xsp_test.h"

static xsp_test_switch_t sw;
static atomic_bool stop;
static atomic_uint_fast64_t peer_changes;

static void handler(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void) s;
    (void) arg;
    usleep(2000);
    xsp_request_reply(req, XSP_STATUS_OK, xsp_request_body(req), xsp_request_size(req));
}

static void *server_main(void *arg)
{
    xsp_server_t *s = arg;
    uint64_t id = xsp_server_peer_id(s);
    while (!atomic_load(&stop)) {
        struct pollfd p = { .fd = xsp_server_fd(s), .events = POLLIN };
        int t = xsp_server_timeout_ms(s);
        poll(&p, 1, t < 0 || t > 50 ? 50 : t);
        xsp_server_process(s);
        uint64_t now = xsp_server_peer_id(s);
        if (now != id) {
            atomic_fetch_add(&peer_changes, 1);
            id = now;
        }
    }
    return NULL;
}

static unsigned outstanding, ok, failed;

static void done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_reply_t *r, void *arg)
{
    (void) c;
    (void) id;
    (void) r;
    (void) arg;
    outstanding--;
    if (err->code == XSP_OK)
        ok++;
    else {
        failed++;
        fprintf(stderr, "call failed: %s: %s\n", xsp_code_name(err->code), err->msg);
    }
}

static uint64_t peers_down(xsp_client_t *c)
{
    void *data;
    size_t len;
    xsp_error_t err;
    CHECK_MSG(xsp_client_diag(c, 5000, &data, &len, &err) == XSP_OK, "diag: %s", err.msg);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    CHECK(msgpack_unpack_next(&up, data, len, NULL) == MSGPACK_UNPACK_SUCCESS);
    uint64_t v = UINT64_MAX;
    const msgpack_object_map *m = &up.data.via.map;
    for (uint32_t i = 0; i < m->size; i++)
        if (m->ptr[i].key.via.str.size == 8 && !memcmp(m->ptr[i].key.via.str.ptr, "counters", 8)) {
            const msgpack_object_map *cm = &m->ptr[i].val.via.map;
            for (uint32_t j = 0; j < cm->size; j++)
                if (cm->ptr[j].key.via.str.size == 10 && !memcmp(cm->ptr[j].key.via.str.ptr, "peers_down", 10))
                    v = cm->ptr[j].val.via.u64;
        }
    msgpack_unpacked_destroy(&up);
    free(data);
    CHECK_MSG(v != UINT64_MAX, "DIAG has no counters.peers_down");
    return v;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "100", NULL) == 0);
    xsp_error_t err;
    xsp_server_t *s = xsp_server_new(sw.endpoint, "busy-server", NULL, 0, &err);
    CHECK_MSG(s, "%s", err.msg);
    CHECK_EQ(xsp_server_subscribe(s, "busy", 8, handler, NULL, &err), XSP_OK);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, server_main, s) == 0);
    xsp_client_t *c = xsp_client_new(sw.endpoint, "busy-client", &err);
    CHECK_MSG(c, "%s", err.msg);

    long long end = xsp_test_now_ms() + 3000;
    uint64_t n = 0;
    while (xsp_test_now_ms() < end) {
        while (outstanding < 64) {
            xsp_call_opts_t o = { .timeout_ms = 10000 };
            n++;
            CHECK_EQ(xsp_client_send(c, "busy", &n, sizeof n, &o, done, NULL, NULL, &err), XSP_OK);
            outstanding++;
        }
        xsp_client_wait(c, 20);
    }
    while (outstanding)
        xsp_client_wait(c, 50);
    uint64_t down = peers_down(c);
    atomic_store(&stop, true);
    pthread_join(th, NULL);
    printf("  %llu calls: %u ok, %u failed; the server's session changed %llu times; the switch "
           "saw %llu peers go down\n", (unsigned long long) n, ok, failed,
           (unsigned long long) atomic_load(&peer_changes), (unsigned long long) down);
    CHECK_EQ(failed, 0);
    CHECK_EQ(atomic_load(&peer_changes), 0);
    CHECK_EQ(down, 0);
    printf("ok 1 - a server with a slow inline handler under a steady stream keeps its session\n");
    xsp_client_destroy(&c);
    xsp_server_destroy(&s);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    return 0;
}

/*  test_sw_concurrent.c — many clients, many outstanding requests, two servers.

    many_clients   8 client threads (own sockets) each send 500 requests at once with
                   corr 0..499 (the SAME corr values in every client) to one queue served
                   by 2 server threads; payloads encode client+index and have varied
                   lengths; servers answer with the payload plus a suffix.  Every client
                   gets exactly one RESULT per corr, carrying its own payload (none lost,
                   none duplicated, none crossed), and nothing after; both servers worked;
                   DIAG counters add up (sent = replied = 4000, queue empty).
    multiplexed    the same with one thread polling 8 clients and 2 servers (zmq_poll),
                   replies out of order (servers answer batches in reverse)
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "rawpeer.h"
#include "swdiag.h"

#define NCLIENTS 8
#define NREQ 500
#define QUEUE "conc"

static const char *endpoint;
static atomic_int servers_stop;
static atomic_ulong served[2];

static size_t make_payload(int client, int idx, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "client=%d;idx=%d;", client, idx);
    int fill = (client * 131 + idx * 17) % 200;     /* 0..199 extra bytes */
    for (int i = 0; i < fill && (size_t) n + 1 < cap; i++)
        buf[n++] = (char) ('a' + (client + idx + i) % 26);
    return (size_t) n;
}

static void check_result(int client, const rp_msg_t *r, unsigned char *seen)
{
    CHECKF(r->h.cmd == XSP_CMD_RESULT, "client %d got %s", client, xsp_cmd_name(r->h.cmd));
    CHECKF(r->h.corr < NREQ, "client %d: corr %llu out of range", client, (unsigned long long) r->h.corr);
    int idx = (int) r->h.corr;
    CHECKF(!seen[idx], "client %d: a second RESULT for corr %d", client, idx);
    seen[idx] = 1;
    CHECK_U(r->h.status, ==, 0);
    char want[512];
    size_t n = make_payload(client, idx, want, sizeof want);
    CHECKF(r->payload_len == n + 3 && memcmp(r->payload, want, n) == 0 &&
               (memcmp(r->payload + n, "|s0", 3) == 0 || memcmp(r->payload + n, "|s1", 3) == 0),
           "client %d corr %d: got payload '%.*s', want '%.*s|sN'", client, idx, (int) r->payload_len,
           (const char *) r->payload, (int) n, want);
}

static void *client_thread(void *arg)
{
    int client = (int) (intptr_t) arg;
    char name[32];
    snprintf(name, sizeof name, "client-%d", client);
    rp_t *c = rp_open(endpoint, name, "client");
    char buf[512];
    for (int i = 0; i < NREQ; i++) {
        size_t n = make_payload(client, i, buf, sizeof buf);
        rp_request(c, (uint64_t) i, QUEUE, 0, 0, name, buf, n);
    }
    unsigned char seen[NREQ] = { 0 };
    rp_msg_t r = { 0 };
    for (int got = 0; got < NREQ; got++) {
        if (!rp_recv(c, &r, swt_ms(15000)))
            FAILF("client %d: only %d of %d results arrived", client, got, NREQ);
        check_result(client, &r, seen);
    }
    rp_msg_clear(&r);
    rp_expect_nothing(c, 300);          /* no duplicates trickling in */
    rp_bye(c);
    return NULL;
}

static void *server_thread(void *arg)
{
    int s = (int) (intptr_t) arg;
    char name[32];
    snprintf(name, sizeof name, "server-%d", s);
    rp_t *p = rp_open(endpoint, name, "server");
    rp_subscribe(p, QUEUE, 16);
    rp_msg_t d = { 0 };
    char buf[600];
    while (!atomic_load(&servers_stop)) {
        if (!rp_recv(p, &d, 50))
            continue;
        CHECKF(d.h.cmd == XSP_CMD_DELIVER, "server %d got %s", s, xsp_cmd_name(d.h.cmd));
        CHECK(d.payload_len + 3 < sizeof buf);
        memcpy(buf, d.payload, d.payload_len);
        snprintf(buf + d.payload_len, 4, "|s%d", s);
        rp_reply(p, d.h.msg_id, 0, buf, d.payload_len + 3);
        atomic_fetch_add(&served[s], 1);
    }
    rp_msg_clear(&d);
    rp_bye(p);
    return NULL;
}

static void check_totals(rp_t *obs)
{
    swd_t *d = swd_fetch(obs);
    CHECK_U(swd_u(d, "counters.sent"), ==, NCLIENTS * NREQ);
    CHECK_U(swd_u(d, "counters.replied"), ==, NCLIENTS * NREQ);
    CHECK_U(swd_u(d, "counters.late_replies"), ==, 0);
    CHECK_U(swd_u(d, "counters.errors"), ==, 0);
    const msgpack_object *q = swd_queue(d, QUEUE);
    CHECK(q);
    CHECK_U(swd_obj_u(q, "depth"), ==, 0);
    CHECK_U(swd_obj_u(q, "inflight"), ==, 0);
    CHECK_U(swd_obj_u(q, "replied"), ==, NCLIENTS * NREQ);
    swd_free(d);
}

static void many_clients(void)
{
    swt_switch_t *sw = swt_start(NULL);
    endpoint = sw->endpoint;
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    pthread_t st[2], ct[NCLIENTS];
    for (int s = 0; s < 2; s++)
        pthread_create(&st[s], NULL, server_thread, (void *) (intptr_t) s);
    CHECK(WAIT_FOR(3000, swd_now_queue(obs, QUEUE, "consumers") == 2));
    for (int c = 0; c < NCLIENTS; c++)
        pthread_create(&ct[c], NULL, client_thread, (void *) (intptr_t) c);
    for (int c = 0; c < NCLIENTS; c++)
        pthread_join(ct[c], NULL);
    atomic_store(&servers_stop, 1);
    for (int s = 0; s < 2; s++)
        pthread_join(st[s], NULL);
    unsigned long s0 = atomic_load(&served[0]), s1 = atomic_load(&served[1]);
    swt_note("server 0 answered %lu, server 1 answered %lu", s0, s1);
    CHECK_U(s0 + s1, ==, NCLIENTS * NREQ);
    CHECK(s0 > 0 && s1 > 0);
    check_totals(obs);
    swt_stop(sw);
}

static void multiplexed(void)
{
    swt_switch_t *sw = swt_start(NULL);
    rp_t *obs = rp_open(sw->endpoint, "obs", "cli");
    rp_t *srv[2], *cli[NCLIENTS];
    for (int s = 0; s < 2; s++) {
        char name[32];
        snprintf(name, sizeof name, "mserver-%d", s);
        srv[s] = rp_open(sw->endpoint, name, "server");
        rp_subscribe(srv[s], QUEUE, 64);
    }
    CHECK(WAIT_FOR(3000, swd_now_queue(obs, QUEUE, "consumers") == 2));
    char buf[600];
    for (int c = 0; c < NCLIENTS; c++) {
        char name[32];
        snprintf(name, sizeof name, "mclient-%d", c);
        cli[c] = rp_open(sw->endpoint, name, "client");
    }
    /* interleave the clients' sends: request i of every client, then i+1 ... */
    for (int i = 0; i < NREQ; i++)
        for (int c = 0; c < NCLIENTS; c++) {
            size_t n = make_payload(c, i, buf, sizeof buf);
            rp_request(cli[c], (uint64_t) i, QUEUE, 0, 0, "", buf, n);
        }
    static unsigned char seen[NCLIENTS][NREQ];
    memset(seen, 0, sizeof seen);
    int results = 0, served_by[2] = { 0, 0 };
    rp_msg_t m = { 0 };
    uint64_t deadline = swt_now_ms() + swt_ms(20000);
    /* pending deliveries per server, answered in reverse batches */
    static rp_msg_t pend[2][64];
    int npend[2] = { 0, 0 };
    while (results < NCLIENTS * NREQ) {
        CHECKF(swt_now_ms() < deadline, "only %d of %d results arrived", results, NCLIENTS * NREQ);
        zmq_pollitem_t it[2 + NCLIENTS];
        for (int s = 0; s < 2; s++)
            it[s] = (zmq_pollitem_t) { srv[s]->sock, 0, ZMQ_POLLIN, 0 };
        for (int c = 0; c < NCLIENTS; c++)
            it[2 + c] = (zmq_pollitem_t) { cli[c]->sock, 0, ZMQ_POLLIN, 0 };
        zmq_poll(it, 2 + NCLIENTS, 20);
        rp_tick_all();
        for (int s = 0; s < 2; s++) {
            while (npend[s] < 64 && rp_poll_msg(srv[s], &pend[s][npend[s]])) {
                CHECK(pend[s][npend[s]].h.cmd == XSP_CMD_DELIVER);
                npend[s]++;
            }
            /* answer a whole batch newest first */
            for (int k = npend[s] - 1; k >= 0; k--) {
                rp_msg_t *d = &pend[s][k];
                memcpy(buf, d->payload, d->payload_len);
                buf[d->payload_len] = '|';          /* "|sN": N a one-digit server index */
                buf[d->payload_len + 1] = 's';
                buf[d->payload_len + 2] = (char) ('0' + s);
                rp_reply(srv[s], d->h.msg_id, 0, buf, d->payload_len + 3);
                rp_msg_clear(d);
                served_by[s]++;
            }
            npend[s] = 0;
        }
        for (int c = 0; c < NCLIENTS; c++)
            while (rp_poll_msg(cli[c], &m)) {
                check_result(c, &m, seen[c]);
                results++;
            }
    }
    rp_msg_clear(&m);
    for (int c = 0; c < NCLIENTS; c++)
        rp_expect_nothing(cli[c], c == 0 ? 300 : 10);
    swt_note("server 0 answered %d, server 1 answered %d", served_by[0], served_by[1]);
    CHECK(served_by[0] > 0 && served_by[1] > 0);
    check_totals(obs);
    swt_stop(sw);
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "many_clients", many_clients, false },
        { "multiplexed", multiplexed, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 50);
}

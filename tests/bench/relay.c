/*  relay.c — xsp-bench's hidden child modes: the bare relay and the direct echo server.

    Owns: `xsp-bench --relay ENDPOINT` and `xsp-bench --echo ENDPOINT`, each run as its own
    process (forked and exec'd by the bench, like the switch) so that every target pays the
    same process boundaries.
    Never touches: measurement; both just serve until SIGTERM.

    The bare relay is the ceiling for any switch on this transport: one ROUTER, a fixed
    route, no queues, no credit, no bookkeeping, no header decoding.
      server -> relay  [server-id, "xsp-bench-server"]          registers; answered "ok"
      client -> relay  [client-id, header, payload]             -> next server, round robin:
      relay -> server  [client-id, header, payload]                (client-id as a frame)
      server -> relay  [server-id, client-id, header, payload]  -> back by the client's id:
      relay -> client  [header, payload]
    Frames are moved with zmq_msg_send (zero copy), as a switch would.

    The direct echo is the floor: a ROUTER that answers every request itself, with the
    same server_answer() the bench's relay servers use, so a direct round trip differs from
    a relayed one only by the relay hop.
*/
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define RELAY_MAX_SERVERS 256

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void) sig;
    stopping = 1;
}

/*  Signals without SA_RESTART, so a blocking zmq call returns EINTR and we look at
    `stopping`. */
static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/*  A ROUTER bound to endpoint, with the switch's high-water mark (docs/protocol.md §9).
    The receive timeout makes the loop look at `stopping` even when SIGTERM was taken by
    one of libzmq's own threads. */
static void *bound_router(void *zctx, const char *endpoint)
{
    void *s = zmq_socket(zctx, ZMQ_ROUTER);
    int hwm = 10000, linger = 0, rcvtimeo = 100;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &rcvtimeo, sizeof rcvtimeo);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(s, endpoint)) {
        fprintf(stderr, "xsp-bench: bind %s: %s\n", endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

typedef struct {
    uint8_t id[256];
    size_t len;
} route_t;

static route_t servers[RELAY_MAX_SERVERS];

int relay_main(const char *endpoint)
{
    catch_signals();
    void *zctx = zmq_ctx_new();
    void *s = bound_router(zctx, endpoint);
    if (!s)
        return 1;
    printf(CHILD_READY_FMT, "relay", endpoint);
    fflush(stdout);

    size_t nservers = 0, rr = 0;
    unsigned long long dropped = 0;
    frames_t m;
    while (!stopping) {
        int n = frames_recv(s, &m, 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            fprintf(stderr, "xsp-bench relay: recv: %s\n", zmq_strerror(errno));
            break;
        }
        if (n == 4 && !m.truncated) {
            /* from a server: [server, client, header, payload] -> [client, header, payload] */
            zmq_msg_send(&m.f[1], s, ZMQ_SNDMORE);
            zmq_msg_send(&m.f[2], s, ZMQ_SNDMORE);
            zmq_msg_send(&m.f[3], s, 0);
        } else if (n == 3 && !m.truncated && nservers) {
            /* from a client: [client, header, payload] -> [server, client, header, payload] */
            route_t *r = &servers[rr];
            rr = rr + 1 == nservers ? 0 : rr + 1;
            zmq_send(s, r->id, r->len, ZMQ_SNDMORE);
            zmq_msg_send(&m.f[0], s, ZMQ_SNDMORE);
            zmq_msg_send(&m.f[1], s, ZMQ_SNDMORE);
            zmq_msg_send(&m.f[2], s, 0);
        } else if (n == 2 && zmq_msg_size(&m.f[1]) == strlen(RELAY_REGISTER)
                   && !memcmp(zmq_msg_data(&m.f[1]), RELAY_REGISTER, strlen(RELAY_REGISTER))
                   && nservers < RELAY_MAX_SERVERS && zmq_msg_size(&m.f[0]) <= sizeof servers[0].id) {
            route_t *r = &servers[nservers++];
            r->len = zmq_msg_size(&m.f[0]);
            memcpy(r->id, zmq_msg_data(&m.f[0]), r->len);
            zmq_msg_send(&m.f[0], s, ZMQ_SNDMORE);
            zmq_send(s, RELAY_REGISTERED, strlen(RELAY_REGISTERED), 0);
        } else
            dropped++;
        frames_close(&m);
    }
    if (dropped)
        fprintf(stderr, "xsp-bench relay: dropped %llu messages it could not route\n", dropped);
    zmq_close(s);
    zmq_ctx_term(zctx);
    return 0;
}

int echo_main(const char *endpoint)
{
    catch_signals();
    void *zctx = zmq_ctx_new();
    void *s = bound_router(zctx, endpoint);
    if (!s)
        return 1;
    printf(CHILD_READY_FMT, "echo", endpoint);
    fflush(stdout);

    peer_t p = { .sock = s, .proto = PROTO_ROUTED };
    char err[256];
    unsigned long long bad = 0;
    frames_t m;
    while (!stopping) {
        if (frames_recv(s, &m, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            fprintf(stderr, "xsp-bench echo: recv: %s\n", zmq_strerror(errno));
            break;
        }
        if (server_answer(&p, &m, NULL, 0, err, sizeof err) < 0 && ++bad <= 3)
            fprintf(stderr, "xsp-bench echo: %s\n", err);
        frames_close(&m);
    }
    zmq_close(s);
    zmq_ctx_term(zctx);
    return bad ? 1 : 0;
}

/*  sdk.c — the peers of the --sdk phases: the same load as load.c's raw peers, made through
    libxsp's typed storage API instead of hand-built frames.

    Owns: what an SDK phase sends and answers, and its client and server threads:
      client  an xsp_client_t (its own session; the libzmq context of the raw peers,
              lent through xsp_client_opts_t.zmq_ctx, so both kinds of peers have one
              I/O thread, unless --sdk-own-contexts), driven by its own poll() loop on
              xsp_client_fd() +
              xsp_client_process(); keeps `window` Datapath.attach calls outstanding with
              the GENERATED asynchronous stub xsp_datapath_attach_send(), starting the next
              call from each completion callback;
      server  an xsp_server_t subscribed to the queue with a handler that hands every
              request to the GENERATED dispatcher xsp_storage_dispatch() with an ops table
              whose only op, datapath_attach, answers at once with
              xsp_datapath_attach_reply(): a backend in domain 0 (source fixed) with one
              xen_disk implementation {backend_type "vbd", params = the call's uri}.
    Every completion is checked: XSP_OK, a backend, no error reply, domid 0, exactly one
    xen_disk implementation, backend_type "vbd", and params equal to the uri of THIS call.
    The uri carries the call's corr (the same slot/sequence scheme as the raw clients), so a
    result delivered to the wrong call is caught as surely as by the raw payload check.
    Also: the encoded sizes of that request and reply, for raw_same_payload (xsp-bench.c).
    Never touches: the phase timeline, counters' aggregation (load.c), processes, output.

    The switch sees exactly what the raw phases send it: REQUEST with the same queue, no
    dbg (the stub's dbg argument is NULL) and no deadline unless --timeout-ms, DELIVER,
    REPLY(msg_id, 0), RESULT.  So, against raw_same_payload, the difference is what the SDK
    costs inside xsp-bench: encoding and decoding the typed payloads, the client's call
    bookkeeping, the stub's context, the dispatcher, libxsp's sessions.
*/
#include "bench.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "xsp/client.h"
#include "xsp/server.h"
#include "xsp/stub.h"
#include "xsp/storage_client.h"
#include "xsp/storage_server.h"

#define SDK_DOMAIN "7"                  /* Datapath.attach's `domain` argument */
#define SDK_BACKEND_TYPE "vbd"
#define SDK_URI_MAX 64
#define POLL_MAX_MS 100                 /* look at the phase's flags at least this often */

/* ------------------------------------------------------------------ what is sent */

/*  uri = "file:///srv/xsp-bench/cNNN/" + 16 hex digits of the corr + ".img": a fixed
    length, so every request encodes to the same size.  Returns where the digits go. */
static size_t uri_init(char *uri, int client)
{
    int n = snprintf(uri, SDK_URI_MAX, "file:///srv/xsp-bench/c%03d/0000000000000000.img",
                     client % 1000);
    return (size_t) n - 20;
}

static void uri_set(char *uri, size_t at, uint64_t corr)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 14; i >= 0; i -= 2, corr >>= 8) {     /* a byte at a time */
        uri[at + (size_t) i] = hex[(corr >> 4) & 15];
        uri[at + (size_t) i + 1] = hex[corr & 15];
    }
}

/*  The answer to Datapath.attach(uri): impl and b only point at the strings. */
static void backend_for(xsp_backend_t *b, xsp_implementation_t *impl, const char *uri)
{
    memset(impl, 0, sizeof *impl);
    impl->kind = XSP_IMPLEMENTATION_XEN_DISK;
    impl->u.xen_disk.backend_type = (char *) SDK_BACKEND_TYPE;
    impl->u.xen_disk.params = (char *) uri;
    memset(b, 0, sizeof *b);
    b->domain.domid = 0;
    b->domain.source = XSP_BACKEND_DOMAIN_SOURCE_FIXED;
    b->implementations.len = 1;
    b->implementations.val = impl;
}

int sdk_payload_sizes(size_t *request, size_t *reply, char *err, size_t errlen)
{
    char uri[SDK_URI_MAX];
    uri_set(uri, uri_init(uri, 0), 1);
    /* the args exactly as xsp_datapath_attach_send() builds them (dbg NULL) */
    xsp_datapath_attach_args_t a;
    memset(&a, 0, sizeof a);
    a.uri = uri;
    a.domain = (char *) SDK_DOMAIN;
    xsp_error_t e;
    void *buf;
    if (xsp_stub_encode(&xsp_storage_methods[XSP_STORAGE_METHOD_DATAPATH_ATTACH], &a, &buf, request, &e)) {
        snprintf(err, errlen, "cannot encode a Datapath.attach request: %s", e.msg);
        return -1;
    }
    free(buf);
    /* the reply exactly as xsp_datapath_attach_reply() encodes it */
    xsp_backend_t b;
    xsp_implementation_t impl;
    backend_for(&b, &impl, uri);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int rc = xsp_datapath_attach_result_encode(&pk, &b, &e);
    *reply = sb.size;
    msgpack_sbuffer_destroy(&sb);
    if (rc) {
        snprintf(err, errlen, "cannot encode a Datapath.attach result: %s", e.msg);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ clients */

typedef struct sdk_client sdk_client_t;

typedef struct {
    sdk_client_t *sc;
    char uri[SDK_URI_MAX];      /* the uri of the call this slot holds */
} sdk_slot_t;

struct sdk_client {
    worker_t *w;
    xsp_client_t *c;
    xsp_call_opts_t opts;
    size_t hex_at;              /* where the corr goes in a uri */
    sdk_slot_t *slots;          /* parallel to w->slots */
};

static void send_call(sdk_client_t *sc);

static void attach_done(xsp_client_t *c, uint64_t call_id, const xsp_error_t *err, xsp_backend_t *b,
                        const xsp_error_reply_t *er, void *arg)
{
    (void) c;
    sdk_slot_t *ss = arg;
    sdk_client_t *sc = ss->sc;
    worker_t *w = sc->w;
    uint64_t t = w->samples ? now_ns() : 0;
    slot_t *sl = &w->slots[ss - sc->slots];
    if (!sl->corr) {
        worker_fault(w, "call %llu completed, but its slot holds no call", (unsigned long long) call_id);
        return;
    }
    uint64_t sent = sl->sent_ns;
    slot_release(w, sl);
    if (err->code != XSP_OK) {
        worker_fault(w, "Datapath.attach(%s): %s: %s", ss->uri, xsp_code_name(err->code), err->msg);
    } else {
        const xsp_implementation_t *impl = b && b->implementations.len == 1 ? &b->implementations.val[0] : NULL;
        if (!impl || er || b->domain.domid != 0 || b->domain.source != XSP_BACKEND_DOMAIN_SOURCE_FIXED
            || impl->kind != XSP_IMPLEMENTATION_XEN_DISK || !impl->u.xen_disk.params
            || strcmp(impl->u.xen_disk.params, ss->uri) || !impl->u.xen_disk.backend_type
            || strcmp(impl->u.xen_disk.backend_type, SDK_BACKEND_TYPE))
            worker_fault(w, "Datapath.attach(%s): not the backend asked for (params %s)", ss->uri,
                         impl && impl->kind == XSP_IMPLEMENTATION_XEN_DISK && impl->u.xen_disk.params
                         ? impl->u.xen_disk.params : "(none)");
        else
            client_count(w, sent, t);
    }
    if (!atomic_load_explicit(&w->L->stop_clients, memory_order_relaxed))
        send_call(sc);
}

static void send_call(sdk_client_t *sc)
{
    worker_t *w = sc->w;
    uint64_t corr;
    uint32_t slot = slot_take(w, &corr);
    sdk_slot_t *ss = &sc->slots[slot];
    uri_set(ss->uri, sc->hex_at, corr);
    xsp_error_t e;
    if (xsp_datapath_attach_send(sc->c, w->L->cfg->queue, &sc->opts, NULL, ss->uri, SDK_DOMAIN,
                                 attach_done, ss, NULL, &e)) {
        worker_fault(w, "xsp_datapath_attach_send: %s", e.msg);
        slot_release(w, &w->slots[slot]);
    }
}

/*  Wait for the fd (at most POLL_MAX_MS, less if libxsp wants to run sooner), process. */
static void client_turn(xsp_client_t *c, int max_ms)
{
    struct pollfd p = { .fd = xsp_client_fd(c), .events = POLLIN };
    int t = xsp_client_timeout_ms(c);
    poll(&p, 1, t < max_ms ? t : max_ms);
    xsp_client_process(c);
}

void *sdk_client_main(void *arg)
{
    worker_t *w = arg;
    load_t *L = w->L;
    const load_cfg_t *cfg = L->cfg;
    sdk_client_t sc = { .w = w };
    sc.slots = calloc((size_t) cfg->window, sizeof *sc.slots);
    if (!sc.slots) {
        snprintf(w->err, sizeof w->err, "out of memory");
        atomic_store(&w->state, ST_FAILED);
        return NULL;
    }
    for (int k = 0; k < cfg->window; k++) {
        sc.slots[k].sc = &sc;
        sc.hex_at = uri_init(sc.slots[k].uri, w->id);
    }
    /* the REQUEST's deadline as the raw clients set it: none unless --timeout-ms */
    sc.opts.timeout_ms = cfg->timeout_ms ? (uint32_t) cfg->timeout_ms : XSP_TIMEOUT_INFINITE;
    char name[64];
    snprintf(name, sizeof name, "xsp-bench-sdk-client-%d", w->id);
    xsp_error_t e;
    xsp_client_opts_t co = { .endpoint = cfg->endpoint, .name = name };
    if (!cfg->sdk_own_contexts)
        co.zmq_ctx = L->zctx;
    sc.c = xsp_client_new_opts(&co, &e);
    if (!sc.c) {
        snprintf(w->err, sizeof w->err, "xsp_client_new: %.200s", e.msg);
        free(sc.slots);
        atomic_store(&w->state, ST_FAILED);
        return NULL;
    }
    atomic_store(&w->state, ST_READY);
    while (!atomic_load(&L->go)) {
        if (atomic_load(&L->stop_clients))
            goto leave;
        client_turn(sc.c, 1);       /* keeps the session alive (heartbeats) */
    }

    for (int i = 0; i < cfg->window; i++)
        send_call(&sc);
    uint64_t drain_deadline = 0;
    for (;;) {
        if (atomic_load_explicit(&L->stop_clients, memory_order_relaxed)) {
            uint32_t left = (uint32_t) cfg->window - w->nfree;
            if (!left)
                break;
            uint64_t now = now_ns();
            if (!drain_deadline)
                drain_deadline = now + 3000000000u;
            else if (now > drain_deadline) {
                worker_fault(w, "%u calls never completed", left);
                w->errors += left - 1;
                break;
            }
        }
        client_turn(sc.c, POLL_MAX_MS);
    }
leave:
    xsp_client_destroy(&sc.c);      /* BYE */
    free(sc.slots);
    atomic_store(&w->state, ST_DONE);
    return NULL;
}

/* ------------------------------------------------------------------ servers */

typedef struct {
    worker_t *w;
    uint64_t answered;
} sdk_server_t;

static int sdk_attach(void *ctx, xsp_storage_call_t *call, const xsp_datapath_attach_args_t *args)
{
    sdk_server_t *ss = ctx;
    xsp_backend_t b;
    xsp_implementation_t impl;
    backend_for(&b, &impl, args->uri);
    int rc = xsp_datapath_attach_reply(call, &b);
    if (rc == XSP_OK)
        atomic_store_explicit(&ss->w->done, ++ss->answered, memory_order_relaxed);
    return rc;
}

static const xsp_storage_ops_t sdk_ops = { .datapath_attach = sdk_attach };

/*  What xsp_storage_handler does, plus counting what the dispatcher had to refuse. */
static void sdk_handler(xsp_server_t *server, xsp_request_t *req, void *arg)
{
    (void) server;
    sdk_server_t *ss = arg;
    int rc = xsp_storage_dispatch(req, &sdk_ops, ss);
    if (rc != XSP_OK)
        worker_fault(ss->w, "the dispatcher answered a request with %s", xsp_code_name(rc));
}

void *sdk_server_main(void *arg)
{
    worker_t *w = arg;
    load_t *L = w->L;
    const load_cfg_t *cfg = L->cfg;
    sdk_server_t ss = { .w = w };
    char name[64];
    snprintf(name, sizeof name, "xsp-bench-sdk-server-%d", w->id);
    xsp_error_t e;
    xsp_server_opts_t so = { .endpoint = cfg->endpoint, .name = name, .role = "bench" };
    if (!cfg->sdk_own_contexts)
        so.zmq_ctx = L->zctx;
    xsp_server_t *s = xsp_server_new_opts(&so, &e);
    /* credit as the raw servers ask it (server.c clamps it to the switch's max_credit) */
    uint64_t credit = (uint64_t) cfg->window * (uint64_t) cfg->clients;
    if (!s || xsp_server_subscribe(s, cfg->queue, credit > 1u << 30 ? 1u << 30 : (unsigned) credit,
                                   sdk_handler, &ss, &e)) {
        snprintf(w->err, sizeof w->err, "%s: %.200s", s ? "xsp_server_subscribe" : "xsp_server_new", e.msg);
        xsp_server_destroy(&s);
        atomic_store(&w->state, ST_FAILED);
        return NULL;
    }
    atomic_store(&w->state, ST_READY);
    int fd = xsp_server_fd(s);
    while (!atomic_load_explicit(&L->stop_servers, memory_order_relaxed)) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int t = xsp_server_timeout_ms(s);
        poll(&p, 1, t < POLL_MAX_MS ? t : POLL_MAX_MS);
        if (xsp_server_process(s) < 0)
            break;
    }
    xsp_server_destroy(&s);         /* BYE */
    atomic_store(&w->state, ST_DONE);
    return NULL;
}

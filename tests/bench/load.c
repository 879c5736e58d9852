/*  load.c — the load of one measured phase: client and server threads on raw libzmq
    DEALER sockets, and run_load(), which starts them (or sdk.c's, for PROTO_SDK), measures
    and collects the results.

    Owns: each client's window of outstanding requests (slots, shared with sdk.c), the
    verification of every raw reply (corr outstanding, status OK, payload intact),
    completion counters, round-trip samples and their percentiles, and the phase timeline:
        servers ready -> clients ready -> go -> warm-up -> measure -> stop -> drain -> join.
    Never touches: what the headers look like (proto.c), processes (child.c), output, the
    SDK (sdk.c).

    The code path is the same for every target; only proto.c's handshakes and server
    answers differ.  Clients keep `window` requests outstanding: they block for the first
    reply, then drain every queued reply with ZMQ_DONTWAIT, then send one new request per
    reply taken — so the peers cost a few zmq calls per request and the target, not the
    bench, is the bottleneck.

    corr = (sequence << slot_bits) | slot: the slot finds the outstanding request in O(1)
    and the sequence makes every corr of a client unique.  A payload is the client's fixed
    pattern with the corr in its first (up to) 8 bytes, so an intact reply is checked with
    one memcmp and a reply carrying another request's payload is caught.  With a reply
    template (raw_same_payload: replies of another size than requests) the server answers
    the template with the request's first 8 bytes, checked the same way.
*/
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*  Count an error; describe the first few of each worker on stderr. */
void worker_fault(worker_t *w, const char *fmt, ...)
{
    if (++w->errors > 3)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "xsp-bench: %s %d: %s\n", w->slots ? "client" : "server", w->id, line);
}

void pause_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ clients */

uint32_t slot_take(worker_t *w, uint64_t *corr)
{
    uint32_t slot = w->free_slots[--w->nfree];
    *corr = (++w->seq << w->slot_bits) | slot;
    w->slots[slot].corr = *corr;
    w->slots[slot].sent_ns = w->samples ? now_ns() : 0;
    return slot;
}

slot_t *slot_outstanding(worker_t *w, uint64_t corr)
{
    uint64_t slot = corr & ((1ull << w->slot_bits) - 1);
    if (slot >= (uint64_t) w->L->cfg->window || w->slots[slot].corr != corr || !corr)
        return NULL;
    return &w->slots[slot];
}

void slot_release(worker_t *w, slot_t *sl)
{
    sl->corr = 0;
    w->free_slots[w->nfree++] = (uint32_t) (sl - w->slots);
}

void client_count(worker_t *w, uint64_t sent_ns, uint64_t now)
{
    atomic_store_explicit(&w->done, atomic_load_explicit(&w->done, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (w->samples && atomic_load_explicit(&w->L->recording, memory_order_relaxed)) {
        size_t n = atomic_load_explicit(&w->nsamples, memory_order_relaxed);
        if (n < w->L->cfg->samples) {
            w->samples[n] = now - sent_ns;
            atomic_store_explicit(&w->nsamples, n + 1, memory_order_release);
        }
    }
}

static int send_request(worker_t *w, void *s)
{
    const load_cfg_t *cfg = w->L->cfg;
    uint64_t corr;
    uint32_t slot = slot_take(w, &corr);
    uint8_t hdr[512];
    size_t hl = request_header(hdr, sizeof hdr, corr, cfg->queue, cfg->timeout_ms, cfg->flags);

    zmq_msg_t p;
    zmq_msg_init_size(&p, cfg->payload);
    if (cfg->payload) {
        uint8_t *d = zmq_msg_data(&p);
        memcpy(d, w->pattern, cfg->payload);
        memcpy(d, &corr, cfg->payload < 8 ? cfg->payload : 8);
    }

    if (zmq_send(s, hdr, hl, ZMQ_SNDMORE) < 0 || zmq_msg_send(&p, s, 0) < 0) {
        zmq_msg_close(&p);
        worker_fault(w, "send: %s", zmq_strerror(errno));
        slot_release(w, &w->slots[slot]);
        return -1;
    }
    return 0;
}

/*  Take one message from the target.  Returns 1 when it ended an outstanding request. */
static int client_take(worker_t *w, frames_t *m)
{
    const load_cfg_t *cfg = w->L->cfg;
    uint64_t t = w->samples ? now_ns() : 0;
    xsp_hdr_t h;
    char why[128];
    if (m->n < 1 || m->n > 2 || m->truncated) {
        worker_fault(w, "received a message of %d frames", m->n);
        return 0;
    }
    if (xsp_hdr_decode(zmq_msg_data(&m->f[0]), zmq_msg_size(&m->f[0]), &h, why, sizeof why)) {
        worker_fault(w, "undecodable header: %s", why);
        return 0;
    }
    if (h.cmd == XSP_CMD_HEARTBEAT)
        return 0;
    if (h.cmd == XSP_CMD_ACCEPTED) {    /* a persistent request is on disk; its RESULT follows */
        if (!slot_outstanding(w, h.corr))
            worker_fault(w, "ACCEPTED for corr %llu, which is not outstanding", (unsigned long long) h.corr);
        return 0;
    }
    if (h.cmd == XSP_CMD_ERROR) {
        worker_fault(w, "ERROR %.*s (ref_cmd %llu, ref %llu): %.*s", (int) h.code.len, h.code.ptr,
                     (unsigned long long) h.ref_cmd, (unsigned long long) h.corr,
                     (int) h.message.len, h.message.ptr);
        slot_t *sl = h.ref_cmd == XSP_CMD_REQUEST ? slot_outstanding(w, h.corr) : NULL;
        if (!sl)
            return 0;
        slot_release(w, sl);
        return 1;
    }
    if (h.cmd != XSP_CMD_RESULT) {
        worker_fault(w, "received %s, expected RESULT", xsp_cmd_name(h.cmd));
        return 0;
    }
    slot_t *sl = slot_outstanding(w, h.corr);
    if (!sl) {
        worker_fault(w, "RESULT for corr %llu, which is not outstanding", (unsigned long long) h.corr);
        return 0;
    }
    uint64_t corr = sl->corr, sent = sl->sent_ns;
    slot_release(w, sl);
    if (h.status != XSP_STATUS_OK) {
        worker_fault(w, "RESULT corr %llu with status %llu", (unsigned long long) corr,
                     (unsigned long long) h.status);
        return 1;
    }
    /* the request's payload echoed, or the reply template with the request's corr */
    size_t len = m->n == 2 ? zmq_msg_size(&m->f[1]) : 0;
    const uint8_t *d = m->n == 2 ? zmq_msg_data(&m->f[1]) : NULL;
    size_t want = cfg->reply_template ? cfg->reply_payload : cfg->payload;
    const uint8_t *pat = cfg->reply_template ? cfg->reply_template : w->pattern;
    size_t k = cfg->payload < 8 ? cfg->payload : 8;
    k = want < k ? want : k;
    if (len != want || (k && memcmp(d, &corr, k)) || (len > k && memcmp(d + k, pat + k, len - k))) {
        worker_fault(w, "RESULT corr %llu: a payload of %zu bytes unlike the expected one (%zu bytes)",
                     (unsigned long long) corr, len, want);
        return 1;
    }
    client_count(w, sent, t);
    return 1;
}

static void *client_main(void *arg)
{
    worker_t *w = arg;
    load_t *L = w->L;
    const load_cfg_t *cfg = L->cfg;
    peer_t p = { .proto = cfg->proto };
    p.sock = peer_socket(L->zctx, cfg->endpoint, w->err, sizeof w->err);
    if (!p.sock || peer_join(&p, "xsp-bench-client", "bench", w->err, sizeof w->err))
        goto failed;
    if (p.max_outstanding < (uint64_t) cfg->window) {
        snprintf(w->err, sizeof w->err, "the switch allows %llu outstanding requests per client; "
                 "the window is %d", (unsigned long long) p.max_outstanding, cfg->window);
        goto failed;
    }
    atomic_store(&w->state, ST_READY);
    while (!atomic_load(&L->go)) {
        if (atomic_load(&L->stop_clients))
            goto leave;
        peer_tick(&p);
        pause_ms(1);
    }

    for (int i = 0; i < cfg->window; i++)
        send_request(w, p.sock);
    uint64_t drain_deadline = 0;
    for (;;) {
        bool stopping = atomic_load_explicit(&L->stop_clients, memory_order_relaxed);
        if (stopping) {
            uint32_t left = (uint32_t) cfg->window - w->nfree;
            if (!left)
                break;
            uint64_t now = now_ns();
            if (!drain_deadline)
                drain_deadline = now + 3000000000u;
            else if (now > drain_deadline) {
                worker_fault(w, "%u requests never answered", left);
                w->errors += left - 1;
                break;
            }
        }
        frames_t m;
        if (frames_recv(p.sock, &m, 0) < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                worker_fault(w, "recv: %s", zmq_strerror(errno));
                break;
            }
            peer_tick(&p);
            continue;
        }
        unsigned freed = 0;
        do {
            freed += (unsigned) client_take(w, &m);
            frames_close(&m);
        } while (frames_recv(p.sock, &m, ZMQ_DONTWAIT) >= 0);
        if (!stopping)
            while (freed--)
                send_request(w, p.sock);
        peer_tick(&p);
    }
leave:
    peer_leave(&p);
    zmq_close(p.sock);
    atomic_store(&w->state, ST_DONE);
    return NULL;
failed:
    if (p.sock)
        zmq_close(p.sock);
    atomic_store(&w->state, ST_FAILED);
    return NULL;
}

/* ------------------------------------------------------------------ servers */

static void *server_main(void *arg)
{
    worker_t *w = arg;
    load_t *L = w->L;
    const load_cfg_t *cfg = L->cfg;
    peer_t p = { .proto = cfg->proto };
    char err[256];
    uint64_t credit = (uint64_t) cfg->window * (uint64_t) cfg->clients;
    p.sock = peer_socket(L->zctx, cfg->endpoint, w->err, sizeof w->err);
    if (!p.sock || peer_join(&p, "xsp-bench-server", "bench", w->err, sizeof w->err)
        || peer_serve(&p, cfg->queue, credit, w->err, sizeof w->err)) {
        if (p.sock)
            zmq_close(p.sock);
        atomic_store(&w->state, ST_FAILED);
        return NULL;
    }
    atomic_store(&w->state, ST_READY);
    uint64_t answered = 0;
    while (!atomic_load_explicit(&L->stop_servers, memory_order_relaxed)) {
        frames_t m;
        if (frames_recv(p.sock, &m, 0) < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                worker_fault(w, "recv: %s", zmq_strerror(errno));
                break;
            }
            peer_tick(&p);
            continue;
        }
        do {
            int r = server_answer(&p, &m, cfg->reply_template, cfg->reply_payload, err, sizeof err);
            if (r < 0)
                worker_fault(w, "%s", err);
            answered += r > 0;
            frames_close(&m);
        } while (frames_recv(p.sock, &m, ZMQ_DONTWAIT) >= 0);
        atomic_store_explicit(&w->done, answered, memory_order_relaxed);
        peer_tick(&p);
    }
    peer_leave(&p);
    zmq_close(p.sock);
    atomic_store(&w->state, ST_DONE);
    return NULL;
}

/* ------------------------------------------------------------------ the phase */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

double percentile_us(const uint64_t *v, size_t n, double q)
{
    if (!n)
        return 0;
    size_t i = (size_t) (q * (double) n + 0.999999);
    if (i < 1)
        i = 1;
    if (i > n)
        i = n;
    return (double) v[i - 1] / 1000.0;
}

/*  Wait until every worker left ST_STARTING.  0 when all are ready, else -1 with err. */
static int await_ready(worker_t *ws, int n, const char *what, char *err, size_t errlen)
{
    uint64_t deadline = now_ns() + 10000000000u;
    for (int i = 0; i < n; i++) {
        int st;
        while ((st = atomic_load(&ws[i].state)) == ST_STARTING && now_ns() < deadline)
            pause_ms(1);
        if (st != ST_READY) {
            snprintf(err, errlen, "%s %d did not start: %s", what, i,
                     st == ST_STARTING ? "no handshake within 10 s" : ws[i].err);
            return -1;
        }
    }
    return 0;
}

static int start_workers(load_t *L, worker_t *ws, int n, void *(*fn)(void *), char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        ws[i].L = L;
        ws[i].id = i;
        int rc = pthread_create(&ws[i].th, NULL, fn, &ws[i]);
        if (rc) {
            snprintf(err, errlen, "pthread_create: %s", strerror(rc));
            return -1;
        }
        ws[i].started = true;
    }
    return 0;
}

static uint64_t total_done(worker_t *ws, int n)
{
    uint64_t t = 0;
    for (int i = 0; i < n; i++)
        t += atomic_load_explicit(&ws[i].done, memory_order_relaxed);
    return t;
}

static bool samples_full(worker_t *ws, int n, size_t want)
{
    for (int i = 0; i < n; i++)
        if (atomic_load_explicit(&ws[i].nsamples, memory_order_acquire) < want)
            return false;
    return true;
}

static bool any_gone(worker_t *ws, int n)
{
    for (int i = 0; i < n; i++)
        if (atomic_load(&ws[i].state) != ST_READY)
            return true;
    return false;
}

static unsigned bits_for(int n)
{
    unsigned b = 0;
    while ((1ull << b) < (uint64_t) n)
        b++;
    return b;
}

void run_load(void *zctx, const load_cfg_t *cfg, load_result_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    load_t L = { .zctx = zctx, .cfg = cfg };
    int C = cfg->clients, S = cfg->servers;
    L.clients = aligned_alloc(64, sizeof(worker_t) * (size_t) C);
    L.servers = aligned_alloc(64, sizeof(worker_t) * (size_t) (S ? S : 1));
    memset(L.clients, 0, sizeof(worker_t) * (size_t) C);
    memset(L.servers, 0, sizeof(worker_t) * (size_t) (S ? S : 1));
    for (int i = 0; i < C; i++) {
        worker_t *w = &L.clients[i];
        w->slot_bits = bits_for(cfg->window);
        w->slots = calloc((size_t) cfg->window, sizeof *w->slots);
        w->free_slots = malloc(sizeof(uint32_t) * (size_t) cfg->window);
        for (int k = 0; k < cfg->window; k++)
            w->free_slots[k] = (uint32_t) (cfg->window - 1 - k);
        w->nfree = (uint32_t) cfg->window;
        w->pattern = malloc(cfg->payload + 1);
        for (size_t k = 0; k < cfg->payload; k++)
            w->pattern[k] = (uint8_t) (k * 31u + (unsigned) i * 7u + 1u);
        if (cfg->samples)
            w->samples = malloc(sizeof(uint64_t) * cfg->samples);
    }

    bool ok = false;
    bool sdk = cfg->proto == PROTO_SDK;
    if (start_workers(&L, L.servers, S, sdk ? sdk_server_main : server_main, err, errlen)
        || await_ready(L.servers, S, "server", err, errlen)
        || start_workers(&L, L.clients, C, sdk ? sdk_client_main : client_main, err, errlen)
        || await_ready(L.clients, C, "client", err, errlen))
        goto stop;

    atomic_store(&L.go, true);
    pause_ms((unsigned) (cfg->warmup_s * 1000));
    double tc0 = cfg->target_pid ? process_cpu_s(cfg->target_pid) : -1, bc0 = process_cpu_s(0);
    uint64_t c0 = total_done(L.clients, C), t0 = now_ns(), t1;
    atomic_store(&L.recording, true);
    for (;;) {
        pause_ms(cfg->samples ? 5 : 20);
        t1 = now_ns();
        if ((double) (t1 - t0) / 1e9 >= cfg->seconds)
            break;
        if (cfg->samples && samples_full(L.clients, C, cfg->samples))
            break;
        if (any_gone(L.clients, C) || any_gone(L.servers, S)) {
            snprintf(err, errlen, "a client or server thread ended early");
            goto stop;
        }
    }
    uint64_t c1 = total_done(L.clients, C);
    atomic_store(&L.recording, false);
    double tc1 = cfg->target_pid ? process_cpu_s(cfg->target_pid) : -1, bc1 = process_cpu_s(0);
    out->seconds = (double) (t1 - t0) / 1e9;
    /* CPU times come in clock ticks (10 ms): meaningless over a short interval */
    bool long_enough = out->seconds >= 0.5;
    out->target_cpu = long_enough && tc0 >= 0 && tc1 >= 0 ? (tc1 - tc0) / out->seconds : -1;
    out->bench_cpu = long_enough && bc0 >= 0 && bc1 >= 0 ? (bc1 - bc0) / out->seconds : -1;
    out->completed = c1 - c0;
    out->rpc_per_s = (double) out->completed / out->seconds;
    ok = true;

stop:
    atomic_store(&L.stop_clients, true);
    for (int i = 0; i < C; i++)
        if (L.clients[i].started)
            pthread_join(L.clients[i].th, NULL);
    atomic_store(&L.stop_servers, true);
    for (int i = 0; i < S; i++)
        if (L.servers[i].started)
            pthread_join(L.servers[i].th, NULL);

    size_t ns = 0;
    for (int i = 0; i < C; i++)
        ns += atomic_load(&L.clients[i].nsamples);
    uint64_t *all = ns ? malloc(sizeof(uint64_t) * ns) : NULL;
    size_t k = 0;
    double sum = 0;
    for (int i = 0; i < C; i++) {
        worker_t *w = &L.clients[i];
        out->errors += w->errors;
        for (size_t j = 0; j < atomic_load(&w->nsamples); j++) {
            all[k++] = w->samples[j];
            sum += (double) w->samples[j];
        }
        free(w->slots);
        free(w->free_slots);
        free(w->pattern);
        free(w->samples);
    }
    for (int i = 0; i < S; i++)
        out->errors += L.servers[i].errors;
    if (ns) {
        qsort(all, ns, sizeof *all, cmp_u64);
        out->nsamples = ns;
        out->p50_us = percentile_us(all, ns, 0.50);
        out->p99_us = percentile_us(all, ns, 0.99);
        out->mean_us = sum / (double) ns / 1000.0;
    }
    out->samples = all;
    free(L.clients);
    free(L.servers);
    out->ok = ok;
}

/*  xsp-bench — the switch measured against baselines measured in the same run.

    Owns: the command line, the table of targets (what a phase talks to) and the table of
    phases (what is measured), running them in order, and the report (a table, or one JSON
    object with --json).  See docs/performance.md for the method and the figures.
    Never touches: per-message work (load.c, proto.c), process handling (child.c), the
    hidden child modes (relay.c).

    Phases (each target is its own process, started for the phase and stopped after it;
    clients and servers are threads of this process, the same code for every target):
      direct_rtt        1 client, window 1, to a direct DEALER<->ROUTER echo     (the floor)
      switch_rtt        1 client, 1 server, window 1, through build/bin/xsp-switch
      relay_rtt         the same through the bare relay                          (--only relay)
      switch_pipelined  C clients, S servers, window W each, through the switch
      relay_pipelined   the same through the bare relay                          (the ceiling)
      raw_same_payload  switch_pipelined with the payload sizes of the SDK phase's
                        Datapath.attach request and reply                        (--only sdk)
      sdk_pipelined     the same load through libxsp: generated async stub on
                        the clients, generated dispatcher on the servers (sdk.c)  (--only sdk)
    Ratios (rtt_ratio, vs_bare_relay, sdk_overhead) compare figures of the same run, because the machine
    this runs on is shared and noisy: absolute numbers drift, ratios much less.  For the same
    reason the phases run in R interleaved rounds (default 3) and rates are medians over
    rounds.  On 2+ CPUs the target is pinned to CPU 1 and this process to CPU 0 (--no-pin).
*/
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <msgpack.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ options */

enum { SEL_RTT = 1, SEL_PIPELINED = 2, SEL_RELAY = 4, SEL_SDK = 8, SEL_ALL = 15,
       SEL_DURABLE = 16 /* writes to disk: only with --durable */ };

#define MAX_SWITCH_ARGS 32

typedef struct {
    int clients, servers, window;
    size_t payload;
    double seconds, warmup;
    const char *transport;      /* "ipc" or "tcp" */
    bool json, keep;
    bool pin;                   /* targets on CPU 1, this process on CPU 0 */
    unsigned only;              /* SEL_* groups */
    unsigned only_phases;       /* single phases named in --only: bit i = phases[i] */
    bool only_given;            /* --only was given (--sdk then adds to it) */
    bool sdk;                   /* --sdk */
    bool sdk_own_contexts;      /* --sdk-own-contexts */
    size_t sdk_request, sdk_reply;  /* encoded Datapath.attach payload sizes (sdk.c) */
    size_t rtt_count;
    uint64_t timeout_ms;
    int rounds;
    char switch_path[PATH_MAX];
    char *target_prefix;        /* e.g. "valgrind --tool=callgrind" */
    const char *switch_args[MAX_SWITCH_ARGS];
    int nswitch_args;
    char run_dir[PATH_MAX];
    char self[PATH_MAX];
    bool durable;               /* --durable */
    char state_dir[PATH_MAX];   /* --state-dir, or a temp dir under /var/tmp (real disk) */
    bool state_dir_made;        /* we created it: remove it at the end */
} opts_t;

/*  Defaults that show the switch at its best on the 2-core machine: the switch alone on
    one core, one client and one server thread (the cheapest load) on the other, and a
    deep window, so every wake-up of the switch finds a batch of messages.
    See docs/performance.md. */
static opts_t o = {
    .clients = 1, .servers = 1, .window = 256, .payload = 64, .seconds = 3.0, .warmup = -1,
    .transport = "ipc", .only = SEL_ALL, .pin = true, .rtt_count = 20000, .timeout_ms = 0, .rounds = 3,
};

/* ------------------------------------------------------------------ targets */

typedef struct target target_t;
struct target {
    const char *name;
    const char *what;
    proto_t proto;
    bool serves_itself;         /* answers requests itself: no server threads */
    /* start the target as a child; endpoint receives where peers connect */
    int (*start)(const target_t *t, child_t *c, char *endpoint, size_t len, char *err, size_t errlen);
};

static void endpoint_for(const char *name, char *endpoint, size_t len)
{
    if (!strcmp(o.transport, "tcp"))
        snprintf(endpoint, len, "tcp://127.0.0.1:%d", free_tcp_port());
    else
        snprintf(endpoint, len, "ipc://%s/%s.sock", o.run_dir, name);
}

/*  argv[0..n) = the words of --target-prefix (a strdup'ed copy in *copy, to free). */
static int prefix_words(char **argv, int max, char **copy)
{
    int n = 0;
    *copy = NULL;
    if (o.target_prefix) {
        *copy = strdup(o.target_prefix);
        for (char *tok = strtok(*copy, " "); tok && n < max; tok = strtok(NULL, " "))
            argv[n++] = tok;
    }
    return n;
}

/*  Ourselves in a hidden mode (--relay / --echo). */
static int start_self(const target_t *t, child_t *c, char *endpoint, size_t len, char *err, size_t errlen)
{
    endpoint_for(t->name, endpoint, len);
    char mode[16], prefix[64];
    snprintf(mode, sizeof mode, "--%s", !strcmp(t->name, "direct") ? "echo" : t->name);
    snprintf(prefix, sizeof prefix, "xsp-bench %s ready: ", mode + 2);
    char *argv[64], *copy;
    int n = prefix_words(argv, 48, &copy);
    argv[n++] = o.self;
    argv[n++] = mode;
    argv[n++] = endpoint;
    argv[n] = NULL;
    int rc = child_start(c, t->name, o.run_dir, argv, o.pin ? 1 : -1, prefix,
                         o.target_prefix ? 60 : 10, err, errlen);
    free(copy);
    return rc;
}

/*  The real build/bin/xsp-switch, in our private run dir, with limits the load fits in. */
static int start_switch(const target_t *t, child_t *c, char *endpoint, size_t len, char *err, size_t errlen)
{
    char *argv[64 + MAX_SWITCH_ARGS], *prefix;
    int n = prefix_words(argv, 48, &prefix);
    char limit[32], listen[300];
    long need = (long) o.window * o.clients;
    snprintf(limit, sizeof limit, "%ld", need > 4096 ? need : 4096);
    argv[n++] = o.switch_path;
    argv[n++] = "--run-dir";
    argv[n++] = o.run_dir;
    argv[n++] = "--max-outstanding";
    argv[n++] = limit;
    argv[n++] = "--max-credit";
    argv[n++] = limit;
    if (!strcmp(o.transport, "tcp")) {
        endpoint_for(t->name, endpoint, len);
        snprintf(listen, sizeof listen, "%s", endpoint);
        argv[n++] = "--no-ipc";
        argv[n++] = "--listen";
        argv[n++] = listen;
    } else
        snprintf(endpoint, len, "ipc://%s/switch.sock", o.run_dir);
    for (int i = 0; i < o.nswitch_args; i++)
        argv[n++] = (char *) o.switch_args[i];
    if (!strcmp(t->name, "durable")) {
        argv[n++] = "--state-dir";
        argv[n++] = o.state_dir;
    }
    argv[n] = NULL;
    int rc = child_start(c, t->name, o.run_dir, argv, o.pin ? 1 : -1, "xsp-switch ready:",
                         o.target_prefix ? 60 : 10, err, errlen);
    free(prefix);
    if (!rc && !o.json)
        fprintf(stderr, "xsp-bench: xsp-switch pid %d on %s\n", (int) c->pid, endpoint);
    return rc;
}

/*  What a phase can talk to.  A later mode is one more row (and, for a new way of
    talking, one more proto_t and its peers, as PROTO_SDK has in sdk.c), plus the phases
    that use it below.  "durable" is the switch with --state-dir; its clients flag every
    REQUEST PERSISTENT (run_phase). */
static const target_t targets[] = {
    { "direct", "direct DEALER<->ROUTER echo (own process)", PROTO_ROUTED, true, start_self },
    { "relay", "bare ROUTER relay, no queues/credit/bookkeeping (own process)", PROTO_ROUTED, false, start_self },
    { "switch", "xsp-switch (own process), raw libzmq peers", PROTO_XSP, false, start_switch },
    { "sdk", "xsp-switch (own process), peers through libxsp's typed storage API", PROTO_SDK, false, start_switch },
    { "durable", "xsp-switch --state-dir (own process), PERSISTENT requests, fdatasync on", PROTO_XSP, false, start_switch },
};

static const target_t *target_named(const char *name)
{
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (!strcmp(targets[i].name, name))
            return &targets[i];
    return NULL;
}

/* ------------------------------------------------------------------ phases */

typedef struct {
    const char *name;
    const char *target;
    bool rtt;                   /* serial: 1 client, 1 server, window 1, round trips recorded */
    unsigned sel;               /* the --only word that selects it */
    bool sdk_sizes;             /* payloads of the SDK's Datapath.attach request and reply
                                   instead of --payload */
} phase_t;

static const phase_t phases[] = {
    { "direct_rtt", "direct", true, SEL_RTT, false },
    { "switch_rtt", "switch", true, SEL_RTT, false },
    { "relay_rtt", "relay", true, SEL_RELAY, false },
    { "switch_pipelined", "switch", false, SEL_PIPELINED, false },
    { "relay_pipelined", "relay", false, SEL_RELAY, false },
    { "raw_same_payload", "switch", false, SEL_SDK, true },
    { "sdk_pipelined", "sdk", false, SEL_SDK, true },
    { "durable_pipelined", "durable", false, SEL_DURABLE, false },
};
#define NPHASES (sizeof phases / sizeof phases[0])
#define MAX_ROUNDS 32

typedef struct {
    bool ran;
    int nrounds;
    load_result_t r[MAX_ROUNDS];
    load_result_t med;          /* rates: median over rounds; round trips: over all samples */
    uint64_t *pool;             /* every round's round-trip samples */
    size_t npool;
    uint64_t errors;            /* summed over rounds */
    double seconds;             /* summed over rounds */
    char failure[512];
} phase_result_t;

static phase_result_t results[NPHASES];
static const char *state_fs = "?";    /* filesystem of the durable state dir */

/*  The switch's fdatasync count from DIAG ("durable"."fsyncs"), or UINT64_MAX. */
static uint64_t diag_fsyncs(void *zctx, const char *endpoint)
{
    char err[256];
    uint64_t v = UINT64_MAX;
    peer_t p = { .sock = peer_socket(zctx, endpoint, err, sizeof err), .proto = PROTO_XSP };
    if (!p.sock)
        return v;
    int tmo = 5000;
    zmq_setsockopt(p.sock, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    if (peer_join(&p, "xsp-bench-diag", "bench", err, sizeof err) == 0) {
        uint8_t buf[64];
        xsp_hdr_t h = { .cmd = XSP_CMD_DIAG, .corr = 1 };
        size_t n = xsp_hdr_encode(&h, buf, sizeof buf);
        frames_t m;
        if (zmq_send(p.sock, buf, n, 0) >= 0)
            while (frames_recv(p.sock, &m, 0) > 0) {
                xsp_hdr_t r;
                bool done = m.n == 2 && !xsp_hdr_decode(zmq_msg_data(&m.f[0]), zmq_msg_size(&m.f[0]), &r, NULL, 0)
                            && r.cmd == XSP_CMD_DIAG_REPLY;
                if (done) {
                    msgpack_unpacked u;
                    msgpack_unpacked_init(&u);
                    if (msgpack_unpack_next(&u, zmq_msg_data(&m.f[1]), zmq_msg_size(&m.f[1]), NULL) ==
                            MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_MAP) {
                        const msgpack_object_map *top = &u.data.via.map;
                        for (uint32_t i = 0; i < top->size; i++) {
                            const msgpack_object *k = &top->ptr[i].key, *val = &top->ptr[i].val;
                            if (k->type != MSGPACK_OBJECT_STR || k->via.str.size != 7 ||
                                memcmp(k->via.str.ptr, "durable", 7) || val->type != MSGPACK_OBJECT_MAP)
                                continue;
                            for (uint32_t j = 0; j < val->via.map.size; j++) {
                                const msgpack_object_kv *kv = &val->via.map.ptr[j];
                                if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 6 &&
                                    !memcmp(kv->key.via.str.ptr, "fsyncs", 6) &&
                                    kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                                    v = kv->val.via.u64;
                            }
                        }
                    }
                    msgpack_unpacked_destroy(&u);
                }
                frames_close(&m);
                if (done)
                    break;
            }
        peer_leave(&p);
    }
    int zero = 0;
    zmq_setsockopt(p.sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(p.sock);
    return v;
}

/*  Run one phase: start its target, load it, stop it.  0, -1 when the phase failed, -2 when
    the target would not even start (its later phases are then skipped). */
static int run_phase(void *zctx, const phase_t *ph, load_result_t *res, char *err, size_t errlen)
{
    const target_t *t = target_named(ph->target);
    child_t child;
    char endpoint[512];
    memset(res, 0, sizeof *res);
    if (t->start(t, &child, endpoint, sizeof endpoint, err, errlen))
        return -2;
    /* raw_same_payload's servers answer a fixed reply of the SDK reply's size (the first 8
       bytes replaced by the request's corr): a pattern unlike the clients' */
    static uint8_t *reply_template;
    if (ph->sdk_sizes && t->proto != PROTO_SDK && !reply_template) {
        reply_template = malloc(o.sdk_reply + 1);
        for (size_t k = 0; k < o.sdk_reply; k++)
            reply_template[k] = (uint8_t) (k * 13u + 5u);
    }
    load_cfg_t cfg = {
        .endpoint = endpoint,
        .proto = t->proto,
        .queue = ph->rtt ? "bench.rtt" : "bench.pipelined",
        .clients = ph->rtt ? 1 : o.clients,
        .servers = t->serves_itself ? 0 : ph->rtt ? 1 : o.servers,
        .window = ph->rtt ? 1 : o.window,
        .payload = ph->sdk_sizes ? o.sdk_request : o.payload,
        .reply_template = ph->sdk_sizes && t->proto != PROTO_SDK ? reply_template : NULL,
        .reply_payload = ph->sdk_sizes ? o.sdk_reply : o.payload,
        .timeout_ms = o.timeout_ms,
        .sdk_own_contexts = o.sdk_own_contexts,
        .flags = !strcmp(t->name, "durable") ? XSP_FLAG_PERSISTENT : 0,
        .warmup_s = o.warmup,
        .seconds = (ph->rtt ? 2 * o.seconds : o.seconds) / o.rounds,
        .samples = ph->rtt ? (o.rtt_count + (size_t) o.rounds - 1) / (size_t) o.rounds : 0,
        .target_pid = child.pid,
    };
    bool durable = !strcmp(t->name, "durable");
    uint64_t f0 = durable ? diag_fsyncs(zctx, endpoint) : UINT64_MAX, t0 = now_ns();
    run_load(zctx, &cfg, res, err, errlen);
    uint64_t f1 = durable ? diag_fsyncs(zctx, endpoint) : UINT64_MAX, t1 = now_ns();
    res->fsync_per_s = f0 != UINT64_MAX && f1 != UINT64_MAX && t1 > t0
                           ? (double) (f1 - f0) / ((double) (t1 - t0) / 1e9) : -1;
    int rc = res->ok ? 0 : -1;
    if (!child_alive(&child)) {
        char how[64];
        child_describe_status(child.status, how, sizeof how);
        snprintf(err, errlen, "%s %s during the phase", t->name, how);
        child_dump_stderr(&child);
        return -1;
    }
    int st = child_stop(&child, o.target_prefix ? 30 : 5);
    if (st != -1 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)
        && !(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM)) {
        fprintf(stderr, "xsp-bench: %s did not exit cleanly on SIGTERM (status %#x)\n", t->name, st);
        child_dump_stderr(&child);
    }
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/*  Median of one double field over rounds, ignoring negative (unknown) values; -1 if none. */
static double median_of(const load_result_t *r, int n, size_t off)
{
    double v[MAX_ROUNDS];
    int k = 0;
    for (int i = 0; i < n; i++) {
        double x = *(const double *) (const void *) ((const char *) &r[i] + off);
        if (x >= 0)
            v[k++] = x;
    }
    if (!k)
        return -1;
    qsort(v, (size_t) k, sizeof v[0], cmp_double);
    return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/*  Keep a round's samples in the phase's pool. */
static void pool_samples(phase_result_t *pr, load_result_t *r)
{
    if (r->nsamples) {
        pr->pool = realloc(pr->pool, sizeof(uint64_t) * (pr->npool + r->nsamples));
        memcpy(pr->pool + pr->npool, r->samples, sizeof(uint64_t) * r->nsamples);
        pr->npool += r->nsamples;
    }
    free(r->samples);
    r->samples = NULL;
}

/*  Rates: the median over rounds (robust to a round a neighbour disturbed).  Round trips:
    percentiles over every sample of every round. */
static void summarize(phase_result_t *pr)
{
    int n = pr->nrounds;
    if (!n)
        return;
    pr->med.rpc_per_s = median_of(pr->r, n, offsetof(load_result_t, rpc_per_s));
    pr->med.target_cpu = median_of(pr->r, n, offsetof(load_result_t, target_cpu));
    pr->med.bench_cpu = median_of(pr->r, n, offsetof(load_result_t, bench_cpu));
    pr->med.fsync_per_s = median_of(pr->r, n, offsetof(load_result_t, fsync_per_s));
    for (int i = 0; i < n; i++)
        pr->med.completed += pr->r[i].completed;
    if (pr->npool) {
        qsort(pr->pool, pr->npool, sizeof *pr->pool, cmp_u64);
        double sum = 0;
        for (size_t i = 0; i < pr->npool; i++)
            sum += (double) pr->pool[i];
        pr->med.nsamples = pr->npool;
        pr->med.p50_us = percentile_us(pr->pool, pr->npool, 0.50);
        pr->med.p99_us = percentile_us(pr->pool, pr->npool, 0.99);
        pr->med.mean_us = sum / (double) pr->npool / 1000.0;
    }
    free(pr->pool);
    pr->pool = NULL;
}

/* ------------------------------------------------------------------ report */

/*  Microseconds of the target's CPU per RPC in a pipelined phase, or -1. */
static double cpu_per_rpc_us(const phase_result_t *pr)
{
    if (!pr || pr->med.target_cpu < 0 || pr->med.rpc_per_s <= 0)
        return -1;
    return pr->med.target_cpu * 1e6 / pr->med.rpc_per_s;
}

/*  Microseconds of this process's CPU (clients, servers, their libzmq threads) per RPC in a
    pipelined phase, or -1. */
static double bench_cpu_per_rpc_us(const phase_result_t *pr)
{
    if (!pr || pr->med.bench_cpu < 0 || pr->med.rpc_per_s <= 0)
        return -1;
    return pr->med.bench_cpu * 1e6 / pr->med.rpc_per_s;
}

static const phase_result_t *got(const char *name)
{
    for (size_t i = 0; i < NPHASES; i++)
        if (!strcmp(phases[i].name, name) && results[i].nrounds)
            return &results[i];
    return NULL;
}

/*  A JSON number, or null when the figure was not measured. */
static void jnum(const char *key, bool have, double v, int decimals, bool comma)
{
    if (have && isfinite(v))
        printf("  \"%s\": %.*f%s\n", key, decimals, v, comma ? "," : "");
    else
        printf("  \"%s\": null%s\n", key, comma ? "," : "");
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char) *s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

typedef struct {
    const phase_result_t *drtt, *srtt, *rrtt, *spipe, *rpipe, *rsame, *sdk, *dpipe;
    const char *state_fs;       /* filesystem of --state-dir (durable) */
    double rtt_ratio, vs_bare;
    double sdk_overhead;        /* 1 - sdk / raw_same_payload rpc/s */
    uint64_t errors;
    int failures;
} summary_t;

static void report_json(const summary_t *s, double total_s)
{
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    struct utsname u;
    uname(&u);
    printf("{\n");
    printf("  \"bench\": \"xsp-bench\",\n  \"xsp_version\": \"%s\",\n", XSP_VERSION);
    printf("  \"date\": \"%s\",\n  \"host\": ", date);
    json_string(u.nodename);
    printf(",\n  \"cpus\": %ld,\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("  \"transport\": \"%s\",\n  \"clients\": %d,\n  \"servers\": %d,\n  \"window\": %d,\n",
           o.transport, o.clients, o.servers, o.window);
    printf("  \"payload_bytes\": %zu,\n  \"seconds_per_phase\": %.3f,\n  \"warmup_seconds\": %.3f,\n",
           o.payload, o.seconds, o.warmup);
    printf("  \"rtt_count\": %zu,\n  \"rounds\": %d,\n  \"timeout_ms\": %llu,\n  \"pinned\": %s,\n",
           o.rtt_count, o.rounds, (unsigned long long) o.timeout_ms, o.pin ? "true" : "false");
    printf("  \"sdk_own_contexts\": %s,\n", o.sdk_own_contexts ? "true" : "false");
    jnum("direct_rtt_us", s->drtt, s->drtt ? s->drtt->med.p50_us : 0, 1, true);
    jnum("direct_rtt_p99_us", s->drtt, s->drtt ? s->drtt->med.p99_us : 0, 1, true);
    jnum("switch_rtt_us", s->srtt, s->srtt ? s->srtt->med.p50_us : 0, 1, true);
    jnum("switch_rtt_p99_us", s->srtt, s->srtt ? s->srtt->med.p99_us : 0, 1, true);
    jnum("rtt_ratio", s->drtt && s->srtt, s->rtt_ratio, 3, true);
    jnum("bare_relay_rtt_us", s->rrtt, s->rrtt ? s->rrtt->med.p50_us : 0, 1, true);
    jnum("bare_relay_rtt_p99_us", s->rrtt, s->rrtt ? s->rrtt->med.p99_us : 0, 1, true);
    jnum("rtt_vs_bare_relay", s->srtt && s->rrtt,
         s->srtt && s->rrtt ? s->srtt->med.p50_us / s->rrtt->med.p50_us : 0, 3, true);
    jnum("pipelined_rpc_per_s", s->spipe, s->spipe ? s->spipe->med.rpc_per_s : 0, 0, true);
    jnum("bare_relay_rpc_per_s", s->rpipe, s->rpipe ? s->rpipe->med.rpc_per_s : 0, 0, true);
    jnum("vs_bare_relay", s->spipe && s->rpipe, s->vs_bare, 3, true);
    double sc = cpu_per_rpc_us(s->spipe), rc = cpu_per_rpc_us(s->rpipe);
    jnum("switch_cpu_us_per_rpc", sc > 0, sc, 2, true);
    jnum("bare_relay_cpu_us_per_rpc", rc > 0, rc, 2, true);
    jnum("cpu_vs_bare_relay", sc > 0 && rc > 0, rc / sc, 3, true);
    if (s->sdk || s->rsame) {
        printf("  \"sdk_request_bytes\": %zu,\n  \"sdk_reply_bytes\": %zu,\n", o.sdk_request, o.sdk_reply);
        jnum("sdk_rpc_per_s", s->sdk, s->sdk ? s->sdk->med.rpc_per_s : 0, 0, true);
        jnum("raw_same_payload_rpc_per_s", s->rsame, s->rsame ? s->rsame->med.rpc_per_s : 0, 0, true);
        jnum("sdk_overhead", s->sdk && s->rsame, s->sdk_overhead, 3, true);
        double sb = bench_cpu_per_rpc_us(s->sdk), rb = bench_cpu_per_rpc_us(s->rsame);
        jnum("sdk_bench_cpu_us_per_rpc", sb > 0, sb, 2, true);
        jnum("raw_same_payload_bench_cpu_us_per_rpc", rb > 0, rb, 2, true);
        jnum("sdk_bench_cpu_overhead_us_per_rpc", sb > 0 && rb > 0, sb - rb, 2, true);
        double ss = cpu_per_rpc_us(s->sdk), rs = cpu_per_rpc_us(s->rsame);
        jnum("sdk_switch_cpu_us_per_rpc", ss > 0, ss, 2, true);
        jnum("raw_same_payload_switch_cpu_us_per_rpc", rs > 0, rs, 2, true);
    }
    if (s->dpipe) {
        jnum("durable_rpc_per_s", true, s->dpipe->med.rpc_per_s, 0, true);
        jnum("durable_fsyncs_per_s", s->dpipe->med.fsync_per_s >= 0, s->dpipe->med.fsync_per_s, 0, true);
        jnum("durable_vs_switch", s->spipe != NULL, s->spipe ? s->dpipe->med.rpc_per_s / s->spipe->med.rpc_per_s : 0, 3, true);
        printf("  \"durable_state_fs\": \"%s\",\n", s->state_fs);
    }
    printf("  \"errors\": %llu,\n  \"failed_phases\": %d,\n", (unsigned long long) s->errors, s->failures);
    printf("  \"phases\": {");
    bool first = true;
    for (size_t i = 0; i < NPHASES; i++) {
        const phase_result_t *pr = &results[i];
        if (!pr->ran)
            continue;
        printf("%s\n    \"%s\": {\"target\": \"%s\", \"rounds\": %d, \"seconds\": %.3f, ",
               first ? "" : ",", phases[i].name, phases[i].target, pr->nrounds, pr->seconds);
        if (phases[i].rtt)
            printf("\"samples\": %zu, \"p50_us\": %.1f, \"p99_us\": %.1f, \"mean_us\": %.1f, ",
                   pr->med.nsamples, pr->med.p50_us, pr->med.p99_us, pr->med.mean_us);
        else {
            printf("\"completed\": %llu, \"rpc_per_s\": %.0f, \"rpc_per_s_rounds\": [",
                   (unsigned long long) pr->med.completed, pr->med.rpc_per_s);
            for (int k = 0; k < pr->nrounds; k++)
                printf("%s%.0f", k ? ", " : "", pr->r[k].rpc_per_s);
            printf("], ");
        }
        bool cpu = pr->med.target_cpu >= 0 && pr->med.bench_cpu >= 0;
        if (cpu)
            printf("\"target_cpu\": %.2f, \"bench_cpu\": %.2f, ", pr->med.target_cpu, pr->med.bench_cpu);
        if (cpu && !phases[i].rtt)
            printf("\"target_cpu_us_per_rpc\": %.2f, \"bench_cpu_us_per_rpc\": %.2f, ",
                   cpu_per_rpc_us(pr), bench_cpu_per_rpc_us(pr));
        if (phases[i].sdk_sizes)
            printf("\"request_bytes\": %zu, \"reply_bytes\": %zu, ", o.sdk_request, o.sdk_reply);
        printf("\"errors\": %llu", (unsigned long long) pr->errors);
        if (pr->failure[0]) {
            printf(", \"failure\": ");
            json_string(pr->failure);
        }
        printf("}");
        first = false;
    }
    printf("\n  },\n  \"total_seconds\": %.1f\n}\n", total_s);
}

static void row(const char *name, const char *value, const char *note)
{
    printf("  %-26s %14s   %s\n", name, value, note);
}

static void report_table(const summary_t *s, double total_s)
{
    char v[64], note[128];
    printf("\nxsp-bench: %s, %d client(s), %d server(s), window %d, payload %zu B, "
           "%.1f s per phase, %d round(s), %ld CPUs%s\n\n", o.transport, o.clients, o.servers,
           o.window, o.payload, o.seconds, o.rounds, sysconf(_SC_NPROCESSORS_ONLN),
           o.pin ? ", targets pinned to CPU 1 and xsp-bench to CPU 0" : "");
    printf("  %-18s %-7s %9s %9s %10s %9s %10s %10s %7s\n", "phase", "target", "p50 us", "p99 us",
           "rpc/s", "samples", "target cpu", "bench cpu", "errors");
    for (size_t i = 0; i < NPHASES; i++) {
        const phase_result_t *pr = &results[i];
        if (!pr->ran)
            continue;
        if (pr->failure[0] && !pr->nrounds) {
            printf("  %-18s %-7s FAILED: %s\n", phases[i].name, phases[i].target, pr->failure);
            continue;
        }
        char p50[32] = "-", p99[32] = "-", ns[32] = "-";
        if (phases[i].rtt) {
            snprintf(p50, sizeof p50, "%.1f", pr->med.p50_us);
            snprintf(p99, sizeof p99, "%.1f", pr->med.p99_us);
            snprintf(ns, sizeof ns, "%zu", pr->med.nsamples);
        }
        char tcpu[32] = "-", bcpu[32] = "-";
        if (pr->med.target_cpu >= 0 && pr->med.bench_cpu >= 0) {
            snprintf(tcpu, sizeof tcpu, "%.2f", pr->med.target_cpu);
            snprintf(bcpu, sizeof bcpu, "%.2f", pr->med.bench_cpu);
        }
        printf("  %-18s %-7s %9s %9s %10.0f %9s %10s %10s %7llu\n", phases[i].name,
               phases[i].target, p50, p99, phases[i].rtt ? 1e6 / pr->med.mean_us : pr->med.rpc_per_s,
               ns, tcpu, bcpu, (unsigned long long) pr->errors);
    }
    printf("  (cpu: cores used during the measurement by the target process and by xsp-bench)\n");
    printf("\n");
    if (s->drtt && s->srtt) {
        snprintf(v, sizeof v, "%.3f", s->rtt_ratio);
        row("rtt_ratio", v, "switch_rtt / direct_rtt p50; the floor for a relay is 2.0, target <= 2.1");
    }
    if (s->srtt && s->rrtt) {
        snprintf(v, sizeof v, "%.3f", s->srtt->med.p50_us / s->rrtt->med.p50_us);
        row("rtt_vs_bare_relay", v, "switch_rtt / relay_rtt p50: what the switch adds to a relay hop");
    }
    if (s->spipe) {
        snprintf(v, sizeof v, "%.0f", s->spipe->med.rpc_per_s);
        row("pipelined_rpc_per_s", v, "target >= 250000");
    }
    if (s->rpipe) {
        snprintf(v, sizeof v, "%.0f", s->rpipe->med.rpc_per_s);
        row("bare_relay_rpc_per_s", v, "the ceiling on this transport");
    }
    if (s->spipe && s->rpipe) {
        snprintf(v, sizeof v, "%.3f", s->vs_bare);
        row("vs_bare_relay", v, "pipelined / bare relay, target >= 0.8");
        double sc = cpu_per_rpc_us(s->spipe), rc = cpu_per_rpc_us(s->rpipe);
        if (sc > 0 && rc > 0) {
            snprintf(v, sizeof v, "%.2f / %.2f", sc, rc);
            row("cpu us per rpc", v, "switch / bare relay process, in the pipelined phases");
        }
    }
    if (s->dpipe) {
        snprintf(v, sizeof v, "%.0f", s->dpipe->med.rpc_per_s);
        snprintf(note, sizeof note, "PERSISTENT requests, fdatasync on, journal on %s; target >= 50000",
                 s->state_fs);
        row("durable_rpc_per_s", v, note);
        snprintf(v, sizeof v, "%.0f", s->dpipe->med.fsync_per_s);
        row("durable_fsyncs_per_s", v, "fdatasync calls per second (DIAG durable.fsyncs)");
        if (s->dpipe->med.fsync_per_s > 0) {
            snprintf(v, sizeof v, "%.1f", s->dpipe->med.rpc_per_s / s->dpipe->med.fsync_per_s);
            row("durable_rpc_per_fsync", v, "group commit: requests sharing one fdatasync");
        }
        if (s->spipe) {
            snprintf(v, sizeof v, "%.3f", s->dpipe->med.rpc_per_s / s->spipe->med.rpc_per_s);
            row("durable_vs_switch", v, "durable / non-persistent pipelined, same run");
        }
    }
    if (s->sdk) {
        snprintf(v, sizeof v, "%.0f", s->sdk->med.rpc_per_s);
        snprintf(note, sizeof note, "Datapath.attach through libxsp (request %zu B, reply %zu B)",
                 o.sdk_request, o.sdk_reply);
        row("sdk_rpc_per_s", v, note);
    }
    if (s->rsame) {
        snprintf(v, sizeof v, "%.0f", s->rsame->med.rpc_per_s);
        row("raw_same_payload_rpc_per_s", v, "raw peers, the same payload sizes");
    }
    if (s->sdk && s->rsame) {
        snprintf(v, sizeof v, "%.3f", s->sdk_overhead);
        row("sdk_overhead", v, "1 - sdk / raw_same_payload, target < 0.10");
        double sb = bench_cpu_per_rpc_us(s->sdk), rb = bench_cpu_per_rpc_us(s->rsame);
        if (sb > 0 && rb > 0) {
            snprintf(v, sizeof v, "%.2f / %.2f", sb, rb);
            row("bench cpu us per rpc", v, "xsp-bench process (peers): sdk / raw_same_payload");
        }
    }
    snprintf(v, sizeof v, "%llu", (unsigned long long) s->errors);
    snprintf(note, sizeof note, "%s", s->errors ? "FAILED: replies missing or wrong" : "every reply verified");
    row("errors", v, note);
    if (s->failures) {
        snprintf(v, sizeof v, "%d", s->failures);
        row("failed_phases", v, "see the messages above");
    }
    printf("  total %.1f s\n", total_s);
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: xsp-bench [options]\n"
        "  Measures build/bin/xsp-switch against a direct echo and a bare relay, and libxsp's\n"
        "  typed API against raw peers of the same payload sizes, all in one run.\n"
        "  --clients C        pipelined client threads (default %d)\n"
        "  --servers S        pipelined server threads (default %d)\n"
        "  --window W         requests outstanding per client (default %d)\n"
        "  --payload BYTES    request and reply payload size (default %zu)\n"
        "  --seconds T        measured seconds per pipelined phase; an rtt phase stops after\n"
        "                     --rtt-count round trips or 2*T s (default %.1f)\n"
        "  --rtt-count N      round trips per rtt phase (default %zu)\n"
        "  --rounds R         interleave: run every phase R times for 1/R of its time or\n"
        "                     round trips; report the median rate and percentiles over all\n"
        "                     samples (default %d)\n"
        "  --warmup T         seconds of load before each measurement (default min(0.3, T/R/3))\n"
        "  --transport ipc|tcp  (default %s)\n"
        "  --only LIST        comma list of rtt (direct+switch rtt), pipelined (switch),\n"
        "                     relay (bare relay rtt+pipelined), sdk (raw_same_payload +\n"
        "                     sdk_pipelined), all (default: every phase), or phase\n"
        "                     names (e.g. sdk_pipelined, for a profile of one phase)\n"
        "  --sdk              the SDK mode: add sdk to --only (alone: --only sdk)\n"
        "  --timeout-ms N     timeout_ms in every REQUEST (default 0 = none)\n"
        "  --json             print one JSON object instead of a table\n"
        "  --switch PATH      the switch binary (default: xsp-switch next to xsp-bench)\n"
        "  --target-prefix CMD  run each target process (switch, relay, echo) under CMD,\n"
        "                     e.g. \"valgrind --tool=callgrind\" (with --only to pick one)\n"
        "  --switch-arg ARG   pass ARG to the switch (repeatable)\n"
        "  --pin, --no-pin    pin the target process to CPU 1 and this one (clients, servers)\n"
        "                     to CPU 0 (default: pin when there are 2 or more CPUs)\n"
        "  --keep             keep the run dir (child logs) in /tmp\n"
        "  --sdk-own-contexts SDK peers each create their own libzmq context (an I/O\n"
        "                     thread each) instead of sharing the one the raw peers use\n"
        "  --durable          add durable_pipelined: the same pipelined load with every\n"
        "                     REQUEST PERSISTENT, the switch journaling with fdatasync\n"
        "                     (with switch_pipelined, the same run's non-persistent figure)\n"
        "  --state-dir DIR    the durable phase's journal directory (default: a new\n"
        "                     directory under /var/tmp, on the real disk, removed after)\n",
        o.clients, o.servers, o.window, o.payload, o.seconds, o.rtt_count, o.rounds, o.transport);
}

static double num_arg(const char *opt, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "xsp-bench: %s needs a number in [%g, %g]\n", opt, lo, hi);
        exit(2);
    }
    return x;
}

static unsigned parse_only(const char *list, unsigned *single)
{
    unsigned sel = 0;
    *single = 0;
    char *copy = strdup(list);
    for (char *w = strtok(copy, ","); w; w = strtok(NULL, ",")) {
        size_t k = 0;
        while (k < NPHASES && strcmp(w, phases[k].name))
            k++;
        if (k < NPHASES)
            *single |= 1u << k;
        else if (!strcmp(w, "rtt"))
            sel |= SEL_RTT;
        else if (!strcmp(w, "pipelined"))
            sel |= SEL_PIPELINED;
        else if (!strcmp(w, "relay"))
            sel |= SEL_RELAY;
        else if (!strcmp(w, "sdk"))
            sel |= SEL_SDK;
        else if (!strcmp(w, "all"))
            sel |= SEL_ALL;
        else {
            fprintf(stderr, "xsp-bench: --only takes rtt, pipelined, relay, sdk, all or phase names\n");
            exit(2);
        }
    }
    free(copy);
    return sel;
}

static bool selected(size_t i)
{
    return (phases[i].sel & o.only) || (o.only_phases >> i & 1);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (!strcmp(a, name) && (i++, true))
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--json"))
            o.json = true;
        else if (!strcmp(a, "--keep"))
            o.keep = true;
        else if (!strcmp(a, "--sdk-own-contexts"))
            o.sdk_own_contexts = true;
        else if (!strcmp(a, "--pin"))
            o.pin = true;
        else if (!strcmp(a, "--no-pin"))
            o.pin = false;
        else if (!strcmp(a, "--sdk"))
            o.sdk = true;
        else if (!strcmp(a, "--durable"))
            o.durable = true;
        else if (OPT("--state-dir"))
            snprintf(o.state_dir, sizeof o.state_dir, "%s", v);
        else if (OPT("--clients"))
            o.clients = (int) num_arg(a, v, 1, 256);
        else if (OPT("--servers"))
            o.servers = (int) num_arg(a, v, 1, 256);
        else if (OPT("--window"))
            o.window = (int) num_arg(a, v, 1, 65536);
        else if (OPT("--payload"))
            o.payload = (size_t) num_arg(a, v, 0, 1 << 20);
        else if (OPT("--seconds"))
            o.seconds = num_arg(a, v, 0.05, 3600);
        else if (OPT("--warmup"))
            o.warmup = num_arg(a, v, 0, 600);
        else if (OPT("--rtt-count"))
            o.rtt_count = (size_t) num_arg(a, v, 1, 1e8);
        else if (OPT("--rounds"))
            o.rounds = (int) num_arg(a, v, 1, MAX_ROUNDS);
        else if (OPT("--timeout-ms"))
            o.timeout_ms = (uint64_t) num_arg(a, v, 0, 1e9);
        else if (OPT("--transport")) {
            if (!v || (strcmp(v, "ipc") && strcmp(v, "tcp"))) {
                fprintf(stderr, "xsp-bench: --transport takes ipc or tcp\n");
                exit(2);
            }
            o.transport = v;
        } else if (OPT("--only")) {
            if (!v) {
                fprintf(stderr, "xsp-bench: --only needs a list\n");
                exit(2);
            }
            o.only = parse_only(v, &o.only_phases);
            o.only_given = true;
        } else if (OPT("--switch")) {
            if (!v || !realpath(v, o.switch_path)) {
                fprintf(stderr, "xsp-bench: --switch: %s: %s\n", v ? v : "(missing)", strerror(errno));
                exit(2);
            }
        } else if (OPT("--target-prefix")) {
            o.target_prefix = (char *) v;
        } else if (OPT("--switch-arg")) {
            if (!v || o.nswitch_args == MAX_SWITCH_ARGS) {
                fprintf(stderr, "xsp-bench: --switch-arg needs a value (at most %d)\n", MAX_SWITCH_ARGS);
                exit(2);
            }
            o.switch_args[o.nswitch_args++] = v;
        } else {
            fprintf(stderr, "xsp-bench: unknown option %s\n", a);
            usage(stderr);
            exit(2);
        }
#undef OPT
    }
    if (o.sdk)
        o.only = o.only_given ? o.only | SEL_SDK : SEL_SDK;
    if (o.durable)
        o.only = o.only_given || o.sdk ? o.only | SEL_DURABLE : SEL_DURABLE | SEL_PIPELINED;
    if (o.durable) {
        if (!o.state_dir[0]) {
            snprintf(o.state_dir, sizeof o.state_dir, "/var/tmp/xsp-bench-state.XXXXXX");
            if (!mkdtemp(o.state_dir)) {
                fprintf(stderr, "xsp-bench: cannot create %s: %s\n", o.state_dir, strerror(errno));
                exit(2);
            }
            o.state_dir_made = true;
        }
        struct statfs fs;
        if (statfs(o.state_dir, &fs) == 0)
            state_fs = fs.f_type == 0xEF53 ? "ext4" : fs.f_type == 0x58465342 ? "xfs"
                     : fs.f_type == 0x9123683E ? "btrfs" : fs.f_type == 0x01021994 ? "tmpfs (not a disk!)"
                     : fs.f_type == 0x794c7630 ? "overlayfs" : "other";
        if (!o.json)
            fprintf(stderr, "xsp-bench: durable state dir %s (%s)\n", o.state_dir, state_fs);
    }
    if (o.warmup < 0)
        o.warmup = o.seconds / o.rounds / 3 < 0.3 ? o.seconds / o.rounds / 3 : 0.3;
}

int main(int argc, char **argv)
{
    /* the hidden child modes: the relay and echo processes of a bench run */
    if (argc == 3 && !strcmp(argv[1], "--relay"))
        return relay_main(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--echo"))
        return echo_main(argv[2]);

    ssize_t n = readlink("/proc/self/exe", o.self, sizeof o.self - 1);
    if (n <= 0) {
        fprintf(stderr, "xsp-bench: readlink /proc/self/exe: %s\n", strerror(errno));
        return 2;
    }
    o.self[n] = 0;
    snprintf(o.switch_path, sizeof o.switch_path, "%.*s/xsp-switch",
             (int) (strrchr(o.self, '/') - o.self), o.self);
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        o.pin = false;
    parse_args(argc, argv);
    bool need_sizes = false;
    for (size_t i = 0; i < NPHASES; i++)
        need_sizes |= selected(i) && phases[i].sdk_sizes;
    if (need_sizes) {
        char why[256];
        if (sdk_payload_sizes(&o.sdk_request, &o.sdk_reply, why, sizeof why)) {
            fprintf(stderr, "xsp-bench: %s\n", why);
            return 2;
        }
    }

    snprintf(o.run_dir, sizeof o.run_dir, "/tmp/xsp-bench.XXXXXX");
    if (!mkdtemp(o.run_dir)) {
        fprintf(stderr, "xsp-bench: mkdtemp: %s\n", strerror(errno));
        return 2;
    }
    if (o.pin && pin_to_cpu(0)) {
        fprintf(stderr, "xsp-bench: --pin: %s\n", strerror(errno));
        return 2;
    }
    void *zctx = zmq_ctx_new();
    uint64_t t_start = now_ns();
    summary_t s = { 0 };
    const target_t *broken[sizeof targets / sizeof targets[0]];
    size_t nbroken = 0;

    for (int round = 0; round < o.rounds; round++)
        for (size_t i = 0; i < NPHASES; i++) {
            const phase_t *ph = &phases[i];
            phase_result_t *pr = &results[i];
            if (!selected(i))
                continue;
            pr->ran = true;
            bool skip = false;
            for (size_t k = 0; k < nbroken; k++)
                skip |= broken[k] == target_named(ph->target);
            if (skip)
                continue;
            if (!o.json)
                fprintf(stderr, "xsp-bench: round %d/%d: %s ...\n", round + 1, o.rounds, ph->name);
            load_result_t r;
            char err[512] = "";
            int rc = run_phase(zctx, ph, &r, err, sizeof err);
            pr->errors += r.errors;
            pr->seconds += r.seconds;
            if (rc == -2)
                broken[nbroken++] = target_named(ph->target);
            if (rc) {
                free(r.samples);
                fprintf(stderr, "xsp-bench: %s failed: %s\n", ph->name, err);
                snprintf(pr->failure, sizeof pr->failure, "%s", err);
                s.failures++;
                continue;
            }
            pool_samples(pr, &r);
            pr->r[pr->nrounds++] = r;
        }
    zmq_ctx_term(zctx);
    if (o.state_dir_made) {
        const char *files[] = { "journal", "journal.lock", "journal.tmp" };
        for (size_t i = 0; i < 3; i++) {
            char f[PATH_MAX + 32];
            snprintf(f, sizeof f, "%s/%s", o.state_dir, files[i]);
            unlink(f);
        }
        rmdir(o.state_dir);
    }
    if (o.keep)
        fprintf(stderr, "xsp-bench: run dir kept: %s\n", o.run_dir);
    else
        run_dir_remove(o.run_dir);

    for (size_t i = 0; i < NPHASES; i++) {
        summarize(&results[i]);
        s.errors += results[i].errors;
    }
    s.drtt = got("direct_rtt");
    s.srtt = got("switch_rtt");
    s.rrtt = got("relay_rtt");
    s.spipe = got("switch_pipelined");
    s.rpipe = got("relay_pipelined");
    s.rsame = got("raw_same_payload");
    s.sdk = got("sdk_pipelined");
    s.dpipe = got("durable_pipelined");
    s.state_fs = state_fs;
    if (s.sdk && s.rsame)
        s.sdk_overhead = 1 - s.sdk->med.rpc_per_s / s.rsame->med.rpc_per_s;
    if (s.drtt && s.srtt)
        s.rtt_ratio = s.srtt->med.p50_us / s.drtt->med.p50_us;
    if (s.spipe && s.rpipe)
        s.vs_bare = s.spipe->med.rpc_per_s / s.rpipe->med.rpc_per_s;
    double total = (double) (now_ns() - t_start) / 1e9;
    if (o.json)
        report_json(&s, total);
    else
        report_table(&s, total);
    return s.errors || s.failures ? 1 : 0;
}

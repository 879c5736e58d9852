/*  bench.h — what the parts of xsp-bench share.

    Owns: the declarations that connect xsp-bench.c (options, phases, report), load.c (the
    client and server threads of one measured phase), sdk.c (the same threads through
    libxsp's typed API, for the --sdk phases), proto.c (what raw peers put on the wire),
    child.c (the separate processes: switch, bare relay, direct echo) and relay.c (the
    hidden child modes of xsp-bench itself).
    Never touches: anything at run time; declarations only.
*/
#ifndef XSP_BENCH_H
#define XSP_BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <zmq.h>

#include "xsp/wire.h"

/* ------------------------------------------------------------------ proto.c */

/*  The ways bench peers talk.  Raw clients are identical in the first two: they send
    [REQUEST header, payload] and expect [RESULT header, payload].  Only the server side and
    the handshakes differ, by exactly what each protocol needs.
      PROTO_XSP     the real switch (docs/protocol.md): HELLO/WELCOME; servers SUBSCRIBE,
                    receive [DELIVER, payload] and answer [REPLY(msg_id, 0), payload].
      PROTO_ROUTED  a bare relay or the direct echo: no session.  A server receives
                    [route, REQUEST, payload] and answers [route, RESULT(corr, 0), payload];
                    `route` is the client's routing id, carried as an extra frame.
      PROTO_SDK     the real switch through libxsp (sdk.c): clients are xsp_client_t's
                    making Datapath.attach calls with the generated asynchronous stub,
                    servers are xsp_server_t's answering them through the generated
                    dispatcher.  The same messages on the wire as PROTO_XSP, made and read
                    by the SDK instead of by the bench. */
typedef enum { PROTO_XSP, PROTO_ROUTED, PROTO_SDK } proto_t;

/*  The one-frame message a PROTO_ROUTED server sends to announce itself to the relay, and
    the relay's one-frame answer. */
#define RELAY_REGISTER "xsp-bench-server"
#define RELAY_REGISTERED "ok"

#define MAX_FRAMES 4            /* a received message with more is truncated and flagged */

/*  One received multipart message. */
typedef struct {
    zmq_msg_t f[MAX_FRAMES];
    int n;                      /* frames held in f */
    bool truncated;             /* more than MAX_FRAMES arrived (the rest were dropped) */
} frames_t;

/*  One peer connection (DEALER) and its session. */
typedef struct {
    void *sock;
    proto_t proto;
    uint64_t heartbeat_ms;      /* from WELCOME (PROTO_XSP); 0 = no heartbeats */
    uint64_t max_outstanding;   /* from WELCOME; UINT64_MAX without a switch */
    uint64_t max_credit;        /* from WELCOME; UINT64_MAX without a switch */
    uint64_t last_send_ns;      /* for heartbeats */
} peer_t;

uint64_t now_ns(void);

/*  Receive all frames of one message.  Returns the frame count, or -1 with errno
    (EAGAIN: nothing within the socket's timeout or with ZMQ_DONTWAIT). */
int frames_recv(void *sock, frames_t *m, int flags);
void frames_close(frames_t *m);

/*  A DEALER connected to endpoint with the bench's socket options, or NULL. */
void *peer_socket(void *zctx, const char *endpoint, char *err, size_t errlen);

/*  Start a session: PROTO_XSP sends HELLO and waits for WELCOME (limits land in p);
    PROTO_ROUTED does nothing.  0 or -1 with err. */
int peer_join(peer_t *p, const char *name, const char *role, char *err, size_t errlen);
/*  A server's second step: SUBSCRIBE(queue, credit clamped to max_credit) to the switch, or
    register with the relay and wait for its answer.  0 or -1 with err. */
int peer_serve(peer_t *p, const char *queue, uint64_t credit, char *err, size_t errlen);
/*  Send a HEARTBEAT if the session needs one (nothing sent for half an interval). */
void peer_tick(peer_t *p);
/*  End the session (BYE to the switch). */
void peer_leave(peer_t *p);

/*  Encode the REQUEST header every client sends, whatever the target. */
size_t request_header(uint8_t *buf, size_t cap, uint64_t corr, const char *queue, uint64_t timeout_ms,
                      uint64_t flags);

/*  A server's answer to one received message m (consumes m's frames).  Without a reply
    template (tmpl NULL) the request's payload frame goes back as the reply's (zero copy);
    with one, the reply is a new frame of tlen bytes: tmpl with its first (up to) 8 bytes
    replaced by the request payload's first bytes (the client's corr).  Returns 1 when a
    request was answered, 0 when m needed no answer (HEARTBEAT), -1 when m was wrong (a
    sentence in err). */
int server_answer(peer_t *p, frames_t *m, const uint8_t *tmpl, size_t tlen, char *err, size_t errlen);

/* ------------------------------------------------------------------ load.c */

typedef struct {
    const char *endpoint;
    proto_t proto;
    const char *queue;
    int clients;
    int servers;                /* server threads; 0 when the target serves itself (echo) */
    int window;                 /* requests outstanding per client */
    size_t payload;             /* bytes per request (and reply, without reply_template) */
    const uint8_t *reply_template;  /* raw servers: NULL = echo the request's payload;
                                       else answer reply_payload bytes of it (server_answer) */
    size_t reply_payload;
    uint64_t timeout_ms;        /* REQUEST timeout_ms (0 = none) */
    uint64_t flags;             /* REQUEST flags (XSP_FLAG_PERSISTENT for the durable phase) */
    double warmup_s;            /* load runs this long before the measurement starts */
    double seconds;             /* measurement length (upper bound when samples > 0) */
    size_t samples;             /* >0: record this many round-trip times, then stop */
    pid_t target_pid;           /* the target's process, for its CPU time (0 = none) */
    bool sdk_own_contexts;      /* SDK peers: each its own libzmq context (and I/O thread)
                                   instead of sharing the raw peers' one (--sdk-own-contexts) */
} load_cfg_t;

typedef struct {
    double seconds;             /* measured interval */
    uint64_t completed;         /* replies verified inside the measured interval */
    double rpc_per_s;
    uint64_t errors;            /* mismatches, lost replies, ERROR frames, bad frames */
    size_t nsamples;
    uint64_t *samples;          /* the round trips in ns, sorted (caller frees) */
    double p50_us, p99_us, mean_us;
    double target_cpu;          /* CPU the target process used in the interval, in cores */
    double bench_cpu;           /* CPU this process (clients, servers, libzmq) used, in cores */
    double fsync_per_s;         /* durable target: the switch's fdatasyncs per second (DIAG), else -1 */
    bool ok;                    /* false: the phase could not run (err says why) */
} load_result_t;

/*  Run one phase against a target that is already listening at cfg->endpoint. */
void run_load(void *zctx, const load_cfg_t *cfg, load_result_t *out, char *err, size_t errlen);

/*  The threads of a phase, shared by load.c (which runs them all, and the raw peers) and
    sdk.c (the PROTO_SDK peers).  A thread says ST_READY once its session is up, waits for
    `go`, loads until `stop_clients` / `stop_servers`, then ends in ST_DONE (ST_FAILED with
    err when it could not start). */
typedef struct {
    uint64_t corr;              /* 0 = free */
    uint64_t sent_ns;           /* only when recording round trips */
} slot_t;

enum { ST_STARTING, ST_READY, ST_FAILED, ST_DONE };

typedef struct load load_t;

typedef struct {
    load_t *L;
    int id;
    pthread_t th;
    bool started;
    _Atomic int state;
    char err[256];
    _Atomic uint64_t done;      /* verified replies (clients) or answers sent (servers) */
    _Atomic size_t nsamples;
    uint64_t *samples;          /* round-trip ns, when the phase records them */
    uint64_t errors;            /* read after join */
    /* client only */
    slot_t *slots;              /* window entries; corr = (seq << slot_bits) | slot */
    uint32_t *free_slots;
    uint32_t nfree;
    unsigned slot_bits;
    uint64_t seq;
    uint8_t *pattern;
} __attribute__((aligned(64))) worker_t;

struct load {
    void *zctx;
    const load_cfg_t *cfg;
    _Atomic bool go, recording, stop_clients, stop_servers;
    worker_t *clients, *servers;
};

/*  Count an error of w; describe the first few of each worker on stderr. */
void worker_fault(worker_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pause_ms(unsigned ms);
/*  Clients: take a free slot and give it the next corr / give a slot back / the slot of an
    outstanding corr (NULL if corr is not outstanding). */
uint32_t slot_take(worker_t *w, uint64_t *corr);
void slot_release(worker_t *w, slot_t *sl);
slot_t *slot_outstanding(worker_t *w, uint64_t corr);
/*  Clients: one verified reply whose request left at sent_ns (0 when not recording). */
void client_count(worker_t *w, uint64_t sent_ns, uint64_t now);

/* ------------------------------------------------------------------ sdk.c */

/*  What the SDK phases send: Datapath.attach(uri, domain) answered with a backend in
    domain 0 with one xen_disk implementation whose params is the uri.  The encoded sizes
    of that request's and reply's payloads (by the generated encoders, with a uri of the
    length the clients use).  0, or -1 with err. */
int sdk_payload_sizes(size_t *request, size_t *reply, char *err, size_t errlen);
void *sdk_client_main(void *arg);   /* a worker_t of a PROTO_SDK phase */
void *sdk_server_main(void *arg);

/* ------------------------------------------------------------------ child.c */

typedef struct {
    pid_t pid;                  /* 0 = not running */
    int status;                 /* wait status once it ended (-1 = unknown) */
    char name[32];
    char out_path[4096];        /* the child's stdout (where its ready line appears) */
    char err_path[4096];        /* the child's stderr */
} child_t;

/*  fork/exec argv with stdout/stderr in RUN_DIR/NAME.out/.err, pinned to CPU `cpu` unless
    it is -1, and wait up to timeout_s for a stdout line starting with ready_prefix.
    0, or -1 with err (the child is then stopped). */
int child_start(child_t *c, const char *name, const char *run_dir, char *const argv[], int cpu,
                const char *ready_prefix, double timeout_s, char *err, size_t errlen);
/*  Pin the calling thread (and the threads it creates later) to one CPU.  0 or -1. */
int pin_to_cpu(int cpu);
/*  SIGTERM, wait up to grace_s, then SIGKILL.  Returns the wait status, or -1. */
int child_stop(child_t *c, double grace_s);
/*  Print the last lines of the child's stderr to our stderr (when something went wrong). */
void child_dump_stderr(const child_t *c);
/*  CPU seconds (user + system, all threads) process pid used so far; 0 pid = ourselves.
    -1 when unknown. */
double process_cpu_s(pid_t pid);
/*  True while the child runs; once it ended, c->status holds its wait status. */
bool child_alive(child_t *c);
/*  "exited with status N" / "killed by signal N". */
void child_describe_status(int st, char *buf, size_t len);

/*  A TCP port on 127.0.0.1 free right now (0 on failure). */
int free_tcp_port(void);
/*  Remove RUN_DIR's files and RUN_DIR itself. */
void run_dir_remove(const char *run_dir);

/* ------------------------------------------------------------------ relay.c */

/*  The hidden child modes: `xsp-bench --relay ENDPOINT` and `xsp-bench --echo ENDPOINT`.
    Each binds a ROUTER, prints "xsp-bench <mode> ready: ENDPOINT" and serves until SIGTERM. */
int relay_main(const char *endpoint);
int echo_main(const char *endpoint);

/*  Nearest-rank percentile (q in [0,1]) of sorted v[0..n), in microseconds. */
double percentile_us(const uint64_t *v, size_t n, double q);

#define CHILD_READY_FMT "xsp-bench %s ready: %s\n"

#endif

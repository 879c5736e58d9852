/*  test_fault_soak — minutes of mixed load with random kills; at the end every book
    balances, the switch's DIAG agrees with the clients' books, and its memory is flat.

    One real xsp-switch (--state-dir: persistent calls are part of the load,
    --heartbeat-ms 1000).  Child processes of this same binary:
      server   a libxsp server answering with the request body on every soak queue; one
               of them is slow (3 ms per request).  Servers are SIGKILLed at random and
               restarted.
      client   a checked client on its own queue soak.NAME, WINDOW calls in flight for the
               whole run, then a drain; it writes its books (sent, ok, wrong, each error
               code) to a file.  Three of them, each a different mix:
                 plain  plain calls, every 11th with a 1 ms deadline (expires);
                 amo    every 3rd AT_MOST_ONCE (server-lost when its server dies), every
                        11th 1 ms;
                 pers   with an identity; every 2nd PERSISTENT (journaled, fdatasync before
                        ACCEPTED), every 7th AT_MOST_ONCE, every 11th 1 ms.
               Their wait limit is deadline + 10 s, so every answer is the switch's: a local
               timeout would mean the switch lost a request.
      churn    the plain mix on queue soak.churn, SIGKILLed at random and restarted.
      victim   sends 2000 requests to soak.victim, makes sure the switch has them all (a
               DIAG round trip), and is SIGKILLed with them outstanding.
    The parent samples the switch's VmRSS every 200 ms.

    Checks:
      1. every checked client's books balance exactly: sent = ok + expired + server-lost
         (no other outcome: no timeout, no disconnected), nothing outstanding, no wrong
         answer;
      2. the switch's DIAG agrees with each checked client, per queue: sent = sent,
         replied = ok, expired = expired, errors = expired + server-lost; the switch's
         totals equal the sums over its queues (sent, expired) and cover the clients'
         (server_lost);
      3. once the load is gone the switch holds nothing: requests_held 0, held_bytes 0,
         every peer's outstanding 0, the journal has no live record;
      4. RSS is flat: after a warm-up (the first sixth of the run, at most 10 s), the
         median of the last third of the samples is within 25% + 4 MiB of the median of
         the first third (ASan: + 128 MiB, its quarantine holds freed memory).

    Duration: XSP_SOAK_SECONDS (default 20 in the suite, at least 6), e.g.
    `XSP_SOAK_SECONDS=600 ctest -R fault.soak` for ten minutes.  A watchdog (alarm)
    ends the test XSP_SOAK_SECONDS + 60 s after it started (+ 120 s under ASan), so the
    ctest TIMEOUT need not follow the duration.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xsp/client.h"
#include "xsp/server.h"
#include "xsp_test.h"

#define WINDOW 32
#define NSERVERS 3              /* server 0 is the slow one */
#define CALL_MS 5000            /* deadline of the ordinary calls */
#define WAIT_EXTRA_MS 10000     /* checked clients: wait limit = deadline + this */
#define VICTIM_CALLS 2000

static const char *const checked[] = { "plain", "amo", "pers" };
#define NCHECKED 3
static const char *const serve_queues[] = { "soak.plain", "soak.amo", "soak.pers", "soak.churn",
                                            "soak.victim" };
#define NQUEUES 5

static volatile sig_atomic_t stop_flag;
static void on_term(int sig) { (void) sig; stop_flag = 1; }

static bool asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#else
    return false;
#endif
}

/* ------------------------------------------------------------------ server */

static bool slow_server;

static void handler(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void) s;
    (void) arg;
    if (slow_server)
        usleep(3000);
    xsp_request_reply(req, XSP_STATUS_OK, xsp_request_body(req), xsp_request_size(req));
}

static int run_server(const char *endpoint, bool slow)
{
    xsp_error_t err;
    slow_server = slow;
    signal(SIGTERM, on_term);
    xsp_server_t *s = xsp_server_new(endpoint, slow ? "soak-slow" : "soak-server", NULL, 0, &err);
    if (!s) {
        fprintf(stderr, "server: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < NQUEUES; i++)
        if (xsp_server_subscribe(s, serve_queues[i], slow ? 4 : 16, handler, NULL, &err) != XSP_OK) {
            fprintf(stderr, "server: %s\n", err.msg);
            return 1;
        }
    while (!stop_flag) {
        struct pollfd p = { .fd = xsp_server_fd(s), .events = POLLIN };
        int t = xsp_server_timeout_ms(s);
        poll(&p, 1, t < 0 || t > 100 ? 100 : t);
        xsp_server_process(s);
    }
    xsp_server_destroy(&s);
    return 0;
}

/* ------------------------------------------------------------------ clients */

typedef struct {
    unsigned long sent, ok, wrong, by_code[XSP_E__COUNT + 1];
    unsigned long outstanding;
} books_t;

static books_t bk;

static void done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_reply_t *r, void *arg)
{
    (void) c;
    (void) id;
    uint64_t want = (uint64_t) (uintptr_t) arg;
    bk.outstanding--;
    if (err->code == XSP_OK) {
        bk.ok++;
        if (r->len != 8 || memcmp(r->body, &want, 8) != 0)
            bk.wrong++;
    } else {
        bk.by_code[err->code < XSP_E__COUNT ? err->code : XSP_E__COUNT]++;
    }
}

/*  The call options of call number n for a mix. */
static xsp_call_opts_t mix(const char *kind, uint64_t n)
{
    xsp_call_opts_t co = { .timeout_ms = CALL_MS, .wait_ms = CALL_MS + WAIT_EXTRA_MS };
    if (!strcmp(kind, "amo") && n % 3 == 0)
        co.flags |= XSP_CALL_AT_MOST_ONCE;
    if (!strcmp(kind, "pers")) {
        if (n % 2 == 0)
            co.flags |= XSP_CALL_PERSISTENT;
        if (n % 7 == 0)
            co.flags |= XSP_CALL_AT_MOST_ONCE;
    }
    if (n % 11 == 0) {
        co.timeout_ms = 1;                      /* expires, queued or in flight */
        co.wait_ms = 1 + WAIT_EXTRA_MS;
    }
    return co;
}

/*  kind: plain, amo, pers (checked: books to books_path), churn (plain mix, killed). */
static int run_client(const char *endpoint, const char *kind, long long ms, const char *books_path)
{
    xsp_error_t err;
    char name[64], queue[64], ident[64];
    signal(SIGTERM, on_term);
    snprintf(name, sizeof name, "soak-%s", kind);
    snprintf(queue, sizeof queue, "soak.%s", kind);
    snprintf(ident, sizeof ident, "soak-%s-identity", kind);
    xsp_client_opts_t o = { .endpoint = endpoint, .name = name,
                            .identity = strcmp(kind, "pers") ? NULL : ident };
    xsp_client_t *c = xsp_client_new_opts(&o, &err);
    if (!c) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return 1;
    }
    long long end = xsp_test_now_ms() + ms;
    uint64_t n = 0;
    while (!stop_flag && xsp_test_now_ms() < end) {
        while (bk.outstanding < WINDOW) {
            n++;
            xsp_call_opts_t co = mix(kind, n);
            if (xsp_client_send(c, queue, &n, 8, &co, done, (void *) (uintptr_t) n, NULL, &err) != XSP_OK) {
                fprintf(stderr, "%s: send: %s\n", name, err.msg);
                return 1;
            }
            bk.sent++;
            bk.outstanding++;
        }
        xsp_client_wait(c, 20);
    }
    long long drain = xsp_test_now_ms() + CALL_MS + WAIT_EXTRA_MS + 2000;
    while (bk.outstanding && xsp_test_now_ms() < drain)
        xsp_client_wait(c, 50);
    xsp_client_destroy(&c);
    if (!books_path)
        return 0;
    FILE *f = fopen(books_path, "w");
    if (!f || fwrite(&bk, sizeof bk, 1, f) != 1 || fclose(f) != 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", name, books_path, strerror(errno));
        return 1;
    }
    return 0;
}

/*  Send VICTIM_CALLS requests, wait until the switch has read them all (a DIAG round trip
    on the same connection comes after them), say so on ready_fd, and wait to be killed. */
static int run_victim(const char *endpoint, int ready_fd)
{
    xsp_error_t err;
    xsp_client_t *c = xsp_client_new(endpoint, "soak-victim", &err);
    if (!c) {
        fprintf(stderr, "victim: %s\n", err.msg);
        return 1;
    }
    for (uint64_t n = 1; n <= VICTIM_CALLS; n++) {
        xsp_call_opts_t co = { .timeout_ms = 60000, .flags = n % 3 ? 0 : XSP_CALL_AT_MOST_ONCE };
        if (xsp_client_send(c, "soak.victim", &n, 8, &co, done, (void *) (uintptr_t) n, NULL, &err) != XSP_OK) {
            fprintf(stderr, "victim: send: %s\n", err.msg);
            return 1;
        }
    }
    void *d;
    size_t len;
    if (xsp_client_diag(c, 10000, &d, &len, &err) == XSP_OK) {
        free(d);
        if (write(ready_fd, "r", 1) != 1)
            return 1;
    }
    for (;;)
        pause();
}

/* ------------------------------------------------------------------ DIAG */

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            !memcmp(k->via.str.ptr, key, k->via.str.size))
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static uint64_t u64(const msgpack_object *o, const char *what)
{
    CHECK_MSG(o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER, "DIAG: no unsigned %s", what);
    return o->via.u64;
}

typedef struct {
    msgpack_unpacked up;
    void *data;
} diag_t;

static const msgpack_object *diag_take(xsp_client_t *c, diag_t *d)
{
    size_t len;
    xsp_error_t err;
    CHECK_MSG(xsp_client_diag(c, 10000, &d->data, &len, &err) == XSP_OK, "diag: %s", err.msg);
    msgpack_unpacked_init(&d->up);
    CHECK(msgpack_unpack_next(&d->up, d->data, len, NULL) == MSGPACK_UNPACK_SUCCESS);
    return &d->up.data;
}

static void diag_free(diag_t *d)
{
    msgpack_unpacked_destroy(&d->up);
    free(d->data);
}

static uint64_t counter(const msgpack_object *diag, const char *name)
{
    return u64(get(get(diag, "counters"), name), name);
}

static const msgpack_object *queue_stats(const msgpack_object *diag, const char *name)
{
    const msgpack_object *qs = get(diag, "queues");
    CHECK(qs && qs->type == MSGPACK_OBJECT_ARRAY);
    for (uint32_t i = 0; i < qs->via.array.size; i++) {
        const msgpack_object *n = get(&qs->via.array.ptr[i], "name");
        if (n && n->type == MSGPACK_OBJECT_STR && n->via.str.size == strlen(name) &&
            !memcmp(n->via.str.ptr, name, n->via.str.size))
            return &qs->via.array.ptr[i];
    }
    CHECK_MSG(false, "DIAG has no queue %s", name);
    return NULL;
}

/*  Sum of a per-queue statistic over every queue. */
static uint64_t queue_sum(const msgpack_object *diag, const char *stat)
{
    const msgpack_object *qs = get(diag, "queues");
    uint64_t s = 0;
    for (uint32_t i = 0; i < qs->via.array.size; i++)
        s += u64(get(&qs->via.array.ptr[i], stat), stat);
    return s;
}

/* ------------------------------------------------------------------ the test */

static xsp_test_switch_t sw;
static char dir[256];

static pid_t child(const char *mode, const char *arg, long long ms, int keep_fd)
{
    char msbuf[32], fdbuf[16];
    snprintf(msbuf, sizeof msbuf, "%lld", ms);
    snprintf(fdbuf, sizeof fdbuf, "%d", keep_fd);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl("/proc/self/exe", "test_fault_soak", mode, sw.endpoint, arg, msbuf, fdbuf, (char *) NULL);
        _exit(127);
    }
    return pid;
}

static pid_t start_client(const char *kind, long long ms)
{
    char path[400];
    snprintf(path, sizeof path, "%s/books.%s", dir, kind);
    return child(kind, path, ms, -1);
}

static void kill_wait(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *) a, y = *(const long *) b;
    return x < y ? -1 : x > y;
}

static long median(const long *v, size_t n)
{
    long *t = malloc(n * sizeof *t);
    CHECK(t && n);
    memcpy(t, v, n * sizeof *t);
    qsort(t, n, sizeof *t, cmp_long);
    long m = t[n / 2];
    free(t);
    return m;
}

/*  A victim: started, killed once the switch holds its VICTIM_CALLS requests (or after
    10 s if it never says so).  Returns true when it was ready. */
static bool victim(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t v = child("victim", "-", 0, p[1]);
    close(p[1]);
    struct pollfd pf = { .fd = p[0], .events = POLLIN };
    char b = 0;
    bool ready = poll(&pf, 1, 10000) == 1 && read(p[0], &b, 1) == 1 && b == 'r';
    close(p[0]);
    kill_wait(v);
    return ready;
}

static void on_alarm(int sig)
{
    (void) sig;
    static const char m[] = "test_fault_soak: watchdog: the soak ran past its time bound\n";
    ssize_t w = write(2, m, sizeof m - 1);
    (void) w;
    _exit(1);                   /* children die with us (PR_SET_PDEATHSIG) */
}

int main(int argc, char **argv)
{
    if (argc == 6) {
        long long ms = atoll(argv[4]);
        if (!strcmp(argv[1], "server") || !strcmp(argv[1], "slow-server"))
            return run_server(argv[2], !strcmp(argv[1], "slow-server"));
        if (!strcmp(argv[1], "victim"))
            return run_victim(argv[2], atoi(argv[5]));
        if (!strcmp(argv[1], "churn"))
            return run_client(argv[2], "churn", ms, NULL);
        return run_client(argv[2], argv[1], ms, argv[3]);
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *env = getenv("XSP_SOAK_SECONDS");
    long long seconds = env ? atoll(env) : 20;
    CHECK_MSG(seconds >= 6 && seconds <= 86400, "XSP_SOAK_SECONDS must be 6..86400, not %s", env);
    signal(SIGALRM, on_alarm);
    alarm((unsigned) (seconds + (asan() ? 120 : 60)));
    long long run_ms = seconds * 1000;
    CHECK(xsp_test_tmpdir(dir, sizeof dir));
    char state[400];
    snprintf(state, sizeof state, "%s/state", dir);
    CHECK(mkdir(state, 0700) == 0);
    CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "1000", "--state-dir", state, NULL) == 0);
    srand((unsigned) getpid());

    pid_t servers[NSERVERS], clients[NCHECKED], churn;
    for (int i = 0; i < NSERVERS; i++)
        servers[i] = child(i == 0 ? "slow-server" : "server", "-", 0, -1);
    for (int i = 0; i < NCHECKED; i++)
        clients[i] = start_client(checked[i], run_ms);
    churn = child("churn", "-", 24 * 3600 * 1000LL, -1);

    size_t cap = (size_t) (run_ms / 200 + 16), ns = 0;
    long *rss = calloc(cap, sizeof *rss);
    long long *rss_t = calloc(cap, sizeof *rss_t);
    CHECK(rss && rss_t);
    unsigned server_kills = 0, churn_kills = 0, victims = 0, victims_ready = 0;
    long long max_rtt = 0, rtt_sum = 0, nrtt = 0;
    xsp_error_t perr;
    xsp_client_t *probe = xsp_client_new(sw.endpoint, "soak-probe", &perr);
    CHECK_MSG(probe, "%s", perr.msg);
    long long t0 = xsp_test_now_ms(), next_chaos = t0 + 500;
    while (xsp_test_now_ms() - t0 < run_ms) {
        usleep(200 * 1000);
        long r = rss_kib(sw.pid);
        if (r > 0 && ns < cap) {
            rss_t[ns] = xsp_test_now_ms() - t0;
            rss[ns++] = r;
        }
        /* how long the switch takes to answer a DIAG under this load (printed, not checked) */
        long long t = xsp_test_now_ms();
        void *pd;
        size_t pl;
        if (xsp_client_diag(probe, 10000, &pd, &pl, &perr) == XSP_OK) {
            free(pd);
            t = xsp_test_now_ms() - t;
            max_rtt = t > max_rtt ? t : max_rtt;
            rtt_sum += t;
            nrtt++;
        }
        if (xsp_test_now_ms() < next_chaos || xsp_test_now_ms() - t0 > run_ms - 1000)
            continue;
        next_chaos = xsp_test_now_ms() + 300 + rand() % 700;
        int dice = rand() % 10;
        if (dice < 4) {                         /* a server dies and comes back */
            int i = rand() % NSERVERS;
            kill_wait(servers[i]);
            servers[i] = child(i == 0 ? "slow-server" : "server", "-", 0, -1);
            server_kills++;
        } else if (dice < 7) {                  /* the churn client dies and comes back */
            kill_wait(churn);
            churn = child("churn", "-", 24 * 3600 * 1000LL, -1);
            churn_kills++;
        } else {                                /* a client vanishes with 2000 outstanding */
            victims_ready += victim();
            victims++;
        }
    }
    kill_wait(churn);
    xsp_client_destroy(&probe);
    printf("  the switch answered DIAG every 200 ms during the load: mean %lld ms, slowest %lld ms "
           "(%lld samples)\n", nrtt ? rtt_sum / nrtt : 0, max_rtt, nrtt);

    /* 1. the checked clients drain and write their books */
    books_t b[NCHECKED];
    for (int i = 0; i < NCHECKED; i++) {
        int st = 0;
        CHECK(waitpid(clients[i], &st, 0) == clients[i]);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client %s failed (status 0x%x)", checked[i], st);
        char path[400];
        snprintf(path, sizeof path, "%s/books.%s", dir, checked[i]);
        FILE *f = fopen(path, "r");
        CHECK_MSG(f && fread(&b[i], sizeof b[i], 1, f) == 1, "no books from client %s", checked[i]);
        fclose(f);
        unsigned long failed = 0;
        printf("  soak.%s: sent %lu = ok %lu", checked[i], b[i].sent, b[i].ok);
        for (int c = 0; c <= XSP_E__COUNT; c++)
            if (b[i].by_code[c]) {
                printf(" + %s %lu", c < XSP_E__COUNT ? xsp_code_name((xsp_code_t) c) : "other", b[i].by_code[c]);
                failed += b[i].by_code[c];
            }
        printf(" (outstanding %lu, wrong %lu)\n", b[i].outstanding, b[i].wrong);
        for (int c = 0; c <= XSP_E__COUNT; c++)
            CHECK_MSG(!b[i].by_code[c] || c == XSP_E_EXPIRED || c == XSP_E_SERVER_LOST ||
                      c == XSP_E_DISCONNECTED,
                      "client %s: %lu calls ended %s, which this load must never produce", checked[i],
                      b[i].by_code[c], c < XSP_E__COUNT ? xsp_code_name((xsp_code_t) c) : "(unknown code)");
        CHECK_EQ(b[i].outstanding, 0);
        CHECK_EQ(b[i].wrong, 0);
        CHECK_EQ(b[i].sent, b[i].ok + failed);
        CHECK_MSG(b[i].ok > 0 && b[i].by_code[XSP_E_EXPIRED] > 0, "client %s: the mix did not run", checked[i]);
    }
    printf("ok 1 - %lld s of mixed load, %u server kills, %u churn-client kills, %u vanished "
           "clients (%u with all %d requests in the switch): every checked client's books "
           "balance\n", seconds, server_kills, churn_kills, victims, victims_ready, VICTIM_CALLS);

    /* 3 first (the switch must be quiet for an exact comparison), then 2 */
    xsp_error_t err;
    xsp_client_t *c = xsp_client_new(sw.endpoint, "soak-check", &err);
    CHECK_MSG(c, "%s", err.msg);
    diag_t d;
    const msgpack_object *dg = diag_take(c, &d);
    long long until = xsp_test_now_ms() + (asan() ? 30000 : 15000);
    while ((counter(dg, "requests_held") || counter(dg, "held_bytes")) && xsp_test_now_ms() < until) {
        diag_free(&d);
        usleep(200 * 1000);
        dg = diag_take(c, &d);
    }
    CHECK_EQ(counter(dg, "requests_held"), 0);
    CHECK_EQ(counter(dg, "held_bytes"), 0);
    const msgpack_object *peers = get(dg, "peers");
    CHECK(peers && peers->type == MSGPACK_OBJECT_ARRAY);
    for (uint32_t i = 0; i < peers->via.array.size; i++)
        CHECK_EQ(u64(get(&peers->via.array.ptr[i], "outstanding"), "outstanding"), 0);
    const msgpack_object *dur = get(dg, "durable");
    CHECK_MSG(dur, "DIAG has no durable map: is --state-dir on?");
    CHECK_EQ(u64(get(dur, "live"), "durable.live"), 0);
    printf("ok 3 - the switch holds nothing afterwards: requests_held 0, held_bytes 0, no peer "
           "outstanding, journal live 0 (journal %llu bytes, %llu commits, %llu fsyncs, %llu "
           "compactions)\n",
           (unsigned long long) u64(get(dur, "journal_bytes"), "journal_bytes"),
           (unsigned long long) u64(get(dur, "commits"), "commits"),
           (unsigned long long) u64(get(dur, "fsyncs"), "fsyncs"),
           (unsigned long long) u64(get(dur, "compactions"), "compactions"));

    uint64_t lost_sum = 0;
    unsigned long disconnects = 0;
    int exact = 0;
    for (int i = 0; i < NCHECKED; i++) {
        char qn[64];
        snprintf(qn, sizeof qn, "soak.%s", checked[i]);
        const msgpack_object *q = queue_stats(dg, qn);
        uint64_t qs = u64(get(q, "sent"), "sent"), qr = u64(get(q, "replied"), "replied"),
                 qe = u64(get(q, "expired"), "expired"), qerr = u64(get(q, "errors"), "errors");
        printf("  switch %s: sent %llu, replied %llu, expired %llu, errors %llu, requeued %llu\n", qn,
               (unsigned long long) qs, (unsigned long long) qr, (unsigned long long) qe,
               (unsigned long long) qerr, (unsigned long long) u64(get(q, "requeued"), "requeued"));
        lost_sum += b[i].by_code[XSP_E_SERVER_LOST];
        if (b[i].by_code[XSP_E_DISCONNECTED]) {
            /* the client gave its session up (the switch silent for 3 heartbeats) and failed
               what it had outstanding; the switch may have answered some of those into the
               old session, and dropped what the old socket still buffered: only bounds */
            printf("    (%s reconnected: %lu calls failed disconnected; DIAG checked for bounds "
                   "only)\n", qn, b[i].by_code[XSP_E_DISCONNECTED]);
            disconnects += b[i].by_code[XSP_E_DISCONNECTED];
            CHECK(qs <= b[i].sent);
            CHECK(qr >= b[i].ok);
            CHECK(qe >= b[i].by_code[XSP_E_EXPIRED]);
            CHECK(qerr >= b[i].by_code[XSP_E_EXPIRED] + b[i].by_code[XSP_E_SERVER_LOST]);
            continue;
        }
        CHECK_EQ(qs, b[i].sent);
        CHECK_EQ(qr, b[i].ok);
        CHECK_EQ(qe, b[i].by_code[XSP_E_EXPIRED]);
        CHECK_EQ(qerr, b[i].by_code[XSP_E_EXPIRED] + b[i].by_code[XSP_E_SERVER_LOST]);
        exact++;
    }
    CHECK_EQ(counter(dg, "sent"), queue_sum(dg, "sent"));
    CHECK_EQ(counter(dg, "expired"), queue_sum(dg, "expired"));
    CHECK(counter(dg, "server_lost") >= lost_sum);
    printf("ok 2 - the switch's DIAG agrees with the checked clients (per queue: sent, replied, "
           "expired, errors; exactly for %d of %d, %lu disconnected calls); totals: sent %llu, replied %llu, expired %llu, server_lost %llu, "
           "requeued %llu, late_replies %llu, peers_down %llu\n",
           exact, NCHECKED, disconnects,
           (unsigned long long) counter(dg, "sent"), (unsigned long long) counter(dg, "replied"),
           (unsigned long long) counter(dg, "expired"), (unsigned long long) counter(dg, "server_lost"),
           (unsigned long long) counter(dg, "requeued"), (unsigned long long) counter(dg, "late_replies"),
           (unsigned long long) counter(dg, "peers_down"));
    diag_free(&d);
    xsp_client_destroy(&c);

    /* 4. RSS */
    long long warm = run_ms / 6 < 10000 ? run_ms / 6 : 10000;
    size_t w = 0;
    while (w < ns && rss_t[w] < warm)
        w++;
    CHECK(ns - w >= 9);
    size_t third = (ns - w) / 3;
    long first = median(rss + w, third), last = median(rss + ns - third, third), peak = 0;
    for (size_t i = 0; i < ns; i++)
        peak = rss[i] > peak ? rss[i] : peak;
    long slack = asan() ? 128 * 1024 : 4096;
    printf("  switch VmRSS: %ld KiB at start, %ld KiB after the %lld ms warm-up; median %ld KiB "
           "in the first third after it, %ld KiB in the last third; peak %ld KiB (%zu samples)\n",
           rss[0], rss[w], warm, first, last, peak, ns);
    CHECK_MSG(last <= first + first / 4 + slack, "RSS grew: median %ld KiB -> %ld KiB (bound %ld)",
              first, last, first + first / 4 + slack);
    printf("ok 4 - switch RSS flat: %ld -> %ld KiB (bound: + 25%% + %ld KiB)\n", first, last, slack);
    free(rss);
    free(rss_t);

    for (int i = 0; i < NSERVERS; i++) {
        kill(servers[i], SIGTERM);
        waitpid(servers[i], NULL, 0);
    }
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    return 0;
}

/*  plugin.c — xsp_plugin_main(): a storage plugin's process (see xsp/plugin.h).

    Owns: the plugin command line, logging setup, signal handling (SIGINT/SIGTERM through a
    signalfd), the loop (switch fd + timers + signals + a wake eventfd), the timer heap
    (shared with worker threads, under a mutex), the (re)subscribe detection that calls the
    registration hook, and the orderly shutdown (unsubscribe, drain, fini, BYE).
    Never touches: request contents (the generated dispatcher and dispatch.c decode them),
    the socket (server.c), the registrar calls (plugin_reg.c; plugin.c only drives them).
*/
#define _GNU_SOURCE
#include "xsp/plugin.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "plugin_reg.h"
#include "session.h"            /* xsp_now_ms */
#include "xsp/client.h"         /* xsp_queue_name_valid */
#include "xsp/endpoint.h"
#include "xsp/log.h"
#include "xsp/resolve.h"        /* XSP_REGISTRAR_QUEUE */
#include "xsp/wire.h"

#define QUEUE_PREFIX "org.xen.xsp.storage."
#define DEFAULT_CREDIT 64u
#define MAX_WORKERS 1024u
#define MAX_CREDIT 65535u
#define DRAIN_MS 3000
#define UNREGISTER_MS 2000
#define MAX_SCHEMES 64

typedef struct {
    int64_t due;
    uint64_t seq;               /* FIFO among equal deadlines */
    xsp_plugin_timer_fn *fn;
    void *arg;
} timer_t_;

struct xsp_plugin {
    const xsp_plugin_def_t *def;
    xsp_server_t *srv;
    const char *endpoint;       /* NULL = the endpoint rule */
    char queue[XSP_QUEUE_MAX + 1];
    char peer_name[XSP_NAME_MAX + 1];
    uint32_t domid;
    unsigned workers, credit;
    int log_level;
    bool use_syslog;
    int sigfd, wakefd;
    atomic_bool stop;
    uint64_t last_peer_id;      /* to notice a new session (a re-subscribe) */
    /* registration (plugin_reg.c) */
    const char *schemes[MAX_SCHEMES + 1];   /* --scheme, else def->schemes */
    size_t nschemes;
    const char *backend_domain;             /* --backend-domain, else def->backend_domain */
    const char *registrar;                  /* --registrar */
    bool no_register;
    plugin_reg_t *reg;                      /* NULL = not registering */
    /* timers: any thread, under mu */
    pthread_mutex_t mu;
    timer_t_ *heap;
    size_t nheap, cap;
    uint64_t seq;
};

/* ================================================================ timers */

static bool t_less(const timer_t_ *a, const timer_t_ *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_up(timer_t_ *h, size_t i)
{
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!t_less(&h[i], &h[up]))
            break;
        timer_t_ t = h[i];
        h[i] = h[up];
        h[up] = t;
        i = up;
    }
}

static void heap_down(timer_t_ *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && t_less(&h[l], &h[m]))
            m = l;
        if (l + 1 < n && t_less(&h[l + 1], &h[m]))
            m = l + 1;
        if (m == i)
            return;
        timer_t_ t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void kick(xsp_plugin_t *p)
{
    uint64_t one = 1;
    ssize_t w = write(p->wakefd, &one, sizeof one);
    (void) w;
}

int xsp_plugin_after(xsp_plugin_t *p, unsigned ms, xsp_plugin_timer_fn *fn, void *arg)
{
    if (!p || !fn)
        return -1;
    pthread_mutex_lock(&p->mu);
    if (p->nheap == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 64;
        timer_t_ *n = realloc(p->heap, ncap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&p->mu);
            return -1;
        }
        p->heap = n;
        p->cap = ncap;
    }
    timer_t_ *t = &p->heap[p->nheap];
    t->due = xsp_now_ms() + (int64_t) ms;
    t->seq = p->seq++;
    t->fn = fn;
    t->arg = arg;
    heap_up(p->heap, p->nheap++);
    pthread_mutex_unlock(&p->mu);
    kick(p);
    return 0;
}

/*  Milliseconds until the next timer (0 = due, -1 = none). */
static int timers_next_ms(xsp_plugin_t *p)
{
    int t = -1;
    pthread_mutex_lock(&p->mu);
    if (p->nheap) {
        int64_t d = atomic_load(&p->stop) ? 0 : p->heap[0].due - xsp_now_ms();
        t = d <= 0 ? 0 : d > INT_MAX ? INT_MAX : (int) d;
    }
    pthread_mutex_unlock(&p->mu);
    return t;
}

/*  Run the timers due now (all of them when stopping), but none added by this pass. */
static size_t timers_run(xsp_plugin_t *p)
{
    size_t ran = 0;
    pthread_mutex_lock(&p->mu);
    uint64_t limit = p->seq;
    for (;;) {
        bool all = atomic_load(&p->stop);
        if (!p->nheap || p->heap[0].seq >= limit || (!all && p->heap[0].due > xsp_now_ms()))
            break;
        timer_t_ t = p->heap[0];
        p->heap[0] = p->heap[--p->nheap];
        heap_down(p->heap, p->nheap, 0);
        pthread_mutex_unlock(&p->mu);
        t.fn(p, t.arg);
        ran++;
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return ran;
}

static size_t timers_pending(xsp_plugin_t *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->nheap;
    pthread_mutex_unlock(&p->mu);
    return n;
}

/* ================================================================ accessors */

void xsp_plugin_stop(xsp_plugin_t *p)
{
    atomic_store(&p->stop, true);
    kick(p);
}

bool xsp_plugin_stopping(const xsp_plugin_t *p)
{
    return atomic_load(&((xsp_plugin_t *) p)->stop);
}

xsp_server_t *xsp_plugin_server(const xsp_plugin_t *p) { return p->srv; }
const char *xsp_plugin_queue(const xsp_plugin_t *p) { return p->queue; }
const char *xsp_plugin_name(const xsp_plugin_t *p) { return p->def->name; }
uint32_t xsp_plugin_domid(const xsp_plugin_t *p) { return p->domid; }
unsigned xsp_plugin_workers(const xsp_plugin_t *p) { return p->workers; }
const char *xsp_plugin_backend_domain(const xsp_plugin_t *p) { return p->backend_domain; }

/* ================================================================ command line */

enum {
    OPT_SWITCH = 256, OPT_QUEUE, OPT_DOMAIN, OPT_LOG_LEVEL, OPT_SYSLOG, OPT_FOREGROUND,
    OPT_CREDIT, OPT_WORKERS, OPT_SCHEME, OPT_BACKEND_DOMAIN, OPT_REGISTRAR, OPT_NO_REGISTER,
    OPT_HELP, OPT_VERSION, OPT_CURVE_CERT, OPT_SWITCH_KEY, OPT_PLUGIN = 1000,
};

static const struct {
    const char *name, *arg, *help;
    int id;
} common_opts[] = {
    { "switch", "ENDPOINT", "the switch (default: $XSP_SWITCH, else ipc://RUN_DIR/switch.sock)", OPT_SWITCH },
    { "curve-cert", "FILE", "tcp with CURVE: this plugin's NAME.key_secret (sets $XSP_CURVE_CERT)", OPT_CURVE_CERT },
    { "switch-key", "FILE", "tcp with CURVE: the switch's public switch.key (sets $XSP_CURVE_SERVER)", OPT_SWITCH_KEY },
    { "queue", "NAME", "the queue to serve (default: %s)", OPT_QUEUE },
    { "domain", "N", "the domid this plugin runs in, claimed to the switch (default 0)", OPT_DOMAIN },
    { "log-level", "L", "err, warn, info (default) or debug", OPT_LOG_LEVEL },
    { "syslog", NULL, "log to syslog instead of stderr", OPT_SYSLOG },
    { "foreground", NULL, "run in the foreground (always: the plugin never forks)", OPT_FOREGROUND },
    { "credit", "N", "requests delivered at once (default: the worker count, else 64; with workers, at most their count)", OPT_CREDIT },
    { "workers", "N", "threads for blocking handlers (0 = handlers run in the event loop)", OPT_WORKERS },
    { "scheme", "S", "register as serving URI scheme S (repeatable; replaces the plugin's own list)", OPT_SCHEME },
    { "backend-domain", "D", "where backends run: own (default), a domid, or on-demand", OPT_BACKEND_DOMAIN },
    { "registrar", "QUEUE", "the registrar's queue (default " XSP_REGISTRAR_QUEUE ")", OPT_REGISTRAR },
    { "no-register", NULL, "do not register with the registrar", OPT_NO_REGISTER },
    { "help", NULL, "show this help and exit", OPT_HELP },
    { "version", NULL, "show the version and exit", OPT_VERSION },
};
#define N_COMMON (sizeof common_opts / sizeof common_opts[0])

static size_t n_plugin_opts(const xsp_plugin_def_t *def)
{
    size_t n = 0;
    while (def->options && def->options[n].name)
        n++;
    return n;
}

static void usage(FILE *f, const xsp_plugin_t *p)
{
    const xsp_plugin_def_t *def = p->def;
    char dq[XSP_QUEUE_MAX + 64];
    snprintf(dq, sizeof dq, def->queue ? "%s" : QUEUE_PREFIX "%s", def->queue ? def->queue : def->name);
    fprintf(f, "Usage: %s [OPTION]...\n", p->peer_name);
    if (def->description)
        fprintf(f, "%s\n", def->description);
    fprintf(f, "\nA storage plugin for the xsp switch: serves the storage API (docs/api.md) on a "
               "queue.\nRuns in the foreground until SIGTERM or SIGINT (exit status 0).\n\nOptions:\n");
    for (size_t i = 0; i < N_COMMON; i++) {
        char left[64], help[512];
        snprintf(left, sizeof left, "--%s%s%s", common_opts[i].name, common_opts[i].arg ? " " : "",
                 common_opts[i].arg ? common_opts[i].arg : "");
        if (common_opts[i].id == OPT_QUEUE)
            snprintf(help, sizeof help, common_opts[i].help, dq);
        else
            snprintf(help, sizeof help, "%s", common_opts[i].help);
        fprintf(f, "  %-22s %s\n", left, help);
    }
    size_t n = n_plugin_opts(def);
    if (n)
        fprintf(f, "\nOptions of %s:\n", p->peer_name);
    for (size_t i = 0; i < n; i++) {
        char left[96];
        const xsp_plugin_option_t *o = &def->options[i];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-22s %s\n", left, o->help ? o->help : "");
    }
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return false;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

static bool scheme_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.") == n;
}

/*  0 = run, 2 = usage error, -1 = done (help/version printed). */
static int parse_args(xsp_plugin_t *p, int argc, char **argv)
{
    const xsp_plugin_def_t *def = p->def;
    size_t np = n_plugin_opts(def);
    struct option *lo = calloc(N_COMMON + np + 1, sizeof *lo);
    if (!lo) {
        fprintf(stderr, "%s: out of memory\n", p->peer_name);
        return 2;
    }
    for (size_t i = 0; i < N_COMMON; i++)
        lo[i] = (struct option) { common_opts[i].name, common_opts[i].arg ? required_argument : no_argument,
                                  NULL, common_opts[i].id };
    for (size_t i = 0; i < np; i++)
        lo[N_COMMON + i] = (struct option) { def->options[i].name,
                                             def->options[i].arg ? required_argument : no_argument, NULL,
                                             OPT_PLUGIN + (int) i };
    const char *queue = NULL;
    unsigned long v;
    int rc = 0;
    optind = 0;                 /* glibc: full re-initialisation */
    const char *curve_cert = NULL, *switch_key = NULL;
    for (int c; rc == 0 && (c = getopt_long(argc, argv, "h", lo, NULL)) != -1;) {
        switch (c) {
        case OPT_SWITCH:
            p->endpoint = optarg;
            break;
        case OPT_CURVE_CERT:
            curve_cert = optarg;
            break;
        case OPT_SWITCH_KEY:
            switch_key = optarg;
            break;
        case OPT_QUEUE:
            queue = optarg;
            break;
        case OPT_DOMAIN:
            if (!parse_uint(optarg, UINT32_MAX, &v)) {
                fprintf(stderr, "%s: --domain wants a domid, not '%s'\n", p->peer_name, optarg);
                rc = 2;
            }
            p->domid = (uint32_t) v;
            break;
        case OPT_LOG_LEVEL:
            p->log_level = xsp_log_level_from_name(optarg);
            if (p->log_level < 0) {
                fprintf(stderr, "%s: --log-level is one of err, warn, info, debug (not '%s')\n",
                        p->peer_name, optarg);
                rc = 2;
            }
            break;
        case OPT_SYSLOG:
            p->use_syslog = true;
            break;
        case OPT_FOREGROUND:
            break;              /* always */
        case OPT_CREDIT:
            if (!parse_uint(optarg, MAX_CREDIT, &v) || v == 0) {
                fprintf(stderr, "%s: --credit wants 1..%u, not '%s'\n", p->peer_name, MAX_CREDIT, optarg);
                rc = 2;
            }
            p->credit = (unsigned) v;
            break;
        case OPT_WORKERS:
            if (!parse_uint(optarg, MAX_WORKERS, &v)) {
                fprintf(stderr, "%s: --workers wants 0..%u, not '%s'\n", p->peer_name, MAX_WORKERS, optarg);
                rc = 2;
            }
            p->workers = (unsigned) v;
            break;
        case OPT_SCHEME:
            if (p->nschemes == MAX_SCHEMES) {
                fprintf(stderr, "%s: at most %d --scheme options\n", p->peer_name, MAX_SCHEMES);
                rc = 2;
            } else if (!scheme_valid(optarg)) {
                fprintf(stderr, "%s: --scheme wants a URI scheme (a letter, then letters, digits, "
                        "+ - .), not '%s'\n", p->peer_name, optarg);
                rc = 2;
            } else {
                p->schemes[p->nschemes++] = optarg;
            }
            break;
        case OPT_BACKEND_DOMAIN: {
            xsp_backend_policy_t bp;
            if (plugin_reg_parse_backend(optarg, &bp) != 0) {
                fprintf(stderr, "%s: --backend-domain is own, on-demand or a domid below 32752, not "
                        "'%s'\n", p->peer_name, optarg);
                rc = 2;
            }
            p->backend_domain = optarg;
            break;
        }
        case OPT_REGISTRAR:
            if (!xsp_queue_name_valid(optarg)) {
                fprintf(stderr, "%s: --registrar wants a queue name, not '%s'\n", p->peer_name, optarg);
                rc = 2;
            }
            p->registrar = optarg;
            break;
        case OPT_NO_REGISTER:
            p->no_register = true;
            break;
        case 'h':
        case OPT_HELP:
            usage(stdout, p);
            rc = -1;
            break;
        case OPT_VERSION:
            printf("%s %s (libxsp %s)\n", p->peer_name, def->version ? def->version : XSP_VERSION,
                   XSP_VERSION);
            rc = -1;
            break;
        default:
            if (c >= OPT_PLUGIN && (size_t) (c - OPT_PLUGIN) < np) {
                if (def->option && def->option(def->ctx, def->options[c - OPT_PLUGIN].name, optarg) != 0)
                    rc = 2;
            } else {
                fprintf(stderr, "Try '%s --help'.\n", argv[0]);
                rc = 2;
            }
            break;
        }
    }
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'; try '%s --help'\n", p->peer_name, argv[optind], argv[0]);
        rc = 2;
    }
    if (rc == 0 && !curve_cert != !switch_key) {
        fprintf(stderr, "%s: --curve-cert and --switch-key go together\n", p->peer_name);
        rc = 2;
    }
    if (rc == 0 && curve_cert &&        /* the session reads them (docs/security.md) */
        (setenv("XSP_CURVE_CERT", curve_cert, 1) != 0 || setenv("XSP_CURVE_SERVER", switch_key, 1) != 0)) {
        fprintf(stderr, "%s: cannot set $XSP_CURVE_CERT: %s\n", p->peer_name, strerror(errno));
        rc = 2;
    }
    free(lo);
    if (rc)
        return rc;
    if (p->nschemes == 0)
        while (def->schemes && p->nschemes < MAX_SCHEMES && def->schemes[p->nschemes]) {
            p->schemes[p->nschemes] = def->schemes[p->nschemes];
            p->nschemes++;
        }
    if (!p->backend_domain)
        p->backend_domain = def->backend_domain;
    if (queue)
        snprintf(p->queue, sizeof p->queue, "%s", queue);
    else if (def->queue)
        snprintf(p->queue, sizeof p->queue, "%s", def->queue);
    else
        snprintf(p->queue, sizeof p->queue, QUEUE_PREFIX "%s", def->name);
    if (!xsp_queue_name_valid(p->queue) || (queue && strlen(queue) > XSP_QUEUE_MAX)) {
        fprintf(stderr, "%s: '%s' is not a queue name (1-255 of A-Z a-z 0-9 . _ - : / @ +)\n",
                p->peer_name, queue ? queue : p->queue);
        return 2;
    }
    return 0;
}

/* ================================================================ the loop */

/*  Set up the registration (plugin_reg.c), unless --no-register or no schemes. */
static void registration_start(xsp_plugin_t *p)
{
    if (p->no_register || p->nschemes == 0) {
        xsp_log(XSP_LOG_INFO, "not registering with the registrar (%s)",
                p->no_register ? "--no-register" : "no URI scheme: give --scheme");
        return;
    }
    plugin_reg_cfg_t cfg = {
        .endpoint = p->endpoint, .peer_name = p->peer_name, .domid = p->domid,
        .registrar = p->registrar, .name = p->peer_name,
        .version = p->def->version ? p->def->version : XSP_VERSION, .queue = p->queue,
        .schemes = p->schemes, .nschemes = p->nschemes, .kinds = p->def->kinds,
        .features = p->def->features,
    };
    xsp_error_t err;
    if (plugin_reg_parse_backend(p->backend_domain, &cfg.backend) != 0) {
        xsp_log(XSP_LOG_ERR, "the plugin's default backend domain '%s' is not own, on-demand or a "
                "domid: not registering", p->backend_domain);
        return;
    }
    p->reg = plugin_reg_new(&cfg, &err);
    if (!p->reg)
        xsp_log(XSP_LOG_ERR, "cannot set up the registration: %s: not registering", err.msg);
}

/*  Called after every (re)subscribe: (re)register with the registrar (asynchronous). */
static void plugin_register(xsp_plugin_t *p)
{
    if (p->reg)
        plugin_reg_subscribed(p->reg);
}

/*  At start, and from server.c's new-session hook: it has just subscribed again and no
    request of the new session has reached on_request yet, so def->on_connected runs before
    any handler sees the new session.  Not while draining (we are leaving: no re-register). */
static void check_session(xsp_plugin_t *p)
{
    uint64_t id = xsp_server_peer_id(p->srv);
    if (id == 0 || id == p->last_peer_id)
        return;
    if (p->last_peer_id)
        xsp_log(XSP_LOG_INFO, "new session with the switch (peer %llu): '%s' subscribed again",
                (unsigned long long) id, p->queue);
    p->last_peer_id = id;
    plugin_register(p);
    if (p->def->on_connected)
        p->def->on_connected(p->def->ctx, p);
}

static void on_session(xsp_server_t *s, void *arg)
{
    xsp_plugin_t *p = arg;
    (void) s;
    if (!atomic_load(&p->stop))
        check_session(p);
}

static void on_request(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    xsp_plugin_t *p = arg;
    (void) s;
    xsp_log(XSP_LOG_DEBUG, "message %llu from peer %llu (domid %u), dbg '%.200s'",
            (unsigned long long) xsp_request_msg_id(req), (unsigned long long) xsp_request_peer_id(req),
            xsp_request_domid(req), xsp_request_dbg(req));
    xsp_storage_dispatch(req, p->def->ops, p->def->ctx);
}

/*  Wait for the switch fd, the wake fd and (when sigfd >= 0) signals, up to timeout_ms. */
static void wait_events(xsp_plugin_t *p, int timeout_ms)
{
    struct pollfd fds[4] = {
        { .fd = xsp_server_fd(p->srv), .events = POLLIN },
        { .fd = p->wakefd, .events = POLLIN },
        { .fd = p->sigfd, .events = POLLIN },
        { .fd = p->reg ? plugin_reg_fd(p->reg) : -1, .events = POLLIN },
    };
    int t = xsp_server_timeout_ms(p->srv);
    if (p->reg) {
        int rt = plugin_reg_timeout_ms(p->reg);
        if (rt >= 0 && (t < 0 || rt < t))
            t = rt;
    }
    if (timeout_ms >= 0 && timeout_ms < t)
        t = timeout_ms;
    int next = timers_next_ms(p);
    if (next >= 0 && next < t)
        t = next;
    if (poll(fds, 4, t) <= 0)
        return;
    if (fds[1].revents & POLLIN) {
        uint64_t junk;
        while (read(p->wakefd, &junk, sizeof junk) > 0)
            ;
    }
    if (fds[2].revents & POLLIN) {
        struct signalfd_siginfo si;
        while (read(p->sigfd, &si, sizeof si) == (ssize_t) sizeof si) {
            if (!atomic_load(&p->stop))
                xsp_log(XSP_LOG_INFO, "received %s: stopping", strsignal((int) si.ssi_signo));
            atomic_store(&p->stop, true);
        }
    }
}

static void run(xsp_plugin_t *p)
{
    while (!atomic_load(&p->stop)) {
        wait_events(p, -1);
        xsp_server_process(p->srv);
        timers_run(p);
        if (p->reg)
            plugin_reg_process(p->reg);
    }
}

/*  Stop taking requests; answer what is held (timers fire now); give running handlers
    DRAIN_MS to finish. */
static void drain(xsp_plugin_t *p)
{
    xsp_error_t err;
    if (p->reg)
        plugin_reg_unregister(p->reg, UNREGISTER_MS);
    if (xsp_server_unsubscribe(p->srv, p->queue, &err) != XSP_OK)
        xsp_log(XSP_LOG_WARN, "unsubscribe: %s", err.msg);
    int64_t end = xsp_now_ms() + DRAIN_MS;
    for (;;) {
        timers_run(p);
        xsp_server_process(p->srv);
        if (xsp_server_pending(p->srv) == 0 && timers_pending(p) == 0)
            break;
        if (xsp_now_ms() >= end) {
            xsp_log(XSP_LOG_WARN, "%zu request(s) still unanswered after %d ms: leaving them to "
                    "the switch", xsp_server_pending(p->srv), DRAIN_MS);
            break;
        }
        wait_events(p, 20);
    }
}

int xsp_plugin_main(int argc, char **argv, const xsp_plugin_def_t *def)
{
    static char ident[XSP_NAME_MAX + 1];      /* xsp_log keeps the pointer */
    xsp_plugin_t p;
    xsp_error_t err;
    sigset_t sigs, oldmask;

    if (!def || !def->name || !*def->name) {
        fprintf(stderr, "xsp_plugin_main: the plugin definition has no name\n");
        return 2;
    }
    memset(&p, 0, sizeof p);
    p.def = def;
    p.workers = def->workers;
    p.log_level = XSP_LOG_INFO;
    p.sigfd = p.wakefd = -1;
    atomic_init(&p.stop, false);
    snprintf(p.peer_name, sizeof p.peer_name, "xsp-plugin-%s", def->name);
    int rc = parse_args(&p, argc, argv);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (p.credit == 0)
        p.credit = def->credit ? def->credit : p.workers ? p.workers : DEFAULT_CREDIT;
    if (p.workers && p.credit > p.workers)
        p.credit = p.workers;   /* what xsp_server_subscribe would make of it (plugin.h) */
    snprintf(ident, sizeof ident, "%s", p.peer_name);
    xsp_log_open(ident, p.use_syslog, (xsp_log_level_t) p.log_level);

    /* signals: blocked before any thread starts (ZeroMQ's, the workers), read from a fd */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &oldmask);
    pthread_mutex_init(&p.mu, NULL);
    p.sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    p.wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    rc = 1;
    if (p.sigfd < 0 || p.wakefd < 0) {
        xsp_log(XSP_LOG_ERR, "cannot create the loop's descriptors: %s", strerror(errno));
        goto out;
    }

    p.srv = xsp_server_new(p.endpoint, p.peer_name, "plugin", p.domid, &err);
    if (!p.srv) {
        xsp_log(XSP_LOG_ERR, "cannot connect to the switch: %s", err.msg);
        goto out;
    }
    if (p.workers && xsp_server_set_workers(p.srv, p.workers, &err) != XSP_OK) {
        xsp_log(XSP_LOG_ERR, "cannot start %u workers: %s", p.workers, err.msg);
        goto out;
    }
    if (def->init && def->init(def->ctx, &p) != 0) {
        xsp_log(XSP_LOG_ERR, "the plugin's initialisation failed");
        goto out;
    }
    if (xsp_server_subscribe(p.srv, p.queue, p.credit, on_request, &p, &err) != XSP_OK) {
        xsp_log(XSP_LOG_ERR, "cannot subscribe to '%s': %s", p.queue, err.msg);
        if (def->fini)
            def->fini(def->ctx, &p);
        goto out;
    }
    xsp_log(XSP_LOG_INFO, "started: serving '%s' at %s (peer %llu, domid %u, %u worker(s), credit %u)",
            p.queue, p.endpoint ? p.endpoint : "the default endpoint",
            (unsigned long long) xsp_server_peer_id(p.srv), p.domid, p.workers, p.credit);
    registration_start(&p);
    check_session(&p);
    xsp_server_on_session(p.srv, on_session, &p);
    run(&p);
    drain(&p);
    if (def->fini)
        def->fini(def->ctx, &p);
    rc = 0;
out:
    plugin_reg_destroy(&p.reg);
    xsp_server_destroy(&p.srv);           /* joins the workers; BYE */
    if (p.nheap)
        xsp_log(XSP_LOG_WARN, "%zu timer(s) never ran (added after the drain)", p.nheap);
    free(p.heap);
    pthread_mutex_destroy(&p.mu);
    if (p.sigfd >= 0) {
        struct signalfd_siginfo si;     /* consume what came in late: unblocking must not kill us */
        while (read(p.sigfd, &si, sizeof si) == (ssize_t) sizeof si)
            ;
        close(p.sigfd);
    }
    if (p.wakefd >= 0)
        close(p.wakefd);
    pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
    xsp_log(rc ? XSP_LOG_ERR : XSP_LOG_INFO, rc ? "failed to start" : "stopped");
    return rc;
}

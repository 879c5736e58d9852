/*  trace_print.c — `xsp trace`: stream the switch's trace ring (and live events) and
    print them as lines, JSON lines, or an mscgen sequence chart.

    Owns: the trace command's loop, SIGINT handling for --follow, the three output forms.
    Never touches: the protocol (libxsp's trace stream), other commands.

    mscgen needs every entity declared before the first arc, so arcs are collected and the
    chart is printed at the end (without --follow: when the ring has been read; with it:
    the `msc {` header at once, the rest when interrupted).
*/
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct {
    bool json, mscgen, follow;
    bool ended;
    char **ents;
    size_t nents, cents;
    char **arcs;
    size_t narcs, carcs;
    bool oom;
    int rc;                 /* exit code: set by a trace error */
    uint64_t from;          /* --from (sequences start at 1) */
    bool filtered;          /* --queue given: gaps in seq are expected */
    bool seen;              /* an event was printed */
} tp_t;

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig)
{
    (void) sig;
    g_interrupted = 1;
}

/* ---- text ---- */

static void put_field(xsp_str_t s, int width)
{
    if (s.len)
        printf("%-*.*s", width, (int) s.len, s.ptr);
    else
        printf("%-*s", width, "-");
}

static bool is(xsp_str_t s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static void print_line(const xsp_trace_event_t *ev)
{
    char id[32] = "-";
    if (ev->msg_id)
        snprintf(id, sizeof id, "#%llu", (unsigned long long) ev->msg_id);
    printf("%7llu %11.6f ", (unsigned long long) ev->seq, (double) ev->ts_ns / 1e9);
    put_field(ev->event, 11);
    putchar(' ');
    put_field(ev->queue, 16);
    printf(" %7s ", id);
    put_field(ev->from, 0);
    printf(" -> ");
    put_field(ev->to, 0);
    printf(" %lluB", (unsigned long long) ev->size);
    if (ev->dbg.len)
        printf(" dbg=\"%.*s\"", (int) ev->dbg.len, ev->dbg.ptr);
    if (ev->service_us || is(ev->event, "reply"))  /* a reply always: 0 = within one clock tick */
        printf(" service=%.3fms", (double) ev->service_us / 1000.0);
    putchar('\n');
}

static void print_json(const xsp_trace_event_t *ev)
{
    printf("{\"seq\":%llu,\"ts_ns\":%llu,\"event\":", (unsigned long long) ev->seq,
           (unsigned long long) ev->ts_ns);
    cli_json_str(ev->event.ptr, ev->event.len);
    printf(",\"queue\":");
    cli_json_str(ev->queue.ptr, ev->queue.len);
    printf(",\"msg_id\":%llu,\"corr\":%llu,\"from\":", (unsigned long long) ev->msg_id,
           (unsigned long long) ev->corr);
    cli_json_str(ev->from.ptr, ev->from.len);
    printf(",\"to\":");
    cli_json_str(ev->to.ptr, ev->to.len);
    printf(",\"size\":%llu,\"dbg\":", (unsigned long long) ev->size);
    cli_json_str(ev->dbg.ptr, ev->dbg.len);
    printf(",\"service_us\":%llu,\"lost\":%llu}\n", (unsigned long long) ev->service_us,
           (unsigned long long) ev->lost);
}

/* ---- mscgen ---- */

static char *quote_msc(xsp_str_t s)
{
    char *out = malloc((size_t) s.len * 2 + 1), *o = out;
    if (!out)
        return NULL;
    for (uint32_t i = 0; i < s.len; i++) {
        char ch = s.ptr[i];
        if (ch == '"' || ch == '\\')
            *o++ = '\\';
        *o++ = (ch == '\n' || ch == '\r') ? ' ' : ch;
    }
    *o = '\0';
    return out;
}

static bool push(char ***v, size_t *n, size_t *cap, char *s)
{
    if (!s)
        return false;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        char **nv = realloc(*v, nc * sizeof *nv);
        if (!nv) {
            free(s);
            return false;
        }
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = s;
    return true;
}

static const char *entity(tp_t *t, xsp_str_t name)
{
    char *q = quote_msc(name);
    if (!q) {
        t->oom = true;
        return "?";
    }
    for (size_t i = 0; i < t->nents; i++)
        if (strcmp(t->ents[i], q) == 0) {
            free(q);
            return t->ents[i];
        }
    if (!push(&t->ents, &t->nents, &t->cents, q)) {
        t->oom = true;
        return "?";
    }
    return t->ents[t->nents - 1];
}


static bool real_end(xsp_str_t s)
{
    return s.len && !is(s, "(none)") && !is(s, "-");
}

static void collect_arc(tp_t *t, const xsp_trace_event_t *ev)
{
    char label[1400];
    int n = snprintf(label, sizeof label, "%.*s", (int) ev->event.len, ev->event.ptr);
    if (ev->msg_id)
        n += snprintf(label + n, sizeof label - (size_t) n, " #%llu", (unsigned long long) ev->msg_id);
    if (ev->service_us)
        n += snprintf(label + n, sizeof label - (size_t) n, " %.3fms", (double) ev->service_us / 1000.0);
    if (ev->dbg.len)
        snprintf(label + n, sizeof label - (size_t) n, " %.*s", (int) ev->dbg.len, ev->dbg.ptr);
    char *ql = quote_msc(XSP_STR(label));
    if (!ql) {
        t->oom = true;
        return;
    }
    const char *arrow = "=>";
    if (is(ev->event, "reply"))
        arrow = ">>";
    else if (is(ev->event, "expire") || is(ev->event, "error") || is(ev->event, "drop"))
        arrow = "-x";
    else if (is(ev->event, "subscribe") || is(ev->event, "unsubscribe") || is(ev->event, "requeue"))
        arrow = "->";
    char *arc = NULL;
    int rc;
    if (real_end(ev->from) && real_end(ev->to)) {
        const char *a = entity(t, ev->from), *b = entity(t, ev->to);
        rc = asprintf(&arc, "  \"%s\" %s \"%s\" [label=\"%s\"];", a, arrow, b, ql);
    } else {
        const char *a = entity(t, real_end(ev->from) ? ev->from : real_end(ev->to) ? ev->to : XSP_STR("switch"));
        rc = asprintf(&arc, "  \"%s\" box \"%s\" [label=\"%s\"];", a, a, ql);
    }
    free(ql);
    if (rc < 0 || !push(&t->arcs, &t->narcs, &t->carcs, arc))
        t->oom = true;
}

static void msc_header(void)
{
    printf("msc {\n  hscale=\"2\";\n");
    fflush(stdout);
}

static void msc_body(tp_t *t)
{
    if (t->nents) {
        printf("  ");
        for (size_t i = 0; i < t->nents; i++)
            printf("%s\"%s\"", i ? "," : "", t->ents[i]);
        printf(";\n");
    }
    for (size_t i = 0; i < t->narcs; i++)
        printf("%s\n", t->arcs[i]);
    printf("}\n");
    fflush(stdout);
}

/* ---- the stream ---- */

static void on_event(xsp_client_t *c, const xsp_trace_event_t *ev, void *arg)
{
    (void) c;
    tp_t *t = arg;
    switch (ev->kind) {
    case XSP_TRACE_EVENT:
        if (!t->seen && !t->filtered && !t->json && !t->mscgen &&
            ev->seq > (t->from ? t->from : 1) && !ev->lost)
            printf("-- events before seq %llu are no longer in the ring --\n",
                   (unsigned long long) ev->seq);
        t->seen = true;
        if (ev->lost && !t->json) {
            if (t->mscgen) {
                char *arc = NULL;
                if (asprintf(&arc, "  --- [label=\"%llu events lost\"];", (unsigned long long) ev->lost) >= 0)
                    push(&t->arcs, &t->narcs, &t->carcs, arc);
            } else {
                printf("-- %llu events lost --\n", (unsigned long long) ev->lost);
            }
        }
        if (t->mscgen)
            collect_arc(t, ev);
        else if (t->json)
            print_json(ev);
        else
            print_line(ev);
        break;
    case XSP_TRACE_END:
        if (ev->lost && !t->mscgen && !t->json)
            printf("-- %llu events lost --\n", (unsigned long long) ev->lost);
        t->ended = true;
        break;
    case XSP_TRACE_ERROR:
        t->rc = cli_fail(ev->error);
        t->ended = true;
        break;
    case XSP_TRACE_RESTART:
        t->seen = false;
        t->from = 0;
        if (!t->mscgen && !t->json)
            printf("-- new session with the switch (restarted?): events start again --\n");
        break;
    }
    if (!t->mscgen)
        fflush(stdout);
}

int cmd_trace(const cli_ctx_t *ctx0, int argc, char **argv)
{
    cli_ctx_t ctx = *ctx0;
    static const struct option opts[] = {
        { "follow", 0, 0, 'f' }, { "queue", 1, 0, 'q' }, { "json", 0, 0, 'j' },
        { "mscgen", 0, 0, 'm' }, { "from", 1, 0, 's' }, { "switch", 1, 0, CLI_OPT_SWITCH },
        { 0, 0, 0, 0 },
    };
    tp_t t;
    memset(&t, 0, sizeof t);
    const char *glob = "";
    unsigned long long from = 0;
    int o;
    while ((o = getopt_long(argc, argv, "fq:jms:", opts, NULL)) != -1) {
        switch (o) {
        case 'f': t.follow = true; break;
        case 'q': glob = optarg; break;
        case 'j': t.json = true; break;
        case 'm': t.mscgen = true; break;
        case 's': {
            char *end;
            errno = 0;
            from = strtoull(optarg, &end, 10);
            if (errno || *end || optarg[0] == '-')
                return cli_die(CLI_USAGE, "--from wants a sequence number, not '%s'", optarg);
            break;
        }
        case CLI_OPT_SWITCH: ctx.endpoint = optarg; break;
        default: return cli_usage("trace");
        }
    }
    if (optind != argc || (t.json && t.mscgen))
        return cli_usage("trace");
    t.from = from;
    t.filtered = glob[0] != '\0';
    xsp_client_t *c = cli_connect(&ctx, "trace");
    if (!c)
        return CLI_FAILED;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;     /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    xsp_error_t err;
    if (xsp_client_trace_start(c, from, glob, t.follow, on_event, &t, &err) != XSP_OK) {
        xsp_client_destroy(&c);
        return cli_fail(&err);
    }
    if (t.mscgen && t.follow)
        msc_header();
    while (!g_interrupted && !t.ended)
        xsp_client_wait(c, 250);
    xsp_client_trace_stop(c);
    xsp_client_destroy(&c);
    if (t.mscgen) {
        if (!t.follow)
            msc_header();
        msc_body(&t);
    }
    for (size_t i = 0; i < t.nents; i++)
        free(t.ents[i]);
    for (size_t i = 0; i < t.narcs; i++)
        free(t.arcs[i]);
    free(t.ents);
    free(t.arcs);
    if (t.oom)
        return cli_die(CLI_LOCAL, "out of memory: the chart is incomplete");
    return t.rc;
}

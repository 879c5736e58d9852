/*  registrar/main.c — xsp-registrar: the Registrar interface (sdk/idl/registrar.idl) on the
    switch, over the table, policy, liveness and store modules of this directory.

    Owns: the process — command line, logging, the policy file (re-read on SIGHUP), the
    store, the registration table, two switch sessions (a server on the registrar queue,
    and a monitor client for DIAG and the followed trace), the event loop, parked `watch`
    calls, SIGTERM/SIGINT/SIGHUP.
    Never touches: payload encoding (generated stubs and dispatcher), the rules (table.c,
    policy.c, liveness.c), persistence details (store*.c).

    THE LOOP (one thread):
        poll(server fd, monitor fd, timeout = the earliest of: libxsp's own timers, the next
             reconciliation, the earliest parked watch deadline)
        server:  requests -> xsp_registrar_dispatch -> the handlers below (answer now, or
                 park a `watch` until an event or its timeout)
        monitor: trace events (subscribe / unsubscribe / peer-down / lost events / switch
                 restart) ask for a reconciliation now
        every heartbeat (and when asked): DIAG -> reg_liveness_reconcile -> dead
                 registrations are deleted from the store; reg_store_check heals the store
        table changed -> parked watches with events are answered
    A DIAG is a synchronous round trip to the switch (sub-millisecond; bounded by one
    heartbeat).  When it fails, or the switch restarted, every registration becomes
    unconfirmed again: plugins get one heartbeat timeout to reconnect and subscribe before
    their absence counts.

    DATA STRUCTURES: `app_t` holds everything; parked watches are a singly linked list in
    arrival order (at most MAX_WAITERS: each holds one credit of the subscription).
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "xsp/client.h"
#include "xsp/log.h"
#include "xsp/registrar_server.h"
#include "xsp/server.h"

#include "liveness.h"
#include "policy.h"
#include "reg.h"
#include "store.h"
#include "table.h"

#define DEFAULT_QUEUE      "org.xen.xsp.registrar"
#define DEFAULT_HEARTBEAT  1000u
#define WATCH_MAX_MS       60000u
#define WATCH_MAX_EVENTS   1024u
#define WATCH_MAX_BYTES    (256u << 10)  /* keep a watch answer well under max_payload */
#define MAX_WAITERS        512u
#define SUBSCRIBE_CREDIT   1024u    /* clamped by the switch to its max_credit */

#ifndef XSP_VERSION
#define XSP_VERSION "0"
#endif

typedef struct waiter {
    xsp_registrar_call_t *call;
    uint64_t from_seq;
    int64_t deadline_ms;
    struct waiter *next;
} waiter_t;

typedef struct {
    /* configuration */
    const char *endpoint, *store_spec, *policy_path, *state_dir, *queue;
    bool policy_explicit;
    /* state */
    reg_policy_t *policy;
    reg_table_t *table;
    reg_store_t *store;
    xsp_server_t *server;
    xsp_client_t *mon;
    xsp_registrar_service_t service;
    uint64_t boot_id;
    uint64_t heartbeat_ms;
    int64_t next_reconcile_ms;
    bool reconcile_now;
    bool diag_failing;
    waiter_t *waiters;
    size_t nwaiters;
} app_t;

static volatile sig_atomic_t stop_flag, reload_flag;
static xsp_server_t *signal_server;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t random64(void)
{
    uint64_t v = 0;

    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        v = (uint64_t)wall_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    return v;
}

/* ------------------------------------------------------------------ conversions */

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static int strv_to_list(const reg_strv_t *sv, xsp_string_list_t *l)
{
    for (size_t i = 0; i < sv->n; i++)
        if (xsp_string_list_append(l, sv->v[i]) < 0)
            return -1;
    return 0;
}

static int list_to_strv(const xsp_string_list_t *l, reg_strv_t *sv)
{
    for (size_t i = 0; i < l->len; i++)
        if (reg_strv_push(sv, l->val[i]) < 0)
            return -1;
    return 0;
}

static xsp_backend_policy_kind_t backend_to_idl(reg_backend_t b)
{
    switch (b) {
    case REG_BACKEND_FIXED: return XSP_BACKEND_POLICY_KIND_FIXED;
    case REG_BACKEND_OWN_DOMAIN: return XSP_BACKEND_POLICY_KIND_OWN_DOMAIN;
    case REG_BACKEND_ON_DEMAND: return XSP_BACKEND_POLICY_KIND_ON_DEMAND;
    }
    return XSP_BACKEND_POLICY_KIND_OWN_DOMAIN;
}

static unsigned kind_from_idl(xsp_plugin_kind_t k)
{
    return k == XSP_PLUGIN_KIND_VOLUME ? REG_KIND_VOLUME
           : k == XSP_PLUGIN_KIND_DATAPATH ? REG_KIND_DATAPATH : 0;
}

static void backend_policy_to_idl(const reg_t *r, xsp_backend_policy_t *bp)
{
    bp->kind = backend_to_idl(r->backend);
    bp->has_domid = r->has_backend_domid;
    bp->domid = r->backend_domid;
}

/* A request from the wire into a reg_t (domid is the caller's, set by the table). */
static int from_request(const xsp_registration_request_t *q, reg_t *r)
{
    r->name = dup_or_empty(q->name);
    r->version = dup_or_empty(q->version);
    r->api_version = dup_or_empty(q->api_version);
    if (!r->name || !r->version || !r->api_version)
        return -1;
    for (size_t i = 0; i < q->kinds.len; i++) {
        unsigned k = kind_from_idl(q->kinds.val[i]);

        if (r->kinds & k)
            r->kinds |= 4u;     /* a repeated kind: reg_validate refuses "kinds" */
        r->kinds |= k;
    }
    switch (q->backend_policy.kind) {
    case XSP_BACKEND_POLICY_KIND_FIXED: r->backend = REG_BACKEND_FIXED; break;
    case XSP_BACKEND_POLICY_KIND_ON_DEMAND: r->backend = REG_BACKEND_ON_DEMAND; break;
    default: r->backend = REG_BACKEND_OWN_DOMAIN; break;
    }
    r->has_backend_domid = q->backend_policy.has_domid;
    r->backend_domid = q->backend_policy.domid;
    return list_to_strv(&q->schemes, &r->schemes) < 0 || list_to_strv(&q->queues, &r->queues) < 0 ||
                   list_to_strv(&q->features, &r->features) < 0
               ? -1 : 0;
}

static int to_registration(const reg_t *r, xsp_registration_t *o)
{
    xsp_registration_init(o);
    if (!(o->id = dup_or_empty(r->id)) || !(o->name = dup_or_empty(r->name)) ||
        !(o->version = dup_or_empty(r->version)) ||
        !(o->api_version = dup_or_empty(r->api_version)))
        return -1;
    if (r->kinds & REG_KIND_VOLUME) {
        xsp_plugin_kind_t *k = xsp_plugin_kind_list_add(&o->kinds);

        if (!k)
            return -1;
        *k = XSP_PLUGIN_KIND_VOLUME;
    }
    if (r->kinds & REG_KIND_DATAPATH) {
        xsp_plugin_kind_t *k = xsp_plugin_kind_list_add(&o->kinds);

        if (!k)
            return -1;
        *k = XSP_PLUGIN_KIND_DATAPATH;
    }
    if (strv_to_list(&r->schemes, &o->schemes) < 0 || strv_to_list(&r->queues, &o->queues) < 0 ||
        strv_to_list(&r->features, &o->features) < 0)
        return -1;
    o->domid = r->domid;
    backend_policy_to_idl(r, &o->backend_policy);
    for (size_t i = 0; r->prio && i < r->schemes.n; i++) {
        xsp_scheme_priority_t *p;

        if (!r->prio[i].set)
            continue;
        if (!(p = xsp_scheme_priority_list_add(&o->priorities)) ||
            !(p->scheme = strdup(r->schemes.v[i])))
            return -1;
        p->priority = r->prio[i].value;
    }
    o->registered_at = r->registered_at;
    o->confirmed = r->confirmed;
    return 0;
}

/* ------------------------------------------------------------------ answers */

static int fail(xsp_registrar_call_t *call, const reg_err_t *e)
{
    xsp_string_pair_t pairs[REG_ERR_DETAILS];
    xsp_string_map_t detail = { .len = 0, .val = pairs };

    for (unsigned i = 0; i < e->ndetail && i < REG_ERR_DETAILS; i++) {
        pairs[i].key = (char *)e->detail[i].key;
        pairs[i].value = (char *)e->detail[i].val;
        detail.len++;
    }
    return xsp_call_fail(call, e->code ? e->code : XSP_E_INTERNAL, detail.len ? &detail : NULL,
                         "%s", e->msg);
}

static int oom(xsp_registrar_call_t *call)
{
    return xsp_call_fail(call, XSP_E_INTERNAL, NULL, "xsp-registrar: out of memory");
}

static const char *dbg_of(const char *dbg)
{
    return dbg && dbg[0] ? dbg : "-";
}

static uint32_t caller_domid(xsp_registrar_call_t *call)
{
    return xsp_request_domid(xsp_call_request(call));
}

/* Join a string vector for logs. */
static const char *joined(const reg_strv_t *sv, char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; i < sv->n; i++)
        snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? "," : "", sv->v[i]);
    return buf;
}

/* ------------------------------------------------------------------ handlers */

static int h_register(void *ctx, xsp_registrar_call_t *call,
                      const xsp_registrar_register_args_t *args)
{
    app_t *app = ctx;
    uint32_t dom = caller_domid(call);
    reg_add_opts_t o = { .now_wall_ms = wall_ms(), .now_mono_ms = (uint64_t)mono_ms() };
    reg_t req = { 0 }, ready = { 0 };
    const reg_t *stored = NULL;
    xsp_registration_t out;
    reg_err_t e = { 0 };
    char s1[512], s2[512];
    int rc;

    if (from_request(&args->request, &req) < 0) {
        reg_dispose(&req);
        return oom(call);
    }
    /* The registrar's own queue always has a consumer (us): it would keep a registration
       alive forever. */
    if (reg_strv_has(&req.queues, app->queue)) {
        xsp_log(XSP_LOG_WARN, "[%s] refused to register %.64s from domain %u: it claims the "
                "registrar's own queue %s", dbg_of(args->dbg), req.name ? req.name : "", dom,
                app->queue);
        reg_dispose(&req);
        return xsp_call_fail(call, XSP_E_INVALID_ARGUMENT, XSP_DETAIL1("argument", "queues"),
                             "queue %s is the registrar's own", app->queue);
    }
    if (reg_table_check(app->table, &req, dom, &o, &ready, &e) < 0) {
        xsp_log(e.code == XSP_E_PERMISSION_DENIED ? XSP_LOG_WARN : XSP_LOG_INFO,
                "[%s] refused to register %.64s from domain %u: %s", dbg_of(args->dbg),
                req.name ? req.name : "", dom, e.msg);
        reg_dispose(&req);
        return fail(call, &e);
    }
    reg_dispose(&req);
    if (reg_store_put(app->store, &ready, &e) < 0) {
        xsp_log(XSP_LOG_ERR, "[%s] cannot store the registration of %s: %s", dbg_of(args->dbg),
                ready.name, e.msg);
        reg_dispose(&ready);
        return xsp_call_fail(call, XSP_E_BACKEND_FAILURE, NULL,
                             "the registration could not be stored (%s)", e.msg);
    }
    if (reg_table_commit(app->table, &ready, &stored) < 0) {
        reg_dispose(&ready);
        return oom(call);
    }
    xsp_log(XSP_LOG_INFO, "[%s] registered %s from domain %u: id %s, schemes %s, queues %s",
            dbg_of(args->dbg), stored->name, stored->domid, stored->id,
            joined(&stored->schemes, s1, sizeof s1), joined(&stored->queues, s2, sizeof s2));
    app->reconcile_now = true;      /* confirm it as soon as possible */
    if (to_registration(stored, &out) < 0) {
        xsp_registration_dispose(&out);
        return oom(call);
    }
    rc = xsp_registrar_register_reply(call, &out);
    xsp_registration_dispose(&out);
    return rc;
}

static int h_unregister(void *ctx, xsp_registrar_call_t *call,
                        const xsp_registrar_unregister_args_t *args)
{
    app_t *app = ctx;
    uint32_t dom = caller_domid(call);
    reg_t gone = { 0 };
    reg_err_t e = { 0 };
    int rc = reg_table_remove(app->table, args->id ? args->id : "", dom, &gone, &e);

    if (rc < 0) {
        xsp_log(XSP_LOG_WARN, "[%s] refused to unregister %s for domain %u: %s",
                dbg_of(args->dbg), args->id ? args->id : "", dom, e.msg);
        return fail(call, &e);
    }
    if (rc == 1) {
        xsp_log(XSP_LOG_INFO, "[%s] unregistered %s (id %s) for domain %u", dbg_of(args->dbg),
                gone.name, gone.id, dom);
        if (reg_store_del(app->store, gone.name, gone.id, &e) < 0)
            xsp_log(XSP_LOG_ERR, "cannot delete %s from %s: %s (it will be dropped at the "
                    "next start unless its plugin is alive)", gone.name,
                    reg_store_describe(app->store), e.msg);
        reg_dispose(&gone);
    }
    return xsp_registrar_unregister_reply(call);
}

static int h_list(void *ctx, xsp_registrar_call_t *call, const xsp_registrar_list_args_t *args)
{
    app_t *app = ctx;
    reg_filter_t f = { .scheme = args->scheme };
    xsp_registration_list_t out;
    const reg_t **v = NULL;
    reg_err_t e = { 0 };
    size_t n = 0;
    int rc;

    if (args->has_kind)
        f.kinds = kind_from_idl(args->kind);
    f.has_domid = args->has_domid;
    f.domid = args->domid;
    if (reg_table_list(app->table, &f, &v, &n, &e) < 0)
        return fail(call, &e);
    xsp_registration_list_init(&out);
    for (size_t i = 0; i < n; i++) {
        xsp_registration_t *r = xsp_registration_list_add(&out);

        if (!r || to_registration(v[i], r) < 0) {
            free(v);
            xsp_registration_list_dispose(&out);
            return oom(call);
        }
    }
    free(v);
    rc = xsp_registrar_list_reply(call, &out);
    xsp_registration_list_dispose(&out);
    return rc;
}

static int h_resolve(void *ctx, xsp_registrar_call_t *call,
                     const xsp_registrar_resolve_args_t *args)
{
    app_t *app = ctx;
    reg_resolved_t res;
    xsp_resolve_result_t out;
    reg_err_t e = { 0 };

    if (reg_table_resolve(app->table, args->uri ? args->uri : "",
                          args->has_kind ? kind_from_idl(args->kind) : 0, &res, &e) < 0) {
        xsp_log(XSP_LOG_DEBUG, "[%s] resolve %.128s: %s", dbg_of(args->dbg),
                args->uri ? args->uri : "", e.msg);
        return fail(call, &e);
    }
    /* Borrowed strings: the reply only reads them. */
    memset(&out, 0, sizeof out);
    out.plugin = res.reg->name;
    out.queue = (char *)res.queue;
    out.domid = res.reg->domid;
    backend_policy_to_idl(res.reg, &out.backend_policy);
    out.registration_id = res.reg->id;
    out.scheme = res.scheme;
    xsp_log(XSP_LOG_DEBUG, "[%s] resolve %.128s -> %s on %s", dbg_of(args->dbg), args->uri,
            out.plugin, out.queue);
    return xsp_registrar_resolve_reply(call, &out);
}

/* Upper bound of the encoded size of r, give or take msgpack's few bytes per value. */
static size_t encoded_estimate(const reg_t *r)
{
    size_t n = 256;
    const reg_strv_t *lists[] = { &r->schemes, &r->queues, &r->features };

    n += strlen(r->id ? r->id : "") + strlen(r->name ? r->name : "") +
         strlen(r->version ? r->version : "") + strlen(r->api_version ? r->api_version : "");
    for (size_t l = 0; l < 3; l++)
        for (size_t i = 0; i < lists[l]->n; i++)
            n += strlen(lists[l]->v[i]) + 5 + (l == 0 ? 32 : 0);  /* schemes: + priority */
    return n;
}

/* Answer a watch with what the ring holds from from_seq (as many events as fit in
   WATCH_MAX_BYTES; next_seq says where the rest is). */
static int answer_watch(app_t *app, xsp_registrar_call_t *call, uint64_t from_seq)
{
    static const reg_event_t *ev[WATCH_MAX_EVENTS];
    xsp_watch_result_t out;
    uint64_t next = 0, lost = 0;
    size_t n = reg_table_events(app->table, from_seq, WATCH_MAX_EVENTS, ev, &next, &lost);
    size_t bytes = 0;
    int rc;

    xsp_watch_result_init(&out);
    for (size_t i = 0; i < n; i++) {
        xsp_watch_event_t *w;

        bytes += encoded_estimate(&ev[i]->reg);
        if (i > 0 && bytes > WATCH_MAX_BYTES) {
            next = ev[i]->seq;
            break;
        }
        w = xsp_watch_event_list_add(&out.events);
        if (!w || to_registration(&ev[i]->reg, &w->registration) < 0) {
            xsp_watch_result_dispose(&out);
            return oom(call);
        }
        w->seq = ev[i]->seq;
        w->kind = ev[i]->kind == REG_EV_ADDED     ? XSP_WATCH_EVENT_KIND_ADDED
                  : ev[i]->kind == REG_EV_REMOVED ? XSP_WATCH_EVENT_KIND_REMOVED
                                                  : XSP_WATCH_EVENT_KIND_CHANGED;
    }
    out.next_seq = next;
    out.lost = lost;
    out.boot_id = app->boot_id;
    rc = xsp_registrar_watch_reply(call, &out);
    xsp_watch_result_dispose(&out);
    return rc;
}

static bool has_events(app_t *app, uint64_t from_seq)
{
    const reg_event_t *ev[1];
    uint64_t next, lost;

    return reg_table_events(app->table, from_seq, 1, ev, &next, &lost) > 0 || lost > 0;
}

static int h_watch(void *ctx, xsp_registrar_call_t *call, const xsp_registrar_watch_args_t *args)
{
    app_t *app = ctx;
    uint64_t from = args->from_seq;
    int64_t wait = args->timeout_ms > WATCH_MAX_MS ? WATCH_MAX_MS : args->timeout_ms;
    int64_t left = xsp_request_time_left_ms(xsp_call_request(call));
    waiter_t *w, **tail;

    /* "From now" (beyond the newest) is fixed at the time of the call, so that a parked
       call wakes on the next event. */
    if (from > reg_table_next_seq(app->table))
        from = reg_table_next_seq(app->table);
    if (wait == 0 || has_events(app, from))
        return answer_watch(app, call, from);
    if (left >= 0)      /* answer a little before the caller's deadline */
        wait = left > 200 ? (wait < left - 200 ? wait : left - 200) : 0;
    if (wait <= 0)
        return answer_watch(app, call, from);
    if (app->nwaiters >= MAX_WAITERS) {     /* make room: the oldest answers empty */
        waiter_t *old = app->waiters;

        app->waiters = old->next;
        app->nwaiters--;
        answer_watch(app, old->call, old->from_seq);
        free(old);
    }
    if (!(w = calloc(1, sizeof *w)))
        return oom(call);
    w->call = call;
    w->from_seq = from;
    w->deadline_ms = mono_ms() + wait;
    for (tail = &app->waiters; *tail; tail = &(*tail)->next)
        ;
    *tail = w;
    app->nwaiters++;
    return 0;   /* answered later */
}

static const xsp_registrar_ops_t ops = {
    .registrar_register = h_register,
    .registrar_unregister = h_unregister,
    .registrar_list = h_list,
    .registrar_resolve = h_resolve,
    .registrar_watch = h_watch,
};

/* Answer parked watches that have events, or whose time is up (all, when flush). */
static void wake_waiters(app_t *app, bool flush)
{
    int64_t now = mono_ms();
    waiter_t **pp = &app->waiters;

    while (*pp) {
        waiter_t *w = *pp;

        if (flush || now >= w->deadline_ms || has_events(app, w->from_seq)) {
            *pp = w->next;
            app->nwaiters--;
            answer_watch(app, w->call, w->from_seq);
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

/* ------------------------------------------------------------------ liveness */

static void forget_removed(app_t *app, reg_vec_t *removed, const char *why)
{
    for (size_t i = 0; i < removed->n; i++) {
        const reg_t *r = &removed->v[i];
        reg_err_t e = { 0 };

        xsp_log(XSP_LOG_INFO, "removed %s (id %s, domain %u): %s", r->name, r->id, r->domid, why);
        if (reg_store_del(app->store, r->name, r->id, &e) < 0)
            xsp_log(XSP_LOG_ERR, "cannot delete %s from %s: %s", r->name,
                    reg_store_describe(app->store), e.msg);
    }
}

static void reconcile(app_t *app)
{
    void *data = NULL;
    size_t len = 0;
    xsp_error_t xe = { 0 };
    reg_diag_t d = { 0 };
    reg_reconcile_t rr = { 0 };
    reg_err_t e = { 0 };
    int timeout = (int)(app->heartbeat_ms < 1000 ? app->heartbeat_ms : 1000);

    if (xsp_client_diag(app->mon, timeout, &data, &len, &xe) != XSP_OK) {
        if (!app->diag_failing)
            xsp_log(XSP_LOG_WARN, "cannot ask the switch for diagnostics: %s (liveness "
                    "checks paused; registrations will need to be confirmed again)", xe.msg);
        app->diag_failing = true;
        return;
    }
    if (reg_diag_parse(data, len, &d, &e) < 0) {
        xsp_log(XSP_LOG_ERR, "cannot read the switch's diagnostics: %s", e.msg);
        free(data);
        return;
    }
    free(data);
    if (app->diag_failing) {
        /* The switch may have restarted meanwhile: give every plugin time to come back. */
        xsp_log(XSP_LOG_INFO, "switch diagnostics available again: confirming every "
                "registration anew");
        reg_table_unconfirm_all(app->table, (uint64_t)mono_ms());
        app->diag_failing = false;
    }
    if (d.has_heartbeat && d.heartbeat_ms > 0)
        app->heartbeat_ms = d.heartbeat_ms;
    if (reg_liveness_reconcile(app->table, &d, (uint64_t)mono_ms(), 3 * app->heartbeat_ms, &rr) < 0)
        xsp_log(XSP_LOG_ERR, "out of memory during the liveness check");
    forget_removed(app, &rr.removed, "none of its queues has a consumer on the switch");
    reg_reconcile_dispose(&rr);
    reg_diag_dispose(&d);
}

static void on_trace(xsp_client_t *client, const xsp_trace_event_t *ev, void *arg)
{
    app_t *app = arg;

    (void)client;
    switch (ev->kind) {
    case XSP_TRACE_EVENT:
        if (ev->lost ||
            (ev->event.len == 9 && memcmp(ev->event.ptr, "subscribe", 9) == 0) ||
            (ev->event.len == 11 && memcmp(ev->event.ptr, "unsubscribe", 11) == 0) ||
            (ev->event.len == 9 && memcmp(ev->event.ptr, "peer-down", 9) == 0))
            app->reconcile_now = true;
        break;
    case XSP_TRACE_RESTART:
        xsp_log(XSP_LOG_INFO, "the switch restarted: confirming every registration anew");
        reg_table_unconfirm_all(app->table, (uint64_t)mono_ms());
        app->reconcile_now = true;
        break;
    case XSP_TRACE_END:
    case XSP_TRACE_ERROR:
        app->reconcile_now = true;  /* the loop starts the trace again */
        break;
    }
}

static void start_trace(app_t *app)
{
    xsp_error_t xe = { 0 };

    if (xsp_client_trace_start(app->mon, UINT64_MAX, "", true, on_trace, app, &xe) != 0)
        xsp_log(XSP_LOG_WARN, "cannot follow the switch trace: %s (liveness relies on "
                "the periodic DIAG)", xe.msg);
}

/* ------------------------------------------------------------------ policy */

static reg_policy_t *load_policy(app_t *app, reg_err_t *e)
{
    struct stat st;

    if (!app->policy_explicit && stat(app->policy_path, &st) < 0 && errno == ENOENT)
        return reg_policy_default();
    return reg_policy_load(app->policy_path, e);
}

static void log_policy(const reg_policy_t *p)
{
    xsp_log(XSP_LOG_INFO, "policy: %s (%zu allow rule%s%s, %zu priorit%s)", reg_policy_origin(p),
            reg_policy_rule_count(p), reg_policy_rule_count(p) == 1 ? "" : "s",
            reg_policy_uses_default_rule(p) ? ": the built-in rule, dom0 only" : "",
            reg_policy_priority_count(p), reg_policy_priority_count(p) == 1 ? "y" : "ies");
}

static void reload_policy(app_t *app)
{
    reg_err_t e = { 0 };
    reg_policy_t *p = load_policy(app, &e);
    reg_vec_t dropped = { 0 };
    long n;

    if (!p) {
        xsp_log(XSP_LOG_ERR, "SIGHUP: keeping the current policy: %s", e.msg);
        return;
    }
    n = reg_table_set_policy(app->table, p, &dropped);
    if (n < 0) {
        xsp_log(XSP_LOG_ERR, "SIGHUP: out of memory applying the new policy; keeping the old");
        reg_policy_free(&p);
        return;
    }
    reg_policy_free(&app->policy);
    app->policy = p;
    log_policy(p);
    forget_removed(app, &dropped, "the new policy refuses it or it now conflicts");
    reg_vec_dispose(&dropped);
}

/* ------------------------------------------------------------------ start */

typedef struct {
    app_t *app;
    size_t restored, refused, bad;
    reg_vec_t to_delete;
} restore_t;

static void on_stored(void *arg, const reg_t *reg, const reg_err_t *bad)
{
    restore_t *rs = arg;
    reg_add_opts_t o = { .now_wall_ms = wall_ms(), .now_mono_ms = (uint64_t)mono_ms(),
                         .restore = true };
    reg_err_t e = { 0 };

    if (bad) {
        rs->bad++;
        xsp_log(XSP_LOG_WARN, "skipping a stored registration: %s", bad->msg);
        return;
    }
    if (reg_table_add(rs->app->table, reg, 0, &o, NULL, &e) < 0) {
        rs->refused++;
        xsp_log(XSP_LOG_WARN, "dropping stored registration %s (id %s, domain %u): %s",
                reg->name, reg->id, reg->domid, e.msg);
        reg_vec_put(&rs->to_delete, reg);
        return;
    }
    rs->restored++;
}

static int restore(app_t *app)
{
    restore_t rs = { .app = app };
    reg_err_t e = { 0 };

    if (reg_store_load_all(app->store, on_stored, &rs, &e) < 0) {
        if (e.code != XSP_E_DECODE) {
            xsp_log(XSP_LOG_ERR, "cannot load registrations from %s: %s",
                    reg_store_describe(app->store), e.msg);
            reg_vec_dispose(&rs.to_delete);
            return -1;
        }
        xsp_log(XSP_LOG_ERR, "%s", e.msg);     /* moved aside; starting empty */
    }
    forget_removed(app, &rs.to_delete, "refused by the current policy");
    reg_vec_dispose(&rs.to_delete);
    xsp_log(XSP_LOG_INFO, "recovered %zu registration%s from %s (%zu dropped, %zu unreadable); "
            "each must be confirmed alive by the switch", rs.restored,
            rs.restored == 1 ? "" : "s", reg_store_describe(app->store), rs.refused, rs.bad);
    return 0;
}

/* ------------------------------------------------------------------ main */

static void on_signal(int sig)
{
    if (sig == SIGHUP) {
        reload_flag = 1;
        return;
    }
    stop_flag = 1;
    if (signal_server)
        xsp_server_stop(signal_server);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xsp-registrar [OPTIONS]\n"
            "Plugins register, URIs resolve to a live plugin (docs/registrar.md).\n\n"
            "  --switch ENDPOINT   the switch (default: $XSP_SWITCH, else ipc://RUN_DIR/switch.sock)\n"
            "  --queue NAME        queue to serve (default " DEFAULT_QUEUE ")\n"
            "  --store SPEC        auto (default), xenstore, xenstore:ROOT, file, file:PATH\n"
            "  --state-dir DIR     directory of the state file (default " REG_STORE_DEFAULT_STATE_DIR ")\n"
            "  --policy PATH       policy file (default " REG_POLICY_DEFAULT_PATH "; if that is\n"
            "                      missing: dom0 may register anything, other domains nothing)\n"
            "  --log-level L       err, warn, info (default) or debug\n"
            "  --syslog            log to syslog instead of stderr\n"
            "  --help, --version\n"
            "Signals: SIGTERM/SIGINT stop; SIGHUP re-reads the policy file.\n");
}

static int parse_args(app_t *app, int argc, char **argv, bool *use_syslog, int *level)
{
    enum { O_SWITCH = 1, O_QUEUE, O_STORE, O_STATE, O_POLICY, O_LEVEL, O_SYSLOG, O_HELP, O_VERSION };
    static const struct option longopts[] = {
        { "switch", 1, 0, O_SWITCH }, { "queue", 1, 0, O_QUEUE }, { "store", 1, 0, O_STORE },
        { "state-dir", 1, 0, O_STATE }, { "policy", 1, 0, O_POLICY },
        { "log-level", 1, 0, O_LEVEL }, { "syslog", 0, 0, O_SYSLOG }, { "help", 0, 0, O_HELP },
        { "version", 0, 0, O_VERSION }, { 0, 0, 0, 0 },
    };
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_SWITCH: app->endpoint = optarg; break;
        case O_QUEUE: app->queue = optarg; break;
        case O_STORE: app->store_spec = optarg; break;
        case O_STATE: app->state_dir = optarg; break;
        case O_POLICY: app->policy_path = optarg; app->policy_explicit = true; break;
        case O_LEVEL:
            if ((*level = xsp_log_level_from_name(optarg)) < 0) {
                fprintf(stderr, "xsp-registrar: unknown log level %s\n", optarg);
                return 2;
            }
            break;
        case O_SYSLOG: *use_syslog = true; break;
        case O_HELP: usage(stdout); exit(0);
        case O_VERSION: printf("xsp-registrar %s\n", XSP_VERSION); exit(0);
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "xsp-registrar: unexpected argument %s\n", argv[optind]);
        return 2;
    }
    if (!reg_valid_queue(app->queue)) {
        fprintf(stderr, "xsp-registrar: --queue %s is not a queue name\n", app->queue);
        return 2;
    }
    return 0;
}

static int run(app_t *app)
{
    while (!stop_flag) {
        int64_t now = mono_ms(), until;
        struct pollfd pfd[2];
        int timeout, t;

        if (reload_flag) {
            reload_flag = 0;
            reload_policy(app);
        }
        if (app->reconcile_now || now >= app->next_reconcile_ms) {
            reg_err_t e = { 0 };

            app->reconcile_now = false;
            if (!xsp_client_tracing(app->mon))
                start_trace(app);
            reconcile(app);
            if (reg_store_check(app->store, &e) < 0)
                xsp_log(XSP_LOG_ERR, "store %s: %s", reg_store_describe(app->store), e.msg);
            now = mono_ms();
            app->next_reconcile_ms = now + (int64_t)app->heartbeat_ms;
        }
        wake_waiters(app, false);

        until = app->next_reconcile_ms;
        for (waiter_t *w = app->waiters; w; w = w->next)
            if (w->deadline_ms < until)
                until = w->deadline_ms;
        timeout = until > now ? (int)(until - now) : 0;
        t = xsp_server_timeout_ms(app->server);
        if (t >= 0 && t < timeout)
            timeout = t;
        t = xsp_client_timeout_ms(app->mon);
        if (t >= 0 && t < timeout)
            timeout = t;
        pfd[0] = (struct pollfd){ .fd = xsp_server_fd(app->server), .events = POLLIN };
        pfd[1] = (struct pollfd){ .fd = xsp_client_fd(app->mon), .events = POLLIN };
        if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
            xsp_log(XSP_LOG_ERR, "poll: %s", strerror(errno));
            return 1;
        }
        if (xsp_server_process(app->server) < 0)
            break;
        xsp_client_process(app->mon);
    }
    return 0;
}

int main(int argc, char **argv)
{
    app_t app = {
        .queue = DEFAULT_QUEUE, .policy_path = REG_POLICY_DEFAULT_PATH,
        .store_spec = "auto", .heartbeat_ms = DEFAULT_HEARTBEAT,
    };
    xsp_client_opts_t co = { 0 };
    struct sigaction sa;
    bool use_syslog = false;
    int level = XSP_LOG_INFO, rc;
    reg_err_t e = { 0 };
    xsp_error_t xe = { 0 };

    if ((rc = parse_args(&app, argc, argv, &use_syslog, &level)) != 0)
        return rc;
    xsp_log_open("xsp-registrar", use_syslog, (xsp_log_level_t)level);

    if (!(app.policy = load_policy(&app, &e))) {
        xsp_log(XSP_LOG_ERR, "%s", e.msg);
        return 1;
    }
    log_policy(app.policy);
    if (!(app.store = reg_store_open(app.store_spec, app.state_dir, &e))) {
        xsp_log(XSP_LOG_ERR, "store %s: %s", app.store_spec, e.msg);
        return 1;
    }
    xsp_log(XSP_LOG_INFO, "store: %s (--store %s)%s%s%s", reg_store_describe(app.store),
            app.store_spec, reg_store_note(app.store)[0] ? " (" : "", reg_store_note(app.store),
            reg_store_note(app.store)[0] ? ")" : "");
    app.boot_id = random64();
    if (!(app.table = reg_table_new(0, random64())) ||
        reg_table_set_policy(app.table, app.policy, NULL) < 0) {
        xsp_log(XSP_LOG_ERR, "out of memory");
        return 1;
    }
    if (restore(&app) < 0)
        return 1;

    /* The switch may start after us, or be busy: keep trying for a minute (each attempt
       waits 5 s for WELCOME), then give up (exit 1: the supervisor restarts us). */
    for (int attempt = 1; !(app.server = xsp_server_new(app.endpoint, "xsp-registrar", "registrar", 0, &xe));
         attempt++) {
        if (xe.code != XSP_E_DISCONNECTED || attempt >= 12) {
            xsp_log(XSP_LOG_ERR, "cannot connect to the switch: %s", xe.msg);
            return 1;
        }
        xsp_log(XSP_LOG_WARN, "%s: still trying (attempt %d of 12)", xe.msg, attempt);
    }
    co.endpoint = app.endpoint;
    co.name = "xsp-registrar-monitor";
    co.role = "registrar";
    if (!(app.mon = xsp_client_new_opts(&co, &xe))) {
        xsp_log(XSP_LOG_ERR, "cannot connect to the switch: %s", xe.msg);
        xsp_server_destroy(&app.server);
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    signal_server = app.server;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    app.service.ops = &ops;
    app.service.ctx = &app;
    if (xsp_server_subscribe(app.server, app.queue, SUBSCRIBE_CREDIT, xsp_registrar_handler,
                             &app.service, &xe) != 0) {
        xsp_log(XSP_LOG_ERR, "cannot serve %s: %s", app.queue, xe.msg);
        rc = 1;
        goto out;
    }
    start_trace(&app);
    app.reconcile_now = true;
    xsp_log(XSP_LOG_INFO, "xsp-registrar %s serving %s", XSP_VERSION, app.queue);
    rc = run(&app);
    xsp_log(XSP_LOG_INFO, "stopping");
out:
    wake_waiters(&app, true);
    xsp_client_trace_stop(app.mon);
    signal_server = NULL;
    xsp_server_destroy(&app.server);
    xsp_client_destroy(&app.mon);
    reg_store_close(&app.store);
    reg_table_free(&app.table);
    reg_policy_free(&app.policy);
    return rc;
}

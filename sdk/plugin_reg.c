/*  plugin_reg.c — a plugin's registration with the registrar (see plugin_reg.h).

    Owns: the registration client session, the register / watch / unregister calls and
    their retry timers, the registration id.
    Never touches: the plugin's serving session, its loop, its handlers.

    The asynchronous calls are made with xsp_stub_encode + xsp_client_send and decoded with
    xsp_stub_decode in our own completion, not with the generated _send stubs: a stub call
    that is cancelled (a register replaced, the watch at exit) would leak its context
    (xsp/stub.h, KNOWN LIMITATION); a raw call is freed by the client.
*/
#define _GNU_SOURCE
#include "plugin_reg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"            /* xsp_now_ms */
#include "xsp/client.h"
#include "xsp/log.h"
#include "xsp/registrar_client.h"
#include "xsp/stub.h"
#include "xsp/resolve.h"        /* XSP_REGISTRAR_QUEUE */
#include "xsp/plugin.h"         /* XSP_PLUGIN_SERVES_* */
#include "xsp/wire.h"

#define REGISTER_TIMEOUT_MS 10000u   /* a register waits this long in an absent registrar's queue */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define REFUSED_RETRY_MS 60000
#define WATCH_WAIT_MS 5000u          /* Registrar.watch long poll: bounds how late a registrar restart is seen */
#define WATCH_SLACK_MS 5000u

typedef enum {
    REG_IDLE,           /* nothing sent yet, or waiting for retry_at */
    REG_REGISTERING,    /* a register is in flight */
    REG_REGISTERED,     /* we hold id */
    REG_SUPERSEDED,     /* another instance took our name: leave it */
    REG_STOPPED,        /* exiting */
} reg_state_t;

struct plugin_reg {
    xsp_client_t *client;
    char registrar[XSP_QUEUE_MAX + 1];
    char name[XSP_NAME_MAX + 1];
    char queue[XSP_QUEUE_MAX + 1];
    xsp_registration_request_t req;     /* borrowed strings from the copies below */
    char **strs;                        /* owned copies, freed at destroy */
    size_t nstrs;
    reg_state_t state;
    char *id;                           /* our registration id when registered */
    uint64_t reg_call, watch_call;      /* 0 = none in flight */
    int64_t retry_at;                   /* register again at this time (0 = no) */
    int64_t watch_at;                   /* re-issue the watch at this time (0 = no) */
    int backoff_ms;
    bool boot_known;
    uint64_t boot_id, next_seq;
    unsigned attempts;
};

/* ================================================================ setup */

static char *keep(plugin_reg_t *self, const char *s)
{
    char **n = realloc(self->strs, (self->nstrs + 1) * sizeof *n);
    if (!n)
        return NULL;
    self->strs = n;
    char *c = strdup(s ? s : "");
    if (c)
        self->strs[self->nstrs++] = c;
    return c;
}

static int keep_list(plugin_reg_t *self, xsp_string_list_t *l, const char *const *v, size_t n)
{
    l->len = 0;
    l->val = n ? calloc(n, sizeof *l->val) : NULL;
    if (n && !l->val)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!(l->val[l->len++] = keep(self, v[i])))
            return -1;
    return 0;
}

int plugin_reg_parse_backend(const char *s, xsp_backend_policy_t *out)
{
    memset(out, 0, sizeof *out);
    if (!s || strcmp(s, "own") == 0) {
        out->kind = XSP_BACKEND_POLICY_KIND_OWN_DOMAIN;
        return 0;
    }
    if (strcmp(s, "on-demand") == 0) {
        out->kind = XSP_BACKEND_POLICY_KIND_ON_DEMAND;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *s == '-' || *end || errno || v >= 32752)
        return -1;
    out->kind = XSP_BACKEND_POLICY_KIND_FIXED;
    out->has_domid = true;
    out->domid = (uint32_t) v;
    return 0;
}

plugin_reg_t *plugin_reg_new(const plugin_reg_cfg_t *cfg, xsp_error_t *err)
{
    plugin_reg_t *self = calloc(1, sizeof *self);
    if (!self) {
        xsp_error_set(err, XSP_E_SYSTEM, "out of memory");
        return NULL;
    }
    snprintf(self->registrar, sizeof self->registrar, "%s", cfg->registrar ? cfg->registrar : XSP_REGISTRAR_QUEUE);
    snprintf(self->name, sizeof self->name, "%s", cfg->name);
    snprintf(self->queue, sizeof self->queue, "%s", cfg->queue);
    self->backoff_ms = BACKOFF_MIN_MS;

    xsp_registration_request_t *r = &self->req;
    size_t nfeat = 0;
    while (cfg->features && cfg->features[nfeat])
        nfeat++;
    const char *queues[1] = { cfg->queue };
    static xsp_plugin_kind_t both[2] = { XSP_PLUGIN_KIND_VOLUME, XSP_PLUGIN_KIND_DATAPATH };
    static xsp_plugin_kind_t vol[1] = { XSP_PLUGIN_KIND_VOLUME };
    static xsp_plugin_kind_t dp[1] = { XSP_PLUGIN_KIND_DATAPATH };
    unsigned k = cfg->kinds & (XSP_PLUGIN_SERVES_VOLUME | XSP_PLUGIN_SERVES_DATAPATH);
    if (k == XSP_PLUGIN_SERVES_VOLUME)
        r->kinds = (xsp_plugin_kind_list_t) { 1, vol };
    else if (k == XSP_PLUGIN_SERVES_DATAPATH)
        r->kinds = (xsp_plugin_kind_list_t) { 1, dp };
    else
        r->kinds = (xsp_plugin_kind_list_t) { 2, both };
    r->backend_policy = cfg->backend;
    if (!(r->name = keep(self, cfg->name)) || !(r->version = keep(self, cfg->version)) ||
        !(r->api_version = keep(self, "1.0")) ||
        keep_list(self, &r->schemes, cfg->schemes, cfg->nschemes) ||
        keep_list(self, &r->queues, queues, 1) || keep_list(self, &r->features, cfg->features, nfeat)) {
        plugin_reg_destroy(&self);
        xsp_error_set(err, XSP_E_SYSTEM, "out of memory");
        return NULL;
    }
    char peer[XSP_NAME_MAX + 1];
    snprintf(peer, sizeof peer, "%.60s.reg", cfg->peer_name);
    xsp_client_opts_t o = { .endpoint = cfg->endpoint, .name = peer, .role = "plugin",
                            .domid = cfg->domid, .connect_timeout_ms = -1 };
    self->client = xsp_client_new_opts(&o, err);
    if (!self->client) {
        plugin_reg_destroy(&self);
        return NULL;
    }
    return self;
}

void plugin_reg_destroy(plugin_reg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    plugin_reg_t *self = *self_p;
    xsp_client_destroy(&self->client);
    free(self->req.schemes.val);
    free(self->req.queues.val);
    free(self->req.features.val);
    for (size_t i = 0; i < self->nstrs; i++)
        free(self->strs[i]);
    free(self->strs);
    free(self->id);
    free(self);
    *self_p = NULL;
}

/* ================================================================ register */

static void send_register(plugin_reg_t *self);
static void send_watch(plugin_reg_t *self);

/*  Send method mi of the registrar with args; cb completes it (raw reply). */
static int send_raw(plugin_reg_t *self, int method, const void *args, const char *dbg,
                    uint32_t timeout_ms, xsp_done_fn *cb, uint64_t *call_id, xsp_error_t *err)
{
    void *buf = NULL;
    size_t len = 0;
    const xsp_method_info_t *mi = &xsp_registrar_methods[method];
    if (xsp_stub_encode(mi, args, &buf, &len, err) != XSP_OK)
        return err->code;
    xsp_call_opts_t o = { .timeout_ms = timeout_ms, .dbg = dbg };
    int rc = xsp_client_send(self->client, self->registrar, buf, len, &o, cb, self, call_id, err);
    free(buf);
    return rc;
}

static void retry_later(plugin_reg_t *self, int ms)
{
    self->state = REG_IDLE;
    self->retry_at = xsp_now_ms() + ms;
}

static void backoff(plugin_reg_t *self)
{
    retry_later(self, self->backoff_ms);
    self->backoff_ms = self->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : self->backoff_ms * 2;
}

static void schemes_text(const plugin_reg_t *self, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < self->req.schemes.len && off < size; i++)
        off += (size_t) snprintf(buf + off, size - off, "%s%s", i ? "," : "", self->req.schemes.val[i]);
}

static void registered(plugin_reg_t *self, const xsp_error_t *err, const xsp_registration_t *res);

static void on_registered(xsp_client_t *c, uint64_t call_id, const xsp_error_t *call_err,
                          xsp_reply_t *reply, void *arg)
{
    plugin_reg_t *self = arg;
    (void) c;
    if (call_id != self->reg_call)
        return;
    self->reg_call = 0;
    if (self->state == REG_STOPPED)
        return;
    xsp_registration_t res;
    xsp_error_t err;
    xsp_registration_init(&res);
    xsp_stub_decode(&xsp_registrar_methods[XSP_REGISTRAR_METHOD_REGISTRAR_REGISTER], call_err, reply,
                    &res, NULL, &err);
    registered(self, &err, &res);
    xsp_registration_dispose(&res);
}

static void registered(plugin_reg_t *self, const xsp_error_t *err, const xsp_registration_t *res)
{
    char sch[512];
    schemes_text(self, sch, sizeof sch);
    if (err->code == XSP_OK) {
        free(self->id);
        self->id = strdup(res->id ? res->id : "");
        self->state = self->id ? REG_REGISTERED : REG_IDLE;
        self->backoff_ms = BACKOFF_MIN_MS;
        self->attempts = 0;
        xsp_log(XSP_LOG_INFO, "registered with the registrar as %s (id %s; schemes %s; queue %s)",
                self->name, res->id ? res->id : "?", sch, self->queue);
        return;
    }
    if (err->code == XSP_E_PERMISSION_DENIED || err->code == XSP_E_INVALID_ARGUMENT) {
        xsp_log(XSP_LOG_ERR, "the registrar refused to register %s (schemes %s, queue %s): %s: %s; "
                "trying again in %d s", self->name, sch, self->queue, xsp_code_name(err->code), err->msg,
                REFUSED_RETRY_MS / 1000);
        retry_later(self, REFUSED_RETRY_MS);
        return;
    }
    if (err->code == XSP_E_EXPIRED || err->code == XSP_E_TIMEOUT)
        xsp_log(self->attempts++ ? XSP_LOG_DEBUG : XSP_LOG_WARN, "the registrar (queue %s) did not answer "
                "the registration within %u ms (is xsp-registrar running?): trying again in %d ms",
                self->registrar, REGISTER_TIMEOUT_MS, self->backoff_ms);
    else
        xsp_log(XSP_LOG_WARN, "registering %s failed: %s: %s; trying again in %d ms", self->name,
                xsp_code_name(err->code), err->msg, self->backoff_ms);
    backoff(self);
}

static void send_register(plugin_reg_t *self)
{
    xsp_error_t err;
    if (self->reg_call)
        xsp_client_cancel(self->client, self->reg_call);
    self->reg_call = 0;
    self->retry_at = 0;
    xsp_registrar_register_args_t a = { .dbg = "plugin-register", .request = self->req };
    if (send_raw(self, XSP_REGISTRAR_METHOD_REGISTRAR_REGISTER, &a, a.dbg, REGISTER_TIMEOUT_MS,
                 on_registered, &self->reg_call, &err) != XSP_OK) {
        xsp_log(XSP_LOG_WARN, "cannot send the registration: %s; trying again in %d ms", err.msg,
                self->backoff_ms);
        self->reg_call = 0;
        backoff(self);
        return;
    }
    self->state = REG_REGISTERING;
}

void plugin_reg_subscribed(plugin_reg_t *self)
{
    if (self->state == REG_STOPPED)
        return;
    if (self->state == REG_SUPERSEDED)
        xsp_log(XSP_LOG_INFO, "new switch session: registering %s again", self->name);
    self->backoff_ms = BACKOFF_MIN_MS;
    /* The watch goes first: the boot_id it learns belongs to the registrar that takes the
       register sent after it (same queue, in order) or to an earlier one, so a restart after
       the registration is always seen. */
    if (!self->watch_call && !self->watch_at)
        send_watch(self);
    send_register(self);
}

/* ================================================================ watch */

static bool is_ours(const plugin_reg_t *self, const xsp_registration_t *r)
{
    for (size_t i = 0; i < r->queues.len; i++)
        if (strcmp(r->queues.val[i], self->queue) == 0)
            return true;
    return false;
}

static void on_event(plugin_reg_t *self, const xsp_watch_event_t *ev)
{
    const xsp_registration_t *r = &ev->registration;
    if (!r->name || strcmp(r->name, self->name) != 0 || self->state != REG_REGISTERED)
        return;
    bool same_id = self->id && r->id && strcmp(r->id, self->id) == 0;
    if (ev->kind == XSP_WATCH_EVENT_KIND_REMOVED && same_id) {
        xsp_log(XSP_LOG_WARN, "the registrar removed our registration %s: registering again", self->id);
        retry_later(self, BACKOFF_MIN_MS);
    } else if (ev->kind != XSP_WATCH_EVENT_KIND_REMOVED && !same_id && !is_ours(self, r)) {
        xsp_log(XSP_LOG_WARN, "another instance registered %s (id %s, queue %s): leaving the name to it",
                self->name, r->id ? r->id : "?", r->queues.len ? r->queues.val[0] : "?");
        self->state = REG_SUPERSEDED;
    }
}

static void watched(plugin_reg_t *self, const xsp_error_t *err, const xsp_watch_result_t *res);

static void on_watch(xsp_client_t *c, uint64_t call_id, const xsp_error_t *call_err,
                     xsp_reply_t *reply, void *arg)
{
    plugin_reg_t *self = arg;
    (void) c;
    if (call_id != self->watch_call)
        return;
    self->watch_call = 0;
    if (self->state == REG_STOPPED)
        return;
    xsp_watch_result_t res;
    xsp_error_t err;
    xsp_watch_result_init(&res);
    xsp_stub_decode(&xsp_registrar_methods[XSP_REGISTRAR_METHOD_REGISTRAR_WATCH], call_err, reply,
                    &res, NULL, &err);
    watched(self, &err, &res);
    xsp_watch_result_dispose(&res);
}

static void watched(plugin_reg_t *self, const xsp_error_t *err, const xsp_watch_result_t *res)
{
    if (err->code != XSP_OK) {
        xsp_log(XSP_LOG_DEBUG, "Registrar.watch: %s: %s", xsp_code_name(err->code), err->msg);
        self->watch_at = xsp_now_ms() + BACKOFF_MIN_MS;
        return;
    }
    if (self->boot_known && res->boot_id != self->boot_id) {
        self->boot_id = res->boot_id;
        self->next_seq = res->next_seq;
        if (self->state != REG_SUPERSEDED) {
            xsp_log(XSP_LOG_INFO, "the registrar restarted: registering %s again", self->name);
            self->backoff_ms = BACKOFF_MIN_MS;
            send_register(self);
        }
    } else {
        if (self->boot_known)
            for (size_t i = 0; i < res->events.len; i++)
                on_event(self, &res->events.val[i]);
        self->boot_known = true;
        self->boot_id = res->boot_id;
        self->next_seq = res->next_seq;
    }
    send_watch(self);
}

static void send_watch(plugin_reg_t *self)
{
    xsp_error_t err;
    self->watch_at = 0;
    uint32_t wait = self->boot_known ? WATCH_WAIT_MS : 0;
    xsp_registrar_watch_args_t a = { .dbg = "plugin-watch", .timeout_ms = wait,
                                     .from_seq = self->boot_known ? self->next_seq : UINT64_MAX };
    if (send_raw(self, XSP_REGISTRAR_METHOD_REGISTRAR_WATCH, &a, a.dbg, wait + WATCH_SLACK_MS, on_watch,
                 &self->watch_call, &err) != XSP_OK) {
        xsp_log(XSP_LOG_DEBUG, "cannot send Registrar.watch: %s", err.msg);
        self->watch_call = 0;
        self->watch_at = xsp_now_ms() + BACKOFF_MIN_MS;
    }
}

/* ================================================================ loop */

int plugin_reg_fd(const plugin_reg_t *self)
{
    return xsp_client_fd(self->client);
}

int plugin_reg_timeout_ms(const plugin_reg_t *self)
{
    int t = xsp_client_timeout_ms(self->client);
    int64_t now = xsp_now_ms();
    int64_t at[2] = { self->retry_at, self->watch_at };
    for (int i = 0; i < 2; i++)
        if (at[i]) {
            int64_t d = at[i] - now;
            if (d < 0)
                d = 0;
            if (t < 0 || d < t)
                t = (int) d;
        }
    return t;
}

void plugin_reg_process(plugin_reg_t *self)
{
    xsp_client_process(self->client);
    int64_t now = xsp_now_ms();
    if (self->state == REG_STOPPED)
        return;
    if (self->retry_at && now >= self->retry_at && self->state == REG_IDLE)
        send_register(self);
    if (self->watch_at && now >= self->watch_at && !self->watch_call)
        send_watch(self);
}

void plugin_reg_unregister(plugin_reg_t *self, int wait_ms)
{
    reg_state_t was = self->state;
    self->state = REG_STOPPED;
    self->retry_at = self->watch_at = 0;
    if (self->watch_call)
        xsp_client_cancel(self->client, self->watch_call);
    if (self->reg_call)
        xsp_client_cancel(self->client, self->reg_call);
    self->watch_call = self->reg_call = 0;
    if (was != REG_REGISTERED || !self->id)
        return;
    xsp_error_t err;
    xsp_call_opts_t o = { .timeout_ms = (uint32_t) wait_ms };
    if (xsp_registrar_unregister(self->client, self->registrar, &o, "plugin-unregister", self->id, &err)
        == XSP_OK)
        xsp_log(XSP_LOG_INFO, "unregistered %s (id %s)", self->name, self->id);
    else
        xsp_log(XSP_LOG_WARN, "unregistering %s (id %s) failed: %s: %s (the registrar drops it once "
                "the queue has no consumer)", self->name, self->id, xsp_code_name(err.code), err.msg);
}

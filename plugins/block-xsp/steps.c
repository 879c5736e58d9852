/*  steps.c — the add sequence, its undo, and remove (contract in steps.h).

    Owns: the switch client of this run, the in-memory copy of the record, the sentences.
    Never touches: nodes outside $XENBUS_PATH (xenbus.c does the I/O), loop devices other
    than the one the record names.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "blockdev.h"
#include "lock.h"
#include "log.h"
#include "loop.h"
#include "route.h"
#include "xsp/validate.h"
#include "steps.h"
#include "xsp/storage_client.h"

typedef enum { ST_NONE, ST_OPEN, ST_ATTACH, ST_ACTIVATE, ST_CONNECTED } stage_t;
static const char *const stage_name[] = { "", "open", "attach", "activate", "connected" };

#define REC_URI "xsp-uri"
#define REC_PLUGIN "xsp-plugin"
#define REC_QUEUE "xsp-queue"
#define REC_DOMAIN "xsp-domain"
#define REC_STAGE "xsp-stage"
#define REC_LOOP "xsp-loop"
#define REC_LOOP_FILE "xsp-loop-file"
static const char *const rec_nodes[] = { REC_STAGE, REC_LOOP, REC_LOOP_FILE, REC_URI, REC_PLUGIN,
                                         REC_QUEUE, REC_DOMAIN };

typedef struct {
    bx_run_t *run;
    xsp_client_t *client;
    char dbg[512];
    /* the record (malloc'd strings, NULL when absent) */
    char *uri, *plugin, *queue, *domain, *loop, *loop_file;
    stage_t stage;
    bool plugin_unreachable;    /* a forward call timed out or the plugin died: undo skips it */
} ctx_t;

/* ================================================================ helpers */

static void append(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;
    if (n >= cap - 1)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

static const char *S(const char *s)
{
    return s ? s : "";
}

/*  Errors after which the plugin is not worth asking again in this run. */
static bool unreachable(xsp_code_t c)
{
    return c == XSP_E_TIMEOUT || c == XSP_E_EXPIRED || c == XSP_E_SERVER_LOST ||
           c == XSP_E_DISCONNECTED || c == XSP_E_SHUTDOWN || c == XSP_E_NO_PLUGIN_FOR_URI ||
           c == XSP_E_QUEUE_FULL;
}

static void record_free(ctx_t *c)
{
    free(c->uri);
    free(c->plugin);
    free(c->queue);
    free(c->domain);
    free(c->loop);
    free(c->loop_file);
    c->uri = c->plugin = c->queue = c->domain = c->loop = c->loop_file = NULL;
    c->stage = ST_NONE;
}

static void record_load(ctx_t *c)
{
    bx_xenbus_t *xb = c->run->xb;
    char *st;
    record_free(c);
    c->uri = bx_xenbus_read(xb, REC_URI);
    c->plugin = bx_xenbus_read(xb, REC_PLUGIN);
    c->queue = bx_xenbus_read(xb, REC_QUEUE);
    c->domain = bx_xenbus_read(xb, REC_DOMAIN);
    c->loop = bx_xenbus_read(xb, REC_LOOP);
    c->loop_file = bx_xenbus_read(xb, REC_LOOP_FILE);
    st = bx_xenbus_read(xb, REC_STAGE);
    for (int i = ST_OPEN; st && i <= ST_CONNECTED; i++)
        if (strcmp(st, stage_name[i]) == 0)
            c->stage = (stage_t) i;
    if (st && c->stage == ST_NONE) {
        bx_log(LOG_WARNING, "%s holds \"%s\", not a stage; undoing everything", REC_STAGE, st);
        c->stage = ST_CONNECTED;
    }
    free(st);
}

static void record_clear(ctx_t *c)
{
    for (size_t i = 0; i < sizeof rec_nodes / sizeof rec_nodes[0]; i++)
        bx_xenbus_rm(c->run->xb, rec_nodes[i]);
}

static int set_stage(ctx_t *c, stage_t s)
{
    if (bx_xenbus_write(c->run->xb, REC_STAGE, stage_name[s]) != 0)
        return -1;
    c->stage = s;
    return 0;
}

/*  Call options for the next call; false when the budget is spent. */
static bool call_opts(const ctx_t *c, bool forward, xsp_call_opts_t *o)
{
    uint32_t t = bx_budget_call(&c->run->budget, forward);
    memset(o, 0, sizeof *o);
    o->timeout_ms = t;
    o->wait_ms = t + 200;
    o->dbg = c->dbg;
    return t > 0;
}

static int out_of_time(const ctx_t *c, xsp_error_t *err)
{
    return xsp_error_set(err, XSP_E_TIMEOUT, "block-xsp's time budget (%u ms, $XSP_BLOCK_TIMEOUT_MS) is spent",
                         c->run->budget.total_ms);
}

static int connect_switch(ctx_t *c, bool forward, xsp_error_t *err)
{
    xsp_client_opts_t o = { .name = "block-xsp", .domid = bx_xenbus_own_domid(c->run->xb) };
    uint32_t t = bx_budget_call(&c->run->budget, forward);
    if (c->client)
        return XSP_OK;
    if (t == 0)
        return out_of_time(c, err);
    o.connect_timeout_ms = (int) t;
    c->client = xsp_client_new_opts(&o, err);
    if (!c->client)
        return err->code ? (int) err->code : XSP_E_DISCONNECTED;
    return XSP_OK;
}

/* ================================================================ undo */

typedef struct {
    char done[512], left[512];
    bool plugin_gone;       /* no point asking the plugin again */
    bool all;               /* nothing left */
} undo_t;

static void undo_call(ctx_t *c, undo_t *u, const char *what, const char *queue)
{
    xsp_call_opts_t o;
    xsp_error_t err = { 0 };
    int rc;

    if (u->plugin_gone || !queue || !*queue) {
        append(u->left, sizeof u->left, "%s%s", u->left[0] ? ", " : "", what);
        u->all = false;
        return;
    }
    if (!call_opts(c, false, &o)) {
        rc = out_of_time(c, &err);
    } else if (strcmp(what, "deactivate") == 0) {
        rc = xsp_datapath_deactivate(c->client, queue, &o, c->dbg, S(c->uri), S(c->domain), &err);
    } else if (strcmp(what, "detach") == 0) {
        rc = xsp_datapath_detach(c->client, queue, &o, c->dbg, S(c->uri), S(c->domain), &err);
    } else {
        rc = xsp_datapath_close(c->client, queue, &o, c->dbg, S(c->uri), &err);
    }
    if (rc == XSP_OK) {
        bx_log(LOG_INFO, "Datapath.%s %s (domain %s) on %s: done", what, S(c->uri), S(c->domain), queue);
        append(u->done, sizeof u->done, "%s%s", u->done[0] ? ", " : "", what);
        return;
    }
    bx_log(LOG_WARNING, "Datapath.%s %s (domain %s) on %s failed: %s: %s", what, S(c->uri),
           S(c->domain), queue, xsp_code_name(err.code), err.msg);
    append(u->left, sizeof u->left, "%s%s (%s)", u->left[0] ? ", " : "", what, xsp_code_name(err.code));
    u->all = false;
    if (unreachable(err.code))
        u->plugin_gone = true;
}

static void undo_loop(ctx_t *c, undo_t *u)
{
    char why[1024];
    int n = bx_loop_number(c->loop), r;
    if (!c->loop)
        return;
    if (n < 0 || !c->loop_file) {
        bx_log(LOG_WARNING, "%s = \"%s\" (file \"%s\") is not a loop device record; left alone", REC_LOOP,
               c->loop, S(c->loop_file));
        return;
    }
    r = bx_loop_remove(n, c->loop_file, why, sizeof why);
    if (r == 0) {
        bx_log(LOG_INFO, "loop device %s over %s: removed", c->loop, c->loop_file);
        append(u->done, sizeof u->done, "%sloop device %s", u->done[0] ? ", " : "", c->loop);
    } else if (r == 1) {
        bx_log(LOG_WARNING, "%s is no longer backed by %s: someone else's now, left alone", c->loop,
               c->loop_file);
    } else {
        bx_log(LOG_ERR, "%s", why);
        append(u->left, sizeof u->left, "%sloop device %s", u->left[0] ? ", " : "", c->loop);
        u->all = false;
    }
}

/*  Undo what the record in c says.  queue: the plugin's queue, or NULL to resolve again
    (remove).  Fills u with what was done and what is left. */
static void undo(ctx_t *c, const char *queue, undo_t *u)
{
    bx_route_t route = { 0 };
    xsp_error_t err = { 0 };

    memset(u, 0, sizeof *u);
    u->all = true;
    u->plugin_gone = c->plugin_unreachable;
    if (c->stage >= ST_OPEN) {
        if (connect_switch(c, false, &err) != XSP_OK) {
            bx_log(LOG_WARNING, "cannot reach the xsp switch to undo %s: %s", S(c->uri), err.msg);
            u->plugin_gone = true;
        } else if (!queue) {
            uint32_t t = bx_budget_call(&c->run->budget, false);
            int rc = t ? bx_route_resolve(c->client, S(c->uri), c->dbg, t, &route, &err) : out_of_time(c, &err);
            if (rc == XSP_OK) {
                if (c->queue && strcmp(route.queue, c->queue) != 0)
                    bx_log(LOG_INFO, "%s is now served by %s on %s (was %s on %s)", S(c->uri), route.plugin,
                           route.queue, S(c->plugin), c->queue);
                queue = route.queue;
            } else if (rc == XSP_E_NO_PLUGIN_FOR_URI) {
                bx_log(LOG_WARNING, "no running plugin serves %s any more (was %s): %s", S(c->uri),
                       S(c->plugin), err.msg);
                u->plugin_gone = true;
            } else {
                bx_log(LOG_WARNING, "the registrar did not answer (%s: %s); using the recorded queue %s",
                       xsp_code_name(err.code), err.msg, S(c->queue));
                queue = c->queue;
            }
        }
    }
    if (c->stage >= ST_ACTIVATE)
        undo_call(c, u, "deactivate", queue);
    undo_loop(c, u);
    if (c->stage >= ST_ATTACH)
        undo_call(c, u, "detach", queue);
    if (c->stage >= ST_OPEN) {
        char other[600];
        if (bx_xenbus_other_user(c->run->xb, S(c->uri), other, sizeof other)) {
            bx_log(LOG_INFO, "%s is still used by %s: not closed", S(c->uri), other);
            append(u->done, sizeof u->done, "%s(close left to %s)", u->done[0] ? ", " : "", other);
        } else {
            undo_call(c, u, "close", queue);
        }
    }
    if (u->left[0])
        bx_log(LOG_WARNING, "NOT undone for %s (plugin %s, domain %s): %s; the plugin keeps that state "
               "until someone calls `xsp datapath deactivate|detach|close` for it", S(c->uri),
               S(c->plugin), S(c->domain), u->left);
    bx_route_dispose(&route);
}

/* ================================================================ add */

/*  Undo, then hotplug-error + hotplug-status = error.  Returns 1. */
static int fail(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ctx_t *c, const char *fmt, ...)
{
    char sentence[2048], what[1536];
    undo_t u;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(sentence, sizeof sentence, "block-xsp could not attach %s for domain %s (%s): %s.",
             c->uri && *c->uri ? c->uri : "(no URI)", c->domain ? c->domain : "?", bx_xenbus_path(c->run->xb), what);
    if (c->stage != ST_NONE || c->loop) {
        undo(c, c->queue, &u);
        if (u.done[0])
            append(sentence, sizeof sentence, " Undone: %s.", u.done);
        if (u.left[0])
            append(sentence, sizeof sentence, " NOT undone: %s (block-xsp remove retries).", u.left);
        if (u.all)
            record_clear(c);
    } else {
        record_clear(c);
    }
    bx_xenbus_fail(c->run->xb, sentence);
    return 1;
}

static const char *plugin_desc(const ctx_t *c, char *buf, size_t cap)
{
    snprintf(buf, cap, "plugin %s (queue %s)", S(c->plugin), S(c->queue));
    return buf;
}

static int add(ctx_t *c)
{
    bx_xenbus_t *xb = c->run->xb;
    xsp_error_t err = { 0 };
    xsp_call_opts_t o;
    bx_route_t route = { 0 };
    xsp_backend_t backend;
    bx_choice_t choice;
    char why[1536], pd[600], *mode;
    const char *devpath;
    char loopdev[64];
    unsigned maj, min;
    uint32_t fe, own;
    bool ro;
    int rc;

    if (bx_xenbus_frontend(xb, &fe, why, sizeof why) != 0)
        return fail(c, "%s", why);
    if (asprintf(&c->domain, "%u", fe) < 0) {
        c->domain = NULL;
        return fail(c, "out of memory");
    }
    c->uri = bx_xenbus_read(xb, "params");
    if (!c->uri || !*c->uri)
        return fail(c, "%s/params is empty or missing: the disk spec needs target=<URI>, e.g. "
                    "'script=block-xsp,vdev=xvda,target=file:///srv/sr1/vol1'", bx_xenbus_path(xb));
    mode = bx_xenbus_read(xb, "mode");
    ro = mode && mode[0] == 'r';
    free(mode);
    own = bx_xenbus_own_domid(xb);
    if (strchr(c->uri, ':') == NULL)
        return fail(c, "'%s' is not a URI (scheme:...): block-xsp serves disks whose target= is a "
                    "storage URI such as file:///srv/sr1/vol1", c->uri);

    if (connect_switch(c, true, &err) != XSP_OK)
        return fail(c, "cannot reach the xsp switch: %s (is xsp-switch running? block-xsp uses "
                    "$XSP_SWITCH or the default endpoint)", err.msg);
    rc = bx_route_resolve(c->client, c->uri, c->dbg, bx_budget_call(&c->run->budget, true), &route, &err);
    if (rc == XSP_E_NO_PLUGIN_FOR_URI)
        return fail(c, "no running storage plugin serves this URI's scheme (%s): start the plugin "
                    "for it, or correct the disk's target=", err.msg);
    if (rc != XSP_OK)
        return fail(c, "the registrar (org.xen.xsp.registrar) could not resolve it: %s: %s (is "
                    "xsp-registrar running?)", xsp_code_name(err.code), err.msg);
    c->plugin = route.plugin;
    c->queue = route.queue;
    route.plugin = route.queue = NULL;
    xsp_resolve_result_t who = { .plugin = c->plugin, .domid = route.domid, .backend_policy = route.policy };
    plugin_desc(c, pd, sizeof pd);
    bx_log(LOG_INFO, "%s for domain %s: %s", c->uri, c->domain, pd);

    if (bx_xenbus_write(xb, REC_URI, c->uri) || bx_xenbus_write(xb, REC_PLUGIN, c->plugin) ||
        bx_xenbus_write(xb, REC_QUEUE, c->queue) || bx_xenbus_write(xb, REC_DOMAIN, c->domain) ||
        set_stage(c, ST_OPEN))
        return fail(c, "cannot write block-xsp's record under %s: %s", bx_xenbus_path(xb), strerror(errno));

    /* open */
    if (!call_opts(c, true, &o))
        return fail(c, "%s: out of time before Datapath.open", pd);
    if (xsp_datapath_open(c->client, c->queue, &o, c->dbg, c->uri, true, &err) != XSP_OK) {
        c->plugin_unreachable = unreachable(err.code);
        return fail(c, "%s: Datapath.open failed: %s: %s", pd, xsp_code_name(err.code), err.msg);
    }

    /* attach */
    if (set_stage(c, ST_ATTACH))
        return fail(c, "cannot write %s/%s: %s", bx_xenbus_path(xb), REC_STAGE, strerror(errno));
    if (!call_opts(c, true, &o))
        return fail(c, "%s: out of time before Datapath.attach", pd);
    xsp_backend_init(&backend);
    if (xsp_datapath_attach(c->client, c->queue, &o, c->dbg, c->uri, c->domain, &backend, &err) != XSP_OK) {
        c->plugin_unreachable = unreachable(err.code);
        return fail(c, "%s: Datapath.attach failed: %s: %s", pd, xsp_code_name(err.code), err.msg);
    }
    /* dom0 does not trust plugins: nothing unsafe reaches xenstore or losetup */
    if (xsp_validate_backend(&who, &backend, &err) != XSP_OK) {
        rc = fail(c, "%s: its Datapath.attach answer was refused: %s", pd, err.msg);
        xsp_backend_dispose(&backend);
        return rc;
    }
    if (backend.domain.domid != own) {
        rc = fail(c, "%s serves the backend from domain %u, but libxl runs this disk's backend in "
                  "domain %u: give the disk spec backend=<domain %u's name> (with `xl devd` running "
                  "there)", pd, backend.domain.domid, own, backend.domain.domid);
        xsp_backend_dispose(&backend);
        return rc;
    }
    if (bx_blockdev_choose(&backend, &choice, why, sizeof why) != 0) {
        rc = fail(c, "%s: %s", pd, why);
        xsp_backend_dispose(&backend);
        return rc;
    }
    devpath = choice.path;
    if (choice.kind == BX_DEV_FILE) {
        for (int tries = 0;; tries++) {
            int n = bx_loop_reserve(why, sizeof why);
            if (n < 0) {
                rc = fail(c, "%s: %s", pd, why);
                xsp_backend_dispose(&backend);
                return rc;
            }
            bx_loop_name(n, loopdev, sizeof loopdev);
            free(c->loop);
            free(c->loop_file);
            c->loop = strdup(loopdev);
            c->loop_file = strdup(choice.path);
            if (!c->loop || !c->loop_file || bx_xenbus_write(xb, REC_LOOP, loopdev) ||
                bx_xenbus_write(xb, REC_LOOP_FILE, choice.path)) {
                rc = fail(c, "cannot record the loop device under %s", bx_xenbus_path(xb));
                xsp_backend_dispose(&backend);
                return rc;
            }
            if (bx_loop_configure(n, choice.path, ro, why, sizeof why) == 0)
                break;
            if (errno != EBUSY || tries >= 4) {
                rc = fail(c, "%s offered the file %s: %s", pd, choice.path, why);
                xsp_backend_dispose(&backend);
                return rc;
            }
            /* someone took that number meanwhile: the record must not name it */
            free(c->loop);
            c->loop = NULL;
            bx_xenbus_rm(xb, REC_LOOP);
        }
        bx_log(LOG_INFO, "loop device %s over %s%s", loopdev, choice.path, ro ? " (read-only)" : "");
        devpath = loopdev;
    }
    if (bx_blockdev_numbers(devpath, &maj, &min, why, sizeof why) != 0) {
        rc = fail(c, "%s: %s", pd, why);
        xsp_backend_dispose(&backend);
        return rc;
    }
    char devcopy[4096];
    snprintf(devcopy, sizeof devcopy, "%s", devpath);
    xsp_backend_dispose(&backend);

    /* activate */
    if (set_stage(c, ST_ACTIVATE))
        return fail(c, "cannot write %s/%s: %s", bx_xenbus_path(xb), REC_STAGE, strerror(errno));
    if (!call_opts(c, true, &o))
        return fail(c, "%s: out of time before Datapath.activate", pd);
    if (xsp_datapath_activate(c->client, c->queue, &o, c->dbg, c->uri, c->domain, &err) != XSP_OK) {
        c->plugin_unreachable = unreachable(err.code);
        return fail(c, "%s: Datapath.activate failed: %s: %s", pd, xsp_code_name(err.code), err.msg);
    }

    if (set_stage(c, ST_CONNECTED) || bx_xenbus_connected(xb, maj, min, devcopy) != 0)
        return fail(c, "cannot write physical-device under %s: %s", bx_xenbus_path(xb), strerror(errno));
    bx_log(LOG_INFO, "%s connected for domain %s: %s (%x:%x) from %s", c->uri, c->domain, devcopy, maj,
           min, pd);
    return 0;
}

int bx_steps_add(bx_run_t *run)
{
    ctx_t c = { .run = run };
    undo_t u;
    int rc;

    char why[512];
    int lock;

    snprintf(c.dbg, sizeof c.dbg, "block-xsp add %s", bx_xenbus_path(run->xb));
    lock = bx_lock_take(bx_budget_left(&run->budget, true), why, sizeof why);
    if (lock < 0) {
        bx_xenbus_fail(run->xb, why);
        return 1;
    }
    record_load(&c);
    if (c.stage != ST_NONE || c.loop) {
        bx_log(LOG_WARNING, "a record of an earlier add (stage %s, %s) is here: undoing it first",
               stage_name[c.stage], S(c.uri));
        undo(&c, NULL, &u);
        record_clear(&c);
    }
    record_free(&c);
    rc = add(&c);
    record_free(&c);
    xsp_client_destroy(&c.client);
    close(lock);
    return rc;
}

/* ================================================================ remove */

int bx_steps_remove(bx_run_t *run)
{
    ctx_t c = { .run = run };
    undo_t u;

    char why[512];
    int lock;

    snprintf(c.dbg, sizeof c.dbg, "block-xsp remove %s", bx_xenbus_path(run->xb));
    lock = bx_lock_take(bx_budget_left(&run->budget, true), why, sizeof why);
    if (lock < 0)
        bx_log(LOG_WARNING, "%s; removing without it", why);
    record_load(&c);
    if (c.stage == ST_NONE && !c.loop) {
        bx_log(LOG_INFO, "no block-xsp record under %s: nothing to undo", bx_xenbus_path(run->xb));
        record_clear(&c);
        record_free(&c);
        if (lock >= 0)
            close(lock);
        return 0;
    }
    undo(&c, NULL, &u);
    bx_log(LOG_INFO, "removed %s for domain %s (plugin %s): undone: %s%s%s", S(c.uri), S(c.domain),
           S(c.plugin), u.done[0] ? u.done : "nothing", u.left[0] ? "; NOT undone: " : "", u.left);
    record_clear(&c);
    record_free(&c);
    xsp_client_destroy(&c.client);
    if (lock >= 0)
        close(lock);
    return 0;
}

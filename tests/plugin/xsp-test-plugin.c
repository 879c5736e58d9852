/*  xsp-test-plugin.c — an in-memory storage plugin implementing every storage method, for tests.

    Owns: in-memory SRs and volumes (keys, names, sizes, metadata, clone/snapshot lineage)
    and data-path state (open, attached domains, the one active domain), behind one mutex so
    it works with --workers N as well as in the event loop.
    Never touches: disks, xenstore.  Everything is lost when it exits.  It registers with
    the registrar only when given --scheme (e.g. --scheme mem; xsp_plugin_main does it),
    so tests without a registrar see no registration traffic.

    Built on xsp_plugin_main (xsp/plugin.h): every common option works (--switch, --queue,
    --workers, ...).  Its own options:
        --plugin-name NAME     run and register as xsp-plugin-NAME (default xsp-plugin-test),
                               so several instances can be distinct plugins
        --unimplement METHOD   leave METHOD (wire name, e.g. SR.probe) NULL in the ops table,
                               so the dispatcher answers `unimplemented` (repeatable)
        --seed-volumes N       start with the SR mem://seed attached and N volumes vol-0..
                               (same keys after a restart: for restart tests)
        --resize-delay-ms N    how long Volume.resize takes (default 100)
        --image-dir DIR        Datapath.attach makes DIR/KEY.img (sparse, the volume's size)
                               and offers it FIRST as a `file` implementation, so a caller
                               such as block-xsp can put a real loop device over it
        --evil-attach MODE     a hostile plugin: Datapath.attach answers a backend dom0 must
                               refuse (xsp/validate.h): `path` (block device /dev/../etc/shadow),
                               `domain` (a backend domain other than its registered policy
                               allows), `newline` (a file path with a newline in it)

    THE ASYNC PATTERN (Volume.resize): the handler checks the arguments and answers errors
    at once; otherwise it keeps the call (its args stay valid until it is answered), arms a
    timer in the plugin's loop (xsp_plugin_after) and returns 0.  The loop goes on serving
    other calls; when the timer fires the resize is applied and answered with
    xsp_volume_resize_reply().  Nothing blocks: with --workers 0 one thread serves
    everything, and a slow resize never delays a stat.  If the plugin stops first, the
    timer fires early (xsp_plugin_stopping()) and the call is answered `cancelled`.

    Volume URIs are mem://SR-NAME/KEY; Datapath calls find volumes by URI.
*/
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xsp/plugin.h"

#define S(x) ((x) ? (x) : "")
#define SR_TOTAL (1ull << 40)           /* every SR pretends to hold 1 TiB */

typedef struct vol vol_t;
struct vol {
    char *sr;                   /* the SR's key */
    xsp_volume_t v;
    bool open, persistent;
    xsp_string_list_t attached; /* domains */
    char *active;               /* the domain I/O is active for, or NULL */
    vol_t *next;
};

typedef struct sr sr_t;
struct sr {
    char *key;                  /* mem://NAME */
    char *name, *description, *uuid;
    bool attached;
    sr_t *next;
};

static struct {
    pthread_mutex_t mu;
    sr_t *srs;
    vol_t *vols;
    unsigned next_vol;
    unsigned resize_delay_ms;
    unsigned seed;
    const char *image_dir;              /* --image-dir, or NULL */
    const char *evil;                   /* --evil-attach MODE, or NULL */
    xsp_plugin_t *plugin;
    unsigned long resizes_in_progress;
    unsigned long sessions;             /* on_connected calls: one per (re)subscribe */
} g = { .mu = PTHREAD_MUTEX_INITIALIZER, .resize_delay_ms = 100 };

/* ================================================================ state */

static char *xstrdup(const char *s)
{
    char *d = strdup(S(s));
    if (!d) {
        fputs("xsp-test-plugin: out of memory\n", stderr);
        abort();
    }
    return d;
}

static sr_t *sr_find(const char *key)
{
    for (sr_t *s = g.srs; s; s = s->next)
        if (strcmp(s->key, S(key)) == 0)
            return s;
    return NULL;
}

static vol_t *vol_find(const char *sr, const char *key)
{
    for (vol_t *v = g.vols; v; v = v->next)
        if (strcmp(v->sr, S(sr)) == 0 && strcmp(v->v.key, S(key)) == 0)
            return v;
    return NULL;
}

static vol_t *vol_by_uri(const char *uri)
{
    for (vol_t *v = g.vols; v; v = v->next)
        for (size_t i = 0; i < v->v.uri.len; i++)
            if (strcmp(v->v.uri.val[i], S(uri)) == 0)
                return v;
    return NULL;
}

static uint64_t sr_used(const char *sr)
{
    uint64_t used = 0;
    for (vol_t *v = g.vols; v; v = v->next)
        if (strcmp(v->sr, sr) == 0)
            used += v->v.physical_utilisation;
    return used;
}

static sr_t *sr_new(const char *key, const char *name, const char *description, const char *uuid)
{
    sr_t *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->key = xstrdup(key);
    s->name = xstrdup(name);
    s->description = xstrdup(description);
    s->uuid = uuid ? xstrdup(uuid) : NULL;
    s->next = g.srs;
    g.srs = s;
    return s;
}

static vol_t *vol_new(sr_t *s, const char *key, const char *name, const char *description,
                      uint64_t size, bool sharable, bool rw, const char *parent)
{
    char buf[8192];
    vol_t *v = calloc(1, sizeof *v);
    if (!v)
        abort();
    v->sr = xstrdup(s->key);
    if (key) {
        v->v.key = xstrdup(key);
    } else {
        snprintf(buf, sizeof buf, "vol-%u", g.next_vol++);
        v->v.key = xstrdup(buf);
    }
    snprintf(buf, sizeof buf, "%08x-0000-4000-8000-%012u", (unsigned) (uintptr_t) v & 0xffffffffu,
             g.next_vol);
    v->v.uuid = xstrdup(buf);
    v->v.name = xstrdup(name);
    v->v.description = xstrdup(description);
    v->v.read_write = rw;
    v->v.sharable = sharable;
    v->v.virtual_size = (size + 511) / 512 * 512;
    v->v.physical_utilisation = v->v.virtual_size / 2;
    snprintf(buf, sizeof buf, "%s/%s", s->key, v->v.key);
    if (xsp_string_list_append(&v->v.uri, buf))
        abort();
    v->v.parent = parent ? xstrdup(parent) : NULL;
    v->next = g.vols;
    g.vols = v;
    return v;
}

static void vol_free(vol_t *v)
{
    free(v->sr);
    xsp_volume_dispose(&v->v);
    xsp_string_list_dispose(&v->attached);
    free(v->active);
    free(v);
}

static void vol_remove(vol_t *v)
{
    for (vol_t **pp = &g.vols; *pp; pp = &(*pp)->next)
        if (*pp == v) {
            *pp = v->next;
            vol_free(v);
            return;
        }
}

static void sr_free(sr_t *s)
{
    free(s->key);
    free(s->name);
    free(s->description);
    free(s->uuid);
    free(s);
}

/* ================================================================ errors */

static int not_attached(xsp_storage_call_t *call, const char *sr)
{
    return xsp_call_fail(call, XSP_E_SR_NOT_ATTACHED, XSP_DETAIL1("sr", S(sr)),
                         "SR %s is not attached", S(sr));
}

static int no_volume(xsp_storage_call_t *call, const char *sr, const char *key)
{
    return xsp_call_fail(call, XSP_E_VOLUME_DOES_NOT_EXIST, XSP_DETAIL2("sr", S(sr), "key", S(key)),
                         "no volume %s in SR %s", S(key), S(sr));
}

static int no_uri(xsp_storage_call_t *call, const char *uri)
{
    return xsp_call_fail(call, XSP_E_VOLUME_DOES_NOT_EXIST, XSP_DETAIL1("uri", S(uri)),
                         "no volume data at %s", S(uri));
}

/*  The attached SR, or NULL after answering sr-not-attached. */
static sr_t *need_sr(xsp_storage_call_t *call, const char *key)
{
    sr_t *s = sr_find(key);
    if (!s || !s->attached) {
        not_attached(call, key);
        return NULL;
    }
    return s;
}

/* ================================================================ Plugin */

static int plugin_query(void *ctx, xsp_storage_call_t *call, const xsp_plugin_query_args_t *a)
{
    (void) ctx;
    (void) a;
    xsp_plugin_info_t i;
    xsp_plugin_info_init(&i);
    i.plugin = "memory";
    i.name = "xsp test plugin";
    i.description = "Keeps SRs and volumes in memory; implements every storage method.";
    i.vendor = "xsp";
    i.copyright = "(c) the xsp authors";
    i.version = XSP_VERSION;
    i.api_version = "1.0";
    static char *features[] = { "SR_PROBE", "VDI_CREATE", "VDI_DESTROY", "VDI_CLONE",
                                "VDI_SNAPSHOT", "VDI_RESIZE", "VDI_ACTIVATE" };
    i.features.len = sizeof features / sizeof features[0];
    i.features.val = features;
    static xsp_string_pair_t conf[] = { { "sr", "the SR key (mem://NAME), from SR.create" },
                                        { "name", "the SR name, when SR.create has no uri" } };
    i.configuration.len = 2;
    i.configuration.val = conf;
    return xsp_plugin_query_reply(call, &i);     /* i only borrows: nothing to dispose */
}

static int plugin_ls(void *ctx, xsp_storage_call_t *call, const xsp_plugin_ls_args_t *a)
{
    (void) ctx;
    (void) a;
    xsp_string_list_t l = { 0, NULL };
    pthread_mutex_lock(&g.mu);
    for (sr_t *s = g.srs; s; s = s->next)
        if (s->attached && xsp_string_list_append(&l, s->key))
            abort();
    pthread_mutex_unlock(&g.mu);
    int rc = xsp_plugin_ls_reply(call, &l);
    xsp_string_list_dispose(&l);
    return rc;
}

static int plugin_diagnostics(void *ctx, xsp_storage_call_t *call, const xsp_plugin_diagnostics_args_t *a)
{
    (void) ctx;
    char text[4096];
    size_t nsr = 0, nvol = 0;
    pthread_mutex_lock(&g.mu);
    for (sr_t *s = g.srs; s; s = s->next)
        nsr++;
    for (vol_t *v = g.vols; v; v = v->next)
        nvol++;
    snprintf(text, sizeof text,
             "srs: %zu\nvolumes: %zu\nresizes in progress: %lu\nworkers: %u\nsessions: %lu\n"
             "args dbg: %s\nheader dbg: %s\n",
             nsr, nvol, g.resizes_in_progress, xsp_plugin_workers(g.plugin), g.sessions, S(a->dbg),
             xsp_request_dbg(xsp_call_request(call)));
    pthread_mutex_unlock(&g.mu);
    return xsp_plugin_diagnostics_reply(call, text);
}

/* ================================================================ SR */

static int sr_stat_fill(const sr_t *s, xsp_sr_stat_t *st)
{
    xsp_sr_stat_init(st);
    st->sr = s->key;            /* borrowed */
    st->name = s->name;
    st->uuid = s->uuid;
    st->description = s->description;
    st->total_space = SR_TOTAL;
    st->free_space = SR_TOTAL - sr_used(s->key);
    st->clustered = false;
    st->health = XSP_HEALTH_HEALTHY;
    return 0;
}

static int sr_probe(void *ctx, xsp_storage_call_t *call, const xsp_sr_probe_args_t *a)
{
    (void) ctx;
    const char *want = xsp_string_map_get(&a->configuration, "sr");
    xsp_probe_result_list_t l = { 0, NULL };
    pthread_mutex_lock(&g.mu);
    for (sr_t *s = g.srs; s; s = s->next) {
        if (want && strcmp(want, s->key) != 0)
            continue;
        xsp_probe_result_t *r = xsp_probe_result_list_add(&l);
        char n[32];
        size_t count = 0;
        for (vol_t *v = g.vols; v; v = v->next)
            count += strcmp(v->sr, s->key) == 0;
        snprintf(n, sizeof n, "%zu", count);
        if (!r || xsp_string_map_set(&r->configuration, "sr", s->key) ||
            xsp_string_map_set(&r->extra_info, "volumes", n))
            abort();
        r->complete = true;
        if (s->attached) {
            xsp_sr_stat_t st;
            sr_stat_fill(s, &st);
            r->has_sr = true;
            if (xsp_sr_stat_copy(&r->sr, &st))
                abort();
        }
    }
    pthread_mutex_unlock(&g.mu);
    int rc = xsp_sr_probe_reply(call, &l);
    xsp_probe_result_list_dispose(&l);
    return rc;
}

static int sr_create(void *ctx, xsp_storage_call_t *call, const xsp_sr_create_args_t *a)
{
    (void) ctx;
    char key[4200];
    const char *n = xsp_string_map_get(&a->configuration, "name");
    if (a->uri && *a->uri)
        snprintf(key, sizeof key, "%s", a->uri);
    else if ((n && *n) || (a->name && *a->name))
        snprintf(key, sizeof key, "mem://%s", n && *n ? n : a->name);
    else
        return xsp_call_fail(call, XSP_E_INVALID_ARGUMENT, XSP_DETAIL1("argument", "name"),
                             "SR.create needs a uri or a name");
    pthread_mutex_lock(&g.mu);
    if (sr_find(key)) {
        pthread_mutex_unlock(&g.mu);
        return xsp_call_fail(call, XSP_E_INVALID_ARGUMENT, XSP_DETAIL1("argument", "uri"),
                             "an SR already exists at %s", key);
    }
    sr_new(key, a->name, a->description, a->uuid);
    pthread_mutex_unlock(&g.mu);
    xsp_string_map_t conf = { 0, NULL };
    if (xsp_string_map_copy(&conf, &a->configuration) || xsp_string_map_set(&conf, "sr", key))
        abort();
    int rc = xsp_sr_create_reply(call, &conf);
    xsp_string_map_dispose(&conf);
    return rc;
}

static int sr_attach(void *ctx, xsp_storage_call_t *call, const xsp_sr_attach_args_t *a)
{
    (void) ctx;
    const char *key = xsp_string_map_get(&a->configuration, "sr");
    pthread_mutex_lock(&g.mu);
    sr_t *s = sr_find(key);
    if (!s) {
        pthread_mutex_unlock(&g.mu);
        return xsp_call_fail(call, XSP_E_SR_DOES_NOT_EXIST, XSP_DETAIL1("sr", S(key)),
                             "no SR at %s", key ? key : "(no \"sr\" in the configuration)");
    }
    s->attached = true;
    int rc = xsp_sr_attach_reply(call, s->key);
    pthread_mutex_unlock(&g.mu);
    return rc;
}

static int sr_detach(void *ctx, xsp_storage_call_t *call, const xsp_sr_detach_args_t *a)
{
    (void) ctx;
    pthread_mutex_lock(&g.mu);
    sr_t *s = sr_find(a->sr);
    if (s)
        s->attached = false;
    pthread_mutex_unlock(&g.mu);
    return xsp_sr_detach_reply(call);           /* idempotent */
}

static int sr_destroy(void *ctx, xsp_storage_call_t *call, const xsp_sr_destroy_args_t *a)
{
    (void) ctx;
    pthread_mutex_lock(&g.mu);
    sr_t *s = need_sr(call, a->sr);
    if (!s) {
        pthread_mutex_unlock(&g.mu);
        return XSP_E_SR_NOT_ATTACHED;
    }
    for (vol_t **pp = &g.vols; *pp;) {
        vol_t *v = *pp;
        if (strcmp(v->sr, s->key) == 0) {
            *pp = v->next;
            vol_free(v);
        } else {
            pp = &v->next;
        }
    }
    for (sr_t **pp = &g.srs; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    sr_free(s);
    pthread_mutex_unlock(&g.mu);
    return xsp_sr_destroy_reply(call);
}

static int sr_stat(void *ctx, xsp_storage_call_t *call, const xsp_sr_stat_args_t *a)
{
    (void) ctx;
    xsp_sr_stat_t st;
    pthread_mutex_lock(&g.mu);
    sr_t *s = need_sr(call, a->sr);
    int rc = XSP_E_SR_NOT_ATTACHED;
    if (s) {
        sr_stat_fill(s, &st);
        rc = xsp_sr_stat_reply(call, &st);      /* st borrows: nothing to dispose */
    }
    pthread_mutex_unlock(&g.mu);
    return rc;
}

static int sr_set_name(void *ctx, xsp_storage_call_t *call, const xsp_sr_set_name_args_t *a)
{
    (void) ctx;
    pthread_mutex_lock(&g.mu);
    sr_t *s = need_sr(call, a->sr);
    if (s) {
        free(s->name);
        s->name = xstrdup(a->new_name);
    }
    pthread_mutex_unlock(&g.mu);
    return s ? xsp_sr_set_name_reply(call) : XSP_E_SR_NOT_ATTACHED;
}

static int sr_set_description(void *ctx, xsp_storage_call_t *call, const xsp_sr_set_description_args_t *a)
{
    (void) ctx;
    pthread_mutex_lock(&g.mu);
    sr_t *s = need_sr(call, a->sr);
    if (s) {
        free(s->description);
        s->description = xstrdup(a->new_description);
    }
    pthread_mutex_unlock(&g.mu);
    return s ? xsp_sr_set_description_reply(call) : XSP_E_SR_NOT_ATTACHED;
}

static int sr_ls(void *ctx, xsp_storage_call_t *call, const xsp_sr_ls_args_t *a)
{
    (void) ctx;
    xsp_volume_list_t l = { 0, NULL };
    int rc = XSP_E_SR_NOT_ATTACHED;
    pthread_mutex_lock(&g.mu);
    if (need_sr(call, a->sr)) {
        for (vol_t *v = g.vols; v; v = v->next) {
            if (strcmp(v->sr, a->sr) != 0)
                continue;
            xsp_volume_t *e = xsp_volume_list_add(&l);
            if (!e || xsp_volume_copy(e, &v->v))
                abort();
        }
        rc = xsp_sr_ls_reply(call, &l);
    }
    pthread_mutex_unlock(&g.mu);
    xsp_volume_list_dispose(&l);
    return rc;
}

/* ================================================================ Volume */

static int volume_create(void *ctx, xsp_storage_call_t *call, const xsp_volume_create_args_t *a)
{
    (void) ctx;
    if (a->size == 0)
        return xsp_call_fail(call, XSP_E_INVALID_ARGUMENT, XSP_DETAIL1("argument", "size"),
                             "a volume of 0 bytes");
    pthread_mutex_lock(&g.mu);
    sr_t *s = need_sr(call, a->sr);
    int rc = XSP_E_SR_NOT_ATTACHED;
    if (s) {
        vol_t *v = vol_new(s, NULL, a->name, a->description, a->size, a->sharable, true, NULL);
        rc = xsp_volume_create_reply(call, &v->v);
    }
    pthread_mutex_unlock(&g.mu);
    return rc;
}

/*  Lock, find the SR and the volume (answering the error when one is missing). */
static vol_t *lock_vol(xsp_storage_call_t *call, const char *sr, const char *key)
{
    pthread_mutex_lock(&g.mu);
    if (!need_sr(call, sr))
        return NULL;
    vol_t *v = vol_find(sr, key);
    if (!v)
        no_volume(call, sr, key);
    return v;
}

static int volume_destroy(void *ctx, xsp_storage_call_t *call, const xsp_volume_destroy_args_t *a)
{
    (void) ctx;
    vol_t *v = lock_vol(call, a->sr, a->key);
    if (v)
        vol_remove(v);
    pthread_mutex_unlock(&g.mu);
    return v ? xsp_volume_destroy_reply(call) : 0;
}

static int derive(xsp_storage_call_t *call, const char *sr, const char *key, bool snapshot)
{
    int rc = 0;
    vol_t *v = lock_vol(call, sr, key);
    if (v) {
        vol_t *n = vol_new(sr_find(sr), NULL, v->v.name, v->v.description, v->v.virtual_size,
                           v->v.sharable, !snapshot, v->v.key);
        rc = snapshot ? xsp_volume_snapshot_reply(call, &n->v) : xsp_volume_clone_reply(call, &n->v);
    }
    pthread_mutex_unlock(&g.mu);
    return rc;
}

static int volume_clone(void *ctx, xsp_storage_call_t *call, const xsp_volume_clone_args_t *a)
{
    (void) ctx;
    return derive(call, a->sr, a->key, false);
}

static int volume_snapshot(void *ctx, xsp_storage_call_t *call, const xsp_volume_snapshot_args_t *a)
{
    (void) ctx;
    return derive(call, a->sr, a->key, true);
}

/*  ASYNC: see the top of the file. */
typedef struct {
    xsp_storage_call_t *call;
    const xsp_volume_resize_args_t *args;   /* valid until the call is answered */
} resize_t;

static void resize_done(xsp_plugin_t *plugin, void *arg)
{
    resize_t *r = arg;
    const xsp_volume_resize_args_t *a = r->args;
    if (xsp_plugin_stopping(plugin)) {
        xsp_call_fail(r->call, XSP_E_CANCELLED, NULL, "the plugin is stopping");
    } else {
        vol_t *v = lock_vol(r->call, a->sr, a->key);    /* it may be gone meanwhile */
        if (v) {
            v->v.virtual_size = (a->new_size + 511) / 512 * 512;
            xsp_volume_resize_reply(r->call);
        }
        pthread_mutex_unlock(&g.mu);
    }
    pthread_mutex_lock(&g.mu);
    g.resizes_in_progress--;
    pthread_mutex_unlock(&g.mu);
    free(r);
}

static int volume_resize(void *ctx, xsp_storage_call_t *call, const xsp_volume_resize_args_t *a)
{
    (void) ctx;
    vol_t *v = lock_vol(call, a->sr, a->key);
    if (!v) {
        pthread_mutex_unlock(&g.mu);
        return 0;                               /* answered by lock_vol */
    }
    if (a->new_size < v->v.virtual_size) {
        uint64_t size = v->v.virtual_size;
        pthread_mutex_unlock(&g.mu);
        return xsp_call_fail(call, XSP_E_INVALID_ARGUMENT, XSP_DETAIL1("argument", "new_size"),
                             "cannot shrink %s from %" PRIu64 " to %" PRIu64 " bytes", a->key,
                             size, a->new_size);
    }
    g.resizes_in_progress++;
    pthread_mutex_unlock(&g.mu);
    resize_t *r = malloc(sizeof *r);
    if (r) {
        r->call = call;                         /* set before the timer can fire */
        r->args = a;
    }
    if (!r || xsp_plugin_after(g.plugin, g.resize_delay_ms, resize_done, r) != 0) {
        free(r);
        pthread_mutex_lock(&g.mu);
        g.resizes_in_progress--;
        pthread_mutex_unlock(&g.mu);
        return XSP_E_BACKEND_FAILURE;           /* answered by the dispatcher */
    }
    return 0;                                   /* answered later, by resize_done */
}

static int volume_stat(void *ctx, xsp_storage_call_t *call, const xsp_volume_stat_args_t *a)
{
    (void) ctx;
    vol_t *v = lock_vol(call, a->sr, a->key);
    int rc = v ? xsp_volume_stat_reply(call, &v->v) : 0;
    pthread_mutex_unlock(&g.mu);
    return rc;
}

static int volume_set_name(void *ctx, xsp_storage_call_t *call, const xsp_volume_set_name_args_t *a)
{
    (void) ctx;
    vol_t *v = lock_vol(call, a->sr, a->key);
    if (v) {
        free(v->v.name);
        v->v.name = xstrdup(a->new_name);
    }
    pthread_mutex_unlock(&g.mu);
    return v ? xsp_volume_set_name_reply(call) : 0;
}

static int volume_set_description(void *ctx, xsp_storage_call_t *call,
                                  const xsp_volume_set_description_args_t *a)
{
    (void) ctx;
    vol_t *v = lock_vol(call, a->sr, a->key);
    if (v) {
        free(v->v.description);
        v->v.description = xstrdup(a->new_description);
    }
    pthread_mutex_unlock(&g.mu);
    return v ? xsp_volume_set_description_reply(call) : 0;
}

static int volume_set(void *ctx, xsp_storage_call_t *call, const xsp_volume_set_args_t *a)
{
    (void) ctx;
    vol_t *v = lock_vol(call, a->sr, a->key);
    if (v && xsp_string_map_set(&v->v.keys, S(a->k), S(a->v)))
        abort();
    pthread_mutex_unlock(&g.mu);
    return v ? xsp_volume_set_reply(call) : 0;
}

static int volume_unset(void *ctx, xsp_storage_call_t *call, const xsp_volume_unset_args_t *a)
{
    (void) ctx;
    vol_t *v = lock_vol(call, a->sr, a->key);
    if (v)
        xsp_string_map_unset(&v->v.keys, S(a->k));
    pthread_mutex_unlock(&g.mu);
    return v ? xsp_volume_unset_reply(call) : 0;
}

/* ================================================================ Datapath */

static int datapath_open(void *ctx, xsp_storage_call_t *call, const xsp_datapath_open_args_t *a)
{
    (void) ctx;
    pthread_mutex_lock(&g.mu);
    vol_t *v = vol_by_uri(a->uri);
    if (v) {
        v->open = true;
        v->persistent = a->persistent;
    }
    pthread_mutex_unlock(&g.mu);
    return v ? xsp_datapath_open_reply(call) : no_uri(call, a->uri);
}

static bool has_domain(const xsp_string_list_t *l, const char *d)
{
    for (size_t i = 0; i < l->len; i++)
        if (strcmp(l->val[i], S(d)) == 0)
            return true;
    return false;
}

static int datapath_attach(void *ctx, xsp_storage_call_t *call, const xsp_datapath_attach_args_t *a)
{
    (void) ctx;
    char dev[4200], file[4200], nbd[4200];
    pthread_mutex_lock(&g.mu);
    vol_t *v = vol_by_uri(a->uri);
    if (!v) {
        pthread_mutex_unlock(&g.mu);
        return no_uri(call, a->uri);
    }
    if (!has_domain(&v->attached, a->domain) && xsp_string_list_append(&v->attached, S(a->domain)))
        abort();
    snprintf(dev, sizeof dev, "/dev/mem/%s", v->v.key);
    snprintf(file, sizeof file, "%s/%s.img", g.image_dir ? g.image_dir : "/run/xsp-test", v->v.key);
    if (g.image_dir) {
        FILE *f = fopen(file, "a");
        if (!f || ftruncate(fileno(f), (off_t) v->v.virtual_size) != 0) {
            if (f)
                fclose(f);
            pthread_mutex_unlock(&g.mu);
            return xsp_call_fail(call, XSP_E_BACKEND_FAILURE, XSP_DETAIL1("command", "ftruncate"),
                                 "cannot make %s", file);
        }
        fclose(f);
    }
    snprintf(nbd, sizeof nbd, "nbd+unix:///%s?socket=/run/xsp-test/nbd.sock", v->v.key);
    /* a backend served by the plugin's own domain, reachable four ways (all borrowed) */
    xsp_implementation_t impl[4];
    xsp_string_pair_t extra[1] = { { "sr", v->sr } };
    memset(impl, 0, sizeof impl);
    impl[0].kind = XSP_IMPLEMENTATION_XEN_DISK;
    impl[0].u.xen_disk.backend_type = "vbd3";
    impl[0].u.xen_disk.params = dev;
    impl[0].u.xen_disk.extra = (xsp_string_map_t) { 1, extra };
    impl[1].kind = XSP_IMPLEMENTATION_BLOCK_DEVICE;
    impl[1].u.block_device.path = dev;
    impl[2].kind = XSP_IMPLEMENTATION_FILE;
    impl[2].u.file.path = file;
    impl[3].kind = XSP_IMPLEMENTATION_NBD;
    impl[3].u.nbd.uri = nbd;
    if (g.image_dir) {                          /* the file first */
        xsp_implementation_t t = impl[0];
        impl[0] = impl[2];
        impl[2] = t;
    }
    xsp_backend_t b;
    xsp_backend_init(&b);
    b.domain.domid = xsp_plugin_domid(g.plugin);
    b.domain.source = XSP_BACKEND_DOMAIN_SOURCE_PLUGIN_DOMAIN;
    b.implementations = (xsp_implementation_list_t) { 4, impl };
    if (g.evil && strcmp(g.evil, "path") == 0) {
        impl[1].u.block_device.path = "/dev/../etc/shadow";
    } else if (g.evil && strcmp(g.evil, "domain") == 0) {
        b.domain.domid = xsp_plugin_domid(g.plugin) + 7;
    } else if (g.evil && strcmp(g.evil, "newline") == 0) {
        snprintf(file, sizeof file, "/tmp/x\nhotplug-status = connected");
        impl[g.image_dir ? 0 : 2].u.file.path = file;
    }
    int rc = xsp_datapath_attach_reply(call, &b);
    pthread_mutex_unlock(&g.mu);
    return rc;
}

static int datapath_activate(void *ctx, xsp_storage_call_t *call, const xsp_datapath_activate_args_t *a)
{
    (void) ctx;
    int rc;
    pthread_mutex_lock(&g.mu);
    vol_t *v = vol_by_uri(a->uri);
    if (!v) {
        rc = no_uri(call, a->uri);
    } else if (v->active && strcmp(v->active, S(a->domain)) != 0) {
        rc = xsp_call_fail(call, XSP_E_ACTIVATED_ON_ANOTHER_HOST, XSP_DETAIL1("host", v->active),
                           "%s is active for domain %s", S(a->uri), v->active);
    } else {
        if (!v->active)
            v->active = xstrdup(a->domain);
        rc = xsp_datapath_activate_reply(call);
    }
    pthread_mutex_unlock(&g.mu);
    return rc;
}

static int datapath_deactivate(void *ctx, xsp_storage_call_t *call, const xsp_datapath_deactivate_args_t *a)
{
    (void) ctx;
    pthread_mutex_lock(&g.mu);
    vol_t *v = vol_by_uri(a->uri);
    if (v && v->active && strcmp(v->active, S(a->domain)) == 0) {
        free(v->active);
        v->active = NULL;
    }
    pthread_mutex_unlock(&g.mu);
    return xsp_datapath_deactivate_reply(call);     /* idempotent */
}

static int datapath_detach(void *ctx, xsp_storage_call_t *call, const xsp_datapath_detach_args_t *a)
{
    (void) ctx;
    pthread_mutex_lock(&g.mu);
    vol_t *v = vol_by_uri(a->uri);
    for (size_t i = 0; v && i < v->attached.len; i++) {
        if (strcmp(v->attached.val[i], S(a->domain)) == 0) {
            free(v->attached.val[i]);
            v->attached.val[i] = v->attached.val[--v->attached.len];
            break;
        }
    }
    pthread_mutex_unlock(&g.mu);
    return xsp_datapath_detach_reply(call);
}

static int datapath_close(void *ctx, xsp_storage_call_t *call, const xsp_datapath_close_args_t *a)
{
    (void) ctx;
    pthread_mutex_lock(&g.mu);
    vol_t *v = vol_by_uri(a->uri);
    if (v)
        v->open = false;
    pthread_mutex_unlock(&g.mu);
    return xsp_datapath_close_reply(call);
}

/* ================================================================ the plugin */

static xsp_storage_ops_t ops = {
    .plugin_query = plugin_query,
    .plugin_ls = plugin_ls,
    .plugin_diagnostics = plugin_diagnostics,
    .sr_probe = sr_probe,
    .sr_create = sr_create,
    .sr_attach = sr_attach,
    .sr_detach = sr_detach,
    .sr_destroy = sr_destroy,
    .sr_stat = sr_stat,
    .sr_set_name = sr_set_name,
    .sr_set_description = sr_set_description,
    .sr_ls = sr_ls,
    .volume_create = volume_create,
    .volume_destroy = volume_destroy,
    .volume_clone = volume_clone,
    .volume_snapshot = volume_snapshot,
    .volume_resize = volume_resize,
    .volume_stat = volume_stat,
    .volume_set_name = volume_set_name,
    .volume_set_description = volume_set_description,
    .volume_set = volume_set,
    .volume_unset = volume_unset,
    .datapath_open = datapath_open,
    .datapath_attach = datapath_attach,
    .datapath_activate = datapath_activate,
    .datapath_deactivate = datapath_deactivate,
    .datapath_detach = datapath_detach,
    .datapath_close = datapath_close,
};

/*  The ops entry of a method (by wire name), to NULL it. */
static int unimplement(const char *wire)
{
    const xsp_method_info_t *mi = xsp_storage_method_lookup(wire, strlen(wire));
    if (!mi)
        return -1;
    switch ((xsp_storage_method_t) mi->id) {
#define U(id, member) case id: ops.member = NULL; return 0;
    U(XSP_STORAGE_METHOD_PLUGIN_QUERY, plugin_query)
    U(XSP_STORAGE_METHOD_PLUGIN_LS, plugin_ls)
    U(XSP_STORAGE_METHOD_PLUGIN_DIAGNOSTICS, plugin_diagnostics)
    U(XSP_STORAGE_METHOD_SR_PROBE, sr_probe)
    U(XSP_STORAGE_METHOD_SR_CREATE, sr_create)
    U(XSP_STORAGE_METHOD_SR_ATTACH, sr_attach)
    U(XSP_STORAGE_METHOD_SR_DETACH, sr_detach)
    U(XSP_STORAGE_METHOD_SR_DESTROY, sr_destroy)
    U(XSP_STORAGE_METHOD_SR_STAT, sr_stat)
    U(XSP_STORAGE_METHOD_SR_SET_NAME, sr_set_name)
    U(XSP_STORAGE_METHOD_SR_SET_DESCRIPTION, sr_set_description)
    U(XSP_STORAGE_METHOD_SR_LS, sr_ls)
    U(XSP_STORAGE_METHOD_VOLUME_CREATE, volume_create)
    U(XSP_STORAGE_METHOD_VOLUME_DESTROY, volume_destroy)
    U(XSP_STORAGE_METHOD_VOLUME_CLONE, volume_clone)
    U(XSP_STORAGE_METHOD_VOLUME_SNAPSHOT, volume_snapshot)
    U(XSP_STORAGE_METHOD_VOLUME_RESIZE, volume_resize)
    U(XSP_STORAGE_METHOD_VOLUME_STAT, volume_stat)
    U(XSP_STORAGE_METHOD_VOLUME_SET_NAME, volume_set_name)
    U(XSP_STORAGE_METHOD_VOLUME_SET_DESCRIPTION, volume_set_description)
    U(XSP_STORAGE_METHOD_VOLUME_SET, volume_set)
    U(XSP_STORAGE_METHOD_VOLUME_UNSET, volume_unset)
    U(XSP_STORAGE_METHOD_DATAPATH_OPEN, datapath_open)
    U(XSP_STORAGE_METHOD_DATAPATH_ATTACH, datapath_attach)
    U(XSP_STORAGE_METHOD_DATAPATH_ACTIVATE, datapath_activate)
    U(XSP_STORAGE_METHOD_DATAPATH_DEACTIVATE, datapath_deactivate)
    U(XSP_STORAGE_METHOD_DATAPATH_DETACH, datapath_detach)
    U(XSP_STORAGE_METHOD_DATAPATH_CLOSE, datapath_close)
#undef U
    default:
        return -1;
    }
}

static int on_option(void *ctx, const char *name, const char *value)
{
    (void) ctx;
    char *end;
    if (strcmp(name, "unimplement") == 0) {
        if (unimplement(value) != 0) {
            fprintf(stderr, "xsp-test-plugin: --unimplement: no method '%s' (e.g. SR.probe)\n", value);
            return -1;
        }
        return 0;
    }
    if (strcmp(name, "evil-attach") == 0) {
        if (strcmp(value, "path") && strcmp(value, "domain") && strcmp(value, "newline")) {
            fprintf(stderr, "xsp-test-plugin: --evil-attach takes path, domain or newline, not '%s'\n", value);
            return -1;
        }
        g.evil = value;
        return 0;
    }
    if (strcmp(name, "plugin-name") == 0)
        return 0;               /* taken by main() before parsing */
    if (strcmp(name, "image-dir") == 0) {
        static char dir[4096];
        snprintf(dir, sizeof dir, "%s", value);
        g.image_dir = dir;
        return 0;
    }
    unsigned long v = strtoul(value, &end, 10);
    if (*value == '\0' || *end || v > 100000) {
        fprintf(stderr, "xsp-test-plugin: --%s wants a number up to 100000, not '%s'\n", name, value);
        return -1;
    }
    if (strcmp(name, "seed-volumes") == 0)
        g.seed = (unsigned) v;
    else
        g.resize_delay_ms = (unsigned) v;
    return 0;
}

static int init(void *ctx, xsp_plugin_t *plugin)
{
    (void) ctx;
    g.plugin = plugin;
    if (g.seed) {
        pthread_mutex_lock(&g.mu);
        sr_t *s = sr_new("mem://seed", "seed", "seeded at start", NULL);
        s->attached = true;
        for (unsigned i = 0; i < g.seed; i++) {
            char key[32], name[32];
            snprintf(key, sizeof key, "vol-%u", i);
            snprintf(name, sizeof name, "seed volume %u", i);
            vol_new(s, key, name, "", 1u << 20, false, true, NULL);
        }
        g.next_vol = g.seed;
        pthread_mutex_unlock(&g.mu);
    }
    return 0;
}

/*  The registration hook's neighbour: counts (re)subscribes (shown by Plugin.diagnostics). */
static void on_connected(void *ctx, xsp_plugin_t *plugin)
{
    (void) ctx;
    (void) plugin;
    pthread_mutex_lock(&g.mu);
    g.sessions++;
    pthread_mutex_unlock(&g.mu);
}

static void fini(void *ctx, xsp_plugin_t *plugin)
{
    (void) ctx;
    (void) plugin;
    pthread_mutex_lock(&g.mu);
    while (g.vols) {
        vol_t *v = g.vols;
        g.vols = v->next;
        vol_free(v);
    }
    while (g.srs) {
        sr_t *s = g.srs;
        g.srs = s->next;
        sr_free(s);
    }
    pthread_mutex_unlock(&g.mu);
}

static const xsp_plugin_option_t options[] = {
    { "unimplement", "METHOD", "answer METHOD (e.g. SR.probe) `unimplemented` (repeatable)" },
    { "seed-volumes", "N", "start with SR mem://seed attached, holding volumes vol-0 .. vol-N-1" },
    { "resize-delay-ms", "N", "how long Volume.resize takes, answered later from a timer (100)" },
    { "image-dir", "DIR", "Datapath.attach offers DIR/KEY.img (made sparse) first, as a file" },
    { "evil-attach", "MODE", "Datapath.attach answers an unsafe backend: path, domain or newline" },
    { "plugin-name", "NAME", "run (and register) as xsp-plugin-NAME instead of xsp-plugin-test" },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    /* --plugin-name NAME (or =NAME): the plugin's name is needed before the common parser
       runs, so it is picked out here; on_option accepts it again. */
    const char *name = "test";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--plugin-name") == 0 && i + 1 < argc)
            name = argv[i + 1];
        else if (strncmp(argv[i], "--plugin-name=", 14) == 0)
            name = argv[i] + 14;
    }
    if (!*name || strlen(name) > 40 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(name)) {
        fprintf(stderr, "xsp-test-plugin: --plugin-name wants 1-40 of A-Z a-z 0-9 _ -, not '%s'\n", name);
        return 2;
    }
    const xsp_plugin_def_t def = {
        .name = name,
        .description = "xsp-test-plugin: an in-memory storage plugin implementing every method.",
        .ops = &ops,
        .options = options,
        .option = on_option,
        .init = init,
        .on_connected = on_connected,
        .fini = fini,
    };
    return xsp_plugin_main(argc, argv, &def);
}

/*  registrar/store_xenstore.c — the xenstore back end of the store (see store.h and
    docs/xenstore.md).

    Owns: the subtree ROOT (default /tool/xsp/plugins) of xenstore, one libxenstore
    connection, and the parents of ROOT when it has to create them.
    Never touches: any other xenstore path, watches (none are set), the registration table.

    LAYOUT, one directory per plugin (lists are directories of 0, 1, ... in order):

        ROOT/<name>                  ""
        ROOT/<name>/id               registration id
        ROOT/<name>/version          plugin version
        ROOT/<name>/api_version      storage API version
        ROOT/<name>/domid            domain the plugin runs in (decimal)
        ROOT/<name>/registered_at    Unix time in milliseconds (decimal)
        ROOT/<name>/kinds/<i>        volume | datapath
        ROOT/<name>/schemes/<i>      URI scheme (lower case)
        ROOT/<name>/queues/<i>       switch queue, main queue first
        ROOT/<name>/features/<i>     feature
        ROOT/<name>/backend/kind     fixed | own_domain | on_demand
        ROOT/<name>/backend/domid    backend domain (fixed only)

    PERMISSIONS: every node of ROOT/<name> gets [n0, r<domid>] (owner dom0, nobody else
    may write; the plugin's own domain may read), or [n0] for a dom0 plugin.  ROOT and the
    parents this code creates get [n0]: only dom0 lists plugins.

    TRANSACTIONS: a put is one transaction (remove ROOT/<name>, write every node, set its
    permissions), so readers see the old or the new registration, never a mix.  EAGAIN (a
    conflicting concurrent change) retries the whole transaction, up to
    REG_STORE_XS_RETRIES times with a short back-off.

    RECONNECT: when xenstored goes away libxenstore fails with EPIPE, then EBADF.  Any
    operation that fails so reconnects (xs_open again), rewrites everything from the mirror
    (a restarted xenstored has an empty database) and retries once.
*/
#include "store_impl.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xenstore.h>

#define PATH_BYTES 1024

typedef struct {
    struct xs_handle *h;
    char *root;
    bool conn_lost;     /* the last failure looked like a lost connection */
} xs_impl_t;

static bool conn_errno(int e)
{
    return e == EPIPE || e == EBADF || e == ECONNRESET || e == ENOTCONN || e == ESHUTDOWN ||
           e == ECONNABORTED || e == EIO;
}

static int pathf(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int pathf(char *buf, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, PATH_BYTES, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= PATH_BYTES) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* Record errno of a failed xs call into err, and whether it means the connection is gone. */
static int xs_fail(reg_store_t *s, reg_err_t *err, const char *what, const char *path)
{
    xs_impl_t *x = s->impl;
    int e = errno;

    x->conn_lost = conn_errno(e);
    reg_err(err, x->conn_lost ? XSP_E_DISCONNECTED : XSP_E_SYSTEM, "xenstore %s %s: %s", what,
            path, strerror(e));
    errno = e;
    return -1;
}

/* ------------------------------------------------------------------ writing */

static unsigned perms_for(const reg_t *r, struct xs_permissions p[2])
{
    unsigned n = 0;

    p[n].id = 0;
    p[n++].perms = XS_PERM_NONE;
    if (r->domid != 0) {
        p[n].id = r->domid;
        p[n++].perms = XS_PERM_READ;
    }
    return n;
}

typedef struct {
    reg_store_t *s;
    xs_transaction_t t;
    struct xs_permissions perms[2];
    unsigned nperms;
    reg_err_t *err;
} wctx_t;

static int put_node(wctx_t *w, const char *path, const char *val)
{
    xs_impl_t *x = w->s->impl;

    if (!xs_write(x->h, w->t, path, val, strlen(val)))
        return xs_fail(w->s, w->err, "write", path);
    if (!xs_set_permissions(x->h, w->t, path, w->perms, w->nperms))
        return xs_fail(w->s, w->err, "set permissions of", path);
    return 0;
}

static int put_list(wctx_t *w, const char *base, const char *dir, const reg_strv_t *sv)
{
    char p[PATH_BYTES];

    if (pathf(p, "%s/%s", base, dir) < 0 || put_node(w, p, "") < 0)
        return -1;
    for (size_t i = 0; i < sv->n; i++)
        if (pathf(p, "%s/%s/%zu", base, dir, i) < 0 || put_node(w, p, sv->v[i]) < 0)
            return -1;
    return 0;
}

static int put_uint(wctx_t *w, const char *base, const char *key, unsigned long long v)
{
    char p[PATH_BYTES], num[32];

    snprintf(num, sizeof num, "%llu", v);
    if (pathf(p, "%s/%s", base, key) < 0)
        return -1;
    return put_node(w, p, num);
}

static int put_str(wctx_t *w, const char *base, const char *key, const char *v)
{
    char p[PATH_BYTES];

    if (pathf(p, "%s/%s", base, key) < 0)
        return -1;
    return put_node(w, p, v ? v : "");
}

/* Create ROOT and its missing parents with [n0]. */
static int ensure_root(reg_store_t *s, xs_transaction_t t, reg_err_t *err)
{
    xs_impl_t *x = s->impl;
    struct xs_permissions n0 = { .id = 0, .perms = XS_PERM_NONE };
    char p[PATH_BYTES];

    if (pathf(p, "%s", x->root) < 0)
        return reg_err(err, XSP_E_INVALID_ARGUMENT, "xenstore root too long");
    for (char *c = p + 1;; c++) {
        if (*c == '/' || *c == '\0') {
            char save = *c;
            unsigned len;
            void *v;

            *c = '\0';
            v = xs_read(x->h, t, p, &len);
            if (v) {
                free(v);
            } else if (errno != ENOENT) {
                return xs_fail(s, err, "read", p);
            } else if (!xs_write(x->h, t, p, "", 0)) {
                return xs_fail(s, err, "create", p);
            } else if (!xs_set_permissions(x->h, t, p, &n0, 1)) {
                return xs_fail(s, err, "set permissions of", p);
            }
            *c = save;
            if (!save)
                break;
        }
    }
    return 0;
}

static int rm_tree(reg_store_t *s, xs_transaction_t t, const char *path, reg_err_t *err)
{
    xs_impl_t *x = s->impl;

    if (!xs_rm(x->h, t, path) && errno != ENOENT)
        return xs_fail(s, err, "remove", path);
    return 0;
}

static int write_reg(reg_store_t *s, xs_transaction_t t, const reg_t *r, reg_err_t *err)
{
    xs_impl_t *x = s->impl;
    wctx_t w = { .s = s, .t = t, .err = err };
    reg_strv_t kinds = { 0 };
    char base[PATH_BYTES], *kv[2];

    w.nperms = perms_for(r, w.perms);
    if (pathf(base, "%s/%s", x->root, r->name) < 0)
        return reg_err(err, XSP_E_INVALID_ARGUMENT, "xenstore path too long");
    kinds.v = kv;
    if (r->kinds & REG_KIND_VOLUME)
        kv[kinds.n++] = (char *)"volume";
    if (r->kinds & REG_KIND_DATAPATH)
        kv[kinds.n++] = (char *)"datapath";
    if (rm_tree(s, t, base, err) < 0 || put_node(&w, base, "") < 0 ||
        put_str(&w, base, "id", r->id) < 0 || put_str(&w, base, "version", r->version) < 0 ||
        put_str(&w, base, "api_version", r->api_version) < 0 ||
        put_uint(&w, base, "domid", r->domid) < 0 ||
        put_uint(&w, base, "registered_at", r->registered_at) < 0 ||
        put_list(&w, base, "kinds", &kinds) < 0 || put_list(&w, base, "schemes", &r->schemes) < 0 ||
        put_list(&w, base, "queues", &r->queues) < 0 ||
        put_list(&w, base, "features", &r->features) < 0 ||
        put_str(&w, base, "backend", "") < 0 ||
        put_str(&w, base, "backend/kind", reg_backend_name(r->backend)) < 0 ||
        (r->has_backend_domid && put_uint(&w, base, "backend/domid", r->backend_domid) < 0))
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ transactions */

typedef int tx_body_fn(reg_store_t *s, xs_transaction_t t, void *arg, reg_err_t *err);

static void backoff(unsigned attempt)
{
    struct timespec ts = { 0, (long)(attempt < 10 ? attempt + 1 : 10) * 1000000L };

    nanosleep(&ts, NULL);
}

/* Run body in a transaction; retry on EAGAIN. */
static int run_tx(reg_store_t *s, tx_body_fn *body, void *arg, reg_err_t *err)
{
    xs_impl_t *x = s->impl;

    x->conn_lost = false;
    for (unsigned attempt = 0; attempt < REG_STORE_XS_RETRIES; attempt++) {
        xs_transaction_t t = xs_transaction_start(x->h);

        if (t == XBT_NULL)
            return xs_fail(s, err, "transaction start", x->root);
        if (body(s, t, arg, err) < 0) {
            int e = errno;

            xs_transaction_end(x->h, t, true);
            errno = e;
            return -1;
        }
        reg_store_hook_(s, "in-transaction");
        if (xs_transaction_end(x->h, t, false))
            return 0;
        if (errno != EAGAIN)
            return xs_fail(s, err, "transaction commit under", x->root);
        s->stats.retries++;
        backoff(attempt);
    }
    return reg_err(err, XSP_E_SYSTEM,
                   "xenstore: %d transactions under %s in a row conflicted with other "
                   "writers (EAGAIN); giving up", REG_STORE_XS_RETRIES, x->root);
}

static int tx_put(reg_store_t *s, xs_transaction_t t, void *arg, reg_err_t *err)
{
    if (ensure_root(s, t, err) < 0)
        return -1;
    return write_reg(s, t, arg, err);
}

static int tx_ensure_root(reg_store_t *s, xs_transaction_t t, void *arg, reg_err_t *err)
{
    (void)arg;
    return ensure_root(s, t, err);
}

typedef struct {
    const char *name, *id;
} del_arg_t;

static int tx_del(reg_store_t *s, xs_transaction_t t, void *arg, reg_err_t *err)
{
    xs_impl_t *x = s->impl;
    del_arg_t *d = arg;
    char base[PATH_BYTES], p[PATH_BYTES];
    unsigned len;
    char *v;

    if (pathf(base, "%s/%s", x->root, d->name) < 0 || pathf(p, "%s/id", base) < 0)
        return reg_err(err, XSP_E_INVALID_ARGUMENT, "xenstore path too long");
    v = xs_read(x->h, t, p, &len);
    if (!v)
        return errno == ENOENT ? rm_tree(s, t, base, err) : xs_fail(s, err, "read", p);
    if (d->id && strcmp(v, d->id) != 0) {
        free(v);
        return 0;       /* replaced by a newer registration: keep it */
    }
    free(v);
    return rm_tree(s, t, base, err);
}

static int tx_resync(reg_store_t *s, xs_transaction_t t, void *arg, reg_err_t *err)
{
    xs_impl_t *x = s->impl;
    unsigned n = 0;
    char **names;

    (void)arg;
    if (ensure_root(s, t, err) < 0)
        return -1;
    names = xs_directory(x->h, t, x->root, &n);
    if (!names && errno != ENOENT)
        return xs_fail(s, err, "list", x->root);
    for (unsigned i = 0; names && i < n; i++)
        if (reg_vec_find(&s->mirror, names[i]) < 0) {
            char p[PATH_BYTES];

            if (pathf(p, "%s/%s", x->root, names[i]) < 0 || rm_tree(s, t, p, err) < 0) {
                free(names);
                return -1;
            }
        }
    free(names);
    for (size_t i = 0; i < s->mirror.n; i++)
        if (write_reg(s, t, &s->mirror.v[i], err) < 0)
            return -1;
    return 0;
}

/* ------------------------------------------------------------------ reconnecting */

static int reconnect(reg_store_t *s, reg_err_t *err)
{
    xs_impl_t *x = s->impl;

    if (x->h)
        xs_close(x->h);
    x->h = xs_open(0);
    if (!x->h)
        return reg_err(err, XSP_E_DISCONNECTED, "cannot reconnect to xenstored: %s",
                       strerror(errno));
    s->stats.reconnects++;
    if (run_tx(s, tx_resync, NULL, err) < 0)
        return -1;
    s->stats.resyncs++;
    return 0;
}

/* run_tx, reconnecting (and resynchronising) once if the connection was lost. */
static int run_tx_reconnect(reg_store_t *s, tx_body_fn *body, void *arg, reg_err_t *err)
{
    xs_impl_t *x = s->impl;

    if (!x->h && reconnect(s, err) < 0)
        return -1;
    if (run_tx(s, body, arg, err) == 0)
        return 0;
    if (!x->conn_lost)
        return -1;
    reg_err_clear(err);
    if (reconnect(s, err) < 0)
        return -1;
    return run_tx(s, body, arg, err);
}

/* ------------------------------------------------------------------ reading */

static char *read_str(reg_store_t *s, xs_transaction_t t, const char *base, const char *key,
                      char *why, size_t whylen)
{
    xs_impl_t *x = s->impl;
    char p[PATH_BYTES];
    unsigned len;
    char *v;

    if (pathf(p, "%s/%s", base, key) < 0) {
        snprintf(why, whylen, "path too long");
        return NULL;
    }
    if (!(v = xs_read(x->h, t, p, &len))) {
        x->conn_lost = conn_errno(errno);
        snprintf(why, whylen, "%s: %s", key, strerror(errno));
        return NULL;
    }
    if (strlen(v) != len) {
        snprintf(why, whylen, "%s: NUL byte in the value", key);
        free(v);
        return NULL;
    }
    return v;
}

static int read_uint(reg_store_t *s, xs_transaction_t t, const char *base, const char *key,
                     unsigned long long max, unsigned long long *out, char *why, size_t whylen)
{
    char *v = read_str(s, t, base, key, why, whylen), *end;

    if (!v)
        return -1;
    errno = 0;
    *out = strtoull(v, &end, 10);
    if (!(v[0] >= '0' && v[0] <= '9') || *end || errno || *out > max) {
        snprintf(why, whylen, "%s: \"%.32s\" is not a number up to %llu", key, v, max);
        free(v);
        return -1;
    }
    free(v);
    return 0;
}

static int read_list(reg_store_t *s, xs_transaction_t t, const char *base, const char *dir,
                     reg_strv_t *sv, char *why, size_t whylen)
{
    xs_impl_t *x = s->impl;
    char p[PATH_BYTES], key[64];
    unsigned n = 0;
    char **ents;

    if (pathf(p, "%s/%s", base, dir) < 0) {
        snprintf(why, whylen, "path too long");
        return -1;
    }
    if (!(ents = xs_directory(x->h, t, p, &n))) {
        x->conn_lost = conn_errno(errno);
        snprintf(why, whylen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    free(ents);
    for (unsigned i = 0; i < n; i++) {
        char *v;

        snprintf(key, sizeof key, "%s/%u", dir, i);
        if (!(v = read_str(s, t, base, key, why, whylen)))
            return -1;
        if (reg_strv_push(sv, v) < 0) {
            free(v);
            snprintf(why, whylen, "out of memory");
            return -1;
        }
        free(v);
    }
    return 0;
}

static int read_reg(reg_store_t *s, xs_transaction_t t, const char *name, reg_t *r, char *why,
                    size_t whylen)
{
    xs_impl_t *x = s->impl;
    char base[PATH_BYTES], *bk;
    reg_strv_t kinds = { 0 };
    unsigned long long u;
    reg_err_t verr = { 0 };
    char *dom;

    if (pathf(base, "%s/%s", x->root, name) < 0) {
        snprintf(why, whylen, "path too long");
        return -1;
    }
    if (!(r->name = strdup(name)) || !(r->id = read_str(s, t, base, "id", why, whylen)) ||
        !(r->version = read_str(s, t, base, "version", why, whylen)) ||
        !(r->api_version = read_str(s, t, base, "api_version", why, whylen)) ||
        read_uint(s, t, base, "domid", REG_DOMID_LIMIT - 1, &u, why, whylen) < 0)
        return -1;
    r->domid = (uint32_t)u;
    if (read_uint(s, t, base, "registered_at", UINT64_MAX, &u, why, whylen) < 0)
        return -1;
    r->registered_at = u;
    if (read_list(s, t, base, "kinds", &kinds, why, whylen) < 0) {
        reg_strv_dispose(&kinds);
        return -1;
    }
    for (size_t i = 0; i < kinds.n; i++) {
        unsigned bit = reg_kind_from_name(kinds.v[i]);

        if (!bit) {
            snprintf(why, whylen, "kinds/%zu: unknown kind \"%.32s\"", i, kinds.v[i]);
            reg_strv_dispose(&kinds);
            return -1;
        }
        r->kinds |= bit;
    }
    reg_strv_dispose(&kinds);
    if (read_list(s, t, base, "schemes", &r->schemes, why, whylen) < 0 ||
        read_list(s, t, base, "queues", &r->queues, why, whylen) < 0 ||
        read_list(s, t, base, "features", &r->features, why, whylen) < 0 ||
        !(bk = read_str(s, t, base, "backend/kind", why, whylen)))
        return -1;
    if (!reg_backend_from_name(bk, &r->backend)) {
        snprintf(why, whylen, "backend/kind: unknown policy \"%.32s\"", bk);
        free(bk);
        return -1;
    }
    free(bk);
    if ((dom = read_str(s, t, base, "backend/domid", why, whylen))) {
        free(dom);
        if (read_uint(s, t, base, "backend/domid", REG_DOMID_LIMIT - 1, &u, why, whylen) < 0)
            return -1;
        r->has_backend_domid = true;
        r->backend_domid = (uint32_t)u;
    } else if (x->conn_lost) {
        return -1;
    }
    if (!r->id[0]) {
        snprintf(why, whylen, "id: empty");
        return -1;
    }
    if (reg_validate(r, &verr) < 0) {
        snprintf(why, whylen, "%.250s", verr.msg);
        return -1;
    }
    return 0;
}

typedef struct {
    reg_vec_t *out;
    reg_store_load_fn *fn;
    void *arg;
    reg_vec_t bad_names;    /* names reported bad in an earlier attempt: not reported again */
} load_arg_t;

static int load_once(reg_store_t *s, load_arg_t *la, reg_err_t *err)
{
    xs_impl_t *x = s->impl;
    xs_transaction_t t;
    unsigned n = 0;
    char **names;

    x->conn_lost = false;
    /* A read-only transaction gives one consistent snapshot; it is aborted at the end. */
    if ((t = xs_transaction_start(x->h)) == XBT_NULL)
        return xs_fail(s, err, "transaction start", x->root);
    names = xs_directory(x->h, t, x->root, &n);
    if (!names) {
        int e = errno;

        xs_transaction_end(x->h, t, true);
        errno = e;
        return e == ENOENT ? 0 : xs_fail(s, err, "list", x->root);
    }
    for (unsigned i = 0; i < n; i++) {
        reg_t r = { 0 };
        char why[300];

        if (!reg_valid_name(names[i])) {
            snprintf(why, sizeof why, "not a plugin name");
        } else if (read_reg(s, t, names[i], &r, why, sizeof why) == 0) {
            if (reg_vec_put_move(la->out, &r) < 0) {
                reg_dispose(&r);
                free(names);
                xs_transaction_end(x->h, t, true);
                return reg_err(err, XSP_E_SYSTEM, "out of memory");
            }
            continue;
        }
        reg_dispose(&r);
        if (x->conn_lost) {
            reg_err(err, XSP_E_DISCONNECTED, "xenstore: lost the connection reading %s/%s (%s)",
                    x->root, names[i], why);
            free(names);
            xs_transaction_end(x->h, t, true);
            return -1;
        }
        if (la->fn) {
            reg_err_t bad = { 0 };

            reg_err(&bad, XSP_E_DECODE, "%s/%s: %s", x->root, names[i], why);
            la->fn(la->arg, NULL, &bad);
        }
    }
    free(names);
    xs_transaction_end(x->h, t, true);
    return 0;
}

/* ------------------------------------------------------------------ operations */

static int xs_load(reg_store_t *s, reg_vec_t *out, reg_store_load_fn *fn, void *arg,
                   reg_err_t *err)
{
    xs_impl_t *x = s->impl;
    load_arg_t la = { .out = out, .fn = fn, .arg = arg };

    if (!x->h && reconnect(s, err) < 0)
        return -1;
    if (load_once(s, &la, err) == 0)
        return 0;
    if (!x->conn_lost)
        return -1;
    /* The mirror is about to be replaced by what xenstore holds: reconnect without a
       resync (a restarted xenstored holds nothing, and that is the truth to load). */
    reg_vec_dispose(out);
    reg_err_clear(err);
    xs_close(x->h);
    if (!(x->h = xs_open(0)))
        return reg_err(err, XSP_E_DISCONNECTED, "cannot reconnect to xenstored: %s",
                       strerror(errno));
    s->stats.reconnects++;
    return load_once(s, &la, err);
}

static int xs_put(reg_store_t *s, const reg_t *r, reg_err_t *err)
{
    return run_tx_reconnect(s, tx_put, (void *)r, err);
}

static int xs_del(reg_store_t *s, const char *name, const char *id, reg_err_t *err)
{
    del_arg_t d = { .name = name, .id = id };

    return run_tx_reconnect(s, tx_del, &d, err);
}

static int xs_resync(reg_store_t *s, reg_err_t *err)
{
    return run_tx_reconnect(s, tx_resync, NULL, err);
}

static int xs_check(reg_store_t *s, reg_err_t *err)
{
    xs_impl_t *x = s->impl;
    unsigned n = 0;
    char **names;
    bool same;

    if (!x->h)
        return reconnect(s, err);
    names = xs_directory(x->h, XBT_NULL, x->root, &n);
    if (!names) {
        if (conn_errno(errno))
            return reconnect(s, err);
        if (errno != ENOENT)
            return xs_fail(s, err, "list", x->root);
        n = 0;
    }
    same = n == s->mirror.n;
    for (unsigned i = 0; same && i < n; i++)
        same = reg_vec_find(&s->mirror, names[i]) >= 0;
    free(names);
    if (same)
        return 0;
    if (run_tx_reconnect(s, tx_resync, NULL, err) < 0)
        return -1;
    s->stats.resyncs++;
    return 0;
}

static void xs_close_impl(reg_store_t *s)
{
    xs_impl_t *x = s->impl;

    if (!x)
        return;
    if (x->h)
        xs_close(x->h);
    free(x->root);
    free(x);
    s->impl = NULL;
}

static const reg_store_ops_t xs_ops = {
    .kind = REG_STORE_XENSTORE,
    .load = xs_load,
    .put = xs_put,
    .del = xs_del,
    .resync = xs_resync,
    .check = xs_check,
    .close = xs_close_impl,
};

static void ignore_sigpipe(void)
{
    struct sigaction sa;

    if (sigaction(SIGPIPE, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
        sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

reg_store_t *reg_store_xs_open_(const char *root, reg_err_t *err)
{
    xs_impl_t *x = calloc(1, sizeof *x);
    reg_store_t *s = NULL;
    const char *where = getenv("XENSTORED_PATH");
    size_t rl;

    if (!x || !(x->root = strdup(root))) {
        free(x);
        reg_err(err, XSP_E_SYSTEM, "out of memory");
        return NULL;
    }
    rl = strlen(x->root);
    while (rl > 1 && x->root[rl - 1] == '/')
        x->root[--rl] = '\0';
    if (x->root[0] != '/' || rl < 2) {
        reg_err(err, XSP_E_INVALID_ARGUMENT, "xenstore root %s: not an absolute path", root);
        goto fail;
    }
    ignore_sigpipe();
    if (!(x->h = xs_open(0))) {
        reg_err(err, XSP_E_DISCONNECTED, "cannot connect to xenstored (%s): %s",
                where ? where : "default socket or /dev/xen/xenbus", strerror(errno));
        goto fail;
    }
    if (!(s = reg_store_new_(&xs_ops, x, err)))
        goto fail;
    snprintf(s->describe, sizeof s->describe, "xenstore:%s", x->root);
    /* Prove xenstored answers and that we may write here: create the root (and nothing
       else: what is stored under it is read by load_all). */
    if (run_tx(s, tx_ensure_root, NULL, err) < 0) {
        char why[sizeof err->msg];

        snprintf(why, sizeof why, "%s", err ? err->msg : "");
        reg_err(err, XSP_E_DISCONNECTED, "xenstored does not accept writes under %s: %s",
                x->root, why);
        reg_store_close(&s);
        return NULL;
    }
    return s;
fail:
    if (x->h)
        xs_close(x->h);
    free(x->root);
    free(x);
    return NULL;
}

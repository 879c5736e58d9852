/*  tests/registrar/test_store_xenstore.c — the xenstore store against the REAL xenstored
    (Debian's xenstored 4.17 under the xsshim LD_PRELOAD shim, tests/xenstored): the layout
    under /tool/xsp/plugins as another client reads it, permissions read back with
    xs_get_permissions, load_all in a new store (recovery after a registrar restart), del by
    name and id, the EAGAIN retry path (a concurrent write conflicts with the store's
    transaction), an unreadable entry reported and skipped, and xenstored restarts (the
    store reconnects and rewrites everything on the next put, on an explicit resync, and
    on check), plus --store auto choosing xenstore.

    If the fixture cannot start the test FAILS (never skips), with the reason.
    Owns: REGTEST_DIR (the daemon's run directory and log).  Exit 1 on any failure.
*/
#include "regtest.h"

#include <signal.h>
#include <xenstore.h>

#include "store.h"
#include "xs_fixture.h"

#define ROOT REG_STORE_XS_ROOT

static pid_t xs_pid = -1;
static char rundir[512];

static bool start_xenstored(const char *why)
{
    char err[2048];

    if (xs_fixture_start(rundir, &xs_pid, err, sizeof err) == 0)
        return CHECK(true, "xenstored fixture started (%s) in %s", why, rundir);
    xs_pid = -1;
    return CHECK(false, "xenstored fixture could not start (%s): %s", why, err);
}

static void stop_xenstored(void)
{
    xs_fixture_stop(xs_pid);
    xs_pid = -1;
}

static char *rd(struct xs_handle *h, const char *path)
{
    unsigned len;

    return xs_read(h, XBT_NULL, path, &len);
}

static bool value_is(struct xs_handle *h, const char *path, const char *want)
{
    char *v = rd(h, path);
    bool ok = v && strcmp(v, want) == 0;

    if (!ok)
        printf("  %s = %s (want %s)\n", path, v ? v : strerror(errno), want);
    free(v);
    return ok;
}

/* Permissions of path as "n0,r5" (xenstore-ls -p style). */
static void perms_of(struct xs_handle *h, const char *path, char *out, size_t len)
{
    unsigned n = 0;
    struct xs_permissions *p = xs_get_permissions(h, XBT_NULL, path, &n);

    out[0] = '\0';
    if (!p) {
        snprintf(out, len, "(%s)", strerror(errno));
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        char c = p[i].perms == XS_PERM_NONE ? 'n' : p[i].perms == XS_PERM_READ ? 'r'
                 : p[i].perms == XS_PERM_WRITE ? 'w' : 'b';

        snprintf(out + strlen(out), len - strlen(out), "%s%c%u", i ? "," : "", c, p[i].id);
    }
    free(p);
}

static bool perms_are(struct xs_handle *h, const char *path, const char *want)
{
    char got[128];

    perms_of(h, path, got, sizeof got);
    return CHECK(strcmp(got, want) == 0, "permissions of %s are %s (got %s)", path, want, got);
}

static void mkfull(reg_t *r, const char *name, const char *id, uint32_t domid)
{
    mkreg(r, name, REG_KIND_VOLUME | REG_KIND_DATAPATH, "file,vhd+file", "org.xen.xsp.storage.f");
    r->id = strdup(id);
    r->domid = domid;
    r->registered_at = 1732640000123ull;
    strv_set(&r->features, "SR_PROBE,with space");
}

typedef struct {
    reg_vec_t got;
    int bad;
    char last_bad[512];
} loaded_t;

static void on_load(void *arg, const reg_t *reg, const reg_err_t *bad)
{
    loaded_t *l = arg;

    if (reg) {
        reg_vec_put(&l->got, reg);
    } else {
        l->bad++;
        snprintf(l->last_bad, sizeof l->last_bad, "%s", bad->msg);
    }
}

static int load(reg_store_t *s, loaded_t *l, reg_err_t *err)
{
    reg_vec_dispose(&l->got);
    l->bad = 0;
    return reg_store_load_all(s, on_load, l, err);
}

/* ------------------------------------------------------------------ the EAGAIN hook */

typedef struct {
    struct xs_handle *other;
    int fired;
} conflict_t;

/* Inside the store's transaction (all writes done, before commit): the first time, write
   one of the nodes it wrote, from another connection, so the commit fails with EAGAIN. */
static void conflict_hook(void *arg, const char *stage)
{
    conflict_t *c = arg;

    if (strcmp(stage, "in-transaction") != 0 || c->fired++)
        return;
    xs_write(c->other, XBT_NULL, ROOT "/alpha/version", "interloper", 10);
}

/* ------------------------------------------------------------------ tests */

static void test_all(void)
{
    struct xs_handle *h = NULL;
    reg_store_t *s = NULL, *s2 = NULL;
    reg_t a = { 0 }, b = { 0 }, c = { 0 };
    reg_err_t err = { 0 };
    loaded_t l = { 0 };
    conflict_t cf = { 0 };
    int rc;

    s = reg_store_open("xenstore", NULL, &err);
    if (!CHECK(s != NULL, "open --store xenstore (%s)", s ? reg_store_describe(s) : err.msg))
        return;
    h = xs_open(0);
    if (!CHECK(h != NULL, "a second xenstore connection for checking"))
        goto out;
    CHECK(value_is(h, ROOT, ""), "opening creates %s", ROOT);
    perms_are(h, "/tool/xsp", "n0");
    perms_are(h, ROOT, "n0");
    rc = load(s, &l, &err);
    CHECK(rc == 0 && l.got.n == 0, "an empty xenstore: nothing to load");

    /* put */
    mkfull(&a, "alpha", "alpha.0000000000000001", 0);
    mkfull(&b, "beta", "beta.0000000000000002", 5);
    b.backend = REG_BACKEND_FIXED;
    b.has_backend_domid = true;
    b.backend_domid = 7;
    mkreg(&c, "gamma", REG_KIND_DATAPATH, "nbd", "org.xen.xsp.storage.nbd");
    c.id = strdup("gamma.0000000000000003");
    c.domid = 9;
    c.backend = REG_BACKEND_ON_DEMAND;
    strv_set(&c.features, "");
    rc = reg_store_put(s, &a, &err);
    CHECK(rc == 0, "put alpha (dom0) (%s)", err.msg);
    rc = reg_store_put(s, &b, &err);
    CHECK(rc == 0, "put beta (domain 5, fixed backend 7) (%s)", err.msg);
    CHECK(value_is(h, ROOT "/alpha/id", "alpha.0000000000000001") &&
              value_is(h, ROOT "/alpha/schemes/0", "file") &&
              value_is(h, ROOT "/alpha/schemes/1", "vhd+file") &&
              value_is(h, ROOT "/alpha/kinds/1", "datapath") &&
              value_is(h, ROOT "/alpha/queues/0", "org.xen.xsp.storage.f") &&
              value_is(h, ROOT "/alpha/features/1", "with space") &&
              value_is(h, ROOT "/alpha/backend/kind", "own_domain") &&
              value_is(h, ROOT "/alpha/registered_at", "1732640000123") &&
              value_is(h, ROOT "/beta/domid", "5") && value_is(h, ROOT "/beta/backend/kind", "fixed") &&
              value_is(h, ROOT "/beta/backend/domid", "7"),
          "another client reads the documented layout under %s", ROOT);
    {
        char *none = rd(h, ROOT "/alpha/backend/domid");

        CHECK(!none && errno == ENOENT, "no backend/domid for an own_domain plugin");
        free(none);
    }

    /* permissions */
    perms_are(h, ROOT "/alpha", "n0");
    perms_are(h, ROOT "/alpha/schemes/0", "n0");
    perms_are(h, ROOT "/beta", "n0,r5");
    perms_are(h, ROOT "/beta/id", "n0,r5");
    perms_are(h, ROOT "/beta/queues/0", "n0,r5");
    perms_are(h, ROOT "/beta/backend/domid", "n0,r5");

    /* EAGAIN: a concurrent write to a node the transaction touched. */
    cf.other = h;
    reg_store_set_test_hook(s, conflict_hook, &cf);
    free(a.version);
    a.version = strdup("2.0");
    rc = reg_store_put(s, &a, &err);
    reg_store_set_test_hook(s, NULL, NULL);
    CHECK(rc == 0 && cf.fired >= 2 && reg_store_stats(s)->retries == 1,
          "a conflicting write during the put: EAGAIN, retried once, then committed "
          "(retries %llu, hook ran %d times, %s)",
          (unsigned long long)reg_store_stats(s)->retries, cf.fired, rc ? err.msg : "ok");
    CHECK(value_is(h, ROOT "/alpha/version", "2.0"), "the retried transaction's value won");

    /* load_all in a new store: a restarted registrar recovers everything. */
    rc = reg_store_put(s, &c, &err);
    CHECK(rc == 0, "put gamma (domain 9, on_demand)");
    s2 = reg_store_open("xenstore", NULL, &err);
    rc = s2 ? load(s2, &l, &err) : -1;
    CHECK(rc == 0 && l.got.n == 3 && l.bad == 0, "a new store (registrar restart) loads 3");
    if (rc == 0 && l.got.n == 3)
        CHECK(reg_equal(&l.got.v[0], &a) && reg_equal(&l.got.v[1], &b) &&
                  reg_equal(&l.got.v[2], &c),
              "... field for field");
    reg_store_close(&s2);

    /* del */
    CHECK(reg_store_del(s, "gamma", "gamma.wrong", &err) == 0 && value_is(h, ROOT "/gamma/id", "gamma.0000000000000003"),
          "del gamma with another id: kept (a newer registration is never removed)");
    CHECK(reg_store_del(s, "gamma", "gamma.0000000000000003", &err) == 0,
          "del gamma with its id");
    {
        char *gone = rd(h, ROOT "/gamma");

        CHECK(!gone && errno == ENOENT, "... its directory is gone");
        free(gone);
    }
    CHECK(reg_store_del(s, "never", NULL, &err) == 0, "del of a name never stored: fine");

    /* An entry someone broke by hand: reported, skipped, left in place. */
    xs_write(h, XBT_NULL, ROOT "/broken/id", "broken.1", 8);
    s2 = reg_store_open("xenstore", NULL, &err);
    rc = s2 ? load(s2, &l, &err) : -1;
    CHECK(rc == 0 && l.got.n == 2 && l.bad == 1 && strstr(l.last_bad, ROOT "/broken"),
          "an unreadable entry is reported (%s) and the others load", l.last_bad);
    reg_store_close(&s2);
    xs_rm(h, XBT_NULL, ROOT "/broken");

    /* xenstored restarts: its database is empty; the next put reconnects and rewrites. */
    xs_close(h);
    h = NULL;
    stop_xenstored();
    if (!start_xenstored("restart 1"))
        goto out;
    h = xs_open(0);
    {
        char *v = h ? rd(h, ROOT "/alpha/id") : NULL;

        CHECK(h && !v, "the restarted xenstored holds nothing");
        free(v);
    }
    rc = reg_store_put(s, &c, &err);
    CHECK(rc == 0 && reg_store_stats(s)->reconnects == 1,
          "put after the restart: the store reconnects (%s)", rc ? err.msg : "ok");
    CHECK(h && value_is(h, ROOT "/alpha/version", "2.0") && value_is(h, ROOT "/beta/domid", "5") &&
              value_is(h, ROOT "/gamma/id", "gamma.0000000000000003"),
          "... and rewrote everything (alpha, beta) before the new entry (gamma)");
    if (h) {
        perms_are(h, ROOT, "n0");
        perms_are(h, ROOT "/beta/schemes/1", "n0,r5");
        perms_are(h, ROOT "/gamma/queues/0", "n0,r9");
    }

    /* Restart again: an explicit resync. */
    if (h)
        xs_close(h);
    h = NULL;
    stop_xenstored();
    if (!start_xenstored("restart 2"))
        goto out;
    rc = reg_store_resync(s, &err);
    h = xs_open(0);
    CHECK(rc == 0 && reg_store_stats(s)->reconnects == 2 && h &&
              value_is(h, ROOT "/alpha/id", "alpha.0000000000000001") &&
              value_is(h, ROOT "/gamma/backend/kind", "on_demand"),
          "resync after another restart reconnects and rewrites everything (%s)",
          rc ? err.msg : "ok");

    /* check(): finds an entry removed behind its back, and a restarted xenstored. */
    if (h)
        xs_rm(h, XBT_NULL, ROOT "/beta");
    rc = reg_store_check(s, &err);
    CHECK(rc == 0 && h && value_is(h, ROOT "/beta/id", "beta.0000000000000002"),
          "check() puts back an entry removed by someone else (%s)", rc ? err.msg : "ok");
    if (h)
        xs_close(h);
    h = NULL;
    stop_xenstored();
    if (!start_xenstored("restart 3"))
        goto out;
    rc = reg_store_check(s, &err);
    h = xs_open(0);
    CHECK(rc == 0 && reg_store_stats(s)->reconnects == 3 && h &&
              value_is(h, ROOT "/beta/id", "beta.0000000000000002"),
          "check() after a restart reconnects and rewrites (%s)", rc ? err.msg : "ok");

    /* A registrar restart after all that still recovers the three. */
    s2 = reg_store_open("xenstore", NULL, &err);
    rc = s2 ? load(s2, &l, &err) : -1;
    CHECK(rc == 0 && l.got.n == 3, "a new store loads alpha, beta, gamma");
    reg_store_close(&s2);

    /* auto with xenstored up. */
    s2 = reg_store_open("auto", REGTEST_DIR "/state", &err);
    CHECK(s2 && reg_store_kind(s2) == REG_STORE_XENSTORE && reg_store_note(s2)[0] == '\0',
          "--store auto with xenstored reachable: xenstore (%s)", s2 ? reg_store_describe(s2) : err.msg);
    reg_store_close(&s2);
out:
    reg_vec_dispose(&l.got);
    if (h)
        xs_close(h);
    reg_store_close(&s);
    reg_dispose(&a);
    reg_dispose(&b);
    reg_dispose(&c);
}

int main(void)
{
    fresh_dir(REGTEST_DIR);
    snprintf(rundir, sizeof rundir, "%s/xs", REGTEST_DIR);
    if (start_xenstored("first start"))
        test_all();
    stop_xenstored();
    if (regtest_failures)
        printf("xenstored log and trace kept in %s\n", rundir);
    return regtest_done();
}

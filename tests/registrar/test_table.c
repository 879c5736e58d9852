/*  tests/registrar/test_table.c — the registration table and the syntax rules under it:
    URI schemes (good and malformed), request validation, the caller's domid as identity,
    policy refusals, conflicts (scheme, queue, name), priorities, replacement, filters,
    resolve (unknown scheme -> no-plugin-for-uri naming the scheme; kinds; live queue),
    removal permissions, two-phase add, restore, policy changes, and the watch ring's bounds.

    Owns: nothing but its own memory.  Prints PASS/FAIL per check; exit 1 on any failure.
*/
#include "regtest.h"

#include <inttypes.h>

#include "policy.h"
#include "table.h"

static reg_add_opts_t at(uint64_t wall, uint64_t mono)
{
    reg_add_opts_t o = { .now_wall_ms = wall, .now_mono_ms = mono, .restore = false };

    return o;
}

static reg_policy_t *policy(const char *text)
{
    reg_err_t err = { 0 };
    reg_policy_t *p = reg_policy_parse(text, strlen(text), "test.conf", &err);

    if (!p)
        printf("policy parse failed: %s\n", err.msg);
    return p;
}

static void test_uri_schemes(void)
{
    static const struct {
        const char *uri, *scheme;
    } good[] = {
        { "file:///srv/sr1/3.vhd", "file" },
        { "vhd+file:///srv/sr1/3.vhd", "vhd+file" },
        { "VHD+File:///x", "vhd+file" },
        { "nbd:unix:/run/x.sock:exportname=e", "nbd" },
        { "nbd+unix:///export?socket=/run/x.sock", "nbd+unix" },
        { "a1.b-c:", "a1.b-c" },
    };
    static const char *bad[] = {
        "", "/srv/no-scheme", "://x", "1abc:x", "fi le:x", "file", "fi_le:x",
        "file:///a\tb", "file:///a b", ":", "-x:y",
    };
    char out[REG_SCHEME_MAX + 1], *longuri;
    reg_err_t err;
    int rc;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        rc = reg_uri_scheme(good[i].uri, out, &err);
        CHECK(rc == 0 && strcmp(out, good[i].scheme) == 0, "scheme of %s is %s (got %s)",
              good[i].uri, good[i].scheme, rc == 0 ? out : err.msg);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        reg_err_clear(&err);
        rc = reg_uri_scheme(bad[i], out, &err);
        CHECK_ERR(rc, err, XSP_E_INVALID_ARGUMENT, "argument", "uri", "malformed URI");
    }
    reg_err_clear(&err);
    rc = reg_uri_scheme(NULL, out, &err);
    CHECK_ERR(rc, err, XSP_E_INVALID_ARGUMENT, "argument", "uri", "NULL URI");
    longuri = malloc(REG_URI_MAX + 2);
    memset(longuri, 'a', REG_URI_MAX + 1);
    memcpy(longuri, "file:", 5);
    longuri[REG_URI_MAX + 1] = '\0';
    rc = reg_uri_scheme(longuri, out, &err);
    CHECK_ERR(rc, err, XSP_E_INVALID_ARGUMENT, "argument", "uri", "URI over 4096 bytes");
    longuri[REG_URI_MAX] = '\0';
    rc = reg_uri_scheme(longuri, out, &err);
    CHECK(rc == 0 && strcmp(out, "file") == 0, "a URI of exactly 4096 bytes is fine");
    free(longuri);
    {
        char s65[80];

        memset(s65, 'a', 65);
        strcpy(s65 + 65, ":x");
        rc = reg_uri_scheme(s65, out, &err);
        CHECK_ERR(rc, err, XSP_E_INVALID_ARGUMENT, "argument", "uri", "scheme over 64 bytes");
    }
}

static void test_validation(void)
{
    reg_t r = { 0 };
    reg_err_t err;
    int rc;

#define VCASE(what, argname, stmt)                                                          \
    do {                                                                                    \
        mkreg(&r, "xsp-plugin-file", REG_KIND_DATAPATH, "file", "org.xen.xsp.storage.file"); \
        stmt;                                                                               \
        reg_err_clear(&err);                                                                \
        rc = reg_validate(&r, &err);                                                        \
        CHECK_ERR(rc, err, XSP_E_INVALID_ARGUMENT, "argument", argname, what);              \
    } while (0)

    mkreg(&r, "xsp-plugin-file", REG_KIND_DATAPATH, "FILE,Vhd+File", "org.xen.xsp.storage.file");
    rc = reg_validate(&r, &err);
    CHECK(rc == 0 && strcmp(r.schemes.v[0], "file") == 0 && strcmp(r.schemes.v[1], "vhd+file") == 0,
          "a valid request passes and its schemes are lower-cased (%s)", rc ? err.msg : "ok");

    VCASE("name with a dot", "name", (free(r.name), r.name = strdup("org.xen.file")));
    VCASE("name starting with -", "name", (free(r.name), r.name = strdup("-x")));
    VCASE("empty name", "name", (free(r.name), r.name = strdup("")));
    VCASE("NULL name", "name", (free(r.name), r.name = NULL));
    VCASE("65-byte name", "name",
          (free(r.name), r.name = strdup("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")));
    VCASE("empty version", "version", (free(r.version), r.version = strdup("")));
    VCASE("version with a newline", "version", (free(r.version), r.version = strdup("1\n2")));
    VCASE("empty api_version", "api_version", (free(r.api_version), r.api_version = NULL));
    VCASE("no kinds", "kinds", r.kinds = 0);
    VCASE("unknown kind bit", "kinds", r.kinds = 4);
    VCASE("no schemes", "schemes", strv_set(&r.schemes, ""));
    VCASE("bad scheme", "schemes[1]", strv_set(&r.schemes, "file,9p"));
    VCASE("duplicate scheme (case-insensitive)", "schemes[1]", strv_set(&r.schemes, "file,FILE"));
    VCASE("no queues", "queues", strv_set(&r.queues, ""));
    VCASE("bad queue", "queues[0]", strv_set(&r.queues, "has space"));
    VCASE("duplicate queue", "queues[1]", strv_set(&r.queues, "q1,q1"));
    VCASE("fixed backend without domid", "backend_policy.domid", r.backend = REG_BACKEND_FIXED);
    VCASE("fixed backend with domid 32752", "backend_policy.domid",
          (r.backend = REG_BACKEND_FIXED, r.has_backend_domid = true, r.backend_domid = 32752));
    VCASE("own_domain backend with a domid", "backend_policy.domid",
          (r.has_backend_domid = true, r.backend_domid = 3));
    VCASE("on_demand backend with a domid", "backend_policy.domid",
          (r.backend = REG_BACKEND_ON_DEMAND, r.has_backend_domid = true));
    VCASE("unknown backend kind", "backend_policy.kind", r.backend = (reg_backend_t)7);
    VCASE("empty feature", "features[1]", (strv_set(&r.features, "A"), reg_strv_push(&r.features, "")));
    VCASE("65-byte feature", "features[0]",
          strv_set(&r.features, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"));
    reg_dispose(&r);
}

static void test_basics(void)
{
    reg_table_t *t = reg_table_new(0, 42);
    reg_t req = { 0 };
    const reg_t *got = NULL;
    reg_resolved_t res;
    reg_err_t err;
    reg_add_opts_t o = at(1700000000000ull, 1000);
    int rc;

    mkreg(&req, "xsp-plugin-file", REG_KIND_VOLUME | REG_KIND_DATAPATH, "file,vhd+file",
          "org.xen.xsp.storage.file");
    req.domid = 7;      /* a domid in the body is never believed */
    rc = reg_table_add(t, &req, 0, &o, &got, &err);
    CHECK(rc == 0 && got, "dom0 registers xsp-plugin-file (%s)", rc ? err.msg : "ok");
    if (!got)
        goto out;
    CHECK(got->domid == 0, "the registration's domid is the caller's (0), not the body's (7)");
    CHECK(got->registered_at == 1700000000000ull, "registered_at is the wall clock given");
    CHECK(got->id && strncmp(got->id, "xsp-plugin-file.", 16) == 0 && strlen(got->id) == 32,
          "id is <name>.<16 hex> (%s)", got->id);
    CHECK(!got->confirmed && got->pending_since_ms == 1000, "a new registration is unconfirmed");
    CHECK(reg_table_find_id(t, got->id) == got && reg_table_find_name(t, "xsp-plugin-file") == got,
          "found by id and by name");

    rc = reg_table_resolve(t, "file:///srv/sr1", 0, &res, &err);
    CHECK(rc == 0 && res.reg == got && strcmp(res.queue, "org.xen.xsp.storage.file") == 0 &&
              strcmp(res.scheme, "file") == 0,
          "resolve file:///srv/sr1 -> xsp-plugin-file on its queue");
    rc = reg_table_resolve(t, "VHD+FILE:///srv/sr1/3.vhd", 0, &res, &err);
    CHECK(rc == 0 && res.reg == got && strcmp(res.scheme, "vhd+file") == 0,
          "resolve is case-insensitive in the scheme");
    rc = reg_table_resolve(t, "nbd+unix:///e?socket=/x", 0, &res, &err);
    CHECK_ERR(rc, err, XSP_E_NO_PLUGIN_FOR_URI, "scheme", "nbd+unix",
              "resolve of a scheme nobody serves");
    CHECK(strstr(err.msg, "\"nbd+unix\"") != NULL, "the message names the scheme: %s", err.msg);
    rc = reg_table_resolve(t, "no scheme here", 0, &res, &err);
    CHECK_ERR(rc, err, XSP_E_INVALID_ARGUMENT, "argument", "uri", "resolve of a malformed URI");

    /* Identity: domain 5 is not allowed by the built-in policy. */
    mkreg(&req, "xsp-plugin-nbd", REG_KIND_DATAPATH, "nbd", "org.xen.xsp.storage.nbd");
    rc = reg_table_add(t, &req, 5, &o, NULL, &err);
    CHECK_ERR(rc, err, XSP_E_PERMISSION_DENIED, NULL, NULL,
              "domain 5 registering under the built-in policy");
    CHECK(reg_err_get(&err, "reason") && strstr(err.msg, "domain 5"),
          "refusal has a reason naming the domain: %s", err.msg);
    req.domid = 0;      /* claiming dom0 in the body changes nothing */
    rc = reg_table_add(t, &req, 5, &o, NULL, &err);
    CHECK_ERR(rc, err, XSP_E_PERMISSION_DENIED, NULL, NULL,
              "domain 5 claiming domid 0 in the request body");
    CHECK(reg_table_count(t) == 1, "refused requests left the table alone");

    /* Invalid requests are refused before the policy. */
    mkreg(&req, "bad.name", REG_KIND_DATAPATH, "nbd", "q");
    rc = reg_table_add(t, &req, 5, &o, NULL, &err);
    CHECK_ERR(rc, err, XSP_E_INVALID_ARGUMENT, "argument", "name", "a bad name from domain 5");
out:
    reg_dispose(&req);
    reg_table_free(&t);
}

static void test_conflicts(void)
{
    reg_table_t *t = reg_table_new(0, 1);
    reg_t req = { 0 };
    const reg_t *a = NULL, *got = NULL;
    reg_resolved_t res;
    reg_err_t err;
    reg_add_opts_t o = at(1000, 1);
    reg_policy_t *p = policy("allow domain * schemes * queues *\n");
    const reg_event_t *ev[8];
    uint64_t next, lost, seq0;
    char old_id[REG_ID_MAX + 1];
    int rc;

    reg_table_set_policy(t, p, NULL);
    mkreg(&req, "plug-a", REG_KIND_DATAPATH, "file,nbd", "qa");
    rc = reg_table_add(t, &req, 3, &o, &a, &err);
    CHECK(rc == 0, "plug-a registers from domain 3 (policy allows any domain)");
    snprintf(old_id, sizeof old_id, "%s", a ? a->id : "");

    mkreg(&req, "plug-b", REG_KIND_DATAPATH | REG_KIND_VOLUME, "NBD", "qb");
    rc = reg_table_add(t, &req, 4, &o, NULL, &err);
    CHECK_ERR(rc, err, XSP_E_PERMISSION_DENIED, "conflict", "plug-a",
              "a second plugin claiming scheme nbd (same kind)");
    CHECK(strstr(err.msg, "scheme nbd") && strstr(err.msg, "priority"),
          "the conflict message names the scheme and the way out: %s", err.msg);

    mkreg(&req, "plug-b", REG_KIND_VOLUME, "nbd", "qb");
    rc = reg_table_add(t, &req, 4, &o, NULL, &err);
    CHECK(rc == 0, "a volume plugin may share scheme nbd with a datapath plugin (%s)",
          rc ? err.msg : "ok");

    mkreg(&req, "plug-c", REG_KIND_DATAPATH, "iscsi", "qc,qa");
    rc = reg_table_add(t, &req, 3, &o, NULL, &err);
    CHECK_ERR(rc, err, XSP_E_PERMISSION_DENIED, "conflict", "plug-a",
              "a plugin claiming another plugin's queue");
    CHECK(strstr(err.msg, "queue qa") != NULL, "the message names the queue: %s", err.msg);

    mkreg(&req, "plug-a", REG_KIND_DATAPATH, "file", "qa2");
    rc = reg_table_add(t, &req, 9, &o, NULL, &err);
    CHECK_ERR(rc, err, XSP_E_PERMISSION_DENIED, "conflict", "plug-a",
              "the name plug-a from another domain (9)");

    /* Same name, same domain: replaces (a restarted plugin). */
    seq0 = reg_table_next_seq(t);
    mkreg(&req, "plug-a", REG_KIND_DATAPATH, "file", "qa2");
    rc = reg_table_add(t, &req, 3, &o, &got, &err);
    CHECK(rc == 0 && got && strcmp(got->id, old_id) != 0 && reg_table_count(t) == 2 &&
              !reg_table_find_id(t, old_id),
          "plug-a again from domain 3 replaces it with a new id (%s)", rc ? err.msg : "ok");
    CHECK(reg_table_events(t, seq0, 8, ev, &next, &lost) == 1 && ev[0]->kind == REG_EV_CHANGED &&
              strcmp(ev[0]->reg.name, "plug-a") == 0,
          "the replacement is one `changed` event");
    rc = reg_table_resolve(t, "nbd://host/x", REG_KIND_DATAPATH, &res, &err);
    CHECK_ERR(rc, err, XSP_E_NO_PLUGIN_FOR_URI, "scheme", "nbd",
              "after the replacement plug-a no longer serves nbd (datapath)");
    CHECK(strstr(err.msg, "datapath") != NULL, "the message names the kind asked for: %s", err.msg);
    rc = reg_table_resolve(t, "nbd://host/x", 0, &res, &err);
    CHECK(rc == 0 && strcmp(res.reg->name, "plug-b") == 0,
          "nbd (any kind) resolves to the volume plugin plug-b");

    reg_dispose(&req);
    reg_table_free(&t);
    reg_policy_free(&p);
}

static void test_priorities(void)
{
    reg_table_t *t = reg_table_new(0, 2);
    reg_t req = { 0 };
    const reg_t *hi = NULL;
    reg_resolved_t res;
    reg_err_t err;
    reg_add_opts_t o = at(1000, 1);
    reg_policy_t *p = policy("allow domain 0 schemes * queues *\n"
                             "scheme file priority 10 plugin low\n"
                             "scheme FILE priority 20 plugin high\n"
                             "scheme file priority 10 plugin same\n"
                             "scheme nbd priority 5 plugin low\n");
    int rc;

    reg_table_set_policy(t, p, NULL);
    mkreg(&req, "low", REG_KIND_DATAPATH, "file,nbd", "q-low");
    rc = reg_table_add(t, &req, 0, &o, NULL, &err);
    CHECK(rc == 0, "low registers");
    o.now_wall_ms++;
    mkreg(&req, "high", REG_KIND_DATAPATH, "file", "q-high");
    rc = reg_table_add(t, &req, 0, &o, &hi, &err);
    CHECK(rc == 0, "high registers next to low: both have priorities for file (%s)",
          rc ? err.msg : "ok");
    CHECK(hi && hi->prio && hi->prio[0].set && hi->prio[0].value == 20,
          "its priority for file is 20 (scheme matched case-insensitively)");
    rc = reg_table_resolve(t, "file:///x", 0, &res, &err);
    CHECK(rc == 0 && strcmp(res.reg->name, "high") == 0, "resolve file -> high (20 beats 10)");
    rc = reg_table_resolve(t, "nbd:x", 0, &res, &err);
    CHECK(rc == 0 && strcmp(res.reg->name, "low") == 0, "resolve nbd -> low (alone)");

    mkreg(&req, "same", REG_KIND_DATAPATH, "file", "q-same");
    rc = reg_table_add(t, &req, 0, &o, NULL, &err);
    CHECK_ERR(rc, err, XSP_E_PERMISSION_DENIED, "conflict", "low",
              "a third plugin with the same priority as low");
    CHECK(strstr(err.msg, "same priority 10") != NULL, "message: %s", err.msg);

    mkreg(&req, "nopri", REG_KIND_DATAPATH, "file", "q-nopri");
    rc = reg_table_add(t, &req, 0, &o, NULL, &err);
    CHECK_ERR(rc, err, XSP_E_PERMISSION_DENIED, "conflict", NULL, "a plugin without a priority");
    CHECK(err.code == XSP_E_PERMISSION_DENIED && reg_err_get(&err, "conflict"),
          "... names the plugin it conflicts with (%s)", reg_err_get(&err, "conflict"));

    if (hi) {
        char id[REG_ID_MAX + 1];

        snprintf(id, sizeof id, "%s", hi->id);
        rc = reg_table_remove(t, id, 0, NULL, &err);
        CHECK(rc == 1, "high unregisters");
        rc = reg_table_resolve(t, "file:///x", 0, &res, &err);
        CHECK(rc == 0 && strcmp(res.reg->name, "low") == 0, "resolve file -> low again");
    }
    reg_dispose(&req);
    reg_table_free(&t);
    reg_policy_free(&p);
}

static void test_resolve_ties_and_queues(void)
{
    reg_table_t *t = reg_table_new(0, 3);
    reg_t req = { 0 };
    reg_resolved_t res;
    reg_err_t err;
    reg_add_opts_t o = at(1000, 1);
    int rc;

    mkreg(&req, "vol", REG_KIND_VOLUME, "file", "q-vol");
    reg_table_add(t, &req, 0, &o, NULL, &err);
    o.now_wall_ms = 2000;
    mkreg(&req, "dp", REG_KIND_DATAPATH, "file", "q-dp1,q-dp2,q-dp3");
    reg_table_add(t, &req, 0, &o, NULL, &err);
    CHECK(reg_table_count(t) == 2, "a volume and a datapath plugin both serve file");
    rc = reg_table_resolve(t, "file:///x", 0, &res, &err);
    CHECK(rc == 0 && strcmp(res.reg->name, "dp") == 0,
          "no kind asked: the datapath plugin wins the tie although registered later");
    rc = reg_table_resolve(t, "file:///x", REG_KIND_VOLUME, &res, &err);
    CHECK(rc == 0 && strcmp(res.reg->name, "vol") == 0, "kind volume: the volume plugin");
    CHECK(rc == 0 && strcmp(res.queue, "q-vol") == 0, "unconfirmed: the first queue");

    reg_table_set_live(t, (size_t)(reg_table_find_name(t, "dp") - reg_table_at(t, 0)), 1u << 2);
    rc = reg_table_resolve(t, "file:///x", REG_KIND_DATAPATH, &res, &err);
    CHECK(rc == 0 && strcmp(res.queue, "q-dp3") == 0 && res.reg->confirmed,
          "resolve answers the first queue with a consumer (q-dp3)");
    reg_dispose(&req);
    reg_table_free(&t);
}

static void test_filters_and_remove(void)
{
    reg_table_t *t = reg_table_new(0, 4);
    reg_policy_t *p = policy("allow domain * schemes * queues *\n");
    reg_t req = { 0 }, gone = { 0 };
    const reg_t **v = NULL, *d5 = NULL;
    reg_filter_t f = { 0 };
    reg_err_t err;
    reg_add_opts_t o = at(1000, 1);
    size_t n = 0;
    char id[REG_ID_MAX + 1] = "";
    int rc;

    reg_table_set_policy(t, p, NULL);
    mkreg(&req, "zeta", REG_KIND_DATAPATH, "nbd", "q-z");
    reg_table_add(t, &req, 0, &o, NULL, &err);
    mkreg(&req, "alpha", REG_KIND_VOLUME, "file", "q-a");
    reg_table_add(t, &req, 0, &o, NULL, &err);
    mkreg(&req, "mid", REG_KIND_DATAPATH | REG_KIND_VOLUME, "iscsi,file+x", "q-m");
    reg_table_add(t, &req, 5, &o, &d5, &err);
    if (d5)
        snprintf(id, sizeof id, "%s", d5->id);

    rc = reg_table_list(t, NULL, &v, &n, &err);
    CHECK(rc == 0 && n == 3 && strcmp(v[0]->name, "alpha") == 0 &&
              strcmp(v[1]->name, "mid") == 0 && strcmp(v[2]->name, "zeta") == 0,
          "list: all three, sorted by name");
    free(v);
    f.scheme = "FILE+X";
    rc = reg_table_list(t, &f, &v, &n, &err);
    CHECK(rc == 0 && n == 1 && strcmp(v[0]->name, "mid") == 0, "filter scheme FILE+X -> mid");
    free(v);
    f.scheme = NULL;
    f.kinds = REG_KIND_DATAPATH;
    rc = reg_table_list(t, &f, &v, &n, &err);
    CHECK(rc == 0 && n == 2 && strcmp(v[0]->name, "mid") == 0 && strcmp(v[1]->name, "zeta") == 0,
          "filter kind datapath -> mid, zeta");
    free(v);
    f.has_domid = true;
    f.domid = 0;
    rc = reg_table_list(t, &f, &v, &n, &err);
    CHECK(rc == 0 && n == 1 && strcmp(v[0]->name, "zeta") == 0,
          "filter kind datapath + domid 0 -> zeta");
    free(v);
    f.domid = 77;
    rc = reg_table_list(t, &f, &v, &n, &err);
    CHECK(rc == 0 && n == 0 && v == NULL, "filter domid 77 -> nothing");
    f = (reg_filter_t){ .scheme = "not a scheme" };
    rc = reg_table_list(t, &f, &v, &n, &err);
    CHECK_ERR(rc, err, XSP_E_INVALID_ARGUMENT, "argument", "scheme", "filter by a bad scheme");

    rc = reg_table_remove(t, id, 6, NULL, &err);
    CHECK_ERR(rc, err, XSP_E_PERMISSION_DENIED, NULL, NULL,
              "domain 6 unregistering domain 5's plugin");
    CHECK(reg_err_get(&err, "reason") != NULL, "... with a reason: %s", err.msg);
    rc = reg_table_remove(t, id, 5, &gone, &err);
    CHECK(rc == 1 && gone.name && strcmp(gone.name, "mid") == 0,
          "domain 5 unregisters its own plugin (handed back)");
    rc = reg_table_remove(t, id, 5, NULL, &err);
    CHECK(rc == 0, "unregistering it again: not registered (0), not an error");
    rc = reg_table_remove(t, reg_table_find_name(t, "zeta")->id, 0, NULL, &err);
    CHECK(rc == 1, "dom0 may unregister anything");
    reg_dispose(&gone);
    reg_dispose(&req);
    reg_table_free(&t);
    reg_policy_free(&p);
}

static void test_two_phase_and_restore(void)
{
    reg_table_t *t = reg_table_new(0, 5);
    reg_t req = { 0 }, ready = { 0 }, stored = { 0 };
    const reg_t *got = NULL;
    reg_err_t err;
    reg_add_opts_t o = at(5000, 50);
    uint64_t seq = reg_table_next_seq(t);
    int rc;

    mkreg(&req, "two", REG_KIND_DATAPATH, "file", "q2");
    rc = reg_table_check(t, &req, 0, &o, &ready, &err);
    CHECK(rc == 0 && ready.id && reg_table_count(t) == 0 && reg_table_next_seq(t) == seq,
          "check prepares a registration (with an id) and leaves the table unchanged");
    rc = reg_table_commit(t, &ready, &got);
    CHECK(rc == 0 && got && reg_table_count(t) == 1 && reg_table_next_seq(t) == seq + 1 &&
              ready.name == NULL,
          "commit moves it in and emits one event");

    /* Restore: a stored registration keeps id, domid and registered_at. */
    mkreg(&stored, "restored", REG_KIND_DATAPATH, "nbd", "qr");
    stored.id = strdup("restored.0123456789abcdef");
    stored.domid = 0;
    stored.registered_at = 1234;
    o = (reg_add_opts_t){ .now_wall_ms = 9999, .now_mono_ms = 77, .restore = true };
    rc = reg_table_add(t, &stored, 5, &o, &got, &err);
    CHECK(rc == 0 && got && strcmp(got->id, "restored.0123456789abcdef") == 0 &&
              got->domid == 0 && got->registered_at == 1234 && got->pending_since_ms == 77 &&
              !got->confirmed,
          "restore keeps id, domid, registered_at; starts unconfirmed (%s)", rc ? err.msg : "ok");
    free(stored.name);
    stored.name = strdup("restored2");
    strv_set(&stored.queues, "qr2");
    strv_set(&stored.schemes, "nbd2");
    rc = reg_table_add(t, &stored, 0, &o, NULL, &err);
    CHECK_ERR(rc, err, XSP_E_INVALID_ARGUMENT, "argument", "id", "restoring a second entry with the same id");
    free(stored.id);
    stored.id = NULL;
    rc = reg_table_add(t, &stored, 0, &o, NULL, &err);
    CHECK_ERR(rc, err, XSP_E_INVALID_ARGUMENT, "argument", "id", "restoring an entry without id");
    reg_dispose(&req);
    reg_dispose(&ready);
    reg_dispose(&stored);
    reg_table_free(&t);
}

static void test_policy_change(void)
{
    reg_table_t *t = reg_table_new(0, 6);
    reg_policy_t *p1 = policy("allow domain * schemes * queues *\n"
                              "scheme file priority 1 plugin first\n"
                              "scheme file priority 2 plugin second\n");
    reg_policy_t *p2 = policy("allow domain * schemes * queues *\n"
                              "scheme file priority 3 plugin first\n"
                              "scheme file priority 2 plugin second\n");
    reg_policy_t *p3 = policy("allow domain 0 schemes * queues *\n");
    reg_vec_t dropped = { 0 };
    reg_t req = { 0 };
    reg_resolved_t res;
    reg_err_t err;
    reg_add_opts_t o = at(1000, 1);
    const reg_event_t *ev[16];
    uint64_t next, lost, seq;
    size_t n;
    long nd;

    reg_table_set_policy(t, p1, NULL);
    mkreg(&req, "first", REG_KIND_DATAPATH, "file", "q1");
    reg_table_add(t, &req, 0, &o, NULL, &err);
    o.now_wall_ms = 2000;
    mkreg(&req, "second", REG_KIND_DATAPATH, "file", "q2");
    reg_table_add(t, &req, 4, &o, NULL, &err);
    CHECK(reg_table_count(t) == 2, "two plugins share file under p1");
    CHECK(reg_table_resolve(t, "file:x", 0, &res, &err) == 0 && strcmp(res.reg->name, "second") == 0,
          "p1: second wins");

    seq = reg_table_next_seq(t);
    nd = reg_table_set_policy(t, p2, &dropped);
    n = reg_table_events(t, seq, 16, ev, &next, &lost);
    CHECK(nd == 0 && n == 1 && ev[0]->kind == REG_EV_CHANGED && strcmp(ev[0]->reg.name, "first") == 0,
          "p2 raises first's priority: one `changed` event, nobody dropped");
    CHECK(reg_table_resolve(t, "file:x", 0, &res, &err) == 0 && strcmp(res.reg->name, "first") == 0,
          "p2: first wins");

    seq = reg_table_next_seq(t);
    nd = reg_table_set_policy(t, p3, &dropped);
    n = reg_table_events(t, seq, 16, ev, &next, &lost);
    CHECK(nd == 1 && dropped.n == 1 && strcmp(dropped.v[0].name, "second") == 0 &&
              reg_table_count(t) == 1,
          "p3 (dom0 only, no priorities) drops second (domain 4)");
    CHECK(n == 2 && ev[0]->kind == REG_EV_CHANGED && ev[1]->kind == REG_EV_REMOVED,
          "... events: first changed (priority gone), second removed");
    reg_vec_dispose(&dropped);
    reg_table_set_policy(t, NULL, NULL);
    reg_dispose(&req);
    reg_table_free(&t);
    reg_policy_free(&p1);
    reg_policy_free(&p2);
    reg_policy_free(&p3);
}

static void test_watch_ring(void)
{
    reg_table_t *t = reg_table_new(4, 7);
    reg_t req = { 0 };
    reg_err_t err;
    reg_add_opts_t o = at(1000, 1);
    const reg_event_t *ev[16];
    uint64_t next = 0, lost = 0;
    size_t n;
    char name[32];

    n = reg_table_events(t, 0, 16, ev, &next, &lost);
    CHECK(n == 0 && next == 1 && lost == 0, "an empty ring: nothing, next_seq 1");
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "p%d", i);
        mkreg(&req, name, REG_KIND_DATAPATH, name, name);
        reg_table_add(t, &req, 0, &o, NULL, &err);
    }
    CHECK(reg_table_next_seq(t) == 11, "10 events: next_seq 11");
    n = reg_table_events(t, 0, 16, ev, &next, &lost);
    CHECK(n == 4 && ev[0]->seq == 7 && ev[3]->seq == 10 && next == 11 && lost == 0,
          "from 0: the 4 events held (7..10), nothing counted lost");
    CHECK(n == 4 && ev[0]->kind == REG_EV_ADDED && strcmp(ev[0]->reg.name, "p6") == 0,
          "events carry the registration (seq 7 = p6 added)");
    n = reg_table_events(t, 1, 16, ev, &next, &lost);
    CHECK(n == 4 && lost == 6 && ev[0]->seq == 7, "from 1: 6 lost, then 7..10");
    n = reg_table_events(t, 8, 2, ev, &next, &lost);
    CHECK(n == 2 && ev[0]->seq == 8 && ev[1]->seq == 9 && next == 10 && lost == 0,
          "from 8, max 2: 8, 9; continue at 10");
    n = reg_table_events(t, 11, 16, ev, &next, &lost);
    CHECK(n == 0 && next == 11, "from next_seq: nothing yet, next stays 11");
    n = reg_table_events(t, UINT64_MAX, 16, ev, &next, &lost);
    CHECK(n == 0 && next == 11 && lost == 0, "from 2^64-1: \"from now\" = 11");
    reg_table_remove(t, reg_table_find_name(t, "p3")->id, 0, NULL, &err);
    n = reg_table_events(t, 11, 16, ev, &next, &lost);
    CHECK(n == 1 && ev[0]->kind == REG_EV_REMOVED && strcmp(ev[0]->reg.name, "p3") == 0 &&
              next == 12,
          "an unregister is a `removed` event with the registration as it was");
    reg_dispose(&req);
    reg_table_free(&t);
}

int main(void)
{
    test_uri_schemes();
    test_validation();
    test_basics();
    test_conflicts();
    test_priorities();
    test_resolve_ties_and_queues();
    test_filters_and_remove();
    test_two_phase_and_restore();
    test_policy_change();
    test_watch_ring();
    return regtest_done();
}

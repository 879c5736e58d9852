/*  tests/registrar/test_policy.c — the policy file: a good file (comments, pairs in any
    order, globs, domain *), the built-in default, a file without allow lines, refusals
    with reasons, the one-rule-must-cover-all rule, priorities, and bad files whose errors
    name file:line.

    Owns: REGTEST_DIR (policy files written there).  Exit 1 on any failure.
*/
#include "regtest.h"

#include "policy.h"

static const char good_text[] =
    "# xsp registrar policy\n"
    "\n"
    "allow domain 0 schemes * queues *      # dom0: anything\n"
    "allow queues org.xen.xsp.storage.nbd* schemes nbd,NBD+unix domain 5\n"
    "\tallow domain * schemes tmp-? queues public.*\n"
    "scheme file priority 10 plugin xsp-plugin-file\n"
    "scheme File plugin xsp-plugin-file2 priority -3\n"
    "allow domain 7 schemes nbd queues nbd.*\n"
    "allow domain 7 schemes iscsi queues iscsi.*\n";

static void reg_for(reg_t *r, const char *schemes, const char *queues)
{
    mkreg(r, "plug", REG_KIND_DATAPATH, schemes, queues);
}

static void test_good(void)
{
    reg_err_t err = { 0 };
    reg_policy_t *p = reg_policy_parse(good_text, strlen(good_text), "good.conf", &err);
    reg_t r = { 0 };
    int32_t prio = 0;
    int rc;

    CHECK(p != NULL, "a good policy parses (%s)", p ? "ok" : err.msg);
    if (!p)
        return;
    CHECK(reg_policy_rule_count(p) == 5 && reg_policy_priority_count(p) == 2 &&
              !reg_policy_uses_default_rule(p),
          "5 allow rules, 2 priorities, no built-in rule");
    CHECK(strcmp(reg_policy_origin(p), "good.conf") == 0, "origin is the name given");

    reg_for(&r, "file,nbd", "anything.at.all");
    CHECK(reg_policy_check(p, 0, &r, &err) == 0, "dom0 may register anything");
    reg_for(&r, "nbd,nbd+unix", "org.xen.xsp.storage.nbd,org.xen.xsp.storage.nbd2");
    CHECK(reg_policy_check(p, 5, &r, &err) == 0, "domain 5: nbd schemes on nbd queues (%s)",
          err.msg);
    reg_for(&r, "nbd,file", "org.xen.xsp.storage.nbd");
    rc = reg_policy_check(p, 5, &r, &err);
    CHECK_ERR(rc, err, XSP_E_PERMISSION_DENIED, "reason", NULL, "domain 5 registering scheme file");
    CHECK(strstr(err.msg, "scheme \"file\"") && strstr(err.msg, "good.conf:4"),
          "the reason names the scheme and the closest rule's file:line: %s", err.msg);
    reg_for(&r, "nbd", "org.xen.xsp.storage.file");
    rc = reg_policy_check(p, 5, &r, &err);
    CHECK_ERR(rc, err, XSP_E_PERMISSION_DENIED, "reason", NULL, "domain 5 registering another queue");
    CHECK(strstr(err.msg, "queue \"org.xen.xsp.storage.file\"") != NULL, "names the queue: %s",
          err.msg);
    reg_for(&r, "tmp-a", "public.q");
    CHECK(reg_policy_check(p, 31000, &r, &err) == 0, "domain * rule: domain 31000 may register tmp-a on public.q");
    reg_for(&r, "tmp-ab", "public.q");
    rc = reg_policy_check(p, 31000, &r, &err);
    CHECK_ERR(rc, err, XSP_E_PERMISSION_DENIED, NULL, NULL, "domain 31000: tmp-ab does not match tmp-?");

    /* One rule must cover every scheme and queue: no mixing of rules. */
    reg_for(&r, "nbd", "iscsi.x");
    rc = reg_policy_check(p, 7, &r, &err);
    CHECK_ERR(rc, err, XSP_E_PERMISSION_DENIED, NULL, NULL,
              "domain 7: scheme from one rule, queue from another");
    reg_for(&r, "iscsi", "iscsi.x");
    CHECK(reg_policy_check(p, 7, &r, &err) == 0, "domain 7: iscsi on iscsi.x (its second rule)");

    CHECK(reg_policy_priority(p, "file", "xsp-plugin-file", &prio) && prio == 10,
          "priority of xsp-plugin-file for file: 10");
    CHECK(reg_policy_priority(p, "FILE", "xsp-plugin-file2", &prio) && prio == -3,
          "priority of xsp-plugin-file2 for FILE: -3 (case-insensitive)");
    CHECK(!reg_policy_priority(p, "nbd", "xsp-plugin-file", &prio), "no priority for nbd");
    reg_dispose(&r);
    reg_policy_free(&p);
    CHECK(p == NULL, "free clears the pointer");
}

static void test_defaults(void)
{
    reg_err_t err = { 0 };
    reg_policy_t *p = reg_policy_default();
    static const char only_prio[] = "# only priorities\nscheme nbd priority 1 plugin a\n";
    reg_policy_t *q = reg_policy_parse(only_prio, strlen(only_prio), "prio.conf", &err);
    reg_policy_t *e = reg_policy_parse("", 0, "empty.conf", &err);
    reg_t r = { 0 };
    int rc;

    reg_for(&r, "file", "q");
    CHECK(p && reg_policy_uses_default_rule(p) && reg_policy_check(p, 0, &r, &err) == 0,
          "built-in: dom0 may register anything");
    rc = reg_policy_check(p, 1, &r, &err);
    CHECK_ERR(rc, err, XSP_E_PERMISSION_DENIED, "reason", NULL, "built-in: domain 1 may not");
    CHECK(strstr(err.msg, "built-in") != NULL, "message: %s", err.msg);
    CHECK(q && reg_policy_uses_default_rule(q) && reg_policy_check(q, 0, &r, &err) == 0,
          "a file with no allow lines: dom0 may (%s)", q ? "ok" : err.msg);
    rc = q ? reg_policy_check(q, 2, &r, &err) : -1;
    CHECK_ERR(rc, err, XSP_E_PERMISSION_DENIED, NULL, NULL, "... domain 2 may not");
    CHECK(strstr(err.msg, "prio.conf has no allow lines") != NULL, "message: %s", err.msg);
    CHECK(e && reg_policy_uses_default_rule(e) && reg_policy_rule_count(e) == 1 &&
              reg_policy_priority_count(e) == 0,
          "an empty file is the built-in policy");
    reg_dispose(&r);
    reg_policy_free(&p);
    reg_policy_free(&q);
    reg_policy_free(&e);
}

static void bad(const char *text, unsigned line, const char *needle)
{
    reg_err_t err = { 0 };
    reg_policy_t *p = reg_policy_parse(text, strlen(text), "bad.conf", &err);
    char prefix[32], num[16];

    snprintf(prefix, sizeof prefix, "bad.conf:%u: ", line);
    snprintf(num, sizeof num, "%u", line);
    CHECK(!p && err.code == XSP_E_INVALID_ARGUMENT && strncmp(err.msg, prefix, strlen(prefix)) == 0 &&
              reg_err_get(&err, "line") && strcmp(reg_err_get(&err, "line"), num) == 0 &&
              strstr(err.msg, needle),
          "refused, naming line %u and \"%s\": %s", line, needle, p ? "(accepted)" : err.msg);
    reg_policy_free(&p);
}

static void test_bad(void)
{
    bad("allow domain 0 schemes * queues *\nfrobnicate all\n", 2, "unknown keyword \"frobnicate\"");
    bad("allow domain 0 schemes *\n", 1, "missing \"queues\"");
    bad("allow domain 0 schemes * queues * domain 1\n", 1, "\"domain\" given twice");
    bad("allow domain zero schemes * queues *\n", 1, "domain \"zero\"");
    bad("allow domain 40000 schemes * queues *\n", 1, "domain \"40000\"");
    bad("allow domain -1 schemes * queues *\n", 1, "domain \"-1\"");
    bad("allow domain 0 schemes nbd,,file queues *\n", 1, "empty element");
    bad("allow domain 0 schemes * queues * colour blue\n", 1, "unknown setting \"colour\"");
    bad("allow domain 0 schemes * queues\n", 1, "has no value");
    bad("\n\nscheme 9p priority 1 plugin a\n", 3, "\"9p\" is not a URI scheme");
    bad("scheme nbd priority ten plugin a\n", 1, "priority \"ten\"");
    bad("scheme nbd priority 2147483648 plugin a\n", 1, "priority \"2147483648\"");
    bad("scheme nbd priority 1 plugin bad.name\n", 1, "not a plugin name");
    bad("scheme nbd priority 1\n", 1, "missing \"plugin\"");
    bad("scheme\n", 1, "expected \"scheme SCHEME priority N plugin NAME\"");
    bad("scheme nbd priority 1 plugin a\n# x\nscheme NBD plugin a priority 2\n", 3,
        "already has a priority (line 1)");
}

static void test_files(void)
{
    char path[512];
    reg_err_t err = { 0 };
    reg_policy_t *p;
    FILE *f;

    fresh_dir(REGTEST_DIR);
    snprintf(path, sizeof path, "%s/registrar.conf", REGTEST_DIR);
    f = fopen(path, "w");
    fputs(good_text, f);
    fputs("allow domain 3 schemes x queues\n", f);     /* line 10: an error */
    fclose(f);
    p = reg_policy_load(path, &err);
    CHECK(!p && strncmp(err.msg, path, strlen(path)) == 0 && strstr(err.msg, ":10: "),
          "a bad file's error starts with its path:line: %s", err.msg);
    f = fopen(path, "w");
    fputs(good_text, f);
    fclose(f);
    p = reg_policy_load(path, &err);
    CHECK(p && reg_policy_rule_count(p) == 5 && strcmp(reg_policy_origin(p), path) == 0,
          "a good file loads (%s)", p ? "ok" : err.msg);
    reg_policy_free(&p);
    snprintf(path, sizeof path, "%s/missing.conf", REGTEST_DIR);
    p = reg_policy_load(path, &err);
    CHECK(!p && err.code == XSP_E_SYSTEM && strstr(err.msg, path),
          "a missing file is an error naming it: %s", err.msg);
}

int main(void)
{
    test_good();
    test_defaults();
    test_bad();
    test_files();
    return regtest_done();
}

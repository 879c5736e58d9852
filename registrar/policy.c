/*  registrar/policy.c — parse the policy file and answer policy questions (see policy.h for
    the file format).

    Owns: reg_policy_t and its parser.  Never touches: any file but the one given to
    reg_policy_load, logging, the registration table.
*/
#include "policy.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_BYTES 4096
#define POLICY_MAX_BYTES (1u << 20)

typedef struct {
    bool any_domain;
    uint32_t domid;
    reg_strv_t schemes;     /* globs, lower-cased */
    reg_strv_t queues;      /* globs */
    unsigned line;
} rule_t;

typedef struct {
    char *scheme;           /* lower case */
    char *plugin;
    int32_t value;
    unsigned line;
} prio_t;

struct reg_policy {
    char *origin;
    rule_t *rules;
    size_t nrules;
    prio_t *prios;
    size_t nprios;
    bool default_rule;      /* no allow lines: the built-in rule is in rules[0] */
    bool builtin;           /* reg_policy_default(), not a file */
};

static void rule_dispose(rule_t *r)
{
    reg_strv_dispose(&r->schemes);
    reg_strv_dispose(&r->queues);
}

void reg_policy_free(reg_policy_t **pp)
{
    reg_policy_t *p = pp ? *pp : NULL;

    if (!p)
        return;
    for (size_t i = 0; i < p->nrules; i++)
        rule_dispose(&p->rules[i]);
    for (size_t i = 0; i < p->nprios; i++) {
        free(p->prios[i].scheme);
        free(p->prios[i].plugin);
    }
    free(p->rules);
    free(p->prios);
    free(p->origin);
    free(p);
    *pp = NULL;
}

static int add_rule(reg_policy_t *p, rule_t *r)
{
    rule_t *v = realloc(p->rules, (p->nrules + 1) * sizeof *v);

    if (!v)
        return -1;
    p->rules = v;
    p->rules[p->nrules++] = *r;
    memset(r, 0, sizeof *r);
    return 0;
}

/* The built-in rule: dom0, every scheme, every queue. */
static int add_default_rule(reg_policy_t *p)
{
    rule_t r = { .any_domain = false, .domid = 0, .line = 0 };

    if (reg_strv_push(&r.schemes, "*") < 0 || reg_strv_push(&r.queues, "*") < 0 ||
        add_rule(p, &r) < 0) {
        rule_dispose(&r);
        return -1;
    }
    p->default_rule = true;
    return 0;
}

reg_policy_t *reg_policy_default(void)
{
    reg_policy_t *p = calloc(1, sizeof *p);

    if (!p || !(p->origin = strdup("the built-in policy")) || add_default_rule(p) < 0) {
        reg_policy_free(&p);
        return NULL;
    }
    p->builtin = true;
    return p;
}

/* ------------------------------------------------------------------ parsing */

typedef struct {
    const char *origin;
    unsigned line;
    reg_err_t *err;
} ctx_t;

static int perr(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int perr(ctx_t *c, const char *fmt, ...)
{
    char what[400], num[16];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    reg_err(c->err, XSP_E_INVALID_ARGUMENT, "%s:%u: %s", c->origin, c->line, what);
    snprintf(num, sizeof num, "%u", c->line);
    reg_err_detail(c->err, "line", num);
    return -1;
}

/* Split a comma-separated glob list into sv (lower-cased when lower). */
static int split_globs(ctx_t *c, const char *key, const char *val, bool lower, reg_strv_t *sv)
{
    const char *s = val;

    for (;;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char buf[LINE_MAX_BYTES];

        if (n == 0)
            return perr(c, "%s: empty element in \"%s\"", key, val);
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (lower)
            for (size_t i = 0; i < n; i++)
                buf[i] = (char)tolower((unsigned char)buf[i]);
        if (reg_strv_push(sv, buf) < 0)
            return perr(c, "out of memory");
        if (!e)
            return 0;
        s = e + 1;
    }
}

static int parse_uint32(const char *s, uint32_t max, uint32_t *out)
{
    char *end;
    unsigned long v;

    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_int32(const char *s, int32_t *out)
{
    char *end;
    long long v;

    if (!(isdigit((unsigned char)s[0]) || ((s[0] == '-' || s[0] == '+') &&
                                           isdigit((unsigned char)s[1]))))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < INT32_MIN || v > INT32_MAX)
        return -1;
    *out = (int32_t)v;
    return 0;
}

/* Find key among the line's pairs: index of its value in tok[], or -1.  Every key must be
   one of `keys` and appear once (checked by check_pairs). */
static int check_pairs(ctx_t *c, char **tok, int ntok, const char *const *keys, int nkeys)
{
    if ((ntok - 1) % 2 != 0)
        return perr(c, "%s: expected NAME VALUE pairs after the keyword, \"%s\" has no value",
                    tok[0], tok[ntok - 1]);
    for (int i = 1; i < ntok; i += 2) {
        bool known = false;

        for (int k = 0; k < nkeys; k++)
            known |= strcmp(tok[i], keys[k]) == 0;
        if (!known) {
            char list[128] = "";

            for (int k = 0; k < nkeys; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                         k ? ", " : "", keys[k]);
            return perr(c, "%s: unknown setting \"%s\" (expected %s)", tok[0], tok[i], list);
        }
        for (int j = 1; j < i; j += 2)
            if (strcmp(tok[i], tok[j]) == 0)
                return perr(c, "%s: \"%s\" given twice", tok[0], tok[i]);
    }
    for (int k = 0; k < nkeys; k++) {
        bool found = false;

        for (int i = 1; i < ntok; i += 2)
            found |= strcmp(tok[i], keys[k]) == 0;
        if (!found)
            return perr(c, "%s: missing \"%s\"", tok[0], keys[k]);
    }
    return 0;
}

static const char *value_of(char **tok, int ntok, const char *key)
{
    for (int i = 1; i + 1 < ntok; i += 2)
        if (strcmp(tok[i], key) == 0)
            return tok[i + 1];
    return NULL;
}

static int parse_allow(ctx_t *c, reg_policy_t *p, char **tok, int ntok)
{
    static const char *const keys[] = { "domain", "schemes", "queues" };
    rule_t r = { .line = c->line };
    const char *dom;

    if (check_pairs(c, tok, ntok, keys, 3) < 0)
        return -1;
    dom = value_of(tok, ntok, "domain");
    if (strcmp(dom, "*") == 0)
        r.any_domain = true;
    else if (parse_uint32(dom, REG_DOMID_LIMIT - 1, &r.domid) < 0)
        return perr(c, "allow: domain \"%s\" is not a domid (0-32751) or *", dom);
    if (split_globs(c, "schemes", value_of(tok, ntok, "schemes"), true, &r.schemes) < 0 ||
        split_globs(c, "queues", value_of(tok, ntok, "queues"), false, &r.queues) < 0 ||
        add_rule(p, &r) < 0) {
        rule_dispose(&r);
        return c->err && c->err->code ? -1 : perr(c, "out of memory");
    }
    return 0;
}

static int parse_scheme(ctx_t *c, reg_policy_t *p, char **tok, int ntok)
{
    static const char *const keys[] = { "priority", "plugin" };
    const char *scheme, *plugin, *prio;
    prio_t pr = { .line = c->line };
    prio_t *v;

    /* scheme SCHEME priority N plugin NAME: the scheme is the keyword's own argument. */
    if (ntok < 2)
        return perr(c, "scheme: expected \"scheme SCHEME priority N plugin NAME\"");
    scheme = tok[1];
    if (!reg_valid_scheme(scheme))
        return perr(c, "scheme: \"%s\" is not a URI scheme (a letter, then letters, digits, "
                    "+ - .)", scheme);
    if (check_pairs(c, tok + 1, ntok - 1, keys, 2) < 0)
        return -1;
    plugin = value_of(tok + 1, ntok - 1, "plugin");
    prio = value_of(tok + 1, ntok - 1, "priority");
    if (!reg_valid_name(plugin))
        return perr(c, "scheme %s: \"%s\" is not a plugin name", scheme, plugin);
    if (parse_int32(prio, &pr.value) < 0)
        return perr(c, "scheme %s: priority \"%s\" is not an integer (-2147483648 to "
                    "2147483647)", scheme, prio);
    for (size_t i = 0; i < p->nprios; i++)
        if (strcasecmp(p->prios[i].scheme, scheme) == 0 &&
            strcmp(p->prios[i].plugin, plugin) == 0)
            return perr(c, "scheme %s: plugin %s already has a priority (line %u)", scheme,
                        plugin, p->prios[i].line);
    if (!(pr.scheme = strdup(scheme)) || !(pr.plugin = strdup(plugin)) ||
        !(v = realloc(p->prios, (p->nprios + 1) * sizeof *v))) {
        free(pr.scheme);
        free(pr.plugin);
        return perr(c, "out of memory");
    }
    for (char *s = pr.scheme; *s; s++)
        *s = (char)tolower((unsigned char)*s);
    p->prios = v;
    p->prios[p->nprios++] = pr;
    return 0;
}

static int parse_line(ctx_t *c, reg_policy_t *p, char *line)
{
    char *tok[32];
    int ntok = 0;
    char *hash = strchr(line, '#'), *s, *save = NULL;

    if (hash)
        *hash = '\0';
    for (s = strtok_r(line, " \t\r\v\f", &save); s; s = strtok_r(NULL, " \t\r\v\f", &save)) {
        if (ntok == (int)(sizeof tok / sizeof tok[0]))
            return perr(c, "too many words on one line");
        tok[ntok++] = s;
    }
    if (ntok == 0)
        return 0;
    for (int i = 0; i < ntok; i++)
        for (const char *q = tok[i]; *q; q++)
            if ((unsigned char)*q < 0x20 || *q == 0x7f)
                return perr(c, "control character in \"%s\"", tok[0]);
    if (strcmp(tok[0], "allow") == 0)
        return parse_allow(c, p, tok, ntok);
    if (strcmp(tok[0], "scheme") == 0)
        return parse_scheme(c, p, tok, ntok);
    return perr(c, "unknown keyword \"%s\" (expected allow or scheme)", tok[0]);
}

reg_policy_t *reg_policy_parse(const char *text, size_t len, const char *origin,
                               reg_err_t *err)
{
    reg_policy_t *p = calloc(1, sizeof *p);
    ctx_t c = { .origin = origin ? origin : "policy", .line = 0, .err = err };
    size_t pos = 0;

    reg_err_clear(err);
    if (!p || !(p->origin = strdup(c.origin))) {
        reg_policy_free(&p);
        reg_err(err, XSP_E_SYSTEM, "out of memory");
        return NULL;
    }
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        char buf[LINE_MAX_BYTES + 1];

        c.line++;
        if (n > LINE_MAX_BYTES) {
            perr(&c, "line longer than %d bytes", LINE_MAX_BYTES);
            goto fail;
        }
        memcpy(buf, text + pos, n);
        buf[n] = '\0';
        if (memchr(buf, '\0', n)) {
            perr(&c, "NUL byte in the file");
            goto fail;
        }
        if (parse_line(&c, p, buf) < 0)
            goto fail;
        pos += n + (nl ? 1 : 0);
    }
    if (p->nrules == 0 && add_default_rule(p) < 0) {
        reg_err(err, XSP_E_SYSTEM, "out of memory");
        goto fail;
    }
    return p;
fail:
    reg_policy_free(&p);
    return NULL;
}

reg_policy_t *reg_policy_load(const char *path, reg_err_t *err)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    reg_policy_t *p;

    if (!f) {
        reg_err(err, XSP_E_SYSTEM, "cannot open policy file %s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t n;

        if (len == cap) {
            char *nb;

            if (cap >= POLICY_MAX_BYTES) {
                reg_err(err, XSP_E_INVALID_ARGUMENT, "policy file %s is larger than %u bytes",
                        path, POLICY_MAX_BYTES);
                goto fail;
            }
            cap = cap ? cap * 2 : 4096;
            if (!(nb = realloc(buf, cap))) {
                reg_err(err, XSP_E_SYSTEM, "out of memory reading %s", path);
                goto fail;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                reg_err(err, XSP_E_SYSTEM, "cannot read policy file %s: %s", path,
                        strerror(errno));
                goto fail;
            }
            break;
        }
    }
    fclose(f);
    p = reg_policy_parse(buf ? buf : "", len, path, err);
    free(buf);
    return p;
fail:
    fclose(f);
    free(buf);
    return NULL;
}

/* ------------------------------------------------------------------ questions */

static bool glob_any(const reg_strv_t *globs, const char *s)
{
    for (size_t i = 0; i < globs->n; i++)
        if (fnmatch(globs->v[i], s, 0) == 0)
            return true;
    return false;
}

/* The first scheme or queue of r that rule does not allow, or NULL if it allows all. */
static const char *first_refused(const rule_t *rule, const reg_t *r, bool *is_scheme)
{
    for (size_t i = 0; i < r->schemes.n; i++)
        if (!glob_any(&rule->schemes, r->schemes.v[i])) {
            *is_scheme = true;
            return r->schemes.v[i];
        }
    for (size_t i = 0; i < r->queues.n; i++)
        if (!glob_any(&rule->queues, r->queues.v[i])) {
            *is_scheme = false;
            return r->queues.v[i];
        }
    return NULL;
}

int reg_policy_check(const reg_policy_t *p, uint32_t domid, const reg_t *r, reg_err_t *err)
{
    const rule_t *closest = NULL;
    const char *what = NULL;
    bool is_scheme = false;

    for (size_t i = 0; i < p->nrules; i++) {
        const rule_t *rule = &p->rules[i];
        const char *refused;
        bool sch = false;

        if (!rule->any_domain && rule->domid != domid)
            continue;
        if (!(refused = first_refused(rule, r, &sch)))
            return 0;
        if (!closest) {
            closest = rule;
            what = refused;
            is_scheme = sch;
        }
    }
    if (!closest && p->default_rule && !p->builtin)
        reg_err(err, XSP_E_PERMISSION_DENIED,
                "domain %u may not register plugins (%s has no allow lines: only dom0 may)",
                domid, p->origin);
    else if (!closest)
        reg_err(err, XSP_E_PERMISSION_DENIED,
                "domain %u may not register plugins (no allow rule for it in %s)", domid,
                p->origin);
    else if (closest->line)
        reg_err(err, XSP_E_PERMISSION_DENIED,
                "domain %u may not register %s \"%s\" for plugin %s (%s:%u allows other %s)",
                domid, is_scheme ? "scheme" : "queue", what, r->name ? r->name : "",
                p->origin, closest->line, is_scheme ? "schemes" : "queues");
    else
        reg_err(err, XSP_E_PERMISSION_DENIED,
                "domain %u may not register %s \"%s\" for plugin %s (%s)", domid,
                is_scheme ? "scheme" : "queue", what, r->name ? r->name : "", p->origin);
    if (err)
        reg_err_detail(err, "reason", err->msg);
    return -1;
}

bool reg_policy_priority(const reg_policy_t *p, const char *scheme, const char *plugin,
                         int32_t *out)
{
    for (size_t i = 0; p && i < p->nprios; i++)
        if (strcasecmp(p->prios[i].scheme, scheme) == 0 &&
            strcmp(p->prios[i].plugin, plugin) == 0) {
            *out = p->prios[i].value;
            return true;
        }
    return false;
}

const char *reg_policy_origin(const reg_policy_t *p)
{
    return p->origin;
}

size_t reg_policy_rule_count(const reg_policy_t *p)
{
    return p->nrules;
}

size_t reg_policy_priority_count(const reg_policy_t *p)
{
    return p->nprios;
}

bool reg_policy_uses_default_rule(const reg_policy_t *p)
{
    return p->default_rule;
}

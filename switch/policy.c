/*  policy.c — the switch's access policy (policy.h).

    Owns: the parsed rules.  Never touches: sockets, sessions, logs.
    Policies are small (tens of lines): every question is a linear scan.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

#define MAX_PREFIXES 32
#define PREFIX_MAX 256

struct sw_rule {
    char who[96];
    char serve[MAX_PREFIXES][PREFIX_MAX];
    int nserve;
    char call[MAX_PREFIXES][PREFIX_MAX];
    int ncall;
    bool trace, diag, has_domid;
    uint32_t domid;
    int line;
};

struct sw_policy {
    char origin[256];
    sw_rule_t *rules;
    int nrules;
};

static bool is_sep(char c)
{
    return c == '.' || c == ':' || c == '/' || c == '@' || c == '+';
}

bool sw_prefix_match(const char *prefix, size_t plen, const char *queue, size_t qlen)
{
    if (plen == 1 && prefix[0] == '*')
        return true;
    if (plen == 0 || qlen < plen || memcmp(prefix, queue, plen) != 0)
        return false;
    return qlen == plen || is_sep(prefix[plen - 1]) || is_sep(queue[plen]);
}

static bool any_match(char (*list)[PREFIX_MAX], int n, const char *q, size_t len)
{
    for (int i = 0; i < n; i++)
        if (sw_prefix_match(list[i], strlen(list[i]), q, len))
            return true;
    return false;
}

static bool is_registrar(const char *q, size_t len)
{
    return sw_prefix_match(SW_REGISTRAR_QUEUE, strlen(SW_REGISTRAR_QUEUE), q, len);
}

bool sw_policy_may_serve(bool admin, const sw_rule_t *r, const char *q, size_t len)
{
    if (admin)
        return true;
    if (is_registrar(q, len))
        return false;
    return r && any_match((char (*)[PREFIX_MAX]) r->serve, r->nserve, q, len);
}

bool sw_policy_may_call(bool admin, const sw_rule_t *r, const char *q, size_t len)
{
    if (admin || is_registrar(q, len))
        return true;
    return r && any_match((char (*)[PREFIX_MAX]) r->call, r->ncall, q, len);
}

bool sw_policy_may_trace(bool admin, const sw_rule_t *r)
{
    return admin || (r && r->trace);
}

bool sw_policy_may_diag(bool admin, const sw_rule_t *r)
{
    return admin || (r && r->diag);
}

bool sw_rule_domid(const sw_rule_t *r, uint32_t *domid)
{
    if (!r || !r->has_domid)
        return false;
    *domid = r->domid;
    return true;
}

const sw_rule_t *sw_policy_rule(const sw_policy_t *p, const char *ident, bool has_domid, uint32_t domid)
{
    char dom[32];
    snprintf(dom, sizeof dom, "domid:%u", domid);
    const sw_rule_t *star = NULL, *bydom = NULL;
    for (int i = 0; p && i < p->nrules; i++) {
        const sw_rule_t *r = &p->rules[i];
        if (strcmp(r->who, ident) == 0)
            return r;
        if (has_domid && !bydom && strcmp(r->who, dom) == 0)
            bydom = r;
        if (!star && strcmp(r->who, "*") == 0)
            star = r;
    }
    return bydom ? bydom : star;
}

const char *sw_policy_origin(const sw_policy_t *p)
{
    return p->origin;
}

sw_policy_t *sw_policy_builtin(void)
{
    sw_policy_t *p = calloc(1, sizeof *p);
    if (p)
        snprintf(p->origin, sizeof p->origin, "built-in");
    return p;
}

void sw_policy_destroy(sw_policy_t **self_p)
{
    if (!*self_p)
        return;
    free((*self_p)->rules);
    free(*self_p);
    *self_p = NULL;
}

static bool queue_chars(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._-:/@+", *s)))
            return false;
    return true;
}

static int prefixes(char (*list)[PREFIX_MAX], int *n, char *val)
{
    for (char *save = NULL, *t = strtok_r(val, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_PREFIXES || strlen(t) >= PREFIX_MAX || (strcmp(t, "*") != 0 && !queue_chars(t)))
            return -1;
        snprintf(list[(*n)++], PREFIX_MAX, "%s", t);
    }
    return 0;
}

static bool who_ok(const char *w)
{
    if (strcmp(w, "*") == 0)
        return true;
    if (strncmp(w, "uid:", 4) == 0 || strncmp(w, "domid:", 6) == 0) {
        const char *d = w + (w[0] == 'u' ? 4 : 6);
        if (!*d)
            return false;
        for (; *d; d++)
            if (*d < '0' || *d > '9')
                return false;
        return true;
    }
    for (; *w; w++)
        if (*w <= 0x20 || *w >= 0x7f || *w == '#' || *w == ':')
            return false;
    return true;
}

__attribute__((format(printf, 5, 6)))
static sw_policy_t *fail(sw_policy_t *p, char *err, size_t errlen, int line, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "%s:%d: ", p->origin, line);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t) n < errlen)
        vsnprintf(err + n, errlen - (size_t) n, fmt, ap);
    va_end(ap);
    sw_policy_destroy(&p);
    return NULL;
}

sw_policy_t *sw_policy_parse(const char *text, size_t len, const char *origin, char *err, size_t errlen)
{
    sw_policy_t *p = sw_policy_builtin();
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(p->origin, sizeof p->origin, "%s", origin);
    size_t at = 0;
    for (int line = 1; at < len; line++) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t ll = nl ? (size_t) (nl - (text + at)) : len - at;
        char buf[4096];
        if (ll >= sizeof buf)
            return fail(p, err, errlen, line, "line longer than %zu bytes", sizeof buf - 1);
        memcpy(buf, text + at, ll);
        buf[ll] = '\0';
        at += ll + 1;
        if (memchr(buf, '\0', ll))
            return fail(p, err, errlen, line, "NUL byte in the line");
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL, *kw = strtok_r(buf, " \t\r", &save);
        if (!kw)
            continue;
        if (strcmp(kw, "peer") != 0)
            return fail(p, err, errlen, line, "unknown keyword '%s' (a line starts with 'peer')", kw);
        char *who = strtok_r(NULL, " \t\r", &save);
        if (!who || !who_ok(who) || strlen(who) >= sizeof p->rules[0].who)
            return fail(p, err, errlen, line, "'peer' wants an identity, uid:N, domid:N or '*'");
        for (int i = 0; i < p->nrules; i++)
            if (strcmp(p->rules[i].who, who) == 0)
                return fail(p, err, errlen, line, "'%s' already has a rule on line %d", who,
                            p->rules[i].line);
        sw_rule_t *t = realloc(p->rules, (size_t) (p->nrules + 1) * sizeof *t);
        if (!t)
            return fail(p, err, errlen, line, "out of memory");
        p->rules = t;
        sw_rule_t *r = &p->rules[p->nrules++];
        memset(r, 0, sizeof *r);
        r->line = line;
        snprintf(r->who, sizeof r->who, "%s", who);
        unsigned seen = 0;
        for (char *name; (name = strtok_r(NULL, " \t\r", &save));) {
            char *val = strtok_r(NULL, " \t\r", &save);
            static const char *const names[] = { "serve", "call", "trace", "diag", "domid" };
            int k = -1;
            for (int i = 0; i < 5; i++)
                if (strcmp(name, names[i]) == 0)
                    k = i;
            if (k < 0)
                return fail(p, err, errlen, line, "unknown word '%s' (serve, call, trace, diag, domid)", name);
            if (!val)
                return fail(p, err, errlen, line, "'%s' wants a value", name);
            if (seen & (1u << k))
                return fail(p, err, errlen, line, "'%s' given twice", name);
            seen |= 1u << k;
            if (k == 0 && prefixes(r->serve, &r->nserve, val) < 0)
                return fail(p, err, errlen, line, "'serve' wants up to %d comma-separated queue prefixes or '*'", MAX_PREFIXES);
            if (k == 1 && prefixes(r->call, &r->ncall, val) < 0)
                return fail(p, err, errlen, line, "'call' wants up to %d comma-separated queue prefixes or '*'", MAX_PREFIXES);
            if (k == 2 || k == 3) {
                bool yes = strcmp(val, "yes") == 0;
                if (!yes && strcmp(val, "no") != 0)
                    return fail(p, err, errlen, line, "'%s' is yes or no, not '%s'", name, val);
                if (k == 2)
                    r->trace = yes;
                else
                    r->diag = yes;
            }
            if (k == 4) {
                char *end;
                errno = 0;
                unsigned long d = strtoul(val, &end, 10);
                if (strncmp(who, "uid:", 4) != 0)
                    return fail(p, err, errlen, line, "'domid' is only for uid:N rules (a CURVE "
                                "identity's domid is in its certificate)");
                if (errno || *end || end == val || val[0] == '-' || d >= 32752)
                    return fail(p, err, errlen, line, "'domid' wants a Xen domid (0-32751), not '%s'", val);
                r->has_domid = true;
                r->domid = (uint32_t) d;
            }
        }
    }
    return p;
}

sw_policy_t *sw_policy_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "cannot read the policy file %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 > cap) {
            char *nb = cap > (1u << 20) ? NULL : realloc(buf, cap = cap ? cap * 2 : 8192);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s is too large for a policy file", path);
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errlen, "cannot read the policy file %s", path);
        return NULL;
    }
    sw_policy_t *p = sw_policy_parse(buf ? buf : "", len, path, err, errlen);
    free(buf);
    return p;
}

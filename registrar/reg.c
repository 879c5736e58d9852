/*  registrar/reg.c — registrations, errors, validation and syntax rules (see reg.h).

    Owns: the functions declared in reg.h.  Never touches: I/O, clocks, global state.
*/
#include "reg.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ errors */

int reg_err(reg_err_t *err, xsp_code_t code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -1;
    err->code = code;
    err->ndetail = 0;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void reg_err_detail(reg_err_t *err, const char *key, const char *val)
{
    if (!err || err->ndetail >= REG_ERR_DETAILS)
        return;
    snprintf(err->detail[err->ndetail].key, sizeof err->detail[0].key, "%s", key);
    snprintf(err->detail[err->ndetail].val, sizeof err->detail[0].val, "%s", val ? val : "");
    err->ndetail++;
}

const char *reg_err_get(const reg_err_t *err, const char *key)
{
    for (unsigned i = 0; err && i < err->ndetail; i++)
        if (strcmp(err->detail[i].key, key) == 0)
            return err->detail[i].val;
    return NULL;
}

void reg_err_clear(reg_err_t *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

/* ------------------------------------------------------------------ string vectors */

int reg_strv_push(reg_strv_t *sv, const char *s)
{
    char **v = realloc(sv->v, (sv->n + 1) * sizeof *v);
    char *c;

    if (!v)
        return -1;
    sv->v = v;
    if (!(c = strdup(s ? s : "")))
        return -1;
    sv->v[sv->n++] = c;
    return 0;
}

bool reg_strv_has(const reg_strv_t *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0)
            return true;
    return false;
}

void reg_strv_dispose(reg_strv_t *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

int reg_strv_copy(reg_strv_t *dst, const reg_strv_t *src)
{
    reg_strv_t out = { 0 };

    for (size_t i = 0; i < src->n; i++)
        if (reg_strv_push(&out, src->v[i]) < 0) {
            reg_strv_dispose(&out);
            return -1;
        }
    reg_strv_dispose(dst);
    *dst = out;
    return 0;
}

static bool strv_equal(const reg_strv_t *a, const reg_strv_t *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

/* ------------------------------------------------------------------ registrations */

void reg_init(reg_t *r)
{
    memset(r, 0, sizeof *r);
}

void reg_dispose(reg_t *r)
{
    if (!r)
        return;
    free(r->id);
    free(r->name);
    free(r->version);
    free(r->api_version);
    reg_strv_dispose(&r->schemes);
    reg_strv_dispose(&r->queues);
    reg_strv_dispose(&r->features);
    free(r->prio);
    memset(r, 0, sizeof *r);
}

static int dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    return (*dst = strdup(src)) ? 0 : -1;
}

int reg_copy(reg_t *dst, const reg_t *src)
{
    reg_t out;

    if (dst == src)
        return 0;
    out = *src;
    out.id = out.name = out.version = out.api_version = NULL;
    memset(&out.schemes, 0, sizeof out.schemes);
    memset(&out.queues, 0, sizeof out.queues);
    memset(&out.features, 0, sizeof out.features);
    out.prio = NULL;
    if (dup_opt(&out.id, src->id) < 0 || dup_opt(&out.name, src->name) < 0 ||
        dup_opt(&out.version, src->version) < 0 ||
        dup_opt(&out.api_version, src->api_version) < 0 ||
        reg_strv_copy(&out.schemes, &src->schemes) < 0 ||
        reg_strv_copy(&out.queues, &src->queues) < 0 ||
        reg_strv_copy(&out.features, &src->features) < 0)
        goto fail;
    if (src->prio && src->schemes.n) {
        if (!(out.prio = malloc(src->schemes.n * sizeof *out.prio)))
            goto fail;
        memcpy(out.prio, src->prio, src->schemes.n * sizeof *out.prio);
    }
    reg_dispose(dst);
    *dst = out;
    return 0;
fail:
    reg_dispose(&out);
    reg_dispose(dst);
    return -1;
}

void reg_move(reg_t *dst, reg_t *src)
{
    if (dst == src)
        return;
    reg_dispose(dst);
    *dst = *src;
    memset(src, 0, sizeof *src);
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

bool reg_equal(const reg_t *a, const reg_t *b)
{
    return str_eq(a->id, b->id) && str_eq(a->name, b->name) &&
           str_eq(a->version, b->version) && str_eq(a->api_version, b->api_version) &&
           a->kinds == b->kinds && strv_equal(&a->schemes, &b->schemes) &&
           strv_equal(&a->queues, &b->queues) && strv_equal(&a->features, &b->features) &&
           a->domid == b->domid && a->backend == b->backend &&
           a->has_backend_domid == b->has_backend_domid &&
           (!a->has_backend_domid || a->backend_domid == b->backend_domid) &&
           a->registered_at == b->registered_at;
}

const char *reg_kind_name(unsigned kind)
{
    switch (kind) {
    case REG_KIND_VOLUME: return "volume";
    case REG_KIND_DATAPATH: return "datapath";
    default: return NULL;
    }
}

unsigned reg_kind_from_name(const char *s)
{
    if (s && strcmp(s, "volume") == 0)
        return REG_KIND_VOLUME;
    if (s && strcmp(s, "datapath") == 0)
        return REG_KIND_DATAPATH;
    return 0;
}

const char *reg_backend_name(reg_backend_t b)
{
    switch (b) {
    case REG_BACKEND_FIXED: return "fixed";
    case REG_BACKEND_OWN_DOMAIN: return "own_domain";
    case REG_BACKEND_ON_DEMAND: return "on_demand";
    }
    return "unknown";
}

bool reg_backend_from_name(const char *s, reg_backend_t *out)
{
    static const reg_backend_t all[] = { REG_BACKEND_FIXED, REG_BACKEND_OWN_DOMAIN,
                                         REG_BACKEND_ON_DEMAND };

    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, reg_backend_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    return false;
}

/* ------------------------------------------------------------------ syntax */

static bool is_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool reg_valid_name(const char *s)
{
    size_t n;

    if (!s || !is_alnum((unsigned char)s[0]))
        return false;
    for (n = 0; s[n]; n++)
        if (!is_alnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-')
            return false;
    return n <= REG_NAME_MAX;
}

bool reg_valid_queue(const char *s)
{
    size_t n;

    if (!s || !s[0])
        return false;
    for (n = 0; s[n]; n++)
        if (!is_alnum((unsigned char)s[n]) && !strchr("._-:/@+", s[n]))
            return false;
    return n <= REG_QUEUE_MAX;
}

/* Length of the RFC 3986 scheme at the start of s (stopping at any other byte), 0 if s
   does not start with a letter. */
static size_t scheme_span(const char *s)
{
    size_t n = 0;

    if (!is_alpha((unsigned char)s[0]))
        return 0;
    while (is_alnum((unsigned char)s[n]) || s[n] == '+' || s[n] == '-' || s[n] == '.')
        n++;
    return n;
}

bool reg_valid_scheme(const char *s)
{
    size_t n;

    if (!s)
        return false;
    n = scheme_span(s);
    return n > 0 && s[n] == '\0' && n <= REG_SCHEME_MAX;
}

int reg_uri_scheme(const char *uri, char out[REG_SCHEME_MAX + 1], reg_err_t *err)
{
    size_t len, n;

    out[0] = '\0';
    if (!uri || !uri[0]) {
        reg_err(err, XSP_E_INVALID_ARGUMENT, "empty URI");
        goto bad;
    }
    len = strnlen(uri, REG_URI_MAX + 1);
    if (len > REG_URI_MAX) {
        reg_err(err, XSP_E_INVALID_ARGUMENT, "URI longer than %d bytes", REG_URI_MAX);
        goto bad;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)uri[i] <= 0x20 || uri[i] == 0x7f) {
            reg_err(err, XSP_E_INVALID_ARGUMENT,
                    "URI \"%.64s\" contains a space or control character at byte %zu", uri, i);
            goto bad;
        }
    n = scheme_span(uri);
    if (n == 0 || uri[n] != ':') {
        reg_err(err, XSP_E_INVALID_ARGUMENT,
                "URI \"%.64s\" does not start with a scheme (\"scheme:\", e.g. file:///path)",
                uri);
        goto bad;
    }
    if (n > REG_SCHEME_MAX) {
        reg_err(err, XSP_E_INVALID_ARGUMENT, "URI scheme longer than %d bytes",
                REG_SCHEME_MAX);
        goto bad;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)uri[i]);
    out[n] = '\0';
    return 0;
bad:
    reg_err_detail(err, "argument", "uri");
    return -1;
}

/* ------------------------------------------------------------------ validation */

static int bad_arg(reg_err_t *err, const char *arg, const char *fmt, const char *val)
{
    reg_err(err, XSP_E_INVALID_ARGUMENT, fmt, arg, val ? val : "");
    reg_err_detail(err, "argument", arg);
    return -1;
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static int check_text(const char *field, const char *s, size_t max, bool required,
                      reg_err_t *err)
{
    size_t n = strlen(s ? s : "");

    if (required && n == 0)
        return bad_arg(err, field, "%s must not be empty%s", NULL);
    if (n > max) {
        reg_err(err, XSP_E_INVALID_ARGUMENT, "%s is longer than %zu bytes", field, max);
        reg_err_detail(err, "argument", field);
        return -1;
    }
    if (s && !printable(s))
        return bad_arg(err, field, "%s contains a control character%s", NULL);
    return 0;
}

int reg_validate(reg_t *r, reg_err_t *err)
{
    char arg[32];

    if (!reg_valid_name(r->name))
        return bad_arg(err, "name",
                       "%s \"%.64s\" is not a plugin name (1-64 of A-Z a-z 0-9 _ -, "
                       "starting with a letter or digit)", r->name);
    if (check_text("version", r->version, REG_VERSION_MAX, true, err) < 0 ||
        check_text("api_version", r->api_version, REG_VERSION_MAX, true, err) < 0)
        return -1;
    if (r->kinds == 0 || (r->kinds & ~(unsigned)REG_KIND_ALL))
        return bad_arg(err, "kinds", "%s must be volume, datapath or both%s", NULL);

    if (r->schemes.n == 0)
        return bad_arg(err, "schemes", "%s: a plugin serves at least one URI scheme%s", NULL);
    if (r->schemes.n > REG_MAX_SCHEMES)
        return bad_arg(err, "schemes", "%s: more than 64 schemes%s", NULL);
    for (size_t i = 0; i < r->schemes.n; i++) {
        char *s = r->schemes.v[i];

        snprintf(arg, sizeof arg, "schemes[%zu]", i);
        if (!reg_valid_scheme(s))
            return bad_arg(err, arg,
                           "%s \"%.64s\" is not a URI scheme (a letter, then letters, digits, "
                           "+ - .)", s);
        for (char *p = s; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->schemes.v[j], s) == 0)
                return bad_arg(err, arg, "%s: scheme \"%s\" is listed twice", s);
    }

    if (r->queues.n == 0)
        return bad_arg(err, "queues", "%s: a plugin serves at least one queue%s", NULL);
    if (r->queues.n > REG_MAX_QUEUES)
        return bad_arg(err, "queues", "%s: more than 16 queues%s", NULL);
    for (size_t i = 0; i < r->queues.n; i++) {
        snprintf(arg, sizeof arg, "queues[%zu]", i);
        if (!reg_valid_queue(r->queues.v[i]))
            return bad_arg(err, arg,
                           "%s \"%.64s\" is not a queue name (1-255 of A-Z a-z 0-9 . _ - : / "
                           "@ +)", r->queues.v[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->queues.v[j], r->queues.v[i]) == 0)
                return bad_arg(err, arg, "%s: queue \"%s\" is listed twice", r->queues.v[i]);
    }

    switch (r->backend) {
    case REG_BACKEND_FIXED:
        if (!r->has_backend_domid)
            return bad_arg(err, "backend_policy.domid",
                           "%s is required when the backend policy is fixed%s", NULL);
        if (r->backend_domid >= REG_DOMID_LIMIT)
            return bad_arg(err, "backend_policy.domid", "%s is not a domid (below 32752)%s",
                           NULL);
        break;
    case REG_BACKEND_OWN_DOMAIN:
    case REG_BACKEND_ON_DEMAND:
        if (r->has_backend_domid)
            return bad_arg(err, "backend_policy.domid",
                           "%s is only allowed when the backend policy is fixed%s", NULL);
        break;
    default:
        return bad_arg(err, "backend_policy.kind", "%s is not fixed, own_domain or on_demand%s",
                       NULL);
    }

    if (r->features.n > REG_MAX_FEATURES)
        return bad_arg(err, "features", "%s: more than 256 features%s", NULL);
    for (size_t i = 0; i < r->features.n; i++) {
        snprintf(arg, sizeof arg, "features[%zu]", i);
        if (check_text(arg, r->features.v[i], REG_FEATURE_MAX, true, err) < 0)
            return -1;
    }
    if (r->domid >= REG_DOMID_LIMIT)
        return bad_arg(err, "domid", "%s is not a domid (below 32752)%s", NULL);
    return 0;
}

/* ------------------------------------------------------------------ sets by name */

/* Binary search: index of name, or -(insertion point) - 1. */
static long vec_search(const reg_vec_t *vec, const char *name)
{
    size_t lo = 0, hi = vec->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(vec->v[mid].name ? vec->v[mid].name : "", name);

        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

long reg_vec_find(const reg_vec_t *vec, const char *name)
{
    long i = vec_search(vec, name ? name : "");

    return i >= 0 ? i : -1;
}

int reg_vec_put_move(reg_vec_t *vec, reg_t *r)
{
    long i = vec_search(vec, r->name ? r->name : "");
    size_t at;

    if (i >= 0) {
        reg_move(&vec->v[i], r);
        return 0;
    }
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 8;
        reg_t *v = realloc(vec->v, cap * sizeof *v);

        if (!v)
            return -1;
        vec->v = v;
        vec->cap = cap;
    }
    at = (size_t)(-i - 1);
    memmove(&vec->v[at + 1], &vec->v[at], (vec->n - at) * sizeof *vec->v);
    vec->v[at] = *r;
    memset(r, 0, sizeof *r);
    vec->n++;
    return 0;
}

int reg_vec_put(reg_vec_t *vec, const reg_t *r)
{
    reg_t c = { 0 };

    if (reg_copy(&c, r) < 0)
        return -1;
    if (reg_vec_put_move(vec, &c) < 0) {
        reg_dispose(&c);
        return -1;
    }
    return 0;
}

void reg_vec_take(reg_vec_t *vec, size_t i, reg_t *out)
{
    if (out)
        reg_move(out, &vec->v[i]);
    else
        reg_dispose(&vec->v[i]);
    memmove(&vec->v[i], &vec->v[i + 1], (vec->n - i - 1) * sizeof *vec->v);
    vec->n--;
}

bool reg_vec_del(reg_vec_t *vec, const char *name)
{
    long i = reg_vec_find(vec, name);

    if (i < 0)
        return false;
    reg_vec_take(vec, (size_t)i, NULL);
    return true;
}

void reg_vec_dispose(reg_vec_t *vec)
{
    for (size_t i = 0; i < vec->n; i++)
        reg_dispose(&vec->v[i]);
    free(vec->v);
    memset(vec, 0, sizeof *vec);
}

int reg_vec_copy(reg_vec_t *dst, const reg_vec_t *src)
{
    reg_vec_t out = { 0 };

    for (size_t i = 0; i < src->n; i++)
        if (reg_vec_put(&out, &src->v[i]) < 0) {
            reg_vec_dispose(&out);
            reg_vec_dispose(dst);
            return -1;
        }
    reg_vec_dispose(dst);
    *dst = out;
    return 0;
}

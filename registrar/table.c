/*  registrar/table.c — the registration table (see table.h for the rules and the data
    structures).

    Owns: reg_table_t.  Never touches: I/O, clocks, logging, the policy (read only).
*/
#include "table.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct reg_table {
    reg_vec_t regs;                 /* sorted by name */
    const reg_policy_t *policy;     /* borrowed, or own_default */
    reg_policy_t *own_default;
    uint64_t id_seed, id_counter;
    reg_event_t *ring;
    size_t cap, count;
    uint64_t next_seq;
};

const char *reg_event_kind_name(reg_event_kind_t k)
{
    switch (k) {
    case REG_EV_ADDED: return "added";
    case REG_EV_REMOVED: return "removed";
    case REG_EV_CHANGED: return "changed";
    }
    return "unknown";
}

reg_table_t *reg_table_new(size_t event_capacity, uint64_t id_seed)
{
    reg_table_t *t = calloc(1, sizeof *t);

    if (!t)
        return NULL;
    t->cap = event_capacity ? event_capacity : REG_EVENTS_DEFAULT;
    t->ring = calloc(t->cap, sizeof *t->ring);
    t->own_default = reg_policy_default();
    if (!t->ring || !t->own_default) {
        reg_table_free(&t);
        return NULL;
    }
    t->policy = t->own_default;
    t->id_seed = id_seed;
    t->next_seq = 1;
    return t;
}

void reg_table_free(reg_table_t **tp)
{
    reg_table_t *t = tp ? *tp : NULL;

    if (!t)
        return;
    reg_vec_dispose(&t->regs);
    for (size_t i = 0; t->ring && i < t->cap; i++)
        reg_dispose(&t->ring[i].reg);
    free(t->ring);
    reg_policy_free(&t->own_default);
    free(t);
    *tp = NULL;
}

const reg_policy_t *reg_table_policy(const reg_table_t *t)
{
    return t->policy;
}

/* ------------------------------------------------------------------ events */

/* Append an event holding a copy of r.  Out of memory leaves the event with an empty
   registration (its seq and kind still tell the reader something changed). */
static void emit(reg_table_t *t, reg_event_kind_t kind, const reg_t *r)
{
    reg_event_t *ev = &t->ring[t->next_seq % t->cap];

    reg_dispose(&ev->reg);
    ev->seq = t->next_seq++;
    ev->kind = kind;
    if (reg_copy(&ev->reg, r) < 0)
        reg_init(&ev->reg);
    if (t->count < t->cap)
        t->count++;
}

uint64_t reg_table_next_seq(const reg_table_t *t)
{
    return t->next_seq;
}

size_t reg_table_events(const reg_table_t *t, uint64_t from_seq, size_t max,
                        const reg_event_t **out, uint64_t *next_seq, uint64_t *lost)
{
    uint64_t oldest = t->next_seq - t->count, s;
    size_t n = 0;

    *lost = 0;
    if (from_seq == 0)
        from_seq = oldest;
    if (from_seq >= t->next_seq) {
        *next_seq = t->next_seq;
        return 0;
    }
    if (from_seq < oldest) {
        *lost = oldest - from_seq;
        from_seq = oldest;
    }
    for (s = from_seq; s < t->next_seq && n < max; s++)
        out[n++] = &t->ring[s % t->cap];
    *next_seq = s;
    return n;
}

/* ------------------------------------------------------------------ ids */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static const reg_t *find_id(const reg_vec_t *v, const char *id)
{
    for (size_t i = 0; id && i < v->n; i++)
        if (v->v[i].id && strcmp(v->v[i].id, id) == 0)
            return &v->v[i];
    return NULL;
}

static char *new_id(reg_table_t *t, const char *name)
{
    char buf[REG_ID_MAX + 1];

    do
        snprintf(buf, sizeof buf, "%s.%016" PRIx64, name,
                 splitmix64(t->id_seed + ++t->id_counter));
    while (find_id(&t->regs, buf));
    return strdup(buf);
}

static bool valid_id(const char *id)
{
    size_t n = 0;

    if (!id)
        return false;
    for (; id[n]; n++)
        if ((unsigned char)id[n] <= 0x20 || id[n] == 0x7f)
            return false;
    return n > 0 && n <= REG_ID_MAX;
}

/* ------------------------------------------------------------------ admission */

static int32_t prio_of(const reg_t *r, size_t scheme_idx)
{
    return r->prio && r->prio[scheme_idx].set ? r->prio[scheme_idx].value : 0;
}

/* Fill r->prio from policy p. */
static int compute_prio(reg_t *r, const reg_policy_t *p)
{
    reg_prio_t *prio = NULL;

    if (r->schemes.n && !(prio = calloc(r->schemes.n, sizeof *prio)))
        return -1;
    for (size_t i = 0; i < r->schemes.n; i++)
        prio[i].set = reg_policy_priority(p, r->schemes.v[i], r->name, &prio[i].value);
    free(r->prio);
    r->prio = prio;
    return 0;
}

static bool prio_equal(const reg_t *a, const reg_t *b)
{
    if (a->schemes.n != b->schemes.n)
        return false;
    for (size_t i = 0; i < a->schemes.n; i++) {
        bool as = a->prio && a->prio[i].set, bs = b->prio && b->prio[i].set;

        if (as != bs || (as && a->prio[i].value != b->prio[i].value))
            return false;
    }
    return true;
}

static int conflict(reg_err_t *err, const reg_t *other, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int conflict(reg_err_t *err, const reg_t *other, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -1;
    err->code = XSP_E_PERMISSION_DENIED;
    err->ndetail = 0;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    reg_err_detail(err, "conflict", other->name);
    reg_err_detail(err, "reason", err->msg);
    return -1;
}

/* May r (validated, prio computed, domid set) join the registrations in `others` (those
   with r's name excepted)?  Policy first, then name, queues and schemes. */
static int admit(const reg_t *r, const reg_vec_t *others, const reg_policy_t *p,
                 reg_err_t *err)
{
    long same;

    if (reg_policy_check(p, r->domid, r, err) < 0)
        return -1;
    same = reg_vec_find(others, r->name);
    if (same >= 0 && others->v[same].domid != r->domid)
        return conflict(err, &others->v[same],
                        "plugin name %s is already registered from domain %u (this request "
                        "comes from domain %u)", r->name, others->v[same].domid, r->domid);
    for (size_t i = 0; i < others->n; i++) {
        const reg_t *o = &others->v[i];

        if ((long)i == same)
            continue;
        for (size_t q = 0; q < r->queues.n; q++)
            if (reg_strv_has(&o->queues, r->queues.v[q]))
                return conflict(err, o, "queue %s is already served by plugin %s (domain %u)",
                                r->queues.v[q], o->name, o->domid);
        if (!(r->kinds & o->kinds))
            continue;
        for (size_t s = 0; s < r->schemes.n; s++)
            for (size_t os = 0; os < o->schemes.n; os++) {
                bool rs, osx;

                if (strcmp(r->schemes.v[s], o->schemes.v[os]) != 0)
                    continue;
                rs = r->prio && r->prio[s].set;
                osx = o->prio && o->prio[os].set;
                if (!rs || !osx)
                    return conflict(err, o,
                                    "scheme %s is already served by plugin %s (domain %u); "
                                    "two plugins may share a scheme only with a priority for "
                                    "each in the policy (%s)",
                                    r->schemes.v[s], o->name, o->domid, reg_policy_origin(p));
                if (r->prio[s].value == o->prio[os].value)
                    return conflict(err, o,
                                    "scheme %s is already served by plugin %s with the same "
                                    "priority %" PRId32 " (%s): priorities must differ",
                                    r->schemes.v[s], o->name, o->prio[os].value,
                                    reg_policy_origin(p));
            }
    }
    return 0;
}

int reg_table_check(reg_table_t *t, const reg_t *req, uint32_t caller_domid,
                    const reg_add_opts_t *o, reg_t *out, reg_err_t *err)
{
    reg_t r = { 0 };

    reg_err_clear(err);
    if (reg_copy(&r, req) < 0)
        return reg_err(err, XSP_E_SYSTEM, "out of memory");
    free(r.prio);
    r.prio = NULL;
    r.confirmed = false;
    r.live_queues = 0;
    r.pending_since_ms = o->now_mono_ms;
    if (o->restore) {
        if (!valid_id(r.id)) {
            reg_err(err, XSP_E_INVALID_ARGUMENT, "stored registration %s has no valid id",
                    r.name ? r.name : "");
            reg_err_detail(err, "argument", "id");
            goto fail;
        }
        if (find_id(&t->regs, r.id)) {
            reg_err(err, XSP_E_INVALID_ARGUMENT, "registration id %s is already in use", r.id);
            reg_err_detail(err, "argument", "id");
            goto fail;
        }
    } else {
        free(r.id);
        r.id = NULL;
        r.domid = caller_domid;
        r.registered_at = o->now_wall_ms;
    }
    if (reg_validate(&r, err) < 0)
        goto fail;
    if (compute_prio(&r, t->policy) < 0) {
        reg_err(err, XSP_E_SYSTEM, "out of memory");
        goto fail;
    }
    if (admit(&r, &t->regs, t->policy, err) < 0)
        goto fail;
    if (!o->restore && !(r.id = new_id(t, r.name))) {
        reg_err(err, XSP_E_SYSTEM, "out of memory");
        goto fail;
    }
    reg_move(out, &r);
    return 0;
fail:
    reg_dispose(&r);
    return -1;
}

int reg_table_commit(reg_table_t *t, reg_t *r, const reg_t **stored)
{
    bool replaced = reg_vec_find(&t->regs, r->name) >= 0;
    char *name = strdup(r->name ? r->name : "");
    long i;

    if (!name || reg_vec_put_move(&t->regs, r) < 0) {
        free(name);
        return -1;
    }
    i = reg_vec_find(&t->regs, name);
    free(name);
    emit(t, replaced ? REG_EV_CHANGED : REG_EV_ADDED, &t->regs.v[i]);
    if (stored)
        *stored = &t->regs.v[i];
    return 0;
}

int reg_table_add(reg_table_t *t, const reg_t *req, uint32_t caller_domid,
                  const reg_add_opts_t *o, const reg_t **stored, reg_err_t *err)
{
    reg_t r = { 0 };

    if (reg_table_check(t, req, caller_domid, o, &r, err) < 0)
        return -1;
    if (reg_table_commit(t, &r, stored) < 0) {
        reg_dispose(&r);
        return reg_err(err, XSP_E_SYSTEM, "out of memory");
    }
    return 0;
}

/* ------------------------------------------------------------------ policy changes */

/* Order of re-admission: oldest registration first, then by name. */
static int by_age(const void *a, const void *b)
{
    const reg_t *x = a, *y = b;

    if (x->registered_at != y->registered_at)
        return x->registered_at < y->registered_at ? -1 : 1;
    return strcmp(x->name, y->name);
}

long reg_table_set_policy(reg_table_t *t, const reg_policy_t *p, reg_vec_t *dropped)
{
    const reg_policy_t *pol = p ? p : t->own_default;
    reg_t *order = NULL;
    reg_vec_t kept = { 0 };
    bool *refused = NULL;
    long ndropped = 0;
    size_t n = t->regs.n;

    /* Decide on copies first, so that running out of memory leaves the table as it was. */
    if (n && (!(order = calloc(n, sizeof *order)) || !(refused = calloc(n, sizeof *refused))))
        goto oom;
    for (size_t i = 0; i < n; i++)
        if (reg_copy(&order[i], &t->regs.v[i]) < 0)
            goto oom;
    if (n)
        qsort(order, n, sizeof *order, by_age);
    for (size_t i = 0; i < n; i++) {
        if (compute_prio(&order[i], pol) < 0)
            goto oom;
        if (admit(&order[i], &kept, pol, NULL) < 0) {
            refused[i] = true;
            continue;
        }
        if (reg_vec_put(&kept, &order[i]) < 0)
            goto oom;
    }

    /* Apply: events in age order, like the re-admission. */
    t->policy = pol;
    for (size_t i = 0; i < n; i++) {
        long at = reg_vec_find(&t->regs, order[i].name);

        if (refused[i]) {
            reg_t gone = { 0 };

            reg_table_remove_at(t, (size_t)at, &gone);
            if (!dropped || reg_vec_put_move(dropped, &gone) < 0)
                reg_dispose(&gone);
            ndropped++;
        } else if (!prio_equal(&t->regs.v[at], &order[i])) {
            reg_prio_t *tmp = t->regs.v[at].prio;

            t->regs.v[at].prio = order[i].prio;
            order[i].prio = tmp;
            emit(t, REG_EV_CHANGED, &t->regs.v[at]);
        }
    }
    for (size_t i = 0; i < n; i++)
        reg_dispose(&order[i]);
    free(order);
    free(refused);
    reg_vec_dispose(&kept);
    return ndropped;
oom:
    for (size_t i = 0; order && i < n; i++)
        reg_dispose(&order[i]);
    free(order);
    free(refused);
    reg_vec_dispose(&kept);
    return -1;
}

/* ------------------------------------------------------------------ removing */

void reg_table_remove_at(reg_table_t *t, size_t i, reg_t *removed)
{
    emit(t, REG_EV_REMOVED, &t->regs.v[i]);
    reg_vec_take(&t->regs, i, removed);
}

int reg_table_remove(reg_table_t *t, const char *id, uint32_t caller_domid, reg_t *removed,
                     reg_err_t *err)
{
    reg_err_clear(err);
    for (size_t i = 0; id && i < t->regs.n; i++) {
        const reg_t *r = &t->regs.v[i];

        if (!r->id || strcmp(r->id, id) != 0)
            continue;
        if (caller_domid != REG_CALLER_ANY && caller_domid != 0 && caller_domid != r->domid) {
            reg_err(err, XSP_E_PERMISSION_DENIED,
                    "domain %u may not unregister %s: it was registered from domain %u",
                    caller_domid, r->name, r->domid);
            reg_err_detail(err, "reason", err ? err->msg : "");
            return -1;
        }
        reg_table_remove_at(t, i, removed);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ reading */

size_t reg_table_count(const reg_table_t *t)
{
    return t->regs.n;
}

const reg_t *reg_table_at(const reg_table_t *t, size_t i)
{
    return i < t->regs.n ? &t->regs.v[i] : NULL;
}

const reg_t *reg_table_find_id(const reg_table_t *t, const char *id)
{
    return find_id(&t->regs, id);
}

const reg_t *reg_table_find_name(const reg_table_t *t, const char *name)
{
    long i = reg_vec_find(&t->regs, name);

    return i >= 0 ? &t->regs.v[i] : NULL;
}

static bool serves(const reg_t *r, const char *scheme, size_t *idx)
{
    for (size_t i = 0; i < r->schemes.n; i++)
        if (strcasecmp(r->schemes.v[i], scheme) == 0) {
            if (idx)
                *idx = i;
            return true;
        }
    return false;
}

int reg_table_list(const reg_table_t *t, const reg_filter_t *f, const reg_t ***out,
                   size_t *n, reg_err_t *err)
{
    const reg_t **v = NULL;
    size_t k = 0;

    reg_err_clear(err);
    *out = NULL;
    *n = 0;
    if (f && f->scheme && !reg_valid_scheme(f->scheme)) {
        reg_err(err, XSP_E_INVALID_ARGUMENT, "\"%.64s\" is not a URI scheme", f->scheme);
        reg_err_detail(err, "argument", "scheme");
        return -1;
    }
    if (t->regs.n && !(v = malloc(t->regs.n * sizeof *v)))
        return reg_err(err, XSP_E_SYSTEM, "out of memory");
    for (size_t i = 0; i < t->regs.n; i++) {
        const reg_t *r = &t->regs.v[i];

        if (f && f->scheme && !serves(r, f->scheme, NULL))
            continue;
        if (f && f->kinds && !(r->kinds & f->kinds))
            continue;
        if (f && f->has_domid && r->domid != f->domid)
            continue;
        v[k++] = r;
    }
    if (k == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = k;
    return 0;
}

/* Does a beat b for resolve (scheme index ai / bi in each)? */
static bool better(const reg_t *a, size_t ai, const reg_t *b, size_t bi, unsigned kinds)
{
    int32_t pa = prio_of(a, ai), pb = prio_of(b, bi);
    int c;

    if (pa != pb)
        return pa > pb;
    if (kinds == 0) {
        bool da = a->kinds & REG_KIND_DATAPATH, db = b->kinds & REG_KIND_DATAPATH;

        if (da != db)
            return da;
    }
    if (a->registered_at != b->registered_at)
        return a->registered_at < b->registered_at;
    c = strcmp(a->name, b->name);
    return c < 0;
}

int reg_table_resolve(const reg_table_t *t, const char *uri, unsigned kinds,
                      reg_resolved_t *out, reg_err_t *err)
{
    const reg_t *best = NULL;
    size_t best_idx = 0;

    reg_err_clear(err);
    memset(out, 0, sizeof *out);
    if (reg_uri_scheme(uri, out->scheme, err) < 0)
        return -1;
    for (size_t i = 0; i < t->regs.n; i++) {
        const reg_t *r = &t->regs.v[i];
        size_t idx;

        if (!serves(r, out->scheme, &idx) || (kinds && !(r->kinds & kinds)))
            continue;
        if (!best || better(r, idx, best, best_idx, kinds)) {
            best = r;
            best_idx = idx;
        }
    }
    if (!best) {
        if (kinds == REG_KIND_VOLUME || kinds == REG_KIND_DATAPATH)
            reg_err(err, XSP_E_NO_PLUGIN_FOR_URI,
                    "no live %s plugin serves URI scheme \"%s\"", reg_kind_name(kinds),
                    out->scheme);
        else
            reg_err(err, XSP_E_NO_PLUGIN_FOR_URI, "no live plugin serves URI scheme \"%s\"",
                    out->scheme);
        reg_err_detail(err, "scheme", out->scheme);
        return -1;
    }
    out->reg = best;
    out->queue = best->queues.v[0];
    for (size_t q = 0; q < best->queues.n && q < 32; q++)
        if (best->live_queues & (1u << q)) {
            out->queue = best->queues.v[q];
            break;
        }
    return 0;
}

/* ------------------------------------------------------------------ liveness marks */

void reg_table_set_live(reg_table_t *t, size_t i, uint32_t live_queues)
{
    reg_t *r = &t->regs.v[i];

    r->live_queues = live_queues;
    if (live_queues && !r->confirmed) {
        r->confirmed = true;
        emit(t, REG_EV_CHANGED, r);
    }
}

void reg_table_unconfirm_all(reg_table_t *t, uint64_t now_mono_ms)
{
    for (size_t i = 0; i < t->regs.n; i++) {
        t->regs.v[i].confirmed = false;
        t->regs.v[i].live_queues = 0;
        t->regs.v[i].pending_since_ms = now_mono_ms;
    }
}

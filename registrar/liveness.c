/*  registrar/liveness.c — DIAG parsing and the liveness reconciliation (see liveness.h).

    Owns: reg_diag_t and reg_liveness_reconcile.  Never touches: sockets, the store, clocks.
*/
#include "liveness.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ DIAG */

void reg_diag_dispose(reg_diag_t *d)
{
    for (size_t i = 0; d && i < d->n; i++)
        free(d->q[i].name);
    if (d) {
        free(d->q);
        memset(d, 0, sizeof *d);
    }
}

static long diag_search(const reg_diag_t *d, const char *name, size_t *ins)
{
    size_t lo = 0, hi = d->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(d->q[mid].name, name);

        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *ins = lo;
    return -1;
}

int reg_diag_add(reg_diag_t *d, const char *queue, uint64_t consumers)
{
    size_t at = 0;
    long i = diag_search(d, queue, &at);
    reg_diag_queue_t *v;
    char *name;

    if (i >= 0) {               /* a queue listed twice: its consumers add up */
        d->q[i].consumers += consumers;
        return 0;
    }
    if (!(name = strdup(queue)))
        return -1;
    if (!(v = realloc(d->q, (d->n + 1) * sizeof *v))) {
        free(name);
        return -1;
    }
    d->q = v;
    memmove(&d->q[at + 1], &d->q[at], (d->n - at) * sizeof *d->q);
    d->q[at].name = name;
    d->q[at].consumers = consumers;
    d->n++;
    return 0;
}

uint64_t reg_diag_consumers(const reg_diag_t *d, const char *queue)
{
    size_t at;
    long i = diag_search(d, queue, &at);

    return i >= 0 ? d->q[i].consumers : 0;
}

static bool key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    const char *p;
    uint32_t len;

    if (k->type == MSGPACK_OBJECT_STR) {
        p = k->via.str.ptr;
        len = k->via.str.size;
    } else if (k->type == MSGPACK_OBJECT_BIN) {
        p = k->via.bin.ptr;
        len = k->via.bin.size;
    } else {
        return false;
    }
    return len == n && memcmp(p, name, n) == 0;
}

static const msgpack_object *map_get(const msgpack_object *m, const char *key)
{
    for (uint32_t i = 0; i < m->via.map.size; i++)
        if (key_is(&m->via.map.ptr[i].key, key))
            return &m->via.map.ptr[i].val;
    return NULL;
}

static int parse_queues(const msgpack_object *arr, reg_diag_t *out, reg_err_t *err)
{
    for (uint32_t i = 0; i < arr->via.array.size; i++) {
        const msgpack_object *e = &arr->via.array.ptr[i], *name, *cons;
        char buf[REG_QUEUE_MAX + 1];
        uint32_t len;

        if (e->type != MSGPACK_OBJECT_MAP)
            return reg_err(err, XSP_E_DECODE, "DIAG queues[%u]: expected a map", i);
        name = map_get(e, "name");
        cons = map_get(e, "consumers");
        if (!name || (name->type != MSGPACK_OBJECT_STR && name->type != MSGPACK_OBJECT_BIN))
            return reg_err(err, XSP_E_DECODE, "DIAG queues[%u].name: missing or not a string",
                           i);
        if (!cons || cons->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return reg_err(err, XSP_E_DECODE,
                           "DIAG queues[%u].consumers: missing or not an unsigned integer", i);
        len = name->type == MSGPACK_OBJECT_STR ? name->via.str.size : name->via.bin.size;
        if (len == 0 || len > REG_QUEUE_MAX)
            return reg_err(err, XSP_E_DECODE, "DIAG queues[%u].name: %u bytes", i, len);
        memcpy(buf, name->type == MSGPACK_OBJECT_STR ? name->via.str.ptr : name->via.bin.ptr,
               len);
        buf[len] = '\0';
        if (strlen(buf) != len)
            return reg_err(err, XSP_E_DECODE, "DIAG queues[%u].name: NUL byte", i);
        if (reg_diag_add(out, buf, cons->via.u64) < 0)
            return reg_err(err, XSP_E_SYSTEM, "out of memory");
    }
    return 0;
}

int reg_diag_parse(const void *buf, size_t len, reg_diag_t *out, reg_err_t *err)
{
    msgpack_unpacked u;
    size_t off = 0;
    const msgpack_object *queues, *hb;
    int rc = -1;

    reg_err_clear(err);
    memset(out, 0, sizeof *out);
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS) {
        reg_err(err, XSP_E_DECODE, "DIAG reply: not one well-formed msgpack value");
        goto out;
    }
    if (off != len) {
        reg_err(err, XSP_E_DECODE, "DIAG reply: %zu bytes after the map", len - off);
        goto out;
    }
    if (u.data.type != MSGPACK_OBJECT_MAP) {
        reg_err(err, XSP_E_DECODE, "DIAG reply: expected a map");
        goto out;
    }
    if (!(queues = map_get(&u.data, "queues")) || queues->type != MSGPACK_OBJECT_ARRAY) {
        reg_err(err, XSP_E_DECODE, "DIAG reply: \"queues\" missing or not an array");
        goto out;
    }
    if (parse_queues(queues, out, err) < 0)
        goto out;
    if ((hb = map_get(&u.data, "heartbeat_ms")) && hb->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        out->has_heartbeat = true;
        out->heartbeat_ms = hb->via.u64;
    }
    rc = 0;
out:
    if (rc < 0)
        reg_diag_dispose(out);
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* ------------------------------------------------------------------ reconciliation */

void reg_reconcile_dispose(reg_reconcile_t *r)
{
    if (!r)
        return;
    reg_vec_dispose(&r->removed);
    memset(r, 0, sizeof *r);
}

int reg_liveness_reconcile(reg_table_t *t, const reg_diag_t *diag, uint64_t now_mono_ms,
                           uint64_t grace_ms, reg_reconcile_t *out)
{
    size_t i = 0;
    int rc = 0;

    memset(out, 0, sizeof *out);
    while (i < reg_table_count(t)) {
        const reg_t *r = reg_table_at(t, i);
        uint32_t live = 0;
        bool dead;

        for (size_t q = 0; q < r->queues.n && q < 32; q++)
            if (reg_diag_consumers(diag, r->queues.v[q]) > 0)
                live |= 1u << q;
        if (live) {
            if (!r->confirmed)
                out->confirmed++;
            reg_table_set_live(t, i, live);
            i++;
            continue;
        }
        /* confirmed and now without consumers: the plugin died (or unsubscribed all);
           never confirmed: give it grace_ms from when it was added or recovered. */
        dead = r->confirmed || (now_mono_ms >= r->pending_since_ms &&
                                now_mono_ms - r->pending_since_ms >= grace_ms);
        if (!dead) {
            reg_table_set_live(t, i, 0);
            out->pending++;
            i++;
            continue;
        }
        {
            reg_t gone = { 0 };

            reg_table_remove_at(t, i, &gone);
            if (reg_vec_put_move(&out->removed, &gone) < 0) {
                reg_dispose(&gone);
                rc = -1;
            }
        }
    }
    return rc;
}

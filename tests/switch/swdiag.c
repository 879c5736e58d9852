/*  swdiag.c — see swdiag.h. */
#include "swdiag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next_corr = 0x5d1a0000;

swd_t *swd_fetch(rp_t *obs)
{
    uint64_t corr = __atomic_add_fetch(&next_corr, 1, __ATOMIC_RELAXED);
    rp_diag(obs, corr);
    rp_msg_t m = { 0 };
    rp_expect_cmd(obs, &m, XSP_CMD_DIAG_REPLY);
    CHECK_U(m.h.corr, ==, corr);
    CHECKF(m.nframes == 2 && m.payload_len > 0, "DIAG_REPLY without a payload");
    swd_t *d = calloc(1, sizeof *d);
    CHECK(d);
    d->bytes = m.payload;
    d->len = m.payload_len;
    m.payload = NULL;
    rp_msg_clear(&m);
    msgpack_unpacked_init(&d->up);
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack_next(&d->up, (const char *) d->bytes, d->len, &off);
    CHECKF(rc == MSGPACK_UNPACK_SUCCESS, "DIAG_REPLY payload is not msgpack (rc %d)", (int) rc);
    CHECKF(off == d->len, "DIAG_REPLY payload has %zu trailing bytes", d->len - off);
    d->root = &d->up.data;
    CHECKF(d->root->type == MSGPACK_OBJECT_MAP, "DIAG_REPLY payload is not a map");
    return d;
}

void swd_free(swd_t *d)
{
    if (!d)
        return;
    msgpack_unpacked_destroy(&d->up);
    free(d->bytes);
    free(d);
}

static bool key_eq(const msgpack_object *k, const char *key, size_t len)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == len && memcmp(k->via.str.ptr, key, len) == 0;
}

static const msgpack_object *get_n(const msgpack_object *map, const char *key, size_t len)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (key_eq(&map->via.map.ptr[i].key, key, len))
            return &map->via.map.ptr[i].val;
    return NULL;
}

const msgpack_object *swd_get(const msgpack_object *map, const char *key)
{
    return get_n(map, key, strlen(key));
}

static const msgpack_object *lookup(const swd_t *d, const char *path)
{
    const msgpack_object *o = d->root;
    const char *p = path;
    while (o && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t) (dot - p) : strlen(p);
        o = get_n(o, p, len);
        p += len + (dot ? 1 : 0);
    }
    return o;
}

bool swd_try_u(const swd_t *d, const char *path, uint64_t *out)
{
    const msgpack_object *o = lookup(d, path);
    if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *out = o->via.u64;
    return true;
}

uint64_t swd_u(const swd_t *d, const char *path)
{
    const msgpack_object *o = lookup(d, path);
    CHECKF(o, "DIAG has no '%s'", path);
    CHECKF(o->type == MSGPACK_OBJECT_POSITIVE_INTEGER, "DIAG '%s' is not a uint (type %d)", path, (int) o->type);
    return o->via.u64;
}

uint64_t swd_obj_u(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = swd_get(map, key);
    CHECKF(o, "DIAG entry has no '%s'", key);
    CHECKF(o->type == MSGPACK_OBJECT_POSITIVE_INTEGER, "DIAG '%s' is not a uint (type %d)", key, (int) o->type);
    return o->via.u64;
}

bool swd_obj_str_eq(const msgpack_object *map, const char *key, const char *s)
{
    const msgpack_object *o = swd_get(map, key);
    CHECKF(o, "DIAG entry has no '%s'", key);
    CHECKF(o->type == MSGPACK_OBJECT_STR, "DIAG '%s' is not a str", key);
    return o->via.str.size == strlen(s) && memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

bool swd_obj_bool(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = swd_get(map, key);
    CHECKF(o, "DIAG entry has no '%s'", key);
    CHECKF(o->type == MSGPACK_OBJECT_BOOLEAN, "DIAG '%s' is not a bool", key);
    return o->via.boolean;
}

static const msgpack_object *array_of(const swd_t *d, const char *key)
{
    const msgpack_object *a = swd_get(d->root, key);
    CHECKF(a && a->type == MSGPACK_OBJECT_ARRAY, "DIAG '%s' is not an array", key);
    return a;
}

const msgpack_object *swd_queue(const swd_t *d, const char *name)
{
    const msgpack_object *a = array_of(d, "queues");
    for (uint32_t i = 0; i < a->via.array.size; i++) {
        const msgpack_object *q = &a->via.array.ptr[i];
        if (swd_obj_str_eq(q, "name", name))
            return q;
    }
    return NULL;
}

const msgpack_object *swd_peer(const swd_t *d, uint64_t id)
{
    const msgpack_object *a = array_of(d, "peers");
    for (uint32_t i = 0; i < a->via.array.size; i++) {
        const msgpack_object *p = &a->via.array.ptr[i];
        if (swd_obj_u(p, "id") == id)
            return p;
    }
    return NULL;
}

uint32_t swd_nqueues(const swd_t *d)
{
    return array_of(d, "queues")->via.array.size;
}

uint32_t swd_npeers(const swd_t *d)
{
    return array_of(d, "peers")->via.array.size;
}

int64_t swd_sub_credit(const swd_t *d, uint64_t id, const char *queue)
{
    const msgpack_object *p = swd_peer(d, id);
    CHECKF(p, "DIAG has no peer %llu", (unsigned long long) id);
    const msgpack_object *subs = swd_get(p, "subscriptions");
    CHECKF(subs && subs->type == MSGPACK_OBJECT_ARRAY, "peer subscriptions is not an array");
    for (uint32_t i = 0; i < subs->via.array.size; i++)
        if (swd_obj_str_eq(&subs->via.array.ptr[i], "queue", queue))
            return (int64_t) swd_obj_u(&subs->via.array.ptr[i], "credit");
    return -1;
}

uint64_t swd_now_u(rp_t *obs, const char *path)
{
    swd_t *d = swd_fetch(obs);
    uint64_t v = swd_u(d, path);
    swd_free(d);
    return v;
}

int64_t swd_now_queue(rp_t *obs, const char *queue, const char *field)
{
    swd_t *d = swd_fetch(obs);
    const msgpack_object *q = swd_queue(d, queue);
    int64_t v = q ? (int64_t) swd_obj_u(q, field) : -1;
    swd_free(d);
    return v;
}

bool swd_now_peer_present(rp_t *obs, uint64_t id)
{
    swd_t *d = swd_fetch(obs);
    bool present = swd_peer(d, id) != NULL;
    swd_free(d);
    return present;
}

/*  map.c — see map.h for the data structure. */
#include "map.h"

#include <stdlib.h>
#include <string.h>

/*  Eight bytes at a time (keys are short: routing ids, msg ids, queue names), then a final
    avalanche so that sequential ids spread over the low bits the table uses. */
static uint64_t hash_bytes(const void *key, size_t len)
{
    const uint8_t *p = key;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        len -= 8;
    }
    if (len) {
        uint64_t w = 0;
        memcpy(&w, p, len);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
    }
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

int sw_map_init(sw_map_t *m, size_t cap)
{
    size_t c = 16;
    while (c < cap)
        c <<= 1;
    m->slots = calloc(c, sizeof *m->slots);
    m->cap = m->slots ? c : 0;
    m->count = 0;
    return m->slots ? 0 : -1;
}

void sw_map_dispose(sw_map_t *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

static size_t find(const sw_map_t *m, uint64_t h, const void *key, size_t klen)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const sw_map_slot_t *s = &m->slots[i];
        if (!s->val || (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0))
            return i;
    }
}

void *sw_map_get(const sw_map_t *m, const void *key, size_t klen)
{
    return m->slots[find(m, hash_bytes(key, klen), key, klen)].val;
}

static int grow(sw_map_t *m)
{
    sw_map_t n;
    if (sw_map_init(&n, m->cap * 2))
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        sw_map_slot_t *s = &m->slots[i];
        if (s->val)
            n.slots[find(&n, s->hash, s->key, s->klen)] = *s;
    }
    n.count = m->count;
    free(m->slots);
    *m = n;
    return 0;
}

int sw_map_put(sw_map_t *m, const void *key, size_t klen, void *val)
{
    if ((m->count + 1) * 10 > m->cap * 7 && grow(m))
        return -1;
    uint64_t h = hash_bytes(key, klen);
    sw_map_slot_t *s = &m->slots[find(m, h, key, klen)];
    if (!s->val)
        m->count++;
    *s = (sw_map_slot_t) { h, key, (uint32_t) klen, val };
    return 0;
}

void *sw_map_del(sw_map_t *m, const void *key, size_t klen)
{
    size_t mask = m->cap - 1;
    size_t i = find(m, hash_bytes(key, klen), key, klen);
    void *val = m->slots[i].val;
    if (!val)
        return NULL;
    /* backward-shift: move later entries of the probe run into the hole when their home
       slot is not between the hole and their current position */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].val)
            break;
        size_t home = m->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].val = NULL;
    m->count--;
    return val;
}

/*  map.h — an open-addressing hash map from byte-string keys to pointers.

    Owns: its slot array.  Never touches: keys or values — the map stores a pointer to the
    key bytes, which must live inside the value (peer->rid, queue->name, msg->id) and stay
    unchanged while the entry exists.  No allocation per insert; the slot array doubles at
    70 % load and never shrinks.

    Data structure: slots[] of {hash, key ptr, key len, value}, capacity a power of two,
    linear probing; deletion shifts the following run back so there are no tombstones.
    Not thread-safe (the switch is single-threaded).
*/
#ifndef SW_MAP_H
#define SW_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t hash;
    const void *key;
    uint32_t klen;
    void *val;          /* NULL = empty slot */
} sw_map_slot_t;

typedef struct {
    sw_map_slot_t *slots;
    size_t cap, count;
} sw_map_t;

int sw_map_init(sw_map_t *m, size_t initial_cap);
void sw_map_dispose(sw_map_t *m);
void *sw_map_get(const sw_map_t *m, const void *key, size_t klen);
/*  Insert; the key must not be present.  Returns 0, or -1 when memory ran out. */
int sw_map_put(sw_map_t *m, const void *key, size_t klen, void *val);
/*  Remove; returns the value or NULL. */
void *sw_map_del(sw_map_t *m, const void *key, size_t klen);

#endif

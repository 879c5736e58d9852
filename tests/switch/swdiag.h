/*  swdiag.h — fetch and read the switch's DIAG report (docs/protocol.md §9) in tests.

    Owns: one decoded DIAG_REPLY payload (msgpack-c object tree + the bytes it points
    into).  Lookups by dotted path ("counters.late_replies"), by queue name, by peer id.
    A missing key or a value of the wrong type fails the test (the report is normative).
    Never touches: anything but the peer used to ask.
*/
#ifndef SWDIAG_H
#define SWDIAG_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "rawpeer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    msgpack_unpacked up;
    uint8_t *bytes;             /* the payload the tree points into */
    size_t len;
    const msgpack_object *root;
} swd_t;

/*  Send DIAG from obs and wait for its DIAG_REPLY; any other message in between (but
    heartbeats) fails the test, so use a peer that receives nothing else. */
swd_t *swd_fetch(rp_t *obs);
void swd_free(swd_t *d);

/*  Child of a map by key, or NULL. */
const msgpack_object *swd_get(const msgpack_object *map, const char *key);
/*  uint at a dotted path from the root ("counters.sent", "limits.max_depth"). */
uint64_t swd_u(const swd_t *d, const char *path);
/*  Like swd_u, but for keys the spec does not list (extensions): false when absent. */
bool swd_try_u(const swd_t *d, const char *path, uint64_t *out);
/*  uint under a map (fails when missing / not a uint). */
uint64_t swd_obj_u(const msgpack_object *map, const char *key);
/*  string under a map equals s. */
bool swd_obj_str_eq(const msgpack_object *map, const char *key, const char *s);
/*  bool under a map. */
bool swd_obj_bool(const msgpack_object *map, const char *key);
/*  The queue / peer entry, or NULL. */
const msgpack_object *swd_queue(const swd_t *d, const char *name);
const msgpack_object *swd_peer(const swd_t *d, uint64_t id);
/*  Number of entries in "queues" / "peers". */
uint32_t swd_nqueues(const swd_t *d);
uint32_t swd_npeers(const swd_t *d);
/*  The credit of peer `id`'s subscription to queue, or -1 when there is none. */
int64_t swd_sub_credit(const swd_t *d, uint64_t id, const char *queue);

/*  One-shot helpers (fetch, read, free). */
uint64_t swd_now_u(rp_t *obs, const char *path);
/*  A queue's field, or -1 when the queue does not exist. */
int64_t swd_now_queue(rp_t *obs, const char *queue, const char *field);
/*  Is peer id in the report? */
bool swd_now_peer_present(rp_t *obs, uint64_t id);

#ifdef __cplusplus
}
#endif
#endif

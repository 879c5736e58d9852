/*  registrar/table.h — the in-memory registration table: who is registered, who wins a
    URI, and the ring of change events `watch` reads.

    Owns: every live registration (copies), their ids, the policy's priorities for them,
    their liveness marks, and a bounded ring of watch events with sequence numbers.
    Never touches: I/O, clocks (callers pass the time in), randomness (callers pass a seed),
    logging, the store (the caller persists what the table accepts), the policy (borrowed,
    read-only).

    DATA STRUCTURES

        regs     reg_vec_t, sorted by plugin name (names are unique).  Registrations number
                 in the tens: id lookups and resolve are linear scans.
        ring     `cap` reg_event_t slots; the event with sequence number s lives in slot
                 s % cap.  Events held: seq in [next_seq - count, next_seq).  Sequence
                 numbers start at 1; a full ring overwrites its oldest event (a reader that
                 asks for it is told how many it lost).
        ids      "<name>.<16 hex digits>": splitmix64(seed + counter), a bijection, so ids
                 of one table never repeat, and with a random seed per registrar start they
                 are neither guessable nor reused across restarts.

    Rules (docs/registrar.md):
      * a request is validated (reg_validate), then checked against the policy with the
        CALLER's domid (the switch's DELIVER domid), never a domid from the request body;
      * a name registered from another domain is a conflict; from the same domain the new
        registration replaces the old one (new id, event `changed`);
      * no queue may belong to two registrations;
      * two registrations with a common kind may share a scheme only when the policy gives
        each of them a priority for it, and the priorities differ;
      * resolve(uri): the scheme is parsed from the URI; among the registrations serving it
        (and of the requested kind), the highest priority wins (no priority = 0); on a tie,
        a datapath plugin before a volume one when no kind was asked, then the earliest
        registered_at, then the name.

    Two-phase add, so that nothing is admitted that could not be stored:
        reg_table_check()  -> a complete registration (id, domid, priorities), table unchanged
        store it (registrar/store.h)
        reg_table_commit() -> in the table, event emitted
    with no other change to the table in between (the registrar is single-threaded).

    Thread-safety: none; one thread owns a table.  Pointers returned into the table
    (reg_table_at, find, list, resolve, events) stay valid until the next call that changes
    the table (check does not change it).
*/
#ifndef XSP_REGISTRAR_TABLE_H
#define XSP_REGISTRAR_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "reg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define REG_EVENTS_DEFAULT 1024
#define REG_CALLER_ANY UINT32_MAX   /* remove: no permission check (the registrar itself) */

typedef struct reg_table reg_table_t;

typedef enum {
    REG_EV_ADDED = 0,
    REG_EV_REMOVED,
    REG_EV_CHANGED,
} reg_event_kind_t;

typedef struct {
    uint64_t seq;
    reg_event_kind_t kind;
    reg_t reg;              /* the registration after the change (removed: as it was) */
} reg_event_t;

/*  event_capacity 0 = REG_EVENTS_DEFAULT.  id_seed: any number, random per process start.
    NULL when out of memory.  The table starts with the built-in policy. */
reg_table_t *reg_table_new(size_t event_capacity, uint64_t id_seed);
void reg_table_free(reg_table_t **t);

const char *reg_event_kind_name(reg_event_kind_t k);

/* ------------------------------------------------------------------ policy */

/*  Use policy p (borrowed: it must outlive the table or the next set_policy; NULL = the
    built-in policy).  Re-admits every registration, oldest first, under p: those p refuses
    (or that now conflict) are removed (event `removed`) and moved into *dropped (may be
    NULL: then they are freed); those whose priorities changed get event `changed`.
    Returns the number dropped, or -1 when out of memory (table unchanged). */
long reg_table_set_policy(reg_table_t *t, const reg_policy_t *p, reg_vec_t *dropped);
const reg_policy_t *reg_table_policy(const reg_table_t *t);

/* ------------------------------------------------------------------ adding */

typedef struct {
    uint64_t now_wall_ms;   /* registered_at of a new registration (Unix ms) */
    uint64_t now_mono_ms;   /* the liveness grace period starts here */
    bool restore;           /* req is a stored registration being recovered: keep its id,
                               domid and registered_at (caller_domid is ignored) */
} reg_add_opts_t;

/*  Everything reg_table_add checks, without changing the table: on success *out (disposed
    first) is the registration to store and then commit.  Errors: XSP_E_INVALID_ARGUMENT
    (detail argument), XSP_E_PERMISSION_DENIED (detail reason; conflicts also detail
    conflict = the other plugin's name), XSP_E_SYSTEM (out of memory). */
int reg_table_check(reg_table_t *t, const reg_t *req, uint32_t caller_domid,
                    const reg_add_opts_t *o, reg_t *out, reg_err_t *err);
/*  Put r (from reg_table_check, moved in: r becomes empty) into the table, replacing a
    registration of the same name (event `changed`, its id gone) or not (event `added`).
    *stored (may be NULL) points at it in the table.  0, or -1 when out of memory (r kept). */
int reg_table_commit(reg_table_t *t, reg_t *r, const reg_t **stored);
/*  check + commit. */
int reg_table_add(reg_table_t *t, const reg_t *req, uint32_t caller_domid,
                  const reg_add_opts_t *o, const reg_t **stored, reg_err_t *err);

/* ------------------------------------------------------------------ removing */

/*  Remove registration id.  caller_domid must be the registration's domid or 0, unless
    REG_CALLER_ANY.  Returns 1 (removed; moved into *removed when not NULL; event
    `removed`), 0 (no such id), -1 (XSP_E_PERMISSION_DENIED, detail reason). */
int reg_table_remove(reg_table_t *t, const char *id, uint32_t caller_domid, reg_t *removed,
                     reg_err_t *err);
/*  Remove entry i (0 <= i < count): moved into *removed when not NULL; event `removed`. */
void reg_table_remove_at(reg_table_t *t, size_t i, reg_t *removed);

/* ------------------------------------------------------------------ reading */

size_t reg_table_count(const reg_table_t *t);
/*  Entry i, in name order. */
const reg_t *reg_table_at(const reg_table_t *t, size_t i);
const reg_t *reg_table_find_id(const reg_table_t *t, const char *id);
const reg_t *reg_table_find_name(const reg_table_t *t, const char *name);

typedef struct {
    const char *scheme;     /* NULL = any; compared case-insensitively */
    unsigned kinds;         /* 0 = any; else registrations having one of these kinds */
    bool has_domid;
    uint32_t domid;
} reg_filter_t;

/*  The registrations matching f (NULL = all), in name order: *out is a malloc'd array of
    *n pointers into the table (free() it; NULL when *n is 0).  0, or -1 with
    XSP_E_INVALID_ARGUMENT (filter scheme malformed; detail argument=scheme) or
    XSP_E_SYSTEM. */
int reg_table_list(const reg_table_t *t, const reg_filter_t *f, const reg_t ***out,
                   size_t *n, reg_err_t *err);

typedef struct {
    const reg_t *reg;       /* the winner (borrowed) */
    const char *queue;      /* its first queue with a consumer (else its first queue) */
    char scheme[REG_SCHEME_MAX + 1];
} reg_resolved_t;

/*  The live registration serving uri's scheme (kinds 0 = any kind).  Errors:
    XSP_E_INVALID_ARGUMENT (malformed URI, detail argument=uri), XSP_E_NO_PLUGIN_FOR_URI
    (detail scheme = the scheme). */
int reg_table_resolve(const reg_table_t *t, const char *uri, unsigned kinds,
                      reg_resolved_t *out, reg_err_t *err);

/* ------------------------------------------------------------------ liveness marks */

/*  Record which of entry i's queues have consumers (bit j = queues.v[j]).  The first time
    any bit is set the registration becomes confirmed (event `changed`).  Used by
    registrar/liveness.c. */
void reg_table_set_live(reg_table_t *t, size_t i, uint32_t live_queues);
/*  Make every registration unconfirmed again, its grace period starting at now_mono_ms:
    after the switch restarted (or could not be asked), plugins need time to reconnect and
    subscribe before their absence means anything.  No events. */
void reg_table_unconfirm_all(reg_table_t *t, uint64_t now_mono_ms);

/* ------------------------------------------------------------------ watch events */

/*  The sequence number the next event will get (1 for a new table). */
uint64_t reg_table_next_seq(const reg_table_t *t);
/*  Events with seq >= from_seq, oldest first, at most max, into out[] (pointers into the
    ring).  from_seq 0 = the oldest held; beyond the newest = from now.  *next_seq = where
    to continue; *lost = events from from_seq on that have left the ring.  Returns the
    number written. */
size_t reg_table_events(const reg_table_t *t, uint64_t from_seq, size_t max,
                        const reg_event_t **out, uint64_t *next_seq, uint64_t *lost);

#ifdef __cplusplus
}
#endif
#endif

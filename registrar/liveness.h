/*  registrar/liveness.h — a registration lives only while its plugin does.

    Owns: parsing the part of a switch DIAG reply the registrar needs (queues and their
    consumer counts, heartbeat_ms; docs/protocol.md §9), and the reconciliation of the
    registration table with it.
    Never touches: sockets (the caller asks the switch for DIAG and follows its trace), the
    store (the caller deletes what reconciliation removed), clocks (the caller passes the
    time in), logging.

    THE RULE (docs/registrar.md): a registration is alive while at least one of its queues
    has a consumer on the switch.  DIAG is authoritative; the switch trace (subscribe /
    unsubscribe / peer-down events) only tells the caller when to ask for a DIAG sooner than
    the periodic one (every heartbeat).  On each reconciliation:

        a queue with consumers         -> the registration is (or becomes) confirmed; its
                                          live_queues mask says which queues resolve may use
        no queue with consumers, and   -> removed (event `removed`)
          confirmed before, or
          unconfirmed for grace_ms
        no consumers, unconfirmed,     -> kept, unconfirmed (a plugin may register just
          younger than grace_ms           before it subscribes; a recovered registration
                                          waits for its plugin to reconnect)

    grace_ms is one heartbeat timeout of the switch (3 × heartbeat_ms), so a plugin that
    died is gone from resolve within one heartbeat timeout of the switch noticing.

    DATA STRUCTURES: reg_diag_t is an array of (queue name, consumers) sorted by name, so a
    lookup is a binary search (a switch holds up to 4096 queues).
*/
#ifndef XSP_REGISTRAR_LIVENESS_H
#define XSP_REGISTRAR_LIVENESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reg.h"
#include "table.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *name;
    uint64_t consumers;
} reg_diag_queue_t;

typedef struct {
    size_t n;
    reg_diag_queue_t *q;        /* sorted by name */
    bool has_heartbeat;
    uint64_t heartbeat_ms;      /* the switch's heartbeat interval, when it said */
} reg_diag_t;

/*  Parse a DIAG_REPLY payload (one msgpack map).  Only "queues" (array of maps with "name"
    and "consumers") is required; "heartbeat_ms" is read when present; other keys are
    ignored.  0, or -1 with XSP_E_DECODE naming what is wrong. */
int reg_diag_parse(const void *buf, size_t len, reg_diag_t *out, reg_err_t *err);
/*  Add one queue (tests and callers that build a DIAG by hand); keeps the order.  0 / -1. */
int reg_diag_add(reg_diag_t *d, const char *queue, uint64_t consumers);
void reg_diag_dispose(reg_diag_t *d);
/*  Consumers of queue (0 when the switch does not know it). */
uint64_t reg_diag_consumers(const reg_diag_t *d, const char *queue);

/*  What one reconciliation did. */
typedef struct {
    reg_vec_t removed;          /* registrations removed from the table (delete them from
                                   the store; events already emitted) */
    size_t confirmed;           /* registrations confirmed by this pass */
    size_t pending;             /* registrations still unconfirmed */
} reg_reconcile_t;

/*  Reconcile table t with diag (see the rule above).  now_mono_ms: monotonic time;
    grace_ms: how long an unconfirmed registration may go without a consumer.
    out is overwritten (dispose it).  0, or -1 when out of memory (removed registrations
    that could not be handed over are freed; the table is still consistent). */
int reg_liveness_reconcile(reg_table_t *t, const reg_diag_t *diag, uint64_t now_mono_ms,
                           uint64_t grace_ms, reg_reconcile_t *out);
void reg_reconcile_dispose(reg_reconcile_t *r);

#ifdef __cplusplus
}
#endif
#endif

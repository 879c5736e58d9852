/*  switch.h — the switch's data model: every structure the daemon keeps, in one place.

    Owns: the definitions below.  Each .c file owns the operations on one of them:
      message.c   request records and their free-list pool
      deadline.c  the min-heap of request deadlines
      queue.c     queues, subscriptions, the ready ring, delivery ("pump")
      peer.c      sessions: creation, lookup, death (requeue / server-lost / orphaning)
      trace.c     the event ring and trace subscribers
      send.c      everything that leaves the switch (frames to a peer, ERROR frames)
      outbox.c    bytes waiting in libzmq for each peer (large answers, DIAG), bounded
      dispatch.c  one incoming message -> the handler for its command
      parse.c     the pure check of one incoming header + frame count (parse.h; fuzzed)
      diag.c      the DIAG report
      durable.c   persistent requests: journaling, group commit, replay, identities
                  (journal.c below it owns the log file itself)
      config.c    command-line options and limits
      auth.c      who a peer is (CURVE keys, ipc uids, the ZAP handler) and what it may do
      policy.c    the policy file (--policy): grants per identity
      main.c      sockets, the event loop, signals, timers
    Nothing in the switch decodes payloads: a payload is a zmq_msg_t moved from the sender
    and later moved (or refcount-copied) to the receiver.

    How a request lives (see docs/architecture.md):

      REQUEST --> sw_msg_t (pool) --queued--> queue FIFO --pump--> DELIVER to a sub
                    |  in client->outstanding list        in sub->inflight list + inflight map
                    |  in deadline heap if it has one
      REPLY(msg_id) -> inflight map -> RESULT to msg->client -> sw_msg_free

    Lists are intrusive and doubly linked, so every unlink is O(1):
      msg->q{prev,next}  either the queue's FIFO (queued) or the sub's in-flight list
      msg->c{prev,next}  the client's outstanding list (queued or in flight)
    A request whose client died or whose deadline passed while in flight stays in flight
    as an *orphan* (client == NULL) until the server answers or dies, so the server's
    credit stays honest; its eventual reply is dropped and counted as late.

    Single-threaded: one event loop touches all of this; no locks.
*/
#ifndef SW_SWITCH_H
#define SW_SWITCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "map.h"
#include "xsp/error.h"
#include "xsp/wire.h"

typedef struct sw_msg sw_msg_t;
typedef struct sw_peer sw_peer_t;
typedef struct sw_queue sw_queue_t;
typedef struct sw_sub sw_sub_t;
typedef struct sw sw_t;
typedef struct sw_dext sw_dext_t;
typedef struct sw_durable sw_durable_t;
typedef struct sw_outbox sw_outbox_t;

#define SW_NO_HEAP UINT32_MAX
#define SW_LABEL_MAX (XSP_NAME_MAX + 16)     /* "name#peer_id" */

struct sw_msg {
    uint64_t id;                /* msg_id, key of sw->inflight while in flight */
    uint64_t corr;              /* the client's correlation id */
    uint64_t accepted_ns;       /* when the REQUEST was accepted */
    uint64_t delivered_ns;      /* when it was last delivered */
    uint64_t deadline_ns;       /* 0 = none */
    uint32_t flags;
    uint32_t heap_idx;          /* index in sw->deadlines, or SW_NO_HEAP */
    uint32_t held;              /* bytes counted in sw->held_bytes (header + payload) */
    sw_peer_t *client;          /* NULL = orphan (client gone or request expired) */
    sw_queue_t *queue;
    sw_sub_t *sub;              /* in flight through this subscription, or NULL if queued */
    sw_msg_t *qprev, *qnext;
    sw_msg_t *cprev, *cnext;
    xsp_str_t dbg;              /* points into hdr */
    zmq_msg_t hdr;              /* the REQUEST header frame as received (holds dbg) */
    zmq_msg_t payload;          /* the opaque body, never decoded */
    sw_msg_t *pool_next;        /* free list link */
    sw_dext_t *d;               /* persistent requests only (durable.c), else NULL */
};

/*  What a persistent request adds (durable.c owns it).  Its client's routing id is its
    *owner*: when that id is a chosen identity (first byte not 0, docs/protocol.md §4) and
    the client's session ends, or the switch restarts, the request is *detached*
    (msg->client == NULL, detached = true): it stays queued or in flight, and a reply that
    comes meanwhile is held here until a session with the same identity says HELLO. */
struct sw_dext {
    bool live;                  /* its ACCEPT record is committed (else pending) */
    bool detached;              /* waits for its owner's next session */
    bool cancelled;             /* pending, and its anonymous client died: drop at commit */
    bool answered;              /* reply (or server-lost) held for the detached owner */
    bool lost;                  /* ... the held answer is ERROR server-lost */
    bool delivered;             /* AT_MOST_ONCE: its DELIVERED record is committed */
    uint64_t status;            /* held reply status */
    zmq_msg_t reply;            /* held reply payload */
    uint64_t deadline_wall_us;  /* 0 = none; CLOCK_REALTIME, survives restarts */
    uint64_t domid;             /* the client's claimed domid, for DELIVER after restart */
    uint32_t rec_bytes;         /* size of its ACCEPT record */
    uint32_t owner_len;
    uint8_t owner[256];         /* the client's routing id */
    sw_msg_t *jprev, *jnext;    /* all persistent requests, msg_id order */
    sw_msg_t *pnext;            /* pending commit list */
};

struct sw_sub {
    sw_peer_t *peer;
    sw_queue_t *queue;
    uint32_t credit;            /* deliveries allowed before the next REPLY/CREDIT */
    uint32_t inflight;
    bool ready;                 /* linked in the queue's ready ring (credit > 0) */
    uint64_t last_served;       /* sw->serve_seq at its last delivery (0 = never) */
    sw_sub_t *peer_next;        /* the peer's subscriptions */
    sw_sub_t *qprev, *qnext;    /* all subscriptions of the queue */
    sw_sub_t *rprev, *rnext;    /* the queue's ready ring, least recently served first */
    sw_msg_t *if_head, *if_tail; /* requests in flight through this subscription */
};

typedef struct {
    uint64_t sent, delivered, replied, expired, requeued, errors;
} sw_qstats_t;

struct sw_queue {
    char name[XSP_QUEUE_MAX + 1];
    uint32_t name_len;
    sw_msg_t *head, *tail;      /* waiting requests, FIFO */
    uint32_t depth;
    uint32_t inflight;
    uint32_t consumers;
    sw_sub_t *subs;
    sw_sub_t *ready_head, *ready_tail;
    sw_qstats_t st;
    bool durable;               /* matches a --durable-queue glob: every request persists */
    sw_queue_t *next;           /* all queues, for diagnostics */
    sw_queue_t *prev;
    sw_peer_t *owner;           /* the peer whose REQUEST/SUBSCRIBE created it, while alive */
    sw_queue_t *own_prev, *own_next;    /* owner->owned */
};

struct sw_peer {
    uint8_t rid[256];           /* ZeroMQ routing id: key of sw->peers */
    uint32_t rid_len;
    uint64_t id;
    char name[XSP_NAME_MAX + 1];
    char role[XSP_ROLE_MAX + 1];
    char label[SW_LABEL_MAX];   /* "name#id", used in traces and logs */
    uint64_t pid, domid;
    uint64_t last_seen_ns;
    uint32_t outstanding;       /* requests of this client queued or in flight */
    uint64_t outstanding_bytes;
    sw_msg_t *out_head;         /* ... linked through msg->c{prev,next} */
    sw_sub_t *subs;
    uint32_t inflight;          /* requests delivered to this server, unanswered */
    sw_queue_t *owned;          /* queues this peer created that still exist */
    uint32_t nowned;            /* ... how many (bounded by max_queues_per_peer) */
    bool dead;                  /* being killed, or found gone while sending: send nothing */
    bool doomed;                /* in sw->doomed, reaped at the end of the loop turn */
    bool authed;                /* authenticated by a CURVE certificate (auth.c) */
    bool restricted;            /* auth.c's rules apply to it (not an administrator) */
    char identity[72];          /* the certificate's identity, "uid:N" on ipc with --policy,
                                   "unauthenticated", or "" (no security configured) */
    char user_id[48];           /* ZAP User-Id of the connection that said HELLO ("" none) */
    uint64_t claimed_domid;     /* what HELLO said (domid may be replaced by auth.c) */
    const struct sw_rule *rule; /* its --policy rule, or NULL */
    uint32_t ndenied;           /* permission-denied refusals (logs are rate-limited) */
    uint32_t nreplies_refused;  /* REPLYs refused (logs are rate-limited) */
    sw_outbox_t *outbox;        /* bytes handed to libzmq for it, not yet written (outbox.c) */
    uint32_t nunread_dropped;   /* answers dropped over its unread budget (logs rate-limited) */
    char serve[512];            /* ... the queue prefixes it may serve */
    char call[512];             /* ... the queue prefixes it may call (+ the registrar's) */
    /* trace subscription */
    bool tracing, trace_follow;
    uint64_t trace_next;        /* next sequence number to send */
    uint64_t trace_until;       /* without follow: stop (TRACE_END) at this sequence */
    uint64_t trace_lost;        /* events skipped and not yet reported */
    char trace_glob[XSP_QUEUE_MAX + 1];
    sw_peer_t *trace_next_peer, *trace_prev_peer;
    sw_peer_t *next, *prev;     /* all peers */
    sw_peer_t *doomed_next;
};

typedef struct {
    int heartbeat_ms;
    uint64_t max_payload;
    uint32_t max_depth;
    uint32_t max_outstanding;
    uint64_t max_outstanding_bytes;
    uint32_t max_credit;
    uint32_t max_queues;
    uint32_t max_queues_per_peer;
    uint64_t max_held_bytes;    /* header + payload bytes of all requests held */
    int handshake_ms;           /* ZMTP handshake deadline of a new connection */
    uint32_t max_peers;
    uint32_t max_messages;
    uint32_t trace_events;
    uint32_t trace_payload_bytes;
    uint32_t send_hwm;          /* ZMQ_SNDHWM: messages queued in libzmq towards one peer */
    uint32_t recv_hwm;          /* ZMQ_RCVHWM: messages libzmq reads ahead from one peer */
    uint64_t max_frame;         /* ZMQ_MAXMSGSIZE: a larger frame closes the connection */
    uint64_t max_unread_bytes;  /* tracked bytes waiting in libzmq for one peer (outbox.c) */
    uint64_t max_unread_total;  /* ... for all peers */
} sw_limits_t;

typedef struct {
    uint64_t sent, delivered, replied, expired, requeued, server_lost;
    uint64_t errors, protocol_errors, late_replies, peers_up, peers_down;
    uint64_t trace_lost, undeliverable;
    uint64_t queues_reclaimed;  /* idle queues forgotten to make room for a new one */
    uint64_t queue_quota_refused;   /* too-many-queues for a peer at max_queues_per_peer */
    uint64_t auth_refused;      /* unknown CURVE keys and refusals of auth.c's rules */
    uint64_t handshakes_failed; /* connections that never finished the handshake (auth.c) */
    uint64_t replies_refused;   /* REPLYs for a msg_id not in flight to the sender's session */
    uint64_t unread_dropped;    /* answers not sent: their peer's unread budget was full */
    uint64_t errors_by_code[XSP_E__COUNT];  /* ERRORs sent, by code (DIAG "refusals") */
} sw_counters_t;

/* trace event kinds */
typedef enum {
    SW_EV_SEND, SW_EV_DELIVER, SW_EV_REPLY, SW_EV_EXPIRE, SW_EV_REQUEUE, SW_EV_ERROR,
    SW_EV_DROP, SW_EV_PEER_UP, SW_EV_PEER_DOWN, SW_EV_SUBSCRIBE, SW_EV_UNSUBSCRIBE,
    SW_EV__COUNT
} sw_ev_kind_t;

typedef struct sw_trace sw_trace_t;   /* trace.c */

struct sw {
    void *zctx, *sock;
    sw_limits_t lim;
    sw_counters_t ct;
    uint64_t start_ns, now_ns;
    uint64_t next_msg_id, next_peer_id;
    uint64_t serve_seq;         /* counts deliveries, orders the ready rings */
    uint64_t boot_id;           /* random, sent in WELCOME so peers can tell a restart */
    sw_map_t peers;             /* routing id -> sw_peer_t */
    sw_peer_t *last_peer;       /* the last peer a message came from: skips the map when
                                   messages arrive in runs from one peer */
    sw_map_t queues;            /* name -> sw_queue_t */
    sw_map_t inflight;          /* msg_id -> sw_msg_t (delivered, unanswered) */
    sw_peer_t *peer_list;
    uint32_t npeers, nqueues, nmsgs;
    uint64_t held_bytes;        /* sum of msg->held over requests held (max_held_bytes) */
    sw_queue_t *queue_list;
    sw_peer_t *doomed;
    sw_peer_t *tracers;
    sw_trace_t *trace;
    /* deadline heap */
    sw_msg_t **deadlines;
    uint32_t ndeadlines, deadlines_cap;
    /* message pool */
    sw_msg_t *pool_free;
    void **pool_chunks;
    uint32_t pool_nchunks;
    sw_msg_t *spare;            /* receives the next incoming frames */
    sw_durable_t *dur;          /* --state-dir, or NULL */
    struct sw_auth *auth;       /* --curve-secret/--certs (auth.c), or NULL */
    _Atomic uint64_t unread_bytes;  /* tracked bytes in libzmq for all peers (outbox.c;
                                       given back on libzmq's I/O thread) */
};

/* ---- message.c ---- */
sw_msg_t *sw_msg_alloc(sw_t *sw);        /* NULL when out of memory */
void sw_msg_free(sw_t *sw, sw_msg_t *m); /* closes hdr/payload, returns to the pool */
void sw_pool_dispose(sw_t *sw);

/* ---- deadline.c ---- */
int sw_deadline_add(sw_t *sw, sw_msg_t *m);
void sw_deadline_remove(sw_t *sw, sw_msg_t *m);
sw_msg_t *sw_deadline_peek(sw_t *sw);

/* ---- queue.c ---- */
/*  Find a queue; create it when `create` (may fail: *why says too-many-queues / invalid). */
sw_queue_t *sw_queue_get(sw_t *sw, const char *name, size_t len, bool create, xsp_code_t *why);
/*  Find or create a queue on behalf of peer p, which then owns it: a peer owns at most
    max_queues_per_peer queues (*why = too-many-queues, counted in queue_quota_refused).
    At a limit, idle queues (no request, no subscription) are forgotten first to make room:
    the peer's own for its quota, anyone's for max_queues. */
sw_queue_t *sw_queue_get_for(sw_t *sw, sw_peer_t *p, const char *name, size_t len, xsp_code_t *why);
/*  The peer is going away: its queues stay but have no owner any more. */
void sw_queue_disown_all(sw_peer_t *p);
void sw_queue_push_tail(sw_queue_t *q, sw_msg_t *m);
void sw_queue_push_head(sw_queue_t *q, sw_msg_t *m);
void sw_queue_unlink(sw_queue_t *q, sw_msg_t *m);
/*  Deliver waiting requests while ready subscriptions have credit. */
void sw_queue_pump(sw_t *sw, sw_queue_t *q);
bool sw_queue_name_valid(const char *name, size_t len);
sw_sub_t *sw_sub_find(sw_peer_t *p, sw_queue_t *q);
sw_sub_t *sw_sub_add(sw_t *sw, sw_peer_t *p, sw_queue_t *q);
void sw_sub_add_credit(sw_t *sw, sw_sub_t *s, uint64_t n);
/*  End a subscription.  Its in-flight requests are requeued or failed (server-lost) when
    `server_dead`; otherwise they stay with the server and become owned by no subscription
    (their replies are still routed). */
void sw_sub_remove(sw_t *sw, sw_sub_t *s, bool server_dead);
/*  Take a request out of flight (reply, or server death).  Returns its credit. */
void sw_inflight_remove(sw_t *sw, sw_msg_t *m);
void sw_queue_dispose_all(sw_t *sw);

/* ---- peer.c ---- */
sw_peer_t *sw_peer_find(sw_t *sw, const void *rid, size_t len);
sw_peer_t *sw_peer_new(sw_t *sw, const void *rid, size_t len, const xsp_hdr_t *hello);
/*  End a session: requeue/fail what it served, drop what it asked, forget it. */
void sw_peer_kill(sw_t *sw, sw_peer_t *p, const char *why);
/*  Mark for sw_peer_reap_doomed at the end of the loop turn (safe while iterating). */
void sw_peer_doom(sw_t *sw, sw_peer_t *p);
void sw_peer_reap_doomed(sw_t *sw);
/*  Unlink a request from its client's outstanding list (client stays alive). */
void sw_client_forget(sw_msg_t *m);

/* ---- send.c ---- */
/*  Send [header, payload?] to a peer.  payload (may be NULL) is consumed on success.
    Returns 0, or -1 when the peer is gone or its buffer is full (counted; peer doomed
    when gone). */
int sw_send(sw_t *sw, sw_peer_t *p, const xsp_hdr_t *h, zmq_msg_t *payload);
/*  Send to a routing id that has no session (version / no-session errors). */
void sw_send_rid(sw_t *sw, const void *rid, size_t len, const xsp_hdr_t *h);
/*  ERROR(ref_cmd, ref, code, sentence) to peer p (or to rid when p is NULL); traced and
    counted. */
void sw_send_error(sw_t *sw, sw_peer_t *p, const void *rid, size_t rid_len, unsigned ref_cmd,
                   uint64_t ref, xsp_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
/*  Fail a request back to its client (expired, server-lost, shutdown) and forget the
    client link; does not free m. */
void sw_fail_request(sw_t *sw, sw_msg_t *m, xsp_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- outbox.c ---- */
#define SW_OUTBOX_SMALL 1024    /* payloads up to this size are not tracked */
/*  A new session's account (0, or -1 out of memory); its end (the account lives on while
    libzmq still holds its messages). */
int sw_outbox_open(sw_t *sw, sw_peer_t *p);
void sw_outbox_close(sw_peer_t *p);
/*  Tracked bytes of p still inside libzmq (DIAG). */
uint64_t sw_outbox_bytes(const sw_peer_t *p);
/*  Is p's unread budget (or the switch's) already used up? */
bool sw_outbox_full(const sw_t *sw, const sw_peer_t *p);
/*  sw_send() for a message whose payload may be large: a payload over SW_OUTBOX_SMALL is
    counted against p's and the switch's unread budgets until libzmq releases it.  Returns
    0 (sent, payload consumed), -1 (not sent: connection full or gone, as sw_send), -2 (not
    sent: over a budget).  On failure the caller closes payload (it may already be empty). */
int sw_send_tracked(sw_t *sw, sw_peer_t *p, const xsp_hdr_t *h, zmq_msg_t *payload);
/*  An answer for p was not sent (-2): count it (undeliverable, unread_dropped) and log it
    (the first 10 of a session, then every 1000th). */
void sw_outbox_drop_answer(sw_t *sw, sw_peer_t *p, uint64_t corr, size_t size);

/* ---- trace.c ---- */
int sw_trace_init(sw_t *sw);
void sw_trace_dispose(sw_t *sw);
/*  Record one event.  Strings may be NULL.  payload may be NULL. */
void sw_trace(sw_t *sw, sw_ev_kind_t kind, const sw_queue_t *q, uint64_t msg_id, uint64_t corr,
              const char *from, const char *to, uint64_t size, const char *dbg, size_t dbg_len,
              uint64_t service_us, const zmq_msg_t *payload);
void sw_trace_subscribe(sw_t *sw, sw_peer_t *p, uint64_t from_seq, xsp_str_t glob, bool follow);
void sw_trace_unsubscribe(sw_t *sw, sw_peer_t *p);
/*  Send pending events to subscribers while their sockets accept. */
void sw_trace_pump(sw_t *sw);
uint64_t sw_trace_next_seq(const sw_t *sw);
bool sw_trace_pending(const sw_t *sw);
const char *sw_ev_name(sw_ev_kind_t k);

/* ---- dispatch.c ---- */
/*  Receive and handle up to `budget` messages; returns how many were handled. */
int sw_dispatch(sw_t *sw, int budget);

/* ---- diag.c ---- */
/*  Encode the diagnostics map into a fresh zmq message (0, or -1 on ENOMEM). */
int sw_diag_encode(sw_t *sw, zmq_msg_t *out);

/* ---- durable.c ---- */
/*  Open the journal in dir, take its lock, replay it (requests come back detached,
    waiting for their owners), compact it.  0, or -1 with a sentence in err. */
int sw_durable_open(sw_t *sw, const char *dir, const char *const *queue_globs, int nglobs,
                    uint64_t compact_bytes, char *err, size_t errlen);
/*  Shutting down: from now on requests leaving the switch write no DONE record, so every
    persistent request still held is replayed by the next start. */
void sw_durable_freeze(sw_t *sw);
/*  Commit what is buffered (sync), free the journal.  Requests stay in the file. */
void sw_durable_close(sw_t *sw);
/*  Does a new queue's name match a --durable-queue glob? */
bool sw_durable_queue_match(const sw_t *sw, const char *name);
/*  m (accepted by dispatch, counted, on its client's list) must persist: buffer its ACCEPT
    record and hold it until the loop turn's commit.  0, or -1 (out of memory). */
int sw_durable_accept(sw_t *sw, sw_msg_t *m);
/*  End of a loop turn: write the buffered records, one fdatasync if any request waits for
    it, then queue the waiting requests, send their ACCEPTEDs, compact when due. */
void sw_durable_commit(sw_t *sw);
/*  m leaves the switch for good (sw_msg_free): buffer its DONE record, free m->d. */
void sw_durable_release(sw_t *sw, sw_msg_t *m);
/*  m's client session ends.  Returns true when durable.c took care of m (detached it, or
    cancelled it while pending); false: treat m like any request of a dead client. */
bool sw_durable_client_gone(sw_t *sw, sw_peer_t *p, sw_msg_t *m);
/*  A reply (status, payload moved) or server-lost (lost) for a detached request: hold it
    for the owner.  m is out of flight and off the deadline heap. */
void sw_durable_hold(sw_t *sw, sw_msg_t *m, uint64_t status, zmq_msg_t *payload, bool lost);
/*  A new session p: give it the detached requests of its identity, and their held answers. */
void sw_durable_attach(sw_t *sw, sw_peer_t *p);
/*  Before delivering an AT_MOST_ONCE persistent request: make its DELIVERED record durable.
    0, or -1 (do not deliver). */
int sw_durable_delivering(sw_t *sw, sw_msg_t *m);
/*  For DIAG: adds a "durable" map when enabled. */
bool sw_durable_diag(const sw_t *sw, uint64_t *live, uint64_t *journal_bytes, uint64_t *commits,
                     uint64_t *fsyncs, uint64_t *records, uint64_t *compactions, uint64_t *replayed);

/* ---- main.c / timers ---- */
uint64_t sw_now_ns(void);
void sw_expire_deadlines(sw_t *sw);

#endif

/*  session.h — PRIVATE to libxsp: one DEALER connection to the switch, kept alive.

    Owns: the ZeroMQ context and DEALER socket of one peer, the HELLO/WELCOME handshake,
    heartbeats in both directions, detection of a dead or restarted switch and the
    automatic re-HELLO, and one stable pollable file descriptor for foreign event loops.
    Also hosts two small private helpers shared by client.c and server.c: a monotonic
    millisecond clock and an open-addressing u64 -> pointer table (xsp_idmap_t).
    Never touches: requests, calls, subscriptions (its owner — client.c or server.c —
    keeps those and is told when a session was renewed so it can resend them), payloads
    (passed through as zmq_msg_t, never decoded).

    Session life:
        CONNECTING --WELCOME--> READY --(no-session | 3 silent intervals)--> CONNECTING ...
    Each WELCOME starts a new *generation* (1, 2, ...).  Everything the owner sent in an
    older generation is unknown to the switch: on events->welcome(renewed = true) the
    owner resends what it still wants (requests, SUBSCRIBE, TRACE).
    - A switch silent for 3 heartbeat intervals is dead: the socket is closed (dropping
      whatever was queued for the dead switch) and a fresh one connects and says HELLO.
    - ERROR no-session (the switch restarted, or it declared us dead) gets a HELLO on the
      same socket.  The ERROR is still passed to the owner (a REQUEST refused with
      no-session never reached a server, which matters for at-most-once calls).
    - If we ourselves were silent for 3 intervals (nobody ran the loop), the switch has
      already ended our session: we re-HELLO before sending anything.
    - A HELLO unanswered for max(3 intervals, 1 s) is retried on a fresh socket.

    The pollable fd is an epoll fd holding the socket's ZMQ_FD, a private "kick" eventfd
    and any fd the owner adds with xsp_session_watch_fd.  It never changes for the life of
    the session, even when the socket is replaced.  ZMQ_FD is edge-like: after any send
    done outside xsp_session_process, the session re-checks ZMQ_EVENTS and arms the kick
    fd if a message is waiting, so a loop polling the fd never misses one.

    Thread-safety: none.  One thread at a time uses a session (the owner's I/O thread).
    Ownership: the session owns its socket and fds, and its context unless the owner lent
    one (cfg.zmq_ctx); destroy closes what it owns.
*/
#ifndef XSP_SESSION_H
#define XSP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "xsp/error.h"
#include "xsp/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- clock */

/*  Milliseconds of CLOCK_MONOTONIC. */
int64_t xsp_now_ms(void);

/* ---------------------------------------------------------------- idmap */

/*  An open-addressing hash table u64 key -> non-NULL pointer (linear probing,
    backward-shift deletion, grows at 1/2 load).  Key 0 is not allowed. */
typedef struct {
    uint64_t key;       /* 0 = free slot */
    void *val;
} xsp_idmap_entry_t;

typedef struct {
    xsp_idmap_entry_t *e;   /* key and value side by side: one cache line per probe */
    size_t cap, len;    /* cap is a power of two (or 0 before the first insert) */
} xsp_idmap_t;

void xsp_idmap_init(xsp_idmap_t *m);
void xsp_idmap_dispose(xsp_idmap_t *m);   /* frees the table, not the values */
void *xsp_idmap_get(const xsp_idmap_t *m, uint64_t key);
/*  Insert or replace.  Returns 0, or -1 out of memory. */
int xsp_idmap_put(xsp_idmap_t *m, uint64_t key, void *val);
/*  Remove and return the value, or NULL if absent. */
void *xsp_idmap_del(xsp_idmap_t *m, uint64_t key);

/* ---------------------------------------------------------------- session */

typedef struct xsp_session xsp_session_t;

/*  What WELCOME said. */
typedef struct {
    uint64_t peer_id;
    uint64_t heartbeat_ms;
    uint64_t max_payload, max_depth, max_outstanding, max_credit;
    char sw_version[XSP_NAME_MAX + 1];
} xsp_welcome_t;

/*  The owner's callbacks; all run inside xsp_session_process (or xsp_session_new).
    A callback may send on the session; it must not destroy it. */
typedef struct {
    /*  Every message other than WELCOME and HEARTBEAT, including ERROR frames (also the
        ones the session acted on, e.g. no-session).  payload is NULL for a one-frame
        message; the owner may zmq_msg_move() out of it. */
    void (*message)(void *owner, const xsp_hdr_t *h, zmq_msg_t *payload);
    /*  A session (generation xsp_session_generation()) began; renewed is false for the
        first one.  The owner (re)sends what it wants the switch to know. */
    void (*welcome)(void *owner, bool renewed);
} xsp_session_events_t;

typedef struct {
    const char *endpoint;   /* resolved endpoint (see xsp/endpoint.h); required */
    const char *name;       /* peer name (<= 64 bytes, truncated); NULL = "xsp" */
    const char *role;       /* peer role (<= 32 bytes, truncated); NULL = "client" */
    uint32_t domid;
    void *zmq_ctx;          /* a libzmq context to use (borrowed: never terminated here);
                               NULL = the session creates and terminates its own */
    const char *identity;   /* the socket's ZeroMQ routing id (docs/protocol.md §4.5), kept
                               across reconnects; NULL = libzmq's generated one.  1-255
                               bytes, not starting with a 0 byte (checked by the owner). */
} xsp_session_cfg_t;

/*  Create the socket, connect and send HELLO; never waits.  NULL + err on failure
    (bad endpoint, out of memory). */
xsp_session_t *xsp_session_new(const xsp_session_cfg_t *cfg, const xsp_session_events_t *ev,
                               void *owner, xsp_error_t *err);
/*  Send BYE if a session is up, close everything; *self_p becomes NULL. */
void xsp_session_destroy(xsp_session_t **self_p);

/*  Wait up to timeout_ms (-1 = forever) until READY or a HELLO was refused for good.
    Returns 0 when READY; else an error code (err says which: no switch answered, or the
    switch's ERROR, e.g. too-many-peers or version). */
int xsp_session_wait_ready(xsp_session_t *self, int timeout_ms, xsp_error_t *err);

bool xsp_session_ready(const xsp_session_t *self);
/*  true when the switch refused us for good (protocol version): nothing more happens. */
bool xsp_session_failed(const xsp_session_t *self);
uint64_t xsp_session_generation(const xsp_session_t *self);
const xsp_welcome_t *xsp_session_welcome(const xsp_session_t *self);
const char *xsp_session_endpoint(const xsp_session_t *self);

/*  Send one message: header h, plus *payload as the second frame when payload is not
    NULL (consumed: it is empty afterwards, sent or not).  Only when READY, except that
    the session itself sends HELLO/HEARTBEAT.  Returns 0, or -1 (not ready, or the send
    failed: errno). */
int xsp_session_send(xsp_session_t *self, const xsp_hdr_t *h, zmq_msg_t *payload);
/*  Same with the payload given as bytes (copied); body NULL = no payload frame. */
int xsp_session_send_bytes(xsp_session_t *self, const xsp_hdr_t *h, const void *body,
                           size_t len);

/*  The stable pollable fd (poll for POLLIN / G_IO_IN). */
int xsp_session_fd(const xsp_session_t *self);
/*  Add an owner fd (level-triggered POLLIN) to the pollable fd.  0 or -1 (errno). */
int xsp_session_watch_fd(xsp_session_t *self, int fd);
int xsp_session_unwatch_fd(xsp_session_t *self, int fd);
/*  Milliseconds until xsp_session_process must run again for heartbeats and liveness
    (>= 0). */
int xsp_session_timeout_ms(const xsp_session_t *self);
/*  Handle every waiting message (runs the callbacks), heartbeats and liveness checks.
    Never blocks.  Returns the number of messages handled. */
int xsp_session_process(xsp_session_t *self);
/*  Block in poll() on the fd for at most timeout_ms (-1 = forever; EINTR returns). */
void xsp_session_poll(xsp_session_t *self, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif

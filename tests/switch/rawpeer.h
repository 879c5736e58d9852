/*  rawpeer.h — a raw protocol peer for switch tests: one libzmq DEALER plus the header
    codec (xsp/wire.h), nothing of libxsp's client or session layers.

    Owns: the process's ZeroMQ context for tests, each peer's socket, heartbeats while a
    test waits, and receiving with a deadline.  A peer can send anything: any header, any
    payload, raw bytes, any number of frames — malformed input is the point.
    Never touches: the switch process (swtest.h).

    Heartbeats: every rawpeer call that sends or waits also sends a HEARTBEAT for each peer
    *of the calling thread* that has a session, is not `silent`, and sent nothing for a
    third of the switch's interval; rp_sleep() waits while doing that.  Set rp->silent to
    play dead without closing the socket.

    Every message received from the switch must be 1-2 frames with a header that decodes
    (xsp_hdr_decode): anything else fails the test.  HEARTBEATs are skipped unless asked.
    Expectation helpers fail the test with a description of what arrived instead.

    Threads: a peer belongs to the thread that created it (ZeroMQ sockets are not
    thread-safe); the context is shared.
*/
#ifndef RAWPEER_H
#define RAWPEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "swtest.h"
#include "xsp/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RP_ANY UINT64_MAX          /* wildcard for expected refs */
#define RP_TIMEOUT 5000            /* default receive deadline (ms; x3 under ASan) */

typedef struct rp rp_t;
struct rp {
    void *sock;
    char name[XSP_NAME_MAX + 1];
    bool session;                  /* got WELCOME and no session-ending error since */
    bool silent;                   /* never send automatic heartbeats */
    uint64_t peer_id, heartbeat_ms, max_payload, max_depth, max_outstanding, max_credit, boot_id;
    uint64_t last_send_ns, last_recv_ns;
    uint64_t domid;
    rp_t *tl_next;                 /* this thread's peers */
    rp_t *g_next, *g_prev;         /* every open peer (for cleanup) */
};

/*  One message received from the switch. */
typedef struct {
    int nframes;
    xsp_hdr_t h;                   /* strings point into hdr */
    uint8_t hdr[XSP_HEADER_MAX + 64];
    size_t hdr_len;
    uint8_t *payload;              /* frame 1 (malloc'd, NUL-terminated), NULL if absent */
    size_t payload_len;
} rp_msg_t;

/*  Free a message's payload (safe on a zeroed or cleared message). */
void rp_msg_clear(rp_msg_t *m);
/*  "ERROR(ref_cmd=3 ref=7 code=protocol: ...)" etc. for messages in failures. */
const char *rp_msg_describe(const rp_msg_t *m, char *buf, size_t cap);

void *rp_ctx(void);
/*  A DEALER connected to endpoint, no session yet.  rcvhwm 0 = libzmq default. */
rp_t *rp_connect(const char *endpoint);
rp_t *rp_connect_opts(const char *endpoint, int rcvhwm);
/*  A DEALER with a chosen routing id: the client identity durable queues key replies on
    (docs/protocol.md §4; must not start with a 0 byte). */
rp_t *rp_connect_id(const char *endpoint, const char *identity);
/*  A DEALER that runs CURVE (docs/security.md): keys are 40-character Z85 strings. */
rp_t *rp_connect_curve(const char *endpoint, const char *server_key, const char *public_key,
                       const char *secret_key);
/*  HELLO(version, name, role, pid, domid) and wait for WELCOME (fails the test otherwise). */
void rp_hello(rp_t *p, const char *name, const char *role, uint64_t pid, uint64_t domid);
/*  rp_connect + rp_hello(version 1, pid = getpid(), domid 0). */
rp_t *rp_open(const char *endpoint, const char *name, const char *role);
/*  Close without BYE (linger 0): to the switch the connection is simply gone. */
void rp_close(rp_t *p);
/*  BYE, then close. */
void rp_bye(rp_t *p);

/* ---- sending (every send fails the test if the socket does not take it in 5 s) ---- */

/*  Raw multipart: n frames. */
void rp_send_frames(rp_t *p, int n, const void *const *bufs, const size_t *lens);
/*  One raw frame. */
void rp_send_raw(rp_t *p, const void *buf, size_t len);
/*  Encode h; with_payload adds a second frame (possibly empty). */
void rp_send_hdr(rp_t *p, const xsp_hdr_t *h, const void *payload, size_t len, bool with_payload);

void rp_request(rp_t *p, uint64_t corr, const char *queue, uint64_t timeout_ms, uint64_t flags,
                const char *dbg, const void *payload, size_t len);
void rp_reply(rp_t *p, uint64_t msg_id, uint64_t status, const void *payload, size_t len);
void rp_subscribe(rp_t *p, const char *queue, uint64_t credit);
void rp_unsubscribe(rp_t *p, const char *queue);
void rp_credit(rp_t *p, const char *queue, uint64_t credit);
void rp_heartbeat(rp_t *p);
void rp_trace(rp_t *p, uint64_t from_seq, const char *glob, bool follow);
void rp_untrace(rp_t *p);
void rp_diag(rp_t *p, uint64_t corr);

/* ---- receiving ---- */

/*  Next message within timeout_ms (HEARTBEATs skipped unless with_heartbeats).
    Returns true, or false on timeout. */
bool rp_recv(rp_t *p, rp_msg_t *m, unsigned timeout_ms);
bool rp_recv_hb(rp_t *p, rp_msg_t *m, unsigned timeout_ms, bool with_heartbeats);
/*  Non-blocking: a message already waiting? */
bool rp_poll_msg(rp_t *p, rp_msg_t *m);

/*  Sleep while keeping this thread's peers alive (heartbeats), reading nothing. */
void rp_sleep(unsigned ms);
/*  Send due heartbeats for this thread's peers now. */
void rp_tick_all(void);

/*  Expectations: the next non-heartbeat message (within RP_TIMEOUT) must be ... ; out
    (may be NULL) receives it.  ref_cmd < 0 and ref == RP_ANY are wildcards. */
void rp_expect_error_at(const char *file, int line, rp_t *p, rp_msg_t *out, const char *code,
                        int ref_cmd, uint64_t ref);
void rp_expect_result_at(const char *file, int line, rp_t *p, rp_msg_t *out, uint64_t corr);
void rp_expect_deliver_at(const char *file, int line, rp_t *p, rp_msg_t *out);
void rp_expect_cmd_at(const char *file, int line, rp_t *p, rp_msg_t *out, unsigned cmd);
/*  Nothing but heartbeats for ms milliseconds. */
void rp_expect_nothing_at(const char *file, int line, rp_t *p, unsigned ms);

#define rp_expect_error(p, out, code, ref_cmd, ref) \
    rp_expect_error_at(__FILE__, __LINE__, p, out, code, ref_cmd, ref)
#define rp_expect_result(p, out, corr) rp_expect_result_at(__FILE__, __LINE__, p, out, corr)
#define rp_expect_deliver(p, out) rp_expect_deliver_at(__FILE__, __LINE__, p, out)
#define rp_expect_cmd(p, out, cmd) rp_expect_cmd_at(__FILE__, __LINE__, p, out, cmd)
#define rp_expect_nothing(p, ms) rp_expect_nothing_at(__FILE__, __LINE__, p, ms)

/*  WAIT_FOR(ms, cond): evaluate cond until true or ms pass (heartbeating between tries,
    ms scaled under ASan); yields whether it became true. */
#define WAIT_FOR(ms, cond) ({ \
    uint64_t _wf_end = swt_now_ms() + swt_ms(ms); bool _wf_ok; \
    while (!(_wf_ok = (cond)) && swt_now_ms() < _wf_end) rp_sleep(10); \
    _wf_ok; })

/*  xsp_str_t equals a C string. */
static inline bool rp_str_eq(xsp_str_t s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

/*  Close every peer still open (all threads must have finished); terminate the context. */
void rp_cleanup(void);

#ifdef __cplusplus
}
#endif
#endif

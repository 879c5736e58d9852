/*  xsp/wire.h — the switch protocol's header frame: one struct, one encoder, one decoder.

    Owns: the command numbers, the field layout of every header (docs/protocol.md is the
    normative text; this file must agree with it), and a tiny allocation-free msgpack
    reader/writer used for headers.
    Never touches: payload frames (opaque bytes, never decoded here), sockets, the heap.

    A message on the wire is 1 or 2 ZeroMQ frames: [header] or [header, payload].  The
    header is a msgpack array whose first element is the command number; the rest are
    positional fields.  Decoding never copies: xsp_str_t fields point into the frame and
    are valid only while the frame is.  Strings are NOT NUL-terminated.

    Thread-safety: all functions are pure (no globals); use freely from any thread.
*/
#ifndef XSP_WIRE_H
#define XSP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XSP_PROTO_VERSION 1

/*  Limits every implementation agrees on (the switch may be configured lower). */
#define XSP_HEADER_MAX      4096   /* bytes in a header frame */
#define XSP_NAME_MAX          64   /* peer name */
#define XSP_ROLE_MAX          32   /* peer role */
#define XSP_QUEUE_MAX        255   /* queue name */
#define XSP_DBG_MAX         1024   /* dbg string */
#define XSP_CODE_MAX          64   /* error code wire name */
#define XSP_MESSAGE_MAX     1024   /* error sentence */

typedef enum {
    XSP_CMD_HELLO        = 1,   /* peer -> switch */
    XSP_CMD_WELCOME      = 2,   /* switch -> peer */
    XSP_CMD_REQUEST      = 3,   /* client -> switch, + payload */
    XSP_CMD_DELIVER      = 4,   /* switch -> server, + payload */
    XSP_CMD_REPLY        = 5,   /* server -> switch, + payload */
    XSP_CMD_RESULT       = 6,   /* switch -> client, + payload */
    XSP_CMD_ERROR        = 7,   /* switch -> peer */
    XSP_CMD_SUBSCRIBE    = 8,   /* server -> switch */
    XSP_CMD_UNSUBSCRIBE  = 9,   /* server -> switch */
    XSP_CMD_CREDIT       = 10,  /* server -> switch */
    XSP_CMD_HEARTBEAT    = 11,  /* both ways */
    XSP_CMD_BYE          = 12,  /* peer -> switch */
    XSP_CMD_TRACE        = 13,  /* peer -> switch */
    XSP_CMD_TRACE_EVENT  = 14,  /* switch -> peer, + optional payload prefix */
    XSP_CMD_TRACE_END    = 15,  /* switch -> peer */
    XSP_CMD_UNTRACE      = 16,  /* peer -> switch */
    XSP_CMD_DIAG         = 17,  /* peer -> switch */
    XSP_CMD_DIAG_REPLY   = 18,  /* switch -> peer, + payload (msgpack map) */
    XSP_CMD_ACCEPTED     = 19,  /* switch -> client: a PERSISTENT request is journaled */
    XSP_CMD__MAX         = 19
} xsp_cmd_t;

/*  REQUEST / DELIVER flags. */
#define XSP_FLAG_AT_MOST_ONCE  0x1u  /* never redeliver: fail with server-lost instead */
#define XSP_FLAG_PERSISTENT    0x2u  /* REQUEST: journal before accepting; ACCEPTED follows */

/*  RESULT / REPLY status. */
#define XSP_STATUS_OK     0u   /* payload is the answer */
#define XSP_STATUS_ERROR  1u   /* payload is the server's own error body */

/*  A borrowed byte string (points into a frame or a caller buffer). */
typedef struct {
    const char *ptr;
    uint32_t len;
} xsp_str_t;

#define XSP_STR(s) ((xsp_str_t) { (s), (uint32_t) strlen(s) })

/*  One decoded header.  Which fields are meaningful depends on cmd; the comment on each
    field lists the commands that carry it.  Fields a command does not carry are zero. */
typedef struct {
    xsp_cmd_t cmd;
    uint64_t version;       /* HELLO, WELCOME */
    xsp_str_t name;         /* HELLO: peer name; TRACE_EVENT: from peer */
    xsp_str_t role;         /* HELLO */
    uint64_t pid;           /* HELLO */
    uint64_t domid;         /* HELLO; DELIVER: caller's claimed domid */
    uint64_t peer_id;       /* WELCOME: id the switch gave this peer; DELIVER: caller's peer id */
    uint64_t heartbeat_ms;  /* WELCOME */
    uint64_t max_payload;   /* WELCOME */
    uint64_t max_depth;     /* WELCOME */
    uint64_t max_outstanding; /* WELCOME */
    uint64_t max_credit;    /* WELCOME */
    xsp_str_t sw_version;   /* WELCOME: switch build version */
    uint64_t boot_id;       /* WELCOME: random per switch start: a change means a restart */
    uint64_t corr;          /* REQUEST, RESULT, DIAG, DIAG_REPLY, ACCEPTED; ERROR: reference */
    uint64_t msg_id;        /* DELIVER, REPLY, RESULT, TRACE_EVENT, ACCEPTED */
    xsp_str_t queue;        /* REQUEST, DELIVER, SUBSCRIBE, UNSUBSCRIBE, CREDIT, TRACE_EVENT;
                               TRACE: queue glob ("" = all) */
    uint64_t timeout_ms;    /* REQUEST: relative deadline (0 = none); DELIVER: time left */
    uint64_t flags;         /* REQUEST, DELIVER */
    xsp_str_t dbg;          /* REQUEST, DELIVER, TRACE_EVENT */
    uint64_t status;        /* REPLY, RESULT */
    uint64_t credit;        /* SUBSCRIBE, CREDIT */
    uint64_t ref_cmd;       /* ERROR: command the error answers (0 = the session) */
    xsp_str_t code;         /* ERROR: wire name of the error code; TRACE_EVENT: event kind */
    xsp_str_t message;      /* ERROR: human sentence */
    uint64_t seq;           /* TRACE: first sequence wanted; TRACE_EVENT; TRACE_END: next seq */
    uint64_t follow;        /* TRACE: 1 = keep streaming */
    uint64_t ts_ns;         /* TRACE_EVENT: monotonic ns since switch start */
    xsp_str_t to;           /* TRACE_EVENT: to peer */
    uint64_t size;          /* TRACE_EVENT: payload bytes */
    uint64_t service_us;    /* RESULT, TRACE_EVENT(reply): time from delivery to reply */
    uint64_t lost;          /* TRACE_EVENT, TRACE_END: events lost before this one */
} xsp_hdr_t;

/*  Decode one header frame.  Returns 0, or -1 with a sentence in why (may be NULL) naming
    the field at fault.  Never reads outside [buf, buf+len); never allocates. */
int xsp_hdr_decode(const void *buf, size_t len, xsp_hdr_t *h, char *why, size_t whylen);

/*  Encode h (h->cmd selects the layout) into buf.  Reads h->cmd and the fields that
    command carries, nothing else (a sender may leave the others unset).  Returns the
    length, or 0 when cap is too small. */
size_t xsp_hdr_encode(const xsp_hdr_t *h, void *buf, size_t cap);

/*  Name of a command ("REQUEST"), or "?" */
const char *xsp_cmd_name(unsigned cmd);

/* ---- the msgpack subset headers use (also handy for small payloads) ---- */

typedef struct {
    uint8_t *buf;
    size_t cap, len;
    bool overflow;          /* set when a write did not fit; len then stops growing */
} xsp_mpw_t;

void xsp_mpw_init(xsp_mpw_t *w, void *buf, size_t cap);
void xsp_mpw_array(xsp_mpw_t *w, uint32_t n);
void xsp_mpw_map(xsp_mpw_t *w, uint32_t n);
void xsp_mpw_uint(xsp_mpw_t *w, uint64_t v);
void xsp_mpw_bool(xsp_mpw_t *w, bool v);
void xsp_mpw_nil(xsp_mpw_t *w);
void xsp_mpw_str(xsp_mpw_t *w, const char *s, size_t len);
void xsp_mpw_cstr(xsp_mpw_t *w, const char *s);

typedef struct {
    const uint8_t *p, *end;
} xsp_mpr_t;

/*  Each returns 0 on success, -1 on a type mismatch or truncation (cursor unchanged). */
void xsp_mpr_init(xsp_mpr_t *r, const void *buf, size_t len);
int xsp_mpr_array(xsp_mpr_t *r, uint32_t *n);
int xsp_mpr_map(xsp_mpr_t *r, uint32_t *n);
int xsp_mpr_uint(xsp_mpr_t *r, uint64_t *v);
int xsp_mpr_bool(xsp_mpr_t *r, bool *v);
int xsp_mpr_str(xsp_mpr_t *r, xsp_str_t *s);   /* accepts str and bin */
int xsp_mpr_nil(xsp_mpr_t *r);
int xsp_mpr_skip(xsp_mpr_t *r);                 /* any one object, nesting bounded */
/*  Type of the next object: 'u' uint, 'i' negative int, 's' str/bin, 'a' array, 'm' map,
    'b' bool, 'n' nil, 'f' float, 'x' ext, 0 at end/invalid. */
int xsp_mpr_peek(const xsp_mpr_t *r);

#ifdef __cplusplus
}
#endif
#endif

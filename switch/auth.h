/*  auth.h — who a peer is: CURVE keys on tcp, the peer's uid on ipc (docs/security.md).

    Owns: the switch's own CURVE key pair (--curve-keys DIR: DIR/switch.key_secret), the
    certificate table (--certs DIR: one zcert public file per identity, metadata
    `identity` and `domid`), the ZAP handler that accepts or refuses each CURVE handshake
    (a REP socket on inproc://zeromq.zap.01, served by the switch's own event loop: no
    thread), and reading a connection's authenticated identity off a received frame.
    Never touches: what an identity may do (policy.c), sessions (peer.c).

    How an identity is established (libzmq 4.3 facts, docs/security.md "Mechanism"):
      - tcp endpoints bound after sw_auth_arm() run the CURVE mechanism; libzmq asks the ZAP
        handler about every client key.  A key not in the table is refused (status 400):
        the handshake fails, the connection never reaches the ROUTER, the refusal is
        counted and logged with the key.  A known key is answered 200 with User-Id = the
        cert's identity and the metadata property "Xsp-Domid" = its domid; libzmq attaches
        both to every frame of that connection (zmq_msg_gets).
      - ipc connections use the NULL mechanism; libzmq attaches "Peer-Address" =
        "localhost:UID:GID:PID" from SO_PEERCRED to every frame.
      - a tcp endpoint of a switch without --curve-keys is unauthenticated.
*/
#ifndef SW_AUTH_H
#define SW_AUTH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <zmq.h>

typedef struct sw_auth sw_auth_t;

/*  Xen's DOMID_INVALID: the domid reported for a peer whose domain is unknown. */
#define SW_DOMID_UNKNOWN 0x7FF4u
#define SW_IDENT_MAX 80

typedef enum {
    SW_AUTH_NONE,       /* tcp without CURVE: nothing is known */
    SW_AUTH_UID,        /* ipc: the kernel told us the uid */
    SW_AUTH_CURVE,      /* tcp with a known CURVE key */
} sw_auth_kind_t;

/*  A connection's authenticated identity. */
typedef struct {
    sw_auth_kind_t kind;
    char name[SW_IDENT_MAX];    /* cert identity, "uid:N", or "unauthenticated" */
    uint32_t domid;             /* CURVE: the cert's domid; else unset (0) */
    bool has_domid;
    uid_t uid;                  /* SW_AUTH_UID only */
} sw_ident_t;

/*  Load the switch key pair from keys_dir (may be NULL: no CURVE) and the certificates
    from certs_dir (may be NULL).  NULL + a sentence in err on a bad file or directory. */
sw_auth_t *sw_auth_new(const char *keys_dir, const char *certs_dir, char *err, size_t errlen);
void sw_auth_destroy(sw_auth_t **self_p);

/*  Bind the ZAP handler in zctx (before any CURVE endpoint is bound).  0 or -1. */
int sw_auth_start(sw_auth_t *self, void *zctx);
/*  Endpoints bound from now on on sock are ipc ones (ZAP reports their peer's uid). */
int sw_auth_arm_ipc(void *sock);
/*  Make endpoints bound from now on on sock CURVE servers (no-op without keys).  0 or -1. */
int sw_auth_arm(sw_auth_t *self, void *sock);
/*  Does this switch run CURVE on its tcp endpoints? */
bool sw_auth_curve(const sw_auth_t *self);
/*  The ZAP socket for the event loop's poll set (NULL when none). */
void *sw_auth_zap_socket(const sw_auth_t *self);
/*  Watch sock's handshakes (monitor): failures are counted and logged.  0 or -1. */
int sw_auth_watch(sw_auth_t *self, void *zctx, void *sock);
void *sw_auth_monitor_socket(const sw_auth_t *self);
uint64_t sw_auth_handshake_failed(const sw_auth_t *self);
/*  Answer every waiting ZAP request and read handshake events (never blocks). */
void sw_auth_serve(sw_auth_t *self);
/*  Counters for DIAG. */
uint64_t sw_auth_refused(const sw_auth_t *self);
uint64_t sw_auth_accepted(const sw_auth_t *self);
size_t sw_auth_ncerts(const sw_auth_t *self);

/*  The identity of the connection frame arrived on. */
void sw_auth_identify(const zmq_msg_t *frame, sw_ident_t *out);
/*  Does frame come from a connection with identity id?  (Cheap: one property lookup.) */
bool sw_auth_same(const zmq_msg_t *frame, const sw_ident_t *id);

#endif

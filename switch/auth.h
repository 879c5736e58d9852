/*  auth.h — who a peer really is and what it may do: CURVE for tcp endpoints, a
    certificate directory, the uid of ipc peers, a ZAP handler, the policy file, and the
    rules a peer that is not an administrator lives under.

    Owns: sw->auth (the switch's key pair, the table public key -> certificate, the ZAP
    socket); the CURVE options set on the ROUTER socket before the tcp endpoints are bound
    (ipc endpoints, bound before, keep the NULL mechanism: the socket file's mode is their
    access control); answering ZAP requests; the identity of an authenticated peer at HELLO.
    Never touches: sessions beyond stamping the identity on them, queues, payloads.

    Rules (docs/security.md): a tcp peer must present a key found in --certs DIR (else the
    CURVE handshake fails: logged with the key, counted as DIAG counters.auth_refused).  Its
    certificate's metadata then replaces what HELLO claims: `domid` becomes the peer's domid
    (what DELIVER reports to servers and so what the registrar enforces against), and
    `identity` is logged.  An authenticated peer not in dom0 may SUBSCRIBE only to queues
    under the comma-separated prefixes of its certificate's `serve` metadata, never to
    org.xen.xsp.registrar, may send REQUESTs only to org.xen.xsp.registrar and to queues under
    its certificate's `call` prefixes, and may not TRACE or DIAG; each refusal is permission-denied with
    a sentence, a log line naming the identity, and counters.auth_refused.

    With a policy file (--policy FILE, default /etc/xsp/policy.conf when it exists; policy.h):
      - ipc endpoints are bound with the ZAP domain "xsp-ipc": the ZAP handler learns the
        peer's uid (libzmq's SO_PEERCRED, "localhost:UID:GID:PID") and answers User-Id
        "uid:N" with the metadata Xsp-Auth = "ipc".  uid 0 and the switch's own uid are
        administrators (everything allowed, HELLO's domid stands); any other local user is
        identity uid:N, restricted, and reported as the domid its policy rule gives, else
        DOMID_INVALID (32756);
      - a tcp peer without CURVE is "unauthenticated": restricted, domid 32756;
      - a restricted peer's grants are its certificate's serve/call plus its rule's serve,
        call, trace and diag (the rule of its identity, else domid:N, else *).
    Without a policy file the rules are the certificates' alone (ipc is not restricted).

    Prefixes match at a boundary (policy.h): `org.xen.xsp.storage.nbd` covers
    `…nbd` and `…nbd.peer`, never `…nbdx`; nobody restricted serves `org.xen.xsp.registrar`
    or anything under it.

    A session is bound to the authenticated identity that said HELLO: a message arriving on
    its routing id from a connection with another identity (a new connection reusing the
    routing id of one that went away) ends that session and is refused (permission-denied).
    Handshake failures (a plaintext peer on a CURVE endpoint, a bad key) are logged and
    counted (counters.handshakes_failed) through a socket monitor.
*/
#ifndef SW_AUTH_H
#define SW_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "switch.h"

/*  Load the switch's secret certificate and every *.key in certs_dir (both NULL: no CURVE)
    and the policy file (NULL: none); bind the ZAP handler, watch handshakes.
    Returns 0, or -1 with a sentence in err. */
int sw_auth_open(sw_t *sw, const char *secret_file, const char *certs_dir, const char *policy_file,
                 char *err, size_t errlen);
/*  Before binding ipc endpoints: let the ZAP handler learn their peers' uid (with a policy). */
int sw_auth_arm_ipc(sw_t *sw);
/*  The handshake monitor socket to poll (NULL without auth). */
void *sw_auth_monitor(const sw_t *sw);
/*  Is frame (not a HELLO) from the identity that opened p's session?  false: p was ended
    and the sender told (the caller must not touch p). */
bool sw_auth_same(sw_t *sw, sw_peer_t *p, const zmq_msg_t *frame, const void *rid, size_t rid_len,
                  unsigned cmd, uint64_t ref);
/*  Make the endpoints bound from now on require CURVE (call after binding ipc). */
int sw_auth_arm_tcp(sw_t *sw);
/*  The ZAP socket to poll (NULL without auth). */
void *sw_auth_socket(const sw_t *sw);
/*  Answer every waiting ZAP request (non-blocking). */
void sw_auth_process(sw_t *sw);
/*  At HELLO: stamp the authenticated identity of the connection that sent frame onto p
    (domid from its certificate).  No-op for unauthenticated (ipc) connections. */
void sw_auth_hello(sw_t *sw, sw_peer_t *p, const zmq_msg_t *frame);
/*  May p subscribe to queue?  Returns true, or false after sending permission-denied. */
bool sw_auth_may_serve(sw_t *sw, sw_peer_t *p, const char *queue, size_t len, unsigned cmd);
/*  May p send a REQUEST to queue?  Same convention (the refusal answers corr). */
bool sw_auth_may_call(sw_t *sw, sw_peer_t *p, const char *queue, size_t len, uint64_t corr);
/*  May p use TRACE/DIAG (what: "trace" or "diag")?  Same convention. */
bool sw_auth_may_observe(sw_t *sw, sw_peer_t *p, const char *what, unsigned cmd, uint64_t corr);
void sw_auth_close(sw_t *sw);

#endif

/*  xsp/cert.h — CURVE key pairs and certificates (docs/security.md "Keys").

    Owns: making a key pair (zmq_curve_keypair) and reading/writing certificate files in
    CZMQ's ZPL format (what `zcert_save` writes, so czmq tools read them too):

        metadata
            identity = "plugin-nbd"
            domid = "3"
            serve = "org.xen.xsp.storage.nbd"      (queue prefixes it may serve)
            call = "org.xen.xsp.storage.nbd"       (queue prefixes it may call)
        curve
            public-key = "<40 Z85 characters>"
            secret-key = "<40 Z85 characters>"      (only in NAME.key_secret)

    `xsp keygen NAME DIR [--domid N]` writes DIR/NAME.key (public: give it to the switch's
    --certs directory) and DIR/NAME.key_secret (mode 0600: keep it in the peer's domain).
    Never touches: sockets (the session and the switch apply the keys).

    Errors: XSP_E_INVALID_ARGUMENT naming the file and what is wrong; XSP_E_SYSTEM for I/O.
    THREAD-SAFETY: pure functions on their arguments.
*/
#ifndef XSP_CERT_H
#define XSP_CERT_H

#include <stdbool.h>
#include <stdint.h>

#include "xsp/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XSP_Z85_KEY_LEN 40          /* a 32-byte key in Z85 */
#define XSP_CERT_IDENTITY_MAX 64

typedef struct {
    char public_key[XSP_Z85_KEY_LEN + 1];
    char secret_key[XSP_Z85_KEY_LEN + 1];   /* "" in a public certificate */
    char identity[XSP_CERT_IDENTITY_MAX + 1]; /* metadata identity ("" when absent) */
    bool has_domid;
    uint32_t domid;                         /* metadata domid */
    char serve[512];                        /* metadata serve: queue prefixes, comma-separated */
    char call[512];                         /* metadata call: queue prefixes it may call
                                               (besides org.xen.xsp.registrar) */
} xsp_cert_t;

/*  Read a certificate file.  Returns err->code. */
int xsp_cert_load(const char *path, xsp_cert_t *cert, xsp_error_t *err);
/*  A new key pair with identity, domid (has_domid false: none), serve and call prefixes
    (NULL: none). */
int xsp_cert_new(const char *identity, bool has_domid, uint32_t domid, const char *serve,
                 const char *call, xsp_cert_t *cert, xsp_error_t *err);
/*  Write DIR/NAME.key (public, 0644) and DIR/NAME.key_secret (0600).  Returns err->code. */
int xsp_cert_save(const xsp_cert_t *cert, const char *dir, const char *name, xsp_error_t *err);

#ifdef __cplusplus
}
#endif
#endif

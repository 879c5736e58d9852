/*  xsp/endpoint.h — where the switch is, and how to prove who we are to it: the one
    endpoint rule every xsp tool follows.

    Owns: the default run directory, the choice of the switch endpoint, and the process's
    CURVE settings for tcp endpoints (docs/security.md).
    Never touches: the connection itself (the session creates the socket and calls
    xsp_endpoint_secure on it before connecting).  Only xsp_endpoint_secure reads files.

    The rule, first match wins:
      1. an explicit endpoint (a --switch argument, an API argument);
      2. the environment variable XSP_SWITCH, when set and not empty;
      3. ipc://RUN_DIR/switch.sock with RUN_DIR = xsp_default_run_dir().

    The default run directory is /run/xsp for root (uid 0); else $XDG_RUNTIME_DIR/xsp when
    XDG_RUNTIME_DIR is set and not empty; else /tmp/xsp-UID.

    Thread-safety: both functions only read the environment; they are safe to call from
    any thread as long as no thread changes the environment (setenv) at the same time.
    Ownership: the caller owns buf; nothing is allocated.
*/
#ifndef XSP_ENDPOINT_H
#define XSP_ENDPOINT_H

#include <stddef.h>

#include "xsp/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  The environment variable that names the switch endpoint. */
#define XSP_SWITCH_ENV "XSP_SWITCH"
/*  Socket file name inside the run directory. */
#define XSP_SWITCH_SOCK "switch.sock"
/*  Buffer size that always holds a resolved endpoint. */
#define XSP_ENDPOINT_MAX 1024

/*  Write the default run directory (rule above) into buf, NUL-terminated.
    Returns 0, or -1 when buf is too small (buf then holds a truncated, terminated path). */
int xsp_default_run_dir(char *buf, size_t cap);

/*  Write the endpoint to use into buf: explicit_or_null if it is not NULL and not empty,
    else $XSP_SWITCH, else ipc://RUN_DIR/switch.sock.  Returns 0, or -1 when buf is too
    small (truncated, terminated). */
int xsp_endpoint_resolve(const char *explicit_or_null, char *buf, size_t cap);

/*  CURVE for tcp endpoints (a switch started with --curve-keys refuses anything else).
    Process-wide, first match wins:
      1. xsp_endpoint_set_curve(cert, switch_key) (plugins: --curve-cert, --switch-key);
      2. the environment: XSP_CURVE_CERT and XSP_SWITCH_KEY.
    cert: this process's certificate as made by `xsp keygen NAME DIR` — DIR/NAME.key (the
    secret half DIR/NAME.key_secret is read; either name may be given).
    switch_key: the switch's public certificate, DIR/switch.key.
    ipc endpoints never use CURVE (the switch checks the peer's uid).  Thread-safe. */
#define XSP_CURVE_CERT_ENV "XSP_CURVE_CERT"
#define XSP_SWITCH_KEY_ENV "XSP_SWITCH_KEY"
/*  Set (both non-NULL) or clear (both NULL) the process's CURVE files; they are read at
    each connection.  Returns 0, or -1 + err when only one is given or a path is too long. */
int xsp_endpoint_set_curve(const char *cert, const char *switch_key, xsp_error_t *err);

/*  Prepare a libzmq socket (before zmq_connect) for endpoint: for a tcp:// endpoint with
    CURVE configured, load both certificates and make the socket a CURVE client.  Returns 0
    (also when nothing applies), or -1 + err (XSP_E_INVALID_ARGUMENT naming the file) when
    a certificate cannot be loaded. */
int xsp_endpoint_secure(void *zmq_socket, const char *endpoint, xsp_error_t *err);

#ifdef __cplusplus
}
#endif
#endif

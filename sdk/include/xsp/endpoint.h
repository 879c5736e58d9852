/*  xsp/endpoint.h — where the switch is: the one endpoint rule every xsp tool follows.

    Owns: the default run directory and the choice of the switch endpoint.
    Never touches: sockets, the heap, the file system (nothing is created or checked).

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

#ifdef __cplusplus
}
#endif
#endif

/*  xsp/error.h — errors are values: a code from one closed enum plus a human sentence.

    Owns: the list of every error code xsp speaks (transport, switch, storage), their
    wire names ("server-lost", "queue-full" ...), and the xsp_error_t value type.
    Never touches: sockets, allocation (an xsp_error_t is a plain struct, copy it freely).

    The wire name is what travels in ERROR frames and in storage error replies; the enum
    value is only stable inside one build.  Unknown wire names decode to XSP_E_UNKNOWN so a
    newer peer can never crash an older one.  Thread-safety: all functions are reentrant.
*/
#ifndef XSP_ERROR_H
#define XSP_ERROR_H

#include <stddef.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  X(ENUM, "wire-name", "what it means") — the single list of codes. */
#define XSP_ERROR_CODES(X) \
    X(XSP_OK,                        "ok",                         "success") \
    /* transport and switch */ \
    X(XSP_E_TIMEOUT,                 "timeout",                    "the caller's own timeout passed before any answer") \
    X(XSP_E_EXPIRED,                 "expired",                    "the request's deadline passed in the switch, queued or in flight") \
    X(XSP_E_SERVER_LOST,             "server-lost",                "the server died with an at-most-once request in flight") \
    X(XSP_E_QUEUE_FULL,              "queue-full",                 "the queue is at its maximum depth") \
    X(XSP_E_TOO_LARGE,               "too-large",                  "a frame is larger than the switch accepts") \
    X(XSP_E_TOO_MANY_OUTSTANDING,    "too-many-outstanding",       "the peer has too many unanswered requests") \
    X(XSP_E_TOO_MANY_QUEUES,         "too-many-queues",            "the switch holds its maximum number of queues") \
    X(XSP_E_TOO_MANY_PEERS,          "too-many-peers",             "the switch holds its maximum number of peers") \
    X(XSP_E_PROTOCOL,                "protocol",                   "a malformed or unknown frame") \
    X(XSP_E_VERSION,                 "version",                    "protocol version mismatch") \
    X(XSP_E_NO_SESSION,              "no-session",                 "the peer must say HELLO first (or again, after a switch restart)") \
    X(XSP_E_SHUTDOWN,                "shutdown",                   "the switch is shutting down") \
    X(XSP_E_DISCONNECTED,            "disconnected",               "the connection to the switch was lost") \
    X(XSP_E_PERMISSION_DENIED,       "permission-denied",          "the identity is not allowed to do this") \
    X(XSP_E_INVALID_ARGUMENT,        "invalid-argument",           "an argument is malformed or out of range") \
    X(XSP_E_DECODE,                  "decode",                     "a payload could not be decoded") \
    X(XSP_E_APPLICATION,             "application",                "the server answered with an error of its own") \
    /* storage (SMAPIv3 surface) */ \
    X(XSP_E_UNIMPLEMENTED,           "unimplemented",              "the plugin does not implement this method") \
    X(XSP_E_SR_NOT_ATTACHED,         "sr-not-attached",            "the SR is not attached") \
    X(XSP_E_SR_DOES_NOT_EXIST,       "sr-does-not-exist",          "no such SR") \
    X(XSP_E_VOLUME_DOES_NOT_EXIST,   "volume-does-not-exist",      "no such volume") \
    X(XSP_E_ACTIVATED_ON_ANOTHER_HOST, "activated-on-another-host", "the volume is active on another host or domain") \
    X(XSP_E_BACKEND_FAILURE,         "backend-failure",            "the storage backend failed") \
    X(XSP_E_CANCELLED,               "cancelled",                  "the operation was cancelled") \
    X(XSP_E_NO_PLUGIN_FOR_URI,       "no-plugin-for-uri",          "no live plugin serves this URI scheme") \
    /* local */ \
    X(XSP_E_SYSTEM,                  "system",                     "a system call failed") \
    X(XSP_E_INTERNAL,                "internal",                   "an internal error (a bug)") \
    X(XSP_E_UNKNOWN,                 "unknown",                    "a code this build does not know")

typedef enum {
#define XSP_X_ENUM(e, name, doc) e,
    XSP_ERROR_CODES(XSP_X_ENUM)
#undef XSP_X_ENUM
    XSP_E__COUNT
} xsp_code_t;

#define XSP_ERROR_MSG_MAX 512

/*  An error value.  code == XSP_OK means success and msg is "". */
typedef struct {
    xsp_code_t code;
    char msg[XSP_ERROR_MSG_MAX];
} xsp_error_t;

/*  "server-lost" for XSP_E_SERVER_LOST; "unknown" for out-of-range values. */
const char *xsp_code_name(xsp_code_t code);
/*  One-line meaning of the code, for docs and --help. */
const char *xsp_code_doc(xsp_code_t code);
/*  Wire name (not NUL-terminated: ptr+len) to code; XSP_E_UNKNOWN if not known. */
xsp_code_t xsp_code_from_name(const char *name, size_t len);

/*  Set *err (may be NULL: then nothing happens) and return code, so callers write
    `return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "size %zu too big", n);` */
int xsp_error_set(xsp_error_t *err, xsp_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int xsp_error_vset(xsp_error_t *err, xsp_code_t code, const char *fmt, va_list ap);
/*  Reset to XSP_OK / "". */
void xsp_error_clear(xsp_error_t *err);

#ifdef __cplusplus
}
#endif
#endif

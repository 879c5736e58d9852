/*  xsp/resolve.h — address storage by URI: the registrar tells which plugin queue serves it.

    Owns: the toolstack side of the registrar — resolving a URI (or a bare scheme) to the
    live plugin that serves it (Registrar.resolve on org.xen.xsp.registrar), a per-client
    cache of the answers, and its invalidation (a `server-lost` / `no-plugin-for-uri` /
    `disconnected` error, or a change seen through Registrar.watch).
    Never touches: the wire (xsp/client.h does the calls), what the plugin answers (the
    generated stubs decode it), the registrar's own state.

    A toolstack names only a URI:

        xsp_resolver_t *r = xsp_resolver_new(client, NULL, &err);
        xsp_datapath_attach_result_t res;
        if (xsp_datapath_attach_by_uri(r, NULL, "vm5-boot", "file:///srv/sr1/vol7", "5",
                                       &res, &err) == XSP_OK) ...

    By-URI stubs (generated into xsp/storage_client.h next to the queue-addressed ones): for
    every storage method whose first argument after dbg is a `uri` or an `sr` (SR keys are
    URIs of the plugin's scheme), xsp_<iface>_<method>_by_uri(resolver, opts, dbg, <the
    same arguments as the queue stub>, &result, &err) resolves that argument's scheme
    (cached), calls the plugin's queue, and when the call fails with a retryable error
    (xsp_resolver_retryable) invalidates the cached answer, resolves again and retries ONCE.
    Methods with no URI argument (Plugin.*, SR.probe/create/attach) take the queue from
    xsp_resolver_queue(r, "file:", ...) — a bare "scheme:" is a valid thing to resolve.

    Errors (err->code, with a sentence): XSP_E_NO_PLUGIN_FOR_URI naming the scheme when no
    live plugin serves it; XSP_E_INVALID_ARGUMENT for a string with no scheme; the
    transport errors of xsp/client.h when the registrar cannot be reached.

    THREAD-SAFETY: like its client: one thread at a time (the client's thread).
    OWNERSHIP: the resolver borrows the client (destroy the resolver first); results handed
    out are owned by the caller (xsp_resolve_result_dispose); the string returned by
    xsp_resolver_queue is owned by the resolver and valid until its next call.
*/
#ifndef XSP_RESOLVE_H
#define XSP_RESOLVE_H

#include <stdbool.h>

#include "xsp/client.h"
#include "xsp/error.h"
#include "xsp/registrar.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsp_resolver xsp_resolver_t;

/*  The registrar's well-known queue. */
#define XSP_REGISTRAR_QUEUE "org.xen.xsp.registrar"

/*  A resolver using client; registrar_queue NULL = XSP_REGISTRAR_QUEUE.  NULL on failure
    (err says why). */
xsp_resolver_t *xsp_resolver_new(xsp_client_t *client, const char *registrar_queue,
                                 xsp_error_t *err);
void xsp_resolver_destroy(xsp_resolver_t **self_p);

/*  Resolve uri (a URI or a bare "scheme:"), from the cache when it holds the scheme.
    result may be NULL; on XSP_OK it is filled and owned by the caller.  Returns err->code. */
int xsp_resolver_resolve(xsp_resolver_t *self, const char *uri, const char *dbg,
                         xsp_resolve_result_t *result, xsp_error_t *err);

/*  The queue serving uri (resolving as above), or NULL with err set. */
const char *xsp_resolver_queue(xsp_resolver_t *self, const char *uri, const char *dbg,
                               xsp_error_t *err);

/*  Forget the cached answer for uri's scheme (NULL = every answer). */
void xsp_resolver_invalidate(xsp_resolver_t *self, const char *uri);

/*  True for the errors after which a by-URI call resolves again and retries once:
    server-lost, no-plugin-for-uri, disconnected (the implementation may add more, e.g. a
    timeout on a queue that has no consumer left; documented in sdk/resolve.c). */
bool xsp_resolver_retryable(const xsp_error_t *err);

/*  The client the resolver uses. */
xsp_client_t *xsp_resolver_client(const xsp_resolver_t *self);

#ifdef __cplusplus
}
#endif
#endif

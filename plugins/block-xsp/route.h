/*  route.h — which plugin serves a URI: the one place block-xsp asks the registrar.

    Owns: turning a URI into the plugin (name, queue, domain) that serves its scheme.
    Never touches: the storage calls themselves (steps.c), xenstore.

    Today it calls Registrar.resolve (the generated stub) on org.xen.xsp.registrar with
    kind = datapath; when xsp/resolve.h's resolver lands this is the only function that
    changes (the answer is the same xsp_resolve_result_t).

    Errors (err->code + sentence): XSP_E_NO_PLUGIN_FOR_URI (no live plugin for the scheme),
    XSP_E_INVALID_ARGUMENT (not a URI), transport errors (registrar or switch down:
    XSP_E_TIMEOUT, XSP_E_EXPIRED, ...).
*/
#ifndef BX_ROUTE_H
#define BX_ROUTE_H

#include <stdint.h>

#include "xsp/client.h"
#include "xsp/error.h"
#include "xsp/registrar.h"

typedef struct {
    char *plugin;       /* the plugin's registered name */
    char *queue;        /* where to send its storage calls */
    uint32_t domid;     /* the domain it runs in */
    xsp_backend_policy_t policy;    /* its registered backend policy (xsp/validate.h) */
} bx_route_t;

/*  Resolve uri within timeout_ms (> 0).  On XSP_OK *route is filled (bx_route_dispose). */
int bx_route_resolve(xsp_client_t *client, const char *uri, const char *dbg, uint32_t timeout_ms,
                     bx_route_t *route, xsp_error_t *err);
void bx_route_dispose(bx_route_t *route);

#endif

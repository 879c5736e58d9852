/*  route.c — URI to plugin through the registrar (contract in route.h).

    Owns: nothing beyond the answer it returns.
    Never touches: the registrar's state, storage calls, xenstore.
*/
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "xsp/registrar_client.h"

#define REGISTRAR_QUEUE "org.xen.xsp.registrar"

int bx_route_resolve(xsp_client_t *client, const char *uri, const char *dbg, uint32_t timeout_ms,
                     bx_route_t *route, xsp_error_t *err)
{
    xsp_resolve_result_t res;
    xsp_plugin_kind_t kind = XSP_PLUGIN_KIND_DATAPATH;
    xsp_call_opts_t o = { .timeout_ms = timeout_ms, .wait_ms = timeout_ms + 200, .dbg = dbg };
    int rc;

    memset(route, 0, sizeof *route);
    xsp_resolve_result_init(&res);
    rc = xsp_registrar_resolve(client, REGISTRAR_QUEUE, &o, dbg, uri, &kind, &res, err);
    if (rc != XSP_OK)
        return rc;
    route->plugin = strdup(res.plugin ? res.plugin : "");
    route->queue = strdup(res.queue ? res.queue : "");
    route->domid = res.domid;
    route->policy = res.backend_policy;
    xsp_resolve_result_dispose(&res);
    if (!route->plugin || !route->queue) {
        bx_route_dispose(route);
        return xsp_error_set(err, XSP_E_SYSTEM, "out of memory");
    }
    return XSP_OK;
}

void bx_route_dispose(bx_route_t *route)
{
    free(route->plugin);
    free(route->queue);
    memset(route, 0, sizeof *route);
}

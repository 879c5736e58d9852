/*  xsp/validate.h — dom0 does not trust plugins: check what a plugin answered before a
    toolstack acts on it (docs/security.md "Plugin answers").

    Owns: the rules a plugin's Datapath.attach answer must meet.  Never touches: the wire,
    the registrar, the answer itself (read only).

    xsp_validate_attach_result(who, r, err): who is the registrar's resolve answer for the
    plugin that answered (its domain and registered backend policy: the registrar recorded
    the domid the switch authenticated, never one the plugin chose).  The answer r passes
    when ALL of these hold:
      backend domain   below 32752 (Xen's first reserved domid), and
                       - policy fixed:      exactly the registered backend domid;
                       - policy own_domain: the plugin's own domain;
                       - policy on_demand:  any domain, but not dom0 unless the plugin itself
                                            runs in dom0;
                       source plugin_domain only with the plugin's own domid;
                       domain_uuid (optional) 1-64 characters of [0-9A-Fa-f-].
      implementations  1 to 16, each:
                       - block_device: an absolute normalized path under /dev/ (no `.` or
                         `..` component, no `//`, no trailing `/`);
                       - file: an absolute normalized path (same rules, anywhere);
                       - nbd: a URI starting nbd:// or nbd+unix://;
                       - xen_disk: backend_type 1-64 of [a-z0-9_-]; extra keys 1-256 of
                         [A-Za-z0-9_.-] (no `/`: they stay under sm-data);
                       no string anywhere holds a control character (0x00-0x1f, 0x7f).
    Returns XSP_OK; else XSP_E_PERMISSION_DENIED (a backend domain the plugin may not name)
    or XSP_E_INVALID_ARGUMENT (a malformed path, URI or key), with a sentence naming the
    plugin, the field and the value.

    Where it is called: by the by-URI Datapath.attach path (sdk/resolve.c) on every
    successful answer, before the result reaches the caller; a toolstack calling a plugin
    queue directly must call it itself.  Thread-safe (pure).
*/
#ifndef XSP_VALIDATE_H
#define XSP_VALIDATE_H

#include <stdbool.h>

#include "xsp/error.h"
#include "xsp/registrar.h"
#include "xsp/storage.h"

#ifdef __cplusplus
extern "C" {
#endif

int xsp_validate_attach_result(const xsp_resolve_result_t *who, const xsp_datapath_attach_result_t *r,
                               xsp_error_t *err);

/*  The path rule alone: absolute, normalized, no control characters; under_dev requires
    the /dev/ prefix.  Exposed for plugins that want to check themselves. */
bool xsp_validate_path(const char *path, bool under_dev);

#ifdef __cplusplus
}
#endif
#endif

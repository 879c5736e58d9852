/*  xsp/validate.h — dom0 does not trust plugins: check an answer before acting on it.

    Owns: the rules a toolstack applies to what a storage plugin returns before it uses
    it (docs/security.md "What dom0 checks").  Today: Datapath.attach's backend.
    Never touches: the network, the registrar (the caller passes the plugin's
    registration as resolved), the answer itself (only read).

    The by-URI stubs (xsp/storage_by_uri.h) apply it to every Datapath.attach answer: a
    violation turns the call into XSP_E_PERMISSION_DENIED and the answer is dropped.
    block-xsp applies it too.  Call it yourself when addressing a plugin by queue.

    Rules for a backend (xsp_backend_t) from plugin `who`:
      - the backend domain agrees with the plugin's registered backend policy: `fixed` D →
        domid D; `own_domain` → the domain the plugin runs in (who->domid); `on_demand` →
        any domain, but dom0 only for a plugin that itself runs in dom0;
      - at least one implementation, at most 16;
      - block_device.path: an absolute path under /dev/, no `.`/`..` components, no `//`;
      - file.path: absolute, no `.`/`..` components, no `//`;
      - xen_disk.backend_type: 1-32 of [a-z0-9_-]; params and extra keys/values without
        control characters; extra keys 1-64 of [A-Za-z0-9_-];
      - nbd.uri: `nbd:`, `nbd://`, `nbds://` or `nbd+unix://` … with no control characters
        or spaces;
      - no string longer than 4096 bytes or containing control characters (a newline in a
        path would let a plugin forge xenstore or log lines).

    Errors: XSP_E_PERMISSION_DENIED with a sentence naming the plugin, the field and why.
    THREAD-SAFETY: pure functions, any thread.
*/
#ifndef XSP_VALIDATE_H
#define XSP_VALIDATE_H

#include "xsp/error.h"
#include "xsp/registrar.h"
#include "xsp/storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Check b, the answer of plugin who to Datapath.attach.  Returns err->code. */
int xsp_validate_backend(const xsp_resolve_result_t *who, const xsp_backend_t *b, xsp_error_t *err);

#ifdef __cplusplus
}
#endif
#endif

/*  plugin_reg.h — (private) a plugin's registration with the registrar, for plugin.c.

    Owns: one client session on the switch (claiming the plugin's domid, so the registrar
    sees the plugin's domain), the Registrar.register / unregister calls and a
    Registrar.watch long poll, all asynchronous: nothing here ever blocks the plugin's loop
    except plugin_reg_unregister() at exit (bounded).
    Never touches: the plugin's serving session (server.c), its queue subscription, the
    plugin's loop (plugin.c polls plugin_reg_fd() and calls plugin_reg_process()).

    Life of a registration (docs/registrar.md, "The SDK side"):
      - plugin_reg_subscribed() after every (re)subscribe: send register (replacing one in
        flight).  While the registrar is absent the request waits in its queue until its
        deadline (REGISTER_TIMEOUT_MS); then it is sent again after a backoff (1 s, doubling
        to 30 s).  A refusal (permission-denied, invalid-argument) is logged with the
        registrar's sentence and tried again every 60 s (the policy may change on SIGHUP).
      - Registrar.watch is kept outstanding (WATCH_WAIT_MS long polls), from just before the
        first register on (so the registrar's boot_id is known before it registers us).
        A different boot_id means the registrar restarted: register again.  A `removed`
        event for our id (the registrar dropped us, e.g. after a policy change): register
        again after 1 s.  A `changed` event for our name with another queue: another
        instance replaced us: log it and stop re-registering (until the next switch
        session).
      - plugin_reg_unregister() at a clean exit: unregister, waiting at most wait_ms.
*/
#ifndef XSP_PLUGIN_REG_H
#define XSP_PLUGIN_REG_H

#include <stddef.h>
#include <stdint.h>

#include "xsp/error.h"
#include "xsp/registrar.h"

typedef struct plugin_reg plugin_reg_t;

typedef struct {
    const char *endpoint;           /* NULL = the endpoint rule */
    const char *peer_name;          /* the plugin's peer name (the client adds ".reg") */
    uint32_t domid;                 /* claimed in HELLO: the registrar sees this domain */
    const char *registrar;          /* NULL = XSP_REGISTRAR_QUEUE */
    const char *name;               /* registration name (plugin_name rules) */
    const char *version;
    const char *queue;              /* the queue served */
    const char *const *schemes;     /* nschemes entries */
    size_t nschemes;
    unsigned kinds;                 /* XSP_PLUGIN_SERVES_* bits, 0 = both */
    xsp_backend_policy_t backend;
    const char *const *features;    /* NULL-terminated, may be NULL */
} plugin_reg_cfg_t;

/*  Copies cfg.  Connects lazily (never waits for the switch).  NULL + err on failure. */
plugin_reg_t *plugin_reg_new(const plugin_reg_cfg_t *cfg, xsp_error_t *err);
void plugin_reg_destroy(plugin_reg_t **self_p);

/*  For the loop: a fd to poll for reading, the longest wait (ms) before process. */
int plugin_reg_fd(const plugin_reg_t *self);
int plugin_reg_timeout_ms(const plugin_reg_t *self);
void plugin_reg_process(plugin_reg_t *self);

/*  The plugin (re)subscribed its queue: register (again) now. */
void plugin_reg_subscribed(plugin_reg_t *self);

/*  Clean exit: stop re-registering; unregister when registered, waiting at most wait_ms. */
void plugin_reg_unregister(plugin_reg_t *self, int wait_ms);

/*  Parse --backend-domain: "own", "on-demand" or a domid.  Returns 0 or -1. */
int plugin_reg_parse_backend(const char *s, xsp_backend_policy_t *out);

#endif

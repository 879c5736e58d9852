/*  xsp/plugin.h — a storage plugin daemon in one call: xsp_plugin_main().

    Owns: the life of a storage plugin process — the common command line, logging, the
    connection to the switch, the subscription of its queue, dispatching every request to
    the plugin's handler table (xsp_storage_ops_t, generated from sdk/idl/storage.idl), a
    small event loop with timers for handlers that answer LATER, SIGTERM/SIGINT handling
    and a clean shutdown (exit status 0).
    Never touches: what the handlers do (the plugin's code); the registrar calls live in
    sdk/plugin_reg.c (see REGISTRATION below).

    A plugin author writes the handlers and:

        static const xsp_storage_ops_t ops = { .datapath_attach = attach, ... };
        int main(int argc, char **argv)
        {
            static const char *const schemes[] = { "file", NULL };
            static const xsp_plugin_def_t def = {
                .name = "file", .description = "raw image files", .ops = &ops,
                .schemes = schemes,     // registers with the registrar for file: URIs
            };
            return xsp_plugin_main(argc, argv, &def);
        }

    Common options (def may add its own, see xsp_plugin_option_t):
        --switch ENDPOINT   the switch (default: $XSP_SWITCH, else ipc://RUN_DIR/switch.sock)
        --queue NAME        queue to serve (default def->queue, else org.xen.xsp.storage.NAME)
        --domain N          the domid this plugin runs in, claimed in HELLO (default 0); a
                            switch with CURVE reports its certificate's domid instead
        --curve-cert FILE   with --switch-key: CURVE for a tcp --switch (docs/security.md):
                            this plugin's NAME.key_secret, the switch's public switch.key
        --switch-key FILE   (the same as $XSP_CURVE_CERT and $XSP_CURVE_SERVER)
        --log-level L       err, warn, info (default) or debug
        --syslog            log to syslog (daemon facility) instead of stderr
        --foreground        accepted for compatibility: the plugin ALWAYS runs in the
                            foreground.  It never forks, detaches or writes a pid file; run
                            it under a supervisor (systemd Type=exec, runit, a toolstack).
        --credit N          requests delivered at once (default: the worker count, else 64);
                            with --workers N it is at most N (a larger value is lowered to N,
                            logged); with --workers 0 it is exactly N, requests answered
                            later included
        --workers N         0 = handlers run in the event loop (they must not block: answer
                            later from a timer or an fd instead); N = a pool of N threads for
                            handlers that block (credit is then at most N)
        --scheme S          register as serving URI scheme S (repeatable; replaces
                            def->schemes)
        --backend-domain D  where backends run: own (default: the --domain the plugin runs
                            in), a domid (a fixed backend domain) or on-demand
        --registrar QUEUE   the registrar's queue (default org.xen.xsp.registrar)
        --no-register       do not register (also: no schemes at all)
        --help, --version
    Exit status: 0 after SIGTERM/SIGINT or xsp_plugin_stop(); 1 when the plugin cannot start
    (no switch within 5 s, init failed); 2 for a usage error (bad option or queue name).
    SIGTERM/SIGINT are blocked in every thread and read from a signalfd, so they are seen
    between loop turns (during the initial 5 s connection wait, only after it).

    Event loop: the main thread runs the loop (the switch connection, timers, signals).
    Handlers run there when workers is 0, else on worker threads.  A handler that must wait
    (I/O, a child process, a delay) keeps its xsp_storage_call_t and answers later, e.g. from
    a timer (xsp_plugin_after), so a slow call never blocks the others.

    Shutdown (SIGTERM/SIGINT): the registration is withdrawn, the queue is unsubscribed (the switch keeps new requests for
    another instance), every pending timer fires at once with xsp_plugin_stopping() true so
    held calls get answered, calls in progress get up to 3 s to finish, then def->fini runs,
    the session ends with BYE and xsp_plugin_main returns 0.

    REGISTRATION (docs/registrar.md, "The SDK side"): with at least one scheme, the plugin
    registers as xsp-plugin-NAME (its peer name) with its queue, schemes, kinds, version,
    backend policy and features, from a second session on the switch that claims the same
    --domain (the registrar takes the domain from the switch).  Nothing of it blocks the
    loop: Registrar.register is sent asynchronously after every (re)subscribe — at start
    and after each new session with a restarted switch.  While the registrar is absent the
    request waits in its queue (10 s), then is sent again with a backoff (1 s doubling to
    30 s); a refusal (permission-denied, invalid-argument) is logged with the registrar's
    sentence and retried every 60 s (the policy may change).  From just before the first
    register on, a Registrar.watch long poll (5 s) is kept outstanding: a new boot_id means the registrar
    restarted (re-register), a `removed` event for our id means the registrar dropped us
    (re-register after 1 s), a `changed` event for our name from another queue means another
    instance replaced us (logged; we stop re-registering until the next switch session).
    Every outcome is logged (info: registered, with the id; err: refusals; warn: the
    registrar not answering, first time).  Clean exit (SIGTERM/SIGINT): Registrar.unregister
    first (waiting at most 2 s), then the unsubscribe and drain below.  After a crash the
    registrar notices the queue has no consumer and drops the registration.
    def->on_connected is called after every (re)subscribe, on the loop thread, for plugins
    that need to (re)announce something themselves; it runs before any request of that
    session reaches a handler (workers included).

    THREAD-SAFETY: xsp_plugin_after(), xsp_plugin_stop() and the read-only accessors may be
    called from any thread (handlers on workers included); the rest from the loop thread.
    OWNERSHIP: def and everything it points to must outlive xsp_plugin_main (use static
    data).  The xsp_plugin_t belongs to xsp_plugin_main; it is valid from def->init to the
    end of def->fini.
*/
#ifndef XSP_PLUGIN_H
#define XSP_PLUGIN_H

#include <stdbool.h>
#include <stdint.h>

#include "xsp/server.h"
#include "xsp/storage_server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsp_plugin xsp_plugin_t;

/*  A plugin-specific command-line option (long form only). */
typedef struct xsp_plugin_option {
    const char *name;       /* without the leading "--", e.g. "root-dir" */
    const char *arg;        /* name of its argument for --help ("DIR"), NULL = a flag */
    const char *help;       /* one line for --help */
} xsp_plugin_option_t;

/*  xsp_plugin_def_t.kinds bits. */
#define XSP_PLUGIN_SERVES_VOLUME   1u   /* SR and Volume (the control path) */
#define XSP_PLUGIN_SERVES_DATAPATH 2u   /* Datapath (the data path) */

typedef struct xsp_plugin_def {
    /*  Required: short name, e.g. "file": the default queue org.xen.xsp.storage.file, the
        peer name xsp-plugin-file, the log identity xsp-plugin-file. */
    const char *name;
    const char *description;    /* one line for --help */
    const char *version;        /* for --version; NULL = libxsp's version */
    const char *queue;          /* default queue; NULL = "org.xen.xsp.storage.<name>" */
    const xsp_storage_ops_t *ops;   /* NULL entries answer `unimplemented` */
    void *ctx;                  /* passed to every handler and hook */
    unsigned workers;           /* default for --workers */
    unsigned credit;            /* default for --credit (0 = workers, or 64 without) */

    /*  Registration with the registrar (docs/registrar.md).  schemes: the URI schemes
        served, NULL-terminated (e.g. {"file", NULL}); NULL = the plugin does not register
        (unless --scheme is given).  kinds: XSP_PLUGIN_SERVES_VOLUME | _DATAPATH (0 = both).
        backend_domain: the default for --backend-domain: "own" (NULL: the domain the
        plugin runs in), a domid in decimal (a fixed backend domain), or "on-demand"
        (decided by each Datapath.attach).  features: NULL-terminated, may be NULL. */
    const char *const *schemes;
    unsigned kinds;
    const char *backend_domain;
    const char *const *features;

    /*  Extra options, terminated by an entry with name NULL (or NULL for none).  For each
        one given, option(ctx, name, value) runs (value NULL for a flag) during parsing;
        return 0, or non-zero after printing why to stderr (usage error, exit 2). */
    const xsp_plugin_option_t *options;
    int (*option)(void *ctx, const char *name, const char *value);

    /*  Connected, before subscribing: set up state, timers.  Non-zero = exit status 1. */
    int (*init)(void *ctx, xsp_plugin_t *plugin);
    /*  After every (re)subscribe, on the loop thread (see REGISTRATION above). */
    void (*on_connected)(void *ctx, xsp_plugin_t *plugin);
    /*  After the loop and the drain, before disconnecting: release state. */
    void (*fini)(void *ctx, xsp_plugin_t *plugin);
} xsp_plugin_def_t;

/*  Run the plugin: parse argv, connect, serve until SIGTERM/SIGINT.  Returns the process
    exit status (0, 1 or 2, see above); call it from main() and return its value.  Call it
    once, from the main thread, before starting threads of your own. */
int xsp_plugin_main(int argc, char **argv, const xsp_plugin_def_t *def);

/*  A timer callback: runs once on the loop thread. */
typedef void xsp_plugin_timer_fn(xsp_plugin_t *plugin, void *arg);

/*  Run fn(plugin, arg) on the loop thread after ms milliseconds (0 = at the next loop
    turn: also the way for a worker to hand work to the loop).  Timers due at the same
    time run in the order they were added.  When the plugin stops, pending timers run at
    once (xsp_plugin_stopping() is then true) so nothing held is lost.  Any thread.
    Returns 0, or -1 when out of memory. */
int xsp_plugin_after(xsp_plugin_t *plugin, unsigned ms, xsp_plugin_timer_fn *fn, void *arg);

/*  Ask the loop to stop (as SIGTERM does).  Any thread. */
void xsp_plugin_stop(xsp_plugin_t *plugin);
/*  True once stopping began. */
bool xsp_plugin_stopping(const xsp_plugin_t *plugin);

/*  Read-only facts (any thread).  The server itself may only be used from the loop thread
    (xsp/server.h), e.g. in def->init or a timer. */
xsp_server_t *xsp_plugin_server(const xsp_plugin_t *plugin);
const char *xsp_plugin_queue(const xsp_plugin_t *plugin);
const char *xsp_plugin_name(const xsp_plugin_t *plugin);
uint32_t xsp_plugin_domid(const xsp_plugin_t *plugin);
unsigned xsp_plugin_workers(const xsp_plugin_t *plugin);
/*  The backend-domain policy in force (--backend-domain, else def->backend_domain): NULL or
    "own", a domid in decimal, or "on-demand" (already checked by the option parser).  A
    plugin's Datapath.attach answers its backend domain from it. */
const char *xsp_plugin_backend_domain(const xsp_plugin_t *plugin);

#ifdef __cplusplus
}
#endif
#endif

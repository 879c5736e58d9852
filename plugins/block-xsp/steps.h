/*  steps.h — what `block-xsp add` and `block-xsp remove` do, and how add is undone.

    Owns: the order of the storage calls (Datapath.open → attach → activate; undone as
    deactivate → loop device → detach → close), the record of them under the backend path,
    the switch connection, and the sentence a person reads in hotplug-error.
    Never touches: anything outside $XENBUS_PATH; plugins' state beyond those calls.

    THE RECORD ($XENBUS_PATH/xsp-*), written AHEAD of each step, so that whatever happens
    to this process (killed by libxl at 40 s, a crash) the record names at least what was
    done; every undo call is idempotent, so undoing a step that never ran is harmless:
        xsp-uri        the URI (params at add time)
        xsp-plugin     the plugin that served it (registrar name)
        xsp-queue      its queue at add time
        xsp-domain     the domain string given to attach/activate (the frontend domid)
        xsp-stage      open | attach | activate | connected: the furthest step begun
        xsp-loop       /dev/loopN block-xsp made over the plugin's file (file implementation)
        xsp-loop-file  the file behind it (checked before the device is taken apart)
    `remove` reads only the record (never params), resolves the URI again (a restarted
    plugin may serve it from another queue; the recorded queue is used when the registrar
    cannot be reached), undoes, and removes the record.  A plugin that is gone (no live
    plugin for the scheme, or a call that times out) is logged with what stays undone, and
    remove still succeeds; the loop device block-xsp made is removed in every case.

    add, in order:  read params and mode → connect to the switch ($XSP_SWITCH or the
    default endpoint) → resolve the URI (route.h) → open(persistent) → attach(domain =
    frontend domid) → check the backend domain is this one → choose the implementation
    (blockdev.h; a loop device over a file) → activate → physical-device,
    physical-device-path, hotplug-status = connected.  On any failure: undo what the record
    says, then hotplug-error (one sentence: URI, plugin, step, the error, what was undone)
    and hotplug-status = error.  A record left by an earlier add of the same backend (killed
    half way) is undone first.

    Time: every call is bounded by budget.h; add starts no step after 2/3 of the budget.
*/
#ifndef BX_STEPS_H
#define BX_STEPS_H

#include "budget.h"
#include "xenbus.h"

/*  One run of block-xsp. */
typedef struct {
    bx_xenbus_t *xb;        /* borrowed */
    bx_budget_t budget;
    const char *action;     /* "add" or "remove" */
} bx_run_t;

/*  0: the disk is connected (hotplug-status = connected); 1: it failed, hotplug-error and
    hotplug-status = error are written and what was done is undone. */
int bx_steps_add(bx_run_t *run);
/*  0: undone as far as possible (see above); 1 only when xenstore itself failed. */
int bx_steps_remove(bx_run_t *run);

#endif

/*  datapath.h — the data path of xsp-plugin-file: open/close, attach/detach,
    activate/deactivate of volume data named by file:///SR-DIR/KEY.img.

    Owns: each volume's data-path state, in SR/.xsp/datapath/KEY (rewritten crash-safely,
    removed when idle; it survives plugin restarts):
        open persistent|non-persistent
        attached DOMAIN             (one line per attached domain)
        active DOMAIN               (the holder of the exclusive activation)
    the loop device of each attached volume (one per volume, shared by its domains, held
    by the plugin: loopdev.h), the pristine copy SR/.xsp/reset/KEY.img that a
    non-persistent open keeps (a reflink, else a sparse copy), and the handlers.

    Rules (docs/plugins/file.md):
    - open(persistent=false) copies the data aside; close renames the copy back over the
      data file, so every write made in between is dropped.  Closing a volume still
      attached first releases its loop device (logged).
    - attach is idempotent: the same loop device for every call and every domain while the
      volume stays attached.  It answers the backend domain (the plugin's own domain) and,
      most preferred first: block_device /dev/loopN, xen_disk qdisk (params = the file,
      extra format=raw, mode=w|r), file.
    - activate is exclusive: a second domain gets activated-on-another-host whose `host`
      detail is the holder's domain string, until the holder deactivates (or detaches).
    - detach never fails for a well-formed URI: it drops the domain, and when none is left
      it releases the loop device and any other loop device still bound to the file
      (after a crash); what it cannot clean is logged.
    - A malformed URI, one outside every attached SR, or a malformed domain (empty, over
      256 bytes, or with a space or control character) is refused with invalid-argument by
      every method.
    Never touches: volume records (volume.c), anything outside the SR but /dev/loop*.
*/
#ifndef FP_DATAPATH_H
#define FP_DATAPATH_H

#include <stdbool.h>
#include <stddef.h>

#include "sr.h"

/*  After the SRs are re-attached at start: hold a loop device again for every attached
    volume, release loop devices bound to files of an SR that nothing has attached. */
void fp_dp_init(void);
/*  The same for one SR that was just attached (SR.attach). */
void fp_dp_sr_attached(fp_sr_t *sr);
/*  The SR is being detached: release the loop devices of its volumes (logged when one is
    still attached; its state stays on disk, so SR.attach binds it again). */
void fp_dp_sr_detached(fp_sr_t *sr);
/*  Release every held loop device (at exit: with autoclear the kernel unbinds them once
    their consumers close them). */
void fp_dp_fini(void);
/*  Is the volume open, attached or active?  why gets a short reason. */
bool fp_dp_in_use(fp_sr_t *sr, const char *key, char *why, size_t cap);
/*  The volume is gone: drop its data-path state and pristine copy. */
void fp_dp_forget(fp_sr_t *sr, const char *key);
/*  The volume's file grew: tell its loop device. */
void fp_dp_resized(fp_sr_t *sr, const char *key);
/*  Diagnostics text (held loop devices). */
void fp_dp_describe(char *buf, size_t cap);

int fp_datapath_open(void *ctx, xsp_storage_call_t *call, const xsp_datapath_open_args_t *a);
int fp_datapath_attach(void *ctx, xsp_storage_call_t *call, const xsp_datapath_attach_args_t *a);
int fp_datapath_activate(void *ctx, xsp_storage_call_t *call, const xsp_datapath_activate_args_t *a);
int fp_datapath_deactivate(void *ctx, xsp_storage_call_t *call, const xsp_datapath_deactivate_args_t *a);
int fp_datapath_detach(void *ctx, xsp_storage_call_t *call, const xsp_datapath_detach_args_t *a);
int fp_datapath_close(void *ctx, xsp_storage_call_t *call, const xsp_datapath_close_args_t *a);

#endif

/*  xenbus.h — what libxl hands a block hotplug script, and the xenstore nodes block-xsp
    reads and writes under the backend path.

    Owns: the libxl environment (XENBUS_PATH, XENBUS_TYPE, XENBUS_BASE_PATH, script, as
    tools/libs/light/libxl_linux.c sets them), the libxenstore connection, and every node
    block-xsp touches under $XENBUS_PATH:
      read   params (the URI: the disk spec's target=), mode (r|w), frontend-id
      write  physical-device (hex major:minor), physical-device-path,
             hotplug-status (connected|error), hotplug-error (one sentence)
      own    xsp-*: the record of what `add` did, so `remove` undoes exactly that (steps.h)
    and the backend domain's own id (relative node `domid`, /local/domain/<self>/domid).
    Never touches: frontend nodes, libxl's /libxl/... copy, nodes outside $XENBUS_PATH.

    Paths: XENBUS_PATH is relative ("backend/vbd/<frontend-domid>/<devid>"): xenstored
    resolves it under the caller's /local/domain/<self>, which is how a driver domain
    running `xl devd` finds its own backends.  An absolute /local/domain/<d>/backend/... is
    accepted too (manual runs).

    Every xenstore access is a single request (no transaction): libxl does not touch these
    nodes while the script runs.  libxenstore calls block; main.c's watchdog bounds them.
*/
#ifndef BX_XENBUS_H
#define BX_XENBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bx_xenbus bx_xenbus_t;

/*  Read and check the environment, connect to xenstored.  NULL on failure with a sentence
    in why (e.g. "XENBUS_PATH is not set: block-xsp must be run by libxl ..."). */
bx_xenbus_t *bx_xenbus_new(char *why, size_t cap);
void bx_xenbus_destroy(bx_xenbus_t **self_p);

/*  $XENBUS_PATH as given. */
const char *bx_xenbus_path(const bx_xenbus_t *self);
/*  The frontend domid: from the path (backend/<type>/<fe>/<devid>), checked against the
    frontend-id node when it exists.  -1 with a sentence in why when they disagree. */
int bx_xenbus_frontend(bx_xenbus_t *self, uint32_t *domid, char *why, size_t cap);
/*  The domain block-xsp runs in (the backend domain): /local/domain/<self>/domid read
    through the relative node "domid"; 0 when absent (dom0 without xen-init-dom0's node). */
uint32_t bx_xenbus_own_domid(bx_xenbus_t *self);

/*  $XENBUS_PATH/node: malloc'd value, or NULL when absent (errno ENOENT) or on error. */
char *bx_xenbus_read(bx_xenbus_t *self, const char *node);
/*  Write / remove $XENBUS_PATH/node.  0, or -1 with errno.  rm of an absent node is 0. */
int bx_xenbus_write(bx_xenbus_t *self, const char *node, const char *value);
int bx_xenbus_rm(bx_xenbus_t *self, const char *node);

/*  Another backend of this domain (same XENBUS_BASE_PATH and type) whose xsp-uri is uri:
    its path into other (may be NULL) and 1; 0 when none.  Datapath.close is per URI, not
    per domain: it is only called after the last user on this host is gone. */
int bx_xenbus_other_user(bx_xenbus_t *self, const char *uri, char *other, size_t cap);

/*  The hotplug outcome, as libxl waits for it: physical-device, physical-device-path, then
    hotplug-status = connected (last: libxl reads the others once it sees it).  -1 on a
    xenstore failure (the caller reports it with bx_xenbus_fail). */
int bx_xenbus_connected(bx_xenbus_t *self, unsigned major, unsigned minor, const char *path);
/*  hotplug-error = sentence, then hotplug-status = error; also logged. */
void bx_xenbus_fail(bx_xenbus_t *self, const char *sentence);

#endif

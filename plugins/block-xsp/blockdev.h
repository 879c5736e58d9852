/*  blockdev.h — from the backend a plugin's Datapath.attach offers to the block device
    Linux blkback is given.

    Owns: the choice among the offered implementations and the device numbers.
    Never touches: loop devices (loop.c makes them), xenstore, the switch.

    Choice, in the plugin's order of preference, the first one usable here:
      block_device{path}  used as is: it must be a block device in this (the backend)
                          domain; the plugin owns it and removes it on detach;
      file{path}          block-xsp puts a loop device over it (and removes it on remove);
    xen_disk (a backend type of its own: vbd3, qdisk) and nbd cannot be expressed through a
    `script=` disk, whose backend type libxl already fixed as vbd: skipped.  When none is
    usable, the sentence names what was offered.
*/
#ifndef BX_BLOCKDEV_H
#define BX_BLOCKDEV_H

#include <stddef.h>

#include "xsp/storage.h"

typedef enum { BX_DEV_BLOCK = 1, BX_DEV_FILE } bx_dev_kind_t;

typedef struct {
    bx_dev_kind_t kind;
    const char *path;   /* borrowed from the backend */
} bx_choice_t;

/*  0 and *out, or -1 with a sentence ("the plugin offered only xen_disk(vbd3), nbd; ..."). */
int bx_blockdev_choose(const xsp_backend_t *b, bx_choice_t *out, char *why, size_t cap);
/*  Major and minor of a block device.  0, or -1 with a sentence (missing, not a block device). */
int bx_blockdev_numbers(const char *path, unsigned *major, unsigned *minor, char *why, size_t cap);

#endif

/*  loopdev.h — loop block devices over volume files.

    Owns: the loop devices this plugin binds, each held open by the plugin (an fd on
    /dev/loopN) from attach to release.  Devices are bound with LOOP_CONFIGURE (fallback:
    LOOP_SET_FD + LOOP_SET_STATUS64) through /dev/loop-control, always with
    LO_FLAGS_AUTOCLEAR: the kernel unbinds a device when its last opener closes it, so a
    device never outlives both the plugin and its consumer (blkback, qemu) — a plugin crash
    leaks nothing.  Devices bound earlier (by a previous instance of the plugin, still held
    by a consumer) are found by their backing file (/sys/block/loopN/loop/backing_file)
    and checked by device and inode (LOOP_GET_STATUS64) before anything is done to them.
    Never touches: loop devices whose backing file is not the one asked about.
*/
#ifndef FP_LOOPDEV_H
#define FP_LOOPDEV_H

#include <stdbool.h>
#include <stddef.h>

#include "fp.h"

typedef struct {
    int fd;             /* /dev/loopN, held open; -1 = none */
    int nr;             /* N */
    char path[32];      /* "/dev/loopN" */
} fp_loop_t;

/*  Bind a free loop device to the open file datafd (whose path is `path`, for the
    device's name), read-only when ro.  0, or -1 + backend-failure (no /dev/loop-control:
    the sentence says so). */
int fp_loop_bind(int datafd, const char *path, bool ro, fp_loop_t *out, fp_err_t *e);
/*  The loop devices bound to the file datafd (same device and inode), found by the
    backing-file name `path` (also "path (deleted)"): their numbers into nrs (at most cap).
    Returns how many. */
size_t fp_loop_find(int datafd, const char *path, int *nrs, size_t cap);
/*  The loop devices whose backing file is under `dir`/ (any inode): numbers into nrs,
    backing file names into files (each FP_PATH_MAX) when not NULL.  Returns how many. */
size_t fp_loop_find_under(const char *dir, int *nrs, char (*files)[FP_PATH_MAX], size_t cap);
/*  Hold the existing device N (open it).  0 or -1. */
int fp_loop_hold(int nr, fp_loop_t *out);
/*  Unbind and close a held device, then wait (up to 2 s) until the kernel has let it go.
    Never fails: returns 0 when the device is gone, -1 when it is still bound (e.g. a
    consumer still has it open: it goes when that one closes it), logged either way. */
int fp_loop_release(fp_loop_t *l);
/*  The same for device N, not held (found after a crash). */
int fp_loop_clear(int nr);
/*  Tell the device its file grew (LOOP_SET_CAPACITY).  0 or -1. */
int fp_loop_set_capacity(const fp_loop_t *l);
/*  The backing file of loop device N ("" when unbound) into buf. */
void fp_loop_backing_file(int nr, char *buf, size_t cap);

#endif

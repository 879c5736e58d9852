/*  loop.h — Linux loop devices for block-xsp: make one over a file, find out what backs one,
    take one apart.

    Owns: /dev/loop-control requests, LOOP_CONFIGURE / LOOP_CLR_FD on the devices block-xsp
    makes, and the /dev/loopN node when the system did not create it (no udev, a static
    /dev: mknod with the numbers /sys/block/loopN/dev gives).
    Never touches: xenstore, loop devices it is not asked about.

    Making one is two calls so the caller can record the device BEFORE it exists (a crash
    between the two leaves a record that names at most an unused device):
        int n = bx_loop_reserve(why, cap);            // a free number
        ...record /dev/loop<n>...
        bx_loop_configure(n, file, read_only, ...);   // EBUSY: someone took n, reserve again
    Removing checks the backing file first, so a number reused by someone else is never
    taken apart.  LOOP_CLR_FD on a device still open elsewhere (blkback not yet gone)
    makes the kernel clear it on its last close (autoclear), which is reported as success.
*/
#ifndef BX_LOOP_H
#define BX_LOOP_H

#include <stdbool.h>
#include <stddef.h>

/*  A free loop device number (LOOP_CTL_GET_FREE), or -1 with a sentence in why (e.g. no
    /dev/loop-control: "loop devices are not available: ..."). */
int bx_loop_reserve(char *why, size_t cap);
/*  "/dev/loop<n>" into buf. */
void bx_loop_name(int n, char *buf, size_t cap);
/*  Attach file to /dev/loop<n> (read-only when asked).  0; or -1 with errno (EBUSY: the
    number was taken meanwhile) and a sentence in why. */
int bx_loop_configure(int n, const char *file, bool read_only, char *why, size_t cap);
/*  The loop device number in "/dev/loopN", or -1. */
int bx_loop_number(const char *dev);
/*  What backs /dev/loop<n> (from /sys/block/loopN/loop/backing_file) into buf: 1 when
    attached, 0 when the device is free or gone, -1 on error. */
int bx_loop_backing(int n, char *buf, size_t cap);
/*  Detach /dev/loop<n> if, and only if, file backs it.  0 (also: already free, or cleared
    on last close); 1 when another file backs it (left alone); -1 with a sentence. */
int bx_loop_remove(int n, const char *file, char *why, size_t cap);

#endif

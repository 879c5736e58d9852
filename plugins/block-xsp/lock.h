/*  lock.h — one block-xsp at a time on a host.

    Owns: the host-wide lock file $XSP_BLOCK_LOCK (default /run/xsp-block.lock), held with
    flock(2) for a whole add or remove (released by the kernel when the process exits, even
    when killed).  It makes "is another backend still using this URI?" (close is per URI)
    and the record writes of two scripts for the same URI race-free, like the global lock
    of Xen's own block script.
    Never touches: anything else.
*/
#ifndef BX_LOCK_H
#define BX_LOCK_H

#include <stddef.h>
#include <stdint.h>

/*  Take the lock, waiting at most wait_ms.  The fd (keep it; closing releases), or -1 with
    a sentence in why. */
int bx_lock_take(uint32_t wait_ms, char *why, size_t cap);

#endif

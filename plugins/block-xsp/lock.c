/*  lock.c — the host-wide block-xsp lock (contract in lock.h).
    Owns: the lock file descriptor it returns.  Never touches: anything else. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "budget.h"
#include "lock.h"

int bx_lock_take(uint32_t wait_ms, char *why, size_t cap)
{
    const char *path = getenv("XSP_BLOCK_LOCK");
    int64_t end = bx_now_ms() + wait_ms;
    int fd;

    if (!path || !*path)
        path = "/run/xsp-block.lock";
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, cap, "cannot open the lock file %s: %s", path, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK || bx_now_ms() >= end) {
            snprintf(why, cap, "another block-xsp held %s for longer than %u ms", path, wait_ms);
            close(fd);
            return -1;
        }
        usleep(20 * 1000);
    }
    return fd;
}

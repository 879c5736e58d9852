/*  loop.c — loop devices (contract in loop.h).

    Owns: the file descriptors it opens (closed before returning).
    Never touches: xenstore; loop devices other than the one named by the caller.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "loop.h"

void bx_loop_name(int n, char *buf, size_t cap)
{
    snprintf(buf, cap, "/dev/loop%d", n);
}

int bx_loop_number(const char *dev)
{
    char *end;
    long n;
    if (!dev || strncmp(dev, "/dev/loop", 9) != 0 || dev[9] < '0' || dev[9] > '9')
        return -1;
    n = strtol(dev + 9, &end, 10);
    return *end || n > 1 << 20 ? -1 : (int) n;
}

int bx_loop_reserve(char *why, size_t cap)
{
    int fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC), n;
    if (fd < 0) {
        snprintf(why, cap, "loop devices are not available: cannot open /dev/loop-control: %s "
                 "(load the loop module: modprobe loop)", strerror(errno));
        return -1;
    }
    n = ioctl(fd, LOOP_CTL_GET_FREE);
    if (n < 0)
        snprintf(why, cap, "no free loop device (LOOP_CTL_GET_FREE): %s", strerror(errno));
    close(fd);
    return n;
}

/*  Read a small sysfs file into buf without the trailing newline; -1 when absent. */
static int read_sys(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t r;
    if (fd < 0)
        return -1;
    r = read(fd, buf, cap - 1);
    close(fd);
    if (r < 0)
        return -1;
    buf[r] = '\0';
    while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
        buf[--r] = '\0';
    return 0;
}

/*  Open /dev/loop<n>, creating the node from sysfs numbers when /dev lacks it. */
static int open_dev(int n, int flags, char *why, size_t cap)
{
    char dev[64], sys[96], nums[32];
    unsigned maj, min;
    int fd;

    bx_loop_name(n, dev, sizeof dev);
    fd = open(dev, flags | O_CLOEXEC);
    if (fd >= 0 || errno != ENOENT)
        goto out;
    snprintf(sys, sizeof sys, "/sys/block/loop%d/dev", n);
    if (read_sys(sys, nums, sizeof nums) != 0 || sscanf(nums, "%u:%u", &maj, &min) != 2) {
        errno = ENOENT;
        goto out;
    }
    if (mknod(dev, S_IFBLK | 0600, makedev(maj, min)) != 0 && errno != EEXIST)
        goto out;
    fd = open(dev, flags | O_CLOEXEC);
out:
    if (fd < 0)
        snprintf(why, cap, "cannot open %s: %s", dev, strerror(errno));
    return fd;
}

int bx_loop_configure(int n, const char *file, bool read_only, char *why, size_t cap)
{
    struct loop_config cfg;
    int ffd, lfd, e;

    ffd = open(file, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (ffd < 0) {
        e = errno;
        snprintf(why, cap, "cannot open %s %s: %s", file, read_only ? "read-only" : "read-write",
                 strerror(e));
        errno = e;
        return -1;
    }
    lfd = open_dev(n, O_RDWR, why, cap);
    if (lfd < 0) {
        e = errno;
        close(ffd);
        errno = e;
        return -1;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.fd = (unsigned) ffd;
    cfg.info.lo_flags = read_only ? LO_FLAGS_READ_ONLY : 0;
    snprintf((char *) cfg.info.lo_file_name, sizeof cfg.info.lo_file_name, "%s", file);
    if (ioctl(lfd, LOOP_CONFIGURE, &cfg) != 0) {
        e = errno;
        if (e == EINVAL || e == ENOTTY) {
            /* kernels before 5.8: the two-step way */
            struct loop_info64 info = cfg.info;
            if (ioctl(lfd, LOOP_SET_FD, ffd) == 0) {
                if (ioctl(lfd, LOOP_SET_STATUS64, &info) == 0)
                    goto ok;
                e = errno;
                ioctl(lfd, LOOP_CLR_FD, 0);
            } else {
                e = errno;
            }
        }
        snprintf(why, cap, "cannot attach %s to /dev/loop%d: %s", file, n, strerror(e));
        close(lfd);
        close(ffd);
        errno = e;
        return -1;
    }
ok:
    close(lfd);
    close(ffd);
    return 0;
}

int bx_loop_backing(int n, char *buf, size_t cap)
{
    char sys[96];
    snprintf(sys, sizeof sys, "/sys/block/loop%d/loop/backing_file", n);
    if (read_sys(sys, buf, cap) == 0)
        return 1;
    if (errno == ENOENT)
        return 0;       /* no such device, or nothing attached */
    return -1;
}

int bx_loop_remove(int n, const char *file, char *why, size_t cap)
{
    char backing[4096];
    int fd, r = bx_loop_backing(n, backing, sizeof backing);

    if (r == 0)
        return 0;
    if (r < 0) {
        snprintf(why, cap, "cannot read what backs /dev/loop%d: %s", n, strerror(errno));
        return -1;
    }
    /* the kernel appends " (deleted)" when the file was unlinked */
    size_t fl = strlen(file);
    if (strncmp(backing, file, fl) != 0 || (backing[fl] && strcmp(backing + fl, " (deleted)") != 0))
        return 1;
    fd = open_dev(n, O_RDONLY, why, cap);
    if (fd < 0)
        return -1;
    if (ioctl(fd, LOOP_CLR_FD, 0) != 0 && errno != ENXIO) {
        int e = errno;
        snprintf(why, cap, "cannot detach /dev/loop%d from %s: %s", n, file, strerror(e));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/*  loopdev.c — binding, finding and releasing loop devices (see loopdev.h).
    Owns: the fds of held devices.  Never touches: devices bound to other files. */
#define _GNU_SOURCE
#include "loopdev.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "xsp/log.h"

#define LOOP_CONTROL "/dev/loop-control"

void fp_loop_backing_file(int nr, char *buf, size_t cap)
{
    char p[96];
    buf[0] = '\0';
    snprintf(p, sizeof p, "/sys/block/loop%d/loop/backing_file", nr);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n')
        buf[n - 1] = '\0';
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int bind_one(int ctl, int datafd, const char *path, bool ro, fp_loop_t *out, fp_err_t *e)
{
    int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
    if (nr < 0)
        return fp_err(e, XSP_E_BACKEND_FAILURE, "command", "LOOP_CTL_GET_FREE", "no free loop device: %s",
                      strerror(errno));
    snprintf(out->path, sizeof out->path, "/dev/loop%d", nr);
    int fd = -1;
    for (int i = 0; i < 50 && fd < 0; i++) {    /* udev/devtmpfs may be a moment late */
        fd = open(out->path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
            sleep_ms(10);
        else if (fd < 0)
            break;
    }
    if (fd < 0)
        return fp_err(e, XSP_E_BACKEND_FAILURE, "command", "open", "cannot open %s: %s", out->path,
                      strerror(errno));
    struct loop_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.fd = (unsigned) datafd;
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (ro ? LO_FLAGS_READ_ONLY : 0);
    snprintf((char *) cfg.info.lo_file_name, sizeof cfg.info.lo_file_name, "%s", path);
    if (ioctl(fd, LOOP_CONFIGURE, &cfg) != 0) {
        if (errno != EINVAL && errno != ENOTTY) {   /* EBUSY: taken meanwhile */
            int err = errno;
            close(fd);
            errno = err;
            return -2;
        }
        /* kernels before 5.8: the two-step way */
        if (ioctl(fd, LOOP_SET_FD, datafd) != 0) {
            int err = errno;
            close(fd);
            errno = err;
            return -2;
        }
        if (ioctl(fd, LOOP_SET_STATUS64, &cfg.info) != 0) {
            int err = errno;
            ioctl(fd, LOOP_CLR_FD, 0);
            close(fd);
            return fp_err(e, XSP_E_BACKEND_FAILURE, "command", "LOOP_SET_STATUS64", "%s: %s", out->path,
                          strerror(err));
        }
    }
    out->fd = fd;
    out->nr = nr;
    return 0;
}

int fp_loop_bind(int datafd, const char *path, bool ro, fp_loop_t *out, fp_err_t *e)
{
    out->fd = -1;
    out->nr = -1;
    int ctl = open(LOOP_CONTROL, O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return fp_err(e, XSP_E_BACKEND_FAILURE, "command", "open " LOOP_CONTROL,
                      "cannot open %s: %s (is the loop module loaded? are we root?)", LOOP_CONTROL,
                      strerror(errno));
    int rc = -2;
    for (int tries = 0; tries < 16 && rc == -2; tries++)
        rc = bind_one(ctl, datafd, path, ro, out, e);
    close(ctl);
    if (rc == -2)
        return fp_err(e, XSP_E_BACKEND_FAILURE, "command", "LOOP_CONFIGURE", "cannot bind a loop device to %s: %s",
                      path, strerror(errno));
    if (rc == 0)
        xsp_log(XSP_LOG_INFO, "%s bound to %s%s", out->path, path, ro ? " (read-only)" : "");
    return rc;
}

static bool same_file(int nr, dev_t dev, ino_t ino)
{
    char p[32];
    struct loop_info64 info;
    snprintf(p, sizeof p, "/dev/loop%d", nr);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool same = ioctl(fd, LOOP_GET_STATUS64, &info) == 0 && info.lo_device == (uint64_t) dev &&
                info.lo_inode == (uint64_t) ino;
    close(fd);
    return same;
}

/*  Every bound loop device: calls fn(nr, backing, arg); stops at cap results. */
static size_t scan(bool (*fn)(int nr, const char *backing, void *arg), void *arg)
{
    DIR *d = opendir("/sys/block");
    size_t n = 0;
    struct dirent *de;
    char backing[FP_PATH_MAX];
    while (d && (de = readdir(d))) {
        char *end;
        if (strncmp(de->d_name, "loop", 4) != 0)
            continue;
        long nr = strtol(de->d_name + 4, &end, 10);
        if (end == de->d_name + 4 || *end || nr < 0 || nr > 1 << 20)
            continue;
        fp_loop_backing_file((int) nr, backing, sizeof backing);
        if (backing[0] && fn((int) nr, backing, arg))
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

typedef struct {
    const char *path;
    size_t plen;
    struct stat st;
    int *nrs;
    char (*files)[FP_PATH_MAX];
    size_t n, cap;
} find_t;

static bool match_file(int nr, const char *backing, void *arg)
{
    find_t *f = arg;
    if (f->n >= f->cap || strncmp(backing, f->path, f->plen) != 0 ||
        (backing[f->plen] && strcmp(backing + f->plen, " (deleted)") != 0) ||
        !same_file(nr, f->st.st_dev, f->st.st_ino))
        return false;
    f->nrs[f->n++] = nr;
    return true;
}

size_t fp_loop_find(int datafd, const char *path, int *nrs, size_t cap)
{
    find_t f = { .path = path, .plen = strlen(path), .nrs = nrs, .cap = cap };
    if (fstat(datafd, &f.st) != 0)
        return 0;
    scan(match_file, &f);
    return f.n;
}

static bool match_dir(int nr, const char *backing, void *arg)
{
    find_t *f = arg;
    if (f->n >= f->cap || strncmp(backing, f->path, f->plen) != 0 || backing[f->plen] != '/' ||
        strchr(backing + f->plen + 1, '/'))
        return false;
    if (f->files)
        snprintf(f->files[f->n], FP_PATH_MAX, "%s", backing);
    f->nrs[f->n++] = nr;
    return true;
}

size_t fp_loop_find_under(const char *dir, int *nrs, char (*files)[FP_PATH_MAX], size_t cap)
{
    find_t f = { .path = dir, .plen = strcmp(dir, "/") == 0 ? 0 : strlen(dir), .nrs = nrs, .files = files,
                 .cap = cap };
    scan(match_dir, &f);
    return f.n;
}

int fp_loop_hold(int nr, fp_loop_t *out)
{
    snprintf(out->path, sizeof out->path, "/dev/loop%d", nr);
    out->nr = nr;
    out->fd = open(out->path, O_RDONLY | O_CLOEXEC);
    return out->fd < 0 ? -1 : 0;
}

/*  Wait until device nr no longer has `backing` as its backing file. */
static int wait_gone(int nr, const char *backing)
{
    char now[FP_PATH_MAX];
    for (int i = 0; i < 200; i++) {
        fp_loop_backing_file(nr, now, sizeof now);
        if (!now[0] || strcmp(now, backing) != 0)
            return 0;
        sleep_ms(10);
    }
    return -1;
}

static int unbind(int fd, int nr)
{
    char backing[FP_PATH_MAX];
    fp_loop_backing_file(nr, backing, sizeof backing);
    if (!backing[0]) {
        close(fd);
        return 0;
    }
    /* a busy device (a consumer has it open) is only marked autoclear by the kernel */
    if (ioctl(fd, LOOP_CLR_FD, 0) != 0 && errno != ENXIO)
        xsp_log(XSP_LOG_INFO, "/dev/loop%d: LOOP_CLR_FD: %s (it goes when its last user closes it)", nr,
                strerror(errno));
    close(fd);
    if (wait_gone(nr, backing) != 0) {
        xsp_log(XSP_LOG_WARN, "/dev/loop%d is still bound to %s: someone still has it open; the kernel "
                "unbinds it (autoclear) when they close it", nr, backing);
        return -1;
    }
    xsp_log(XSP_LOG_INFO, "/dev/loop%d released (was %s)", nr, backing);
    return 0;
}

int fp_loop_release(fp_loop_t *l)
{
    if (l->fd < 0)
        return 0;
    int rc = unbind(l->fd, l->nr);
    l->fd = -1;
    return rc;
}

int fp_loop_clear(int nr)
{
    char p[32];
    snprintf(p, sizeof p, "/dev/loop%d", nr);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        xsp_log(XSP_LOG_WARN, "cannot open %s to release it: %s", p, strerror(errno));
        return -1;
    }
    return unbind(fd, nr);
}

int fp_loop_set_capacity(const fp_loop_t *l)
{
    return l->fd < 0 ? 0 : ioctl(l->fd, LOOP_SET_CAPACITY, 0);
}

/*  copy.c — reflink or sparse copy of volume data (see copy.h).
    Owns: nothing.  Never touches: files other than src and dst. */
#define _GNU_SOURCE
#include "copy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int copy_range(int src, int dst, off_t off, off_t end)
{
    char buf[1 << 16];
    static __thread int no_cfr;
    while (off < end) {
        size_t want = (size_t) (end - off > (1 << 30) ? (1 << 30) : end - off);
        if (!no_cfr) {
            off_t in = off, out = off;
            ssize_t n = copy_file_range(src, &in, dst, &out, want, 0);
            if (n > 0) {
                off += n;
                continue;
            }
            if (n == 0)
                return errno = EIO, -1;     /* src shrank under us */
            if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
                return -1;
            no_cfr = 1;
        }
        char *b = buf;
        ssize_t n = pread(src, b, want < sizeof buf ? want : sizeof buf, off);
        if (n <= 0)
            return n == 0 ? (errno = EIO, -1) : -1;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = pwrite(dst, b + done, (size_t) (n - done), off + done);
            if (w <= 0)
                return -1;
            done += w;
        }
        off += n;
    }
    return 0;
}

int fp_copy_data(int src, int dst, const char **how)
{
    struct stat st;
    if (fstat(src, &st) != 0)
        return -1;
    if (ioctl(dst, FICLONE, src) == 0) {
        *how = "reflink";
        return fsync(dst);
    }
    *how = "sparse copy";
    if (ftruncate(dst, st.st_size) != 0)
        return -1;
    off_t off = 0;
    while (off < st.st_size) {
        off_t data = lseek(src, off, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO)
                break;                      /* only a hole is left */
            return -1;
        }
        off_t hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0)
            return -1;
        if (hole > st.st_size)
            hole = st.st_size;
        if (copy_range(src, dst, data, hole) != 0)
            return -1;
        off = hole;
    }
    return fsync(dst);
}

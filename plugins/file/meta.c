/*  meta.c — crash-safe metadata files and their records (see meta.h).
    Owns: the temporary file of a write in progress.  Never touches: volume data. */
#define _GNU_SOURCE
#include "meta.h"

#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"

#define RECORD_MAX (1u << 22)

int fp_dir_sync(int dirfd)
{
    return fsync(dirfd);
}

int fp_meta_write(int dirfd, const char *name, const void *buf, size_t len)
{
    static atomic_uint seq;
    char tmp[512];
    snprintf(tmp, sizeof tmp, ".%s.tmp.%d.%u", name, (int) getpid(), atomic_fetch_add(&seq, 1));
    int fd = fp_openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return -1;
    const char *p = buf;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        p += w;
        left -= (size_t) w;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (renameat(dirfd, tmp, dirfd, name) != 0)
        goto fail;
    return fp_dir_sync(dirfd);
fail:;
    int saved = errno ? errno : EIO;
    if (fd >= 0)
        close(fd);
    unlinkat(dirfd, tmp, 0);
    errno = saved;
    return -1;
}

int fp_meta_read(int dirfd, const char *name, size_t max, char **buf, size_t *len)
{
    struct stat st;
    int fd = fp_openat(dirfd, name, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        if (n == cap) {
            if (cap >= max) {
                free(b);
                close(fd);
                errno = EFBIG;
                return -1;
            }
            cap *= 2;
            char *nb = realloc(b, cap + 1);
            if (!nb)
                break;
            b = nb;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int saved = errno;
            free(b);
            close(fd);
            errno = saved;
            return -1;
        }
        if (r == 0) {
            close(fd);
            b[n] = '\0';
            *buf = b;
            if (len)
                *len = n;
            return 0;
        }
        n += (size_t) r;
    }
    free(b);
    close(fd);
    errno = ENOMEM;
    return -1;
}

/* ------------------------------------------------------------------ records */

typedef int encode_fn(msgpack_packer *pk, const void *p, xsp_error_t *err);
typedef int unpack_fn(const void *buf, size_t len, void *out, xsp_error_t *err);

static int record_write(int dirfd, const char *name, const void *rec, encode_fn *enc)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    xsp_error_t err;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int rc = -1;
    if (enc(&pk, rec, &err) != XSP_OK)
        errno = EINVAL;
    else
        rc = fp_meta_write(dirfd, name, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int record_read(int dirfd, const char *name, void *out, unpack_fn *unpack)
{
    char *buf;
    size_t len;
    xsp_error_t err;
    if (fp_meta_read(dirfd, name, RECORD_MAX, &buf, &len) != 0)
        return -1;
    int rc = unpack(buf, len, out, &err) == XSP_OK ? 0 : -1;
    free(buf);
    if (rc != 0)
        errno = EBADMSG;
    return rc;
}

static int enc_volume(msgpack_packer *pk, const void *p, xsp_error_t *err)
{
    return xsp_volume_encode(pk, p, err);
}

static int unpack_volume(const void *buf, size_t len, void *out, xsp_error_t *err)
{
    return xsp_volume_unpack(buf, len, out, err);
}

static int enc_sr(msgpack_packer *pk, const void *p, xsp_error_t *err)
{
    return xsp_sr_stat_encode(pk, p, err);
}

static int unpack_sr(const void *buf, size_t len, void *out, xsp_error_t *err)
{
    return xsp_sr_stat_unpack(buf, len, out, err);
}

int fp_volume_record_write(int dirfd, const char *name, const xsp_volume_t *v)
{
    return record_write(dirfd, name, v, enc_volume);
}

int fp_volume_record_read(int dirfd, const char *name, xsp_volume_t *v)
{
    xsp_volume_init(v);
    return record_read(dirfd, name, v, unpack_volume);
}

int fp_sr_record_write(int dirfd, const char *name, const xsp_sr_stat_t *s)
{
    return record_write(dirfd, name, s, enc_sr);
}

int fp_sr_record_read(int dirfd, const char *name, xsp_sr_stat_t *s)
{
    xsp_sr_stat_init(s);
    return record_read(dirfd, name, s, unpack_sr);
}

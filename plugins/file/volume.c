/*  volume.c — volume files and records, Volume.* (see volume.h).
    Owns: SR/KEY.img and SR/.xsp/volumes/KEY.  Never touches: anything outside the SR. */
#define _GNU_SOURCE
#include "volume.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copy.h"
#include "datapath.h"
#include "meta.h"
#include "path.h"
#include "xsp/log.h"

#define SIZE_MAX_OK ((uint64_t) INT64_MAX - 511)

void fp_volume_data_path(const fp_sr_t *sr, const char *key, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s.img", strcmp(sr->dir, "/") == 0 ? "" : sr->dir, key);
}

static int data_name(const char *key, char *buf, size_t cap)
{
    return snprintf(buf, cap, "%s.img", key) >= (int) cap ? -1 : 0;
}

static int key_check(fp_sr_t *sr, const char *key, fp_err_t *e)
{
    if (!fp_key_ok(key))
        return fp_bad(e, "key", "'%s' is not a volume key of SR %s (one name of [A-Za-z0-9._-], "
                      "not starting with '.')", key ? key : "", sr->key);
    return 0;
}

/*  errno of a failed open of a volume file -> error. */
static int open_error(fp_sr_t *sr, const char *key, const char *what, int err, fp_err_t *e)
{
    if (err == ENOENT)
        return fp_err(e, XSP_E_VOLUME_DOES_NOT_EXIST, "key", key, "no volume %s in SR %s", key, sr->key);
    if (err == ELOOP || err == EXDEV)
        return fp_bad(e, "key", "the %s of volume %s in SR %s is a symlink: refused", what, key, sr->key);
    if (err == EINVAL)
        return fp_bad(e, "key", "the %s of volume %s in SR %s is not a regular file: refused", what, key, sr->key);
    return fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "cannot open the %s of volume %s in SR %s: %s",
                  what, key, sr->key, strerror(err));
}

static int record_load(fp_sr_t *sr, const char *key, xsp_volume_t *v, fp_err_t *e)
{
    if (key_check(sr, key, e) != 0)
        return -1;
    if (fp_volume_record_read(sr->vols, key, v) != 0) {
        int err = errno;
        xsp_volume_dispose(v);
        xsp_volume_init(v);
        if (err == EBADMSG)
            return fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "the record of volume %s in SR %s is corrupt",
                          key, sr->key);
        return open_error(sr, key, "record", err, e);
    }
    return 0;
}

static int record_save(fp_sr_t *sr, const xsp_volume_t *v, fp_err_t *e)
{
    xsp_volume_t r = *v;                        /* live fields are not stored */
    r.uri = (xsp_string_list_t) { 0, NULL };
    r.virtual_size = r.physical_utilisation = 0;
    if (fp_volume_record_write(sr->vols, v->key, &r) != 0)
        return fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "cannot write the record of volume %s in SR %s: %s",
                      v->key, sr->key, strerror(errno));
    return 0;
}

int fp_volume_open_data(fp_sr_t *sr, const char *key, int flags, fp_err_t *e)
{
    char name[256];
    struct stat st;
    if (key_check(sr, key, e) != 0 || data_name(key, name, sizeof name) != 0)
        return -1;
    int fd = fp_openat(sr->root, name, flags, 0);
    if (fd < 0) {
        open_error(sr, key, "data file", errno, e);
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        fp_bad(e, "key", "the data of volume %s in SR %s is not a regular file: refused", key, sr->key);
        return -1;
    }
    return fd;
}

/*  Fill the live fields of a record. */
static int live(fp_sr_t *sr, xsp_volume_t *v, fp_err_t *e)
{
    struct stat st;
    char path[FP_PATH_MAX], uri[FP_PATH_MAX * 3 + 16];
    int fd = fp_volume_open_data(sr, v->key, O_RDONLY, e);
    if (fd < 0)
        return -1;
    int rc = fstat(fd, &st);
    close(fd);
    if (rc != 0)
        return fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "fstat: %s", strerror(errno));
    v->virtual_size = (uint64_t) st.st_size;
    v->physical_utilisation = (uint64_t) st.st_blocks * 512;
    fp_volume_data_path(sr, v->key, path, sizeof path);
    xsp_string_list_dispose(&v->uri);
    if (fp_path_uri(path, uri, sizeof uri) != 0 || xsp_string_list_append(&v->uri, uri) != 0)
        return fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "the URI of %s does not fit", path);
    if (v->parent && (!fp_key_ok(v->parent) || faccessat(sr->vols, v->parent, F_OK, AT_SYMLINK_NOFOLLOW) != 0)) {
        free(v->parent);                        /* the parent is gone */
        v->parent = NULL;
    }
    return 0;
}

int fp_volume_load(fp_sr_t *sr, const char *key, xsp_volume_t *v, fp_err_t *e)
{
    if (record_load(sr, key, v, e) != 0)
        return -1;
    if (live(sr, v, e) != 0) {
        xsp_volume_dispose(v);
        xsp_volume_init(v);
        return -1;
    }
    return 0;
}

int fp_volume_list(fp_sr_t *sr, xsp_volume_list_t *out, fp_err_t *e)
{
    int fd = fp_openat(sr->vols, ".", O_RDONLY | O_DIRECTORY, 0);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "cannot list %s/.xsp/volumes: %s", sr->dir,
                      strerror(errno));
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!fp_key_ok(de->d_name))
            continue;                           /* ".", "..", temporaries */
        xsp_volume_t v;
        fp_err_t ve;
        if (fp_volume_load(sr, de->d_name, &v, &ve) != 0) {
            xsp_log(XSP_LOG_WARN, "SR %s: volume %s left out: %s", sr->key, de->d_name, ve.msg);
            continue;
        }
        xsp_volume_t *slot = xsp_volume_list_add(out);
        if (!slot) {
            xsp_volume_dispose(&v);
            closedir(d);
            return fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "out of memory");
        }
        *slot = v;                              /* moved */
    }
    closedir(d);
    return 0;
}

/*  Remove a volume's files (record first: from then on it does not exist). */
static int remove_volume(fp_sr_t *sr, const char *key, fp_err_t *e)
{
    char name[256], why[512];
    if (fp_dp_in_use(sr, key, why, sizeof why))
        return fp_err(e, XSP_E_BACKEND_FAILURE, "command", "Volume.destroy",
                      "volume %s in SR %s is in use (%s): detach and close it first", key, sr->key, why);
    data_name(key, name, sizeof name);
    if (unlinkat(sr->vols, key, 0) != 0)
        return open_error(sr, key, "record", errno, e);
    fp_dir_sync(sr->vols);
    if (unlinkat(sr->root, name, 0) != 0 && errno != ENOENT)
        xsp_log(XSP_LOG_WARN, "Volume.destroy: %s/%s: %s", sr->dir, name, strerror(errno));
    fp_dir_sync(sr->root);
    fp_dp_forget(sr, key);
    return 0;
}

int fp_volume_destroy_all(fp_sr_t *sr, fp_err_t *e)
{
    xsp_volume_list_t l = { 0, NULL };
    char why[512];
    int rc = fp_volume_list(sr, &l, e);
    for (size_t i = 0; rc == 0 && i < l.len; i++)
        if (fp_dp_in_use(sr, l.val[i].key, why, sizeof why))
            rc = fp_err(e, XSP_E_BACKEND_FAILURE, "command", "SR.destroy",
                        "volume %s in SR %s is in use (%s): detach and close it first", l.val[i].key,
                        sr->key, why);
    for (size_t i = 0; rc == 0 && i < l.len; i++)
        rc = remove_volume(sr, l.val[i].key, e);
    xsp_volume_list_dispose(&l);
    return rc;
}

/* ------------------------------------------------------------------ sizes and keys */

static int size_check(const char *arg, uint64_t size, uint64_t *rounded, fp_err_t *e)
{
    if (size == 0)
        return fp_bad(e, arg, "%s 0: a volume needs at least one byte", arg);
    if (size > SIZE_MAX_OK)
        return fp_bad(e, arg, "%s %" PRIu64 " overflows: at most %" PRIu64 " bytes", arg, size, SIZE_MAX_OK);
    *rounded = (size + 511) / 512 * 512;
    return 0;
}

static int truncate_error(fp_sr_t *sr, const char *arg, uint64_t size, int err, fp_err_t *e)
{
    if (err == EFBIG || err == EINVAL)
        return fp_bad(e, arg, "%s %" PRIu64 " is larger than the filesystem of SR %s allows", arg, size, sr->key);
    return fp_err(e, XSP_E_BACKEND_FAILURE, "command", "ftruncate", "cannot size a volume in SR %s: %s",
                  sr->key, strerror(err));
}

static int new_key(char *key, size_t cap)
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t) sizeof r)
        return -1;
    r[6] = (r[6] & 0x0f) | 0x40;
    r[8] = (r[8] & 0x3f) | 0x80;
    snprintf(key, cap, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
    return 0;
}

/*  Make a new volume: a fresh key, its data file (from src when not -1, else `size` bytes
    of holes) and its record (v: name, description, ... filled by the caller; key/uuid set
    here).  On success v is the full record. */
static int make_volume(fp_sr_t *sr, xsp_volume_t *v, int src, uint64_t size, fp_err_t *e)
{
    char key[64], name[256];
    const char *how = "sparse file";
    if (new_key(key, sizeof key) != 0)
        return fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "getrandom: %s", strerror(errno));
    data_name(key, name, sizeof name);
    int fd = fp_openat(sr->root, name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "cannot create %s/%s: %s", sr->dir, name,
                      strerror(errno));
    int rc = src >= 0 ? fp_copy_data(src, fd, &how) : ftruncate(fd, (off_t) size);
    int err = errno;
    if (rc == 0)
        rc = fsync(fd), err = errno;
    close(fd);
    if (rc != 0) {
        unlinkat(sr->root, name, 0);
        if (src < 0)
            return truncate_error(sr, "size", size, err, e);
        return fp_err(e, XSP_E_BACKEND_FAILURE, "command", "copy", "cannot copy volume data into %s/%s: %s",
                      sr->dir, name, strerror(err));
    }
    fp_dir_sync(sr->root);
    free(v->key);
    free(v->uuid);
    v->key = strdup(key);
    v->uuid = strdup(key);
    if (!v->key || !v->uuid || record_save(sr, v, e) != 0 || live(sr, v, e) != 0) {
        unlinkat(sr->vols, key, 0);
        unlinkat(sr->root, name, 0);
        if (!v->key || !v->uuid)
            fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "out of memory");
        return -1;
    }
    xsp_log(XSP_LOG_INFO, "SR %s: volume %s made (%s, %" PRIu64 " bytes)", sr->key, key, how, v->virtual_size);
    return 0;
}

/* ------------------------------------------------------------------ handlers */

int fp_volume_create(void *ctx, xsp_storage_call_t *call, const xsp_volume_create_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    uint64_t size;
    xsp_volume_t v;
    xsp_volume_init(&v);
    fp_lock();
    fp_sr_t *sr = fp_sr_find(a->sr, &e);
    int rc = -1;
    if (sr && size_check("size", a->size, &size, &e) == 0) {
        v.name = strdup(a->name ? a->name : "");
        v.description = strdup(a->description ? a->description : "");
        v.read_write = true;
        v.sharable = a->sharable;
        rc = v.name && v.description ? make_volume(sr, &v, -1, size, &e)
                                     : fp_err(&e, XSP_E_BACKEND_FAILURE, NULL, NULL, "out of memory");
    }
    fp_unlock();
    rc = rc == 0 ? xsp_volume_create_reply(call, &v) : fp_fail(call, &e);
    xsp_volume_dispose(&v);
    return rc;
}

int fp_volume_destroy(void *ctx, xsp_storage_call_t *call, const xsp_volume_destroy_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    fp_lock();
    fp_sr_t *sr = fp_sr_find(a->sr, &e);
    int rc = sr && key_check(sr, a->key, &e) == 0 ? remove_volume(sr, a->key, &e) : -1;
    fp_unlock();
    return rc == 0 ? xsp_volume_destroy_reply(call) : fp_fail(call, &e);
}

static int derive(xsp_storage_call_t *call, const char *srkey, const char *key, bool snapshot)
{
    fp_err_t e;
    xsp_volume_t src, v;
    xsp_volume_init(&src);
    xsp_volume_init(&v);
    fp_lock();
    fp_sr_t *sr = fp_sr_find(srkey, &e);
    int rc = -1;
    if (sr && fp_volume_load(sr, key, &src, &e) == 0) {
        int fd = fp_volume_open_data(sr, key, O_RDONLY, &e);
        if (fd >= 0) {
            v.name = strdup(src.name ? src.name : "");
            v.description = strdup(src.description ? src.description : "");
            v.parent = strdup(key);
            v.read_write = !snapshot;
            v.sharable = src.sharable;
            rc = v.name && v.description && v.parent
                     ? make_volume(sr, &v, fd, 0, &e)
                     : fp_err(&e, XSP_E_BACKEND_FAILURE, NULL, NULL, "out of memory");
            close(fd);
        }
    }
    fp_unlock();
    if (rc != 0)
        rc = fp_fail(call, &e);
    else
        rc = snapshot ? xsp_volume_snapshot_reply(call, &v) : xsp_volume_clone_reply(call, &v);
    xsp_volume_dispose(&src);
    xsp_volume_dispose(&v);
    return rc;
}

int fp_volume_clone(void *ctx, xsp_storage_call_t *call, const xsp_volume_clone_args_t *a)
{
    (void) ctx;
    return derive(call, a->sr, a->key, false);
}

int fp_volume_snapshot(void *ctx, xsp_storage_call_t *call, const xsp_volume_snapshot_args_t *a)
{
    (void) ctx;
    return derive(call, a->sr, a->key, true);
}

int fp_volume_resize(void *ctx, xsp_storage_call_t *call, const xsp_volume_resize_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    uint64_t size;
    xsp_volume_t v;
    xsp_volume_init(&v);
    fp_lock();
    fp_sr_t *sr = fp_sr_find(a->sr, &e);
    int rc = -1;
    if (sr && fp_volume_load(sr, a->key, &v, &e) == 0 && size_check("new_size", a->new_size, &size, &e) == 0) {
        if (size < v.virtual_size) {
            fp_bad(&e, "new_size", "cannot shrink volume %s from %" PRIu64 " to %" PRIu64
                   " bytes: the data up to %" PRIu64 " bytes would be lost (volumes only grow)",
                   a->key, v.virtual_size, a->new_size, v.virtual_size);
        } else if (!v.read_write) {
            fp_bad(&e, "key", "volume %s is a read-only snapshot: it cannot be resized", a->key);
        } else {
            int fd = fp_volume_open_data(sr, a->key, O_RDWR, &e);
            if (fd >= 0) {
                rc = ftruncate(fd, (off_t) size) == 0 && fsync(fd) == 0 ? 0 : -1;
                if (rc != 0)
                    truncate_error(sr, "new_size", a->new_size, errno, &e);
                close(fd);
            }
            if (rc == 0)
                fp_dp_resized(sr, a->key);
        }
    }
    fp_unlock();
    xsp_volume_dispose(&v);
    return rc == 0 ? xsp_volume_resize_reply(call) : fp_fail(call, &e);
}

int fp_volume_stat(void *ctx, xsp_storage_call_t *call, const xsp_volume_stat_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    xsp_volume_t v;
    xsp_volume_init(&v);
    fp_lock();
    fp_sr_t *sr = fp_sr_find(a->sr, &e);
    int rc = sr ? fp_volume_load(sr, a->key, &v, &e) : -1;
    fp_unlock();
    rc = rc == 0 ? xsp_volume_stat_reply(call, &v) : fp_fail(call, &e);
    xsp_volume_dispose(&v);
    return rc;
}

typedef enum { F_NAME, F_DESCRIPTION, F_SET, F_UNSET } field_t;

/*  Read-modify-write a volume record. */
static int modify(const char *srkey, const char *key, field_t f, const char *k, const char *val, fp_err_t *e)
{
    xsp_volume_t v;
    xsp_volume_init(&v);
    fp_lock();
    fp_sr_t *sr = fp_sr_find(srkey, e);
    int rc = sr ? fp_volume_load(sr, key, &v, e) : -1;   /* the data must be there too */
    if (rc == 0) {
        char *dup = NULL;
        switch (f) {
        case F_NAME:
        case F_DESCRIPTION:
            dup = strdup(val ? val : "");
            rc = dup ? 0 : -1;
            if (dup) {
                char **p = f == F_NAME ? &v.name : &v.description;
                free(*p);
                *p = dup;
            }
            break;
        case F_SET:
            rc = xsp_string_map_set(&v.keys, k ? k : "", val ? val : "");
            break;
        case F_UNSET:
            xsp_string_map_unset(&v.keys, k ? k : "");
            break;
        }
        rc = rc != 0 ? fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "out of memory") : record_save(sr, &v, e);
    }
    fp_unlock();
    xsp_volume_dispose(&v);
    return rc;
}

int fp_volume_set_name(void *ctx, xsp_storage_call_t *call, const xsp_volume_set_name_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    return modify(a->sr, a->key, F_NAME, NULL, a->new_name, &e) == 0 ? xsp_volume_set_name_reply(call)
                                                                      : fp_fail(call, &e);
}

int fp_volume_set_description(void *ctx, xsp_storage_call_t *call, const xsp_volume_set_description_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    return modify(a->sr, a->key, F_DESCRIPTION, NULL, a->new_description, &e) == 0
               ? xsp_volume_set_description_reply(call)
               : fp_fail(call, &e);
}

int fp_volume_set(void *ctx, xsp_storage_call_t *call, const xsp_volume_set_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    return modify(a->sr, a->key, F_SET, a->k, a->v, &e) == 0 ? xsp_volume_set_reply(call) : fp_fail(call, &e);
}

int fp_volume_unset(void *ctx, xsp_storage_call_t *call, const xsp_volume_unset_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    return modify(a->sr, a->key, F_UNSET, a->k, NULL, &e) == 0 ? xsp_volume_unset_reply(call) : fp_fail(call, &e);
}

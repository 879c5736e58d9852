/*  sr.c — SRs: the attached table, the SR record, SR.* and Plugin.ls (see sr.h).
    Owns: fp_sr_t objects and STATE_DIR/srs.  Never touches: anything outside an SR's
    directory except STATE_DIR/srs. */
#define _GNU_SOURCE
#include "sr.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "datapath.h"
#include "meta.h"
#include "path.h"
#include "volume.h"
#include "xsp/log.h"

#define SR_RECORD "sr"
#define SR_LIST "srs"

static fp_sr_t *srs;

fp_sr_t *fp_sr_all(void)
{
    return srs;
}

static void sr_close(fp_sr_t *s)
{
    int *fds[] = { &s->root, &s->meta, &s->vols, &s->dp, &s->reset };
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (*fds[i] >= 0)
            close(*fds[i]);
    free(s->key);
    free(s->dir);
    free(s);
}

/*  Open DIR/.xsp/<name> (creating it when create), a directory, never a symlink. */
static int subdir(int parent, const char *name, bool create)
{
    if (create && mkdirat(parent, name, 0700) != 0 && errno != EEXIST)
        return -1;
    return fp_openat(parent, name, O_RDONLY | O_DIRECTORY, 0);
}

/*  Open the SR at path (an absolute, checked path).  create: make DIR (its parent must
    exist) and .xsp.  NULL + error. */
static fp_sr_t *sr_open(const char *path, bool create, fp_err_t *e)
{
    char real[PATH_MAX];
    fp_sr_t *s = calloc(1, sizeof *s);
    if (!s) {
        fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "out of memory");
        return NULL;
    }
    s->root = s->meta = s->vols = s->dp = s->reset = -1;
    if (create && mkdir(path, 0700) != 0 && errno != EEXIST) {
        if (errno == ENOENT || errno == ENOTDIR)
            fp_bad(e, "uri", "cannot create the SR directory %s: its parent does not exist", path);
        else
            fp_err(e, XSP_E_BACKEND_FAILURE, "command", "mkdir", "cannot create %s: %s", path,
                   strerror(errno));
        goto fail;
    }
    s->root = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s->root < 0) {
        int err = errno;
        if (create || err != ENOENT)
            fp_bad(e, "uri", "%s is not a usable directory: %s", path,
                   err == ELOOP ? "it is a symlink" : strerror(err));
        else
            fp_err(e, XSP_E_SR_DOES_NOT_EXIST, "sr", path, "no SR at %s: no such directory", path);
        goto fail;
    }
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", s->root);
    ssize_t n = readlink(proc, real, sizeof real - 1);
    if (n <= 0) {
        fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "cannot resolve %s: %s", path, strerror(errno));
        goto fail;
    }
    real[n] = '\0';
    char key[FP_PATH_MAX * 3 + 16];
    if (fp_path_uri(real, key, sizeof key) != 0 || strlen(key) >= FP_PATH_MAX) {
        fp_bad(e, "uri", "the path %s is too long for an SR key", real);
        goto fail;
    }
    s->dir = strdup(real);
    s->key = strdup(key);
    if (!s->dir || !s->key) {
        fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "out of memory");
        goto fail;
    }
    if (!create && faccessat(s->root, ".xsp/" SR_RECORD, F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
        fp_err(e, XSP_E_SR_DOES_NOT_EXIST, "sr", s->key, "no SR at %s: %s/.xsp/%s is missing",
               s->key, real, SR_RECORD);
        goto fail;
    }
    if (create && faccessat(s->root, ".xsp/" SR_RECORD, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        fp_bad(e, "uri", "an SR already exists at %s", s->key);
        goto fail;
    }
    if ((s->meta = subdir(s->root, ".xsp", create)) < 0 || (s->vols = subdir(s->meta, "volumes", true)) < 0 ||
        (s->dp = subdir(s->meta, "datapath", true)) < 0 || (s->reset = subdir(s->meta, "reset", true)) < 0) {
        int err = errno;
        if (err == ELOOP || err == EXDEV || err == ENOTDIR)
            fp_bad(e, "uri", "%s/.xsp is not a plain directory tree (a symlink?): refused", real);
        else
            fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "cannot open %s/.xsp: %s", real, strerror(err));
        goto fail;
    }
    return s;
fail:
    sr_close(s);
    return NULL;
}

static fp_sr_t *sr_by_dir(const char *dir)
{
    for (fp_sr_t *s = srs; s; s = s->next)
        if (strcmp(s->dir, dir) == 0)
            return s;
    return NULL;
}

/*  Rewrite STATE_DIR/srs from the table. */
static int save_list(void)
{
    int dfd = open(G.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    size_t cap = 1, n = 0;
    for (fp_sr_t *s = srs; s; s = s->next)
        cap += strlen(s->dir) + 1;
    char *buf = malloc(cap);
    int rc = -1;
    if (buf) {
        for (fp_sr_t *s = srs; s; s = s->next)
            n += (size_t) sprintf(buf + n, "%s\n", s->dir);
        rc = fp_meta_write(dfd, SR_LIST, buf, n);
        free(buf);
    }
    close(dfd);
    if (rc != 0)
        xsp_log(XSP_LOG_ERR, "cannot save the attached SRs to %s/%s: %s", G.state_dir, SR_LIST,
                strerror(errno));
    return rc;
}

int fp_sr_init(void)
{
    int dfd = open(G.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        xsp_log(XSP_LOG_ERR, "state directory %s: %s", G.state_dir, strerror(errno));
        return -1;
    }
    char *buf;
    int rc = fp_meta_read(dfd, SR_LIST, 1u << 24, &buf, NULL);
    close(dfd);
    if (rc != 0)
        return errno == ENOENT ? 0 : (xsp_log(XSP_LOG_ERR, "%s/%s: %s", G.state_dir, SR_LIST,
                                              strerror(errno)), -1);
    bool dropped = false;
    for (char *save, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        fp_err_t e;
        fp_sr_t *s = line[0] == '/' && !sr_by_dir(line) ? sr_open(line, false, &e) : NULL;
        if (!s) {
            xsp_log(XSP_LOG_WARN, "SR %s was attached but cannot be re-attached: %s", line,
                    line[0] == '/' ? e.msg : "not an absolute path");
            dropped = true;
            continue;
        }
        s->next = srs;
        srs = s;
        xsp_log(XSP_LOG_INFO, "SR %s re-attached", s->key);
    }
    free(buf);
    if (dropped)
        save_list();
    return 0;
}

void fp_sr_fini(void)
{
    while (srs) {
        fp_sr_t *s = srs;
        srs = s->next;
        sr_close(s);
    }
}

fp_sr_t *fp_sr_find(const char *key, fp_err_t *e)
{
    char path[FP_PATH_MAX];
    if (fp_uri_path(key, "sr", path, sizeof path, e) != 0)
        return NULL;
    fp_sr_t *s = sr_by_dir(path);
    if (!s)
        fp_err(e, XSP_E_SR_NOT_ATTACHED, "sr", key, "SR %s is not attached", key);
    return s;
}

fp_sr_t *fp_sr_of_uri(const char *uri, char *key, size_t cap, fp_err_t *e)
{
    char path[FP_PATH_MAX];
    if (fp_uri_path(uri, "uri", path, sizeof path, e) != 0)
        return NULL;
    char *slash = strrchr(path, '/');
    *slash = '\0';
    fp_sr_t *s = sr_by_dir(path[0] ? path : "/");
    const char *name = slash + 1;
    size_t n = strlen(name);
    if (!s) {
        fp_bad(e, "uri", "%s is not in any attached SR", uri);
        return NULL;
    }
    if (n <= 4 || strcmp(name + n - 4, ".img") != 0 || n - 4 >= cap) {
        fp_bad(e, "uri", "%s does not name volume data (DIR/KEY.img) in SR %s", uri, s->key);
        return NULL;
    }
    memcpy(key, name, n - 4);
    key[n - 4] = '\0';
    if (!fp_key_ok(key)) {
        fp_bad(e, "uri", "%s does not name volume data: '%s' is not a volume key", uri, key);
        return NULL;
    }
    return s;
}

/* ------------------------------------------------------------------ handlers */

int fp_plugin_ls(void *ctx, xsp_storage_call_t *call, const xsp_plugin_ls_args_t *a)
{
    (void) ctx;
    (void) a;
    xsp_string_list_t l = { 0, NULL };
    int rc = 0;
    fp_lock();
    for (fp_sr_t *s = srs; s && rc == 0; s = s->next)
        rc = xsp_string_list_append(&l, s->key);
    fp_unlock();
    rc = rc ? XSP_E_BACKEND_FAILURE : xsp_plugin_ls_reply(call, &l);
    xsp_string_list_dispose(&l);
    return rc;
}

/*  The configuration's directory: the uri argument, else configuration["uri"]. */
static int config_path(const char *uri, const xsp_string_map_t *conf, char *path, size_t cap, fp_err_t *e)
{
    const char *u = uri && *uri ? uri : xsp_string_map_get(conf, "uri");
    if (!u || !*u)
        return fp_bad(e, "uri", "no SR location: give a uri (file:///dir) or configuration[\"uri\"]");
    return fp_uri_path(u, "uri", path, cap, e);
}

static int stat_fill(fp_sr_t *s, xsp_sr_stat_t *st, fp_err_t *e)
{
    struct statvfs vfs;
    if (fp_sr_record_read(s->meta, SR_RECORD, st) != 0)
        return fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "cannot read the SR record %s/.xsp/%s: %s",
                      s->dir, SR_RECORD, strerror(errno));
    free(st->sr);
    st->sr = strdup(s->key);
    if (fstatvfs(s->root, &vfs) == 0) {
        st->free_space = (uint64_t) vfs.f_bavail * vfs.f_frsize;
        st->total_space = (uint64_t) vfs.f_blocks * vfs.f_frsize;
        st->health = XSP_HEALTH_HEALTHY;
    } else {
        st->health = XSP_HEALTH_UNREACHABLE;
        char msg[256];
        snprintf(msg, sizeof msg, "statvfs: %s", strerror(errno));
        free(st->health_detail);
        st->health_detail = strdup(msg);
    }
    return st->sr ? 0 : fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "out of memory");
}

int fp_sr_probe(void *ctx, xsp_storage_call_t *call, const xsp_sr_probe_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    char path[FP_PATH_MAX];
    xsp_probe_result_list_t l = { 0, NULL };
    const char *u = xsp_string_map_get(&a->configuration, "uri");
    int rc = 0;
    fp_lock();
    if (!u) {                                   /* nothing known: the attached SRs */
        for (fp_sr_t *s = srs; s && rc == 0; s = s->next) {
            xsp_probe_result_t *r = xsp_probe_result_list_add(&l);
            rc = !r || xsp_string_map_set(&r->configuration, "uri", s->key);
            if (rc == 0 && stat_fill(s, &r->sr, &e) == 0)
                r->has_sr = r->complete = true;
        }
    } else if (fp_uri_path(u, "uri", path, sizeof path, &e) != 0) {
        fp_unlock();
        return fp_fail(call, &e);
    } else {
        fp_sr_t *s = sr_by_dir(path), *tmp = NULL;
        if (!s)
            s = tmp = sr_open(path, false, &e);
        struct stat st;
        xsp_probe_result_t *r = NULL;
        bool place = stat(path, &st) != 0 ? errno == ENOENT : S_ISDIR(st.st_mode);
        if (s || place) {
            r = xsp_probe_result_list_add(&l);  /* an SR, or a place to create one */
            rc = !r || xsp_string_map_set(&r->configuration, "uri", s ? s->key : u);
            if (r && rc == 0)
                r->complete = true;
            if (r && rc == 0 && s && stat_fill(s, &r->sr, &e) == 0)
                r->has_sr = true;
            if (r && rc == 0 && !s)
                rc = xsp_string_map_set(&r->extra_info, "note", "no SR here yet: SR.create makes one");
        }
        if (tmp)
            sr_close(tmp);
    }
    fp_unlock();
    rc = rc ? XSP_E_BACKEND_FAILURE : xsp_sr_probe_reply(call, &l);
    xsp_probe_result_list_dispose(&l);
    return rc;
}

int fp_sr_create(void *ctx, xsp_storage_call_t *call, const xsp_sr_create_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    char path[FP_PATH_MAX];
    if (config_path(a->uri, &a->configuration, path, sizeof path, &e) != 0)
        return fp_fail(call, &e);
    fp_lock();
    fp_sr_t *s = sr_open(path, true, &e);
    if (!s) {
        fp_unlock();
        return fp_fail(call, &e);
    }
    xsp_sr_stat_t rec;
    xsp_sr_stat_init(&rec);
    rec.sr = s->key;                            /* borrowed */
    rec.name = a->name;
    rec.description = a->description;
    rec.uuid = a->uuid;
    rec.health = XSP_HEALTH_HEALTHY;
    int rc = fp_sr_record_write(s->meta, SR_RECORD, &rec);
    int err = errno;
    xsp_string_map_t conf = { 0, NULL };
    if (rc == 0 && (xsp_string_map_copy(&conf, &a->configuration) || xsp_string_map_set(&conf, "uri", s->key)))
        rc = -1, err = ENOMEM;
    xsp_log(XSP_LOG_INFO, "SR.create %s: %s", s->key, rc == 0 ? "created" : strerror(err));
    char key[FP_PATH_MAX * 3 + 16];
    snprintf(key, sizeof key, "%s", s->key);
    sr_close(s);
    fp_unlock();
    if (rc != 0)
        rc = xsp_call_fail(call, XSP_E_BACKEND_FAILURE, NULL, "cannot write the SR record of %s: %s",
                           key, strerror(err));
    else
        rc = xsp_sr_create_reply(call, &conf);
    xsp_string_map_dispose(&conf);
    return rc;
}

int fp_sr_attach(void *ctx, xsp_storage_call_t *call, const xsp_sr_attach_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    char path[FP_PATH_MAX];
    if (config_path(NULL, &a->configuration, path, sizeof path, &e) != 0)
        return fp_fail(call, &e);
    fp_lock();
    fp_sr_t *s = sr_open(path, false, &e);
    if (!s) {
        fp_unlock();
        return fp_fail(call, &e);
    }
    fp_sr_t *old = sr_by_dir(s->dir);
    if (old) {                                  /* idempotent */
        sr_close(s);
        s = old;
    } else {
        s->next = srs;
        srs = s;
        if (save_list() != 0) {
            srs = s->next;
            sr_close(s);
            fp_unlock();
            return xsp_call_fail(call, XSP_E_BACKEND_FAILURE, NULL,
                                 "cannot record the attachment in %s: %s", G.state_dir, strerror(errno));
        }
        xsp_log(XSP_LOG_INFO, "SR %s attached", s->key);
        fp_dp_sr_attached(s);
    }
    int rc = xsp_sr_attach_reply(call, s->key);
    fp_unlock();
    return rc;
}

static void sr_unlink(fp_sr_t *s)
{
    for (fp_sr_t **pp = &srs; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            return;
        }
}

int fp_sr_detach(void *ctx, xsp_storage_call_t *call, const xsp_sr_detach_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    fp_lock();
    fp_sr_t *s = fp_sr_find(a->sr, &e);
    if (s) {
        fp_dp_sr_detached(s);
        sr_unlink(s);
        save_list();
        xsp_log(XSP_LOG_INFO, "SR %s detached", s->key);
        sr_close(s);
    }
    fp_unlock();
    if (!s && e.code == XSP_E_INVALID_ARGUMENT)
        return fp_fail(call, &e);
    return xsp_sr_detach_reply(call);           /* idempotent */
}

int fp_sr_destroy(void *ctx, xsp_storage_call_t *call, const xsp_sr_destroy_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    fp_lock();
    fp_sr_t *s = fp_sr_find(a->sr, &e);
    if (!s || fp_volume_destroy_all(s, &e) != 0) {
        fp_unlock();
        return fp_fail(call, &e);
    }
    /* only what the plugin made: the metadata tree, then DIR itself if it is empty now */
    static const char *const subs[] = { "volumes", "datapath", "reset" };
    for (size_t i = 0; i < 3; i++)
        if (unlinkat(s->meta, subs[i], AT_REMOVEDIR) != 0)
            xsp_log(XSP_LOG_WARN, "SR.destroy %s: .xsp/%s: %s", s->key, subs[i], strerror(errno));
    unlinkat(s->meta, SR_RECORD, 0);
    if (unlinkat(s->root, ".xsp", AT_REMOVEDIR) != 0)
        xsp_log(XSP_LOG_WARN, "SR.destroy %s: .xsp: %s", s->key, strerror(errno));
    if (rmdir(s->dir) != 0)
        xsp_log(XSP_LOG_WARN, "SR.destroy %s: directory left in place: %s", s->key, strerror(errno));
    sr_unlink(s);
    save_list();
    xsp_log(XSP_LOG_INFO, "SR %s destroyed", s->key);
    sr_close(s);
    fp_unlock();
    return xsp_sr_destroy_reply(call);
}

int fp_sr_stat(void *ctx, xsp_storage_call_t *call, const xsp_sr_stat_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    xsp_sr_stat_t st;
    xsp_sr_stat_init(&st);
    fp_lock();
    fp_sr_t *s = fp_sr_find(a->sr, &e);
    int rc = s ? stat_fill(s, &st, &e) : -1;
    fp_unlock();
    rc = rc == 0 ? xsp_sr_stat_reply(call, &st) : fp_fail(call, &e);
    xsp_sr_stat_dispose(&st);
    return rc;
}

/*  Read-modify-write the SR record. */
static int set_field(xsp_storage_call_t *call, const char *key, const char *name, const char *desc)
{
    fp_err_t e;
    xsp_sr_stat_t st;
    xsp_sr_stat_init(&st);
    fp_lock();
    fp_sr_t *s = fp_sr_find(key, &e);
    int rc = -1;
    if (s && fp_sr_record_read(s->meta, SR_RECORD, &st) != 0) {
        fp_err(&e, XSP_E_BACKEND_FAILURE, NULL, NULL, "cannot read the SR record of %s: %s", s->key,
               strerror(errno));
    } else if (s) {
        char **field = name ? &st.name : &st.description;
        char *v = strdup(name ? name : desc);
        if (v) {
            free(*field);
            *field = v;
            rc = fp_sr_record_write(s->meta, SR_RECORD, &st);
        }
        if (rc != 0)
            fp_err(&e, XSP_E_BACKEND_FAILURE, NULL, NULL, "cannot write the SR record of %s: %s",
                   s->key, strerror(errno));
    }
    fp_unlock();
    xsp_sr_stat_dispose(&st);
    if (rc != 0)
        return fp_fail(call, &e);
    return name ? xsp_sr_set_name_reply(call) : xsp_sr_set_description_reply(call);
}

int fp_sr_set_name(void *ctx, xsp_storage_call_t *call, const xsp_sr_set_name_args_t *a)
{
    (void) ctx;
    return set_field(call, a->sr, a->new_name ? a->new_name : "", NULL);
}

int fp_sr_set_description(void *ctx, xsp_storage_call_t *call, const xsp_sr_set_description_args_t *a)
{
    (void) ctx;
    return set_field(call, a->sr, NULL, a->new_description ? a->new_description : "");
}

int fp_sr_ls(void *ctx, xsp_storage_call_t *call, const xsp_sr_ls_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    xsp_volume_list_t l = { 0, NULL };
    fp_lock();
    fp_sr_t *s = fp_sr_find(a->sr, &e);
    int rc = s ? fp_volume_list(s, &l, &e) : -1;
    fp_unlock();
    rc = rc == 0 ? xsp_sr_ls_reply(call, &l) : fp_fail(call, &e);
    xsp_volume_list_dispose(&l);
    return rc;
}

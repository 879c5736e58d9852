/*  datapath.c — Datapath.* and the per-volume data-path state (see datapath.h).
    Owns: SR/.xsp/datapath/KEY, SR/.xsp/reset/KEY.img, the held loop devices.
    Never touches: volume records, files outside the SR. */
#define _GNU_SOURCE
#include "datapath.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copy.h"
#include "loopdev.h"
#include "meta.h"
#include "path.h"
#include "volume.h"
#include "xsp/log.h"

#define DOMAIN_MAX 256

/* ------------------------------------------------------------------ state files */

typedef struct {
    bool open, persistent;
    xsp_string_list_t attached;
    char *active;
} dpstate_t;

static void state_dispose(dpstate_t *s)
{
    xsp_string_list_dispose(&s->attached);
    free(s->active);
    memset(s, 0, sizeof *s);
}

static bool state_idle(const dpstate_t *s)
{
    return !s->open && s->attached.len == 0 && !s->active;
}

/*  0 (a missing file is the idle state) or -1. */
static int state_load(fp_sr_t *sr, const char *key, dpstate_t *s)
{
    char *buf;
    memset(s, 0, sizeof *s);
    if (fp_meta_read(sr->dp, key, 1u << 22, &buf, NULL) != 0)
        return errno == ENOENT ? 0 : -1;
    for (char *save, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp++ = '\0';
        if (strcmp(line, "open") == 0) {
            s->open = true;
            s->persistent = strcmp(sp, "persistent") == 0;
        } else if (strcmp(line, "attached") == 0) {
            xsp_string_list_append(&s->attached, sp);
        } else if (strcmp(line, "active") == 0 && !s->active) {
            s->active = strdup(sp);
        }
    }
    free(buf);
    return 0;
}

static int state_save(fp_sr_t *sr, const char *key, const dpstate_t *s, fp_err_t *e)
{
    if (state_idle(s)) {
        if (unlinkat(sr->dp, key, 0) == 0)
            fp_dir_sync(sr->dp);
        return 0;
    }
    size_t cap = 64 + (s->active ? strlen(s->active) : 0), n = 0;
    for (size_t i = 0; i < s->attached.len; i++)
        cap += strlen(s->attached.val[i]) + 16;
    char *buf = malloc(cap);
    if (!buf)
        return fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "out of memory");
    if (s->open)
        n += (size_t) sprintf(buf + n, "open %s\n", s->persistent ? "persistent" : "non-persistent");
    for (size_t i = 0; i < s->attached.len; i++)
        n += (size_t) sprintf(buf + n, "attached %s\n", s->attached.val[i]);
    if (s->active)
        n += (size_t) sprintf(buf + n, "active %s\n", s->active);
    int rc = fp_meta_write(sr->dp, key, buf, n);
    free(buf);
    if (rc != 0)
        return fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "cannot write the data-path state of %s in %s: %s",
                      key, sr->key, strerror(errno));
    return 0;
}

static ssize_t find_domain(const dpstate_t *s, const char *d)
{
    for (size_t i = 0; i < s->attached.len; i++)
        if (strcmp(s->attached.val[i], d) == 0)
            return (ssize_t) i;
    return -1;
}

/* ------------------------------------------------------------------ held loop devices */

typedef struct hold hold_t;
struct hold {
    char *dir;
    char *key;
    fp_loop_t loop;
    hold_t *next;
};

static hold_t *holds;

static hold_t *hold_find(const fp_sr_t *sr, const char *key)
{
    for (hold_t *h = holds; h; h = h->next)
        if (strcmp(h->dir, sr->dir) == 0 && strcmp(h->key, key) == 0)
            return h;
    return NULL;
}

static hold_t *hold_add(const fp_sr_t *sr, const char *key, const fp_loop_t *l)
{
    hold_t *h = calloc(1, sizeof *h);
    if (!h || !(h->dir = strdup(sr->dir)) || !(h->key = strdup(key))) {
        if (h)
            free(h->dir);
        free(h);
        return NULL;
    }
    h->loop = *l;
    h->next = holds;
    holds = h;
    return h;
}

static void hold_drop(hold_t *h)
{
    for (hold_t **pp = &holds; *pp; pp = &(*pp)->next)
        if (*pp == h) {
            *pp = h->next;
            break;
        }
    fp_loop_release(&h->loop);
    free(h->dir);
    free(h->key);
    free(h);
}

/*  The volume's loop device: held already, bound earlier (found by backing file), or new. */
static hold_t *ensure_loop(fp_sr_t *sr, const char *key, bool ro, fp_err_t *e)
{
    hold_t *h = hold_find(sr, key);
    if (h)
        return h;
    char path[FP_PATH_MAX];
    int nrs[8];
    fp_loop_t l = { -1, -1, "" };
    int fd = fp_volume_open_data(sr, key, ro ? O_RDONLY : O_RDWR, e);
    if (fd < 0)
        return NULL;
    fp_volume_data_path(sr, key, path, sizeof path);
    size_t n = fp_loop_find(fd, path, nrs, 8);
    for (size_t i = 0; i < n && l.fd < 0; i++)
        if (fp_loop_hold(nrs[i], &l) == 0)
            xsp_log(XSP_LOG_INFO, "%s: found %s bound to it already: holding it", path, l.path);
    if (l.fd < 0 && fp_loop_bind(fd, path, ro, &l, e) != 0) {
        close(fd);
        return NULL;
    }
    close(fd);
    h = hold_add(sr, key, &l);
    if (!h) {
        fp_loop_release(&l);
        fp_err(e, XSP_E_BACKEND_FAILURE, NULL, NULL, "out of memory");
    }
    return h;
}

/*  Release the volume's held loop device and any other loop device bound to its file. */
static void release_loops(fp_sr_t *sr, const char *key)
{
    hold_t *h = hold_find(sr, key);
    if (h)
        hold_drop(h);
    fp_err_t e;
    char path[FP_PATH_MAX];
    int nrs[8];
    int fd = fp_volume_open_data(sr, key, O_RDONLY, &e);
    if (fd < 0)
        return;
    fp_volume_data_path(sr, key, path, sizeof path);
    size_t n = fp_loop_find(fd, path, nrs, 8);
    close(fd);
    for (size_t i = 0; i < n; i++) {
        xsp_log(XSP_LOG_INFO, "%s: releasing /dev/loop%d left bound to it", path, nrs[i]);
        fp_loop_clear(nrs[i]);
    }
}

/* ------------------------------------------------------------------ lifecycle hooks */

void fp_dp_sr_attached(fp_sr_t *sr)
{
    int fd = fp_openat(sr->dp, ".", O_RDONLY | O_DIRECTORY, 0);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        dpstate_t s;
        fp_err_t e;
        xsp_volume_t v;
        if (!fp_key_ok(de->d_name) || state_load(sr, de->d_name, &s) != 0)
            continue;
        if (s.attached.len > 0 && fp_volume_load(sr, de->d_name, &v, &e) == 0) {
            hold_t *h = ensure_loop(sr, de->d_name, !v.read_write, &e);
            xsp_log(h ? XSP_LOG_INFO : XSP_LOG_WARN, "SR %s: volume %s is attached: %s%s", sr->key,
                    de->d_name, h ? "loop device " : "no loop device: ", h ? h->loop.path : e.msg);
            xsp_volume_dispose(&v);
        }
        state_dispose(&s);
    }
    if (d)
        closedir(d);
    else if (fd >= 0)
        close(fd);
    /* loop devices on files of this SR that nothing has attached: left by a crash */
    int nrs[64];
    char (*files)[FP_PATH_MAX] = calloc(64, FP_PATH_MAX);
    size_t n = files ? fp_loop_find_under(sr->dir, nrs, files, 64) : 0;
    for (size_t i = 0; i < n; i++) {
        bool held = false;
        for (hold_t *h = holds; h; h = h->next)
            held |= h->loop.nr == nrs[i];
        if (!held && strstr(files[i], ".img")) {
            xsp_log(XSP_LOG_INFO, "SR %s: /dev/loop%d (%s) is not attached by anyone: releasing it",
                    sr->key, nrs[i], files[i]);
            fp_loop_clear(nrs[i]);
        }
    }
    free(files);
}

void fp_dp_sr_detached(fp_sr_t *sr)
{
    for (hold_t *h = holds, *next; h; h = next) {
        next = h->next;
        if (strcmp(h->dir, sr->dir) == 0) {
            xsp_log(XSP_LOG_WARN, "SR.detach %s: volume %s is still attached: releasing %s (SR.attach "
                    "binds it again)", sr->key, h->key, h->loop.path);
            hold_drop(h);
        }
    }
}

void fp_dp_init(void)
{
    for (fp_sr_t *sr = fp_sr_all(); sr; sr = sr->next)
        fp_dp_sr_attached(sr);
}

void fp_dp_fini(void)
{
    while (holds) {
        hold_t *h = holds;
        holds = h->next;
        if (h->loop.fd >= 0)
            close(h->loop.fd);          /* autoclear: gone when its consumers close it */
        free(h->dir);
        free(h->key);
        free(h);
    }
}

bool fp_dp_in_use(fp_sr_t *sr, const char *key, char *why, size_t cap)
{
    dpstate_t s;
    if (state_load(sr, key, &s) != 0) {
        snprintf(why, cap, "its data-path state cannot be read");
        return true;
    }
    bool busy = !state_idle(&s);
    if (busy)
        snprintf(why, cap, "%s%s%s%s%s", s.open ? "open" : "", s.attached.len ? " attached for " : "",
                 s.attached.len ? s.attached.val[0] : "", s.active ? " active for " : "",
                 s.active ? s.active : "");
    state_dispose(&s);
    return busy;
}

void fp_dp_forget(fp_sr_t *sr, const char *key)
{
    char name[256];
    snprintf(name, sizeof name, "%s.img", key);
    unlinkat(sr->dp, key, 0);
    unlinkat(sr->reset, name, 0);
}

void fp_dp_resized(fp_sr_t *sr, const char *key)
{
    hold_t *h = hold_find(sr, key);
    if (h && fp_loop_set_capacity(&h->loop) != 0)
        xsp_log(XSP_LOG_WARN, "%s: LOOP_SET_CAPACITY: %s", h->loop.path, strerror(errno));
}

void fp_dp_describe(char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (hold_t *h = holds; h && n < cap; h = h->next)
        n += (size_t) snprintf(buf + n, cap - n, "loop: %s %s/%s.img\n", h->loop.path, h->dir, h->key);
}

/* ------------------------------------------------------------------ handlers */

static int domain_check(const char *d, fp_err_t *e)
{
    size_t n = d ? strlen(d) : 0;
    if (n == 0 || n > DOMAIN_MAX)
        return fp_bad(e, "domain", "a domain must be 1 to %d bytes", DOMAIN_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) d[i] <= ' ' || d[i] == 0x7f)
            return fp_bad(e, "domain", "domain '%s' contains a space or control character", d);
    return 0;
}

/*  Resolve uri to an SR and key of an existing volume (v filled when not NULL). */
static fp_sr_t *volume_of(const char *uri, char *key, size_t cap, xsp_volume_t *v, fp_err_t *e)
{
    fp_sr_t *sr = fp_sr_of_uri(uri, key, cap, e);
    xsp_volume_t tmp;
    if (!sr)
        return NULL;
    if (fp_volume_load(sr, key, v ? v : &tmp, e) != 0) {
        if (e->code == XSP_E_VOLUME_DOES_NOT_EXIST)
            fp_err(e, XSP_E_VOLUME_DOES_NOT_EXIST, "uri", uri, "no volume data at %s", uri);
        return NULL;
    }
    if (!v)
        xsp_volume_dispose(&tmp);
    return sr;
}

int fp_datapath_open(void *ctx, xsp_storage_call_t *call, const xsp_datapath_open_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    char key[256], name[300], tmp[320];
    dpstate_t s;
    int rc = -1;
    fp_lock();
    fp_sr_t *sr = volume_of(a->uri, key, sizeof key, NULL, &e);
    if (sr && state_load(sr, key, &s) != 0) {
        fp_err(&e, XSP_E_BACKEND_FAILURE, NULL, NULL, "cannot read the data-path state of %s: %s", a->uri,
               strerror(errno));
        sr = NULL;
    }
    if (sr) {
        snprintf(name, sizeof name, "%s.img", key);
        if (s.open) {
            if (s.persistent != a->persistent)
                xsp_log(XSP_LOG_WARN, "Datapath.open %s: already open %s; the first open decides", a->uri,
                        s.persistent ? "persistent" : "non-persistent");
            rc = 0;
        } else if (a->persistent) {
            unlinkat(sr->reset, name, 0);       /* a stale copy from an interrupted open */
            s.open = s.persistent = true;
            rc = state_save(sr, key, &s, &e);
        } else {
            /* keep the pristine data aside: .xsp/reset/KEY.img (tmp name while copying) */
            const char *how = "";
            snprintf(tmp, sizeof tmp, ".%s.tmp", name);
            unlinkat(sr->reset, tmp, 0);
            int src = fp_volume_open_data(sr, key, O_RDONLY, &e);
            int dst = src < 0 ? -1 : fp_openat(sr->reset, tmp, O_RDWR | O_CREAT | O_EXCL, 0600);
            if (src >= 0 && dst < 0)
                fp_err(&e, XSP_E_BACKEND_FAILURE, NULL, NULL, "cannot create %s/.xsp/reset/%s: %s", sr->dir, tmp,
                       strerror(errno));
            else if (dst >= 0 && (fp_copy_data(src, dst, &how) != 0 || renameat(sr->reset, tmp, sr->reset, name) != 0))
                fp_err(&e, XSP_E_BACKEND_FAILURE, "command", "copy", "cannot keep a pristine copy of %s: %s",
                       a->uri, strerror(errno));
            else if (dst >= 0) {
                fp_dir_sync(sr->reset);
                s.open = true;
                s.persistent = false;
                rc = state_save(sr, key, &s, &e);
                xsp_log(XSP_LOG_INFO, "Datapath.open %s non-persistent: pristine %s kept", a->uri, how);
            }
            if (dst >= 0)
                close(dst);
            if (src >= 0)
                close(src);
            if (rc != 0)
                unlinkat(sr->reset, tmp, 0);
        }
        state_dispose(&s);
    }
    fp_unlock();
    return rc == 0 ? xsp_datapath_open_reply(call) : fp_fail(call, &e);
}

int fp_datapath_attach(void *ctx, xsp_storage_call_t *call, const xsp_datapath_attach_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    char key[256], path[FP_PATH_MAX], dev[32];
    dpstate_t s;
    xsp_volume_t v;
    xsp_volume_init(&v);
    int rc = -1;
    fp_lock();
    fp_sr_t *sr = domain_check(a->domain, &e) == 0 ? volume_of(a->uri, key, sizeof key, &v, &e) : NULL;
    if (sr && state_load(sr, key, &s) != 0) {
        fp_err(&e, XSP_E_BACKEND_FAILURE, NULL, NULL, "cannot read the data-path state of %s: %s", a->uri,
               strerror(errno));
        sr = NULL;
    }
    if (sr) {
        hold_t *h = ensure_loop(sr, key, !v.read_write, &e);
        if (h) {
            snprintf(dev, sizeof dev, "%s", h->loop.path);
            rc = 0;
            if (find_domain(&s, a->domain) < 0) {
                rc = xsp_string_list_append(&s.attached, a->domain) != 0
                         ? fp_err(&e, XSP_E_BACKEND_FAILURE, NULL, NULL, "out of memory")
                         : state_save(sr, key, &s, &e);
                if (rc == 0)
                    xsp_log(XSP_LOG_INFO, "Datapath.attach %s for domain %s: %s", a->uri, a->domain, dev);
            }
            if (rc != 0 && s.attached.len == 0)
                hold_drop(h);
        }
        fp_volume_data_path(sr, key, path, sizeof path);
        state_dispose(&s);
    }
    fp_unlock();
    if (rc != 0) {
        xsp_volume_dispose(&v);
        return fp_fail(call, &e);
    }
    xsp_implementation_t impl[3];
    xsp_string_pair_t extra[2] = { { "format", "raw" }, { "mode", v.read_write ? "w" : "r" } };
    memset(impl, 0, sizeof impl);
    impl[0].kind = XSP_IMPLEMENTATION_BLOCK_DEVICE;
    impl[0].u.block_device.path = dev;
    impl[1].kind = XSP_IMPLEMENTATION_XEN_DISK;
    impl[1].u.xen_disk.backend_type = "qdisk";
    impl[1].u.xen_disk.params = path;
    impl[1].u.xen_disk.extra = (xsp_string_map_t) { 2, extra };
    impl[2].kind = XSP_IMPLEMENTATION_FILE;
    impl[2].u.file.path = path;
    xsp_backend_t b;
    xsp_backend_init(&b);
    b.domain.domid = G.backend_domid;
    b.domain.source = G.backend_source;
    b.implementations = (xsp_implementation_list_t) { 3, impl };
    rc = xsp_datapath_attach_reply(call, &b);   /* b only borrows */
    xsp_volume_dispose(&v);
    return rc;
}

int fp_datapath_activate(void *ctx, xsp_storage_call_t *call, const xsp_datapath_activate_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    char key[256];
    dpstate_t s;
    int rc = -1;
    fp_lock();
    fp_sr_t *sr = domain_check(a->domain, &e) == 0 ? volume_of(a->uri, key, sizeof key, NULL, &e) : NULL;
    if (sr && state_load(sr, key, &s) != 0) {
        fp_err(&e, XSP_E_BACKEND_FAILURE, NULL, NULL, "cannot read the data-path state of %s: %s", a->uri,
               strerror(errno));
        sr = NULL;
    }
    if (sr) {
        if (s.active && strcmp(s.active, a->domain) != 0) {
            fp_err(&e, XSP_E_ACTIVATED_ON_ANOTHER_HOST, "host", s.active,
                   "%s is active for domain %s: it must deactivate first", a->uri, s.active);
        } else if (s.active) {
            rc = 0;                             /* idempotent */
        } else if (!(s.active = strdup(a->domain))) {
            fp_err(&e, XSP_E_BACKEND_FAILURE, NULL, NULL, "out of memory");
        } else {
            rc = state_save(sr, key, &s, &e);
            if (rc == 0)
                xsp_log(XSP_LOG_INFO, "Datapath.activate %s for domain %s", a->uri, a->domain);
        }
        state_dispose(&s);
    }
    fp_unlock();
    return rc == 0 ? xsp_datapath_activate_reply(call) : fp_fail(call, &e);
}

/*  Deactivate/detach: the SR and key, or NULL with e set for a malformed request.  A URI
    whose volume is gone is fine here (there is nothing left to release): *gone = true. */
static fp_sr_t *lenient(const char *uri, const char *domain, char *key, size_t cap, fp_err_t *e)
{
    if (domain && domain_check(domain, e) != 0)
        return NULL;
    return fp_sr_of_uri(uri, key, cap, e);
}

static int deactivate(fp_sr_t *sr, const char *key, const char *uri, const char *domain, fp_err_t *e)
{
    dpstate_t s;
    if (state_load(sr, key, &s) != 0) {
        xsp_log(XSP_LOG_WARN, "%s: cannot read the data-path state: %s", uri, strerror(errno));
        return 0;
    }
    int rc = 0;
    if (s.active && strcmp(s.active, domain) == 0) {
        free(s.active);
        s.active = NULL;
        rc = state_save(sr, key, &s, e);
        xsp_log(XSP_LOG_INFO, "Datapath.deactivate %s for domain %s", uri, domain);
    }
    state_dispose(&s);
    return rc;
}

int fp_datapath_deactivate(void *ctx, xsp_storage_call_t *call, const xsp_datapath_deactivate_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    char key[256];
    fp_lock();
    fp_sr_t *sr = lenient(a->uri, a->domain, key, sizeof key, &e);
    int rc = sr ? deactivate(sr, key, a->uri, a->domain, &e) : -1;
    fp_unlock();
    return rc == 0 ? xsp_datapath_deactivate_reply(call) : fp_fail(call, &e);
}

int fp_datapath_detach(void *ctx, xsp_storage_call_t *call, const xsp_datapath_detach_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    char key[256];
    dpstate_t s;
    fp_lock();
    fp_sr_t *sr = lenient(a->uri, a->domain, key, sizeof key, &e);
    if (!sr) {
        fp_unlock();
        return fp_fail(call, &e);
    }
    if (deactivate(sr, key, a->uri, a->domain, &e) != 0)
        xsp_log(XSP_LOG_WARN, "Datapath.detach %s: %s", a->uri, e.msg);
    if (state_load(sr, key, &s) != 0) {
        xsp_log(XSP_LOG_WARN, "Datapath.detach %s: cannot read the data-path state: %s", a->uri, strerror(errno));
        memset(&s, 0, sizeof s);
    }
    ssize_t i = find_domain(&s, a->domain);
    if (i >= 0) {
        free(s.attached.val[i]);
        s.attached.val[i] = s.attached.val[--s.attached.len];
    }
    if (s.attached.len == 0)
        release_loops(sr, key);
    if (state_save(sr, key, &s, &e) != 0)
        xsp_log(XSP_LOG_WARN, "Datapath.detach %s: %s", a->uri, e.msg);
    xsp_log(XSP_LOG_INFO, "Datapath.detach %s for domain %s (%zu domains left)", a->uri, a->domain, s.attached.len);
    state_dispose(&s);
    fp_unlock();
    return xsp_datapath_detach_reply(call);     /* never fails */
}

int fp_datapath_close(void *ctx, xsp_storage_call_t *call, const xsp_datapath_close_args_t *a)
{
    (void) ctx;
    fp_err_t e;
    char key[256], name[300];
    dpstate_t s;
    fp_lock();
    fp_sr_t *sr = lenient(a->uri, NULL, key, sizeof key, &e);
    if (!sr) {
        fp_unlock();
        return fp_fail(call, &e);
    }
    if (state_load(sr, key, &s) != 0) {
        xsp_log(XSP_LOG_WARN, "Datapath.close %s: cannot read the data-path state: %s", a->uri, strerror(errno));
        memset(&s, 0, sizeof s);
    }
    snprintf(name, sizeof name, "%s.img", key);
    if (s.attached.len > 0) {
        xsp_log(XSP_LOG_WARN, "Datapath.close %s while attached for %zu domains: detaching them", a->uri,
                s.attached.len);
        xsp_string_list_dispose(&s.attached);
        release_loops(sr, key);
    }
    if (s.open && !s.persistent) {
        /* drop every write: the pristine copy replaces the data file */
        if (renameat(sr->reset, name, sr->root, name) != 0)
            xsp_log(XSP_LOG_ERR, "Datapath.close %s: cannot restore the pristine data: %s", a->uri, strerror(errno));
        else {
            fp_dir_sync(sr->root);
            fp_dir_sync(sr->reset);
            xsp_log(XSP_LOG_INFO, "Datapath.close %s: non-persistent writes dropped", a->uri);
        }
    }
    s.open = false;
    if (state_save(sr, key, &s, &e) != 0)
        xsp_log(XSP_LOG_WARN, "Datapath.close %s: %s", a->uri, e.msg);
    state_dispose(&s);
    fp_unlock();
    return xsp_datapath_close_reply(call);
}

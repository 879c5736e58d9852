/*  xenbus.c — libxl's hotplug environment and the backend's xenstore nodes (contract in
    xenbus.h).

    Owns: the xs_handle and copies of the environment.
    Never touches: the switch, plugins, loop devices; nodes outside $XENBUS_PATH.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <xenstore.h>

#include "log.h"
#include "xenbus.h"

struct bx_xenbus {
    struct xs_handle *xs;
    char *path;         /* $XENBUS_PATH */
    char *type;         /* $XENBUS_TYPE (vbd) */
};

static char *node_path(const bx_xenbus_t *self, const char *node)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", self->path, node) < 0)
        return NULL;
    return p;
}

/*  A path element of digits only, no leading zeros except "0". */
static bool parse_u32(const char *s, size_t n, uint32_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 10 || (n > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t) (s[i] - '0');
    }
    if (v > UINT32_MAX)
        return false;
    *out = (uint32_t) v;
    return true;
}

bx_xenbus_t *bx_xenbus_new(char *why, size_t cap)
{
    const char *path = getenv("XENBUS_PATH"), *type = getenv("XENBUS_TYPE");
    const char *rel;
    bx_xenbus_t *self;

    if (!path || !*path) {
        snprintf(why, cap, "XENBUS_PATH is not set: block-xsp is a block hotplug script, run by "
                 "libxl (disk spec script=block-xsp) as `block-xsp add|remove` with XENBUS_PATH="
                 "backend/vbd/<frontend-domid>/<devid>");
        return NULL;
    }
    /* backend/<type>/<fe>/<devid>, maybe after /local/domain/<d>/ */
    rel = path;
    if (strncmp(rel, "/local/domain/", 14) == 0) {
        rel = strchr(rel + 14, '/');
        rel = rel ? rel + 1 : "";
    }
    if (strncmp(rel, "backend/", 8) != 0 || strstr(path, "..") || strchr(rel + 8, '/') == NULL) {
        snprintf(why, cap, "XENBUS_PATH=%s is not a backend path (backend/vbd/<frontend-domid>/<devid>)",
                 path);
        return NULL;
    }
    if (type && *type && strncmp(rel + 8, type, strlen(type)) != 0) {
        snprintf(why, cap, "XENBUS_PATH=%s does not match XENBUS_TYPE=%s", path, type);
        return NULL;
    }
    self = calloc(1, sizeof *self);
    if (!self || !(self->path = strdup(path)) || !(self->type = strdup(type ? type : "vbd"))) {
        snprintf(why, cap, "out of memory");
        bx_xenbus_destroy(&self);
        return NULL;
    }
    /* a trailing slash would make every node path wrong */
    size_t n = strlen(self->path);
    while (n > 1 && self->path[n - 1] == '/')
        self->path[--n] = '\0';
    self->xs = xs_open(0);
    if (!self->xs) {
        const char *sock = getenv("XENSTORED_PATH");
        snprintf(why, cap, "cannot connect to xenstored (%s%s): %s", sock ? "XENSTORED_PATH=" : "",
                 sock ? sock : "default socket", strerror(errno));
        bx_xenbus_destroy(&self);
        return NULL;
    }
    return self;
}

void bx_xenbus_destroy(bx_xenbus_t **self_p)
{
    bx_xenbus_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    if (self->xs)
        xs_close(self->xs);
    free(self->path);
    free(self->type);
    free(self);
    *self_p = NULL;
}

const char *bx_xenbus_path(const bx_xenbus_t *self)
{
    return self->path;
}

int bx_xenbus_frontend(bx_xenbus_t *self, uint32_t *domid, char *why, size_t cap)
{
    /* the element after backend/<type>/ */
    const char *p = strstr(self->path, "backend/");
    const char *fe, *end;
    uint32_t from_path, from_node;
    char *v;

    p = p ? strchr(p + 8, '/') : NULL;
    fe = p ? p + 1 : NULL;
    end = fe ? strchr(fe, '/') : NULL;
    if (!fe || !end || !parse_u32(fe, (size_t) (end - fe), &from_path)) {
        snprintf(why, cap, "XENBUS_PATH=%s names no frontend domid (backend/vbd/<frontend-domid>/<devid>)",
                 self->path);
        return -1;
    }
    v = bx_xenbus_read(self, "frontend-id");
    if (v) {
        bool ok = parse_u32(v, strlen(v), &from_node) && from_node == from_path;
        if (!ok) {
            snprintf(why, cap, "%s/frontend-id is \"%s\" but the path names frontend domain %u",
                     self->path, v, from_path);
            free(v);
            return -1;
        }
        free(v);
    }
    *domid = from_path;
    return 0;
}

uint32_t bx_xenbus_own_domid(bx_xenbus_t *self)
{
    unsigned len = 0;
    uint32_t d = 0;
    char *v = xs_read(self->xs, XBT_NULL, "domid", &len);
    if (v && !parse_u32(v, strlen(v), &d)) {
        bx_log(LOG_WARNING, "the node domid holds \"%s\", not a domid; assuming dom0", v);
        d = 0;
    }
    free(v);
    return d;
}

char *bx_xenbus_read(bx_xenbus_t *self, const char *node)
{
    unsigned len = 0;
    char *p = node_path(self, node), *v;
    if (!p)
        return NULL;
    v = xs_read(self->xs, XBT_NULL, p, &len);
    free(p);
    return v;
}

int bx_xenbus_write(bx_xenbus_t *self, const char *node, const char *value)
{
    char *p = node_path(self, node);
    bool ok;
    if (!p)
        return -1;
    ok = xs_write(self->xs, XBT_NULL, p, value, (unsigned) strlen(value));
    if (!ok)
        bx_log(LOG_ERR, "cannot write %s = \"%s\": %s", p, value, strerror(errno));
    free(p);
    return ok ? 0 : -1;
}

int bx_xenbus_rm(bx_xenbus_t *self, const char *node)
{
    char *p = node_path(self, node);
    bool ok;
    if (!p)
        return -1;
    ok = xs_rm(self->xs, XBT_NULL, p) || errno == ENOENT;
    if (!ok)
        bx_log(LOG_WARNING, "cannot remove %s: %s", p, strerror(errno));
    free(p);
    return ok ? 0 : -1;
}

int bx_xenbus_connected(bx_xenbus_t *self, unsigned major, unsigned minor, const char *path)
{
    char dev[32];
    snprintf(dev, sizeof dev, "%x:%x", major, minor);
    if (bx_xenbus_write(self, "physical-device", dev) || bx_xenbus_write(self, "physical-device-path", path))
        return -1;
    bx_xenbus_rm(self, "hotplug-error");
    return bx_xenbus_write(self, "hotplug-status", "connected");
}

void bx_xenbus_fail(bx_xenbus_t *self, const char *sentence)
{
    bx_log(LOG_ERR, "%s", sentence);
    bx_xenbus_write(self, "hotplug-error", sentence);
    bx_xenbus_write(self, "hotplug-status", "error");
}

int bx_xenbus_other_user(bx_xenbus_t *self, const char *uri, char *other, size_t cap)
{
    /* the type directory: XENBUS_PATH without its last two elements (<fe>/<devid>) */
    char base[512], p[1024];
    char **fes, **devs, *v;
    unsigned nfe = 0, ndev = 0;
    int found = 0;

    snprintf(base, sizeof base, "%s", self->path);
    for (int i = 0; i < 2; i++) {
        char *slash = strrchr(base, '/');
        if (!slash)
            return 0;
        *slash = '\0';
    }
    fes = xs_directory(self->xs, XBT_NULL, base, &nfe);
    for (unsigned i = 0; fes && i < nfe && !found; i++) {
        snprintf(p, sizeof p, "%s/%s", base, fes[i]);
        devs = xs_directory(self->xs, XBT_NULL, p, &ndev);
        for (unsigned j = 0; devs && j < ndev && !found; j++) {
            unsigned len;
            snprintf(p, sizeof p, "%s/%s/%s", base, fes[i], devs[j]);
            if (strcmp(p, self->path) == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s/%s/xsp-uri", base, fes[i], devs[j]);
            v = xs_read(self->xs, XBT_NULL, p, &len);
            if (v && strcmp(v, uri) == 0) {
                found = 1;
                if (other)
                    snprintf(other, cap, "%s/%s/%s", base, fes[i], devs[j]);
            }
            free(v);
        }
        free(devs);
    }
    free(fes);
    return found;
}

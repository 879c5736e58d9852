/*  validate.c — checks on what a plugin answered (xsp/validate.h).

    Owns: the rules for Datapath.attach answers.  Never touches: anything but its arguments.
*/
#include "xsp/validate.h"

#include <string.h>

#define DOMID_FIRST_RESERVED 32752u

static bool clean(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char) *s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

bool xsp_validate_path(const char *p, bool under_dev)
{
    if (!p || p[0] != '/' || !clean(p) || strlen(p) > 4096)
        return false;
    if (under_dev && (strncmp(p, "/dev/", 5) != 0 || p[5] == '\0'))
        return false;
    size_t n = strlen(p);
    if (n > 1 && p[n - 1] == '/')
        return false;
    /* every component between slashes: not empty, not "." or ".." */
    for (const char *c = p + 1; *c;) {
        const char *e = strchr(c, '/');
        size_t len = e ? (size_t) (e - c) : strlen(c);
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        c += len + (e ? 1 : 0);
    }
    return true;
}

static bool chars_in(const char *s, size_t max, const char *extra, bool upper)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || (upper && *s >= 'A' && *s <= 'Z') ||
              strchr(extra, *s)))
            return false;
    return true;
}

#define BAD(code, ...) return xsp_error_set(err, code, __VA_ARGS__)

static int check_domain(const xsp_resolve_result_t *who, const xsp_backend_domain_t *d, xsp_error_t *err)
{
    const char *pl = who->plugin ? who->plugin : "?";
    uint32_t dom = d->domid;
    if (dom >= DOMID_FIRST_RESERVED)
        BAD(XSP_E_PERMISSION_DENIED, "plugin '%s' named backend domain %u, which is not a domain "
            "(domids stop at %u)", pl, dom, DOMID_FIRST_RESERVED - 1);
    switch (who->backend_policy.kind) {
    case XSP_BACKEND_POLICY_KIND_FIXED:
        if (!who->backend_policy.has_domid || dom != who->backend_policy.domid)
            BAD(XSP_E_PERMISSION_DENIED, "plugin '%s' named backend domain %u but registered a fixed "
                "backend domain %u", pl, dom, who->backend_policy.domid);
        break;
    case XSP_BACKEND_POLICY_KIND_OWN_DOMAIN:
        if (dom != who->domid)
            BAD(XSP_E_PERMISSION_DENIED, "plugin '%s' runs in domain %u and registered own-domain "
                "backends, but named backend domain %u", pl, who->domid, dom);
        break;
    case XSP_BACKEND_POLICY_KIND_ON_DEMAND:
        if (dom == 0 && who->domid != 0)
            BAD(XSP_E_PERMISSION_DENIED, "plugin '%s' runs in domain %u and may not name dom0 as an "
                "on-demand backend domain", pl, who->domid);
        break;
    default:
        BAD(XSP_E_PERMISSION_DENIED, "plugin '%s' has an unknown backend policy", pl);
    }
    if (d->source == XSP_BACKEND_DOMAIN_SOURCE_PLUGIN_DOMAIN && dom != who->domid)
        BAD(XSP_E_PERMISSION_DENIED, "plugin '%s' runs in domain %u but named domain %u as its own", pl,
            who->domid, dom);
    if (d->domain_uuid && !chars_in(d->domain_uuid, 64, "-", true))
        BAD(XSP_E_INVALID_ARGUMENT, "plugin '%s' answered a malformed domain_uuid", pl);
    return XSP_OK;
}

static int check_impl(const char *pl, size_t i, const xsp_implementation_t *im, xsp_error_t *err)
{
    switch (im->kind) {
    case XSP_IMPLEMENTATION_BLOCK_DEVICE:
        if (!xsp_validate_path(im->u.block_device.path, true))
            BAD(XSP_E_INVALID_ARGUMENT, "plugin '%s' answered implementations[%zu].block_device.path "
                "'%.200s': not an absolute normalized path under /dev/", pl, i,
                clean(im->u.block_device.path) && im->u.block_device.path ? im->u.block_device.path : "(unprintable)");
        break;
    case XSP_IMPLEMENTATION_FILE:
        if (!xsp_validate_path(im->u.file.path, false))
            BAD(XSP_E_INVALID_ARGUMENT, "plugin '%s' answered implementations[%zu].file.path '%.200s': "
                "not an absolute normalized path", pl, i,
                clean(im->u.file.path) && im->u.file.path ? im->u.file.path : "(unprintable)");
        break;
    case XSP_IMPLEMENTATION_NBD: {
        const char *u = im->u.nbd.uri;
        if (!u || !clean(u) || strchr(u, ' ') ||
            (strncmp(u, "nbd://", 6) != 0 && strncmp(u, "nbd+unix://", 11) != 0))
            BAD(XSP_E_INVALID_ARGUMENT, "plugin '%s' answered implementations[%zu].nbd.uri '%.200s': "
                "not an nbd:// or nbd+unix:// URI", pl, i, u && clean(u) ? u : "(unprintable)");
        break;
    }
    case XSP_IMPLEMENTATION_XEN_DISK: {
        const xsp_implementation_xen_disk_t *x = &im->u.xen_disk;
        if (!chars_in(x->backend_type, 64, "_-", false))
            BAD(XSP_E_INVALID_ARGUMENT, "plugin '%s' answered implementations[%zu].xen_disk.backend_type "
                "'%.64s': want 1-64 of [a-z0-9_-]", pl, i,
                x->backend_type && clean(x->backend_type) ? x->backend_type : "(unprintable)");
        if (!clean(x->params))
            BAD(XSP_E_INVALID_ARGUMENT, "plugin '%s' answered implementations[%zu].xen_disk.params with a "
                "control character", pl, i);
        for (size_t k = 0; k < x->extra.len; k++) {
            if (!chars_in(x->extra.val[k].key, 256, "_.-", true))
                BAD(XSP_E_INVALID_ARGUMENT, "plugin '%s' answered a xen_disk.extra key that is not 1-256 "
                    "of [A-Za-z0-9_.-]", pl);
            if (!clean(x->extra.val[k].value))
                BAD(XSP_E_INVALID_ARGUMENT, "plugin '%s' answered xen_disk.extra '%s' with a control "
                    "character", pl, x->extra.val[k].key);
        }
        break;
    }
    default:
        BAD(XSP_E_INVALID_ARGUMENT, "plugin '%s' answered an unknown implementation kind", pl);
    }
    return XSP_OK;
}

int xsp_validate_attach_result(const xsp_resolve_result_t *who, const xsp_datapath_attach_result_t *r,
                               xsp_error_t *err)
{
    if (!who || !r)
        BAD(XSP_E_INVALID_ARGUMENT, "nothing to validate");
    const char *pl = who->plugin ? who->plugin : "?";
    int rc = check_domain(who, &r->domain, err);
    if (rc)
        return rc;
    if (r->implementations.len == 0 || r->implementations.len > 16)
        BAD(XSP_E_INVALID_ARGUMENT, "plugin '%s' answered %zu implementations (want 1-16)", pl,
            r->implementations.len);
    for (size_t i = 0; i < r->implementations.len; i++)
        if ((rc = check_impl(pl, i, &r->implementations.val[i], err)))
            return rc;
    if (err)
        xsp_error_clear(err);
    return XSP_OK;
}

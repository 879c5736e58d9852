/*  validate.c — checks on what a plugin answered (see xsp/validate.h for the rules).

    Owns: the backend rules.  Never touches: anything but its arguments.
*/
#include "xsp/validate.h"

#include <stdbool.h>
#include <string.h>

#define STR_MAX 4096

static const char *plugin_of(const xsp_resolve_result_t *who)
{
    return who && who->plugin && *who->plugin ? who->plugin : "the plugin";
}

/*  Non-NULL, at most STR_MAX bytes, no control character (< 0x20 or 0x7f). */
static bool clean(const char *s)
{
    if (!s)
        return false;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++, n++)
        if (*p < 0x20 || *p == 0x7f || n >= STR_MAX)
            return false;
    return true;
}

static bool charset(const char *s, size_t max, const char *extra, bool upper)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr(extra, c) ||
                  (upper && c >= 'A' && c <= 'Z');
        if (!ok || c == '\0')
            return false;
    }
    return true;
}

/*  Absolute, clean, no "." or ".." component, no empty component ("//"), not "/" alone. */
static const char *path_problem(const char *p)
{
    if (!clean(p))
        return "is empty, too long or has control characters";
    if (p[0] != '/')
        return "is not absolute";
    if (!p[1])
        return "is the root directory";
    for (const char *c = p + 1;;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t) (e - c) : strlen(c);
        if (n == 0)
            return "has an empty component (//)";
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return "has a . or .. component";
        if (!e)
            break;
        c = e + 1;
        if (!*c)
            return "ends with /";
    }
    return NULL;
}

static int check_domain(const xsp_resolve_result_t *who, const xsp_backend_t *b, xsp_error_t *err)
{
    uint32_t got = b->domain.domid;
    if (!who)
        return XSP_OK;
    const xsp_backend_policy_t *pol = &who->backend_policy;
    switch (pol->kind) {
    case XSP_BACKEND_POLICY_KIND_FIXED:
        if (pol->has_domid && got != pol->domid)
            return xsp_error_set(err, XSP_E_PERMISSION_DENIED,
                                 "%s answered backend domain %u, but it registered the fixed backend "
                                 "domain %u", plugin_of(who), got, pol->domid);
        return XSP_OK;
    case XSP_BACKEND_POLICY_KIND_OWN_DOMAIN:
        if (got != who->domid)
            return xsp_error_set(err, XSP_E_PERMISSION_DENIED,
                                 "%s answered backend domain %u, but it registered its own domain "
                                 "(%u) as the backend domain", plugin_of(who), got, who->domid);
        return XSP_OK;
    case XSP_BACKEND_POLICY_KIND_ON_DEMAND:
        if (got == 0 && who->domid != 0)
            return xsp_error_set(err, XSP_E_PERMISSION_DENIED,
                                 "%s (running in domain %u) answered dom0 as an on-demand backend "
                                 "domain: only a plugin running in dom0 may", plugin_of(who), who->domid);
        return XSP_OK;
    default:
        return xsp_error_set(err, XSP_E_PERMISSION_DENIED, "%s is registered with an unknown backend "
                             "policy (%d)", plugin_of(who), (int) pol->kind);
    }
}

static int check_impl(const xsp_resolve_result_t *who, size_t i, const xsp_implementation_t *im,
                      xsp_error_t *err)
{
    const char *why = NULL, *field = NULL, *val = NULL;
    switch (im->kind) {
    case XSP_IMPLEMENTATION_BLOCK_DEVICE:
        field = "block_device.path";
        val = im->u.block_device.path;
        why = path_problem(val);
        if (!why && strncmp(val, "/dev/", 5) != 0)
            why = "is not under /dev/";
        break;
    case XSP_IMPLEMENTATION_FILE:
        field = "file.path";
        val = im->u.file.path;
        why = path_problem(val);
        break;
    case XSP_IMPLEMENTATION_XEN_DISK: {
        const xsp_implementation_xen_disk_t *x = &im->u.xen_disk;
        field = "xen_disk.backend_type";
        val = x->backend_type;
        if (!charset(val, 32, "_-", false)) {
            why = "is not 1-32 of a-z 0-9 _ -";
            break;
        }
        field = "xen_disk.params";
        val = x->params;
        if (!clean(val)) {
            why = "is too long or has control characters";
            break;
        }
        for (size_t k = 0; k < x->extra.len && !why; k++) {
            field = "xen_disk.extra";
            val = x->extra.val[k].key;
            if (!charset(val, 64, "_-", true))
                why = "has a key that is not 1-64 of A-Z a-z 0-9 _ -";
            else if (!clean(x->extra.val[k].value))
                why = "has a value that is too long or has control characters";
        }
        break;
    }
    case XSP_IMPLEMENTATION_NBD:
        field = "nbd.uri";
        val = im->u.nbd.uri;
        if (!clean(val) || strchr(val, ' '))
            why = "is empty, too long or has spaces or control characters";
        else if (strncmp(val, "nbd:", 4) != 0 && strncmp(val, "nbds://", 7) != 0 &&
                 strncmp(val, "nbd+unix://", 11) != 0)
            why = "is not an nbd: / nbds:// / nbd+unix:// URI";
        break;
    default:
        return xsp_error_set(err, XSP_E_PERMISSION_DENIED, "%s answered implementation [%zu] of "
                             "unknown kind %d", plugin_of(who), i, (int) im->kind);
    }
    if (!why)
        return XSP_OK;
    bool printable = val && clean(val);
    return xsp_error_set(err, XSP_E_PERMISSION_DENIED,
                         "%s answered an unsafe backend: implementations[%zu].%s %s%s%.200s%s: "
                         "not used", plugin_of(who), i, field, why, printable ? " ('" : "",
                         printable ? val : "", printable ? "')" : "");
}

int xsp_validate_backend(const xsp_resolve_result_t *who, const xsp_backend_t *b, xsp_error_t *err)
{
    if (!b)
        return xsp_error_set(err, XSP_E_PERMISSION_DENIED, "%s answered no backend", plugin_of(who));
    int rc = check_domain(who, b, err);
    if (rc != XSP_OK)
        return rc;
    if (b->implementations.len == 0 || b->implementations.len > 16)
        return xsp_error_set(err, XSP_E_PERMISSION_DENIED, "%s answered %zu implementations (1-16 "
                             "expected)", plugin_of(who), b->implementations.len);
    for (size_t i = 0; i < b->implementations.len; i++)
        if ((rc = check_impl(who, i, &b->implementations.val[i], err)) != XSP_OK)
            return rc;
    if (b->domain.domain_uuid && !clean(b->domain.domain_uuid))
        return xsp_error_set(err, XSP_E_PERMISSION_DENIED, "%s answered a domain_uuid with control "
                             "characters", plugin_of(who));
    xsp_error_clear(err);
    return XSP_OK;
}

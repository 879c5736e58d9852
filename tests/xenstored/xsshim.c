/*
 * xsshim.c - LD_PRELOAD shim that lets Debian's real C xenstored (Xen 4.17)
 * run on a machine without a hypervisor, for tests.
 *
 * Why: xenstored talks to Xen through libxenctrl, libxenevtchn and
 * libxengnttab, and sets up dom0's ring from /proc/xen/xsd_port and
 * /proc/xen/xsd_kva.  Without Xen, xc_interface_open() fails and xenstored
 * exits ("Failed to open connection to hypervisor"); "-D" (skip domain set-up)
 * crashes on the first request in 4.17.  Preloading this library replaces
 * exactly the Xen calls xenstored imports (see `nm -D --undefined-only
 * xenstored`), so it starts normally and serves clients on its Unix socket.
 *
 * What is faked:
 *   xc_interface_open/close      a dummy handle.
 *   xc_domain_getinfo            domids below XSSHIM_NR_DOMAINS (env, default
 *                                256) exist and are running; others do not.
 *                                Permissions naming a non-existent domid are
 *                                dropped by xenstored, as on real Xen.
 *   xenevtchn_*                  an eventfd that never fires; binds hand out
 *                                increasing port numbers; notify is a no-op.
 *                                So VIRQ_DOM_EXC never fires: domains never
 *                                die on their own (no automatic
 *                                @releaseDomain).
 *   xengnttab_*                  a dummy handle; mapping a domain's ring gives
 *                                a fresh zeroed anonymous page, so introduced
 *                                domains have an idle ring.
 *   open/open64 of /proc/xen/xsd_port  a memfd containing "1" (dom0's port).
 *   open/open64 of /proc/xen/xsd_kva   a memfd of one zeroed page (dom0's
 *                                ring, mmap()ed MAP_SHARED by xenstored).
 *   Every other open() is passed through to openat(AT_FDCWD, ...).
 *
 * Clients that connect through the Unix socket are treated as dom0 by
 * xenstored, which is unrelated to this shim.
 *
 * Do not build this with sanitizers: it is preloaded into an unsanitized
 * binary.  No Xen library is linked; the Xen headers are only used so the
 * compiler checks every replacement against the real prototype.
 */

/* The replacements of open() below need the plain, unfortified prototypes. */
#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xenevtchn.h>
#include <xengnttab.h>

#define XSSHIM_EXPORT __attribute__((visibility("default")))

#define XSD_PORT_PATH "/proc/xen/xsd_port"
#define XSD_KVA_PATH  "/proc/xen/xsd_kva"
#define XSD_PORT_TEXT "1"
#define DEFAULT_NR_DOMAINS 256u

/* The opaque handle types of the Xen headers, given a body here. */
struct xc_interface_core { int unused; };
struct xenevtchn_handle { int fd; };
struct xengntdev_handle { int unused; };

static struct xc_interface_core fake_xc;
static struct xengntdev_handle fake_gnttab;
static evtchn_port_t next_port = 1;

/* ---- libxenctrl ------------------------------------------------------- */

XSSHIM_EXPORT xc_interface *xc_interface_open(xentoollog_logger *logger,
                                              xentoollog_logger *dombuild_logger,
                                              unsigned open_flags)
{
    (void)logger;
    (void)dombuild_logger;
    (void)open_flags;
    return &fake_xc;
}

XSSHIM_EXPORT int xc_interface_close(xc_interface *xch)
{
    (void)xch;
    return 0;
}

/* Number of domids (0..n-1) reported as existing. */
static unsigned int nr_domains(void)
{
    const char *s = getenv("XSSHIM_NR_DOMAINS");
    char *end;
    unsigned long n;

    if (!s || !*s)
        return DEFAULT_NR_DOMAINS;
    n = strtoul(s, &end, 0);
    if (*end || n > DOMID_FIRST_RESERVED)
        return DEFAULT_NR_DOMAINS;
    return (unsigned int)n;
}

/* Like Xen: info for up to max_doms existing domains from first_domid up. */
XSSHIM_EXPORT int xc_domain_getinfo(xc_interface *xch, uint32_t first_domid,
                                    unsigned int max_doms, xc_dominfo_t *info)
{
    unsigned int limit = nr_domains();
    unsigned int n = 0;

    (void)xch;
    while (n < max_doms && first_domid + n < limit) {
        memset(&info[n], 0, sizeof(info[n]));
        info[n].domid = first_domid + n;
        info[n].running = 1;
        info[n].nr_online_vcpus = 1;
        n++;
    }
    return (int)n;
}

/* ---- libxenevtchn ----------------------------------------------------- */

static xenevtchn_handle *evtchn_handle_for_fd(int fd)
{
    xenevtchn_handle *xce = malloc(sizeof(*xce));

    if (!xce)
        return NULL;
    xce->fd = fd;
    return xce;
}

XSSHIM_EXPORT xenevtchn_handle *xenevtchn_open(xentoollog_logger *logger,
                                               unsigned int flags)
{
    int efd_flags = EFD_NONBLOCK;
    xenevtchn_handle *xce;
    int fd;

    (void)logger;
    if (!(flags & XENEVTCHN_NO_CLOEXEC))
        efd_flags |= EFD_CLOEXEC;
    fd = eventfd(0, efd_flags);
    if (fd < 0)
        return NULL;
    xce = evtchn_handle_for_fd(fd);
    if (!xce)
        close(fd);
    return xce;
}

/* Used by xenstored's live update to re-adopt the fd of xenevtchn_open(). */
XSSHIM_EXPORT xenevtchn_handle *xenevtchn_fdopen(xentoollog_logger *logger,
                                                 int fd, unsigned int flags)
{
    (void)logger;
    (void)flags;
    return evtchn_handle_for_fd(fd);
}

XSSHIM_EXPORT int xenevtchn_close(xenevtchn_handle *xce)
{
    if (xce) {
        close(xce->fd);
        free(xce);
    }
    return 0;
}

XSSHIM_EXPORT int xenevtchn_fd(xenevtchn_handle *xce)
{
    return xce->fd;
}

XSSHIM_EXPORT int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
    (void)xce;
    (void)port;
    return 0;
}

XSSHIM_EXPORT xenevtchn_port_or_error_t
xenevtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid,
                           evtchn_port_t remote_port)
{
    (void)xce;
    (void)domid;
    (void)remote_port;
    return next_port++;
}

XSSHIM_EXPORT xenevtchn_port_or_error_t
xenevtchn_bind_virq(xenevtchn_handle *xce, unsigned int virq)
{
    (void)xce;
    (void)virq;
    return next_port++;
}

XSSHIM_EXPORT int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port)
{
    (void)xce;
    (void)port;
    return 0;
}

/* Only called when the fd is readable, which never happens. */
XSSHIM_EXPORT xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce)
{
    (void)xce;
    errno = EAGAIN;
    return -1;
}

XSSHIM_EXPORT int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port)
{
    (void)xce;
    (void)port;
    return 0;
}

/* ---- libxengnttab ----------------------------------------------------- */

XSSHIM_EXPORT xengnttab_handle *xengnttab_open(xentoollog_logger *logger,
                                               unsigned open_flags)
{
    (void)logger;
    (void)open_flags;
    return &fake_gnttab;
}

XSSHIM_EXPORT int xengnttab_close(xengnttab_handle *xgt)
{
    (void)xgt;
    return 0;
}

XSSHIM_EXPORT int xengnttab_set_max_grants(xengnttab_handle *xgt,
                                           uint32_t nr_grants)
{
    (void)xgt;
    (void)nr_grants;
    return 0;
}

/* A guest's xenstore ring: a private zeroed page (nobody else writes it). */
XSSHIM_EXPORT void *xengnttab_map_grant_ref(xengnttab_handle *xgt,
                                            uint32_t domid, uint32_t ref,
                                            int prot)
{
    void *page;

    (void)xgt;
    (void)domid;
    (void)ref;
    page = mmap(NULL, (size_t)getpagesize(), prot,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return page == MAP_FAILED ? NULL : page;
}

XSSHIM_EXPORT int xengnttab_unmap(xengnttab_handle *xgt, void *start_address,
                                  uint32_t count)
{
    (void)xgt;
    return munmap(start_address, (size_t)count * (size_t)getpagesize());
}

/* ---- /proc/xen/xsd_port and /proc/xen/xsd_kva ------------------------ */

/* A memfd of `size` bytes starting with `text` (may be NULL). */
static int fake_file(const char *name, const char *text, off_t size)
{
    size_t len = text ? strlen(text) : 0;
    int fd = memfd_create(name, MFD_CLOEXEC);

    if (fd < 0)
        return -1;
    if ((size && ftruncate(fd, size) != 0) ||
        (len && write(fd, text, len) != (ssize_t)len) ||
        lseek(fd, 0, SEEK_SET) != 0) {
        int err = errno;

        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

/* The fake fd for one of the two /proc/xen files, or -2 for other paths. */
static int open_fake(const char *path)
{
    if (path && strcmp(path, XSD_PORT_PATH) == 0)
        return fake_file("xsd_port", XSD_PORT_TEXT, 0);
    if (path && strcmp(path, XSD_KVA_PATH) == 0)
        return fake_file("xsd_kva", NULL, getpagesize());
    return -2;
}

static int open_common(const char *path, int flags, va_list ap)
{
    mode_t mode = 0;
    int fd = open_fake(path);

    if (fd != -2)
        return fd;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
        mode = (mode_t)va_arg(ap, int);
    return openat(AT_FDCWD, path, flags, mode);
}

XSSHIM_EXPORT int open(const char *path, int flags, ...)
{
    va_list ap;
    int fd;

    va_start(ap, flags);
    fd = open_common(path, flags, ap);
    va_end(ap);
    return fd;
}

XSSHIM_EXPORT int open64(const char *path, int flags, ...)
{
    va_list ap;
    int fd;

    va_start(ap, flags);
    fd = open_common(path, flags, ap);
    va_end(ap);
    return fd;
}

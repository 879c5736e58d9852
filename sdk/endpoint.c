/*  endpoint.c — the endpoint rule of xsp/endpoint.h.

    Owns: the choice of run directory and switch endpoint.
    Never touches: sockets, the heap, the file system; it only reads the environment.
*/
#include "xsp/endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int fit(int n, size_t cap)
{
    return n < 0 || (size_t) n >= cap ? -1 : 0;
}

int xsp_default_run_dir(char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return -1;
    uid_t uid = geteuid();
    if (uid == 0)
        return fit(snprintf(buf, cap, "/run/xsp"), cap);
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && *xdg)
        return fit(snprintf(buf, cap, "%s/xsp", xdg), cap);
    return fit(snprintf(buf, cap, "/tmp/xsp-%lu", (unsigned long) uid), cap);
}

int xsp_endpoint_resolve(const char *explicit_or_null, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return -1;
    if (explicit_or_null && *explicit_or_null)
        return fit(snprintf(buf, cap, "%s", explicit_or_null), cap);
    const char *env = getenv(XSP_SWITCH_ENV);
    if (env && *env)
        return fit(snprintf(buf, cap, "%s", env), cap);
    char dir[XSP_ENDPOINT_MAX];
    if (xsp_default_run_dir(dir, sizeof dir))
        return -1;
    return fit(snprintf(buf, cap, "ipc://%s/%s", dir, XSP_SWITCH_SOCK), cap);
}

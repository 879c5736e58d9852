/*  path.c — URIs, volume keys and symlink-proof opening (see path.h).
    Owns: nothing but the checks.  Never touches: files other than the one it opens. */
#define _GNU_SOURCE
#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int fp_uri_path(const char *uri, const char *what, char *out, size_t cap, fp_err_t *e)
{
    const char *p;
    size_t n = 0;
    if (!uri || strncmp(uri, "file://", 7) != 0)
        return fp_bad(e, what, "%s '%s' is not a file:// URI", what, uri ? uri : "");
    p = uri + 7;
    if (*p != '/')
        return fp_bad(e, what, "%s '%s' does not name an absolute path (want file:///dir/...)",
                      what, uri);
    for (; *p; p++) {
        char c = *p;
        if (c == '%') {
            int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);
            if (l < 0)
                return fp_bad(e, what, "%s '%s' has a malformed %%-escape", what, uri);
            c = (char) (h * 16 + l);
            if (c == '\0')
                return fp_bad(e, what, "%s '%s' contains a NUL byte", what, uri);
            p += 2;
        } else if (c == '?' || c == '#') {
            return fp_bad(e, what, "%s '%s' has a query or fragment", what, uri);
        }
        if (n + 1 >= cap)
            return fp_bad(e, what, "%s '%s' is too long", what, uri);
        out[n++] = c;
    }
    out[n] = '\0';
    while (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
    /* every component: not empty, not "." nor ".." */
    for (const char *s = out + 1; n > 1;) {
        const char *slash = strchr(s, '/');
        size_t len = slash ? (size_t) (slash - s) : strlen(s);
        if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            return fp_bad(e, what, "%s '%s' has an empty, '.' or '..' path component", what, uri);
        if (!slash)
            break;
        s = slash + 1;
    }
    return 0;
}

int fp_path_uri(const char *path, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = (size_t) snprintf(out, cap, "file://");
    for (const unsigned char *p = (const unsigned char *) path; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("/._~-", *p);
        if (n + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            out[n++] = (char) *p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return 0;
}

bool fp_key_ok(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > 128 || key[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int fp_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (uint64_t) (flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK),
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof how);
    if (fd >= 0 || errno != ENOSYS)
        return (int) fd;
    /* no openat2: only single components (validated by the caller) are opened here */
    if (strchr(name, '/') || strcmp(name, "..") == 0) {
        errno = EXDEV;
        return -1;
    }
    return openat(dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, mode);
}

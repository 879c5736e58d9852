/*  path.h — safe names for xsp-plugin-file: file:// URIs, volume names, opening beneath a
    directory without following symlinks.

    Owns: the rules for what a caller may name.  A URI is file:// + an absolute path
    (percent-encoded bytes decoded; empty, "." and ".." components, NUL bytes and
    relative paths refused).  A volume key is one file-name component of [A-Za-z0-9._-],
    1..128 bytes, not starting with '.'.  Every file inside an SR is opened relative to
    the SR's directory fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) (fallback
    where openat2 is missing: openat(O_NOFOLLOW) of a single validated component), so
    nothing outside the SR is ever reached through a name or a symlink.
    Never touches: anything but what it is asked to open.
*/
#ifndef FP_PATH_H
#define FP_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "fp.h"

/*  file:///abs/path -> /abs/path (decoded, checked; a trailing '/' dropped) into out.
    what names the argument for the error ("uri", "sr").  0 or invalid-argument. */
int fp_uri_path(const char *uri, const char *what, char *out, size_t cap, fp_err_t *e);
/*  /abs/path -> file:///abs/path (bytes outside [A-Za-z0-9/._~-] percent-encoded).
    0, or -1 when it does not fit. */
int fp_path_uri(const char *path, char *out, size_t cap);
/*  A valid volume key (see above)? */
bool fp_key_ok(const char *key);
/*  Open name (a relative path of validated components) beneath dirfd, never following a
    symlink nor leaving dirfd.  Like openat: fd or -1 with errno (ELOOP/EXDEV for a symlink
    or an escape). */
int fp_openat(int dirfd, const char *name, int flags, mode_t mode);

#endif

/*  meta.h — crash-safe metadata files for xsp-plugin-file.

    Owns: writing a small file so that after a crash it holds either the old or the new
    content, never a mix (write a temporary file in the same directory, fsync it, rename
    it over the target, fsync the directory), and reading one back; the encoding of the
    SR record (an xsp_sr_stat_t: name, description, uuid) and of the volume record (an
    xsp_volume_t: key, uuid, name, description, read_write, sharable, keys, parent) as
    msgpack with the codecs generated from sdk/idl/storage.idl, so the on-disk form is
    checked as strictly as the wire.
    Never touches: files other than the one named (and its temporary), volume data.

    Every name is a single component opened beneath dirfd with fp_openat (no symlinks).
    Functions return 0 or -1 with errno set (EINVAL/EBADMSG for a record that does not
    decode).
*/
#ifndef FP_META_H
#define FP_META_H

#include <stddef.h>

#include "xsp/storage.h"

/*  Replace dirfd/name with buf[0..len) crash-safely. */
int fp_meta_write(int dirfd, const char *name, const void *buf, size_t len);
/*  Read dirfd/name (at most max bytes) into a malloc'd NUL-terminated *buf. */
int fp_meta_read(int dirfd, const char *name, size_t max, char **buf, size_t *len);
/*  fsync a directory (after an unlink or a rename done elsewhere). */
int fp_dir_sync(int dirfd);

int fp_volume_record_write(int dirfd, const char *name, const xsp_volume_t *v);
int fp_volume_record_read(int dirfd, const char *name, xsp_volume_t *v);   /* dispose it */
int fp_sr_record_write(int dirfd, const char *name, const xsp_sr_stat_t *s);
int fp_sr_record_read(int dirfd, const char *name, xsp_sr_stat_t *s);      /* dispose it */

#endif

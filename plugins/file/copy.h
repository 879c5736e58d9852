/*  copy.h — copying volume data: a reflink when the filesystem shares extents, a sparse
    copy otherwise.

    Owns: nothing but the copy.  fp_copy_data(src, dst) makes the file dst (empty, open for
    writing) hold src's bytes and size: first ioctl(FICLONE) (btrfs, XFS with reflink,
    ...); where that is not supported, each data extent (lseek SEEK_DATA/SEEK_HOLE) is copied
    with copy_file_range (pread/pwrite fallback) and the holes stay holes.  dst is fsynced.
    Never touches: any other file.
*/
#ifndef FP_COPY_H
#define FP_COPY_H

/*  0 (*how = "reflink" or "sparse copy"), or -1 with errno. */
int fp_copy_data(int src, int dst, const char **how);

#endif

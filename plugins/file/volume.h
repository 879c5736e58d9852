/*  volume.h — volumes of xsp-plugin-file: a sparse raw file each, with a record.

    Owns: volume data files (SR/KEY.img), volume records (SR/.xsp/volumes/KEY, written
    crash-safely by meta.h) and the handlers of Volume.*.  A volume's key is a random
    uuid (also its uuid); its URI is file://SR-DIR/KEY.img.  Sizes come from the file
    (virtual_size = its length, physical_utilisation = its allocated blocks), never from
    the record.  Sizes are rounded up to 512 bytes; a size that overflows (above 2^63 - 512)
    or that the filesystem cannot hold is refused with invalid-argument; shrinking too.
    Clones and snapshots share extents with a reflink where the filesystem can, and are a
    sparse copy otherwise (copy.h); snapshots are read-only (read_write false).
    Never touches: data-path state (asks datapath.h whether a volume is in use), anything
    outside the SR.
*/
#ifndef FP_VOLUME_H
#define FP_VOLUME_H

#include "sr.h"

/*  The volume's full record (live sizes, uri, parent only when it still exists).
    0, or -1 + invalid-argument (bad key, a symlink) / volume-does-not-exist. */
int fp_volume_load(fp_sr_t *sr, const char *key, xsp_volume_t *v, fp_err_t *e);
/*  Open the volume's data file (flags: O_RDONLY / O_RDWR), checked to be a regular file in
    the SR.  fd, or -1 + error. */
int fp_volume_open_data(fp_sr_t *sr, const char *key, int flags, fp_err_t *e);
/*  "DIR/KEY.img" into buf. */
void fp_volume_data_path(const fp_sr_t *sr, const char *key, char *buf, size_t cap);
/*  Every volume of the SR (records that do not load are logged and left out). */
int fp_volume_list(fp_sr_t *sr, xsp_volume_list_t *out, fp_err_t *e);
/*  Destroy every volume (for SR.destroy): refused with backend-failure when one is in use
    on the data path. */
int fp_volume_destroy_all(fp_sr_t *sr, fp_err_t *e);

int fp_volume_create(void *ctx, xsp_storage_call_t *call, const xsp_volume_create_args_t *a);
int fp_volume_destroy(void *ctx, xsp_storage_call_t *call, const xsp_volume_destroy_args_t *a);
int fp_volume_clone(void *ctx, xsp_storage_call_t *call, const xsp_volume_clone_args_t *a);
int fp_volume_snapshot(void *ctx, xsp_storage_call_t *call, const xsp_volume_snapshot_args_t *a);
int fp_volume_resize(void *ctx, xsp_storage_call_t *call, const xsp_volume_resize_args_t *a);
int fp_volume_stat(void *ctx, xsp_storage_call_t *call, const xsp_volume_stat_args_t *a);
int fp_volume_set_name(void *ctx, xsp_storage_call_t *call, const xsp_volume_set_name_args_t *a);
int fp_volume_set_description(void *ctx, xsp_storage_call_t *call, const xsp_volume_set_description_args_t *a);
int fp_volume_set(void *ctx, xsp_storage_call_t *call, const xsp_volume_set_args_t *a);
int fp_volume_unset(void *ctx, xsp_storage_call_t *call, const xsp_volume_unset_args_t *a);

#endif

/*  sr.h — storage repositories of xsp-plugin-file: a directory each.

    Owns: the table of attached SRs (in memory, and as the file STATE_DIR/srs: one SR
    directory per line, rewritten crash-safely, so attachments survive a restart), each
    SR's directory fds, the SR record (.xsp/sr) and the handlers of SR.* and Plugin.ls.
    Never touches: volume files (volume.c), data-path state (datapath.c).

    On-disk layout of an SR at DIR (docs/plugins/file.md):
        DIR/KEY.img               volume data: a sparse raw file
        DIR/.xsp/sr               the SR record (name, description, uuid)
        DIR/.xsp/volumes/KEY      a volume record (volume.c)
        DIR/.xsp/datapath/KEY     data-path state of a volume (datapath.c)
        DIR/.xsp/reset/KEY.img    the pristine copy kept by a non-persistent open
    The SR's key (and the "uri" of its configuration) is file://REALPATH-OF-DIR.
    Keys given by callers are checked lexically (path.h): a malformed one is refused with
    invalid-argument, a well-formed one that is not attached with sr-not-attached.
*/
#ifndef FP_SR_H
#define FP_SR_H

#include "fp.h"

typedef struct fp_sr fp_sr_t;
struct fp_sr {
    char *key;      /* file:///realpath */
    char *dir;      /* /realpath */
    int root;       /* DIR (O_DIRECTORY) */
    int meta;       /* DIR/.xsp */
    int vols;       /* DIR/.xsp/volumes */
    int dp;         /* DIR/.xsp/datapath */
    int reset;      /* DIR/.xsp/reset */
    fp_sr_t *next;
};

/*  Re-attach the SRs listed in STATE_DIR/srs (an SR that is gone is logged and dropped).
    0 or -1 (state dir unusable; logged). */
int fp_sr_init(void);
void fp_sr_fini(void);

/*  The attached SRs (a list; valid while the lock is held). */
fp_sr_t *fp_sr_all(void);
/*  The attached SR whose key is `key`: NULL + invalid-argument / sr-not-attached. */
fp_sr_t *fp_sr_find(const char *key, fp_err_t *e);
/*  The attached SR holding the volume data at `uri` (file:///DIR/KEY.img); the volume key
    goes into key.  NULL + invalid-argument (malformed, outside every attached SR, not a
    volume name). */
fp_sr_t *fp_sr_of_uri(const char *uri, char *key, size_t cap, fp_err_t *e);

int fp_plugin_ls(void *ctx, xsp_storage_call_t *call, const xsp_plugin_ls_args_t *a);
int fp_sr_probe(void *ctx, xsp_storage_call_t *call, const xsp_sr_probe_args_t *a);
int fp_sr_create(void *ctx, xsp_storage_call_t *call, const xsp_sr_create_args_t *a);
int fp_sr_attach(void *ctx, xsp_storage_call_t *call, const xsp_sr_attach_args_t *a);
int fp_sr_detach(void *ctx, xsp_storage_call_t *call, const xsp_sr_detach_args_t *a);
int fp_sr_destroy(void *ctx, xsp_storage_call_t *call, const xsp_sr_destroy_args_t *a);
int fp_sr_stat(void *ctx, xsp_storage_call_t *call, const xsp_sr_stat_args_t *a);
int fp_sr_set_name(void *ctx, xsp_storage_call_t *call, const xsp_sr_set_name_args_t *a);
int fp_sr_set_description(void *ctx, xsp_storage_call_t *call, const xsp_sr_set_description_args_t *a);
int fp_sr_ls(void *ctx, xsp_storage_call_t *call, const xsp_sr_ls_args_t *a);

#endif

/*  fp.h — xsp-plugin-file's shared state: the one lock, the options, error values.

    Owns: the process-wide context every module of the plugin uses (the state mutex, the
    --state-dir, the xsp_plugin_t), and fp_err_t, the error value internal functions fill
    (a code from xsp/error.h, one sentence, one detail key/value) and handlers answer with.
    Never touches: files, devices, the switch.

    Locking: every handler runs on a worker thread (def.workers) and takes G.mu for its
    whole body (fp_lock/fp_unlock): SR, volume and data-path state change under it, so
    two calls never race on a metadata file or a loop device.  Internal functions assume
    the lock is held.
*/
#ifndef FP_H
#define FP_H

#include <pthread.h>
#include <stdarg.h>

#include "xsp/plugin.h"

#define FP_PATH_MAX 4096

typedef struct {
    pthread_mutex_t mu;
    char state_dir[FP_PATH_MAX];    /* --state-dir (created at init) */
    xsp_plugin_t *plugin;           /* from init to fini */
    uint32_t backend_domid;         /* what Datapath.attach answers (--backend-domain policy) */
    xsp_backend_domain_source_t backend_source;
} fp_t;

extern fp_t G;

void fp_lock(void);
void fp_unlock(void);

/*  An error: code, a sentence, and the one detail pair docs/api.md lists for the code
    ("argument" for invalid-argument, "sr", "uri", "host", "command", ...). */
typedef struct {
    xsp_code_t code;
    char msg[1024];
    char dkey[32];
    char dval[FP_PATH_MAX + 64];
} fp_err_t;

/*  Fill *e and return code (so `return fp_err(e, ...)`).  dkey/dval may be NULL. */
int fp_err(fp_err_t *e, xsp_code_t code, const char *dkey, const char *dval, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/*  invalid-argument naming the argument. */
#define fp_bad(e, argument, ...) fp_err((e), XSP_E_INVALID_ARGUMENT, "argument", (argument), __VA_ARGS__)
/*  Answer call with *e (and log it at info level). */
int fp_fail(xsp_storage_call_t *call, const fp_err_t *e);

#endif

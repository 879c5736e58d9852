/*  registrar/store.h — where registrations survive a restart of the registrar: xenstore
    when it is reachable, else a crash-safe file in the state directory.

    Owns: the persistent copy of the registration table, through one of two back ends with
    the same behaviour —
        xenstore   /tool/xsp/plugins/<name>/... written in transactions (retried on
                   EAGAIN), owner dom0, readable by the plugin's domain (docs/xenstore.md);
                   store_xenstore.c
        file       one file, rewritten whole: temp file + fsync + rename + fsync of the
                   directory, so a crash leaves either the old or the new file, never a
                   torn one (docs/registrar.md); store_file.c
    and the choice between them (`--store xenstore|file:PATH|auto`).
    Never touches: the registration table (it keeps its own copy, the *mirror*), policy,
    logging (callers log what the functions return), signals — except that opening a
    xenstore store sets SIGPIPE to SIG_IGN if it was SIG_DFL (libxenstore writes to a
    socket that dies with xenstored; a registrar must not die with it).

    DATA STRUCTURES: every store keeps a mirror (reg_vec_t, by name) of what it has
    persisted.  put/del change the back end first and the mirror only on success.  The
    mirror is what lets a store heal without the caller's help: the file store rewrites
    the whole file from it; the xenstore store rewrites every entry from it after
    reconnecting to a restarted xenstored (whose database is then empty), on the next
    operation or on reg_store_resync / reg_store_check.

    Thread-safety: none; one thread owns a store.
*/
#ifndef XSP_REGISTRAR_STORE_H
#define XSP_REGISTRAR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define REG_STORE_DEFAULT_STATE_DIR "/var/lib/xsp"
#define REG_STORE_FILE_NAME         "registrar.state"
#define REG_STORE_XS_ROOT           "/tool/xsp/plugins"
#define REG_STORE_XS_RETRIES        32      /* transaction attempts on EAGAIN */

typedef struct reg_store reg_store_t;

typedef enum {
    REG_STORE_FILE = 1,
    REG_STORE_XENSTORE,
} reg_store_kind_t;

typedef struct {
    uint64_t writes;        /* successful put/del/resync operations on the back end */
    uint64_t retries;       /* xenstore transactions retried after EAGAIN */
    uint64_t reconnects;    /* xenstore connections re-opened */
    uint64_t resyncs;       /* whole-mirror rewrites (explicit or after a reconnect) */
    uint64_t stale_temps;   /* file: leftover temp files (a crash before rename) removed */
} reg_store_stats_t;

/*  Open a store from a --store spec:
        NULL, "auto"     xenstore if xs_open() works and xenstored answers, else the file
                         state_dir/registrar.state
        "xenstore"       xenstore, root /tool/xsp/plugins (fails if unreachable)
        "xenstore:ROOT"  xenstore under another root (tests)
        "file"           state_dir/registrar.state
        "file:PATH"      the file PATH
    state_dir NULL = REG_STORE_DEFAULT_STATE_DIR (created, mode 0700, when a file store
    needs it).  NULL + err on failure: XSP_E_INVALID_ARGUMENT (bad spec),
    XSP_E_DISCONNECTED (xenstored unreachable), XSP_E_SYSTEM (files, locks). */
reg_store_t *reg_store_open(const char *spec, const char *state_dir, reg_err_t *err);
reg_store_t *reg_store_open_file(const char *path, reg_err_t *err);
reg_store_t *reg_store_open_xenstore(const char *root, reg_err_t *err);
void reg_store_close(reg_store_t **s);

reg_store_kind_t reg_store_kind(const reg_store_t *s);
/*  "xenstore:/tool/xsp/plugins" or "file:/var/lib/xsp/registrar.state". */
const char *reg_store_describe(const reg_store_t *s);
/*  Why auto chose a file ("xenstore unreachable: ..."); "" otherwise. */
const char *reg_store_note(const reg_store_t *s);
const reg_store_stats_t *reg_store_stats(const reg_store_t *s);
/*  The mirror: what the store holds (by name). */
const reg_vec_t *reg_store_mirror(const reg_store_t *s);

/*  Called once per stored registration (reg) or per entry that could not be read (bad:
    the message names the xenstore path or file line; the entry is left where it is). */
typedef void reg_store_load_fn(void *arg, const reg_t *reg, const reg_err_t *bad);

/*  Read everything the back end holds, make it the mirror, and call fn for each entry.
    A file that is torn or corrupted is moved aside to PATH.bad and the store starts
    empty: returns -1 with XSP_E_DECODE saying so (the store stays usable).  Other
    failures: -1 (XSP_E_SYSTEM, XSP_E_DISCONNECTED). */
int reg_store_load_all(reg_store_t *s, reg_store_load_fn *fn, void *arg, reg_err_t *err);
/*  Persist r (keyed by r->name; replaces an entry of that name; r->id must be set).
    Table state (priorities, liveness) is not stored. */
int reg_store_put(reg_store_t *s, const reg_t *r, reg_err_t *err);
/*  Remove the entry of this name, if its id is `id` (NULL: whatever its id).  Removing
    what is not there is not an error. */
int reg_store_del(reg_store_t *s, const char *name, const char *id, reg_err_t *err);
/*  Rewrite the back end from the mirror (xenstore: also removes entries not in it). */
int reg_store_resync(reg_store_t *s, reg_err_t *err);
/*  Cheap health check, for every heartbeat: xenstore — reconnect if the connection is
    gone, and resync if the set of names under the root differs from the mirror;
    file — rewrite the file if it vanished.  0 or -1. */
int reg_store_check(reg_store_t *s, reg_err_t *err);

/*  Tests only: fn(arg, stage) runs at fixed points — file: "temp-written" (temp file
    written and fsync'ed, before the rename), "renamed"; xenstore: "in-transaction" (all
    writes done, before the commit).  NULL removes it. */
typedef void reg_store_hook_fn(void *arg, const char *stage);
void reg_store_set_test_hook(reg_store_t *s, reg_store_hook_fn *fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif

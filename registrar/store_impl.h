/*  registrar/store_impl.h — what the two store back ends share (private to registrar/).

    Owns: struct reg_store (common part + back-end vtable) and the constructors of the
    back ends.  Never touches: anything outside store*.c.

    The common code (store.c) keeps the mirror and calls the back end:
        load(s, out, fn, arg, err)  read the back end into *out (empty on entry); report
                                    unreadable entries through fn(arg, NULL, bad)
        put(s, r, err)              persist r; s->mirror is still the old state
        del(s, name, id, err)       remove name if its stored id is id (NULL: any)
        resync(s, err)              rewrite the back end from s->mirror
        check(s, err)               the health check of reg_store_check
        close(s)                    free the back end's state (impl)
*/
#ifndef XSP_REGISTRAR_STORE_IMPL_H
#define XSP_REGISTRAR_STORE_IMPL_H

#include "store.h"

typedef struct {
    reg_store_kind_t kind;
    int (*load)(reg_store_t *s, reg_vec_t *out, reg_store_load_fn *fn, void *arg,
                reg_err_t *err);
    int (*put)(reg_store_t *s, const reg_t *r, reg_err_t *err);
    int (*del)(reg_store_t *s, const char *name, const char *id, reg_err_t *err);
    int (*resync)(reg_store_t *s, reg_err_t *err);
    int (*check)(reg_store_t *s, reg_err_t *err);
    void (*close)(reg_store_t *s);
} reg_store_ops_t;

struct reg_store {
    const reg_store_ops_t *ops;
    char describe[512];
    char note[512];
    reg_vec_t mirror;
    reg_store_stats_t stats;
    reg_store_hook_fn *hook;
    void *hook_arg;
    void *impl;
};

/* Allocate a store with ops and impl (NULL + err when out of memory). */
reg_store_t *reg_store_new_(const reg_store_ops_t *ops, void *impl, reg_err_t *err);
/* Run the test hook, if any. */
void reg_store_hook_(reg_store_t *s, const char *stage);

/* Back ends. */
reg_store_t *reg_store_file_open_(const char *path, reg_err_t *err);
reg_store_t *reg_store_xs_open_(const char *root, reg_err_t *err);

#endif

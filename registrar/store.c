/*  registrar/store.c — the store interface: spec parsing, the auto choice, the mirror, and
    dispatch to the back ends (store_file.c, store_xenstore.c).  See store.h.

    Owns: struct reg_store's common part.  Never touches: back-end details.
*/
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

reg_store_t *reg_store_new_(const reg_store_ops_t *ops, void *impl, reg_err_t *err)
{
    reg_store_t *s = calloc(1, sizeof *s);

    if (!s) {
        reg_err(err, XSP_E_SYSTEM, "out of memory");
        return NULL;
    }
    s->ops = ops;
    s->impl = impl;
    return s;
}

void reg_store_hook_(reg_store_t *s, const char *stage)
{
    if (s->hook)
        s->hook(s->hook_arg, stage);
}

void reg_store_set_test_hook(reg_store_t *s, reg_store_hook_fn *fn, void *arg)
{
    s->hook = fn;
    s->hook_arg = arg;
}

static char *join_path(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);

    if (p)
        snprintf(p, n, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", file);
    return p;
}

reg_store_t *reg_store_open_file(const char *path, reg_err_t *err)
{
    reg_err_clear(err);
    if (!path || !path[0]) {
        reg_err(err, XSP_E_INVALID_ARGUMENT, "file store: empty path");
        return NULL;
    }
    return reg_store_file_open_(path, err);
}

reg_store_t *reg_store_open_xenstore(const char *root, reg_err_t *err)
{
    reg_err_clear(err);
    return reg_store_xs_open_(root ? root : REG_STORE_XS_ROOT, err);
}

reg_store_t *reg_store_open(const char *spec, const char *state_dir, reg_err_t *err)
{
    const char *dir = state_dir && state_dir[0] ? state_dir : REG_STORE_DEFAULT_STATE_DIR;
    reg_store_t *s = NULL;
    char *path;

    reg_err_clear(err);
    if (!spec || strcmp(spec, "auto") == 0) {
        reg_err_t why = { 0 };

        if ((s = reg_store_xs_open_(REG_STORE_XS_ROOT, &why)))
            return s;
        if (!(path = join_path(dir, REG_STORE_FILE_NAME))) {
            reg_err(err, XSP_E_SYSTEM, "out of memory");
            return NULL;
        }
        s = reg_store_file_open_(path, err);
        free(path);
        if (s)
            snprintf(s->note, sizeof s->note, "xenstore not used: %.480s", why.msg);
        return s;
    }
    if (strcmp(spec, "xenstore") == 0)
        return reg_store_xs_open_(REG_STORE_XS_ROOT, err);
    if (strncmp(spec, "xenstore:", 9) == 0) {
        if (spec[9] != '/' || strlen(spec + 9) < 2) {
            reg_err(err, XSP_E_INVALID_ARGUMENT,
                    "--store %s: the xenstore root must be an absolute path other than /",
                    spec);
            return NULL;
        }
        return reg_store_xs_open_(spec + 9, err);
    }
    if (strcmp(spec, "file") == 0) {
        if (!(path = join_path(dir, REG_STORE_FILE_NAME))) {
            reg_err(err, XSP_E_SYSTEM, "out of memory");
            return NULL;
        }
        s = reg_store_file_open_(path, err);
        free(path);
        return s;
    }
    if (strncmp(spec, "file:", 5) == 0 && spec[5])
        return reg_store_file_open_(spec + 5, err);
    reg_err(err, XSP_E_INVALID_ARGUMENT,
            "--store %s: expected auto, xenstore, xenstore:ROOT, file or file:PATH", spec);
    return NULL;
}

void reg_store_close(reg_store_t **sp)
{
    reg_store_t *s = sp ? *sp : NULL;

    if (!s)
        return;
    s->ops->close(s);
    reg_vec_dispose(&s->mirror);
    free(s);
    *sp = NULL;
}

reg_store_kind_t reg_store_kind(const reg_store_t *s)
{
    return s->ops->kind;
}

const char *reg_store_describe(const reg_store_t *s)
{
    return s->describe;
}

const char *reg_store_note(const reg_store_t *s)
{
    return s->note;
}

const reg_store_stats_t *reg_store_stats(const reg_store_t *s)
{
    return &s->stats;
}

const reg_vec_t *reg_store_mirror(const reg_store_t *s)
{
    return &s->mirror;
}

int reg_store_load_all(reg_store_t *s, reg_store_load_fn *fn, void *arg, reg_err_t *err)
{
    reg_vec_t got = { 0 };
    int rc;

    reg_err_clear(err);
    rc = s->ops->load(s, &got, fn, arg, err);
    /* Even a failed load defines the new state (e.g. a corrupted file moved aside: the
       store is empty now). */
    reg_vec_dispose(&s->mirror);
    s->mirror = got;
    if (rc < 0)
        return -1;
    for (size_t i = 0; fn && i < s->mirror.n; i++)
        fn(arg, &s->mirror.v[i], NULL);
    return 0;
}

/* A copy of r without table state. */
static int persistent_copy(reg_t *dst, const reg_t *r)
{
    if (reg_copy(dst, r) < 0)
        return -1;
    free(dst->prio);
    dst->prio = NULL;
    dst->confirmed = false;
    dst->live_queues = 0;
    dst->pending_since_ms = 0;
    return 0;
}

int reg_store_put(reg_store_t *s, const reg_t *r, reg_err_t *err)
{
    reg_t c = { 0 };

    reg_err_clear(err);
    if (!r->id || !r->id[0] || !reg_valid_name(r->name))
        return reg_err(err, XSP_E_INVALID_ARGUMENT,
                       "store: a registration needs an id and a valid name");
    if (persistent_copy(&c, r) < 0)
        return reg_err(err, XSP_E_SYSTEM, "out of memory");
    if (s->ops->put(s, &c, err) < 0) {
        reg_dispose(&c);
        return -1;
    }
    s->stats.writes++;
    if (reg_vec_put_move(&s->mirror, &c) < 0) {
        /* Persisted but not mirrored: a later resync would lose it.  Say so. */
        reg_dispose(&c);
        return reg_err(err, XSP_E_SYSTEM, "out of memory keeping the store's mirror");
    }
    return 0;
}

int reg_store_del(reg_store_t *s, const char *name, const char *id, reg_err_t *err)
{
    long i;

    reg_err_clear(err);
    if (!reg_valid_name(name))
        return reg_err(err, XSP_E_INVALID_ARGUMENT, "store: \"%.64s\" is not a plugin name",
                       name ? name : "");
    if (s->ops->del(s, name, id, err) < 0)
        return -1;
    s->stats.writes++;
    i = reg_vec_find(&s->mirror, name);
    if (i >= 0 && (!id || strcmp(s->mirror.v[i].id ? s->mirror.v[i].id : "", id) == 0))
        reg_vec_take(&s->mirror, (size_t)i, NULL);
    return 0;
}

int reg_store_resync(reg_store_t *s, reg_err_t *err)
{
    reg_err_clear(err);
    if (s->ops->resync(s, err) < 0)
        return -1;
    s->stats.resyncs++;
    s->stats.writes++;
    return 0;
}

int reg_store_check(reg_store_t *s, reg_err_t *err)
{
    reg_err_clear(err);
    return s->ops->check(s, err);
}

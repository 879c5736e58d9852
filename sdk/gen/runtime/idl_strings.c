/*  idl_strings.c — string lists and string maps (list<string>, map<string, string>).

    Owns: the life cycle and builders of xsp_string_list_t and xsp_string_map_t, and the
    string helpers generated code uses (see xsp/idl_strings.h).
    Never touches: encoding or printing.
*/
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "xsp/idl_strings.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xsp/error.h"

/* ------------------------------------------------------------------ strings */

bool xsp_str_equal(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

bool xsp_optstr_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

int xsp_str_copy(char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL)
        return XSP_OK;
    *dst = strdup(src);
    return *dst ? XSP_OK : XSP_E_SYSTEM;
}

/* ------------------------------------------------------------------ lists */

void xsp_string_list_init(xsp_string_list_t *l)
{
    l->len = 0;
    l->val = NULL;
}

void xsp_string_list_dispose(xsp_string_list_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->len; i++)
        free(l->val[i]);
    free(l->val);
    xsp_string_list_init(l);
}

int xsp_string_list_copy(xsp_string_list_t *dst, const xsp_string_list_t *src)
{
    xsp_string_list_init(dst);
    if (src->len == 0)
        return XSP_OK;
    dst->val = calloc(src->len, sizeof *dst->val);
    if (dst->val == NULL)
        return XSP_E_SYSTEM;
    dst->len = src->len;
    for (size_t i = 0; i < src->len; i++)
        if (xsp_str_copy(&dst->val[i], src->val[i] ? src->val[i] : "")) {
            xsp_string_list_dispose(dst);
            return XSP_E_SYSTEM;
        }
    return XSP_OK;
}

bool xsp_string_list_equal(const xsp_string_list_t *a, const xsp_string_list_t *b)
{
    if (a->len != b->len)
        return false;
    for (size_t i = 0; i < a->len; i++)
        if (!xsp_str_equal(a->val[i], b->val[i]))
            return false;
    return true;
}

int xsp_string_list_append(xsp_string_list_t *l, const char *s)
{
    char *copy, **v;

    if (l->len >= SIZE_MAX / sizeof *v - 1)
        return XSP_E_SYSTEM;
    copy = strdup(s ? s : "");
    if (copy == NULL)
        return XSP_E_SYSTEM;
    v = realloc(l->val, (l->len + 1) * sizeof *v);
    if (v == NULL) {
        free(copy);
        return XSP_E_SYSTEM;
    }
    v[l->len++] = copy;
    l->val = v;
    return XSP_OK;
}

/* ------------------------------------------------------------------ maps */

void xsp_string_map_init(xsp_string_map_t *m)
{
    m->len = 0;
    m->val = NULL;
}

void xsp_string_map_dispose(xsp_string_map_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->len; i++) {
        free(m->val[i].key);
        free(m->val[i].value);
    }
    free(m->val);
    xsp_string_map_init(m);
}

int xsp_string_map_copy(xsp_string_map_t *dst, const xsp_string_map_t *src)
{
    xsp_string_map_init(dst);
    if (src->len == 0)
        return XSP_OK;
    dst->val = calloc(src->len, sizeof *dst->val);
    if (dst->val == NULL)
        return XSP_E_SYSTEM;
    dst->len = src->len;
    for (size_t i = 0; i < src->len; i++)
        if (xsp_str_copy(&dst->val[i].key, src->val[i].key ? src->val[i].key : "")
            || xsp_str_copy(&dst->val[i].value, src->val[i].value ? src->val[i].value : "")) {
            xsp_string_map_dispose(dst);
            return XSP_E_SYSTEM;
        }
    return XSP_OK;
}

static xsp_string_pair_t *find(const xsp_string_map_t *m, const char *key)
{
    for (size_t i = 0; i < m->len; i++)
        if (xsp_str_equal(m->val[i].key, key))
            return &m->val[i];
    return NULL;
}

bool xsp_string_map_equal(const xsp_string_map_t *a, const xsp_string_map_t *b)
{
    if (a->len != b->len)
        return false;
    for (size_t i = 0; i < a->len; i++) {
        const xsp_string_pair_t *p = find(b, a->val[i].key);
        if (p == NULL || !xsp_str_equal(p->value, a->val[i].value))
            return false;
    }
    return true;
}

const char *xsp_string_map_get(const xsp_string_map_t *m, const char *key)
{
    const xsp_string_pair_t *p = find(m, key);
    return p ? (p->value ? p->value : "") : NULL;
}

int xsp_string_map_set(xsp_string_map_t *m, const char *key, const char *value)
{
    xsp_string_pair_t *p = find(m, key), *v;
    char *nv = strdup(value ? value : ""), *nk;

    if (nv == NULL)
        return XSP_E_SYSTEM;
    if (p) {
        free(p->value);
        p->value = nv;
        return XSP_OK;
    }
    nk = strdup(key ? key : "");
    if (nk == NULL || m->len >= SIZE_MAX / sizeof *v - 1
        || (v = realloc(m->val, (m->len + 1) * sizeof *v)) == NULL) {
        free(nk);
        free(nv);
        return XSP_E_SYSTEM;
    }
    v[m->len].key = nk;
    v[m->len].value = nv;
    m->val = v;
    m->len++;
    return XSP_OK;
}

bool xsp_string_map_unset(xsp_string_map_t *m, const char *key)
{
    xsp_string_pair_t *p = find(m, key);
    size_t i;

    if (p == NULL)
        return false;
    i = (size_t) (p - m->val);
    free(p->key);
    free(p->value);
    memmove(&m->val[i], &m->val[i + 1], (m->len - i - 1) * sizeof *m->val);
    if (--m->len == 0) {
        free(m->val);
        m->val = NULL;
    }
    return true;
}

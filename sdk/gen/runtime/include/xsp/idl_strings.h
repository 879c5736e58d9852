/*  xsp/idl_strings.h — the two container types every IDL uses: string lists and string maps.

    Owns: xsp_string_list_t (list<string>) and xsp_string_map_t (map<string, string>) with
    their init/dispose/copy/equal and small builders.
    Never touches: encoding (xsp/idl_codec.h) or printing (xsp/idl_emit.h).

    Same conventions as generated types: a zeroed value is a valid empty value; `_dispose`
    frees everything and leaves the value empty; `_copy` expects an empty destination and
    returns XSP_OK or XSP_E_SYSTEM (destination left empty).  Strings are owned (malloc).
    Map entries keep insertion order; keys are unique (decoders refuse duplicates).
*/
#ifndef XSP_IDL_STRINGS_H
#define XSP_IDL_STRINGS_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsp_string_list {
    size_t len;
    char **val;
} xsp_string_list_t;

typedef struct xsp_string_pair {
    char *key;
    char *value;
} xsp_string_pair_t;

typedef struct xsp_string_map {
    size_t len;
    xsp_string_pair_t *val;
} xsp_string_map_t;

void xsp_string_list_init(xsp_string_list_t *l);
void xsp_string_list_dispose(xsp_string_list_t *l);
int  xsp_string_list_copy(xsp_string_list_t *dst, const xsp_string_list_t *src);
bool xsp_string_list_equal(const xsp_string_list_t *a, const xsp_string_list_t *b);
/*  Append a copy of s (NULL appends ""): XSP_OK or XSP_E_SYSTEM. */
int  xsp_string_list_append(xsp_string_list_t *l, const char *s);

void xsp_string_map_init(xsp_string_map_t *m);
void xsp_string_map_dispose(xsp_string_map_t *m);
int  xsp_string_map_copy(xsp_string_map_t *dst, const xsp_string_map_t *src);
/*  Same set of keys with the same values, in any order. */
bool xsp_string_map_equal(const xsp_string_map_t *a, const xsp_string_map_t *b);
/*  Set key to a copy of value (replacing an existing value): XSP_OK or XSP_E_SYSTEM. */
int  xsp_string_map_set(xsp_string_map_t *m, const char *key, const char *value);
/*  The value of key, or NULL. */
const char *xsp_string_map_get(const xsp_string_map_t *m, const char *key);
/*  Remove key; true if it was there. */
bool xsp_string_map_unset(xsp_string_map_t *m, const char *key);

/*  Helpers for generated code: NULL and "" are the same required string. */
bool xsp_str_equal(const char *a, const char *b);
/*  For optional strings, where NULL (absent) differs from "". */
bool xsp_optstr_equal(const char *a, const char *b);
/*  *dst = strdup(src) (NULL stays NULL): XSP_OK or XSP_E_SYSTEM. */
int  xsp_str_copy(char **dst, const char *src);

#ifdef __cplusplus
}
#endif
#endif

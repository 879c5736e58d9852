/*  selftest.h — the tables the generator emits for the generic IDL self-test.

    Owns: the shape of a type descriptor: its fields (name, required, kind, limits), its
    union variants, its samples and type-erased functions.  sdk/gen/xspidl/emit_selftest.py
    writes the tables (one file per generator run); test_selftest.c walks them.
    Never touches: the generated API itself (only calls it through the function pointers).
*/
#ifndef XSP_TEST_SELFTEST_H
#define XSP_TEST_SELFTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "xsp/error.h"
#include "xsp/idl_buf.h"
#include "xsp/idl_method.h"

typedef enum {
    ST_NIL, ST_BOOL, ST_INT, ST_UINT, ST_STRING, ST_CODE, ST_ENUM, ST_STRUCT, ST_UNION, ST_LIST, ST_MAP
} st_kind_t;

/*  The shape of one value (a field, or a whole result). */
typedef struct st_value {
    st_kind_t kind;
    uint64_t max;           /* STRING/CODE: bytes; LIST: elements; MAP: entries */
    int bits;               /* INT/UINT: 32 or 64 */
    st_kind_t elem;         /* LIST: element kind; MAP: ST_STRING */
    uint64_t elem_max;      /* LIST of STRING: element bytes; MAP: value bytes */
    uint64_t key_max;       /* MAP: key bytes */
} st_value_t;

typedef struct st_field {
    const char *name;
    bool required;
    st_value_t v;
} st_field_t;

typedef struct st_variant {
    const char *kind;       /* union variant name; NULL for a struct */
    const st_field_t *fields;
    size_t nfields;
} st_variant_t;

typedef enum {
    ST_ROLE_TYPE,           /* an IDL struct or union: encode/decode are the type's own */
    ST_ROLE_REQUEST,        /* a method's args: encode/decode are the whole request payload */
    ST_ROLE_RESULT          /* a method's result */
} st_role_t;

typedef struct st_type {
    const char *name;       /* "volume", "Datapath.attach args", "Datapath.attach result" */
    const char *root;       /* what decode error messages start with */
    st_role_t role;
    const char *method;     /* REQUEST/RESULT: wire name of the method */
    st_value_t top;         /* shape of the whole value */
    const st_variant_t *variants;   /* STRUCT/REQUEST: 1; UNION: one per kind; else 0 */
    size_t nvariants;
    int nsamples;           /* sample(p, 0..nsamples-1): 0 = empty */
    int full_sample[16];    /* per variant: the sample index of its fullest value */
    size_t size;
    void (*sample)(void *p, int which);
    void (*init)(void *p);
    void (*dispose)(void *p);
    int  (*copy)(void *dst, const void *src);
    bool (*equal)(const void *a, const void *b);
    int  (*encode)(msgpack_packer *pk, const void *p, xsp_error_t *err);
    int  (*decode)(const msgpack_object *o, void *out, xsp_error_t *err);
    int  (*unpack)(const void *buf, size_t len, void *out, xsp_error_t *err);
    int  (*format)(xsp_buf_t *b, const void *p, int indent);
    int  (*to_json)(xsp_buf_t *b, const void *p, int indent);
    /* the fast path (xsp/idl_reader.h) over a whole payload: 0 or -1; arena may be NULL */
    int  (*read)(const void *buf, size_t len, void *out, xsp_arena_t *arena);
} st_type_t;

typedef struct st_module {
    const char *name;
    const st_type_t *types;
    size_t ntypes;
    const xsp_method_info_t *methods;   /* NULL when the module has no interfaces */
    size_t nmethods;
} st_module_t;

/*  Emitted by the generator: every module of the run, NULL-terminated. */
extern const st_module_t *const st_modules[];

/*  Provided by the driver to the generated sample builders (they exit on out-of-memory). */
char *st_strdup(const char *s);
void *st_nonnull(void *p);
void st_ok(int rc);

#endif

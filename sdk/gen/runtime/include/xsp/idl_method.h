/*  xsp/idl_method.h — the method table every generated API module exports.

    Owns: xsp_method_info_t (one row per method: wire name, interface, id, whether it has a
    result, the errors it documents, and type-erased functions for its args and result) and
    the lookups over such a table, including reading the method name out of a request.
    Never touches: sockets, dispatch policy.  Client stubs and server dispatch (phase 2)
    are built on these rows; so can a generic CLI (`xsp call Datapath.attach ...`).

    Request payload (docs/api.md): {"method": "Datapath.attach", "args": {...}}.
*/
#ifndef XSP_IDL_METHOD_H
#define XSP_IDL_METHOD_H

#include <stdbool.h>
#include <stddef.h>

#include <msgpack.h>

#include "xsp/error.h"
#include "xsp/idl_buf.h"
#include "xsp/idl_reader.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsp_method_info {
    const char *name;           /* wire name: "Datapath.attach" */
    const char *interface;      /* "Datapath" */
    const char *method;         /* "attach" */
    const char *summary;        /* first sentence of the method's documentation */
    unsigned id;                /* index in its module's table == the module's method enum */
    bool has_result;            /* false: the success reply payload is msgpack nil */
    const xsp_code_t *raises;   /* errors the IDL documents for it (including "any" ones) */
    size_t n_raises;

    /* the args struct (first field: dbg) */
    size_t args_size;
    void (*args_init)(void *args);
    void (*args_dispose)(void *args);
    /*  whole request payload {"method", "args"} */
    int  (*args_encode)(msgpack_packer *pk, const void *args, xsp_error_t *err);
    int  (*args_decode)(const msgpack_object *req, void *args, xsp_error_t *err);
    int  (*args_format)(xsp_buf_t *b, const void *args, int indent);
    int  (*args_to_json)(xsp_buf_t *b, const void *args, int indent);

    /* the result; when !has_result, result_size is 0, `res` is ignored, encode packs nil,
       decode accepts only nil, format prints "(none)" and to_json "null" */
    size_t result_size;
    void (*result_init)(void *res);
    void (*result_dispose)(void *res);
    int  (*result_encode)(msgpack_packer *pk, const void *res, xsp_error_t *err);
    int  (*result_decode)(const msgpack_object *o, void *res, xsp_error_t *err);
    int  (*result_format)(xsp_buf_t *b, const void *res, int indent);
    int  (*result_to_json)(xsp_buf_t *b, const void *res, int indent);

    /* the fast path (xsp/idl_reader.h): the args map / the result value from bytes into
       zeroed memory; 0, or -1 and the caller falls back to args_decode / result_decode
       (which then says why).  A method without a result reads nil (res is ignored). */
    int  (*args_read)(xsp_rd_t *rd, void *args);
    int  (*result_read)(xsp_rd_t *rd, void *res);
    size_t name_len;            /* strlen(name); 0 in a table made by hand: then compared */
} xsp_method_info_t;

/*  The row whose wire name is name[0..len), or NULL. */
const xsp_method_info_t *xsp_method_find(const xsp_method_info_t *table, size_t n,
                                         const char *name, size_t len);

/*  Read the "method" of a request payload and find its row.  Errors: XSP_E_DECODE for a
    malformed request ("request: method: expected string, got integer"),
    XSP_E_UNIMPLEMENTED for a well-formed request naming a method not in the table. */
int xsp_request_method(const msgpack_object *req, const xsp_method_info_t *table, size_t n,
                       const xsp_method_info_t **out, xsp_error_t *err);

/*  The fast path of a whole request payload (xsp/idl_reader.h): 0 when buf is exactly
    {"method": <a row of table>, "args": <its args>} (other keys skipped) and the args were
    read into `args` (zeroed, at least the row's args_size bytes; strings and arrays from
    `arena`, or malloc'd when it is NULL); *out = the row.  `want` (may be NULL) restricts it
    to one row.  -1 for anything else, including a valid request the fast path does not
    take (e.g. "args" before "method"): then use xsp_request_method + args_decode, which
    say why.  On -1 `args` is left empty (heap), or may point into the arena (drop it). */
int xsp_read_request(const void *buf, size_t len, const xsp_method_info_t *table, size_t n,
                     const xsp_method_info_t *want, const xsp_method_info_t **out, void *args,
                     xsp_arena_t *arena);

/*  For generated code.  Pack {"method": name, "args": and leave the args map to the caller. */
int xsp_pk_request_head(msgpack_packer *pk, const char *method);
/*  Check a request's envelope is for `method` and point *args at its "args" value. */
int xsp_dec_request(const msgpack_object *req, const char *method, const msgpack_object **args,
                    xsp_error_t *err);
/*  What a method without a result formats as. */
int xsp_format_none(xsp_buf_t *b, int indent);
int xsp_json_null(xsp_buf_t *b, int indent);

#ifdef __cplusplus
}
#endif
#endif

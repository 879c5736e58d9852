/*  idl_method.c — method tables and the request envelope {"method": ..., "args": ...}.

    Owns: finding a method row by wire name, reading the method out of a request payload,
    and packing/checking the envelope around a request's args (see xsp/idl_method.h).
    Never touches: the args themselves (generated per method) or dispatch.
*/
#include "xsp/idl_method.h"

#include <string.h>

#include "xsp/idl_codec.h"

/*  A server's stream of requests mostly repeats a method: try the last one found by this
    thread first (per thread: no sharing, no lock). */
static __thread const xsp_method_info_t *last_found;

static bool same_name(const xsp_method_info_t *mi, const char *name, size_t len)
{
    return mi->name_len ? mi->name_len == len && memcmp(mi->name, name, len) == 0
                        : xsp_name_eq(mi->name, name, len);
}

const xsp_method_info_t *xsp_method_find(const xsp_method_info_t *table, size_t n, const char *name, size_t len)
{
    const xsp_method_info_t *hint = last_found;
    if (hint && hint >= table && hint < table + n && same_name(hint, name, len))
        return hint;
    for (size_t i = 0; i < n; i++) {
        const xsp_method_info_t *mi = &table[i];
        if (same_name(mi, name, len)) {
            last_found = mi;
            return mi;
        }
    }
    return NULL;
}

/* the "method" and "args" entries of a request; duplicate or non-string keys are errors */
static int envelope(const msgpack_object *req, const msgpack_object **method, const msgpack_object **args,
                    xsp_error_t *err)
{
    static const char *const keys[2] = { "method", "args" };
    xsp_path_t root = xsp_path_root("request");
    unsigned char seen[2] = { 0, 0 };
    int rc = xsp_dec_map(req, &root, err);

    *method = *args = NULL;
    if (rc)
        return rc;
    for (uint32_t i = 0; i < req->via.map.size; i++) {
        int idx;
        rc = xsp_dec_key(&req->via.map.ptr[i], keys, 2, seen, NULL, &idx, &root, err);
        if (rc)
            return rc;
        if (idx == 0)
            *method = &req->via.map.ptr[i].val;
        else if (idx == 1)
            *args = &req->via.map.ptr[i].val;
    }
    if (*method == NULL) {
        xsp_path_t sub = xsp_path_field(&root, "method");
        return xsp_dec_fail(err, &sub, "required field is missing");
    }
    if ((*method)->type != MSGPACK_OBJECT_STR) {
        xsp_path_t sub = xsp_path_field(&root, "method");
        return xsp_dec_fail(err, &sub, "expected string, got %s", xsp_mp_type_name(*method));
    }
    if (*args == NULL) {
        xsp_path_t sub = xsp_path_field(&root, "args");
        return xsp_dec_fail(err, &sub, "required field is missing");
    }
    return XSP_OK;
}

int xsp_request_method(const msgpack_object *req, const xsp_method_info_t *table, size_t n,
                       const xsp_method_info_t **out, xsp_error_t *err)
{
    const msgpack_object *method, *args;
    int rc = envelope(req, &method, &args, err);
    char q[96];

    *out = NULL;
    if (rc)
        return rc;
    *out = xsp_method_find(table, n, method->via.str.ptr, method->via.str.size);
    if (*out == NULL) {
        xsp_path_t root = xsp_path_root("request"), sub = xsp_path_field(&root, "method");
        return xsp_path_error(err, XSP_E_UNIMPLEMENTED, &sub, "unknown method %s",
                              xsp_quote_for_msg(method->via.str.ptr, method->via.str.size, q, sizeof q));
    }
    return XSP_OK;
}

int xsp_read_request(const void *buf, size_t len, const xsp_method_info_t *table, size_t n,
                     const xsp_method_info_t *want, const xsp_method_info_t **out, void *args,
                     xsp_arena_t *arena)
{
    const xsp_method_info_t *mi = NULL;
    bool have_args = false;
    xsp_rd_t rd;
    uint32_t entries;

    *out = NULL;
    xsp_rd_init(&rd, buf, len, arena);
    if (xsp_rd_map(&rd, &entries))
        return -1;
    for (uint32_t i = 0; i < entries; i++) {
        const char *k;
        uint32_t kl;

        if (xsp_rd_key(&rd, &k, &kl))
            goto refused;
        if (xsp_rd_is(k, kl, "method", 6)) {
            const char *name;
            uint32_t nl;
            if (mi || xsp_rd_raw_str(&rd, &name, &nl))
                goto refused;
            mi = xsp_method_find(table, n, name, nl);
            if (!mi || (want && mi != want))
                return -1;
        } else if (xsp_rd_is(k, kl, "args", 4)) {
            if (!mi || have_args)
                goto refused;
            have_args = true;           /* (partly) read from here on */
            if (mi->args_read(&rd, args))
                goto refused;
        } else if (xsp_rd_skip(&rd)) {
            goto refused;
        }
    }
    xsp_rd_leave(&rd, entries);
    if (!have_args || xsp_rd_done(&rd))
        goto refused;
    *out = mi;
    return 0;
refused:
    if (have_args && !arena) {
        mi->args_dispose(args);         /* leaves it empty */
        mi->args_init(args);
    }
    return -1;
}

int xsp_dec_request(const msgpack_object *req, const char *name, const msgpack_object **args, xsp_error_t *err)
{
    const msgpack_object *method;
    int rc = envelope(req, &method, args, err);
    char q[96];

    if (rc)
        return rc;
    if (method->via.str.size != strlen(name) || memcmp(method->via.str.ptr, name, method->via.str.size) != 0) {
        xsp_path_t root = xsp_path_root("request"), sub = xsp_path_field(&root, "method");
        return xsp_dec_fail(err, &sub, "is %s, expected \"%s\"",
                            xsp_quote_for_msg(method->via.str.ptr, method->via.str.size, q, sizeof q), name);
    }
    return XSP_OK;
}

int xsp_pk_request_head(msgpack_packer *pk, const char *method)
{
    int rc = msgpack_pack_map(pk, 2);
    if (rc == 0)
        rc = xsp_pk_str(pk, "method");
    if (rc == 0)
        rc = xsp_pk_str(pk, method);
    if (rc == 0)
        rc = xsp_pk_str(pk, "args");
    return rc;
}

int xsp_format_none(xsp_buf_t *b, int indent)
{
    if (indent < 0) {
        xsp_buf_puts(b, "(none)");
    } else {
        xsp_buf_spaces(b, indent);
        xsp_buf_puts(b, "(none)\n");
    }
    return xsp_buf_status(b);
}

int xsp_json_null(xsp_buf_t *b, int indent)
{
    (void) indent;
    xsp_buf_puts(b, "null");
    return xsp_buf_status(b);
}

/*  stub.c — typed calls over the client: encode args, call, decode result or error reply
    (see xsp/stub.h).

    Owns: the request encoding for a method row, the per-call context of asynchronous stub
    calls, and the mapping of every possible answer to a result or an xsp_error_t.
    Never touches: the socket or the call bookkeeping (client.c), generated layouts (reached
    only through xsp_method_info_t), server-side dispatch (dispatch.c).
*/
#include "xsp/stub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "xsp/idl_codec.h"
#include "xsp/idl_reader.h"
#include "xsp/wire.h"

/* ================================================================ encoding */

/*  Encode into b (initialised here; the caller disposes it). */
static int encode_into(const xsp_method_info_t *mi, const void *args, xsp_packbuf_t *b,
                       xsp_error_t *err)
{
    msgpack_packer pk;

    xsp_packbuf_init(b, &pk);
    int rc = mi->args_encode(&pk, args, err);
    if (rc)
        return rc;
    if (b->len == 0)      /* cannot happen: a request is a map */
        return xsp_error_set(err, XSP_E_INTERNAL, "%s: empty request encoding", mi->name);
    return XSP_OK;
}

int xsp_stub_encode(const xsp_method_info_t *mi, const void *args, void **buf, size_t *len,
                    xsp_error_t *err)
{
    xsp_packbuf_t b;

    *buf = NULL;
    *len = 0;
    int rc = encode_into(mi, args, &b, err);
    if (rc) {
        xsp_packbuf_dispose(&b);
        return rc;
    }
    *len = b.len;
    *buf = xsp_packbuf_release(&b);
    if (!*buf) {
        *len = 0;
        return xsp_error_set(err, XSP_E_SYSTEM, "%s: out of memory", mi->name);
    }
    xsp_error_clear(err);
    return XSP_OK;
}

/* ================================================================ decoding */

#define STACK_POOL 64           /* msgpack objects decoded without a heap allocation */
#define STUB_ARENA 1024         /* bytes of an async result's strings read without one */

/*  The fast path (xsp/idl_reader.h) of a success payload into an initialised result (NULL
    when the method has none), its strings from `arena` or the heap (arena NULL): true when
    read; false when refused, with result initialised again (the strict decoder then says
    why). */
static bool read_result(const xsp_method_info_t *mi, const xsp_reply_t *reply, void *result,
                        xsp_arena_t *arena)
{
    xsp_rd_t rd;

    xsp_rd_init(&rd, reply->body, reply->len, arena);
    if (mi->result_read(&rd, result) == 0 && xsp_rd_done(&rd) == 0)
        return true;
    if (result && !arena)
        mi->result_dispose(result);
    if (result)
        mi->result_init(result);
    return false;
}

/*  The success payload: mi's result (or nil). */
static int decode_result(const xsp_method_info_t *mi, const xsp_reply_t *reply, void *result,
                         xsp_error_t *e)
{
    msgpack_object stack_pool[STACK_POOL], *pool = stack_pool, obj;
    size_t nobjs;
    void *tmp = NULL;

    if ((result || !mi->has_result) && read_result(mi, reply, result, NULL)) {
        xsp_error_clear(e);
        return XSP_OK;
    }

    /* "Datapath.attach result", formatted only if an error message needs it */
    xsp_path_t name = xsp_path_root(mi->name);
    xsp_path_t root = xsp_path_suffix(&name, " result");
    int rc = xsp_idl_check_count(reply->body, reply->len, &root, e, &nobjs);
    if (rc)
        return rc;
    /* the tree lives only in this function: on the stack unless it is large */
    if (nobjs > STACK_POOL && !(pool = malloc(nobjs * sizeof *pool)))
        return xsp_error_set(e, XSP_E_SYSTEM, "%s: out of memory", mi->name);
    xsp_idl_build(reply->body, pool, &obj);
    if (mi->has_result && !result) {
        tmp = calloc(1, mi->result_size);
        if (!tmp) {
            if (pool != stack_pool)
                free(pool);
            return xsp_error_set(e, XSP_E_SYSTEM, "%s: out of memory", mi->name);
        }
        result = tmp;
    }
    rc = mi->result_decode(&obj, result, e);
    if (pool != stack_pool)
        free(pool);
    if (tmp) {
        mi->result_dispose(tmp);
        free(tmp);
    }
    if (rc == XSP_OK)
        xsp_error_clear(e);
    return rc;
}

/*  The raw "code" string of an error reply map (for a code this build does not know). */
static bool raw_code(const msgpack_object *o, const char **s, size_t *n)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return false;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 4 &&
            memcmp(kv->key.via.str.ptr, "code", 4) == 0 && kv->val.type == MSGPACK_OBJECT_STR) {
            *s = kv->val.via.str.ptr;
            *n = kv->val.via.str.size;
            return true;
        }
    }
    return false;
}

/*  Append " (the body starts "...")" so an answer that is not msgpack at all (e.g. plain
    text from a server that does not speak the API) stays readable. */
static void add_snippet(xsp_error_t *e, const xsp_reply_t *reply)
{
    char q[200];
    size_t n = strlen(e->msg);
    if (!reply->len || n + 1 >= sizeof e->msg)
        return;
    snprintf(e->msg + n, sizeof e->msg - n, " (the body starts %s)",
             xsp_quote_for_msg(reply->body, reply->len, q, sizeof q));
}

/*  Status 1: the payload is an error_reply. */
static int decode_error_reply(const xsp_method_info_t *mi, const xsp_reply_t *reply,
                              xsp_error_reply_t *out, xsp_error_t *e)
{
    char label[160];
    msgpack_unpacked up;
    xsp_error_reply_t r;

    xsp_error_reply_init(&r);
    snprintf(label, sizeof label, "%s error reply", mi->name);
    xsp_path_t root = xsp_path_root(label);
    int rc = xsp_idl_unpack(&up, reply->body, reply->len, &root, e);
    if (rc) {
        add_snippet(e, reply);
        return XSP_E_DECODE;
    }
    rc = xsp_error_reply_decode_(&up.data, &r, &root, e);
    if (rc) {
        msgpack_unpacked_destroy(&up);
        return XSP_E_DECODE;
    }
    if (r.code == XSP_OK) {
        rc = xsp_error_set(e, XSP_E_DECODE, "%s: code: \"ok\" is not an error (message: %s)", label,
                           r.message ? r.message : "");
    } else {
        const char *raw = NULL;
        size_t rawlen = 0;
        xsp_error_t said;
        xsp_error_reply_to_error(&r, &said);
        if (r.code == XSP_E_UNKNOWN && raw_code(&up.data, &raw, &rawlen) &&
            !(rawlen == 7 && memcmp(raw, "unknown", 7) == 0)) {
            char q[200];
            rc = xsp_error_set(e, XSP_E_UNKNOWN, "%s answered with the error code %s, which this "
                               "build does not know: %s", mi->name,
                               xsp_quote_for_msg(raw, rawlen, q, sizeof q), said.msg);
        } else {
            *e = said;
            rc = said.code;
        }
    }
    msgpack_unpacked_destroy(&up);
    if (out && r.code != XSP_OK)
        *out = r;           /* moved: the caller disposes it */
    else
        xsp_error_reply_dispose(&r);
    return rc;
}

int xsp_stub_decode(const xsp_method_info_t *mi, const xsp_error_t *call_err,
                    const xsp_reply_t *reply, void *result, xsp_error_reply_t *error_reply,
                    xsp_error_t *err)
{
    xsp_error_t e;
    int rc;

    if (mi->has_result && result)
        mi->result_init(result);
    if (error_reply)
        xsp_error_reply_init(error_reply);
    if (call_err->code == XSP_OK) {
        rc = decode_result(mi, reply, result, &e);
    } else if (call_err->code == XSP_E_APPLICATION && reply->status == XSP_STATUS_ERROR) {
        rc = decode_error_reply(mi, reply, error_reply, &e);
    } else if (call_err->code == XSP_E_APPLICATION) {
        rc = xsp_error_set(&e, XSP_E_APPLICATION, "%s: the server answered with status %u, which "
                           "is not an API answer", mi->name, reply->status);
        add_snippet(&e, reply);
    } else {
        e = *call_err;
        rc = e.code;
    }
    if (err)
        *err = e;
    return rc;
}

/* ================================================================ synchronous */

static xsp_call_opts_t opts_with_dbg(const xsp_call_opts_t *opts, const char *dbg)
{
    xsp_call_opts_t o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    if (dbg)
        o.dbg = dbg;
    return o;
}

int xsp_stub_call(xsp_client_t *client, const char *queue, const xsp_call_opts_t *opts,
                  const xsp_method_info_t *mi, const char *dbg, const void *args,
                  void *result, xsp_error_reply_t *error_reply, xsp_error_t *err)
{
    void *buf;
    size_t len;
    xsp_reply_t reply;
    xsp_error_t cerr;

    if (mi->has_result && result)
        mi->result_init(result);
    if (error_reply)
        xsp_error_reply_init(error_reply);
    int rc = xsp_stub_encode(mi, args, &buf, &len, err);
    if (rc)
        return rc;
    xsp_call_opts_t o = opts_with_dbg(opts, dbg);
    memset(&reply, 0, sizeof reply);
    xsp_client_call(client, queue, buf, len, &o, &reply, &cerr);
    free(buf);
    rc = xsp_stub_decode(mi, &cerr, &reply, result, error_reply, err);
    xsp_reply_dispose(&reply);
    return rc;
}

/* ================================================================ asynchronous */

/*  Lives inside the client's call (xsp_client_send_ctx): freed with it, exactly once,
    whether the call completes, is cancelled or is dropped by xsp_client_destroy.  Nothing
    in it needs releasing on a drop (result is filled only inside stub_done), so no drop
    hook is needed. */
typedef struct {
    const xsp_method_info_t *mi;
    xsp_stub_done_fn *done;
    void (*fn)(void);
    void *arg;
    max_align_t result[];       /* mi->result_size bytes */
} stub_ctx_t;

static void stub_done(xsp_client_t *client, uint64_t call_id, const xsp_error_t *call_err,
                      xsp_reply_t *reply, void *arg)
{
    stub_ctx_t *x = arg;
    xsp_error_reply_t er;
    xsp_error_t e;
    void *res = x->mi->has_result ? (void *) x->result : NULL;

    if (call_err->code == XSP_OK) {
        /* the fast path: the result is only borrowed by `done` (xsp/stub.h), so its
           strings and arrays can live in an arena on this stack: a typical answer is
           read without a heap call, and freed with none */
        max_align_t block[STUB_ARENA / sizeof (max_align_t)];
        xsp_arena_t arena;

        xsp_arena_init(&arena, block, sizeof block);
        if (res)
            x->mi->result_init(res);
        bool ok = read_result(x->mi, reply, res, &arena);
        if (ok) {
            xsp_error_clear(&e);
            if (x->done)
                x->done(client, call_id, &e, res, NULL, x->fn, x->arg);
        }
        xsp_arena_dispose(&arena);
        if (ok)
            return;
    }
    int rc = xsp_stub_decode(x->mi, call_err, reply, res, &er, &e);
    if (x->done)
        x->done(client, call_id, &e, rc == XSP_OK ? res : NULL, er.code != XSP_OK ? &er : NULL,
                x->fn, x->arg);
    if (res)
        x->mi->result_dispose(res);
    xsp_error_reply_dispose(&er);
}

int xsp_stub_send(xsp_client_t *client, const char *queue, const xsp_call_opts_t *opts,
                  const xsp_method_info_t *mi, const char *dbg, const void *args,
                  xsp_stub_done_fn *done, void (*fn)(void), void *arg, uint64_t *call_id,
                  xsp_error_t *err)
{
    xsp_packbuf_t b;
    void *ctx;

    int rc = encode_into(mi, args, &b, err);
    if (rc) {
        xsp_packbuf_dispose(&b);
        return rc;
    }
    xsp_call_opts_t o = opts_with_dbg(opts, dbg);
    rc = xsp_client_send_ctx(client, queue, b.data, b.len, &o, stub_done,
                             sizeof (stub_ctx_t) + (mi->has_result ? mi->result_size : 0), NULL,
                             &ctx, call_id, err);
    xsp_packbuf_dispose(&b);
    if (rc)
        return rc;
    stub_ctx_t *x = ctx;
    x->mi = mi;
    x->done = done;
    x->fn = fn;
    x->arg = arg;
    return XSP_OK;
}

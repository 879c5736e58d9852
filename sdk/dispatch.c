/*  dispatch.c — a delivered request as a typed call: decode, answer once, free once
    (see xsp/dispatch.h).

    Owns: xsp_call_t and its life (two references: the dispatcher's, dropped by
    xsp_call_end / the failing step, and the answer's, dropped by the one answer; the
    last ended fast-path call is kept as the next one's allocation), the
    encoding of results and error replies, and the answers to requests that never became a
    call (malformed payload, unknown method, out of memory).  Two ways in: the fast path
    (xsp_read_request: args read straight from the payload into an arena inside the call)
    and, for whatever it refuses, the strict one (tree + decoder) that explains refusals.
    Never touches: sockets, credit, threads (server.c), args/result layouts (generated code
    through xsp_method_info_t), handler choice (generated dispatchers).
*/
#include "xsp/dispatch.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "xsp/idl_codec.h"
#include "xsp/idl_error_reply.h"
#include "xsp/log.h"
#include "xsp/wire.h"

#define DETAIL_MAX 64           /* error_reply.detail: map<string(256), string(4096)>(64) */
#define DETAIL_KEY_MAX 256
#define DETAIL_VALUE_MAX 4096

/*  A call comes in one allocation, one of two layouts:
    - read (the fast path, xsp/idl_reader.h): args were read straight from the payload in
      xsp_call_begin; their strings and arrays live in `arena`, whose first block follows
      args in this allocation (sized from the payload, so a common request needs no other
      heap call); args are never disposed, the arena is.
    - decoded (the fallback, for anything the reader refuses): args are followed by the
      payload's msgpack_object tree, decoded in xsp_call_decode by the strict decoder (which
      explains a refusal); args own their strings and are disposed. */
struct xsp_call {
    xsp_request_t *req;         /* NULL once answered */
    const xsp_method_info_t *mi;
    bool read;                  /* the fast layout: args already read, arena owns them */
    xsp_arena_t arena;
    msgpack_object tree;        /* decoded layout: the payload (its element pool follows
                                   args) until the args are decoded; points into the body */
    atomic_int refs;
    atomic_bool answered;
    size_t cap;                 /* bytes allocated (fast layout: for reuse) */
    max_align_t args[];         /* mi->args_size bytes */
};

/* ================================================================ plumbing */

/*  One ended fast-path call kept for the next (a steady server reuses one allocation
    instead of a malloc and a free per request).  Calls may end on any thread (a handler
    answers from wherever it likes), so the slot is swapped atomically; whatever is in it
    at exit is freed by spare_cleanup. */
static _Atomic(xsp_call_t *) spare;

__attribute__((destructor)) static void spare_cleanup(void)
{
    free(atomic_exchange(&spare, NULL));
}

/*  Memory for a fast-path call of `size` bytes (the spare one if it is large enough). */
static xsp_call_t *call_mem(size_t size)
{
    xsp_call_t *call = atomic_exchange(&spare, NULL);
    if (call && call->cap >= size)
        return call;
    free(call);
    call = malloc(size);
    if (call)
        call->cap = size;
    return call;
}

static void call_unref(xsp_call_t *call)
{
    if (atomic_fetch_sub(&call->refs, 1) != 1)
        return;
    if (call->read) {
        xsp_arena_dispose(&call->arena);
        free(atomic_exchange(&spare, call));
        return;
    }
    call->mi->args_dispose(call->args);
    free(call);
}

/*  Pack an error reply into a new buffer.  XSP_OK or an error. */
static int pack_error(xsp_code_t code, const char *msg, const xsp_string_map_t *detail,
                      xsp_packbuf_t *sb, xsp_error_t *e)
{
    msgpack_packer pk;
    xsp_string_pair_t kept[DETAIL_MAX];
    xsp_string_map_t filtered = { 0, kept };

    /* keep the detail within what every client accepts: a bad detail must not turn the
       error into an undecodable answer */
    if (detail) {
        for (size_t i = 0; i < detail->len; i++) {
            const xsp_string_pair_t *p = &detail->val[i];
            size_t kl = p->key ? strlen(p->key) : 0, vl = p->value ? strlen(p->value) : 0;
            if (filtered.len == DETAIL_MAX || kl > DETAIL_KEY_MAX || vl > DETAIL_VALUE_MAX) {
                xsp_log(XSP_LOG_WARN, "error detail '%.64s' dropped: over the limits of "
                        "error_reply.detail (64 entries, keys 256 bytes, values 4096 bytes)",
                        p->key ? p->key : "");
                continue;
            }
            bool dup = false;
            for (size_t j = 0; j < filtered.len && !dup; j++)
                dup = strcmp(kept[j].key ? kept[j].key : "", p->key ? p->key : "") == 0;
            if (!dup)
                kept[filtered.len++] = *p;
        }
    }
    xsp_packbuf_init(sb, &pk);
    int rc = xsp_error_reply_pack(&pk, code, msg, detail ? &filtered : NULL, e);
    if (rc)
        xsp_packbuf_dispose(sb);
    return rc;
}

/*  Answer a request that never became a call. */
static int answer_request(xsp_request_t *req, xsp_code_t code, const char *msg)
{
    xsp_packbuf_t sb;
    xsp_error_t e;

    xsp_log(XSP_LOG_INFO, "queue '%s': refusing message %llu from peer %llu (dbg '%.100s'): %s: %s",
            xsp_request_queue(req), (unsigned long long) xsp_request_msg_id(req),
            (unsigned long long) xsp_request_peer_id(req), xsp_request_dbg(req),
            xsp_code_name(code), msg);
    if (pack_error(code, msg, NULL, &sb, &e) != XSP_OK) {
        xsp_log(XSP_LOG_ERR, "cannot encode an error reply (%s): message %llu is left to expire",
                e.msg, (unsigned long long) xsp_request_msg_id(req));
        xsp_request_release(req);
        return code;
    }
    xsp_request_reply(req, XSP_STATUS_ERROR, sb.data, sb.len);
    xsp_packbuf_dispose(&sb);
    return code;
}

/*  Send an answer (status + body) for call: exactly once. */
static int answer(xsp_call_t *call, unsigned status, const void *body, size_t len)
{
    if (atomic_exchange(&call->answered, true)) {
        xsp_log(XSP_LOG_ERR, "%s: the call was answered twice; the second answer is dropped "
                "(a bug in the plugin)", call->mi->name);
        return XSP_E_INTERNAL;
    }
    xsp_request_t *req = call->req;
    call->req = NULL;
    xsp_request_reply(req, status, body, len);  /* -1 (out of memory) releases the request */
    call_unref(call);                           /* the answer's reference */
    return XSP_OK;
}

/* ================================================================ answering */

int xsp_call_failv(xsp_call_t *call, xsp_code_t code, const xsp_string_map_t *detail,
                   const char *fmt, va_list ap)
{
    char msg[XSP_MESSAGE_MAX + 1];
    xsp_packbuf_t sb;
    xsp_error_t e;

    vsnprintf(msg, sizeof msg, fmt ? fmt : "", ap);
    if (code == XSP_OK || (unsigned) code >= XSP_E__COUNT) {
        xsp_log(XSP_LOG_ERR, "%s: the handler failed the call with code %d, which is not an "
                "error: answering internal", call->mi->name, (int) code);
        code = XSP_E_INTERNAL;
    }
    xsp_log(XSP_LOG_DEBUG, "%s: answering %s: %s", call->mi->name, xsp_code_name(code), msg);
    if (pack_error(code, msg, detail, &sb, &e) != XSP_OK) {
        xsp_log(XSP_LOG_ERR, "%s: cannot encode an error reply: %s", call->mi->name, e.msg);
        if (pack_error(code, "(the error reply could not be encoded)", NULL, &sb, &e) != XSP_OK) {
            answer(call, XSP_STATUS_ERROR, NULL, 0);
            return code;
        }
    }
    answer(call, XSP_STATUS_ERROR, sb.data, sb.len);
    xsp_packbuf_dispose(&sb);
    return code;
}

int xsp_call_fail(xsp_call_t *call, xsp_code_t code, const xsp_string_map_t *detail,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = xsp_call_failv(call, code, detail, fmt, ap);
    va_end(ap);
    return rc;
}

int xsp_call_reply(xsp_call_t *call, const void *result)
{
    xsp_packbuf_t sb;
    msgpack_packer pk;
    xsp_error_t e;

    if (call->mi->has_result && !result)
        return xsp_call_fail(call, XSP_E_INTERNAL, NULL, "%s: the plugin answered without a result",
                             call->mi->name);
    xsp_packbuf_init(&sb, &pk);
    int rc = call->mi->result_encode(&pk, result, &e);
    if (rc) {
        xsp_packbuf_dispose(&sb);
        xsp_log(XSP_LOG_ERR, "%s: cannot encode the result: %s", call->mi->name, e.msg);
        return xsp_call_fail(call, XSP_E_INTERNAL, NULL, "the plugin's result could not be encoded: %s",
                             e.msg);
    }
    answer(call, XSP_STATUS_OK, sb.data, sb.len);
    xsp_packbuf_dispose(&sb);
    return XSP_OK;
}

/* ================================================================ accessors */

const xsp_method_info_t *xsp_call_method(const xsp_call_t *call)
{
    return call->mi;
}

const void *xsp_call_args(const xsp_call_t *call)
{
    return call->args;
}

xsp_request_t *xsp_call_request(const xsp_call_t *call)
{
    return call->req;
}

/* ================================================================ dispatcher steps */

/*  The fast path: the call with args read from the payload, or NULL (refused, or out of
    memory: the fallback then says which). */
static xsp_call_t *begin_read(xsp_request_t *req, const xsp_method_info_t *table, size_t n,
                              size_t args_bytes)
{
    const void *body = xsp_request_body(req);
    size_t len = xsp_request_size(req);
    /* strings take at most len bytes plus a NUL and 8-byte rounding each: room for a
       typical request; a larger one continues in the arena's heap chunks */
    size_t block = 2 * len + 128;
    const xsp_method_info_t *mi;

    if (len > SIZE_MAX / 4)
        return NULL;
    xsp_call_t *call = call_mem(sizeof *call + args_bytes + block);
    if (!call)
        return NULL;
    size_t cap = call->cap;
    memset(call, 0, sizeof *call + args_bytes);
    call->cap = cap;
    xsp_arena_init(&call->arena, (char *) call->args + args_bytes, block);
    if (xsp_read_request(body, len, table, n, NULL, &mi, call->args, &call->arena) != 0) {
        xsp_arena_dispose(&call->arena);
        free(call);
        return NULL;
    }
    call->read = true;
    call->req = req;
    call->mi = mi;
    atomic_init(&call->refs, 2);            /* the dispatcher's and the answer's */
    atomic_init(&call->answered, false);
    return call;
}

int xsp_call_begin(xsp_request_t *req, const xsp_method_info_t *table, size_t n, xsp_call_t **out)
{
    size_t nobjs, args_max = 0;
    const xsp_method_info_t *mi = NULL;
    xsp_error_t e;
    xsp_path_t root = xsp_path_root("request");
    const void *body = xsp_request_body(req);

    *out = NULL;
    /* the largest args struct of the table (the method is not known yet): remembered for
       the last table this thread saw, as a server dispatches with one table */
    static __thread const xsp_method_info_t *last_table;
    static __thread size_t last_n, last_max;
    if (table == last_table && n == last_n) {
        args_max = last_max;
    } else {
        for (size_t i = 0; i < n; i++)
            if (table[i].args_size > args_max)
                args_max = table[i].args_size;
        last_table = table;
        last_n = n;
        last_max = args_max;
    }
    size_t args_room = (args_max + sizeof (msgpack_object) - 1) / sizeof (msgpack_object);
    if ((*out = begin_read(req, table, n, args_room * sizeof (msgpack_object))) != NULL)
        return XSP_OK;
    int rc = xsp_idl_check_count(body, xsp_request_size(req), &root, &e, &nobjs);
    if (rc)
        return answer_request(req, XSP_E_DECODE, e.msg);
    /* one allocation: the call, room for the largest args struct of the table, then the
       payload's tree (read once, before the method is known) */
    xsp_call_t *call = malloc(sizeof *call + (args_room + nobjs) * sizeof (msgpack_object));
    if (!call)
        return answer_request(req, XSP_E_INTERNAL, "the plugin is out of memory");
    memset(call, 0, sizeof *call + args_room * sizeof (msgpack_object));
    xsp_idl_build(body, (msgpack_object *) call->args + args_room, &call->tree);
    rc = xsp_request_method(&call->tree, table, n, &mi, &e);
    if (rc) {
        free(call);
        return answer_request(req, rc == XSP_E_UNIMPLEMENTED ? XSP_E_UNIMPLEMENTED : XSP_E_DECODE,
                              e.msg);
    }
    call->req = req;
    call->mi = mi;
    atomic_init(&call->refs, 2);            /* the dispatcher's and the answer's */
    atomic_init(&call->answered, false);
    mi->args_init(call->args);
    *out = call;
    return XSP_OK;
}

int xsp_call_unimplemented(xsp_call_t *call)
{
    xsp_call_fail(call, XSP_E_UNIMPLEMENTED, NULL, "%s is not implemented by this plugin",
                  call->mi->name);
    call_unref(call);
    return XSP_E_UNIMPLEMENTED;
}

int xsp_call_decode(xsp_call_t *call)
{
    xsp_error_t e;

    if (call->read)
        return XSP_OK;          /* read in xsp_call_begin */
    int rc = call->mi->args_decode(&call->tree, call->args, &e);

    if (rc == XSP_OK)
        return XSP_OK;
    xsp_log(XSP_LOG_INFO, "queue '%s': refusing message %llu from peer %llu: %s",
            xsp_request_queue(call->req), (unsigned long long) xsp_request_msg_id(call->req),
            (unsigned long long) xsp_request_peer_id(call->req), e.msg);
    xsp_call_fail(call, rc == XSP_E_DECODE ? XSP_E_DECODE : XSP_E_INTERNAL, NULL, "%s", e.msg);
    call_unref(call);
    return XSP_E_DECODE;
}

int xsp_call_end(xsp_call_t *call, int rc)
{
    if (rc != XSP_OK && !atomic_load(&call->answered)) {
        if (rc > 0 && rc < XSP_E__COUNT)
            xsp_call_fail(call, (xsp_code_t) rc, NULL, "%s failed: %s", call->mi->name,
                          xsp_code_doc((xsp_code_t) rc));
        else
            xsp_call_fail(call, XSP_E_INTERNAL, NULL, "the handler of %s returned %d without "
                          "answering", call->mi->name, rc);
    }
    call_unref(call);
    return rc;
}

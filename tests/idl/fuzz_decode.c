/*  fuzz_decode.c — libFuzzer target for the storage API decoders.

    Owns: feeding arbitrary bytes to every decoder a server or client runs on untrusted
    input: the request path (xsp_request_method + the method's args decoder), every method's
    result decoder, the error reply decoder, and the byte-level entry points.  Whatever
    decodes must re-encode, decode again and re-encode to the same bytes, and must print
    (text, one line, JSON) without error; anything else aborts (a finding).  ASan/UBSan catch
    memory errors and leaks.
    Never touches: files (libFuzzer handles the corpus).

    Seeds: tests/idl/corpus/ (valid encodings written by the self-test with --corpus).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsp/idl_error_reply.h"
#include "xsp/storage.h"

typedef int (*encode_fn)(msgpack_packer *, const void *, xsp_error_t *);
typedef int (*decode_fn)(const msgpack_object *, void *, xsp_error_t *);
typedef int (*print_fn)(xsp_buf_t *, const void *, int);

static void die(const char *what, const char *name, const char *msg)
{
    fprintf(stderr, "fuzz finding: %s: %s: %s\n", name, what, msg);
    abort();
}

static void encode(encode_fn enc, const void *v, msgpack_sbuffer *sb, const char *name)
{
    msgpack_packer pk;
    xsp_error_t err;

    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    if (enc(&pk, v, &err))
        die("re-encode failed", name, err.msg);
}

/* v was decoded: check encode -> decode -> encode is stable, and that it prints */
static void check_decoded(const char *name, const void *v, size_t size, encode_fn enc, decode_fn dec,
                          void (*dispose)(void *), print_fn fmt, print_fn json)
{
    msgpack_sbuffer b1, b2;
    msgpack_unpacked up;
    xsp_error_t err;
    xsp_path_t root = xsp_path_root("fuzz");
    void *v2 = calloc(1, size ? size : 1);
    xsp_buf_t buf = XSP_BUF_INIT;

    if (v2 == NULL)
        abort();
    encode(enc, v, &b1, name);
    if (xsp_idl_unpack(&up, b1.data, b1.size, &root, &err))
        die("own encoding is malformed", name, err.msg);
    if (dec(&up.data, v2, &err))
        die("own encoding does not decode", name, err.msg);
    encode(enc, v2, &b2, name);
    if (b1.size != b2.size || memcmp(b1.data, b2.data, b1.size) != 0)
        die("encoding not stable", name, "");
    if (fmt(&buf, v, 2) || fmt(&buf, v, XSP_FORMAT_LINE) || json(&buf, v, XSP_FORMAT_LINE) || json(&buf, v, 0))
        die("printing failed", name, "");
    xsp_buf_dispose(&buf);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&b1);
    msgpack_sbuffer_destroy(&b2);
    if (dispose)
        dispose(v2);
    free(v2);
}

static int er_encode(msgpack_packer *pk, const void *v, xsp_error_t *err) { return xsp_error_reply_encode(pk, v, err); }
static int er_decode(const msgpack_object *o, void *v, xsp_error_t *err) { return xsp_error_reply_decode(o, v, err); }
static void er_dispose(void *v) { xsp_error_reply_dispose(v); }
static int er_format(xsp_buf_t *b, const void *v, int i) { return xsp_error_reply_format(b, v, i); }
static int er_json(xsp_buf_t *b, const void *v, int i) { return xsp_error_reply_to_json(b, v, i); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*  msgpack_object_equal, except that floats compare by their bits (NaN == NaN). */
static bool same_tree(const msgpack_object *a, const msgpack_object *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return memcmp(&a->via.f64, &b->via.f64, sizeof a->via.f64) == 0;
    case MSGPACK_OBJECT_ARRAY:
        if (a->via.array.size != b->via.array.size)
            return false;
        for (uint32_t i = 0; i < a->via.array.size; i++)
            if (!same_tree(&a->via.array.ptr[i], &b->via.array.ptr[i]))
                return false;
        return true;
    case MSGPACK_OBJECT_MAP:
        if (a->via.map.size != b->via.map.size)
            return false;
        for (uint32_t i = 0; i < a->via.map.size; i++)
            if (!same_tree(&a->via.map.ptr[i].key, &b->via.map.ptr[i].key) ||
                !same_tree(&a->via.map.ptr[i].val, &b->via.map.ptr[i].val))
                return false;
        return true;
    default:
        return msgpack_object_equal(*a, *b);
    }
}

/*  The encoding of v, as a malloc'd block (*len bytes). */
static char *encoded(encode_fn enc, const void *v, size_t *len, const char *name)
{
    msgpack_sbuffer sb;
    encode(enc, v, &sb, name);
    *len = sb.size;
    return sb.data;
}

/*  The fast path (xsp/idl_reader.h) must accept exactly what the strict path accepts, and
    read the same value (compared by encoding), into the heap and into a small arena. */
static void check_reader(const uint8_t *data, size_t size)
{
    msgpack_unpacked up;
    xsp_error_t err;
    xsp_path_t root = xsp_path_root("fuzz");
    bool tree = xsp_idl_unpack(&up, data, size, &root, &err) == XSP_OK;
    size_t args_max = 0;

    for (unsigned i = 0; i < XSP_STORAGE_METHOD__COUNT; i++)
        if (xsp_storage_methods[i].args_size > args_max)
            args_max = xsp_storage_methods[i].args_size;
    for (int mode = 0; mode < 2; mode++) {
        char block[48];
        xsp_arena_t arena, *ap = mode ? &arena : NULL;
        const xsp_method_info_t *mi = NULL, *fast_mi = NULL;
        void *slow = calloc(1, args_max), *fast = calloc(1, args_max);

        if (!slow || !fast)
            abort();
        xsp_arena_init(&arena, block, sizeof block);
        bool slow_ok = tree && xsp_request_method(&up.data, xsp_storage_methods, XSP_STORAGE_METHOD__COUNT,
                                                  &mi, &err) == XSP_OK
                       && mi->args_decode(&up.data, slow, &err) == XSP_OK;
        int frc = xsp_read_request(data, size, xsp_storage_methods, XSP_STORAGE_METHOD__COUNT, NULL,
                                   &fast_mi, fast, ap);
        /* the reader may refuse a valid request it does not take ("args" before "method") */
        if (frc == 0 && !slow_ok)
            die("the request reader accepted what the decoder refuses", mi ? mi->name : "request", err.msg);
        if (frc == 0) {
            size_t l1, l2;
            char *e1 = encoded(mi->args_encode, slow, &l1, mi->name), *e2;
            if (fast_mi != mi)
                die("the request reader found another method", mi->name, fast_mi->name);
            e2 = encoded(mi->args_encode, fast, &l2, mi->name);
            if (l1 != l2 || memcmp(e1, e2, l1) != 0)
                die("the request reader read another value", mi->name, "");
            free(e1);
            free(e2);
        }
        if (mi)
            mi->args_dispose(slow);
        if (fast_mi && !ap)
            fast_mi->args_dispose(fast);    /* (refused in heap mode: left empty by the reader) */
        xsp_arena_dispose(&arena);
        free(slow);
        free(fast);

        for (unsigned i = 0; i < XSP_STORAGE_METHOD__COUNT; i++) {
            const xsp_method_info_t *r = &xsp_storage_methods[i];
            size_t sz = r->result_size ? r->result_size : 1;
            void *rs = calloc(1, sz), *rf = calloc(1, sz);
            xsp_rd_t rd;

            if (!rs || !rf)
                abort();
            xsp_arena_init(&arena, block, sizeof block);
            bool ok = tree && r->result_decode(&up.data, rs, &err) == XSP_OK;
            xsp_rd_init(&rd, data, size, ap);
            bool fok = r->result_read(&rd, r->has_result ? rf : NULL) == 0 && xsp_rd_done(&rd) == 0;
            if (ok != fok)
                die(fok ? "the result reader accepted what the decoder refuses"
                        : "the result reader refused what the decoder accepts", r->name, ok ? "" : err.msg);
            if (ok && r->has_result) {
                size_t l1, l2;
                char *e1 = encoded(r->result_encode, rs, &l1, r->name);
                char *e2 = encoded(r->result_encode, rf, &l2, r->name);
                if (l1 != l2 || memcmp(e1, e2, l1) != 0)
                    die("the result reader read another value", r->name, "");
                free(e1);
                free(e2);
            }
            r->result_dispose(rs);
            if (!ap)
                r->result_dispose(rf);
            xsp_arena_dispose(&arena);
            free(rs);
            free(rf);
        }
    }
    if (tree)
        msgpack_unpacked_destroy(&up);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    msgpack_unpacked up;
    xsp_error_t err;
    xsp_path_t root = xsp_path_root("fuzz");

    check_reader(data, size);

    if (xsp_idl_unpack(&up, data, size, &root, &err) == XSP_OK) {
        const xsp_method_info_t *mi = NULL;

        /* xsp_idl_unpack builds the tree itself: it must equal msgpack-c's, object for
           object (types, values, string bytes) */
        {
            msgpack_unpacked ref;
            size_t off = 0;
            msgpack_unpacked_init(&ref);
            if (msgpack_unpack_next(&ref, (const char *) data, size, &off) != MSGPACK_UNPACK_SUCCESS || off != size)
                die("xsp_idl_unpack accepted what msgpack-c refuses", "unpack", "");
            if (!same_tree(&ref.data, &up.data))
                die("xsp_idl_unpack's tree differs from msgpack-c's", "unpack", "");
            msgpack_unpacked_destroy(&ref);
        }

        /* the server's path: which method, then its args */
        if (xsp_request_method(&up.data, xsp_storage_methods, XSP_STORAGE_METHOD__COUNT, &mi, &err) == XSP_OK) {
            void *args = calloc(1, mi->args_size);
            if (args == NULL)
                abort();
            if (mi->args_decode(&up.data, args, &err) == XSP_OK)
                check_decoded(mi->name, args, mi->args_size, mi->args_encode, mi->args_decode, mi->args_dispose,
                              mi->args_format, mi->args_to_json);
            else if (err.code != XSP_E_DECODE)
                die("args decode error is not 'decode'", mi->name, err.msg);
            mi->args_dispose(args);
            free(args);
        }
        /* the client's path: every result decoder, and the error reply */
        for (unsigned i = 0; i < XSP_STORAGE_METHOD__COUNT; i++) {
            const xsp_method_info_t *r = &xsp_storage_methods[i];
            void *res = calloc(1, r->result_size ? r->result_size : 1);
            if (res == NULL)
                abort();
            if (r->result_decode(&up.data, res, &err) == XSP_OK)
                check_decoded(r->name, res, r->result_size, r->result_encode, r->result_decode, r->result_dispose,
                              r->result_format, r->result_to_json);
            else if (err.code != XSP_E_DECODE)
                die("result decode error is not 'decode'", r->name, err.msg);
            r->result_dispose(res);
            free(res);
        }
        {
            xsp_error_reply_t e;
            if (xsp_error_reply_decode(&up.data, &e, &err) == XSP_OK)
                check_decoded("error_reply", &e, sizeof e, er_encode, er_decode, er_dispose, er_format, er_json);
            xsp_error_reply_dispose(&e);
        }
        msgpack_unpacked_destroy(&up);
    } else if (err.code != XSP_E_DECODE) {
        die("unpack error is not 'decode'", "bytes", err.msg);
    }

    /* byte-level entry points */
    {
        xsp_sr_ls_result_t vols;
        xsp_datapath_attach_args_t a;
        xsp_error_t e;
        xsp_sr_ls_result_unpack(data, size, &vols, &err);
        xsp_sr_ls_result_dispose(&vols);
        xsp_datapath_attach_args_unpack(data, size, &a, &err);
        xsp_datapath_attach_args_dispose(&a);
        if (xsp_error_from_reply_payload(data, size, &e) == XSP_OK)
            die("an error reply decoded as success", "error reply", e.msg);
    }
    return 0;
}

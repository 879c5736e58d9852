/*  test_storage_bad_replies.c — a hostile "plugin" answers the generated stubs with malformed
    payloads: the stubs return XSP_E_DECODE naming the method and the field, map unknown
    error codes to XSP_E_UNKNOWN (quoting the code), never crash and never leak (ASan).

    The raw server is libxsp's xsp_server with a plain handler (no dispatcher), run by
    xsp_server_run on a second thread; each request's dbg (the stub's dbg argument, which is
    also the switch dbg) selects the answer.
*/
#include <pthread.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "storage_test.h"
#include "xsp/xsp.h"
#include "xsp/storage_client.h"

#define Q "org.xen.xsp.storage.hostile"

enum { M_ATTACH, M_SR_ATTACH, M_RESIZE, M_SR_LS, M_ACTIVATE_ARGS };

typedef struct {
    const char *name;           /* also the dbg */
    int method;
    unsigned status;
    void (*build)(msgpack_packer *pk);
    const char *raw;            /* raw bytes instead of build (raw_len of them) */
    size_t raw_len;
    xsp_code_t want;
    const char *needle1, *needle2;
} case_t;

static void str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void backend_head(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    str(pk, "domain");
    msgpack_pack_map(pk, 2);
    str(pk, "domid");
    msgpack_pack_uint32(pk, 0);
    str(pk, "source");
    str(pk, "fixed");
    str(pk, "implementations");
}

static void b_good_backend(msgpack_packer *pk)
{
    backend_head(pk);
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 2);
    str(pk, "kind");
    str(pk, "file");
    str(pk, "path");
    str(pk, "/x");
}

static void b_params_int(msgpack_packer *pk)
{
    backend_head(pk);
    msgpack_pack_array(pk, 2);
    msgpack_pack_map(pk, 2);
    str(pk, "kind");
    str(pk, "file");
    str(pk, "path");
    str(pk, "/x");
    msgpack_pack_map(pk, 4);
    str(pk, "kind");
    str(pk, "xen_disk");
    str(pk, "backend_type");
    str(pk, "vbd");
    str(pk, "params");
    msgpack_pack_int(pk, 5);
    str(pk, "extra");
    msgpack_pack_map(pk, 0);
}

static void b_missing_domain(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    str(pk, "implementations");
    msgpack_pack_array(pk, 0);
}

static void b_bad_enum(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    str(pk, "domain");
    msgpack_pack_map(pk, 2);
    str(pk, "domid");
    msgpack_pack_uint32(pk, 0);
    str(pk, "source");
    str(pk, "wherever");
    str(pk, "implementations");
    msgpack_pack_array(pk, 0);
}

static void b_bad_kind(msgpack_packer *pk)
{
    backend_head(pk);
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 1);
    str(pk, "kind");
    str(pk, "carrier-pigeon");
}

static void b_negative_domid(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    str(pk, "domain");
    msgpack_pack_map(pk, 2);
    str(pk, "domid");
    msgpack_pack_int(pk, -1);
    str(pk, "source");
    str(pk, "fixed");
    str(pk, "implementations");
    msgpack_pack_array(pk, 0);
}

static void b_too_many_impls(msgpack_packer *pk)
{
    backend_head(pk);
    msgpack_pack_array(pk, 17);             /* list<implementation>(16) */
    for (int i = 0; i < 17; i++) {
        msgpack_pack_map(pk, 2);
        str(pk, "kind");
        str(pk, "file");
        str(pk, "path");
        str(pk, "/x");
    }
}

static void b_long_string(msgpack_packer *pk)
{
    static char big[5001];
    memset(big, 'a', 5000);
    msgpack_pack_str_with_body(pk, big, 5000);      /* sr is string(4096) */
}

static void b_map_for_nil(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 0);
}

static void b_int_for_list(msgpack_packer *pk)
{
    msgpack_pack_int(pk, 42);
}

static void b_volume_missing_key(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 1);
    str(pk, "name");
    str(pk, "nameless");
}

static void b_deep(msgpack_packer *pk)
{
    for (int i = 0; i < 40; i++)
        msgpack_pack_array(pk, 1);
    msgpack_pack_nil(pk);
}

static void b_err_unknown_code(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    str(pk, "code");
    str(pk, "frobnicated");
    str(pk, "message");
    str(pk, "the frobnicator jammed");
    str(pk, "detail");
    msgpack_pack_map(pk, 1);
    str(pk, "part");
    str(pk, "gear");
}

static void b_err_ok_code(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    str(pk, "code");
    str(pk, "ok");
    str(pk, "message");
    str(pk, "all good?");
}

static void b_err_no_message(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    str(pk, "code");
    str(pk, "backend-failure");
}

static void b_err_detail_int(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    str(pk, "code");
    str(pk, "backend-failure");
    str(pk, "message");
    str(pk, "m");
    str(pk, "detail");
    msgpack_pack_map(pk, 1);
    str(pk, "exit_status");
    msgpack_pack_int(pk, 1);
}

static void b_err_code_int(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    str(pk, "code");
    msgpack_pack_int(pk, 7);
    str(pk, "message");
    str(pk, "m");
}

static void b_err_good(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    str(pk, "code");
    str(pk, "activated-on-another-host");
    str(pk, "message");
    str(pk, "active on host2");
    str(pk, "detail");
    msgpack_pack_map(pk, 1);
    str(pk, "host");
    str(pk, "host2");
}

static const case_t cases[] = {
    { "good", M_ATTACH, 0, b_good_backend, NULL, 0, XSP_OK, NULL, NULL },
    { "params-int", M_ATTACH, 0, b_params_int, NULL, 0, XSP_E_DECODE,
      "Datapath.attach result: implementations[1].params: expected string, got integer", NULL },
    { "missing-domain", M_ATTACH, 0, b_missing_domain, NULL, 0, XSP_E_DECODE,
      "Datapath.attach result: domain: required field is missing", NULL },
    { "bad-enum", M_ATTACH, 0, b_bad_enum, NULL, 0, XSP_E_DECODE,
      "Datapath.attach result: domain.source:", "wherever" },
    { "bad-kind", M_ATTACH, 0, b_bad_kind, NULL, 0, XSP_E_DECODE,
      "Datapath.attach result: implementations[0]", "carrier-pigeon" },
    { "negative-domid", M_ATTACH, 0, b_negative_domid, NULL, 0, XSP_E_DECODE,
      "Datapath.attach result: domain.domid", NULL },
    { "too-many-impls", M_ATTACH, 0, b_too_many_impls, NULL, 0, XSP_E_DECODE,
      "Datapath.attach result: implementations: list of 17 elements exceeds the limit of 16", NULL },
    { "garbage", M_ATTACH, 0, NULL, "\xc1\x00\x01", 3, XSP_E_DECODE,
      "Datapath.attach result: malformed msgpack", NULL },
    { "truncated", M_ATTACH, 0, NULL, "\x82\xa6" "domain", 8, XSP_E_DECODE,
      "Datapath.attach result: malformed msgpack", NULL },
    { "huge-claim", M_ATTACH, 0, NULL, "\xdf\xff\xff\xff\xff", 5, XSP_E_DECODE,
      "Datapath.attach result: malformed msgpack: container at byte 0 claims", NULL },
    { "deep", M_ATTACH, 0, b_deep, NULL, 0, XSP_E_DECODE, "Datapath.attach result: malformed msgpack", NULL },
    { "empty", M_ATTACH, 0, NULL, "", 0, XSP_E_DECODE, "Datapath.attach result: malformed msgpack: empty payload", NULL },
    { "long-string", M_SR_ATTACH, 0, b_long_string, NULL, 0, XSP_E_DECODE,
      "SR.attach result: string of 5000 bytes exceeds the limit of 4096", NULL },
    { "nil-wanted", M_RESIZE, 0, b_map_for_nil, NULL, 0, XSP_E_DECODE,
      "Volume.resize result: expected nil, got map", NULL },
    { "trailing", M_RESIZE, 0, NULL, "\xc0\xc0", 2, XSP_E_DECODE,
      "Volume.resize result: malformed msgpack: 1 trailing bytes after the value", NULL },
    { "int-for-list", M_SR_LS, 0, b_int_for_list, NULL, 0, XSP_E_DECODE,
      "SR.ls result: expected array, got integer", NULL },
    { "volume-missing-key", M_SR_LS, 0, b_volume_missing_key, NULL, 0, XSP_E_DECODE,
      "SR.ls result: [0].key: required field is missing", NULL },
    { "err-unknown-code", M_ATTACH, 1, b_err_unknown_code, NULL, 0, XSP_E_UNKNOWN,
      "\"frobnicated\", which this build does not know", "the frobnicator jammed [part=gear]" },
    { "err-ok-code", M_ATTACH, 1, b_err_ok_code, NULL, 0, XSP_E_DECODE,
      "Datapath.attach error reply: code: \"ok\" is not an error", NULL },
    { "err-no-message", M_ATTACH, 1, b_err_no_message, NULL, 0, XSP_E_DECODE,
      "Datapath.attach error reply: message: required field is missing", NULL },
    { "err-detail-int", M_ATTACH, 1, b_err_detail_int, NULL, 0, XSP_E_DECODE,
      "Datapath.attach error reply: detail[\"exit_status\"]", NULL },
    { "err-code-int", M_ATTACH, 1, b_err_code_int, NULL, 0, XSP_E_DECODE,
      "Datapath.attach error reply: code: expected string, got integer", NULL },
    { "err-text", M_ATTACH, 1, NULL, "xsp: disk on fire", 17, XSP_E_DECODE,
      "Datapath.attach error reply: malformed msgpack", "(the body starts \"xsp: disk on fire\")" },
    { "err-empty", M_ATTACH, 1, NULL, "", 0, XSP_E_DECODE, "Datapath.attach error reply: malformed msgpack", NULL },
    { "status-7", M_ATTACH, 7, b_good_backend, NULL, 0, XSP_E_APPLICATION, "status 7", NULL },
    { "err-good", M_ACTIVATE_ARGS, 1, b_err_good, NULL, 0, XSP_E_ACTIVATED_ON_ANOTHER_HOST,
      "active on host2 [host=host2]", NULL },
    { "err-unknown-args", M_ACTIVATE_ARGS, 1, b_err_unknown_code, NULL, 0, XSP_E_UNKNOWN, "frobnicated", NULL },
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void handler(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void) s;
    (void) arg;
    const char *dbg = xsp_request_dbg(req);
    for (size_t i = 0; i < N_CASES; i++) {
        const case_t *k = &cases[i];
        if (strcmp(k->name, dbg) != 0)
            continue;
        if (!k->build) {
            xsp_request_reply(req, k->status, k->raw_len ? k->raw : NULL, k->raw_len);
            return;
        }
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        k->build(&pk);
        xsp_request_reply(req, k->status, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        return;
    }
    xsp_request_reply(req, 1, "no such case", 12);
}

static void *serve(void *arg)
{
    xsp_server_run(arg);
    return NULL;
}

/*  Asynchronous variant: the completion gets the same error and no result. */
typedef struct {
    bool done;
    xsp_error_t e;
    bool had_result, had_er;
} async_t;

static void attach_done(xsp_client_t *c, uint64_t id, const xsp_error_t *err, xsp_backend_t *b,
                        const xsp_error_reply_t *er, void *arg)
{
    async_t *a = arg;
    (void) c;
    (void) id;
    a->done = true;
    a->e = *err;
    a->had_result = b != NULL;
    a->had_er = er != NULL;
}

int main(void)
{
    xsp_test_switch_t sw;
    xsp_error_t err;
    CHECK(xsp_test_switch_start(&sw, NULL) == 0);
    xsp_server_t *srv = xsp_server_new(sw.endpoint, "hostile-plugin", "plugin", 0, &err);
    CHECK_MSG(srv, "%s", err.msg);
    CHECK_EQ(xsp_server_subscribe(srv, Q, 4, handler, NULL, &err), XSP_OK);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, serve, srv), 0);

    xsp_client_t *c = xsp_client_new(sw.endpoint, "storage-bad-replies", &err);
    CHECK_MSG(c, "%s", err.msg);
    xsp_call_opts_t o = { .timeout_ms = 10000 };

    for (size_t i = 0; i < N_CASES; i++) {
        const case_t *k = &cases[i];
        xsp_backend_t b;
        char *s = NULL;
        xsp_volume_list_t l;
        xsp_error_reply_t er;
        int rc;
        memset(&err, 0, sizeof err);
        switch (k->method) {
        case M_ATTACH:
            rc = xsp_datapath_attach(c, Q, &o, k->name, "mem://x/y", "1", &b, &err);
            if (rc == XSP_OK) {
                CHECK_EQ(b.implementations.len, 1);
                CHECK_STR(b.implementations.val[0].u.file.path, "/x");
            } else {
                CHECK(b.implementations.len == 0 && b.implementations.val == NULL);   /* left empty */
            }
            xsp_backend_dispose(&b);
            break;
        case M_SR_ATTACH:
            rc = xsp_sr_attach(c, Q, &o, k->name, NULL, &s, &err);
            CHECK(rc == XSP_OK || s == NULL);
            free(s);
            break;
        case M_RESIZE:
            rc = xsp_volume_resize(c, Q, &o, k->name, "sr", "key", 1, &err);
            break;
        case M_SR_LS:
            rc = xsp_sr_ls(c, Q, &o, k->name, "sr", &l, &err);
            CHECK(rc == XSP_OK || (l.len == 0 && l.val == NULL));
            xsp_volume_list_dispose(&l);
            break;
        default: {
            xsp_datapath_activate_args_t a = { .dbg = (char *) k->name, .uri = "u", .domain = "d" };
            rc = xsp_datapath_activate_args_call(c, Q, &o, &a, &er, &err);
            if (k->want == XSP_E_ACTIVATED_ON_ANOTHER_HOST) {
                CHECK_EQ(er.code, XSP_E_ACTIVATED_ON_ANOTHER_HOST);
                CHECK_STR(er.message, "active on host2");
                CHECK_STR(xsp_error_reply_detail(&er, "host"), "host2");
            } else {    /* an unknown code still hands back the record */
                CHECK_EQ(er.code, XSP_E_UNKNOWN);
                CHECK_STR(xsp_error_reply_detail(&er, "part"), "gear");
            }
            xsp_error_reply_dispose(&er);
            break;
        }
        }
        fprintf(stderr, "%-20s -> %s: %s\n", k->name, xsp_code_name(err.code), err.msg);
        CHECK_MSG(rc == (int) k->want && err.code == k->want, "case %s: got %s (%s), want %s", k->name,
                  xsp_code_name(err.code), err.msg, xsp_code_name(k->want));
        if (k->needle1)
            CHECK_MSG(strstr(err.msg, k->needle1), "case %s: \"%s\" lacks \"%s\"", k->name, err.msg, k->needle1);
        if (k->needle2)
            CHECK_MSG(strstr(err.msg, k->needle2), "case %s: \"%s\" lacks \"%s\"", k->name, err.msg, k->needle2);
    }

    /* the same through the asynchronous stub */
    static const char *const async_cases[] = { "params-int", "err-unknown-code", "garbage", "good" };
    for (size_t i = 0; i < 4; i++) {
        async_t a;
        memset(&a, 0, sizeof a);
        CHECK_EQ(xsp_datapath_attach_send(c, Q, &o, async_cases[i], "mem://x/y", "1", attach_done, &a, NULL,
                                          &err), XSP_OK);
        while (!a.done)
            xsp_client_wait(c, 100);
        if (i == 3) {
            CHECK_CODE(a.e, XSP_OK);
            CHECK(a.had_result && !a.had_er);
        } else {
            CHECK(a.e.code == (i == 1 ? XSP_E_UNKNOWN : XSP_E_DECODE));
            CHECK(!a.had_result && a.had_er == (i == 1));
        }
    }
    /* a NULL callback is fire-and-forget: nothing to free later, nothing runs */
    CHECK_EQ(xsp_datapath_attach_send(c, Q, &o, "params-int", "mem://x/y", "1", NULL, NULL, NULL, &err), XSP_OK);
    while (xsp_client_outstanding(c))
        xsp_client_wait(c, 100);

    xsp_client_destroy(&c);
    xsp_server_stop(srv);
    pthread_join(th, NULL);
    xsp_server_destroy(&srv);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

/*  test_storage_all_methods.c — every storage method through the switch, with the generated
    synchronous stubs, against a real xsp-test-plugin process.

    Checks results (types and values), error paths with codes and detail (unknown SR,
    unknown volume, unknown URI, a second activate from another domain, shrinking,
    duplicates), `unimplemented` for methods a plugin leaves NULL (a second plugin started
    with --unimplement), the dispatcher's answers to malformed requests (raw payloads),
    the plugin's command line (exit statuses), and a clean shutdown that answers a call the
    plugin holds (exit status 0, so no leak under ASan either).

        test_storage_all_methods [WORKERS]     (0 = handlers in the plugin's loop)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "storage_test.h"
#include "xsp/xsp.h"
#include "xsp/storage_client.h"

static xsp_error_t err;

#define OK(expr)                                                                            \
    do {                                                                                    \
        int rc_ = (expr);                                                                   \
        CHECK_MSG(rc_ == XSP_OK && err.code == XSP_OK, "%s: %s: %s", #expr,                 \
                  xsp_code_name((xsp_code_t) rc_), err.msg);                                \
    } while (0)

#define FAILS(expr, want)                                                                   \
    do {                                                                                    \
        int rc_ = (expr);                                                                   \
        CHECK_MSG(rc_ == (int) (want) && err.code == (want), "%s: got %s (%s), want %s",   \
                  #expr, xsp_code_name((xsp_code_t) rc_), err.msg, xsp_code_name(want));   \
    } while (0)

#define CONTAINS(s, needle) CHECK_MSG(strstr((s), (needle)) != NULL, "\"%s\" lacks \"%s\"", (s), (needle))

/*  A raw request straight to the plugin: status and decoded error (status 1). */
static xsp_code_t raw(xsp_client_t *c, const char *queue, const void *body, size_t len, char *msg,
                      size_t msglen)
{
    xsp_reply_t r;
    xsp_error_t e;
    int rc = xsp_client_call(c, queue, body, len, NULL, &r, &e);
    CHECK_MSG(rc == XSP_E_APPLICATION && r.status == 1, "raw call: %s (%s), status %u",
              xsp_code_name((xsp_code_t) rc), e.msg, r.status);
    xsp_error_t dec;
    xsp_code_t code = (xsp_code_t) xsp_error_from_reply_payload(r.body, r.len, &dec);
    snprintf(msg, msglen, "%s", dec.msg);
    xsp_reply_dispose(&r);
    return code;
}

static void pack_request(msgpack_sbuffer *sb, const char *method, const char *key, int value)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "method", 6);
    msgpack_pack_str_with_body(&pk, method, strlen(method));
    msgpack_pack_str_with_body(&pk, "args", 4);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "dbg", 3);
    msgpack_pack_str_with_body(&pk, "raw", 3);
    msgpack_pack_str_with_body(&pk, key, strlen(key));
    msgpack_pack_int(&pk, value);
}

typedef struct {
    bool done;
    xsp_error_t e;
} held_t;

static void held_done(xsp_client_t *c, uint64_t id, const xsp_error_t *e, const xsp_error_reply_t *er,
                      void *arg)
{
    held_t *h = arg;
    (void) c;
    (void) id;
    CHECK(er != NULL && er->code == XSP_E_CANCELLED);
    h->done = true;
    h->e = *e;
}

/*  Mutations of valid requests of every method: each is answered (any status), none kills
    the plugin (its clean exit at the end also proves no leak under ASan). */
static void fuzz(xsp_client_t *c, const char *queue)
{
    unsigned seed = 12345;
    size_t answered = 0;
    for (unsigned m = 0; m < XSP_STORAGE_METHOD__COUNT; m++) {
        const xsp_method_info_t *mi = &xsp_storage_methods[m];
        void *args = calloc(1, mi->args_size);
        CHECK(args);
        mi->args_init(args);
        *(char **) args = "fuzz";           /* dbg, the first field of every storage args struct */
        void *buf;
        size_t len;
        CHECK_EQ(xsp_stub_encode(mi, args, &buf, &len, &err), XSP_OK);
        free(args);                         /* only dbg was set, and it is borrowed */
        unsigned char *mut = malloc(len + 8);
        CHECK(mut);
        for (int round = 0; round < 24; round++) {
            size_t n = len;
            memcpy(mut, buf, len);
            for (int k = 0; k < 1 + round % 4; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = (seed >> 8) % len;
                switch ((seed >> 4) % 4) {
                case 0: mut[at] = (unsigned char) (seed >> 16); break;    /* overwrite */
                case 1: mut[at] ^= 0x80; break;                            /* flip */
                case 2: n = at + 1; break;                                 /* truncate */
                default: if (n < len + 8) mut[n++] = (unsigned char) seed; break;   /* append */
                }
            }
            xsp_reply_t r;
            xsp_error_t e;
            int rc = xsp_client_call(c, queue, mut, n, NULL, &r, &e);
            CHECK_MSG(rc == XSP_OK || rc == XSP_E_APPLICATION, "%s fuzz round %d: %s", mi->name, round, e.msg);
            answered++;
            xsp_reply_dispose(&r);
        }
        free(mut);
        free(buf);
    }
    fprintf(stderr, "fuzz: %zu mutated requests answered\n", answered);
}

static void cmdline_checks(const xsp_test_switch_t *sw)
{
    static const char *const help[] = { "--help", NULL };
    static const char *const version[] = { "--version", NULL };
    static const char *const bogus[] = { "--bogus", NULL };
    static const char *const workers[] = { "--workers", "many", NULL };
    static const char *const unimpl[] = { "--unimplement", "Nope.nothing", NULL };
    static const char *const queue[] = { "--queue", "bad queue!", NULL };
    static const char *const extra[] = { "surplus", NULL };
    CHECK_EQ(st_wait(st_spawn("xsp-test-plugin", help, true), 5000), 0);
    CHECK_EQ(st_wait(st_spawn("xsp-test-plugin", version, true), 5000), 0);
    CHECK_EQ(st_wait(st_spawn("xsp-test-plugin", bogus, true), 5000), 2);
    CHECK_EQ(st_wait(st_spawn("xsp-test-plugin", workers, true), 5000), 2);
    CHECK_EQ(st_wait(st_spawn("xsp-test-plugin", unimpl, true), 5000), 2);
    CHECK_EQ(st_wait(st_spawn("xsp-test-plugin", queue, true), 5000), 2);
    CHECK_EQ(st_wait(st_spawn("xsp-test-plugin", extra, true), 5000), 2);
    (void) sw;
}

int main(int argc, char **argv)
{
    const char *workers = argc > 1 ? argv[1] : "0";
    xsp_test_switch_t sw;
    CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "200", NULL) == 0);
    cmdline_checks(&sw);

    pid_t full = st_plugin(&sw, ST_QUEUE, "--workers", workers, "--domain", "3", NULL);
    const char *PQ = "org.xen.xsp.storage.partial";
    pid_t partial = st_plugin(&sw, PQ, "--unimplement", "SR.probe", "--unimplement", "Datapath.close", NULL);

    xsp_client_t *c = xsp_client_new(sw.endpoint, "storage-all", &err);
    CHECK_MSG(c, "%s", err.msg);
    xsp_call_opts_t o = { .timeout_ms = 10000 };
    const char *Q = ST_QUEUE;

    /* ---------------------------------------------------------------- Plugin */
    xsp_plugin_info_t info;
    OK(xsp_plugin_query(c, Q, &o, "t:query", &info, &err));
    CHECK_STR(info.plugin, "memory");
    CHECK_STR(info.api_version, "1.0");
    CHECK(info.features.len >= 5);
    CHECK(xsp_string_map_get(&info.configuration, "sr") != NULL);
    xsp_plugin_info_dispose(&info);

    xsp_string_list_t srs;
    OK(xsp_plugin_ls(c, Q, &o, "t:ls", &srs, &err));
    CHECK_EQ(srs.len, 0);
    xsp_string_list_dispose(&srs);

    xsp_probe_result_list_t probe;
    OK(xsp_sr_probe(c, Q, &o, "t:probe0", NULL, &probe, &err));
    CHECK_EQ(probe.len, 0);
    xsp_probe_result_list_dispose(&probe);

    /* ---------------------------------------------------------------- SR */
    xsp_string_map_t conf = { 0, NULL }, created;
    CHECK_EQ(xsp_string_map_set(&conf, "name", "sr1"), XSP_OK);
    OK(xsp_sr_create(c, Q, &o, "t:create", "", "sr one", "the first SR", &conf, "u-1", &created, &err));
    CHECK_STR(xsp_string_map_get(&created, "sr"), "mem://sr1");
    CHECK_STR(xsp_string_map_get(&created, "name"), "sr1");

    /* the same SR again: invalid-argument, detail argument=uri (through the args form) */
    xsp_sr_create_args_t ca = { .dbg = "t:create2", .name = "x", .configuration = conf };
    xsp_error_reply_t er;
    xsp_string_map_t ignored;
    FAILS(xsp_sr_create_args_call(c, Q, &o, &ca, &ignored, &er, &err), XSP_E_INVALID_ARGUMENT);
    CHECK_EQ(er.code, XSP_E_INVALID_ARGUMENT);
    CHECK_STR(xsp_error_reply_detail(&er, "argument"), "uri");
    CONTAINS(err.msg, "already exists");
    CONTAINS(err.msg, "[argument=uri]");
    CHECK_EQ(ignored.len, 0);
    xsp_error_reply_dispose(&er);
    xsp_string_map_dispose(&conf);

    char *sr = NULL;
    OK(xsp_sr_attach(c, Q, &o, "t:attach", &created, &sr, &err));
    CHECK_STR(sr, "mem://sr1");
    xsp_string_map_dispose(&created);

    xsp_string_map_t nope = { 0, NULL };
    CHECK_EQ(xsp_string_map_set(&nope, "sr", "mem://nope"), XSP_OK);
    char *sr2 = NULL;
    FAILS(xsp_sr_attach(c, Q, &o, "t:attach-nope", &nope, &sr2, &err), XSP_E_SR_DOES_NOT_EXIST);
    CHECK(sr2 == NULL);
    CONTAINS(err.msg, "[sr=mem://nope]");
    xsp_string_map_dispose(&nope);

    OK(xsp_plugin_ls(c, Q, &o, "t:ls", &srs, &err));
    CHECK_EQ(srs.len, 1);
    CHECK_STR(srs.val[0], "mem://sr1");
    xsp_string_list_dispose(&srs);

    xsp_sr_stat_t st;
    OK(xsp_sr_stat(c, Q, &o, "t:stat", sr, &st, &err));
    CHECK_STR(st.sr, sr);
    CHECK_STR(st.name, "sr one");
    CHECK_STR(st.uuid, "u-1");
    CHECK_STR(st.description, "the first SR");
    CHECK(st.total_space == (1ull << 40) && st.free_space == st.total_space);
    CHECK_EQ(st.health, XSP_HEALTH_HEALTHY);
    CHECK(!st.clustered && st.health_detail == NULL);
    xsp_sr_stat_dispose(&st);

    OK(xsp_sr_set_name(c, Q, &o, "t:srname", sr, "renamed", &err));
    OK(xsp_sr_set_description(c, Q, &o, "t:srdesc", sr, "described", &err));
    OK(xsp_sr_stat(c, Q, &o, "t:stat", sr, &st, &err));
    CHECK_STR(st.name, "renamed");
    CHECK_STR(st.description, "described");
    xsp_sr_stat_dispose(&st);
    FAILS(xsp_sr_stat(c, Q, &o, "t:stat-nope", "mem://nope", &st, &err), XSP_E_SR_NOT_ATTACHED);
    FAILS(xsp_sr_set_name(c, Q, &o, NULL, "mem://nope", "x", &err), XSP_E_SR_NOT_ATTACHED);

    /* ---------------------------------------------------------------- Volume */
    xsp_volume_t v0, v;
    OK(xsp_volume_create(c, Q, &o, "t:vcreate", sr, "disk0", "first disk", 1000, false, &v0, &err));
    CHECK_STR(v0.key, "vol-0");
    CHECK_STR(v0.name, "disk0");
    CHECK_STR(v0.description, "first disk");
    CHECK(v0.virtual_size == 1024 && v0.physical_utilisation == 512);
    CHECK(v0.read_write && !v0.sharable && v0.uuid != NULL && v0.parent == NULL);
    CHECK_EQ(v0.uri.len, 1);
    CHECK_STR(v0.uri.val[0], "mem://sr1/vol-0");
    const char *uri = v0.uri.val[0];

    FAILS(xsp_volume_create(c, Q, &o, "t:vcreate0", sr, "x", "", 0, false, &v, &err), XSP_E_INVALID_ARGUMENT);
    CONTAINS(err.msg, "[argument=size]");
    FAILS(xsp_volume_create(c, Q, &o, "t:vcreate-nosr", "mem://nope", "x", "", 1, false, &v, &err),
          XSP_E_SR_NOT_ATTACHED);
    CONTAINS(err.msg, "[sr=mem://nope]");

    OK(xsp_volume_stat(c, Q, &o, "t:vstat", sr, "vol-0", &v, &err));
    CHECK(xsp_volume_equal(&v, &v0));
    xsp_volume_dispose(&v);
    FAILS(xsp_volume_stat(c, Q, &o, "t:vstat-nope", sr, "nope", &v, &err), XSP_E_VOLUME_DOES_NOT_EXIST);
    CONTAINS(err.msg, "no volume nope in SR mem://sr1 [sr=mem://sr1, key=nope]");
    CHECK(v.key == NULL);       /* left empty */

    OK(xsp_volume_set(c, Q, &o, "t:set", sr, "vol-0", "k", "v", &err));
    OK(xsp_volume_set(c, Q, &o, "t:set", sr, "vol-0", "k2", "v2", &err));
    OK(xsp_volume_unset(c, Q, &o, "t:unset", sr, "vol-0", "k2", &err));
    OK(xsp_volume_unset(c, Q, &o, "t:unset", sr, "vol-0", "never-set", &err));
    OK(xsp_volume_set_name(c, Q, &o, "t:vname", sr, "vol-0", "disk zero", &err));
    OK(xsp_volume_set_description(c, Q, &o, "t:vdesc", sr, "vol-0", "zeroth", &err));
    FAILS(xsp_volume_set(c, Q, &o, "t:set-nope", sr, "nope", "k", "v", &err), XSP_E_VOLUME_DOES_NOT_EXIST);
    FAILS(xsp_volume_unset(c, Q, &o, NULL, sr, "nope", "k", &err), XSP_E_VOLUME_DOES_NOT_EXIST);
    FAILS(xsp_volume_set_name(c, Q, &o, NULL, sr, "nope", "k", &err), XSP_E_VOLUME_DOES_NOT_EXIST);
    FAILS(xsp_volume_set_description(c, Q, &o, NULL, sr, "nope", "k", &err), XSP_E_VOLUME_DOES_NOT_EXIST);
    OK(xsp_volume_stat(c, Q, &o, "t:vstat", sr, "vol-0", &v, &err));
    CHECK_EQ(v.keys.len, 1);
    CHECK_STR(xsp_string_map_get(&v.keys, "k"), "v");
    CHECK_STR(v.name, "disk zero");
    CHECK_STR(v.description, "zeroth");
    xsp_volume_dispose(&v);

    xsp_volume_t clone, snap;
    OK(xsp_volume_clone(c, Q, &o, "t:clone", sr, "vol-0", &clone, &err));
    CHECK_STR(clone.parent, "vol-0");
    CHECK(clone.read_write && clone.virtual_size == 1024 && clone.keys.len == 0);
    CHECK_STR(clone.name, "disk zero");
    OK(xsp_volume_snapshot(c, Q, &o, "t:snap", sr, "vol-0", &snap, &err));
    CHECK_STR(snap.parent, "vol-0");
    CHECK(!snap.read_write);
    CHECK(strcmp(snap.key, clone.key) != 0 && strcmp(snap.key, "vol-0") != 0);
    FAILS(xsp_volume_clone(c, Q, &o, NULL, sr, "nope", &v, &err), XSP_E_VOLUME_DOES_NOT_EXIST);
    FAILS(xsp_volume_snapshot(c, Q, &o, NULL, sr, "nope", &v, &err), XSP_E_VOLUME_DOES_NOT_EXIST);

    /* resize is answered LATER by the plugin (a 100 ms timer in its loop) */
    long long t0 = xsp_test_now_ms();
    OK(xsp_volume_resize(c, Q, &o, "t:resize", sr, "vol-0", 1u << 20, &err));
    CHECK(xsp_test_now_ms() - t0 >= 90);
    OK(xsp_volume_stat(c, Q, &o, "t:vstat", sr, "vol-0", &v, &err));
    CHECK(v.virtual_size == (1u << 20));
    xsp_volume_dispose(&v);
    FAILS(xsp_volume_resize(c, Q, &o, "t:shrink", sr, "vol-0", 10, &err), XSP_E_INVALID_ARGUMENT);
    CONTAINS(err.msg, "cannot shrink vol-0");
    CONTAINS(err.msg, "[argument=new_size]");
    FAILS(xsp_volume_resize(c, Q, &o, "t:resize-nope", sr, "nope", 10, &err), XSP_E_VOLUME_DOES_NOT_EXIST);

    xsp_volume_list_t vols;
    OK(xsp_sr_ls(c, Q, &o, "t:srls", sr, &vols, &err));
    CHECK_EQ(vols.len, 3);
    xsp_volume_list_dispose(&vols);
    FAILS(xsp_sr_ls(c, Q, &o, NULL, "mem://nope", &vols, &err), XSP_E_SR_NOT_ATTACHED);

    OK(xsp_sr_probe(c, Q, &o, "t:probe", NULL, &probe, &err));
    CHECK_EQ(probe.len, 1);
    CHECK(probe.val[0].complete && probe.val[0].has_sr);
    CHECK_STR(xsp_string_map_get(&probe.val[0].configuration, "sr"), "mem://sr1");
    CHECK_STR(xsp_string_map_get(&probe.val[0].extra_info, "volumes"), "3");
    CHECK_STR(probe.val[0].sr.name, "renamed");
    CHECK(probe.val[0].sr.free_space == (1ull << 40) - 3 * 512);   /* 3 volumes of 512 used bytes */
    xsp_probe_result_list_dispose(&probe);

    /* ---------------------------------------------------------------- Datapath */
    OK(xsp_datapath_open(c, Q, &o, "t:open", uri, true, &err));
    FAILS(xsp_datapath_open(c, Q, &o, "t:open-nope", "mem://sr1/nope", true, &err), XSP_E_VOLUME_DOES_NOT_EXIST);
    CONTAINS(err.msg, "[uri=mem://sr1/nope]");

    xsp_backend_t b;
    OK(xsp_datapath_attach(c, Q, &o, "t:attach", uri, "7", &b, &err));
    CHECK_EQ(b.domain.domid, 3);            /* the plugin's --domain */
    CHECK_EQ(b.domain.source, XSP_BACKEND_DOMAIN_SOURCE_PLUGIN_DOMAIN);
    CHECK(b.domain.domain_uuid == NULL);
    CHECK_EQ(b.implementations.len, 4);
    CHECK_EQ(b.implementations.val[0].kind, XSP_IMPLEMENTATION_XEN_DISK);
    CHECK_STR(b.implementations.val[0].u.xen_disk.backend_type, "vbd3");
    CHECK_STR(b.implementations.val[0].u.xen_disk.params, "/dev/mem/vol-0");
    CHECK_STR(xsp_string_map_get(&b.implementations.val[0].u.xen_disk.extra, "sr"), "mem://sr1");
    CHECK_EQ(b.implementations.val[1].kind, XSP_IMPLEMENTATION_BLOCK_DEVICE);
    CHECK_STR(b.implementations.val[1].u.block_device.path, "/dev/mem/vol-0");
    CHECK_EQ(b.implementations.val[2].kind, XSP_IMPLEMENTATION_FILE);
    CHECK_STR(b.implementations.val[2].u.file.path, "/run/xsp-test/vol-0.img");
    CHECK_EQ(b.implementations.val[3].kind, XSP_IMPLEMENTATION_NBD);
    CONTAINS(b.implementations.val[3].u.nbd.uri, "nbd+unix:///vol-0");
    xsp_backend_dispose(&b);
    OK(xsp_datapath_attach(c, Q, &o, "t:attach2", uri, "9", &b, &err));   /* not exclusive */
    xsp_backend_dispose(&b);
    FAILS(xsp_datapath_attach(c, Q, &o, "t:attach-nope", "mem://x/y", "7", &b, &err),
          XSP_E_VOLUME_DOES_NOT_EXIST);

    OK(xsp_datapath_activate(c, Q, &o, "t:activate", uri, "7", &err));
    OK(xsp_datapath_activate(c, Q, &o, "t:activate-again", uri, "7", &err));   /* idempotent */
    xsp_datapath_activate_args_t aa = { .dbg = "t:activate-other", .uri = (char *) uri, .domain = "9" };
    FAILS(xsp_datapath_activate_args_call(c, Q, &o, &aa, &er, &err), XSP_E_ACTIVATED_ON_ANOTHER_HOST);
    CHECK_EQ(er.code, XSP_E_ACTIVATED_ON_ANOTHER_HOST);
    CHECK_STR(xsp_error_reply_detail(&er, "host"), "7");
    CHECK_STR(er.message, "mem://sr1/vol-0 is active for domain 7");
    CONTAINS(err.msg, "[host=7]");
    xsp_error_reply_dispose(&er);
    OK(xsp_datapath_deactivate(c, Q, &o, "t:deactivate", uri, "7", &err));
    OK(xsp_datapath_activate(c, Q, &o, "t:activate-9", uri, "9", &err));
    OK(xsp_datapath_deactivate(c, Q, &o, "t:deactivate-9", uri, "9", &err));
    OK(xsp_datapath_detach(c, Q, &o, "t:detach", uri, "7", &err));
    OK(xsp_datapath_detach(c, Q, &o, "t:detach", uri, "9", &err));
    OK(xsp_datapath_close(c, Q, &o, "t:close", uri, &err));

    /* ---------------------------------------------------------------- cleanup paths */
    OK(xsp_volume_destroy(c, Q, &o, "t:vdestroy", sr, clone.key, &err));
    FAILS(xsp_volume_destroy(c, Q, &o, "t:vdestroy-again", sr, clone.key, &err), XSP_E_VOLUME_DOES_NOT_EXIST);
    xsp_volume_dispose(&clone);
    xsp_volume_dispose(&snap);
    xsp_volume_dispose(&v0);

    char *diag = NULL;
    OK(xsp_plugin_diagnostics(c, Q, &o, "t:diag", &diag, &err));
    CONTAINS(diag, "srs: 1\nvolumes: 2\n");
    CONTAINS(diag, "args dbg: t:diag\n");
    CONTAINS(diag, "header dbg: t:diag\n");    /* the stub's dbg is the switch dbg too */
    free(diag);
    /* dbg NULL: opts->dbg is used for both */
    xsp_call_opts_t od = o;
    od.dbg = "from-opts";
    OK(xsp_plugin_diagnostics(c, Q, &od, NULL, &diag, &err));
    CONTAINS(diag, "args dbg: from-opts\nheader dbg: from-opts\n");
    free(diag);

    OK(xsp_sr_detach(c, Q, &o, "t:detach", sr, &err));
    OK(xsp_sr_detach(c, Q, &o, "t:detach-again", sr, &err));
    FAILS(xsp_sr_stat(c, Q, &o, "t:stat-detached", sr, &st, &err), XSP_E_SR_NOT_ATTACHED);
    FAILS(xsp_sr_destroy(c, Q, &o, "t:destroy-detached", sr, &err), XSP_E_SR_NOT_ATTACHED);
    xsp_string_map_t again = { 0, NULL };
    CHECK_EQ(xsp_string_map_set(&again, "sr", sr), XSP_OK);
    free(sr);
    OK(xsp_sr_attach(c, Q, &o, "t:reattach", &again, &sr, &err));
    xsp_string_map_dispose(&again);
    OK(xsp_sr_destroy(c, Q, &o, "t:destroy", sr, &err));
    FAILS(xsp_sr_destroy(c, Q, &o, "t:destroy-again", sr, &err), XSP_E_SR_NOT_ATTACHED);
    OK(xsp_plugin_ls(c, Q, &o, "t:ls", &srs, &err));
    CHECK_EQ(srs.len, 0);
    xsp_string_list_dispose(&srs);
    free(sr);

    /* ---------------------------------------------------------------- unimplemented */
    FAILS(xsp_sr_probe(c, PQ, &o, "t:probe-partial", NULL, &probe, &err), XSP_E_UNIMPLEMENTED);
    CONTAINS(err.msg, "SR.probe is not implemented by this plugin");
    FAILS(xsp_datapath_close(c, PQ, &o, "t:close-partial", "mem://x", &err), XSP_E_UNIMPLEMENTED);
    OK(xsp_plugin_query(c, PQ, &o, "t:query-partial", &info, &err));
    xsp_plugin_info_dispose(&info);

    /* ---------------------------------------------------------------- malformed requests */
    char msg[XSP_ERROR_MSG_MAX];
    CHECK_EQ(raw(c, Q, "\xc1", 1, msg, sizeof msg), XSP_E_DECODE);
    CONTAINS(msg, "request: malformed msgpack");
    CHECK_EQ(raw(c, Q, NULL, 0, msg, sizeof msg), XSP_E_DECODE);
    CHECK_EQ(raw(c, Q, "\x93\x01\x02\x03", 4, msg, sizeof msg), XSP_E_DECODE);
    CONTAINS(msg, "expected map");
    msgpack_sbuffer sb;
    pack_request(&sb, "Nope.nothing", "uri", 1);
    CHECK_EQ(raw(c, Q, sb.data, sb.size, msg, sizeof msg), XSP_E_UNIMPLEMENTED);
    CONTAINS(msg, "unknown method \"Nope.nothing\"");
    msgpack_sbuffer_destroy(&sb);
    pack_request(&sb, "Datapath.attach", "uri", 5);
    CHECK_EQ(raw(c, Q, sb.data, sb.size, msg, sizeof msg), XSP_E_DECODE);
    CONTAINS(msg, "Datapath.attach args: uri: expected string, got integer");
    msgpack_sbuffer_destroy(&sb);
    pack_request(&sb, "SR.probe", "configuration", 1);      /* NULL op: unimplemented first */
    CHECK_EQ(raw(c, PQ, sb.data, sb.size, msg, sizeof msg), XSP_E_UNIMPLEMENTED);
    msgpack_sbuffer_destroy(&sb);
    fuzz(c, Q);
    OK(xsp_plugin_query(c, Q, &o, "t:still-alive", &info, &err));
    xsp_plugin_info_dispose(&info);

    /* ---------------------------------------------------------------- shutdown answers held calls */
    const char *SQ = "org.xen.xsp.storage.slow";
    pid_t slow = st_plugin(&sw, SQ, "--seed-volumes", "1", "--resize-delay-ms", "60000",
                           "--workers", workers, NULL);
    held_t held = { false, { XSP_OK, "" } };
    OK(xsp_plugin_query(c, SQ, &o, "t:slow-up", &info, &err));
    xsp_plugin_info_dispose(&info);
    OK(xsp_volume_resize_send(c, SQ, &o, "t:held", "mem://seed", "vol-0", 1u << 30,
                              held_done, &held, NULL, &err));
    for (int i = 0; i < 200; i++) {          /* until the plugin holds it */
        OK(xsp_plugin_diagnostics(c, SQ, &o, "t:poll", &diag, &err));
        bool holding = strstr(diag, "resizes in progress: 1\n") != NULL;
        free(diag);
        if (holding)
            break;
        usleep(10000);
    }
    long long ts = xsp_test_now_ms();
    CHECK_EQ(st_stop(slow), 0);             /* SIGTERM: clean exit, and quickly */
    CHECK(xsp_test_now_ms() - ts < 3000);
    while (!held.done)
        xsp_client_wait(c, 100);
    CHECK_CODE(held.e, XSP_E_CANCELLED);
    CONTAINS(held.e.msg, "the plugin is stopping");

    xsp_client_destroy(&c);
    CHECK_EQ(st_stop(full), 0);
    CHECK_EQ(st_stop(partial), 0);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

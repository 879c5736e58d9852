/*  test_format.c — exact expectations for the storage API's generated C, by hand.

    Owns: the checks a generic table walk cannot state: the exact text, one-line and JSON
    layouts; the exact error message for a nested path (the example in docs/api.md);
    request envelopes and the method table; error replies <-> xsp_error_t; hostile msgpack
    (huge declared counts, deep nesting); encoding refusals for out-of-range enums and
    union kinds.  Doubles as an example of using the API.
    Never touches: anything outside the process.
*/
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsp/idl_error_reply.h"
#include "xsp/storage.h"

static int failures, checks;

#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
                              fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define EXPECT_STR(got, want) CHECK(strcmp((got), (want)) == 0, "got:\n%s\nwant:\n%s", (got), (want))

static void build_backend(xsp_backend_t *b)
{
    xsp_implementation_t *i;

    xsp_backend_init(b);
    b->domain.domid = 3;
    b->domain.source = XSP_BACKEND_DOMAIN_SOURCE_ON_DEMAND;
    b->domain.domain_uuid = strdup("8e3f0c2a-0000-4000-8000-000000000003");
    i = xsp_implementation_list_add(&b->implementations);
    xsp_implementation_init_kind(i, XSP_IMPLEMENTATION_XEN_DISK);
    i->u.xen_disk.backend_type = strdup("vbd3");
    i->u.xen_disk.params = strdup("/dev/sm/backend/3");
    xsp_string_map_set(&i->u.xen_disk.extra, "mode", "rw");
    i = xsp_implementation_list_add(&b->implementations);
    xsp_implementation_init_kind(i, XSP_IMPLEMENTATION_BLOCK_DEVICE);
    i->u.block_device.path = strdup("/dev/dm-3");
}

static void test_printers(void)
{
    xsp_backend_t b;
    xsp_buf_t buf = XSP_BUF_INIT;

    build_backend(&b);
    CHECK(xsp_backend_format(&buf, &b, 0) == XSP_OK, "format");
    EXPECT_STR(xsp_buf_str(&buf),
               "domain:\n"
               "  domid: 3\n"
               "  source: on_demand\n"
               "  domain_uuid: \"8e3f0c2a-0000-4000-8000-000000000003\"\n"
               "implementations:\n"
               "  [0]:\n"
               "    kind: xen_disk\n"
               "    backend_type: \"vbd3\"\n"
               "    params: \"/dev/sm/backend/3\"\n"
               "    extra:\n"
               "      \"mode\": \"rw\"\n"
               "  [1]:\n"
               "    kind: block_device\n"
               "    path: \"/dev/dm-3\"\n");
    xsp_buf_reset(&buf);
    xsp_backend_format(&buf, &b, XSP_FORMAT_LINE);
    EXPECT_STR(xsp_buf_str(&buf),
               "{domain: {domid: 3, source: on_demand, domain_uuid: \"8e3f0c2a-0000-4000-8000-000000000003\"}, "
               "implementations: [{kind: xen_disk, backend_type: \"vbd3\", params: \"/dev/sm/backend/3\", "
               "extra: {\"mode\": \"rw\"}}, {kind: block_device, path: \"/dev/dm-3\"}]}");
    xsp_buf_reset(&buf);
    xsp_backend_to_json(&buf, &b, XSP_FORMAT_LINE);
    EXPECT_STR(xsp_buf_str(&buf),
               "{\"domain\":{\"domid\":3,\"source\":\"on_demand\",\"domain_uuid\":\"8e3f0c2a-0000-4000-8000-000000000003\"},"
               "\"implementations\":[{\"kind\":\"xen_disk\",\"backend_type\":\"vbd3\",\"params\":\"/dev/sm/backend/3\","
               "\"extra\":{\"mode\":\"rw\"}},{\"kind\":\"block_device\",\"path\":\"/dev/dm-3\"}]}");
    xsp_buf_reset(&buf);
    xsp_backend_domain_to_json(&buf, &b.domain, 0);
    EXPECT_STR(xsp_buf_str(&buf),
               "{\n"
               "  \"domid\": 3,\n"
               "  \"source\": \"on_demand\",\n"
               "  \"domain_uuid\": \"8e3f0c2a-0000-4000-8000-000000000003\"\n"
               "}");
    xsp_backend_dispose(&b);

    /* empty containers, absent optionals, indentation, escaping */
    {
        xsp_volume_t v;
        xsp_volume_init(&v);
        v.key = strdup("k\"1\n");
        v.name = strdup("\xc3\xa9t\xc3\xa9 \xff");          /* "été" then an invalid byte */
        v.virtual_size = UINT64_MAX;
        xsp_buf_reset(&buf);
        xsp_volume_format(&buf, &v, 4);
        EXPECT_STR(xsp_buf_str(&buf),
                   "    key: \"k\\\"1\\n\"\n"
                   "    uuid: (none)\n"
                   "    name: \"\xc3\xa9t\xc3\xa9 \\xff\"\n"
                   "    description: \"\"\n"
                   "    read_write: false\n"
                   "    sharable: false\n"
                   "    virtual_size: 18446744073709551615\n"
                   "    physical_utilisation: 0\n"
                   "    uri: []\n"
                   "    keys: {}\n"
                   "    parent: (none)\n");
        xsp_buf_reset(&buf);
        xsp_volume_format(&buf, &v, XSP_FORMAT_LINE);
        EXPECT_STR(xsp_buf_str(&buf),
                   "{key: \"k\\\"1\\n\", name: \"\xc3\xa9t\xc3\xa9 \\xff\", description: \"\", read_write: false, "
                   "sharable: false, virtual_size: 18446744073709551615, physical_utilisation: 0, uri: [], keys: {}}");
        xsp_buf_reset(&buf);
        xsp_volume_to_json(&buf, &v, XSP_FORMAT_LINE);
        EXPECT_STR(xsp_buf_str(&buf),
                   "{\"key\":\"k\\\"1\\n\",\"uuid\":null,\"name\":\"\xc3\xa9t\xc3\xa9 \\ufffd\",\"description\":\"\","
                   "\"read_write\":false,\"sharable\":false,\"virtual_size\":18446744073709551615,"
                   "\"physical_utilisation\":0,\"uri\":[],\"keys\":{},\"parent\":null}");
        xsp_volume_dispose(&v);
    }

    /* results, args and invalid enum values */
    {
        xsp_sr_stat_t s;
        xsp_sr_ls_result_t vols;
        xsp_sr_stat_init(&s);
        s.health = (xsp_health_t) 99;
        xsp_buf_reset(&buf);
        xsp_sr_stat_format(&buf, &s, XSP_FORMAT_LINE);
        CHECK(strstr(xsp_buf_str(&buf), "health: (invalid 99)") != NULL, "invalid enum print: %s", xsp_buf_str(&buf));
        xsp_sr_stat_dispose(&s);
        xsp_sr_ls_result_init(&vols);
        xsp_buf_reset(&buf);
        xsp_sr_ls_result_format(&buf, &vols, 0);
        EXPECT_STR(xsp_buf_str(&buf), "[]\n");
        xsp_sr_ls_result_dispose(&vols);
    }
    {
        xsp_datapath_attach_args_t a;
        xsp_datapath_attach_args_init(&a);
        a.dbg = strdup("t1");
        a.uri = strdup("file:///a");
        a.domain = strdup("7");
        xsp_buf_reset(&buf);
        xsp_datapath_attach_args_format(&buf, &a, XSP_FORMAT_LINE);
        EXPECT_STR(xsp_buf_str(&buf), "{dbg: \"t1\", uri: \"file:///a\", domain: \"7\"}");
        xsp_datapath_attach_args_dispose(&a);
    }
    xsp_buf_dispose(&buf);
}

/* ------------------------------------------------------------------ decoding */

static void pk_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void test_nested_path(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    xsp_datapath_attach_result_t r;
    xsp_error_t err;
    int rc;

    /* {"domain": {"domid": 0, "source": "fixed"},
        "implementations": [{"kind": "block_device", "path": "/dev/x"},
                            {"kind": "xen_disk", "backend_type": "vbd", "params": 5, "extra": {}}]} */
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pk_str(&pk, "domain");
    msgpack_pack_map(&pk, 2);
    pk_str(&pk, "domid");
    msgpack_pack_uint32(&pk, 0);
    pk_str(&pk, "source");
    pk_str(&pk, "fixed");
    pk_str(&pk, "implementations");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_map(&pk, 2);
    pk_str(&pk, "kind");
    pk_str(&pk, "block_device");
    pk_str(&pk, "path");
    pk_str(&pk, "/dev/x");
    msgpack_pack_map(&pk, 4);
    pk_str(&pk, "kind");
    pk_str(&pk, "xen_disk");
    pk_str(&pk, "backend_type");
    pk_str(&pk, "vbd");
    pk_str(&pk, "params");
    msgpack_pack_int(&pk, 5);
    pk_str(&pk, "extra");
    msgpack_pack_map(&pk, 0);

    rc = xsp_datapath_attach_result_unpack(sb.data, sb.size, &r, &err);
    CHECK(rc == XSP_E_DECODE && err.code == XSP_E_DECODE, "rc %d", rc);
    EXPECT_STR(err.msg, "Datapath.attach result: implementations[1].params: expected string, got integer");

    /* truncated by one byte */
    rc = xsp_datapath_attach_result_unpack(sb.data, sb.size - 1, &r, &err);
    CHECK(rc == XSP_E_DECODE, "rc %d", rc);
    EXPECT_STR(err.msg, "Datapath.attach result: malformed msgpack: truncated after 123 bytes");
    msgpack_sbuffer_destroy(&sb);
}

static void test_hostile_bytes(void)
{
    xsp_volume_t v;
    xsp_error_t err;
    /* array32 claiming 4294967295 elements, then nothing: must not allocate 100 GB */
    static const unsigned char huge[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
    /* map16 claiming 65535 entries with 2 bytes left */
    static const unsigned char hugemap[] = { 0xde, 0xff, 0xff, 0xc0, 0xc0 };
    unsigned char deep[40];
    int rc;

    rc = xsp_volume_unpack(huge, sizeof huge, &v, &err);
    CHECK(rc == XSP_E_DECODE, "rc %d", rc);
    EXPECT_STR(err.msg, "volume: malformed msgpack: container at byte 0 claims 4294967295 values but only 0 bytes remain");
    rc = xsp_volume_unpack(hugemap, sizeof hugemap, &v, &err);
    EXPECT_STR(err.msg, "volume: malformed msgpack: container at byte 0 claims 131070 values but only 2 bytes remain");
    memset(deep, 0x91, sizeof deep);           /* [[[[...]]]] */
    deep[sizeof deep - 1] = 0xc0;
    rc = xsp_volume_unpack(deep, sizeof deep, &v, &err);
    EXPECT_STR(err.msg, "volume: malformed msgpack: nested deeper than 24");
    rc = xsp_volume_unpack("\xc1", 1, &v, &err);
    EXPECT_STR(err.msg, "volume: malformed msgpack: invalid byte 0xc1 at byte 0");
    rc = xsp_volume_unpack("", 0, &v, &err);
    EXPECT_STR(err.msg, "volume: malformed msgpack: empty payload");
    rc = xsp_volume_unpack("\x80\x80", 2, &v, &err);
    EXPECT_STR(err.msg, "volume: malformed msgpack: 1 trailing bytes after the value");
    /* two empty keys in a string map (msgpack-c gives empty strings a NULL pointer) */
    {
        static const unsigned char dupempty[] = { 0x82, 0xa3, 'k', 'e', 'y', 0xa0,
                                                  0xa4, 'k', 'e', 'y', 's', 0x82, 0xa0, 0xa0, 0xa0, 0xa0 };
        rc = xsp_volume_unpack(dupempty, sizeof dupempty, &v, &err);
        EXPECT_STR(err.msg, "volume: keys[\"\"]: duplicate key");
    }
    rc = xsp_volume_unpack("\x80", 1, &v, &err);
    EXPECT_STR(err.msg, "volume: key: required field is missing");
    CHECK(rc == XSP_E_DECODE, "rc");
}

static void test_encode_refusals(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    xsp_error_t err;
    xsp_sr_stat_t s;
    xsp_implementation_t i;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    xsp_sr_stat_init(&s);
    s.health = (xsp_health_t) 99;
    CHECK(xsp_sr_stat_encode(&pk, &s, &err) == XSP_E_INVALID_ARGUMENT, "enum");
    EXPECT_STR(err.msg, "sr_stat: health: invalid health value 99");
    xsp_implementation_init(&i);
    i.kind = (xsp_implementation_kind_t) 7;
    CHECK(xsp_implementation_encode(&pk, &i, &err) == XSP_E_INVALID_ARGUMENT, "kind");
    EXPECT_STR(err.msg, "implementation: kind: invalid implementation kind 7");
    msgpack_sbuffer_destroy(&sb);
}

/* ------------------------------------------------------------------ requests and methods */

static void test_requests(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    xsp_error_t err;
    xsp_volume_resize_args_t a, b;
    msgpack_unpacked up;
    xsp_path_t root = xsp_path_root("test");
    xsp_storage_method_t m;
    const xsp_method_info_t *mi;

    xsp_volume_resize_args_init(&a);
    a.dbg = strdup("resize-1");
    a.sr = strdup("file:///srv/sr1");
    a.key = strdup("3");
    a.new_size = 1ull << 40;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    CHECK(xsp_volume_resize_args_encode(&pk, &a, &err) == XSP_OK, "encode: %s", err.msg);
    CHECK(xsp_idl_unpack(&up, sb.data, sb.size, &root, &err) == XSP_OK, "unpack: %s", err.msg);
    CHECK(xsp_storage_request_method(&up.data, &m, &err) == XSP_OK && m == XSP_STORAGE_METHOD_VOLUME_RESIZE,
          "request_method %d: %s", (int) m, err.msg);
    CHECK(xsp_volume_resize_args_decode(&up.data, &b, &err) == XSP_OK && xsp_volume_resize_args_equal(&a, &b),
          "args decode: %s", err.msg);
    xsp_volume_resize_args_dispose(&b);
    {
        xsp_volume_stat_args_t wrong;
        CHECK(xsp_volume_stat_args_decode(&up.data, &wrong, &err) == XSP_E_DECODE, "wrong method accepted");
        EXPECT_STR(err.msg, "request: method: is \"Volume.resize\", expected \"Volume.stat\"");
    }
    msgpack_unpacked_destroy(&up);
    xsp_volume_resize_args_dispose(&a);
    msgpack_sbuffer_destroy(&sb);

    mi = xsp_storage_method_lookup("SR.ls", 5);
    CHECK(mi && mi->id == XSP_STORAGE_METHOD_SR_LS && mi->has_result && strcmp(mi->interface, "SR") == 0
          && mi->result_size == sizeof(xsp_sr_ls_result_t), "SR.ls row");
    mi = &xsp_storage_methods[XSP_STORAGE_METHOD_DATAPATH_ACTIVATE];
    CHECK(strcmp(mi->name, "Datapath.activate") == 0 && !mi->has_result && mi->result_size == 0, "activate row");
    {
        bool found = false;
        for (size_t k = 0; k < mi->n_raises; k++)
            found |= mi->raises[k] == XSP_E_ACTIVATED_ON_ANOTHER_HOST;
        CHECK(found, "Datapath.activate raises activated-on-another-host");
    }
    CHECK(xsp_storage_method_lookup("SR.nope", 7) == NULL, "lookup of unknown method");
    CHECK(XSP_STORAGE_METHOD__COUNT == 28, "28 storage methods, got %d", (int) XSP_STORAGE_METHOD__COUNT);

    /* methods without a result: nil and only nil */
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    CHECK(xsp_datapath_activate_result_encode(&pk, &err) == XSP_OK && sb.size == 1 && (unsigned char) sb.data[0] == 0xc0, "nil");
    CHECK(xsp_datapath_activate_result_unpack(sb.data, sb.size, &err) == XSP_OK, "nil decode");
    CHECK(xsp_datapath_activate_result_unpack("\x80", 1, &err) == XSP_E_DECODE, "non-nil accepted");
    EXPECT_STR(err.msg, "Datapath.activate result: expected nil, got map");
    msgpack_sbuffer_destroy(&sb);
}

/* ------------------------------------------------------------------ error replies */

static void test_error_replies(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    xsp_error_t e, out;
    xsp_error_reply_t r, back;
    xsp_string_map_t detail;

    xsp_error_set(&e, XSP_E_ACTIVATED_ON_ANOTHER_HOST, "volume 3 is active on host2");
    CHECK(xsp_error_reply_from_error(&r, &e) == XSP_OK, "from_error");
    CHECK(xsp_error_reply_set_detail(&r, "host", "host2") == XSP_OK, "detail");
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    CHECK(xsp_error_reply_encode(&pk, &r, &e) == XSP_OK, "encode");
    CHECK(xsp_error_reply_unpack(sb.data, sb.size, &back, &e) == XSP_OK && xsp_error_reply_equal(&r, &back), "round trip");
    EXPECT_STR(xsp_error_reply_detail(&back, "host"), "host2");
    CHECK(xsp_error_from_reply_payload(sb.data, sb.size, &out) == XSP_E_ACTIVATED_ON_ANOTHER_HOST, "code");
    EXPECT_STR(out.msg, "volume 3 is active on host2 [host=host2]");
    xsp_error_reply_dispose(&r);
    xsp_error_reply_dispose(&back);
    msgpack_sbuffer_destroy(&sb);

    /* one-call packing; unknown codes; undecodable payloads; "ok" is not an error */
    xsp_string_map_init(&detail);
    xsp_string_map_set(&detail, "sr", "file:///srv/sr1");
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    CHECK(xsp_error_reply_pack(&pk, XSP_E_SR_NOT_ATTACHED, "not attached", &detail, &e) == XSP_OK, "pack");
    CHECK(xsp_error_from_reply_payload(sb.data, sb.size, &out) == XSP_E_SR_NOT_ATTACHED, "pack decode");
    EXPECT_STR(out.msg, "not attached [sr=file:///srv/sr1]");
    msgpack_sbuffer_destroy(&sb);
    xsp_string_map_dispose(&detail);

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pk_str(&pk, "code");
    pk_str(&pk, "from-the-future");
    pk_str(&pk, "message");
    pk_str(&pk, "new");
    CHECK(xsp_error_from_reply_payload(sb.data, sb.size, &out) == XSP_E_UNKNOWN, "unknown code -> XSP_E_UNKNOWN");
    msgpack_sbuffer_destroy(&sb);

    CHECK(xsp_error_from_reply_payload("\x91\x01", 2, &out) == XSP_E_APPLICATION, "undecodable");
    EXPECT_STR(out.msg, "undecodable error reply: error_reply: expected map, got array");

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    CHECK(xsp_error_reply_pack(&pk, XSP_OK, "fine", NULL, &e) == XSP_OK, "pack ok");
    CHECK(xsp_error_from_reply_payload(sb.data, sb.size, &out) == XSP_E_APPLICATION, "ok is not an error");
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    test_printers();
    test_nested_path();
    test_hostile_bytes();
    test_encode_refusals();
    test_requests();
    test_error_replies();
    printf("idl format/api test: %d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}

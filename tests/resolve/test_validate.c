/*  test_validate.c — xsp_validate_backend (xsp/validate.h), rule by rule: a good backend
    passes; every unsafe field and every backend-policy violation is refused with
    permission-denied and a sentence naming the plugin and the field.  Pure function: no
    processes (the end-to-end refusals through the stubs and the CLI are in resolve_e2e). */
#include <stdio.h>
#include <string.h>

#include "xsp/validate.h"
#include "xsp_test.h"

static xsp_resolve_result_t who;
static xsp_implementation_t impl[4];
static xsp_string_pair_t extra[1];
static xsp_backend_t b;

static void reset(void)
{
    memset(&who, 0, sizeof who);
    who.plugin = "xsp-plugin-x";
    who.domid = 3;
    who.backend_policy.kind = XSP_BACKEND_POLICY_KIND_OWN_DOMAIN;
    memset(impl, 0, sizeof impl);
    extra[0] = (xsp_string_pair_t) { "format", "raw" };
    impl[0].kind = XSP_IMPLEMENTATION_BLOCK_DEVICE;
    impl[0].u.block_device.path = "/dev/loop7";
    impl[1].kind = XSP_IMPLEMENTATION_XEN_DISK;
    impl[1].u.xen_disk.backend_type = "qdisk";
    impl[1].u.xen_disk.params = "/srv/sr1/v.img";
    impl[1].u.xen_disk.extra = (xsp_string_map_t) { 1, extra };
    impl[2].kind = XSP_IMPLEMENTATION_FILE;
    impl[2].u.file.path = "/srv/sr1/v.img";
    impl[3].kind = XSP_IMPLEMENTATION_NBD;
    impl[3].u.nbd.uri = "nbd+unix:///v?socket=/run/n.sock";
    memset(&b, 0, sizeof b);
    b.domain.domid = 3;
    b.domain.source = XSP_BACKEND_DOMAIN_SOURCE_PLUGIN_DOMAIN;
    b.implementations = (xsp_implementation_list_t) { 4, impl };
}

static void refused(int line, const char *needle)
{
    xsp_error_t err;
    int rc = xsp_validate_backend(&who, &b, &err);
    if (rc != XSP_E_PERMISSION_DENIED || !strstr(err.msg, needle) || !strstr(err.msg, "xsp-plugin-x")) {
        fprintf(stderr, "line %d: want permission-denied with '%s', got %s: %s\n", line, needle,
                xsp_code_name((xsp_code_t) rc), rc ? err.msg : "");
        exit(1);
    }
    printf("refused: %s\n", err.msg);
    reset();
}

static void passes(int line)
{
    xsp_error_t err;
    int rc = xsp_validate_backend(&who, &b, &err);
    if (rc != XSP_OK) {
        fprintf(stderr, "line %d: want ok, got %s: %s\n", line, xsp_code_name((xsp_code_t) rc), err.msg);
        exit(1);
    }
    reset();
}

int main(void)
{
    reset();
    passes(__LINE__);
    /* paths */
    impl[0].u.block_device.path = "/etc/shadow";            refused(__LINE__, "not under /dev/");
    impl[0].u.block_device.path = "/dev/../etc/shadow";     refused(__LINE__, ". or .. component");
    impl[0].u.block_device.path = "dev/loop0";              refused(__LINE__, "not absolute");
    impl[0].u.block_device.path = "/dev//loop0";            refused(__LINE__, "empty component");
    impl[0].u.block_device.path = "/dev/loop0/";            refused(__LINE__, "ends with /");
    impl[0].u.block_device.path = "";                       refused(__LINE__, "block_device.path");
    impl[0].u.block_device.path = NULL;                     refused(__LINE__, "block_device.path");
    impl[2].u.file.path = "/srv/./v.img";                   refused(__LINE__, "file.path");
    impl[2].u.file.path = "/srv/v\n.img";                   refused(__LINE__, "control characters");
    impl[2].u.file.path = "/";                              refused(__LINE__, "root directory");
    /* xen disk */
    impl[1].u.xen_disk.backend_type = "Qdisk";              refused(__LINE__, "backend_type");
    impl[1].u.xen_disk.backend_type = "";                   refused(__LINE__, "backend_type");
    impl[1].u.xen_disk.params = "a\tb";                     refused(__LINE__, "params");
    extra[0].key = "bad key";                               refused(__LINE__, "xen_disk.extra");
    extra[0].value = "x\ny";                                refused(__LINE__, "xen_disk.extra");
    /* nbd */
    impl[3].u.nbd.uri = "http://x";                         refused(__LINE__, "nbd.uri");
    impl[3].u.nbd.uri = "nbd://x y";                        refused(__LINE__, "nbd.uri");
    impl[3].u.nbd.uri = "nbd:unix:/run/x.sock:exportname=e"; passes(__LINE__);
    /* counts */
    b.implementations.len = 0;                              refused(__LINE__, "0 implementations");
    impl[0].kind = (xsp_implementation_kind_t) 9;           refused(__LINE__, "unknown kind");
    /* backend domain against the registered policy */
    b.domain.domid = 4;                                     refused(__LINE__, "registered its own domain (3)");
    who.backend_policy = (xsp_backend_policy_t) { XSP_BACKEND_POLICY_KIND_FIXED, true, 5 };
    b.domain.domid = 5;                                     passes(__LINE__);
    who.backend_policy = (xsp_backend_policy_t) { XSP_BACKEND_POLICY_KIND_FIXED, true, 5 };
    b.domain.domid = 3;                                     refused(__LINE__, "fixed backend domain 5");
    who.backend_policy.kind = XSP_BACKEND_POLICY_KIND_ON_DEMAND;
    b.domain.domid = 42;                                    passes(__LINE__);
    who.backend_policy.kind = XSP_BACKEND_POLICY_KIND_ON_DEMAND;
    b.domain.domid = 0;                                     refused(__LINE__, "only a plugin running in dom0");
    who.backend_policy.kind = XSP_BACKEND_POLICY_KIND_ON_DEMAND;
    who.domid = 0;
    b.domain.domid = 0;                                     passes(__LINE__);
    b.domain.domain_uuid = "abc\x01";                       refused(__LINE__, "domain_uuid");
    puts("ok");
    return 0;
}

/*  test_validate.c — xsp_validate_attach_result (xsp/validate.h): what a plugin may answer
    to Datapath.attach.  Each case builds one answer and checks the verdict, the code and a
    word of the sentence.  Pure functions: no processes.
*/
#include <stdio.h>
#include <string.h>

#include "swtest.h"
#include "xsp/validate.h"

static int ncases;

static xsp_resolve_result_t who(uint32_t plugin_domid, xsp_backend_policy_kind_t kind, bool has, uint32_t fixed)
{
    xsp_resolve_result_t w;
    memset(&w, 0, sizeof w);
    w.plugin = (char *) "plugin-x";
    w.domid = plugin_domid;
    w.backend_policy.kind = kind;
    w.backend_policy.has_domid = has;
    w.backend_policy.domid = fixed;
    return w;
}

static xsp_implementation_t impl_block(const char *p)
{
    xsp_implementation_t i;
    memset(&i, 0, sizeof i);
    i.kind = XSP_IMPLEMENTATION_BLOCK_DEVICE;
    i.u.block_device.path = (char *) p;
    return i;
}

static xsp_implementation_t impl_file(const char *p)
{
    xsp_implementation_t i;
    memset(&i, 0, sizeof i);
    i.kind = XSP_IMPLEMENTATION_FILE;
    i.u.file.path = (char *) p;
    return i;
}

static xsp_implementation_t impl_nbd(const char *u)
{
    xsp_implementation_t i;
    memset(&i, 0, sizeof i);
    i.kind = XSP_IMPLEMENTATION_NBD;
    i.u.nbd.uri = (char *) u;
    return i;
}

/*  expect: XSP_OK or the code; word: part of the sentence (NULL: not checked). */
static void check(const char *what, const xsp_resolve_result_t *w, uint32_t domid,
                  xsp_backend_domain_source_t src, xsp_implementation_t im, int expect, const char *word)
{
    xsp_datapath_attach_result_t r;
    memset(&r, 0, sizeof r);
    r.domain.domid = domid;
    r.domain.source = src;
    r.implementations.len = 1;
    r.implementations.val = &im;
    xsp_error_t err;
    xsp_error_clear(&err);
    int rc = xsp_validate_attach_result(w, &r, &err);
    CHECKF(rc == expect, "%s: got %s (%s), want %s", what, xsp_code_name((xsp_code_t) rc), err.msg,
           xsp_code_name((xsp_code_t) expect));
    CHECKF(rc == (int) err.code, "%s: return value and err disagree", what);
    if (word)
        CHECKF(strstr(err.msg, word), "%s: sentence '%s' lacks '%s'", what, err.msg, word);
    printf("ok %d - %s -> %s%s%s\n", ++ncases, what, xsp_code_name((xsp_code_t) rc), rc ? ": " : "",
           err.msg);
}

int main(void)
{
    const xsp_backend_domain_source_t FIX = XSP_BACKEND_DOMAIN_SOURCE_FIXED,
                                      OWN = XSP_BACKEND_DOMAIN_SOURCE_PLUGIN_DOMAIN,
                                      DEM = XSP_BACKEND_DOMAIN_SOURCE_ON_DEMAND;
    const int OK = XSP_OK, DENY = XSP_E_PERMISSION_DENIED, BAD = XSP_E_INVALID_ARGUMENT;
    xsp_resolve_result_t fixed0 = who(0, XSP_BACKEND_POLICY_KIND_FIXED, true, 0);
    xsp_resolve_result_t fixed4 = who(3, XSP_BACKEND_POLICY_KIND_FIXED, true, 4);
    xsp_resolve_result_t own3 = who(3, XSP_BACKEND_POLICY_KIND_OWN_DOMAIN, false, 0);
    xsp_resolve_result_t dem3 = who(3, XSP_BACKEND_POLICY_KIND_ON_DEMAND, false, 0);
    xsp_resolve_result_t dem0 = who(0, XSP_BACKEND_POLICY_KIND_ON_DEMAND, false, 0);
    xsp_implementation_t dev = impl_block("/dev/loop3");

    /* backend domains */
    check("fixed dom0, answers dom0", &fixed0, 0, FIX, dev, OK, NULL);
    check("fixed dom4, answers dom4", &fixed4, 4, FIX, dev, OK, NULL);
    check("fixed dom4, answers dom0", &fixed4, 0, FIX, dev, DENY, "registered a fixed backend domain 4");
    check("own-domain dom3, answers dom3", &own3, 3, OWN, dev, OK, NULL);
    check("own-domain dom3, answers dom0", &own3, 0, OWN, dev, DENY, "runs in domain 3");
    check("on-demand from dom3, answers dom9", &dem3, 9, DEM, dev, OK, NULL);
    check("on-demand from dom3, answers dom0", &dem3, 0, DEM, dev, DENY, "may not name dom0");
    check("on-demand from dom0, answers dom0", &dem0, 0, DEM, dev, OK, NULL);
    check("on-demand, answers DOMID_SELF", &dem3, 0x7FF0, DEM, dev, DENY, "not a domain");
    check("source plugin_domain with another domid", &dem3, 9, OWN, dev, DENY, "named domain 9 as its own");

    /* block devices */
    check("block /dev/mapper/vg-lv", &own3, 3, OWN, impl_block("/dev/mapper/vg-lv"), OK, NULL);
    check("block outside /dev", &own3, 3, OWN, impl_block("/etc/shadow"), BAD, "under /dev/");
    check("block /dev/../etc/shadow", &own3, 3, OWN, impl_block("/dev/../etc/shadow"), BAD, "normalized");
    check("block /dev/./sda", &own3, 3, OWN, impl_block("/dev/./sda"), BAD, NULL);
    check("block relative dev/sda", &own3, 3, OWN, impl_block("dev/sda"), BAD, NULL);
    check("block /dev/ alone", &own3, 3, OWN, impl_block("/dev/"), BAD, NULL);
    check("block /dev//sda", &own3, 3, OWN, impl_block("/dev//sda"), BAD, NULL);
    check("block with a newline", &own3, 3, OWN, impl_block("/dev/sda\n/dev/sdb"), BAD, "(unprintable)");
    check("block NULL path", &own3, 3, OWN, impl_block(NULL), BAD, NULL);

    /* files */
    check("file /srv/sr1/vol7.img", &own3, 3, OWN, impl_file("/srv/sr1/vol7.img"), OK, NULL);
    check("file /srv/../etc/passwd", &own3, 3, OWN, impl_file("/srv/../etc/passwd"), BAD, "not an absolute normalized path");
    check("file relative", &own3, 3, OWN, impl_file("vol7.img"), BAD, NULL);
    check("file trailing slash", &own3, 3, OWN, impl_file("/srv/sr1/"), BAD, NULL);
    check("file with ESC", &own3, 3, OWN, impl_file("/srv/\x1b[2Jx"), BAD, NULL);

    /* NBD */
    check("nbd+unix URI", &own3, 3, OWN, impl_nbd("nbd+unix:///export?socket=/run/x.sock"), OK, NULL);
    check("nbd URI", &own3, 3, OWN, impl_nbd("nbd://10.0.0.5:10809/export"), OK, NULL);
    check("http URI", &own3, 3, OWN, impl_nbd("http://evil/x"), BAD, "not an nbd:// or nbd+unix:// URI");
    check("nbd URI with a space", &own3, 3, OWN, impl_nbd("nbd://h/x y"), BAD, NULL);
    check("nbd URI with a control char", &own3, 3, OWN, impl_nbd("nbd://h/x\r"), BAD, NULL);

    /* xen_disk */
    xsp_implementation_t xd;
    memset(&xd, 0, sizeof xd);
    xd.kind = XSP_IMPLEMENTATION_XEN_DISK;
    xd.u.xen_disk.backend_type = (char *) "vbd3";
    xd.u.xen_disk.params = (char *) "/dev/sm/backend/x";
    xsp_string_pair_t kv = { (char *) "polling-duration", (char *) "1000" };
    xd.u.xen_disk.extra.len = 1;
    xd.u.xen_disk.extra.val = &kv;
    check("xen_disk vbd3 with sm-data", &own3, 3, OWN, xd, OK, NULL);
    kv.key = (char *) "../../frontend";
    check("xen_disk extra key escaping sm-data", &own3, 3, OWN, xd, BAD, "xen_disk.extra key");
    kv.key = (char *) "k";
    xd.u.xen_disk.backend_type = (char *) "vbd/../../x";
    check("xen_disk backend_type with a path", &own3, 3, OWN, xd, BAD, "backend_type");

    /* shape */
    xsp_datapath_attach_result_t r;
    memset(&r, 0, sizeof r);
    r.domain.domid = 3;
    r.domain.source = OWN;
    xsp_error_t err;
    xsp_error_clear(&err);
    CHECK(xsp_validate_attach_result(&own3, &r, &err) == XSP_E_INVALID_ARGUMENT && strstr(err.msg, "0 implementations"));
    printf("ok %d - no implementations -> invalid-argument: %s\n", ++ncases, err.msg);
    r.implementations.len = 2;
    xsp_implementation_t two[2] = { impl_file("/srv/a"), impl_block("/dev/../x") };
    r.implementations.val = two;
    CHECK(xsp_validate_attach_result(&own3, &r, &err) == XSP_E_INVALID_ARGUMENT && strstr(err.msg, "implementations[1]"));
    printf("ok %d - the second implementation is checked too: %s\n", ++ncases, err.msg);
    r.domain.domain_uuid = (char *) "0b5f0e7c-3a6e-4c0e-9d8e-2b2c5d1d4a11";
    r.implementations.len = 1;
    CHECK(xsp_validate_attach_result(&own3, &r, &err) == XSP_OK);
    r.domain.domain_uuid = (char *) "uuid;rm -rf";
    CHECK(xsp_validate_attach_result(&own3, &r, &err) == XSP_E_INVALID_ARGUMENT);
    printf("ok %d - domain_uuid checked\n", ++ncases);
    CHECK(xsp_validate_path("/a/b", false) && !xsp_validate_path("/a/b/..", false) && xsp_validate_path("/", false));
    printf("%d cases passed\n", ncases);
    return 0;
}

/*  tests/bridge/test_bridge_e2e.c — block-xsp end to end, as libxl drives it.

    Real processes only: the xenstored fixture (tests/xenstored), xsp-switch, xsp-registrar
    (file store), the plugin (xsp-test-plugin --image-dir: Datapath.attach offers a real
    sparse image file, over which block-xsp puts a REAL loop device), and build/bin/block-xsp
    run with exactly the environment libxl_linux.c builds (script, XENBUS_TYPE, XENBUS_PATH,
    XENBUS_BASE_PATH) plus XENSTORED_PATH and XSP_SWITCH.  The test writes the backend,
    frontend and /libxl nodes the way libxl_disk.c + libxl__device_generic_add write them for
    a `script=block-xsp` disk.

    Checks, each printed as "ok N - ...":
      1  add: exit 0, hotplug-status = connected, physical-device = the hex major:minor of the
         loop device backed by the volume's image, physical-device-path = that device, the
         xsp-* record; then remove: exit 0, no loop device over the image, no record;
      2  volume active elsewhere: a second domain's add of the same URI fails with
         hotplug-error naming the URI, the plugin and activated-on-another-host, and
         hotplug-status = error; nothing of it stays attached (one loop device: the first
         domain's); the first domain is still connected and removes cleanly;
      3  unknown scheme: hotplug-error names the scheme, nothing attached, no record;
      4  not a URI / no params: a clear hotplug-error;
      5  plugin restarted between add and remove: remove still undoes (no loop device);
      6  plugin gone at remove: remove exits 0 and leaves no loop device, and logs it;
      7  plugin not running at add: hotplug-error + error status, nothing attached;
      8  block-xsp outside libxl (no XENBUS_PATH) exits 1 with a sentence; bad usage exits 2;
      9  a plugin whose backend runs in another domain than libxl's backend=: a hotplug-error
         saying which backend= to use; attach undone.

    `test_bridge_e2e file` (ctest bridge_e2e_file) runs the same with xsp-plugin-file: an SR
    in the temp dir, three volumes, file:// URIs; the plugin makes and owns the loop devices
    (block_device), so checks 1, 2, 6 see ITS loop devices come and go.  Checks 5 and 9 need
    the test plugin's options and are skipped there.

    Needs root and /dev/loop-control: without them it FAILS (it never skips).
    Owns: its temporary directory and every process it starts (killed at exit).
*/
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xenstore.h>

#include "xs_fixture.h"
#include "xsp/client.h"
#include "xsp/registrar_client.h"
#include "xsp/storage_client.h"
#include "xsp_test.h"

/*  Which plugin serves the disks: xsp-test-plugin (default) or xsp-plugin-file (argv[1] =
    "file", built when the file plugin is in the tree). */
static bool use_file;
static const char *QUEUE = "org.xen.xsp.storage.test", *PLUGIN_NAME = "xsp-test-plugin",
                  *SCHEME = "mem";
static char uris[3][600], images[3][600];   /* the volumes used, and their data files */
#define DEVID_XVDA 51712u       /* (202 << 8) | 0: xvda */
#define DEVID_XVDB 51728u       /* xvdb */

static xsp_test_switch_t sw;
static pid_t xenstored_pid, registrar_pid, plugin_pid;
static struct xs_handle *xs;
static char dir[256], imgdir[400];

/* ================================================================ processes */

static void kill_child(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
        *pid = 0;
    }
}

static void cleanup(void)
{
    kill_child(&plugin_pid);
    kill_child(&registrar_pid);
    if (xs)
        xs_close(xs);
    xs = NULL;
    if (xenstored_pid > 0)
        xs_fixture_stop(xenstored_pid);
    xenstored_pid = 0;
}

static pid_t spawn(const char *const *argv)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(argv[0], (char *const *) argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static void start_registrar(void)
{
    char bin[512], store[600], policy[600];
    FILE *f;

    snprintf(store, sizeof store, "file:%s/registrar.state", dir);
    snprintf(policy, sizeof policy, "%s/registrar.conf", dir);
    CHECK((f = fopen(policy, "w")) != NULL);
    fputs("allow domain 0 schemes * queues *\n", f);
    fclose(f);
    xsp_test_bin("xsp-registrar", bin, sizeof bin);
    const char *argv[] = { bin, "--switch", sw.endpoint, "--store", store, "--policy", policy,
                           "--log-level", getenv("XSP_TEST_VERBOSE") ? "debug" : "warn", NULL };
    registrar_pid = spawn(argv);
}

static xsp_client_t *client(void)
{
    xsp_client_opts_t o = { .endpoint = sw.endpoint, .name = "bridge-test" };
    xsp_error_t err = { 0 };
    xsp_client_t *c = xsp_client_new_opts(&o, &err);
    CHECK_MSG(c != NULL, "%s", err.msg);
    return c;
}

static const char *evil_mode;   /* xsp-test-plugin --evil-attach MODE, or NULL */

/*  Whether the registrar resolves uri within ms (polling); err gets the last outcome. */
static bool resolvable(const char *uri, long long ms, xsp_error_t *err)
{
    long long t0 = xsp_test_now_ms();
    for (;;) {
        xsp_client_t *c = client();
        xsp_resolve_result_t r;
        xsp_call_opts_t o = { .timeout_ms = 500 };
        xsp_resolve_result_init(&r);
        xsp_registrar_resolve(c, "org.xen.xsp.registrar", &o, "bridge-test", uri, NULL, &r, err);
        xsp_resolve_result_dispose(&r);
        xsp_client_destroy(&c);
        if (err->code == XSP_OK)
            return true;
        if (xsp_test_now_ms() - t0 >= ms)
            return false;
        usleep(50 * 1000);
    }
}

/*  Whether the plugin on QUEUE answers Plugin.query within ms (the switch may first hand
    the call to a consumer it has not yet declared dead: it is requeued then). */
static bool serving(long long ms)
{
    xsp_client_t *c = client();
    xsp_call_opts_t o = { .timeout_ms = (int) ms };
    xsp_plugin_info_t info;
    xsp_error_t err = { 0 };
    bool ok = xsp_plugin_query(c, QUEUE, &o, "bridge-test", &info, &err) == XSP_OK;
    if (ok)
        xsp_plugin_info_dispose(&info);
    else
        fprintf(stderr, "Plugin.query on %s: %s\n", QUEUE, err.msg);
    xsp_client_destroy(&c);
    return ok;
}

/*  Start the plugin and register it (the registrar's plugin-side registration at startup is
    another issue's; until then the test announces the plugin, as a plugin would). */
static void start_plugin(const char *domid)
{
    char bin[512];
    xsp_registration_request_t q;
    xsp_registration_t reg;
    xsp_error_t err = { 0 };
    long long t0;

    if (use_file) {
        char state[600];
        snprintf(state, sizeof state, "%s/file-state", dir);
        xsp_test_bin("xsp-plugin-file", bin, sizeof bin);
        const char *argv[] = { bin, "--switch", sw.endpoint, "--state-dir", state, "--log-level", "warn",
                               "--domain", domid, NULL };
        plugin_pid = spawn(argv);
        /* a plugin that registers itself at start (xsp_plugin_main) needs no help */
        CHECK_MSG(resolvable("file:", 20000, &err), "xsp-plugin-file never became resolvable: %s", err.msg);
        return;
    } else {
        xsp_test_bin("xsp-test-plugin", bin, sizeof bin);
        const char *argv[] = { bin, "--switch", sw.endpoint, "--queue", QUEUE, "--seed-volumes", "3",
                               "--image-dir", imgdir, "--log-level", "warn", "--domain", domid,
                               evil_mode ? "--evil-attach" : NULL, evil_mode, NULL };
        plugin_pid = spawn(argv);
        /* register only once it serves its queue (answers a call: a consumer count is not
           enough): a plugin killed just before may still count as the queue's consumer
           until the switch notices (3 heartbeats); had that zombie confirmed the
           registration, its death, before the new plugin subscribed, would drop the
           registration for good (registrar: confirmed and no consumer) */
        CHECK_MSG(serving(20000), "the plugin does not answer on %s", QUEUE);
    }

    xsp_registration_request_init(&q);
    q.name = strdup(PLUGIN_NAME);
    q.version = strdup("1.0");
    q.api_version = strdup("1.0");
    *xsp_plugin_kind_list_add(&q.kinds) = XSP_PLUGIN_KIND_DATAPATH;
    xsp_string_list_append(&q.schemes, SCHEME);
    xsp_string_list_append(&q.queues, QUEUE);
    /* registered from dom0 (the test's client): a plugin claiming another domain says so
       as a fixed backend domain, or block-xsp's answer check (xsp/validate.h) refuses it */
    q.backend_policy.kind = XSP_BACKEND_POLICY_KIND_OWN_DOMAIN;
    if (strcmp(domid, "0") != 0) {
        q.backend_policy.kind = XSP_BACKEND_POLICY_KIND_FIXED;
        q.backend_policy.has_domid = true;
        q.backend_policy.domid = (uint32_t) atoi(domid);
    }
    /* the registrar may still be starting: retry for a while */
    t0 = xsp_test_now_ms();
    for (;;) {
        xsp_client_t *c = client();
        xsp_call_opts_t o = { .timeout_ms = 1000 };
        xsp_registration_init(&reg);
        xsp_registrar_register(c, "org.xen.xsp.registrar", &o, "bridge-test", &q, &reg, &err);
        xsp_registration_dispose(&reg);
        xsp_client_destroy(&c);
        if (err.code == XSP_OK || xsp_test_now_ms() - t0 > 10000)
            break;
        usleep(100 * 1000);
    }
    CHECK_CODE(err, XSP_OK);
    xsp_registration_request_dispose(&q);
    /* registered is not yet resolvable: the registrar answers for a plugin only once the
       switch shows a consumer on its queue (the plugin may still be subscribing) */
    CHECK_MSG(resolvable("mem:", 10000, &err), "the plugin never became resolvable: %s", err.msg);
}

/* ================================================================ xenstore */

static char *xs_get(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xs_get(const char *fmt, ...)
{
    char path[512];
    unsigned len;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    return xs_read(xs, XBT_NULL, path, &len);
}

static void be_path(char *buf, size_t cap, unsigned fe, unsigned devid)
{
    snprintf(buf, cap, "/local/domain/0/backend/vbd/%u/%u", fe, devid);
}

/*  A backend node's value, "" when absent (caller frees nothing: static rotation). */
static const char *be(unsigned fe, unsigned devid, const char *node)
{
    static char vals[4][2048];
    static int i;
    char p[300];
    char *v;
    be_path(p, sizeof p, fe, devid);
    v = xs_get("%s/%s", p, node);
    i = (i + 1) % 4;
    snprintf(vals[i], sizeof vals[i], "%s", v ? v : "");
    free(v);
    return vals[i];
}

/*  What libxl writes for `script=block-xsp,vdev=xvdX,target=URI` (mode w), in one
    transaction, with libxl's permissions: backend owned by the backend domain (0) and
    readable by the frontend; frontend owned by the frontend, readable by the backend. */
static void libxl_disk_add(unsigned fe, unsigned devid, const char *vdev, const char *uri)
{
    char bp[300], fp[300], lp[300], fev[16], devs[16];
    struct xs_permissions bperm[2] = { { 0, XS_PERM_NONE }, { fe, XS_PERM_READ } };
    struct xs_permissions fperm[2] = { { fe, XS_PERM_NONE }, { 0, XS_PERM_READ } };
    xs_transaction_t t;

    be_path(bp, sizeof bp, fe, devid);
    snprintf(fp, sizeof fp, "/local/domain/%u/device/vbd/%u", fe, devid);
    snprintf(lp, sizeof lp, "/libxl/%u/device/vbd/%u", fe, devid);
    snprintf(fev, sizeof fev, "%u", fe);
    snprintf(devs, sizeof devs, "%u", devid);
    const char *bents[] = { "params", uri, "script", "/etc/xen/scripts/block-xsp", "frontend-id", fev,
                            "online", "1", "removable", "0", "bootable", "1", "state", "1", "dev", vdev,
                            "type", "phy", "mode", "w", "device-type", "disk", "discard-enable", "1",
                            NULL };
    const char *fents[] = { "backend-id", "0", "state", "1", "virtual-device", devs, "device-type",
                            "disk", NULL };
    for (;;) {
        CHECK((t = xs_transaction_start(xs)) != XBT_NULL);
        xs_rm(xs, t, lp);
        char k[400];
        snprintf(k, sizeof k, "%s/frontend", lp);
        CHECK(xs_write(xs, t, k, fp, strlen(fp)));
        snprintf(k, sizeof k, "%s/backend", lp);
        CHECK(xs_write(xs, t, k, bp, strlen(bp)));
        xs_rm(xs, t, fp);
        CHECK(xs_mkdir(xs, t, fp));
        CHECK(xs_set_permissions(xs, t, fp, fperm, 2));
        snprintf(k, sizeof k, "%s/backend", fp);
        CHECK(xs_write(xs, t, k, bp, strlen(bp)));
        for (int i = 0; fents[i]; i += 2) {
            snprintf(k, sizeof k, "%s/%s", fp, fents[i]);
            CHECK(xs_write(xs, t, k, fents[i + 1], strlen(fents[i + 1])));
        }
        xs_rm(xs, t, bp);
        CHECK(xs_mkdir(xs, t, bp));
        CHECK(xs_set_permissions(xs, t, bp, bperm, 2));
        snprintf(k, sizeof k, "%s/frontend", bp);
        CHECK(xs_write(xs, t, k, fp, strlen(fp)));
        for (int i = 0; bents[i]; i += 2) {
            snprintf(k, sizeof k, "%s/%s", bp, bents[i]);
            CHECK(xs_write(xs, t, k, bents[i + 1], strlen(bents[i + 1])));
            snprintf(k, sizeof k, "%s/%s", lp, bents[i]);
            CHECK(xs_write(xs, t, k, bents[i + 1], strlen(bents[i + 1])));
        }
        if (xs_transaction_end(xs, t, false))
            break;
        CHECK(errno == EAGAIN);
    }
}

/*  What libxl does after the remove script: the device's nodes go. */
static void libxl_disk_destroy(unsigned fe, unsigned devid)
{
    char p[300];
    be_path(p, sizeof p, fe, devid);
    xs_rm(xs, XBT_NULL, p);
    snprintf(p, sizeof p, "/local/domain/%u/device/vbd/%u", fe, devid);
    xs_rm(xs, XBT_NULL, p);
    snprintf(p, sizeof p, "/libxl/%u/device/vbd/%u", fe, devid);
    xs_rm(xs, XBT_NULL, p);
}

/* ================================================================ block-xsp */

/*  Run `block-xsp ACTION` for backend/vbd/FE/DEVID with libxl's environment (and nothing
    else of ours but XENSTORED_PATH, XSP_SWITCH and, when given, a call timeout).  Returns
    its exit status (128 + signal when killed). */
static int block_xsp(const char *action, unsigned fe, unsigned devid, const char *call_timeout_ms)
{
    char bin[512], xbp[128], xsp_switch[400], xsd[400], cto[64];
    const char *xsdp = getenv("XENSTORED_PATH");
    int status;
    pid_t pid;

    xsp_test_bin("block-xsp", bin, sizeof bin);
    snprintf(xbp, sizeof xbp, "XENBUS_PATH=backend/vbd/%u/%u", fe, devid);
    snprintf(xsp_switch, sizeof xsp_switch, "XSP_SWITCH=%s", sw.endpoint);
    snprintf(xsd, sizeof xsd, "XENSTORED_PATH=%s", xsdp ? xsdp : "");
    snprintf(cto, sizeof cto, "XSP_BLOCK_CALL_TIMEOUT_MS=%s", call_timeout_ms ? call_timeout_ms : "");
    char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "script=/etc/xen/scripts/block-xsp",
                     "XENBUS_TYPE=vbd", xbp, "XENBUS_BASE_PATH=backend", xsd, xsp_switch,
                     call_timeout_ms ? cto : NULL, NULL };
    char *argv[] = { bin, (char *) action, NULL };

    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execve(bin, argv, envp);
        _exit(127);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ================================================================ loop devices */

/*  How many loop devices the file backs; the last one's name into dev. */
static int loops_over(const char *file, char *dev, size_t cap)
{
    DIR *d = opendir("/sys/block");
    struct dirent *e;
    int n = 0;
    CHECK(d != NULL);
    while ((e = readdir(d))) {
        char p[300], buf[4200];
        int fd;
        ssize_t r;
        if (strncmp(e->d_name, "loop", 4) != 0)
            continue;
        snprintf(p, sizeof p, "/sys/block/%s/loop/backing_file", e->d_name);
        if ((fd = open(p, O_RDONLY)) < 0)
            continue;
        r = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (r <= 0)
            continue;
        buf[r] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        if (strcmp(buf, file) == 0) {
            n++;
            if (dev)
                snprintf(dev, cap, "/dev/%.*s", 32, e->d_name);
        }
    }
    closedir(d);
    return n;
}

/*  The volumes: the test plugin's seeded mem://seed/vol-N (data in imgdir), or three
    volumes the file plugin creates in an SR of its own. */
static void make_volumes(void)
{
    if (!use_file) {
        for (int i = 0; i < 3; i++) {
            snprintf(uris[i], sizeof uris[i], "mem://seed/vol-%d", i);
            snprintf(images[i], sizeof images[i], "%s/vol-%d.img", imgdir, i);
        }
        return;
    }
    xsp_client_t *c = client();
    xsp_error_t err = { 0 };
    xsp_string_map_t conf = { 0, NULL }, created = { 0, NULL };
    char sr_uri[600], *sr = NULL;
    snprintf(sr_uri, sizeof sr_uri, "file://%s/sr1", dir);
    xsp_sr_create(c, QUEUE, NULL, "bridge-test", sr_uri, "sr1", "bridge test SR", NULL, NULL, &created, &err);
    CHECK_CODE(err, XSP_OK);
    CHECK(xsp_string_map_set(&conf, "uri", sr_uri) == 0);
    xsp_sr_attach(c, QUEUE, NULL, "bridge-test", &conf, &sr, &err);
    CHECK_CODE(err, XSP_OK);
    for (int i = 0; i < 3; i++) {
        xsp_volume_t v;
        xsp_volume_init(&v);
        xsp_volume_create(c, QUEUE, NULL, "bridge-test", sr, "disk", "", 1u << 20, false, &v, &err);
        CHECK_CODE(err, XSP_OK);
        CHECK(v.uri.len >= 1 && strncmp(v.uri.val[0], "file://", 7) == 0);
        snprintf(uris[i], sizeof uris[i], "%s", v.uri.val[0]);
        snprintf(images[i], sizeof images[i], "%s", v.uri.val[0] + 7);
        xsp_volume_dispose(&v);
    }
    free(sr);
    xsp_string_map_dispose(&conf);
    xsp_string_map_dispose(&created);
    xsp_client_destroy(&c);
}

/*  Everything block-xsp keeps under the backend is gone. */
static void no_record(unsigned fe, unsigned devid)
{
    static const char *nodes[] = { "xsp-stage", "xsp-uri", "xsp-plugin", "xsp-queue", "xsp-domain",
                                   "xsp-loop", "xsp-loop-file", NULL };
    for (int i = 0; nodes[i]; i++)
        CHECK_MSG(be(fe, devid, nodes[i])[0] == '\0', "%s left behind: %s", nodes[i],
                  be(fe, devid, nodes[i]));
}

static void expect_error(unsigned fe, unsigned devid, const char *const *needles)
{
    const char *e = be(fe, devid, "hotplug-error");
    CHECK_STR(be(fe, devid, "hotplug-status"), "error");
    for (int i = 0; needles[i]; i++)
        CHECK_MSG(strstr(e, needles[i]) != NULL, "hotplug-error lacks \"%s\": %s", needles[i], e);
    CHECK(be(fe, devid, "physical-device")[0] == '\0');
}

/*  add for (fe, xvda) of uri succeeds; returns the loop device in dev. */
static void add_ok(unsigned fe, unsigned devid, const char *vdev, int vol, char *dev, size_t cap)
{
    char want[32];
    struct stat st;
    libxl_disk_add(fe, devid, vdev, uris[vol]);
    CHECK_EQ(block_xsp("add", fe, devid, NULL), 0);
    CHECK_STR(be(fe, devid, "hotplug-status"), "connected");
    CHECK_EQ(loops_over(images[vol], dev, cap), 1);
    CHECK(stat(dev, &st) == 0 && S_ISBLK(st.st_mode));
    snprintf(want, sizeof want, "%x:%x", major(st.st_rdev), minor(st.st_rdev));
    CHECK_STR(be(fe, devid, "physical-device"), want);
    CHECK_STR(be(fe, devid, "physical-device-path"), dev);
}

int main(int argc, char **argv)
{
    char dev[64], dev2[64], why[2048], rundir[400];
    const char *img;
    const char *errs[8];

    setvbuf(stdout, NULL, _IONBF, 0);
    use_file = argc > 1 && strcmp(argv[1], "file") == 0;
    if (use_file) {
        QUEUE = "org.xen.xsp.storage.file";
        PLUGIN_NAME = "xsp-plugin-file";
        SCHEME = "file";
    }
    CHECK_MSG(geteuid() == 0, "bridge_e2e needs root (real loop devices)");
    CHECK_MSG(access("/dev/loop-control", R_OK | W_OK) == 0,
              "/dev/loop-control is missing (%s): bridge_e2e needs real loop devices (modprobe loop)",
              strerror(errno));
    atexit(cleanup);
    CHECK(xsp_test_tmpdir(dir, sizeof dir));
    snprintf(imgdir, sizeof imgdir, "%s/images", dir);
    CHECK(mkdir(imgdir, 0700) == 0);
    snprintf(rundir, sizeof rundir, "%s/xs", dir);
    CHECK_MSG(xs_fixture_start(rundir, &xenstored_pid, why, sizeof why) == 0, "xenstored fixture: %s", why);
    CHECK((xs = xs_open(0)) != NULL);
    CHECK(xs_write(xs, XBT_NULL, "/local/domain/0/domid", "0", 1));     /* as xen-init-dom0 */
    CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "200", NULL) == 0);
    start_registrar();
    start_plugin("0");
    make_volumes();
    printf("ok 0 - xenstored, switch, registrar, plugin (%s on %s) up\n", PLUGIN_NAME, QUEUE);

    /* 1. add, check, remove */
    add_ok(5, DEVID_XVDA, "xvda", 0, dev, sizeof dev);
    CHECK_STR(be(5, DEVID_XVDA, "xsp-uri"), uris[0]);
    CHECK_STR(be(5, DEVID_XVDA, "xsp-plugin"), PLUGIN_NAME);
    CHECK_STR(be(5, DEVID_XVDA, "xsp-queue"), QUEUE);
    CHECK_STR(be(5, DEVID_XVDA, "xsp-domain"), "5");
    CHECK_STR(be(5, DEVID_XVDA, "xsp-stage"), "connected");
    /* the test plugin offers a file: block-xsp made the loop device and recorded it; the
       file plugin offers its own loop device (block_device): nothing for block-xsp to undo */
    CHECK_STR(be(5, DEVID_XVDA, "xsp-loop"), use_file ? "" : dev);
    printf("ok 1a - add: connected, physical-device %s = %s\n", be(5, DEVID_XVDA, "physical-device"), dev);
    CHECK_EQ(block_xsp("remove", 5, DEVID_XVDA, NULL), 0);
    img = images[0];
    CHECK_EQ(loops_over(img, NULL, 0), 0);
    no_record(5, DEVID_XVDA);
    libxl_disk_destroy(5, DEVID_XVDA);
    printf("ok 1b - remove: no loop device over %s, no record\n", img);

    /* 2. active elsewhere */
    add_ok(5, DEVID_XVDB, "xvdb", 1, dev, sizeof dev);
    libxl_disk_add(6, DEVID_XVDA, "xvda", uris[1]);
    CHECK_EQ(block_xsp("add", 6, DEVID_XVDA, NULL), 1);
    errs[0] = uris[1], errs[1] = PLUGIN_NAME, errs[2] = "activated-on-another-host",
    errs[3] = "Datapath.activate", errs[4] = "Undone:", errs[5] = NULL;
    expect_error(6, DEVID_XVDA, errs);
    img = images[1];
    CHECK_EQ(loops_over(img, dev2, sizeof dev2), 1);
    CHECK_STR(dev2, dev);                                /* only domain 5's */
    no_record(6, DEVID_XVDA);
    printf("ok 2a - a second domain's add fails: %s\n", be(6, DEVID_XVDA, "hotplug-error"));
    CHECK_EQ(block_xsp("remove", 6, DEVID_XVDA, NULL), 0);   /* libxl removes a failed add */
    libxl_disk_destroy(6, DEVID_XVDA);
    CHECK_STR(be(5, DEVID_XVDB, "hotplug-status"), "connected");
    CHECK_EQ(loops_over(img, NULL, 0), 1);
    CHECK_EQ(block_xsp("remove", 5, DEVID_XVDB, NULL), 0);
    CHECK_EQ(loops_over(img, NULL, 0), 0);
    libxl_disk_destroy(5, DEVID_XVDB);
    printf("ok 2b - the first domain kept its disk until its own remove; no loop device left\n");

    /* 3. unknown scheme */
    libxl_disk_add(7, DEVID_XVDA, "xvda", "nosuch:///srv/x");
    CHECK_EQ(block_xsp("add", 7, DEVID_XVDA, NULL), 1);
    errs[0] = "nosuch:///srv/x", errs[1] = "nosuch", errs[2] = "no running storage plugin", errs[3] = NULL;
    expect_error(7, DEVID_XVDA, errs);
    no_record(7, DEVID_XVDA);
    printf("ok 3 - unknown scheme: %s\n", be(7, DEVID_XVDA, "hotplug-error"));
    CHECK_EQ(block_xsp("remove", 7, DEVID_XVDA, NULL), 0);
    libxl_disk_destroy(7, DEVID_XVDA);

    /* 4. not a URI, and no params */
    libxl_disk_add(7, DEVID_XVDA, "xvda", "/srv/disk.img");
    CHECK_EQ(block_xsp("add", 7, DEVID_XVDA, NULL), 1);
    errs[0] = "'/srv/disk.img' is not a URI", errs[1] = NULL;
    expect_error(7, DEVID_XVDA, errs);
    libxl_disk_destroy(7, DEVID_XVDA);
    libxl_disk_add(7, DEVID_XVDA, "xvda", "");
    CHECK_EQ(block_xsp("add", 7, DEVID_XVDA, NULL), 1);
    errs[0] = "params is empty", errs[1] = "target=", errs[2] = NULL;
    expect_error(7, DEVID_XVDA, errs);
    libxl_disk_destroy(7, DEVID_XVDA);
    printf("ok 4 - a target that is no URI, and an empty one, are refused with a sentence\n");

    /* 5. the plugin restarts between add and remove */
    if (!use_file) {
        add_ok(8, DEVID_XVDA, "xvda", 2, dev, sizeof dev);
        kill_child(&plugin_pid);
        start_plugin("0");
        CHECK_EQ(block_xsp("remove", 8, DEVID_XVDA, NULL), 0);
        img = images[2];
        CHECK_EQ(loops_over(img, NULL, 0), 0);
        no_record(8, DEVID_XVDA);
        libxl_disk_destroy(8, DEVID_XVDA);
        printf("ok 5 - remove after a plugin restart: undone, no loop device\n");
    }

    /* 6. the plugin is gone at remove */
    add_ok(9, DEVID_XVDA, "xvda", 0, dev, sizeof dev);
    kill_child(&plugin_pid);
    CHECK_EQ(block_xsp("remove", 9, DEVID_XVDA, "1500"), 0);
    img = images[0];
    CHECK_EQ(loops_over(img, NULL, 0), 0);
    no_record(9, DEVID_XVDA);
    libxl_disk_destroy(9, DEVID_XVDA);
    printf("ok 6 - remove with the plugin gone: exit 0, no loop device\n");

    /* 7. the plugin is not running at add (the registrar may still list it for a moment:
       then the call times out; either way the disk fails cleanly) */
    libxl_disk_add(10, DEVID_XVDA, "xvda", uris[0]);
    CHECK_EQ(block_xsp("add", 10, DEVID_XVDA, "1500"), 1);
    errs[0] = uris[0], errs[1] = NULL;
    expect_error(10, DEVID_XVDA, errs);
    CHECK_EQ(loops_over(img, NULL, 0), 0);
    printf("ok 7 - add with no plugin running: %s\n", be(10, DEVID_XVDA, "hotplug-error"));
    CHECK_EQ(block_xsp("remove", 10, DEVID_XVDA, "1500"), 0);
    no_record(10, DEVID_XVDA);
    libxl_disk_destroy(10, DEVID_XVDA);

    /* 9. the plugin serves its backends from another domain than libxl's backend= */
    if (!use_file) {
        start_plugin("3");
        libxl_disk_add(11, DEVID_XVDA, "xvda", uris[0]);
        CHECK_EQ(block_xsp("add", 11, DEVID_XVDA, NULL), 1);
        errs[0] = uris[0], errs[1] = "from domain 3", errs[2] = "backend=",
        errs[3] = "Undone: detach, close", errs[4] = NULL;
        expect_error(11, DEVID_XVDA, errs);
        CHECK_EQ(loops_over(img, NULL, 0), 0);
        no_record(11, DEVID_XVDA);
        printf("ok 9 - backend domain mismatch: %s\n", be(11, DEVID_XVDA, "hotplug-error"));
        libxl_disk_destroy(11, DEVID_XVDA);
    }

    /* 10. a hostile plugin: its unsafe attach answer never reaches xenstore or losetup */
    if (!use_file) {
        kill_child(&plugin_pid);            /* the domain-3 plugin of step 9 */
        evil_mode = "path";
        start_plugin("0");
        evil_mode = NULL;
        libxl_disk_add(12, DEVID_XVDA, "xvda", uris[0]);
        CHECK_EQ(block_xsp("add", 12, DEVID_XVDA, NULL), 1);
        errs[0] = uris[0], errs[1] = "Datapath.attach answer was refused",
        errs[2] = "block_device.path has a . or .. component", errs[3] = "Undone: detach, close",
        errs[4] = NULL;
        expect_error(12, DEVID_XVDA, errs);
        CHECK_EQ(loops_over(img, NULL, 0), 0);
        no_record(12, DEVID_XVDA);
        printf("ok 10 - hostile plugin refused: %s\n", be(12, DEVID_XVDA, "hotplug-error"));
        libxl_disk_destroy(12, DEVID_XVDA);
    }

    /* 8. outside libxl */
    {
        char bin[512];
        int status;
        pid_t pid;
        xsp_test_bin("block-xsp", bin, sizeof bin);
        char *envp[] = { "PATH=/usr/bin:/bin", NULL };
        char *argv1[] = { bin, "add", NULL }, *argv2[] = { bin, "frobnicate", NULL };
        if ((pid = fork()) == 0) {
            execve(bin, argv1, envp);
            _exit(127);
        }
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
        CHECK_EQ(WEXITSTATUS(status), 1);
        if ((pid = fork()) == 0) {
            execve(bin, argv2, envp);
            _exit(127);
        }
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
        CHECK_EQ(WEXITSTATUS(status), 2);
    }
    printf("ok 8 - without XENBUS_PATH: exit 1; bad usage: exit 2\n");

    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    return 0;
}

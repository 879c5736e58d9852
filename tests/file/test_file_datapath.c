/*  test_file_datapath.c — the data path of xsp-plugin-file on real loop devices:
    - attach answers the plugin's own domain and block_device /dev/loopN (bound to the
      volume file), xen_disk qdisk (params = the file), file — in that order;
    - attach is idempotent: twice for a domain, and for a second domain, the same device;
      writes through the device land in the file;
    - activate is exclusive: a second domain gets activated-on-another-host whose `host`
      names the holder, until the holder deactivates;
    - the plugin SIGKILLed between activate and deactivate and restarted: the lock is still
      held by the same domain; a device a consumer kept open across the crash is found
      again by its backing file and answered by the next attach;
    - detach never fails, and afterwards no loop device is bound to the file (checked in
      /sys/block/loop* /loop/backing_file); a crash with no consumer leaks no device;
    - a non-persistent open drops every write at close; a persistent one keeps them;
    - a snapshot (read-only volume) is attached read-only;
    - resize of an attached volume grows its loop device;
    - the backend domain follows --backend-domain: own by default (the plugin's --domain,
      e.g. a driver domain), a fixed domid when given; on-demand is refused at start.
    /dev/loop-control missing is a FAILURE with a clear message, not a skip.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filetest.h"

#define MiB (1024ull * 1024)

static char tmp[512], srdir[600], sr[1024];
static xsp_error_t err;

/*  Attach and return the block device path (checked to be bound to path). */
static unsigned own_domid;     /* the backend domain attach must answer */
static xsp_backend_domain_source_t own_source = XSP_BACKEND_DOMAIN_SOURCE_PLUGIN_DOMAIN;

static void attach(const char *uri, const char *path, const char *domain, char *dev, size_t cap)
{
    xsp_backend_t b;
    CHECK_EQ(xsp_datapath_attach(ft_client, FT_QUEUE, &ft_opts, "t", uri, domain, &b, &err), XSP_OK);
    CHECK_EQ(b.domain.domid, own_domid);
    CHECK_EQ(b.domain.source, own_source);
    CHECK_EQ(b.implementations.len, 3);
    CHECK_EQ(b.implementations.val[0].kind, XSP_IMPLEMENTATION_BLOCK_DEVICE);
    CHECK_EQ(b.implementations.val[1].kind, XSP_IMPLEMENTATION_XEN_DISK);
    CHECK_STR(b.implementations.val[1].u.xen_disk.backend_type, "qdisk");
    CHECK_STR(b.implementations.val[1].u.xen_disk.params, path);
    CHECK_EQ(b.implementations.val[2].kind, XSP_IMPLEMENTATION_FILE);
    CHECK_STR(b.implementations.val[2].u.file.path, path);
    snprintf(dev, cap, "%s", b.implementations.val[0].u.block_device.path);
    CHECK_MSG(strncmp(dev, "/dev/loop", 9) == 0, "block device %s", dev);
    CHECK_MSG(ft_loop_bound_to(dev, path), "%s is not bound to %s", dev, path);
    xsp_backend_dispose(&b);
}

static void activate_refused(const char *uri, const char *domain, const char *holder)
{
    xsp_datapath_activate_args_t a = { (char *) "t", (char *) uri, (char *) domain };
    xsp_error_reply_t er;
    xsp_error_reply_init(&er);
    CHECK_EQ(xsp_datapath_activate_args_call(ft_client, FT_QUEUE, &ft_opts, &a, &er, &err),
             XSP_E_ACTIVATED_ON_ANOTHER_HOST);
    CHECK(er.has_detail);
    CHECK_STR(xsp_string_map_get(&er.detail, "host"), holder);
    CHECK_MSG(strstr(err.msg, holder), "%s", err.msg);
    xsp_error_reply_dispose(&er);
}

static uint64_t dev_size(const char *dev)
{
    uint64_t size = 0;
    int fd = open(dev, O_RDONLY);
    CHECK_MSG(fd >= 0, "%s: %s", dev, strerror(errno));
    CHECK(ioctl(fd, BLKGETSIZE64, &size) == 0);
    close(fd);
    return size;
}

int main(void)
{
    CHECK_MSG(access("/dev/loop-control", R_OK | W_OK) == 0,
              "/dev/loop-control is missing or not usable (%s): the data-path tests need loop "
              "devices (root and the loop module)", strerror(errno));
    xsp_test_switch_t sw;
    ft_plugin_t p;
    ft_setup(&sw, &p, tmp, sizeof tmp);
    snprintf(srdir, sizeof srdir, "%s/sr", tmp);
    ft_sr(srdir, sr, sizeof sr);
    char key[256], uri[1024], path[1024], dev[64], dev2[64];
    ft_volume(sr, 4 * MiB, key, sizeof key, uri, sizeof uri);
    snprintf(path, sizeof path, "%s/%s.img", srdir, key);
    static unsigned char a[65536], b[65536], r[65536];
    ft_pattern(a, sizeof a, 1);
    ft_pattern(b, sizeof b, 2);

    /* ---- persistent open, attach twice and for a second domain: one device */
    CHECK_EQ(xsp_datapath_open(ft_client, FT_QUEUE, &ft_opts, "t", uri, true, &err), XSP_OK);
    attach(uri, path, "5", dev, sizeof dev);
    attach(uri, path, "5", dev2, sizeof dev2);
    CHECK_STR(dev2, dev);
    attach(uri, path, "7", dev2, sizeof dev2);
    CHECK_STR(dev2, dev);
    CHECK_EQ(ft_loops_for(path), 1);
    ft_pwrite(dev, a, sizeof a, 0);                 /* through the device ... */
    ft_pread(path, r, sizeof r, 0);                 /* ... into the file */
    CHECK(memcmp(r, a, sizeof r) == 0);

    /* ---- activate is exclusive */
    CHECK_EQ(xsp_datapath_activate(ft_client, FT_QUEUE, &ft_opts, "t", uri, "5", &err), XSP_OK);
    CHECK_EQ(xsp_datapath_activate(ft_client, FT_QUEUE, &ft_opts, "t", uri, "5", &err), XSP_OK);
    activate_refused(uri, "7", "5");
    /* a volume in use cannot be destroyed */
    CHECK_EQ(xsp_volume_destroy(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, &err), XSP_E_BACKEND_FAILURE);

    /* ---- crash between activate and deactivate, while a consumer holds the device */
    int consumer = open(dev, O_RDONLY | O_CLOEXEC);     /* (not inherited by the plugin) */
    CHECK(consumer >= 0);
    ft_plugin_kill(&p);
    CHECK_MSG(ft_loop_bound_to(dev, path), "%s vanished while a consumer had it open", dev);
    ft_plugin_start(&p);
    activate_refused(uri, "7", "5");                /* the lock survived */
    attach(uri, path, "7", dev2, sizeof dev2);      /* found again by its backing file */
    CHECK_STR(dev2, dev);
    CHECK_EQ(ft_loops_for(path), 1);
    close(consumer);
    CHECK_EQ(ft_loops_for(path), 1);                /* the plugin holds it again */

    /* ---- Plugin.diagnostics shows the held device */
    char *diag = NULL;
    CHECK_EQ(xsp_plugin_diagnostics(ft_client, FT_QUEUE, &ft_opts, "t", &diag, &err), XSP_OK);
    char line[200];
    snprintf(line, sizeof line, "loop: %s ", dev);
    CHECK_MSG(strstr(diag, line) && strstr(diag, sr), "%s", diag);
    free(diag);

    /* ---- SR.detach with a volume attached releases its device; SR.attach binds it again */
    CHECK_EQ(xsp_sr_detach(ft_client, FT_QUEUE, &ft_opts, "t", sr, &err), XSP_OK);
    CHECK_EQ(ft_loops_for(path), 0);
    xsp_string_map_t conf = { 0, NULL };
    char *k = NULL;
    CHECK_EQ(xsp_string_map_set(&conf, "uri", sr), 0);
    CHECK_EQ(xsp_sr_attach(ft_client, FT_QUEUE, &ft_opts, "t", &conf, &k, &err), XSP_OK);
    free(k);
    xsp_string_map_dispose(&conf);
    CHECK_EQ(ft_loops_for(path), 1);
    attach(uri, path, "7", dev, sizeof dev);
    activate_refused(uri, "7", "5");

    /* ---- resize while attached: the device grows */
    CHECK_EQ(dev_size(dev), 4 * MiB);
    CHECK_EQ(xsp_volume_resize(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, 6 * MiB, &err), XSP_OK);
    CHECK_EQ(dev_size(dev), 6 * MiB);

    /* ---- the holder deactivates: the other domain may activate */
    CHECK_EQ(xsp_datapath_deactivate(ft_client, FT_QUEUE, &ft_opts, "t", uri, "7", &err), XSP_OK); /* not the holder: no-op */
    activate_refused(uri, "7", "5");
    CHECK_EQ(xsp_datapath_deactivate(ft_client, FT_QUEUE, &ft_opts, "t", uri, "5", &err), XSP_OK);
    CHECK_EQ(xsp_datapath_activate(ft_client, FT_QUEUE, &ft_opts, "t", uri, "7", &err), XSP_OK);
    activate_refused(uri, "5", "7");
    CHECK_EQ(xsp_datapath_deactivate(ft_client, FT_QUEUE, &ft_opts, "t", uri, "7", &err), XSP_OK);

    /* ---- detach: the device stays while a domain is attached, goes with the last one */
    CHECK_EQ(xsp_datapath_detach(ft_client, FT_QUEUE, &ft_opts, "t", uri, "5", &err), XSP_OK);
    CHECK_EQ(ft_loops_for(path), 1);
    CHECK_EQ(xsp_datapath_detach(ft_client, FT_QUEUE, &ft_opts, "t", uri, "7", &err), XSP_OK);
    CHECK_EQ(ft_loops_for(path), 0);
    CHECK_EQ(xsp_datapath_detach(ft_client, FT_QUEUE, &ft_opts, "t", uri, "7", &err), XSP_OK); /* never fails */
    CHECK_EQ(xsp_datapath_close(ft_client, FT_QUEUE, &ft_opts, "t", uri, &err), XSP_OK);
    ft_pread(path, r, sizeof r, 0);                 /* persistent: the writes stayed */
    CHECK(memcmp(r, a, sizeof r) == 0);

    /* ---- a crash while attached with no consumer leaks no device; detach after the
       restart cleans up */
    attach(uri, path, "9", dev, sizeof dev);
    ft_plugin_kill(&p);
    CHECK_EQ(ft_loops_settle(path, 0), 0);          /* autoclear: nobody held it */
    ft_plugin_start(&p);
    attach(uri, path, "9", dev, sizeof dev);        /* still attached: bound again */
    CHECK_EQ(ft_loops_for(path), 1);
    CHECK_EQ(xsp_datapath_detach(ft_client, FT_QUEUE, &ft_opts, "t", uri, "9", &err), XSP_OK);
    CHECK_EQ(ft_loops_for(path), 0);

    /* ---- non-persistent: writes through the device are dropped at close */
    CHECK_EQ(xsp_datapath_open(ft_client, FT_QUEUE, &ft_opts, "t", uri, false, &err), XSP_OK);
    attach(uri, path, "11", dev, sizeof dev);
    CHECK_EQ(xsp_datapath_activate(ft_client, FT_QUEUE, &ft_opts, "t", uri, "11", &err), XSP_OK);
    ft_pwrite(dev, b, sizeof b, 0);
    ft_pwrite(dev, b, sizeof b, (off_t) (5 * MiB));
    ft_pread(path, r, sizeof r, 0);
    CHECK(memcmp(r, b, sizeof r) == 0);             /* visible while open */
    /* the reset survives a crash too */
    ft_plugin_kill(&p);
    ft_plugin_start(&p);
    CHECK_EQ(xsp_datapath_deactivate(ft_client, FT_QUEUE, &ft_opts, "t", uri, "11", &err), XSP_OK);
    CHECK_EQ(xsp_datapath_detach(ft_client, FT_QUEUE, &ft_opts, "t", uri, "11", &err), XSP_OK);
    CHECK_EQ(ft_loops_for(path), 0);
    CHECK_EQ(xsp_datapath_close(ft_client, FT_QUEUE, &ft_opts, "t", uri, &err), XSP_OK);
    ft_pread(path, r, sizeof r, 0);
    CHECK_MSG(memcmp(r, a, sizeof r) == 0, "non-persistent writes survived close");
    ft_pread(path, r, sizeof r, (off_t) (5 * MiB));
    static const unsigned char zero[65536];
    CHECK(memcmp(r, zero, sizeof r) == 0);
    char reset[1200];
    snprintf(reset, sizeof reset, "%s/.xsp/reset/%s.img", srdir, key);
    CHECK(access(reset, F_OK) != 0);                /* the pristine copy is consumed */

    /* ---- a snapshot attaches read-only */
    xsp_volume_t s;
    CHECK_EQ(xsp_volume_snapshot(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, &s, &err), XSP_OK);
    char spath[1024];
    snprintf(spath, sizeof spath, "%s/%s.img", srdir, s.key);
    attach(s.uri.val[0], spath, "5", dev, sizeof dev);
    int ro = 0, dfd = open(dev, O_RDONLY);
    CHECK(dfd >= 0 && ioctl(dfd, BLKROGET, &ro) == 0);
    close(dfd);
    CHECK_MSG(ro == 1, "%s of a snapshot is writable", dev);
    CHECK_EQ(xsp_datapath_detach(ft_client, FT_QUEUE, &ft_opts, "t", s.uri.val[0], "5", &err), XSP_OK);
    CHECK_EQ(ft_loops_for(spath), 0);
    xsp_volume_dispose(&s);

    /* ---- a plugin running in another domain (a driver domain) serves backends there */
    CHECK_EQ(ft_plugin_stop(&p), 0);
    p.extra[0] = "--domain";
    p.extra[1] = "3";
    ft_plugin_start(&p);
    own_domid = 3;
    attach(uri, path, "5", dev, sizeof dev);
    CHECK_EQ(xsp_datapath_detach(ft_client, FT_QUEUE, &ft_opts, "t", uri, "5", &err), XSP_OK);
    CHECK_EQ(ft_loops_for(path), 0);

    /* ---- --backend-domain N: a fixed backend domain; on-demand is refused at start */
    CHECK_EQ(ft_plugin_stop(&p), 0);
    p.extra[0] = "--backend-domain";
    p.extra[1] = "on-demand";
    ft_plugin_start(&p);
    CHECK_EQ(ft_plugin_wait(&p), 1);
    p.extra[1] = "4";
    ft_plugin_start(&p);
    own_domid = 4;
    own_source = XSP_BACKEND_DOMAIN_SOURCE_FIXED;
    attach(uri, path, "5", dev, sizeof dev);
    CHECK_EQ(xsp_datapath_detach(ft_client, FT_QUEUE, &ft_opts, "t", uri, "5", &err), XSP_OK);
    CHECK_EQ(ft_loops_for(path), 0);

    /* ---- idle again: the volume can go; no state is left */
    CHECK_EQ(xsp_volume_destroy(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, &err), XSP_OK);
    char st[1200];
    snprintf(st, sizeof st, "%s/.xsp/datapath/%s", srdir, key);
    CHECK(access(st, F_OK) != 0);

    xsp_client_destroy(&ft_client);
    CHECK_EQ(ft_plugin_stop(&p), 0);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

/*  test_file_reflink.c — clone, snapshot and the non-persistent reset copy of
    xsp-plugin-file share extents (FICLONE) on a filesystem that can: an XFS image with
    reflink=1, made with mkfs.xfs and loop-mounted in a temporary directory.  Checked with
    FIEMAP (FIEMAP_EXTENT_SHARED) and by content; the sparse-copy path is covered on the
    build filesystem by file_sr_volume.  mkfs.xfs (xfsprogs, scripts/deps.sh) missing is a
    FAILURE with a clear message.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filetest.h"

#define MiB (1024ull * 1024)

static char tmp[512], mnt[600], srdir[700], sr[1024];
static bool mounted;
static xsp_error_t err;

static void unmount(void)
{
    if (mounted && umount2(mnt, MNT_DETACH) == 0)
        mounted = false;
}

/*  Does the file have at least one extent shared with another file? */
static bool shared(const char *path)
{
    int fd = open(path, O_RDONLY);
    CHECK_MSG(fd >= 0, "%s: %s", path, strerror(errno));
    size_t n = 64;
    struct fiemap *fm = calloc(1, sizeof *fm + n * sizeof(struct fiemap_extent));
    CHECK(fm);
    fm->fm_length = FIEMAP_MAX_OFFSET;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = (unsigned) n;
    CHECK_MSG(ioctl(fd, FS_IOC_FIEMAP, fm) == 0, "FIEMAP %s: %s", path, strerror(errno));
    bool any = false;
    for (unsigned i = 0; i < fm->fm_mapped_extents; i++)
        any |= (fm->fm_extents[i].fe_flags & FIEMAP_EXTENT_SHARED) != 0;
    free(fm);
    close(fd);
    return any;
}

int main(void)
{
    CHECK_MSG(system("command -v mkfs.xfs >/dev/null") == 0,
              "mkfs.xfs is missing: install xfsprogs (scripts/deps.sh) to test reflinks");
    CHECK_MSG(access("/dev/loop-control", R_OK | W_OK) == 0, "/dev/loop-control is missing: %s", strerror(errno));
    xsp_test_switch_t sw;
    ft_plugin_t p;
    ft_setup(&sw, &p, tmp, sizeof tmp);
    char cmd[4096];
    snprintf(mnt, sizeof mnt, "%s/mnt", tmp);
    CHECK(mkdir(mnt, 0700) == 0);
    snprintf(cmd, sizeof cmd, "truncate -s 320M %s/xfs.img && mkfs.xfs -q -m reflink=1 %s/xfs.img && "
             "mount -o loop %s/xfs.img %s", tmp, tmp, tmp, mnt);
    CHECK_MSG(system(cmd) == 0, "cannot make and mount an XFS image: %s", cmd);
    mounted = true;
    atexit(unmount);
    snprintf(srdir, sizeof srdir, "%s/sr", mnt);
    ft_sr(srdir, sr, sizeof sr);

    char key[256], uri[1024], path[1024], cpath[1024], spath[1024], dev[64];
    ft_volume(sr, 8 * MiB, key, sizeof key, uri, sizeof uri);
    snprintf(path, sizeof path, "%s/%s.img", srdir, key);
    static unsigned char a[MiB], b[65536], r[MiB];
    ft_pattern(a, sizeof a, 3);
    ft_pattern(b, sizeof b, 4);
    ft_pwrite(path, a, sizeof a, (off_t) MiB);
    CHECK(!shared(path));

    /* clone and snapshot: reflinks */
    xsp_volume_t c, s;
    CHECK_EQ(xsp_volume_clone(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, &c, &err), XSP_OK);
    CHECK_EQ(xsp_volume_snapshot(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, &s, &err), XSP_OK);
    snprintf(cpath, sizeof cpath, "%s/%s.img", srdir, c.key);
    snprintf(spath, sizeof spath, "%s/%s.img", srdir, s.key);
    CHECK_MSG(shared(cpath) && shared(spath) && shared(path), "clone/snapshot do not share extents");
    CHECK(ft_same_content(path, cpath) && ft_same_content(path, spath));
    CHECK_EQ(c.virtual_size, 8 * MiB);
    ft_pwrite(cpath, b, sizeof b, (off_t) MiB);     /* copy on write: the source keeps its data */
    ft_pread(path, r, sizeof r, (off_t) MiB);
    CHECK(memcmp(r, a, sizeof r) == 0);

    /* non-persistent open: the pristine copy is a reflink, and close restores it */
    CHECK_EQ(xsp_datapath_open(ft_client, FT_QUEUE, &ft_opts, "t", uri, false, &err), XSP_OK);
    char reset[1200];
    snprintf(reset, sizeof reset, "%s/.xsp/reset/%s.img", srdir, key);
    CHECK_MSG(shared(reset), "the pristine copy is not a reflink");
    xsp_backend_t be;
    CHECK_EQ(xsp_datapath_attach(ft_client, FT_QUEUE, &ft_opts, "t", uri, "5", &be, &err), XSP_OK);
    snprintf(dev, sizeof dev, "%s", be.implementations.val[0].u.block_device.path);
    xsp_backend_dispose(&be);
    ft_pwrite(dev, b, sizeof b, (off_t) MiB);
    ft_pread(path, r, sizeof b, (off_t) MiB);
    CHECK(memcmp(r, b, sizeof b) == 0);
    CHECK_EQ(xsp_datapath_detach(ft_client, FT_QUEUE, &ft_opts, "t", uri, "5", &err), XSP_OK);
    CHECK_EQ(ft_loops_for(path), 0);
    CHECK_EQ(xsp_datapath_close(ft_client, FT_QUEUE, &ft_opts, "t", uri, &err), XSP_OK);
    ft_pread(path, r, sizeof r, (off_t) MiB);
    CHECK_MSG(memcmp(r, a, sizeof r) == 0, "non-persistent writes survived close");

    xsp_volume_dispose(&c);
    xsp_volume_dispose(&s);
    xsp_client_destroy(&ft_client);
    CHECK_EQ(ft_plugin_stop(&p), 0);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    CHECK_EQ(umount(mnt), 0);
    mounted = false;
    puts("ok");
    return 0;
}

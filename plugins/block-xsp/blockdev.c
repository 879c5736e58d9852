/*  blockdev.c — pick the implementation blkback can use (contract in blockdev.h).

    Owns: nothing (pure choice plus a stat).
    Never touches: loop devices, xenstore, the switch.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "blockdev.h"

int bx_blockdev_choose(const xsp_backend_t *b, bx_choice_t *out, char *why, size_t cap)
{
    char offered[1024] = "";
    size_t n = 0;

    for (size_t i = 0; i < b->implementations.len; i++) {
        const xsp_implementation_t *im = &b->implementations.val[i];
        if (im->kind == XSP_IMPLEMENTATION_BLOCK_DEVICE && im->u.block_device.path &&
            im->u.block_device.path[0] == '/') {
            out->kind = BX_DEV_BLOCK;
            out->path = im->u.block_device.path;
            return 0;
        }
        if (im->kind == XSP_IMPLEMENTATION_FILE && im->u.file.path && im->u.file.path[0] == '/') {
            out->kind = BX_DEV_FILE;
            out->path = im->u.file.path;
            return 0;
        }
        if (n < sizeof offered) {
            int w;
            if (im->kind == XSP_IMPLEMENTATION_XEN_DISK)
                w = snprintf(offered + n, sizeof offered - n, "%sxen_disk(%s)", n ? ", " : "",
                             im->u.xen_disk.backend_type ? im->u.xen_disk.backend_type : "");
            else
                w = snprintf(offered + n, sizeof offered - n, "%s%s%s", n ? ", " : "",
                             xsp_implementation_kind_to_string(im->kind),
                             im->kind == XSP_IMPLEMENTATION_NBD ? "" : " with a relative path");
            if (w > 0)
                n += (size_t) w;
        }
    }
    snprintf(why, cap, "the plugin offered %s; block-xsp needs a block_device or a file (absolute "
             "path) in the backend domain: use a qdisk or native disk spec for the others",
             n ? offered : "no implementation at all");
    return -1;
}

int bx_blockdev_numbers(const char *path, unsigned *major_out, unsigned *minor_out, char *why, size_t cap)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, cap, "block device %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISBLK(st.st_mode)) {
        snprintf(why, cap, "%s is not a block device", path);
        return -1;
    }
    *major_out = major(st.st_rdev);
    *minor_out = minor(st.st_rdev);
    return 0;
}

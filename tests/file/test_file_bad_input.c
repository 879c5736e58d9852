/*  test_file_bad_input.c — hostile input to xsp-plugin-file: malformed SR keys and URIs,
    '..' and %-encoded tricks, volume keys that are paths, URIs outside every attached SR,
    symlinks planted in the SR (for a data file, a record, the .xsp directory, the SR
    directory itself) pointing outside it, FIFOs planted as files, bad domains.  Each is refused with
    invalid-argument and a sentence, and the files outside the SR are never touched
    (same bytes, same mtime, no loop device on them, nothing created next to them).
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filetest.h"

#define MiB (1024ull * 1024)

static char tmp[512], srdir[600], sr[1024], outside[600], canary[700];
static unsigned char pattern[8192];
static struct stat canary_st;
static xsp_error_t err;

static void canary_intact(int line)
{
    struct stat st;
    static unsigned char now[sizeof pattern];
    CHECK_MSG(stat(canary, &st) == 0, "line %d: canary gone", line);
    CHECK_MSG(st.st_size == canary_st.st_size && st.st_mtim.tv_sec == canary_st.st_mtim.tv_sec &&
                  st.st_mtim.tv_nsec == canary_st.st_mtim.tv_nsec && st.st_ino == canary_st.st_ino,
              "line %d: the file outside the SR was modified", line);
    ft_pread(canary, now, sizeof now, 0);
    CHECK_MSG(memcmp(now, pattern, sizeof now) == 0, "line %d: canary content changed", line);
    CHECK_MSG(ft_loops_for(canary) == 0, "line %d: a loop device on the file outside the SR", line);
    char x[800];
    snprintf(x, sizeof x, "%s/.xsp", outside);
    CHECK_MSG(access(x, F_OK) != 0, "line %d: something made %s", line, x);
    snprintf(x, sizeof x, "%s/volumes", outside);
    CHECK_MSG(access(x, F_OK) != 0, "line %d: something made %s", line, x);
}
#define INTACT() canary_intact(__LINE__)

#define BAD(call)                                                                          \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        CHECK_MSG(rc_ == XSP_E_INVALID_ARGUMENT, "%s: got %s (%s)", #call, xsp_code_name(rc_), err.msg); \
        CHECK_MSG(strlen(err.msg) > 10, "%s: no sentence", #call);                         \
    } while (0)

int main(void)
{
    xsp_test_switch_t sw;
    ft_plugin_t p;
    ft_setup(&sw, &p, tmp, sizeof tmp);
    snprintf(srdir, sizeof srdir, "%s/sr", tmp);
    snprintf(outside, sizeof outside, "%s/outside", tmp);
    snprintf(canary, sizeof canary, "%s/canary.img", outside);
    CHECK(mkdir(outside, 0700) == 0);
    ft_pattern(pattern, sizeof pattern, 7);
    int fd = open(canary, O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0 && write(fd, pattern, sizeof pattern) == (ssize_t) sizeof pattern);
    close(fd);
    CHECK(stat(canary, &canary_st) == 0);
    ft_sr(srdir, sr, sizeof sr);
    char key[256], uri[1024], path[1024], u[2048];
    ft_volume(sr, MiB, key, sizeof key, uri, sizeof uri);
    snprintf(path, sizeof path, "%s/%s.img", srdir, key);
    xsp_volume_t v;
    xsp_backend_t b;
    xsp_sr_stat_t ss;
    xsp_string_map_t conf = { 0, NULL }, out = { 0, NULL };
    char *k = NULL;

    /* malformed SR keys */
    const char *bad_srs[] = { "nfs://host/x", "file://relative/dir", "file:///a/../b", "/no/scheme",
                              "file:///%2e%2e/etc", "file:///x%00y", "file:///x%zz", "", NULL };
    for (int i = 0; bad_srs[i]; i++) {
        BAD(xsp_sr_stat(ft_client, FT_QUEUE, &ft_opts, "t", bad_srs[i], &ss, &err));
        BAD(xsp_volume_create(ft_client, FT_QUEUE, &ft_opts, "t", bad_srs[i], "x", "", MiB, false, &v, &err));
    }
    /* a dotted path to the real SR is not its key either */
    snprintf(u, sizeof u, "file://%s/../sr", srdir);
    BAD(xsp_volume_stat(ft_client, FT_QUEUE, &ft_opts, "t", u, key, &v, &err));
    CHECK_MSG(strstr(err.msg, ".."), "%s", err.msg);

    /* SR.probe of a directory without an SR: a place to create one */
    xsp_probe_result_list_t pr = { 0, NULL };
    snprintf(u, sizeof u, "file://%s", outside);
    CHECK_EQ(xsp_string_map_set(&conf, "uri", u), 0);
    CHECK_EQ(xsp_sr_probe(ft_client, FT_QUEUE, &ft_opts, "t", &conf, &pr, &err), XSP_OK);
    CHECK_EQ(pr.len, 1);
    CHECK(!pr.val[0].has_sr);
    xsp_probe_result_list_dispose(&pr);
    xsp_string_map_dispose(&conf);
    snprintf(u, sizeof u, "file://%s/../x", outside);
    CHECK_EQ(xsp_string_map_set(&conf, "uri", u), 0);
    BAD(xsp_sr_probe(ft_client, FT_QUEUE, &ft_opts, "t", &conf, &pr, &err));
    xsp_string_map_dispose(&conf);
    INTACT();

    /* SR.create: '..', a missing parent, a symlink leading out */
    snprintf(u, sizeof u, "file://%s/../outside/new", srdir);
    BAD(xsp_sr_create(ft_client, FT_QUEUE, &ft_opts, "t", u, "x", "", &conf, NULL, &out, &err));
    snprintf(u, sizeof u, "file://%s/no/such/parent", tmp);
    BAD(xsp_sr_create(ft_client, FT_QUEUE, &ft_opts, "t", u, "x", "", &conf, NULL, &out, &err));
    char link[800];
    snprintf(link, sizeof link, "%s/evil-sr", tmp);
    CHECK(symlink(outside, link) == 0);
    snprintf(u, sizeof u, "file://%s", link);
    BAD(xsp_sr_create(ft_client, FT_QUEUE, &ft_opts, "t", u, "x", "", &conf, NULL, &out, &err));
    CHECK_EQ(xsp_string_map_set(&conf, "uri", u), 0);
    CHECK(xsp_sr_attach(ft_client, FT_QUEUE, &ft_opts, "t", &conf, &k, &err) != XSP_OK);
    xsp_string_map_dispose(&conf);
    INTACT();

    /* an SR whose .xsp is a symlink to a directory outside (that looks like an SR) */
    char sr2[800], x[1200];
    snprintf(sr2, sizeof sr2, "%s/sr2", tmp);
    CHECK(mkdir(sr2, 0700) == 0);
    snprintf(x, sizeof x, "%s/.xsp", sr2);
    CHECK(symlink(outside, x) == 0);
    snprintf(x, sizeof x, "%s/sr", outside);
    CHECK(symlinkat("canary.img", AT_FDCWD, x) == 0 || errno == EEXIST);
    snprintf(u, sizeof u, "file://%s", sr2);
    CHECK_EQ(xsp_string_map_set(&conf, "uri", u), 0);
    BAD(xsp_sr_attach(ft_client, FT_QUEUE, &ft_opts, "t", &conf, &k, &err));
    xsp_string_map_dispose(&conf);
    unlink(x);
    INTACT();

    /* volume keys that are paths */
    const char *bad_keys[] = { "../outside/canary", "a/b", ".xsp", "..", ".", "", "x y", "k\n", NULL };
    for (int i = 0; bad_keys[i]; i++) {
        BAD(xsp_volume_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, bad_keys[i], &v, &err));
        BAD(xsp_volume_resize(ft_client, FT_QUEUE, &ft_opts, "t", sr, bad_keys[i], 2 * MiB, &err));
        BAD(xsp_volume_destroy(ft_client, FT_QUEUE, &ft_opts, "t", sr, bad_keys[i], &err));
        BAD(xsp_volume_clone(ft_client, FT_QUEUE, &ft_opts, "t", sr, bad_keys[i], &v, &err));
        BAD(xsp_volume_set(ft_client, FT_QUEUE, &ft_opts, "t", sr, bad_keys[i], "k", "v", &err));
    }
    INTACT();

    /* data-path URIs outside every attached SR, or not naming volume data */
    const char *fmt_uris[] = { "file://%s/../outside/canary.img", "file://%s/.xsp/sr", "file://%s/sub/x.img",
                               "file://%s/.hidden.img", "file://%s", "http://%s/x.img", NULL };
    for (int i = 0; fmt_uris[i]; i++) {
        snprintf(u, sizeof u, fmt_uris[i], srdir);
        BAD(xsp_datapath_open(ft_client, FT_QUEUE, &ft_opts, "t", u, false, &err));
        BAD(xsp_datapath_attach(ft_client, FT_QUEUE, &ft_opts, "t", u, "5", &b, &err));
        BAD(xsp_datapath_activate(ft_client, FT_QUEUE, &ft_opts, "t", u, "5", &err));
        BAD(xsp_datapath_detach(ft_client, FT_QUEUE, &ft_opts, "t", u, "5", &err));
        BAD(xsp_datapath_close(ft_client, FT_QUEUE, &ft_opts, "t", u, &err));
    }
    snprintf(u, sizeof u, "file://%s", canary);
    BAD(xsp_datapath_attach(ft_client, FT_QUEUE, &ft_opts, "t", u, "5", &b, &err));
    CHECK_MSG(strstr(err.msg, "not in any attached SR"), "%s", err.msg);
    /* a well-formed URI in the SR with no volume behind it */
    snprintf(u, sizeof u, "file://%s/no-such-volume.img", srdir);
    CHECK_EQ(xsp_datapath_attach(ft_client, FT_QUEUE, &ft_opts, "t", u, "5", &b, &err), XSP_E_VOLUME_DOES_NOT_EXIST);
    CHECK_EQ(xsp_datapath_open(ft_client, FT_QUEUE, &ft_opts, "t", u, true, &err), XSP_E_VOLUME_DOES_NOT_EXIST);
    INTACT();

    /* bad domains */
    const char *bad_domains[] = { "", "a b", "5\n", "\t", NULL };   /* (> 256 bytes: the IDL's decode limit) */
    for (int i = 0; bad_domains[i]; i++) {
        BAD(xsp_datapath_attach(ft_client, FT_QUEUE, &ft_opts, "t", uri, bad_domains[i], &b, &err));
        BAD(xsp_datapath_activate(ft_client, FT_QUEUE, &ft_opts, "t", uri, bad_domains[i], &err));
    }
    CHECK_EQ(ft_loops_for(path), 0);

    /* the volume's data file replaced by a symlink to the file outside */
    char moved[1100];
    snprintf(moved, sizeof moved, "%s.moved", path);
    CHECK(rename(path, moved) == 0);
    CHECK(symlink(canary, path) == 0);
    BAD(xsp_volume_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, &v, &err));
    CHECK_MSG(strstr(err.msg, "symlink"), "%s", err.msg);
    BAD(xsp_volume_resize(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, 64 * MiB, &err));
    BAD(xsp_volume_clone(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, &v, &err));
    BAD(xsp_volume_snapshot(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, &v, &err));
    BAD(xsp_volume_set_name(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, "x", &err));
    BAD(xsp_datapath_open(ft_client, FT_QUEUE, &ft_opts, "t", uri, false, &err));
    BAD(xsp_datapath_attach(ft_client, FT_QUEUE, &ft_opts, "t", uri, "5", &b, &err));
    INTACT();
    /* SR.ls leaves it out rather than reading through it */
    xsp_volume_list_t vl = { 0, NULL };
    CHECK_EQ(xsp_sr_ls(ft_client, FT_QUEUE, &ft_opts, "t", sr, &vl, &err), XSP_OK);
    CHECK_EQ(vl.len, 0);
    xsp_volume_list_dispose(&vl);
    /* destroying it removes the link, not its target */
    CHECK_EQ(xsp_volume_destroy(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, &err), XSP_OK);
    CHECK(access(path, F_OK) != 0 && errno == ENOENT);
    unlink(moved);
    INTACT();

    /* a volume record that is a symlink to a file outside */
    ft_volume(sr, MiB, key, sizeof key, uri, sizeof uri);
    snprintf(x, sizeof x, "%s/.xsp/volumes/%s", srdir, key);
    CHECK(unlink(x) == 0);
    CHECK(symlink(canary, x) == 0);
    BAD(xsp_volume_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, &v, &err));
    BAD(xsp_volume_set(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, "k", "v", &err));
    BAD(xsp_datapath_attach(ft_client, FT_QUEUE, &ft_opts, "t", uri, "5", &b, &err));
    INTACT();

    /* a corrupt record: backend-failure saying so; SR.ls leaves the volume out */
    char okkey[256], okuri[1024];
    ft_volume(sr, MiB, okkey, sizeof okkey, okuri, sizeof okuri);
    ft_volume(sr, MiB, key, sizeof key, uri, sizeof uri);
    snprintf(x, sizeof x, "%s/.xsp/volumes/%s", srdir, key);
    fd = open(x, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0 && write(fd, "\x93garbage", 8) == 8);
    close(fd);
    CHECK_EQ(xsp_volume_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, &v, &err), XSP_E_BACKEND_FAILURE);
    CHECK_MSG(strstr(err.msg, "corrupt"), "%s", err.msg);
    CHECK_EQ(xsp_sr_ls(ft_client, FT_QUEUE, &ft_opts, "t", sr, &vl, &err), XSP_OK);
    CHECK_EQ(vl.len, 1);
    CHECK_STR(vl.val[0].key, okkey);
    xsp_volume_list_dispose(&vl);
    CHECK_EQ(xsp_volume_destroy(ft_client, FT_QUEUE, &ft_opts, "t", sr, okkey, &err), XSP_OK);

    /* FIFOs planted as a record and as a data file: refused at once, nothing blocks */
    ft_volume(sr, MiB, key, sizeof key, uri, sizeof uri);
    snprintf(x, sizeof x, "%s/%s.img", srdir, key);
    CHECK(unlink(x) == 0 && mkfifo(x, 0600) == 0);
    BAD(xsp_volume_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, &v, &err));
    CHECK_MSG(strstr(err.msg, "not a regular file"), "%s", err.msg);
    BAD(xsp_datapath_open(ft_client, FT_QUEUE, &ft_opts, "t", uri, false, &err));
    BAD(xsp_datapath_attach(ft_client, FT_QUEUE, &ft_opts, "t", uri, "5", &b, &err));
    snprintf(x, sizeof x, "%s/.xsp/volumes/%s", srdir, key);
    CHECK(unlink(x) == 0 && mkfifo(x, 0600) == 0);
    BAD(xsp_volume_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, key, &v, &err));
    CHECK_MSG(strstr(err.msg, "not a regular file"), "%s", err.msg);
    INTACT();

    /* the SR directory itself swapped for a symlink after attach: the held directory fd
       keeps every call on the original directory (renamed away), never the new target */
    char away[800];
    snprintf(away, sizeof away, "%s/sr-away", tmp);
    CHECK(rename(srdir, away) == 0);
    CHECK(symlink(outside, srdir) == 0);
    ft_volume(sr, MiB, key, sizeof key, uri, sizeof uri);
    snprintf(x, sizeof x, "%s/%s.img", away, key);
    CHECK_MSG(access(x, F_OK) == 0, "the volume was not made in the attached SR directory");
    INTACT();

    xsp_client_destroy(&ft_client);
    CHECK_EQ(ft_plugin_stop(&p), 0);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

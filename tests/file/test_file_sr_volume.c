/*  test_file_sr_volume.c — every SR and Volume method of xsp-plugin-file through a real
    switch, with their error paths: SR create/probe/attach/stat/set_name/set_description/ls/detach/destroy,
    volume create/stat/set_name/set_description/set/unset/clone/snapshot/resize/destroy; clone and snapshot
    hold the same bytes and stay sparse; shrinking is refused; the records survive a
    SIGKILL of the plugin and its restart (attached SRs come back from --state-dir).
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

static char tmp[512], srdir[600], sr[1024];
static xsp_error_t err;

static void data_path(const char *key, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s.img", srdir, key);
}

static bool in_list(const xsp_string_list_t *l, const char *s)
{
    for (size_t i = 0; i < l->len; i++)
        if (strcmp(l->val[i], s) == 0)
            return true;
    return false;
}

int main(void)
{
    xsp_test_switch_t sw;
    ft_plugin_t p;
    ft_setup(&sw, &p, tmp, sizeof tmp);
    snprintf(srdir, sizeof srdir, "%s/sr1", tmp);
    char uri[1024];
    snprintf(uri, sizeof uri, "file://%s", srdir);

    /* Plugin.query */
    xsp_plugin_info_t info;
    CHECK_EQ(xsp_plugin_query(ft_client, FT_QUEUE, &ft_opts, "t", &info, &err), XSP_OK);
    CHECK_STR(info.plugin, "file");
    CHECK(xsp_string_map_get(&info.configuration, "uri"));
    xsp_plugin_info_dispose(&info);

    /* SR.probe where nothing is yet: a place to create one */
    xsp_string_map_t conf = { 0, NULL }, out = { 0, NULL };
    xsp_probe_result_list_t pr = { 0, NULL };
    CHECK_EQ(xsp_string_map_set(&conf, "uri", uri), 0);
    CHECK_EQ(xsp_sr_probe(ft_client, FT_QUEUE, &ft_opts, "t", &conf, &pr, &err), XSP_OK);
    CHECK_EQ(pr.len, 1);
    CHECK(!pr.val[0].has_sr);
    xsp_probe_result_list_dispose(&pr);

    /* SR.create, twice */
    xsp_string_map_t none = { 0, NULL }, scratch = { 0, NULL };
    CHECK_EQ(xsp_sr_create(ft_client, FT_QUEUE, &ft_opts, "t", uri, "one", "first SR", &none, "uuid-1", &out, &err),
             XSP_OK);
    CHECK_STR(xsp_string_map_get(&out, "uri"), uri);
    struct stat st;
    CHECK(stat(srdir, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_EQ(xsp_sr_create(ft_client, FT_QUEUE, &ft_opts, "t", uri, "one", "", &none, NULL, &scratch, &err),
             XSP_E_INVALID_ARGUMENT);
    CHECK_MSG(strstr(err.msg, "already"), "%s", err.msg);

    /* SR.probe now finds it */
    CHECK_EQ(xsp_sr_probe(ft_client, FT_QUEUE, &ft_opts, "t", &conf, &pr, &err), XSP_OK);
    CHECK_EQ(pr.len, 1);
    CHECK(pr.val[0].has_sr && pr.val[0].complete);
    CHECK_STR(pr.val[0].sr.name, "one");
    xsp_probe_result_list_dispose(&pr);

    /* SR calls before attach */
    xsp_sr_stat_t ss;
    CHECK_EQ(xsp_sr_stat(ft_client, FT_QUEUE, &ft_opts, "t", uri, &ss, &err), XSP_E_SR_NOT_ATTACHED);

    /* SR.attach (idempotent), Plugin.ls */
    char *key = NULL;
    CHECK_EQ(xsp_sr_attach(ft_client, FT_QUEUE, &ft_opts, "t", &out, &key, &err), XSP_OK);
    CHECK_STR(key, uri);
    snprintf(sr, sizeof sr, "%s", key);
    free(key);
    CHECK_EQ(xsp_sr_attach(ft_client, FT_QUEUE, &ft_opts, "t", &out, &key, &err), XSP_OK);
    CHECK_STR(key, sr);
    free(key);
    xsp_string_list_t ls = { 0, NULL };
    CHECK_EQ(xsp_plugin_ls(ft_client, FT_QUEUE, &ft_opts, "t", &ls, &err), XSP_OK);
    CHECK_EQ(ls.len, 1);
    CHECK(in_list(&ls, sr));
    xsp_string_list_dispose(&ls);

    /* SR.stat, set_name, set_description */
    CHECK_EQ(xsp_sr_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, &ss, &err), XSP_OK);
    CHECK_STR(ss.name, "one");
    CHECK_STR(ss.description, "first SR");
    CHECK_STR(ss.uuid, "uuid-1");
    CHECK(ss.total_space > 0 && ss.free_space <= ss.total_space);
    CHECK_EQ(ss.health, XSP_HEALTH_HEALTHY);
    xsp_sr_stat_dispose(&ss);
    CHECK_EQ(xsp_sr_set_name(ft_client, FT_QUEUE, &ft_opts, "t", sr, "uno", &err), XSP_OK);
    CHECK_EQ(xsp_sr_set_description(ft_client, FT_QUEUE, &ft_opts, "t", sr, "renamed", &err), XSP_OK);
    CHECK_EQ(xsp_sr_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, &ss, &err), XSP_OK);
    CHECK_STR(ss.name, "uno");
    CHECK_STR(ss.description, "renamed");
    xsp_sr_stat_dispose(&ss);

    /* Volume.create: rounded up to 512, sparse */
    xsp_volume_t v, c, s;
    CHECK_EQ(xsp_volume_create(ft_client, FT_QUEUE, &ft_opts, "t", sr, "disk", "a disk", 4 * MiB - 100, true, &v, &err),
             XSP_OK);
    CHECK_EQ(v.virtual_size, 4 * MiB);
    CHECK(v.physical_utilisation < MiB);
    CHECK(v.read_write && v.sharable);
    CHECK(v.parent == NULL);
    CHECK_EQ(v.uri.len, 1);
    char vkey[256], vpath[1024], want[1100];
    snprintf(vkey, sizeof vkey, "%s", v.key);
    data_path(vkey, vpath, sizeof vpath);
    snprintf(want, sizeof want, "file://%s", vpath);
    CHECK_STR(v.uri.val[0], want);
    CHECK(stat(vpath, &st) == 0 && st.st_size == (off_t) (4 * MiB));
    xsp_volume_dispose(&v);

    /* set_name, set_description, set, unset */
    CHECK_EQ(xsp_volume_set_name(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, "boot", &err), XSP_OK);
    CHECK_EQ(xsp_volume_set_description(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, "boot disk", &err), XSP_OK);
    CHECK_EQ(xsp_volume_set(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, "vm", "vm-1", &err), XSP_OK);
    CHECK_EQ(xsp_volume_set(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, "gone", "soon", &err), XSP_OK);
    CHECK_EQ(xsp_volume_unset(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, "gone", &err), XSP_OK);
    CHECK_EQ(xsp_volume_unset(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, "never-set", &err), XSP_OK);
    CHECK_EQ(xsp_volume_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, &v, &err), XSP_OK);
    CHECK_STR(v.name, "boot");
    CHECK_STR(v.description, "boot disk");
    CHECK_EQ(v.keys.len, 1);
    CHECK_STR(xsp_string_map_get(&v.keys, "vm"), "vm-1");
    xsp_volume_dispose(&v);

    /* data with holes: 64 KiB at 0 and at 3 MiB */
    static unsigned char a[65536], b[65536];
    ft_pattern(a, sizeof a, 1);
    ft_pwrite(vpath, a, sizeof a, 0);
    ft_pattern(b, sizeof b, 2);
    ft_pwrite(vpath, b, sizeof b, (off_t) (3 * MiB));

    /* clone: same bytes, parent, writable, metadata not copied, still sparse */
    CHECK_EQ(xsp_volume_clone(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, &c, &err), XSP_OK);
    char cpath[1024], spath[1024];
    data_path(c.key, cpath, sizeof cpath);
    CHECK(strcmp(c.key, vkey) != 0);
    CHECK_STR(c.parent, vkey);
    CHECK_STR(c.name, "boot");
    CHECK(c.read_write);
    CHECK_EQ(c.keys.len, 0);
    CHECK_EQ(c.virtual_size, 4 * MiB);
    CHECK_MSG(c.physical_utilisation < 2 * MiB, "clone uses %llu bytes: not sparse",
              (unsigned long long) c.physical_utilisation);
    CHECK(ft_same_content(vpath, cpath));
    /* snapshot: read-only, same bytes */
    CHECK_EQ(xsp_volume_snapshot(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, &s, &err), XSP_OK);
    data_path(s.key, spath, sizeof spath);
    CHECK(!s.read_write);
    CHECK_STR(s.parent, vkey);
    CHECK(ft_same_content(vpath, spath));
    /* the copies are independent */
    ft_pwrite(cpath, b, sizeof b, 0);
    CHECK(!ft_same_content(vpath, cpath));
    CHECK(ft_same_content(vpath, spath));

    /* resize: grow keeps the data; shrink, overflow, read-only snapshot refused */
    CHECK_EQ(xsp_volume_resize(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, 8 * MiB + 1, &err), XSP_OK);
    CHECK_EQ(xsp_volume_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, &v, &err), XSP_OK);
    CHECK_EQ(v.virtual_size, 8 * MiB + 512);
    xsp_volume_dispose(&v);
    static unsigned char r[65536];
    ft_pread(vpath, r, sizeof r, (off_t) (3 * MiB));
    CHECK(memcmp(r, b, sizeof r) == 0);
    CHECK_EQ(xsp_volume_resize(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, MiB, &err), XSP_E_INVALID_ARGUMENT);
    CHECK_MSG(strstr(err.msg, "shrink"), "%s", err.msg);
    CHECK(stat(vpath, &st) == 0 && st.st_size == (off_t) (8 * MiB + 512));
    CHECK_EQ(xsp_volume_resize(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, UINT64_MAX, &err), XSP_E_INVALID_ARGUMENT);
    CHECK_MSG(strstr(err.msg, "overflow"), "%s", err.msg);
    CHECK_EQ(xsp_volume_resize(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, 1ull << 62, &err), XSP_E_INVALID_ARGUMENT);
    CHECK_MSG(strstr(err.msg, "larger than the filesystem"), "%s", err.msg);
    CHECK_EQ(xsp_volume_resize(ft_client, FT_QUEUE, &ft_opts, "t", sr, s.key, 16 * MiB, &err), XSP_E_INVALID_ARGUMENT);

    /* Volume.create: bad sizes */
    CHECK_EQ(xsp_volume_create(ft_client, FT_QUEUE, &ft_opts, "t", sr, "x", "", 0, false, &v, &err),
             XSP_E_INVALID_ARGUMENT);
    CHECK_EQ(xsp_volume_create(ft_client, FT_QUEUE, &ft_opts, "t", sr, "x", "", UINT64_MAX - 10, false, &v, &err),
             XSP_E_INVALID_ARGUMENT);
    CHECK_MSG(strstr(err.msg, "overflow"), "%s", err.msg);
    CHECK_EQ(xsp_volume_create(ft_client, FT_QUEUE, &ft_opts, "t", sr, "x", "", 1ull << 62, false, &v, &err),
             XSP_E_INVALID_ARGUMENT);

    /* SR.ls: the three volumes */
    xsp_volume_list_t vl = { 0, NULL };
    CHECK_EQ(xsp_sr_ls(ft_client, FT_QUEUE, &ft_opts, "t", sr, &vl, &err), XSP_OK);
    CHECK_EQ(vl.len, 3);
    xsp_volume_list_dispose(&vl);

    /* the plugin crashes and comes back: SR still attached, records intact */
    ft_plugin_kill(&p);
    ft_plugin_start(&p);
    CHECK_EQ(xsp_plugin_ls(ft_client, FT_QUEUE, &ft_opts, "t", &ls, &err), XSP_OK);
    CHECK(in_list(&ls, sr));
    xsp_string_list_dispose(&ls);
    CHECK_EQ(xsp_volume_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, &v, &err), XSP_OK);
    CHECK_STR(v.name, "boot");
    CHECK_STR(v.description, "boot disk");
    CHECK_STR(xsp_string_map_get(&v.keys, "vm"), "vm-1");
    CHECK_EQ(v.virtual_size, 8 * MiB + 512);
    xsp_volume_dispose(&v);
    CHECK_EQ(xsp_volume_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, s.key, &v, &err), XSP_OK);
    CHECK(!v.read_write);
    CHECK_STR(v.parent, vkey);
    xsp_volume_dispose(&v);
    CHECK_EQ(xsp_sr_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, &ss, &err), XSP_OK);
    CHECK_STR(ss.name, "uno");
    xsp_sr_stat_dispose(&ss);

    /* Volume.destroy: gone, twice; the clone's parent then disappears from its record */
    CHECK_EQ(xsp_volume_destroy(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, &err), XSP_OK);
    CHECK(access(vpath, F_OK) != 0);
    CHECK_EQ(xsp_volume_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, &v, &err), XSP_E_VOLUME_DOES_NOT_EXIST);
    CHECK_EQ(xsp_volume_destroy(ft_client, FT_QUEUE, &ft_opts, "t", sr, vkey, &err), XSP_E_VOLUME_DOES_NOT_EXIST);
    CHECK_EQ(xsp_volume_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, c.key, &v, &err), XSP_OK);
    CHECK(v.parent == NULL);
    xsp_volume_dispose(&v);

    /* SR.detach: idempotent; calls then say sr-not-attached; Plugin.ls empty */
    CHECK_EQ(xsp_sr_detach(ft_client, FT_QUEUE, &ft_opts, "t", sr, &err), XSP_OK);
    CHECK_EQ(xsp_sr_detach(ft_client, FT_QUEUE, &ft_opts, "t", sr, &err), XSP_OK);
    CHECK_EQ(xsp_volume_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, c.key, &v, &err), XSP_E_SR_NOT_ATTACHED);
    CHECK_EQ(xsp_sr_ls(ft_client, FT_QUEUE, &ft_opts, "t", sr, &vl, &err), XSP_E_SR_NOT_ATTACHED);
    CHECK_EQ(xsp_sr_destroy(ft_client, FT_QUEUE, &ft_opts, "t", sr, &err), XSP_E_SR_NOT_ATTACHED);
    CHECK_EQ(xsp_plugin_ls(ft_client, FT_QUEUE, &ft_opts, "t", &ls, &err), XSP_OK);
    CHECK_EQ(ls.len, 0);
    xsp_string_list_dispose(&ls);

    /* SR.attach of a directory that holds no SR; then the real one again, and destroy */
    char empty[700];
    snprintf(empty, sizeof empty, "file://%s", tmp);
    xsp_string_map_t econf = { 0, NULL };
    CHECK_EQ(xsp_string_map_set(&econf, "uri", empty), 0);
    CHECK_EQ(xsp_sr_attach(ft_client, FT_QUEUE, &ft_opts, "t", &econf, &key, &err), XSP_E_SR_DOES_NOT_EXIST);
    xsp_string_map_dispose(&econf);
    CHECK_EQ(xsp_sr_attach(ft_client, FT_QUEUE, &ft_opts, "t", &out, &key, &err), XSP_OK);
    free(key);
    CHECK_EQ(xsp_sr_ls(ft_client, FT_QUEUE, &ft_opts, "t", sr, &vl, &err), XSP_OK);
    CHECK_EQ(vl.len, 2);
    xsp_volume_list_dispose(&vl);
    CHECK_EQ(xsp_sr_destroy(ft_client, FT_QUEUE, &ft_opts, "t", sr, &err), XSP_OK);
    CHECK(access(srdir, F_OK) != 0);
    CHECK_EQ(xsp_sr_stat(ft_client, FT_QUEUE, &ft_opts, "t", sr, &ss, &err), XSP_E_SR_NOT_ATTACHED);
    CHECK_EQ(xsp_plugin_ls(ft_client, FT_QUEUE, &ft_opts, "t", &ls, &err), XSP_OK);
    CHECK_EQ(ls.len, 0);
    xsp_string_list_dispose(&ls);

    xsp_volume_dispose(&c);
    xsp_volume_dispose(&s);
    xsp_string_map_dispose(&conf);
    xsp_string_map_dispose(&out);
    xsp_client_destroy(&ft_client);
    CHECK_EQ(ft_plugin_stop(&p), 0);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

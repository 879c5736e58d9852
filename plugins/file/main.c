/*  main.c — xsp-plugin-file: SRs that are directories, volumes that are sparse raw files,
    and a data path through loop devices (docs/plugins/file.md).

    Owns: the plugin definition (name, registration fields, options, the handler table),
    --state-dir, Plugin.query and Plugin.diagnostics, start-up and shut-down order.
    Never touches: what the modules own (sr.c, volume.c, datapath.c, loopdev.c, meta.c,
    path.c, copy.c).

    Options (besides the common ones of xsp/plugin.h):
        --state-dir DIR   where the list of attached SRs is kept across restarts
                          (default RUN_DIR/plugin-file, RUN_DIR per xsp/endpoint.h)
    --backend-domain (common option) decides the backend domain Datapath.attach answers:
    own (default: the --domain the plugin runs in, source plugin_domain) or a domid (source
    fixed); on-demand is refused at start (exit status 1): this plugin starts no domains.
    Handlers block on disk I/O, so they run on worker threads (default --workers 2) and
    take the plugin's one lock (fp.h).
*/
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datapath.h"
#include "fp.h"
#include "sr.h"
#include "volume.h"
#include "xsp/endpoint.h"
#include "xsp/log.h"

static int plugin_query(void *ctx, xsp_storage_call_t *call, const xsp_plugin_query_args_t *a)
{
    (void) ctx;
    (void) a;
    xsp_plugin_info_t i;
    xsp_plugin_info_init(&i);
    i.plugin = "file";
    i.name = "xsp file plugin";
    i.description = "SRs are directories; volumes are sparse raw files in them, attached as loop "
                    "devices, Xen qdisk disks or plain files.";
    i.vendor = "xsp";
    i.copyright = "(c) the xsp authors";
    i.version = XSP_VERSION;
    i.api_version = "1.0";
    static char *features[] = { "SR_PROBE", "SR_UPDATE", "VDI_CREATE", "VDI_DESTROY", "VDI_ATTACH",
                                "VDI_DETACH", "VDI_ACTIVATE", "VDI_DEACTIVATE", "VDI_CLONE",
                                "VDI_SNAPSHOT", "VDI_RESIZE", "VDI_UPDATE", "VDI_RESET_ON_BOOT/2" };
    i.features = (xsp_string_list_t) { sizeof features / sizeof features[0], features };
    static xsp_string_pair_t conf[] = { { "uri", "the SR directory, file:///abs/dir (SR.create makes it)" } };
    i.configuration = (xsp_string_map_t) { 1, conf };
    return xsp_plugin_query_reply(call, &i);    /* i only borrows */
}

static int plugin_diagnostics(void *ctx, xsp_storage_call_t *call, const xsp_plugin_diagnostics_args_t *a)
{
    (void) ctx;
    (void) a;
    char text[16384], loops[8192];
    size_t n = 0;
    fp_lock();
    n += (size_t) snprintf(text + n, sizeof text - n, "state dir: %s\n", G.state_dir);
    for (fp_sr_t *s = fp_sr_all(); s && n < sizeof text; s = s->next)
        n += (size_t) snprintf(text + n, sizeof text - n, "sr: %s\n", s->key);
    fp_dp_describe(loops, sizeof loops);
    fp_unlock();
    if (n < sizeof text)
        snprintf(text + n, sizeof text - n, "%s", loops);
    return xsp_plugin_diagnostics_reply(call, text);
}

static const xsp_storage_ops_t ops = {
    .plugin_query = plugin_query,
    .plugin_ls = fp_plugin_ls,
    .plugin_diagnostics = plugin_diagnostics,
    .sr_probe = fp_sr_probe,
    .sr_create = fp_sr_create,
    .sr_attach = fp_sr_attach,
    .sr_detach = fp_sr_detach,
    .sr_destroy = fp_sr_destroy,
    .sr_stat = fp_sr_stat,
    .sr_set_name = fp_sr_set_name,
    .sr_set_description = fp_sr_set_description,
    .sr_ls = fp_sr_ls,
    .volume_create = fp_volume_create,
    .volume_destroy = fp_volume_destroy,
    .volume_clone = fp_volume_clone,
    .volume_snapshot = fp_volume_snapshot,
    .volume_resize = fp_volume_resize,
    .volume_stat = fp_volume_stat,
    .volume_set_name = fp_volume_set_name,
    .volume_set_description = fp_volume_set_description,
    .volume_set = fp_volume_set,
    .volume_unset = fp_volume_unset,
    .datapath_open = fp_datapath_open,
    .datapath_attach = fp_datapath_attach,
    .datapath_activate = fp_datapath_activate,
    .datapath_deactivate = fp_datapath_deactivate,
    .datapath_detach = fp_datapath_detach,
    .datapath_close = fp_datapath_close,
};

static int on_option(void *ctx, const char *name, const char *value)
{
    (void) ctx;
    if (strcmp(name, "state-dir") == 0) {
        if (!value || value[0] != '/' || strlen(value) >= sizeof G.state_dir - 32) {
            fprintf(stderr, "xsp-plugin-file: --state-dir wants an absolute path, not '%s'\n", value ? value : "");
            return -1;
        }
        snprintf(G.state_dir, sizeof G.state_dir, "%s", value);
    }
    return 0;
}

/*  mkdir -p, mode 0700 for what it makes. */
static int mkdirs(const char *path)
{
    char p[FP_PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST)
                return -1;
            *s = c;
            if (!c)
                return 0;
        }
    }
}

/*  The backend domain Datapath.attach answers, from the --backend-domain policy: own (the
    plugin's --domain, source plugin_domain) or a domid (source fixed).  on-demand is
    refused: this plugin starts no domains. */
static int backend_policy(xsp_plugin_t *plugin)
{
    const char *bd = xsp_plugin_backend_domain(plugin);
    G.backend_domid = xsp_plugin_domid(plugin);
    G.backend_source = XSP_BACKEND_DOMAIN_SOURCE_PLUGIN_DOMAIN;
    if (!bd || strcmp(bd, "own") == 0)
        return 0;
    if (strcmp(bd, "on-demand") == 0) {
        xsp_log(XSP_LOG_ERR, "--backend-domain on-demand: xsp-plugin-file starts no domains; use own "
                "(default) or a domid");
        return -1;
    }
    G.backend_domid = (uint32_t) strtoul(bd, NULL, 10);
    G.backend_source = XSP_BACKEND_DOMAIN_SOURCE_FIXED;
    if (G.backend_domid != xsp_plugin_domid(plugin))
        xsp_log(XSP_LOG_WARN, "--backend-domain %s: attach answers domain %u, but the loop devices are "
                "made in the plugin's own domain %u: only the qdisk/file implementations may reach them "
                "from there", bd, G.backend_domid, xsp_plugin_domid(plugin));
    return 0;
}

static int init(void *ctx, xsp_plugin_t *plugin)
{
    (void) ctx;
    G.plugin = plugin;
    if (backend_policy(plugin) != 0)
        return 1;
    if (!G.state_dir[0]) {
        char run[FP_PATH_MAX - 32];
        if (xsp_default_run_dir(run, sizeof run) != 0)
            return 1;
        snprintf(G.state_dir, sizeof G.state_dir, "%s/plugin-file", run);
    }
    if (mkdirs(G.state_dir) != 0) {
        xsp_log(XSP_LOG_ERR, "cannot make the state directory %s: %s", G.state_dir, strerror(errno));
        return 1;
    }
    fp_lock();
    int rc = fp_sr_init();
    if (rc == 0)
        fp_dp_init();
    fp_unlock();
    xsp_log(XSP_LOG_INFO, "state in %s", G.state_dir);
    return rc == 0 ? 0 : 1;
}

static void fini(void *ctx, xsp_plugin_t *plugin)
{
    (void) ctx;
    (void) plugin;
    fp_lock();
    fp_dp_fini();
    fp_sr_fini();
    fp_unlock();
}

static const char *const schemes[] = { "file", NULL };
static const xsp_plugin_option_t options[] = {
    { "state-dir", "DIR", "keep the list of attached SRs here (default RUN_DIR/plugin-file)" },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    static const xsp_plugin_def_t def = {
        .name = "file",
        .description = "SRs are directories, volumes sparse raw files, attached through loop devices",
        .ops = &ops,
        .workers = 2,
        .schemes = schemes,
        .kinds = XSP_PLUGIN_SERVES_VOLUME | XSP_PLUGIN_SERVES_DATAPATH,
        .backend_domain = NULL,                 /* the plugin's own domain */
        .options = options,
        .option = on_option,
        .init = init,
        .fini = fini,
    };
    return xsp_plugin_main(argc, argv, &def);
}

/*  example_plugin.c — README material: a complete storage plugin with one method
    (Datapath.attach of file:// URIs), on xsp_plugin_main.  Built by
    tests/storage/CMakeLists.txt (so it stays true) and run by storage_examples.  Every other
    method answers `unimplemented`; the common options (--switch, --queue, --workers, ...)
    come with xsp_plugin_main.  Owns nothing else. */
#include <string.h>

#include "xsp/plugin.h"

static int attach(void *ctx, xsp_storage_call_t *call, const xsp_datapath_attach_args_t *a)
{
    (void) ctx;
    if (strncmp(a->uri, "file://", 7) != 0)                    /* answer an error now ... */
        return xsp_call_fail(call, XSP_E_VOLUME_DOES_NOT_EXIST, XSP_DETAIL1("uri", a->uri),
                             "%s is not a file:// URI", a->uri);
    xsp_implementation_t file = { .kind = XSP_IMPLEMENTATION_FILE, .u.file.path = a->uri + 7 };
    xsp_backend_t b = { .domain.source = XSP_BACKEND_DOMAIN_SOURCE_FIXED,      /* dom0 */
                        .implementations = { 1, &file } };     /* borrowed: nothing to free */
    return xsp_datapath_attach_reply(call, &b);                 /* ... or the result */
}

static const xsp_storage_ops_t ops = { .datapath_attach = attach };
static const xsp_plugin_def_t def = { .name = "example", .description = "file:// URIs as raw files",
                                      .ops = &ops };

int main(int argc, char **argv)
{
    return xsp_plugin_main(argc, argv, &def);
}

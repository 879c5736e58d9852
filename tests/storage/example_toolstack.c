/*  example_toolstack.c — README material: a toolstack attaches a volume with the generated
    synchronous stub.  Built by tests/storage/CMakeLists.txt (so it stays true) and run by
    storage_examples against example_plugin.  Usage: example_toolstack [URI]; the switch is
    $XSP_SWITCH or the default endpoint.  Owns nothing else. */
#include <stdio.h>

#include "xsp/storage_client.h"

int main(int argc, char **argv)
{
    xsp_error_t err;
    xsp_backend_t b = { 0 };
    xsp_client_t *c = xsp_client_new(NULL, "example-toolstack", &err);   /* $XSP_SWITCH */
    int rc = c ? xsp_datapath_attach(c, "org.xen.xsp.storage.example", NULL, "vm-start 42",
                                     argc > 1 ? argv[1] : "file:///srv/disk.img", "7", &b, &err)
               : (int) err.code;
    if (rc == XSP_OK)
        xsp_backend_print(stdout, &b, 0);       /* domain: {domid: 0, ...}, implementations: ... */
    else
        fprintf(stderr, "attach: %s: %s\n", xsp_code_name(err.code), err.msg);
    xsp_backend_dispose(&b);                    /* empty after a failure: always safe */
    xsp_client_destroy(&c);
    return rc == XSP_OK ? 0 : 1;
}

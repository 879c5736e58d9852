/*  cmd_keygen.c — `xsp keygen NAME DIR [--domid N] [--serve P] [--call P]`: a CURVE key pair
    as certificates (xsp/cert.h; docs/security.md).

    Owns: the command.  Never touches: the switch (it talks to nobody).
*/
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "xsp/cert.h"

int cmd_keygen(const cli_ctx_t *ctx, int argc, char **argv)
{
    (void) ctx;
    static const struct option opts[] = {
        { "domid", 1, 0, 'd' }, { "serve", 1, 0, 's' }, { "call", 1, 0, 'c' }, { 0, 0, 0, 0 },
    };
    bool has_domid = false;
    unsigned long domid = 0;
    const char *serve = NULL, *call = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "d:s:c:", opts, NULL)) != -1) {
        switch (o) {
        case 'd': {
            char *end;
            errno = 0;
            domid = strtoul(optarg, &end, 10);
            if (errno || *end || !*optarg || domid > 0x7fefu)
                return cli_die(CLI_USAGE, "--domid wants a domain id (0-32751), not '%s'", optarg);
            has_domid = true;
            break;
        }
        case 's':
            serve = optarg;
            break;
        case 'c':
            call = optarg;
            break;
        default:
            return cli_usage("keygen");
        }
    }
    if (argc - optind != 2)
        return cli_usage("keygen");
    const char *name = argv[optind], *dir = argv[optind + 1];
    xsp_cert_t c;
    xsp_error_t err;
    if (xsp_cert_new(name, has_domid, (uint32_t) domid, serve, call, &c, &err) != XSP_OK ||
        xsp_cert_save(&c, dir, name, &err) != XSP_OK) {
        fprintf(stderr, "xsp: keygen: %s\n", err.msg);
        return err.code == XSP_E_INVALID_ARGUMENT ? CLI_USAGE : CLI_LOCAL;
    }
    printf("%s/%s.key         public certificate (give it to the switch's --certs directory)\n", dir, name);
    printf("%s/%s.key_secret  secret certificate, mode 0600 (keep it where %s runs)\n", dir, name, name);
    printf("public key: %s\n", c.public_key);
    return CLI_OK;
}

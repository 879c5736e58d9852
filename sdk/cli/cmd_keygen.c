/*  cmd_keygen.c — `xsp keygen NAME [--domid N] DIR`: a CURVE key pair for the switch or a
    peer (docs/security.md).

    Owns: writing DIR/NAME.key (public certificate, metadata identity + domid: copy it into
    the switch's --certs directory) and DIR/NAME.key_secret (mode 0600: stays with its
    owner).  Never touches: the switch (no connection), existing files (it refuses to
    overwrite them).
*/
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 79)
        return false;
    for (; *s; s++)
        if (*s <= 0x20 || *s >= 0x7f || *s == '#' || *s == ':' || *s == '/')
            return false;
    return true;
}

int cmd_keygen(const cli_ctx_t *ctx, int argc, char **argv)
{
    (void) ctx;
    static const struct option lo[] = { { "domid", 1, 0, 'd' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 } };
    long domid = 0;
    for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        char *end;
        switch (c) {
        case 'd':
            errno = 0;
            domid = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || domid < 0 || domid >= 32752)
                return cli_die(CLI_USAGE, "--domid wants a Xen domid (0-32751), not '%s'", optarg);
            break;
        case 'h':
            cli_usage("keygen");
            return CLI_OK;
        default:
            return cli_usage("keygen");
        }
    }
    if (argc - optind != 2)
        return cli_usage("keygen");
    const char *name = argv[optind], *dir = argv[optind + 1];
    if (!name_ok(name))
        return cli_die(CLI_USAGE, "NAME must be 1-79 printable characters without spaces, '#', ':' "
                       "or '/', not '%s'", name);
    char pub[4096], sec[4200];
    snprintf(pub, sizeof pub, "%s/%s.key", dir, name);
    snprintf(sec, sizeof sec, "%s_secret", pub);
    if (access(pub, F_OK) == 0 || access(sec, F_OK) == 0)
        return cli_die(CLI_LOCAL, "%s or its _secret already exists: not overwriting a key", pub);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *s = tmp + 1;; s++)       /* mkdir -p, the last level private */
        if (*s == '/' || *s == '\0') {
            char was = *s;
            *s = '\0';
            if (mkdir(tmp, was ? 0755 : 0700) < 0 && errno != EEXIST)
                return cli_die(CLI_LOCAL, "cannot create %s: %s", tmp, strerror(errno));
            if (!(*s = was))
                break;
        }
    zcert_t *c = zcert_new();
    if (!c)
        return cli_die(CLI_LOCAL, "cannot make a key pair (libzmq without CURVE?)");
    zcert_set_meta(c, "identity", "%s", name);
    zcert_set_meta(c, "domid", "%ld", domid);
    int rc = zcert_save(c, pub);
    zcert_destroy(&c);
    if (rc != 0 || chmod(sec, 0600) != 0)
        return cli_die(CLI_LOCAL, "cannot write %s: %s", pub, strerror(errno));
    printf("%s\n%s\n", pub, sec);
    return CLI_OK;
}

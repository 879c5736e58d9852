/*  config.h — the switch's command line.

    Owns: option parsing, defaults and validation of limits.  Never touches: sockets.
*/
#ifndef SW_CONFIG_H
#define SW_CONFIG_H

#include <limits.h>
#include <stdbool.h>

#include "switch.h"

#define SW_MAX_LISTEN 16
#define SW_MAX_DURABLE 32

typedef struct {
    char run_dir[PATH_MAX];
    const char *listen[SW_MAX_LISTEN];
    int nlisten;
    bool no_ipc;
    const char *group;          /* socket file group (mode 0660), or NULL (0600) */
    bool use_syslog;
    int log_level;
    sw_limits_t lim;
    const char *state_dir;      /* --state-dir: durable queues on, or NULL */
    const char *durable_queues[SW_MAX_DURABLE];  /* --durable-queue globs */
    int ndurable;
    unsigned long long compact_bytes;  /* --journal-compact-bytes */
    const char *curve_secret;   /* --curve-secret FILE: CURVE on --listen endpoints */
    const char *certs_dir;      /* --certs DIR: the peers' public certificates */
    const char *policy;         /* --policy FILE (default /etc/xsp/policy.conf if present) */
    bool no_policy;             /* --policy none */
} sw_config_t;

/*  Parse argv.  Returns 0 to run, 1 when it printed --help/--version (exit 0), -1 on a
    usage error (a sentence was printed on stderr; exit 2). */
int sw_config_parse(sw_config_t *cfg, int argc, char **argv);

#endif

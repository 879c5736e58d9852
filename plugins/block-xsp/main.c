/*  main.c — block-xsp: a Xen block hotplug script that attaches storage URIs through xsp.

    Owns: the command line (`block-xsp add|remove`, as libxl runs a script= disk's script),
    the process: logging, the time budget and its watchdog, the exit status.
    Never touches: xenstore or the switch directly (xenbus.c, steps.c).

    Usage (normally run by libxl or `xl devd`; see docs/libxl-integration.md):
        XENBUS_PATH=backend/vbd/<fe>/<devid> XENBUS_TYPE=vbd XENBUS_BASE_PATH=backend \
            block-xsp add|remove
    Environment it reads: XENBUS_PATH, XENBUS_TYPE, XENBUS_BASE_PATH, script (libxl);
    XENSTORED_PATH (libxenstore); XSP_SWITCH (the switch endpoint, else the default
    ipc:///run/xsp/switch.sock for root); XSP_BLOCK_TIMEOUT_MS, XSP_BLOCK_CALL_TIMEOUT_MS
    (budget.h); XSP_BLOCK_DEBUG (debug lines on stderr too).
    Exit status: 0 add connected / remove done; 1 add failed (hotplug-error written) or the
    environment is unusable; 2 usage error.  Never runs longer than the budget + 3 s.
*/
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "budget.h"
#include "log.h"
#include "steps.h"
#include "xenbus.h"

static void watchdog(int sig)
{
    static const char msg[] = "block-xsp: error: out of time (XSP_BLOCK_TIMEOUT_MS + 3 s): a "
                              "system call did not return (xenstored or the switch hung); exiting\n";
    (void) sig;
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing more to do */
    }
    _exit(1);
}

static int usage(void)
{
    fputs("usage: block-xsp add|remove\n"
          "A Xen block hotplug script: libxl runs it for a disk spec such as\n"
          "  'script=block-xsp,vdev=xvda,target=file:///srv/sr1/vol1'\n"
          "with XENBUS_PATH=backend/vbd/<frontend-domid>/<devid> in the environment.\n"
          "See docs/libxl-integration.md.\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    bx_run_t run = { 0 };
    char why[1024], prefix[600];
    struct sigaction sa;
    int rc;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage();
        return 0;
    }
    if (argc != 2 || (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "remove") != 0))
        return usage();
    run.action = argv[1];
    bx_budget_init(&run.budget);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = watchdog;
    sigaction(SIGALRM, &sa, NULL);
    alarm((run.budget.total_ms + BX_WATCHDOG_SLACK_MS + 999) / 1000);
    signal(SIGPIPE, SIG_IGN);

    bx_log_open(run.action);
    run.xb = bx_xenbus_new(why, sizeof why);
    if (!run.xb) {
        bx_log(LOG_ERR, "%s", why);
        bx_log_close();
        return 1;
    }
    snprintf(prefix, sizeof prefix, "%s %s", run.action, bx_xenbus_path(run.xb));
    bx_log_prefix(prefix);
    rc = strcmp(run.action, "add") == 0 ? bx_steps_add(&run) : bx_steps_remove(&run);
    bx_xenbus_destroy(&run.xb);
    bx_log_close();
    return rc;
}

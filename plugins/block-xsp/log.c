/*  log.c — block-xsp's log: syslog and stderr at once (contract in log.h).

    Owns: the prefix string and the syslog connection.
    Never touches: xenstore, the switch.
*/
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static char prefix[512];
static bool debug_to_stderr;

void bx_log_open(const char *p)
{
    openlog("block-xsp", LOG_PID, LOG_DAEMON);
    debug_to_stderr = getenv("XSP_BLOCK_DEBUG") != NULL;
    bx_log_prefix(p);
}

void bx_log_prefix(const char *p)
{
    snprintf(prefix, sizeof prefix, "%s", p ? p : "");
}

void bx_log_close(void)
{
    closelog();
}

void bx_log(int level, const char *fmt, ...)
{
    char line[4096];
    int n = snprintf(line, sizeof line, "%s%s", prefix, prefix[0] ? ": " : "");
    va_list ap;

    if (n < 0 || (size_t) n >= sizeof line)
        n = 0;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t) n, fmt, ap);
    va_end(ap);
    syslog(level, "%s", line);
    if (level == LOG_DEBUG && !debug_to_stderr)
        return;
    /* one write per line */
    char out[4200];
    int len = snprintf(out, sizeof out, "block-xsp[%d]: %s: %s\n", (int) getpid(),
                       level <= LOG_ERR ? "error" : level == LOG_WARNING ? "warning"
                       : level == LOG_INFO ? "info" : "debug", line);
    if (len > 0) {
        size_t w = (size_t) len < sizeof out ? (size_t) len : sizeof out - 1;
        if (write(STDERR_FILENO, out, w) < 0) {
            /* nowhere left to say it */
        }
    }
}

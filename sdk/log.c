/*  log.c — the destination behind xsp/log.h.  Owns three globals set once at start. */
#include "xsp/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "xsp";
static bool log_syslog;
static xsp_log_level_t log_max = XSP_LOG_INFO;

void xsp_log_open(const char *ident, bool use_syslog, xsp_log_level_t max_level)
{
    log_ident = ident;
    log_syslog = use_syslog;
    log_max = max_level;
    if (use_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int xsp_log_level_from_name(const char *name)
{
    static const struct { const char *n; int l; } t[] = {
        { "err", XSP_LOG_ERR }, { "error", XSP_LOG_ERR }, { "warn", XSP_LOG_WARN },
        { "warning", XSP_LOG_WARN }, { "info", XSP_LOG_INFO }, { "debug", XSP_LOG_DEBUG },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(name, t[i].n) == 0)
            return t[i].l;
    return -1;
}

void xsp_log(xsp_log_level_t level, const char *fmt, ...)
{
    if (level > log_max)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    if (log_syslog) {
        vsnprintf(line, sizeof line, fmt, ap);
        syslog((int) level, "%s", line);
    } else {
        static const char *names[8] = { "", "", "", "error", "warn", "", "info", "debug" };
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %s[%d] %s: ", tm.tm_hour,
                         tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident, (int) getpid(),
                         names[level & 7]);
        if (n < 0 || (size_t) n >= sizeof line)
            n = 0;
        int m = vsnprintf(line + n, sizeof line - (size_t) n - 1, fmt, ap);
        size_t len = (size_t) n + (m < 0 ? 0 : (size_t) m);
        if (len > sizeof line - 2)
            len = sizeof line - 2;
        line[len++] = '\n';
        ssize_t w = write(STDERR_FILENO, line, len);
        (void) w;
    }
    va_end(ap);
}

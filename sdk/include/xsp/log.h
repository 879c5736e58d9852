/*  xsp/log.h — one logging call for every xsp program: stderr by default, syslog on request.

    Owns: the process-wide log destination, level and program name.
    Never touches: anything else.  Lines are written whole (one write per line), so lines
    from several threads never interleave within a line.
*/
#ifndef XSP_LOG_H
#define XSP_LOG_H

#include <stdbool.h>

typedef enum { XSP_LOG_ERR = 3, XSP_LOG_WARN = 4, XSP_LOG_INFO = 6, XSP_LOG_DEBUG = 7 } xsp_log_level_t;

/*  Call once at start.  ident: program name.  use_syslog: false = stderr. */
void xsp_log_open(const char *ident, bool use_syslog, xsp_log_level_t max_level);
void xsp_log(xsp_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*  "err", "warn", "info", "debug" -> level; -1 if unknown. */
int xsp_log_level_from_name(const char *name);

#endif

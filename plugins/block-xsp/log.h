/*  log.h — block-xsp's log: every line to syslog (daemon facility, ident "block-xsp") AND to
    stderr (which libxl / xl devd keep in their own log).

    Owns: the two log destinations and the line prefix (the backend path the run is for).
    Never touches: xenstore (the hotplug-error sentence is xenbus.c's), anything else.

    Lines are written whole.  A hotplug script runs with almost no environment, so nothing
    here depends on one: no log file, no configuration.
*/
#ifndef BX_LOG_H
#define BX_LOG_H

/*  Start logging; prefix (copied, may be NULL) starts every line, e.g. "add backend/vbd/5/768". */
void bx_log_open(const char *prefix);
/*  Change the prefix (once the backend path is known). */
void bx_log_prefix(const char *prefix);
void bx_log_close(void);

/*  level: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG (syslog.h).  LOG_DEBUG lines are kept
    out of stderr unless $XSP_BLOCK_DEBUG is set (they always go to syslog). */
void bx_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

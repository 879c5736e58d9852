/*
 * xs_fixture.h - start/stop a real xenstored (with the xsshim LD_PRELOAD
 * shim, no hypervisor needed) for C test programs.
 *
 * Paths come from the environment, falling back to the build-tree defaults
 * compiled in by tests/xenstored/CMakeLists.txt:
 *   XSP_XENSTORED  the xenstored binary (fetch-xenstored.sh puts it at
 *                  <build>/xen/usr/lib/xen-4.17/bin/xenstored)
 *   XSP_XSSHIM     the shim library (<build>/lib/libxsshim.so)
 *
 * Not thread-safe: xs_fixture_start() calls setenv().
 */
#ifndef XSP_XS_FIXTURE_H
#define XSP_XS_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Start xenstored in the foreground as a child of the caller, with rundir
 * as XENSTORED_RUNDIR (created if missing; the socket is rundir/socket, its
 * output goes to rundir/xenstored.log).  Returns 0 once the daemon answers a
 * request (within about 5 s) and stores its pid in *pid_out.
 *
 * Side effect, on purpose: sets XENSTORED_PATH=rundir/socket in the
 * caller's environment, so that every later xs_open() (and xenstore-* tool
 * run by the caller) talks to this daemon.
 *
 * On failure returns -1, leaves no process behind and writes a
 * human-readable reason (with the tail of the daemon's log, if any) to err.
 */
int xs_fixture_start(const char *rundir, pid_t *pid_out, char *err,
                     size_t errlen);

/*
 * Stop the daemon: SIGTERM, wait up to 3 s, then SIGKILL; always reaps it
 * with waitpid().  pid <= 0 is ignored.
 */
void xs_fixture_stop(pid_t pid);

#endif

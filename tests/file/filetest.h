/*  filetest.h — helpers for the xsp-plugin-file tests: run the real plugin, call it, look
    at files and loop devices.

    Owns: the plugin child processes started here (SIGKILLed at exit and by
    PR_SET_PDEATHSIG), one client per test.
    Never touches: files outside the test's temporary directories, loop devices (only
    reads /sys/block/loop*).

    The plugin binary is the build tree's bin/xsp-plugin-file; $XSP_FILE_PLUGIN_WRAPPER,
    when set, is a command prefix (split on spaces) it runs under, e.g. a valgrind
    memcheck script: a leak or an invalid access then shows as a non-zero exit status
    from ft_plugin_stop.

    Thread-safety: none; call from the test's main thread.
*/
#ifndef FILETEST_H
#define FILETEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "xsp_test.h"
#include "xsp/xsp.h"
#include "xsp/storage_client.h"

#define FT_QUEUE "org.xen.xsp.storage.file-test"

typedef struct {
    pid_t pid;
    const xsp_test_switch_t *sw;
    char state_dir[512];
    const char *extra[8];       /* more arguments for the next start, NULL-terminated */
} ft_plugin_t;

/*  The client and call options every helper uses (set by ft_setup). */
extern xsp_client_t *ft_client;
extern const xsp_call_opts_t ft_opts;

/*  Start a switch, a plugin with a fresh --state-dir and a client; tmp gets a fresh
    private directory for SRs. */
void ft_setup(xsp_test_switch_t *sw, ft_plugin_t *p, char *tmp, size_t cap);
/*  Start the plugin (again, same state dir). */
void ft_plugin_start(ft_plugin_t *p);
/*  SIGKILL it (a crash) and reap it. */
void ft_plugin_kill(ft_plugin_t *p);
/*  Wait up to 30 s for it to exit by itself: its exit status (-1: still running, killed). */
int ft_plugin_wait(ft_plugin_t *p);
/*  SIGTERM, wait up to 30 s: its exit status (0 = clean). */
int ft_plugin_stop(ft_plugin_t *p);

/*  SR.create + SR.attach of file://dir: the SR key (static buffer per call site: copy). */
void ft_sr(const char *dir, char *key, size_t cap);
/*  Volume.create: key and uri copied out. */
void ft_volume(const char *sr, uint64_t size, char *key, size_t kcap, char *uri, size_t ucap);

/*  Loop devices bound to path (or "path (deleted)"), from /sys/block/loop* /loop/backing_file. */
int ft_loops_for(const char *path);
/*  ft_loops_for(path), polled for up to 5 s until it is `want` (the kernel unbinds an
    autoclear device asynchronously after its last close). */
int ft_loops_settle(const char *path, int want);
/*  Is /dev/loopN (path) bound to file `path`? */
bool ft_loop_bound_to(const char *dev, const char *path);

/*  Write/read len bytes at off of a file or device (O_DIRECT-free, fsynced). */
void ft_pwrite(const char *path, const void *buf, size_t len, off_t off);
void ft_pread(const char *path, void *buf, size_t len, off_t off);
/*  Fill buf with a pattern from seed. */
void ft_pattern(unsigned char *buf, size_t len, unsigned seed);
/*  A whole file's bytes equal another's? */
bool ft_same_content(const char *a, const char *b);

#endif

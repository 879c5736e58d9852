/*  storage_test.h — helpers for the storage API tests: run xsp-test-plugin processes.

    Owns: starting, stopping and killing plugin child processes (any build-tree binary),
    which never outlive the test (killed at exit and by PR_SET_PDEATHSIG).
    Never touches: the switch (tests/lib/xsp_test.h runs it), sockets.

    Thread-safety: none; call from the test's main thread.
*/
#ifndef STORAGE_TEST_H
#define STORAGE_TEST_H

#include <stdbool.h>
#include <sys/types.h>

#include "xsp_test.h"

#define ST_QUEUE "org.xen.xsp.storage.test"

/*  Run build-tree binary `name` (bin/NAME) with argv[1..] = args (NULL-terminated).
    quiet: stdout and stderr go to /dev/null.  Returns the pid (exits the test on failure). */
pid_t st_spawn(const char *name, const char *const *args, bool quiet);
/*  xsp-test-plugin --switch ENDPOINT --queue QUEUE --log-level warn EXTRA... (NULL-terminated). */
pid_t st_plugin(const xsp_test_switch_t *sw, const char *queue, ...) __attribute__((sentinel));
/*  Wait up to timeout_ms for pid to exit: its exit status, 128 + signal, or -1 (still
    running). */
int st_wait(pid_t pid, int timeout_ms);
/*  SIGTERM, then st_wait(5 s) (SIGKILL after that).  The exit status (0 = clean). */
int st_stop(pid_t pid);
/*  SIGKILL and reap. */
void st_kill(pid_t pid);

#endif

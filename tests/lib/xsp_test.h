/*  xsp_test.h — a tiny harness for xsp tests: run a real xsp-switch, check things.

    Owns: starting, killing, restarting and stopping xsp-switch child processes in
    private run directories; temporary directories; CHECK macros.
    Never touches: the switch's sockets (tests use libxsp for that).

    Usage:
        xsp_test_switch_t sw;
        CHECK(xsp_test_switch_start(&sw, "--heartbeat-ms", "100", NULL) == 0);
        ... connect to sw.endpoint ...
        xsp_test_switch_kill(&sw);              // SIGKILL, like a crash
        CHECK(xsp_test_switch_restart(&sw) == 0); // same run dir, endpoint and arguments
        CHECK(xsp_test_switch_stop(&sw) == 0);  // SIGTERM, wait, exit status

    The switch binary is $XSP_TEST_SWITCH_BIN if set, else the build tree's
    bin/xsp-switch (compiled in as XSP_TEST_SWITCH_BIN_DEFAULT).  $XSP_TEST_WRAPPER, when
    set, is a command prefix (split on spaces) the switch runs under, e.g.
    "valgrind --leak-check=full --error-exitcode=99": the memcheck tests use it, and a
    leak then shows as a non-zero exit status from xsp_test_switch_stop.  Each switch runs with
    --run-dir in a fresh directory under $TMPDIR (or /tmp) and --log-level warn unless the
    extra arguments say otherwise; its stderr is the test's stderr.
    Children never outlive the test: every started switch is killed at exit (also after a
    failed CHECK), and each child has PR_SET_PDEATHSIG = SIGKILL in case the test itself
    is killed.  Run directories are removed at exit.

    Thread-safety: none; call from the test's main thread.
*/
#ifndef XSP_TEST_H
#define XSP_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define XSP_TEST_MAX_ARGS 32

typedef struct {
    pid_t pid;                  /* 0 when not running */
    int out_fd;                 /* the switch's stdout (kept open while it runs) */
    char run_dir[256];
    char endpoint[300];         /* ipc://RUN_DIR/switch.sock */
    char ready[1024];           /* the endpoints of the ready line */
    char args[XSP_TEST_MAX_ARGS][128];  /* extra arguments, copied */
    int nargs;
} xsp_test_switch_t;

/*  Start a switch in a new private run dir with extra arguments (NULL-terminated list).
    Waits up to 10 s for its ready line.  Returns 0, or -1 (reason on stderr). */
int xsp_test_switch_start(xsp_test_switch_t *sw, ...) __attribute__((sentinel));
/*  Same, with an argument vector (NULL-terminated; NULL = none). */
int xsp_test_switch_startv(xsp_test_switch_t *sw, const char *const *extra);
/*  SIGKILL the switch and reap it.  No-op when it is not running. */
void xsp_test_switch_kill(xsp_test_switch_t *sw);
/*  Start it again (after kill/stop) with the same run dir and arguments. */
int xsp_test_switch_restart(xsp_test_switch_t *sw);
/*  SIGTERM, wait up to 5 s (then SIGKILL).  Returns the exit status (0 = clean),
    128 + signal when killed by one, -1 when it was not running. */
int xsp_test_switch_stop(xsp_test_switch_t *sw);

/*  Make a fresh private directory (mode 0700) under $TMPDIR or /tmp, removed at exit.
    Returns buf, or NULL. */
char *xsp_test_tmpdir(char *buf, size_t cap);
/*  Milliseconds of the monotonic clock. */
long long xsp_test_now_ms(void);
/*  A deadline or short interval scaled for slow builds: ms x 3 under ASan or when
    XSP_TEST_SLOW is set (valgrind), else ms (like tests/switch swt_ms()).  The switch's
    --heartbeat-ms below 1000 is scaled so too (a starved peer must not look dead): waits
    derived from the interval use xsp_test_ms(). */
int xsp_test_ms(int ms);
/*  Path of a build-tree binary (bin/NAME), or $XSP_TEST_BIN_DIR/NAME when set. */
const char *xsp_test_bin(const char *name, char *buf, size_t cap);

/*  Checks: on failure print file:line and the expression (and values) and exit(1);
    the exit handler kills the switches. */
#define CHECK(expr)                                                                        \
    do {                                                                                   \
        if (!(expr)) {                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr);       \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#define CHECK_MSG(expr, ...)                                                               \
    do {                                                                                   \
        if (!(expr)) {                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #expr);       \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#define CHECK_EQ(a, b)                                                                     \
    do {                                                                                   \
        long long va_ = (long long) (a), vb_ = (long long) (b);                            \
        if (va_ != vb_) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__,   \
                    __LINE__, #a, #b, va_, vb_);                                           \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#define CHECK_STR(a, b)                                                                    \
    do {                                                                                   \
        const char *sa_ = (a), *sb_ = (b);                                                 \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n",         \
                    __FILE__, __LINE__, #a, #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)"); \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/*  An xsp error value must have code c (prints its sentence otherwise). */
#define CHECK_CODE(err, c)                                                                 \
    do {                                                                                   \
        if ((err).code != (c)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s is %s (%s), want %s\n", __FILE__,     \
                    __LINE__, #err, xsp_code_name((err).code), (err).msg, xsp_code_name(c)); \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#endif

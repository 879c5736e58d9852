/*  swtest.h — the switch tests' process harness: start/stop xsp-switch in a private temp
    run directory, CHECK macros, a per-test watchdog, helper child processes, timing.

    Owns: every xsp-switch process a test starts (killed on any failure, on the watchdog
    and when the test process dies: PR_SET_PDEATHSIG), its temp directory (removed at the
    end), and the exit check (a switch must exit 0 on SIGTERM with no sanitizer report in
    its log, or the test fails).
    Never touches: sockets (rawpeer.h does), the switch's protocol.

    A test program is a table of cases; `swt_main` runs the case named by argv[1] (every
    case when none is given) and returns the exit status.  ctest registers one test per
    case (tests/switch/CMakeLists.txt).  A failed CHECK prints where and why, dumps the tail
    of every switch log, kills everything and _exits(1): checks work from any thread.
*/
#ifndef SWTEST_H
#define SWTEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ checks */

__attribute__((noreturn, format(printf, 4, 5)))
void swt_fail(const char *file, int line, const char *expr, const char *fmt, ...);

#define CHECK(cond) \
    do { if (!(cond)) swt_fail(__FILE__, __LINE__, #cond, " "); } while (0)
#define CHECKF(cond, ...) \
    do { if (!(cond)) swt_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); } while (0)
/*  CHECK_U(a, op, b): unsigned comparison that prints both values. */
#define CHECK_U(a, op, b) \
    do { unsigned long long _a = (unsigned long long) (a), _b = (unsigned long long) (b); \
         if (!(_a op _b)) swt_fail(__FILE__, __LINE__, #a " " #op " " #b, \
                                   "(%llu " #op " %llu is false)", _a, _b); } while (0)
/*  CHECK_STR(xsp_str_t s, "text"): a borrowed string equals a C string. */
#define CHECK_STR(s, lit) \
    do { xsp_str_t _s = (s); const char *_l = (lit); \
         if (_s.len != strlen(_l) || memcmp(_s.ptr, _l, _s.len) != 0) \
             swt_fail(__FILE__, __LINE__, #s " == \"" #lit "\"", "(got \"%.*s\", want \"%s\")", \
                      (int) _s.len, _s.ptr ? _s.ptr : "", _l); } while (0)
/*  FAILF(...): unconditional failure. */
#define FAILF(...) swt_fail(__FILE__, __LINE__, "failure", __VA_ARGS__)

/*  Print a progress note (prefixed, flushed) — tests narrate what they do. */
__attribute__((format(printf, 1, 2))) void swt_note(const char *fmt, ...);

/* ------------------------------------------------------------------ time */

uint64_t swt_now_ns(void);
uint64_t swt_now_ms(void);
/*  Plain sleep (no heartbeats: use rp_sleep when peers must stay alive). */
void swt_msleep(unsigned ms);
/*  true when the tests run against a sanitizer build (slower: scale timeouts). */
bool swt_sanitized(void);
/*  ms scaled by the sanitizer slowdown factor (x3 under ASan). */
unsigned swt_ms(unsigned ms);

/* ------------------------------------------------------------------ the switch process */

typedef struct swt_switch {
    pid_t pid;                  /* 0 once reaped */
    int status;                 /* waitpid status once reaped */
    char base[128];             /* private temp dir: run/ and switch.log */
    char run_dir[160];
    char endpoint[512];         /* from "xsp-switch ready: ENDPOINT" (the first one) */
    char ready[1024];           /* every endpoint of the ready line, space-separated */
    char log_path[160];
    char sock_path[192];        /* run_dir/switch.sock */
    char lock_path[192];        /* run_dir/switch.lock */
    bool stopped;               /* swt_stop/swt_kill done */
} swt_switch_t;

/*  Path of the xsp-switch binary ($XSP_SWITCH_BIN overrides the build's). */
const char *swt_switch_bin(void);

/*  Start xsp-switch with --run-dir in a fresh temp dir plus the NULL-terminated extra
    arguments, and wait (bounded) for its ready line.  Fails the test if it does not start. */
swt_switch_t *swt_start(const char *arg, ...);
swt_switch_t *swt_startv(const char *const *args);

/*  Start another switch on an existing run dir and expect it to refuse: returns its exit
    status (waitpid form) and its stderr+stdout in out (NUL-terminated). */
int swt_run_expect_exit(const char *run_dir, char *out, size_t cap, unsigned timeout_ms);
/*  Run xsp-switch with exactly these arguments (NULL-terminated, no --run-dir added) and
    expect it to exit by itself within timeout_ms: returns the waitpid status, output in out. */
int swt_run_argv(const char *const *args, char *out, size_t cap, unsigned timeout_ms);

/*  SIGTERM, wait (bounded), require exit status 0 and a log free of sanitizer reports.
    Returns the ms from the signal to the exit.  sig may be SIGTERM or SIGINT. */
unsigned swt_stop(swt_switch_t *sw);
unsigned swt_stop_sig(swt_switch_t *sw, int sig);
/*  SIGKILL and reap (no exit check). */
void swt_kill(swt_switch_t *sw);
/*  Is the process still running (not exited, not a zombie)? */
bool swt_alive(swt_switch_t *sw);
/*  VmRSS in KiB, or 0. */
long swt_rss_kb(pid_t pid);
/*  Dump the last `lines` lines of the switch log to stderr. */
void swt_dump_log(const swt_switch_t *sw, int lines);
/*  true when the log contains `needle`. */
bool swt_log_contains(const swt_switch_t *sw, const char *needle);

/* ------------------------------------------------------------------ helper children */

/*  Run this test binary again as `argv0 child CASE args...` in a child process whose
    stdout is a pipe (*out_fd).  The child dies with the test (PDEATHSIG) and is killed on
    failure.  Returns its pid. */
pid_t swt_spawn_child(const char *child_case, int *out_fd, const char *arg, ...);
/*  Read one line from fd within timeout_ms; returns its length (newline stripped) or -1. */
int swt_read_line(int fd, char *buf, size_t cap, unsigned timeout_ms);
/*  SIGKILL a child and reap it. */
void swt_kill_child(pid_t pid);
/*  Wait (bounded) for a child; returns its waitpid status or -1 on timeout. */
int swt_wait_child(pid_t pid, unsigned timeout_ms);

/* ------------------------------------------------------------------ runner */

typedef struct {
    const char *name;
    void (*fn)(void);
    bool hidden;                /* a helper child mode, not run by "all" */
} swt_case_t;

/*  Extra arguments after the case name (for child modes). */
extern int swt_argc;
extern char **swt_argv;

/*  Run a case (argv[1]; "all" or nothing = every non-hidden case), with a watchdog of
    `watchdog_s` seconds.  After the case: closes leftover peers (rawpeer), stops every
    switch still running with the exit check, removes temp dirs.  Returns 0 or exits 1. */
int swt_main(int argc, char **argv, const swt_case_t *cases, unsigned watchdog_s);

/*  Hook for rawpeer: called at the end of a case to close leftover sockets. */
extern void (*swt_cleanup_hook)(void);
/*  Hook for rawpeer: called at least every 20 ms while swtest waits (swt_read_line,
    swt_run_argv, swt_run_expect_exit, swt_wait_child), so the peers this thread has open
    keep heartbeating: with --heartbeat-ms 100 a wait of 300 ms would kill them. */
extern void (*swt_idle_hook)(void);

#ifdef __cplusplus
}
#endif
#endif

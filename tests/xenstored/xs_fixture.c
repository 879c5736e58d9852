/*
 * xs_fixture.c - start/stop a real xenstored for C tests; see xs_fixture.h.
 *
 * The daemon is fork/exec'ed directly (no shell) as
 *   xenstored -N -F RUNDIR/pid -T RUNDIR/trace.log
 * with XENSTORED_RUNDIR=RUNDIR, XENSTORED_PATH=RUNDIR/socket and
 * LD_PRELOAD=<shim> (replacing any inherited LD_PRELOAD: a sanitizer runtime
 * or other preload must not end up inside xenstored).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "xs_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xenstore.h>

extern char **environ;

#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS  3000
#define POLL_STEP_MS     50
#define LOG_TAIL_BYTES   1500

#ifndef XS_FIXTURE_DEFAULT_XENSTORED
#define XS_FIXTURE_DEFAULT_XENSTORED NULL
#endif
#ifndef XS_FIXTURE_DEFAULT_XSSHIM
#define XS_FIXTURE_DEFAULT_XSSHIM NULL
#endif

/* Everything needed to launch one daemon; strings are owned. */
struct launch {
    char *bin, *shim, *rundir, *sock, *log, *pidfile, *trace;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Append ": <last lines of the log>" to err, if the log has anything. */
static void append_log_tail(char *err, size_t errlen, const char *log)
{
    char tail[LOG_TAIL_BYTES + 1];
    size_t used = err ? strlen(err) : 0;
    ssize_t n;
    off_t size;
    int fd = open(log, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || !err || used >= errlen)
        goto out;
    size = lseek(fd, 0, SEEK_END);
    if (size <= 0)
        goto out;
    lseek(fd, size > LOG_TAIL_BYTES ? size - LOG_TAIL_BYTES : 0, SEEK_SET);
    n = read(fd, tail, LOG_TAIL_BYTES);
    if (n > 0) {
        tail[n] = '\0';
        snprintf(err + used, errlen - used, "\n--- tail of %s ---\n%s", log,
                 tail);
    }
out:
    if (fd >= 0)
        close(fd);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static char *join(const char *a, const char *b)
{
    char *s = NULL;

    return asprintf(&s, "%s%s", a, b) < 0 ? NULL : s;
}

static void launch_free(struct launch *l)
{
    free(l->bin);
    free(l->shim);
    free(l->rundir);
    free(l->sock);
    free(l->log);
    free(l->pidfile);
    free(l->trace);
}

/* Path from env var `var`, else the compiled-in default; checked. */
static char *resolve(const char *var, const char *def, int mode,
                     const char *what, char *err, size_t errlen)
{
    const char *v = getenv(var);
    const char *path = (v && *v) ? v : def;

    if (!path) {
        set_err(err, errlen, "no %s: set %s", what, var);
        return NULL;
    }
    if (access(path, mode) != 0) {
        set_err(err, errlen, "%s %s not usable (%s); set %s%s", what, path,
                strerror(errno), var,
                mode == X_OK ? " or run tests/xenstored/fetch-xenstored.sh"
                             : " or build the xsshim target");
        return NULL;
    }
    return strdup(path);
}

static int launch_init(struct launch *l, const char *rundir, char *err,
                       size_t errlen)
{
    struct sockaddr_un sa;

    memset(l, 0, sizeof(*l));
    l->bin = resolve("XSP_XENSTORED", XS_FIXTURE_DEFAULT_XENSTORED, X_OK,
                     "xenstored binary", err, errlen);
    if (!l->bin)
        return -1;
    l->shim = resolve("XSP_XSSHIM", XS_FIXTURE_DEFAULT_XSSHIM, R_OK,
                      "xsshim library", err, errlen);
    if (!l->shim)
        return -1;
    if (mkdir(rundir, 0700) != 0 && errno != EEXIST) {
        set_err(err, errlen, "cannot create rundir %s: %s", rundir,
                strerror(errno));
        return -1;
    }
    l->rundir = strdup(rundir);
    l->sock = join(rundir, "/socket");
    l->log = join(rundir, "/xenstored.log");
    l->pidfile = join(rundir, "/pid");
    l->trace = join(rundir, "/trace.log");
    if (!l->rundir || !l->sock || !l->log || !l->pidfile || !l->trace) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    if (strlen(l->sock) >= sizeof(sa.sun_path)) {
        set_err(err, errlen, "socket path %s too long for a Unix socket",
                l->sock);
        return -1;
    }
    return 0;
}

static bool is_overridden(const char *entry)
{
    static const char *const names[] = {
        "XENSTORED_RUNDIR=", "XENSTORED_PATH=", "LD_PRELOAD=",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strncmp(entry, names[i], strlen(names[i])) == 0)
            return true;
    return false;
}

/* The caller's environment with our three variables replaced. */
static char **child_env(const struct launch *l)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ[n])
        n++;
    env = calloc(n + 4, sizeof(*env));
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!is_overridden(environ[i]))
            env[k++] = environ[i];
    env[k++] = join("XENSTORED_RUNDIR=", l->rundir);
    env[k++] = join("XENSTORED_PATH=", l->sock);
    env[k++] = join("LD_PRELOAD=", l->shim);
    if (!env[k - 1] || !env[k - 2] || !env[k - 3]) {
        for (size_t i = k - 3; i < k; i++)
            free(env[i]);
        free(env);
        return NULL;
    }
    return env;
}

static void child_env_free(char **env)
{
    size_t n = 0;

    while (env[n])
        n++;
    for (size_t i = n - 3; i < n; i++)
        free(env[i]);
    free(env);
}

/* In the child: stdio to /dev/null + log, then exec; reports errno on pipe. */
static void exec_child(const struct launch *l, char **env, int logfd,
                       int nullfd, int errpipe)
{
    char *argv[] = { l->bin, (char *)"-N", (char *)"-F", l->pidfile,
                     (char *)"-T", l->trace, NULL };
    ssize_t written;
    int e;

    if (dup2(nullfd, STDIN_FILENO) >= 0 && dup2(logfd, STDOUT_FILENO) >= 0 &&
        dup2(logfd, STDERR_FILENO) >= 0)
        execve(l->bin, argv, env);
    e = errno;
    written = write(errpipe, &e, sizeof(e));
    (void)written; /* nothing else can be done if that fails */
    _exit(127);
}

/* Fork/exec xenstored; returns its pid or -1. Fails if exec fails. */
static pid_t spawn(const struct launch *l, char *err, size_t errlen)
{
    int logfd = open(l->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char **env = child_env(l);
    int pfd[2] = { -1, -1 };
    pid_t pid = -1;
    int e = 0;

    if (logfd < 0 || nullfd < 0 || !env || pipe2(pfd, O_CLOEXEC) != 0) {
        set_err(err, errlen, "cannot prepare xenstored launch (log %s): %s",
                l->log, strerror(errno));
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        set_err(err, errlen, "fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0)
        exec_child(l, env, logfd, nullfd, pfd[1]);
    close(pfd[1]);
    pfd[1] = -1;
    if (read(pfd[0], &e, sizeof(e)) == (ssize_t)sizeof(e)) {
        set_err(err, errlen, "cannot exec %s: %s", l->bin, strerror(e));
        waitpid(pid, NULL, 0);
        pid = -1;
    }
out:
    for (int i = 0; i < 2; i++)
        if (pfd[i] >= 0)
            close(pfd[i]);
    if (logfd >= 0)
        close(logfd);
    if (nullfd >= 0)
        close(nullfd);
    if (env)
        child_env_free(env);
    return pid;
}

/* True if the daemon behind XENSTORED_PATH answers a read of "/". */
static bool daemon_answers(void)
{
    struct xs_handle *h = xs_open(0);
    unsigned int len;
    void *v;

    if (!h)
        return false;
    v = xs_read(h, XBT_NULL, "/", &len);
    free(v);
    xs_close(h);
    return v != NULL;
}

static void describe_exit(char *err, size_t errlen, int status)
{
    if (WIFEXITED(status))
        set_err(err, errlen,
                "xenstored exited with status %d during start-up%s",
                WEXITSTATUS(status),
                WEXITSTATUS(status) == 0
                    ? " (another xenstored holding the pid file lock?)"
                    : "");
    else if (WIFSIGNALED(status))
        set_err(err, errlen, "xenstored killed by signal %d (%s) during "
                "start-up", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        set_err(err, errlen, "xenstored stopped unexpectedly");
}

/* Poll until the daemon answers, dies, or the start timeout expires. */
static int wait_ready(pid_t pid, const struct launch *l, char *err,
                      size_t errlen)
{
    long long deadline = now_ms() + START_TIMEOUT_MS;
    int status;

    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            describe_exit(err, errlen, status);
            return -1;
        }
        if (daemon_answers())
            return 0;
        if (now_ms() >= deadline)
            break;
        sleep_ms(POLL_STEP_MS);
    }
    set_err(err, errlen, "xenstored (pid %ld) did not answer on %s within "
            "%d ms", (long)pid, l->sock, START_TIMEOUT_MS);
    xs_fixture_stop(pid);
    return -1;
}

int xs_fixture_start(const char *rundir, pid_t *pid_out, char *err,
                     size_t errlen)
{
    struct launch l;
    pid_t pid = -1;
    int rc = -1;

    set_err(err, errlen, "(no error)");
    if (!rundir || !*rundir || !pid_out) {
        set_err(err, errlen, "xs_fixture_start: rundir and pid_out needed");
        return -1;
    }
    if (launch_init(&l, rundir, err, errlen) != 0)
        goto out;
    /* Clients of this process (libxenstore, xenstore-* tools) use it too. */
    if (setenv("XENSTORED_PATH", l.sock, 1) != 0) {
        set_err(err, errlen, "setenv XENSTORED_PATH: %s", strerror(errno));
        goto out;
    }
    pid = spawn(&l, err, errlen);
    if (pid < 0)
        goto out;
    if (wait_ready(pid, &l, err, errlen) != 0) {
        append_log_tail(err, errlen, l.log);
        goto out;
    }
    *pid_out = pid;
    rc = 0;
out:
    launch_free(&l);
    return rc;
}

/* Wait up to timeout_ms for pid to exit; true once it is reaped. */
static bool reap_within(pid_t pid, long timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    for (;;) {
        pid_t r = waitpid(pid, NULL, WNOHANG);

        if (r == pid || (r < 0 && errno == ECHILD))
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(10);
    }
}

void xs_fixture_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    if (kill(pid, SIGTERM) != 0 && errno == ESRCH) {
        reap_within(pid, 0);
        return;
    }
    if (reap_within(pid, STOP_TIMEOUT_MS))
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/*  xsp_test.c — the harness behind xsp_test.h.

    Owns: the list of switches started by this process (killed at exit) and of temporary
    directories (removed at exit).
    Never touches: anything but its own children and directories.
*/
#define _GNU_SOURCE
#include "xsp_test.h"
#include "xsp/client.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef XSP_TEST_SWITCH_BIN_DEFAULT
#define XSP_TEST_SWITCH_BIN_DEFAULT "xsp-switch"
#endif
#ifndef XSP_TEST_BIN_DIR_DEFAULT
#define XSP_TEST_BIN_DIR_DEFAULT "."
#endif

#define MAX_TRACKED 16

static pid_t tracked[MAX_TRACKED];     /* running children (pids, not pointers: the
                                          switch structs may be gone when exit runs) */
static char *tmpdirs[MAX_TRACKED];
static bool exit_hook;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static void at_exit_cleanup(void)
{
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (tracked[i] > 0) {
            kill(tracked[i], SIGKILL);
            waitpid(tracked[i], NULL, 0);
            tracked[i] = 0;
        }
    }
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (tmpdirs[i]) {
            nftw(tmpdirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
            free(tmpdirs[i]);
            tmpdirs[i] = NULL;
        }
    }
}

static void hook(void)
{
    if (!exit_hook) {
        atexit(at_exit_cleanup);
        exit_hook = true;
    }
}

long long xsp_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int xsp_test_ms(int ms)
{
#if defined(__SANITIZE_ADDRESS__)
    return ms * 3;
#else
    return getenv("XSP_TEST_SLOW") ? ms * 3 : ms;
#endif
}

char *xsp_test_tmpdir(char *buf, size_t cap)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base || strlen(base) > 60)   /* ipc paths must stay short */
        base = "/tmp";
    if ((size_t) snprintf(buf, cap, "%s/xsp-test.XXXXXX", base) >= cap || !mkdtemp(buf)) {
        fprintf(stderr, "xsp_test: cannot make a temporary directory: %s\n", strerror(errno));
        return NULL;
    }
    hook();
    for (int i = 0; i < MAX_TRACKED; i++)
        if (!tmpdirs[i]) {
            tmpdirs[i] = strdup(buf);
            break;
        }
    return buf;
}

const char *xsp_test_bin(const char *name, char *buf, size_t cap)
{
    const char *dir = getenv("XSP_TEST_BIN_DIR");
    snprintf(buf, cap, "%s/%s", dir && *dir ? dir : XSP_TEST_BIN_DIR_DEFAULT, name);
    return buf;
}

static void track(pid_t pid, bool on)
{
    hook();
    for (int i = 0; i < MAX_TRACKED; i++)
        if (tracked[i] == (on ? 0 : pid)) {
            tracked[i] = on ? pid : 0;
            return;
        }
}

/*  Read the ready line from fd within timeout_ms.  0 or -1. */
static int read_ready(xsp_test_switch_t *sw, int timeout_ms)
{
    char line[2048];
    size_t len = 0;
    long long end = xsp_test_now_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(line, '\n', len);
        if (nl) {
            *nl = '\0';
            static const char prefix[] = "xsp-switch ready: ";
            if (strncmp(line, prefix, sizeof prefix - 1) == 0) {
                snprintf(sw->ready, sizeof sw->ready, "%.*s", (int) sizeof sw->ready - 1,
                         line + sizeof prefix - 1);
                return 0;
            }
            size_t rest = len - (size_t) (nl + 1 - line);
            memmove(line, nl + 1, rest);    /* another line: keep looking */
            len = rest;
            continue;
        }
        long long left = end - xsp_test_now_ms();
        if (left <= 0 || len == sizeof line - 1) {
            fprintf(stderr, "xsp_test: no ready line from xsp-switch within %d ms\n", timeout_ms);
            return -1;
        }
        struct pollfd p = { .fd = sw->out_fd, .events = POLLIN };
        if (poll(&p, 1, (int) left) <= 0)
            continue;
        ssize_t n = read(sw->out_fd, line + len, sizeof line - 1 - len);
        if (n <= 0) {
            fprintf(stderr, "xsp_test: xsp-switch exited before it was ready\n");
            return -1;
        }
        len += (size_t) n;
    }
}

static int spawn(xsp_test_switch_t *sw)
{
    const char *bin = getenv("XSP_TEST_SWITCH_BIN");
    if (!bin || !*bin)
        bin = XSP_TEST_SWITCH_BIN_DEFAULT;
    const char *argv[XSP_TEST_MAX_ARGS + 8 + 16];
    int n = 0;
    bool has_level = false;
    /* XSP_TEST_WRAPPER="valgrind --leak-check=full ..." runs the switch under a tool:
       words split on spaces, at most 16 */
    static char wrap[1024];
    const char *w = getenv("XSP_TEST_WRAPPER");
    if (w && *w) {
        snprintf(wrap, sizeof wrap, "%s", w);
        for (char *save = NULL, *tok = strtok_r(wrap, " ", &save); tok && n < 16;
             tok = strtok_r(NULL, " ", &save))
            argv[n++] = tok;
    }
    const char *exe = n ? argv[0] : bin;
    argv[n++] = bin;
    argv[n++] = "--run-dir";
    argv[n++] = sw->run_dir;
    static char hb[16];
    for (int i = 0; i < sw->nargs; i++) {
        if (strcmp(sw->args[i], "--log-level") == 0)
            has_level = true;
        argv[n++] = sw->args[i];
        /* a short heartbeat is a deadline too: scaled like xsp_test_ms() (xsp_test.h) */
        if (strcmp(sw->args[i], "--heartbeat-ms") == 0 && i + 1 < sw->nargs &&
            atoi(sw->args[i + 1]) > 0 && atoi(sw->args[i + 1]) < 1000) {
            snprintf(hb, sizeof hb, "%d", xsp_test_ms(atoi(sw->args[i + 1])));
            argv[n++] = hb;
            i++;
        }
    }
    if (!has_level) {
        argv[n++] = "--log-level";
        argv[n++] = "warn";
    }
    argv[n] = NULL;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(p[1], STDOUT_FILENO);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execvp(exe, (char *const *) argv);
        fprintf(stderr, "xsp_test: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    sw->pid = pid;
    sw->out_fd = p[0];
    track(pid, true);
    if (read_ready(sw, getenv("XSP_TEST_WRAPPER") ? 60000 : 10000) != 0) {
        xsp_test_switch_kill(sw);
        return -1;
    }
    if (getenv("XSP_TEST_WRAPPER")) {
        /* under a tool (valgrind) the switch's first HELLO — code the tool translates on
           first use — can outlast a client's 5 s connect timeout on a loaded machine: say
           it once now, with time, before the test's own clients do */
        xsp_client_opts_t o = { .endpoint = sw->endpoint, .name = "xsp-test-warmup",
                                .connect_timeout_ms = 60000 };
        xsp_error_t err;
        xsp_client_t *c = xsp_client_new_opts(&o, &err);
        if (!c) {
            fprintf(stderr, "xsp_test: the switch under %s did not answer HELLO: %s\n", exe, err.msg);
            xsp_test_switch_kill(sw);
            return -1;
        }
        xsp_client_destroy(&c);
    }
    return 0;
}

int xsp_test_switch_startv(xsp_test_switch_t *sw, const char *const *extra)
{
    memset(sw, 0, sizeof *sw);
    sw->out_fd = -1;
    if (!xsp_test_tmpdir(sw->run_dir, sizeof sw->run_dir))
        return -1;
    snprintf(sw->endpoint, sizeof sw->endpoint, "ipc://%s/switch.sock", sw->run_dir);
    for (int i = 0; extra && extra[i]; i++) {
        if (sw->nargs == XSP_TEST_MAX_ARGS) {
            fprintf(stderr, "xsp_test: too many switch arguments\n");
            return -1;
        }
        if (strlen(extra[i]) >= sizeof sw->args[0]) {
            fprintf(stderr, "xsp_test: switch argument too long: %s\n", extra[i]);
            return -1;
        }
        snprintf(sw->args[sw->nargs++], sizeof sw->args[0], "%s", extra[i]);
    }
    return spawn(sw);
}

int xsp_test_switch_start(xsp_test_switch_t *sw, ...)
{
    const char *extra[XSP_TEST_MAX_ARGS + 1];
    int n = 0;
    va_list ap;
    va_start(ap, sw);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < XSP_TEST_MAX_ARGS)
        extra[n++] = a;
    va_end(ap);
    extra[n] = NULL;
    return xsp_test_switch_startv(sw, extra);
}

static void reaped(xsp_test_switch_t *sw)
{
    track(sw->pid, false);
    sw->pid = 0;
    if (sw->out_fd >= 0)
        close(sw->out_fd);
    sw->out_fd = -1;
}

void xsp_test_switch_kill(xsp_test_switch_t *sw)
{
    if (sw->pid <= 0)
        return;
    kill(sw->pid, SIGKILL);
    while (waitpid(sw->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    reaped(sw);
}

int xsp_test_switch_restart(xsp_test_switch_t *sw)
{
    if (sw->pid > 0)
        xsp_test_switch_kill(sw);
    return spawn(sw);
}

int xsp_test_switch_stop(xsp_test_switch_t *sw)
{
    if (sw->pid <= 0)
        return -1;
    kill(sw->pid, SIGTERM);
    long long end = xsp_test_now_ms() + 5000;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(sw->pid, &status, WNOHANG);
        if (r == sw->pid)
            break;
        if (xsp_test_now_ms() > end) {
            fprintf(stderr, "xsp_test: xsp-switch ignored SIGTERM for 5 s: killing it\n");
            kill(sw->pid, SIGKILL);
            waitpid(sw->pid, &status, 0);
            break;
        }
        usleep(10000);
    }
    reaped(sw);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

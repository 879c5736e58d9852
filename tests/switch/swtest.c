/*  swtest.c — see swtest.h. */
#define _GNU_SOURCE
#include "swtest.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef XSP_SWITCH_BIN
#define XSP_SWITCH_BIN "xsp-switch"
#endif

#define MAX_SWITCHES 16
#define MAX_CHILDREN 16

int swt_argc;
char **swt_argv;
void (*swt_cleanup_hook)(void);
void (*swt_idle_hook)(void);

#define IDLE_SLICE_MS 20

static void idle(void)
{
    if (swt_idle_hook)
        swt_idle_hook();
}

/*  poll(2) on one fd for POLLIN, up to ms, calling the idle hook every IDLE_SLICE_MS. */
static int poll_idle(int fd, unsigned ms)
{
    uint64_t deadline = swt_now_ms() + ms;
    for (;;) {
        idle();
        uint64_t now = swt_now_ms();
        if (now >= deadline)
            return 0;
        struct pollfd p = { fd, POLLIN, 0 };
        uint64_t left = deadline - now;
        int rc = poll(&p, 1, left > IDLE_SLICE_MS ? IDLE_SLICE_MS : (int) left);
        if (rc != 0)
            return rc;
    }
}

static swt_switch_t *switches[MAX_SWITCHES];
static volatile pid_t kill_list[MAX_SWITCHES + MAX_CHILDREN];   /* for the signal handler */
static pid_t children[MAX_CHILDREN];
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *current_case = "?";
static char self_exe[4096];

/* ------------------------------------------------------------------ time */

uint64_t swt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

uint64_t swt_now_ms(void)
{
    return swt_now_ns() / 1000000ull;
}

void swt_msleep(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

bool swt_sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#else
    return getenv("XSP_TEST_SLOW") != NULL;
#endif
}

unsigned swt_ms(unsigned ms)
{
    return swt_sanitized() ? ms * 3 : ms;
}

void swt_note(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stdout, "[%s +%llu] %s\n", current_case, (unsigned long long) (swt_now_ms() % 100000), buf);
    fflush(stdout);
}

/* ------------------------------------------------------------------ kill list */

static void kill_list_add(pid_t pid)
{
    for (size_t i = 0; i < sizeof kill_list / sizeof kill_list[0]; i++)
        if (!kill_list[i]) {
            kill_list[i] = pid;
            return;
        }
}

static void kill_list_del(pid_t pid)
{
    for (size_t i = 0; i < sizeof kill_list / sizeof kill_list[0]; i++)
        if (kill_list[i] == pid)
            kill_list[i] = 0;
}

static void kill_everything(void)
{
    for (size_t i = 0; i < sizeof kill_list / sizeof kill_list[0]; i++)
        if (kill_list[i] > 0)
            kill(kill_list[i], SIGKILL);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *path)
{
    if (path[0])
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------ failure */

void swt_dump_log(const swt_switch_t *sw, int lines)
{
    FILE *f = fopen(sw->log_path, "r");
    if (!f) {
        fprintf(stderr, "   (no switch log at %s)\n", sw->log_path);
        return;
    }
    static char ring[64][512];
    int n = 0;
    while (fgets(ring[n % 64], sizeof ring[0], f))
        n++;
    fclose(f);
    if (lines > 64)
        lines = 64;
    int first = n > lines ? n - lines : 0;
    fprintf(stderr, "   --- last %d lines of %s (pid %d) ---\n", n - first, sw->log_path, (int) sw->pid);
    for (int i = first; i < n; i++)
        fprintf(stderr, "   | %s", ring[i % 64]);
}

void swt_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
    pthread_mutex_lock(&fail_lock);     /* never unlocked: one failure report, then _exit */
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "FAIL [%s] %s:%d: %s %s\n", current_case, file, line, expr, msg);
    for (int i = 0; i < MAX_SWITCHES; i++) {
        swt_switch_t *sw = switches[i];
        if (!sw)
            continue;
        if (sw->pid > 0) {
            int st;
            pid_t r = waitpid(sw->pid, &st, WNOHANG);
            if (r == sw->pid)
                fprintf(stderr, "   switch pid %d had already exited (status 0x%x)\n", (int) sw->pid, st);
            else
                fprintf(stderr, "   switch pid %d still running; killing it\n", (int) sw->pid);
        }
        swt_dump_log(sw, 40);
    }
    kill_everything();
    for (int i = 0; i < MAX_SWITCHES; i++)
        if (switches[i]) {
            if (switches[i]->pid > 0)
                waitpid(switches[i]->pid, NULL, 0);
            rm_tree(switches[i]->base);
        }
    fflush(stderr);
    _exit(1);
}

static void on_alarm(int sig)
{
    (void) sig;
    static const char m[] = "FAIL: the test's watchdog fired (hung?); killing the switch and children\n";
    ssize_t w = write(2, m, sizeof m - 1);
    (void) w;
    kill_everything();
    _exit(1);
}

/* ------------------------------------------------------------------ switch process */

const char *swt_switch_bin(void)
{
    const char *e = getenv("XSP_SWITCH_BIN");
    return e && *e ? e : XSP_SWITCH_BIN;
}

/*  fork + exec with stdout to a pipe and stderr to a file; the child dies with us. */
static pid_t spawn(const char *path, char *const argv[], const char *log_path, int *out_fd, bool merge)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        FAILF("pipe: %s", strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        FAILF("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int log = log_path ? open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600) : 2;
        dup2(pfd[1], 1);
        if (merge)
            dup2(pfd[1], 2);
        else if (log >= 0 && log != 2)
            dup2(log, 2);
        signal(SIGPIPE, SIG_DFL);
        execv(path, argv);
        dprintf(2, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    *out_fd = pfd[0];
    return pid;
}

int swt_read_line(int fd, char *buf, size_t cap, unsigned timeout_ms)
{
    size_t n = 0;
    uint64_t deadline = swt_now_ms() + timeout_ms;
    while (n + 1 < cap) {
        uint64_t now = swt_now_ms();
        if (now >= deadline)
            return -1;
        int rc = poll_idle(fd, (unsigned) (deadline - now));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        if (c == '\n') {
            buf[n] = '\0';
            return (int) n;
        }
        buf[n++] = c;
    }
    buf[n] = '\0';
    return (int) n;
}

static void register_switch(swt_switch_t *sw)
{
    for (int i = 0; i < MAX_SWITCHES; i++)
        if (!switches[i]) {
            switches[i] = sw;
            return;
        }
    FAILF("too many switches in one test");
}

swt_switch_t *swt_startv(const char *const *args)
{
    swt_switch_t *sw = calloc(1, sizeof *sw);
    CHECK(sw);
    snprintf(sw->base, sizeof sw->base, "/tmp/xsp-swtest.XXXXXX");
    if (!mkdtemp(sw->base))
        FAILF("mkdtemp: %s", strerror(errno));
    snprintf(sw->run_dir, sizeof sw->run_dir, "%s/run", sw->base);
    snprintf(sw->log_path, sizeof sw->log_path, "%s/switch.log", sw->base);
    snprintf(sw->sock_path, sizeof sw->sock_path, "%s/switch.sock", sw->run_dir);
    snprintf(sw->lock_path, sizeof sw->lock_path, "%s/switch.lock", sw->run_dir);
    register_switch(sw);

    const char *argv[64];
    int n = 0;
    argv[n++] = swt_switch_bin();
    argv[n++] = "--run-dir";
    argv[n++] = sw->run_dir;
    for (int i = 0; args && args[i]; i++) {
        CHECK(n < 62);
        argv[n++] = args[i];
    }
    argv[n] = NULL;

    int fd;
    sw->pid = spawn(argv[0], (char *const *) argv, sw->log_path, &fd, false);
    kill_list_add(sw->pid);
    char line[512];
    int len = swt_read_line(fd, line, sizeof line, swt_ms(10000));
    close(fd);
    static const char pfx[] = "xsp-switch ready: ";
    if (len < 0 || strncmp(line, pfx, sizeof pfx - 1) != 0)
        FAILF("xsp-switch (%s) did not print its ready line (got \"%s\")", argv[0], len < 0 ? "" : line);
    snprintf(sw->ready, sizeof sw->ready, "%s", line + sizeof pfx - 1);
    snprintf(sw->endpoint, sizeof sw->endpoint, "%s", line + sizeof pfx - 1);
    char *sp = strchr(sw->endpoint, ' ');
    if (sp)
        *sp = '\0';
    return sw;
}

swt_switch_t *swt_start(const char *arg, ...)
{
    const char *args[64];
    int n = 0;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && n < 63; a = va_arg(ap, const char *))
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return swt_startv(args);
}

int swt_run_expect_exit(const char *run_dir, char *out, size_t cap, unsigned timeout_ms)
{
    const char *args[] = { "--run-dir", run_dir, NULL };
    return swt_run_argv(args, out, cap, timeout_ms);
}

int swt_run_argv(const char *const *args, char *out, size_t cap, unsigned timeout_ms)
{
    const char *argv[40];
    int na = 0;
    argv[na++] = swt_switch_bin();
    for (int i = 0; args[i] && na < 39; i++)
        argv[na++] = args[i];
    argv[na] = NULL;
    int fd;
    pid_t pid = spawn(argv[0], (char *const *) argv, NULL, &fd, true);
    kill_list_add(pid);
    size_t n = 0;
    uint64_t deadline = swt_now_ms() + timeout_ms;
    for (;;) {
        uint64_t now = swt_now_ms();
        if (now >= deadline)
            break;
        int rc = poll_idle(fd, (unsigned) (deadline - now));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        char tmp[512];
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r && n + 1 < cap; i++)
            out[n++] = tmp[i];
    }
    out[n] = '\0';
    close(fd);
    int st = swt_wait_child(pid, deadline > swt_now_ms() ? (unsigned) (deadline - swt_now_ms()) : 1);
    kill_list_del(pid);
    if (st == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        FAILF("xsp-switch %s ... did not exit by itself within %u ms (output: %s)", args[0] ? args[0] : "",
              timeout_ms, out);
    }
    return st;
}

static bool log_has_sanitizer_report(const swt_switch_t *sw)
{
    return swt_log_contains(sw, "Sanitizer") || swt_log_contains(sw, "runtime error:") ||
           swt_log_contains(sw, "SUMMARY:");
}

bool swt_log_contains(const swt_switch_t *sw, const char *needle)
{
    FILE *f = fopen(sw->log_path, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

unsigned swt_stop_sig(swt_switch_t *sw, int sig)
{
    CHECKF(sw->pid > 0, "switch already reaped");
    uint64_t t0 = swt_now_ms();
    CHECKF(kill(sw->pid, sig) == 0, "kill(%d): %s", (int) sw->pid, strerror(errno));
    int st = swt_wait_child(sw->pid, swt_ms(10000));
    unsigned elapsed = (unsigned) (swt_now_ms() - t0);
    if (st == -1)
        FAILF("xsp-switch pid %d did not exit within %u ms of signal %d", (int) sw->pid, swt_ms(10000), sig);
    kill_list_del(sw->pid);
    sw->status = st;
    pid_t pid = sw->pid;
    sw->pid = 0;
    sw->stopped = true;
    if (log_has_sanitizer_report(sw)) {
        swt_dump_log(sw, 60);
        FAILF("xsp-switch pid %d wrote a sanitizer report (exit status 0x%x)", (int) pid, st);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        swt_dump_log(sw, 30);
        if (WIFSIGNALED(st))
            FAILF("xsp-switch pid %d died of signal %d instead of exiting 0", (int) pid, WTERMSIG(st));
        FAILF("xsp-switch pid %d exited with status %d instead of 0", (int) pid, WEXITSTATUS(st));
    }
    return elapsed;
}

unsigned swt_stop(swt_switch_t *sw)
{
    return swt_stop_sig(sw, SIGTERM);
}

void swt_kill(swt_switch_t *sw)
{
    if (sw->pid > 0) {
        kill(sw->pid, SIGKILL);
        waitpid(sw->pid, &sw->status, 0);
        kill_list_del(sw->pid);
    }
    sw->pid = 0;
    sw->stopped = true;
}

bool swt_alive(swt_switch_t *sw)
{
    if (sw->pid <= 0)
        return false;
    int st;
    pid_t r = waitpid(sw->pid, &st, WNOHANG);
    if (r == sw->pid) {
        sw->status = st;
        kill_list_del(sw->pid);
        sw->pid = -1;           /* reaped by us: swt_stop will report it */
        return false;
    }
    return kill(sw->pid, 0) == 0;
}

long swt_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* ------------------------------------------------------------------ children */

pid_t swt_spawn_child(const char *child_case, int *out_fd, const char *arg, ...)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = self_exe;
    argv[n++] = "child";
    argv[n++] = child_case;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && n < 31; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    pid_t pid = spawn(self_exe, (char *const *) argv, NULL, out_fd, false);
    kill_list_add(pid);
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (!children[i]) {
            children[i] = pid;
            break;
        }
    return pid;
}

int swt_wait_child(pid_t pid, unsigned timeout_ms)
{
    uint64_t deadline = swt_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            kill_list_del(pid);
            for (int i = 0; i < MAX_CHILDREN; i++)
                if (children[i] == pid)
                    children[i] = 0;
            return st;
        }
        if (r < 0 && errno != EINTR)
            return -2;
        if (swt_now_ms() >= deadline)
            return -1;
        idle();
        swt_msleep(2);
    }
}

void swt_kill_child(pid_t pid)
{
    kill(pid, SIGKILL);
    swt_wait_child(pid, 10000);
}

/* ------------------------------------------------------------------ runner */

static void finish_case(void)
{
    if (swt_cleanup_hook)
        swt_cleanup_hook();
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i])
            swt_kill_child(children[i]);
    for (int i = 0; i < MAX_SWITCHES; i++) {
        swt_switch_t *sw = switches[i];
        if (!sw)
            continue;
        if (sw->pid == -1) {
            swt_dump_log(sw, 30);
            FAILF("xsp-switch exited on its own during the test (status 0x%x)", sw->status);
        }
        if (!sw->stopped)
            swt_stop(sw);
        else if (sw->pid == 0 && log_has_sanitizer_report(sw)) {
            swt_dump_log(sw, 60);
            FAILF("xsp-switch wrote a sanitizer report");
        }
        rm_tree(sw->base);
        switches[i] = NULL;
        free(sw);
    }
}

int swt_main(int argc, char **argv, const swt_case_t *cases, unsigned watchdog_s)
{
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n <= 0) {
        fprintf(stderr, "readlink /proc/self/exe failed\n");
        return 1;
    }
    self_exe[n] = '\0';
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = { .sa_handler = on_alarm };
    sigaction(SIGALRM, &sa, NULL);

    if (argc >= 3 && strcmp(argv[1], "child") == 0) {
        /* a helper child: no watchdog of its own (it dies with its parent) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (const swt_case_t *c = cases; c->name; c++)
            if (c->hidden && strcmp(c->name, argv[2]) == 0) {
                current_case = c->name;
                swt_argc = argc - 3;
                swt_argv = argv + 3;
                c->fn();
                if (swt_cleanup_hook)
                    swt_cleanup_hook();
                return 0;
            }
        fprintf(stderr, "no child mode '%s'\n", argv[2]);
        return 2;
    }

    const char *want = argc >= 2 ? argv[1] : "all";
    swt_argc = argc > 2 ? argc - 2 : 0;
    swt_argv = argv + 2;
    int ran = 0;
    for (const swt_case_t *c = cases; c->name; c++) {
        if (c->hidden || (strcmp(want, "all") != 0 && strcmp(want, c->name) != 0))
            continue;
        current_case = c->name;
        alarm(watchdog_s);
        uint64_t t0 = swt_now_ms();
        c->fn();
        finish_case();
        alarm(0);
        printf("PASS %s (%llu ms)\n", c->name, (unsigned long long) (swt_now_ms() - t0));
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "no case '%s'; cases:", want);
        for (const swt_case_t *c = cases; c->name; c++)
            if (!c->hidden)
                fprintf(stderr, " %s", c->name);
        fprintf(stderr, "\n");
        return 2;
    }
    return 0;
}

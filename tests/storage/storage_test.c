/*  storage_test.c — the helpers of storage_test.h.

    Owns: the list of children started here (killed at exit).
    Never touches: anything but its own children.
*/
#define _GNU_SOURCE
#include "storage_test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CHILDREN 32

static pid_t children[MAX_CHILDREN];
static bool hooked;

static void kill_children(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
}

static void track(pid_t pid, bool on)
{
    if (!hooked) {
        atexit(kill_children);
        hooked = true;
    }
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == (on ? 0 : pid)) {
            children[i] = on ? pid : 0;
            return;
        }
}

pid_t st_spawn(const char *name, const char *const *args, bool quiet)
{
    char bin[512];
    const char *argv[64];
    int n = 0;
    xsp_test_bin(name, bin, sizeof bin);
    argv[n++] = bin;
    for (int i = 0; args && args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (quiet) {
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(bin, (char *const *) argv);
        fprintf(stderr, "cannot run %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    track(pid, true);
    return pid;
}

pid_t st_plugin(const xsp_test_switch_t *sw, const char *queue, ...)
{
    const char *args[48];
    int n = 0;
    args[n++] = "--switch";
    args[n++] = sw->endpoint;
    args[n++] = "--queue";
    args[n++] = queue;
    args[n++] = "--log-level";
    args[n++] = "warn";
    va_list ap;
    va_start(ap, queue);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 47;)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return st_spawn("xsp-test-plugin", args, false);
}

int st_wait(pid_t pid, int timeout_ms)
{
    long long end = xsp_test_now_ms() + timeout_ms;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return -1;
        if (xsp_test_now_ms() >= end)
            return -1;
        usleep(5000);
    }
    track(pid, false);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int st_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    int rc = st_wait(pid, 5000);
    if (rc < 0) {
        fprintf(stderr, "child %d ignored SIGTERM for 5 s: killing it\n", (int) pid);
        st_kill(pid);
    }
    return rc;
}

void st_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    track(pid, false);
}

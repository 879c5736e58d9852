/*  child.c — the separate processes a bench run measures: start, wait until ready, stop.

    Owns: fork/exec of a child (xsp-switch, or xsp-bench itself in a hidden mode) with its
    stdout/stderr in files of the run's private temp dir, the wait for its "... ready: ..."
    line, SIGTERM-then-SIGKILL, and removing the run dir.  A child gets PR_SET_PDEATHSIG so
    it never outlives a bench that crashed.
    Never touches: sockets; what a child does.

    stdout goes to a file, not a pipe, so a child that keeps printing after its ready line
    can never block on a pipe nobody reads.
*/
#define _GNU_SOURCE     /* sched_setaffinity, CPU_SET */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*  True when path holds a line starting with prefix. */
static bool has_line(const char *path, const char *prefix)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = !strncmp(line, prefix, strlen(prefix));
    fclose(f);
    return found;
}

void child_describe_status(int st, char *buf, size_t len)
{
    if (WIFEXITED(st))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, len, "stopped (status %#x)", st);
}

int pin_to_cpu(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

int child_start(child_t *c, const char *name, const char *run_dir, char *const argv[], int cpu,
                const char *ready_prefix, double timeout_s, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->status = -1;
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->out_path, sizeof c->out_path, "%s/%s.out", run_dir, name);
    snprintf(c->err_path, sizeof c->err_path, "%s/%s.err", run_dir, name);
    int out = open(c->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int errfd = open(c->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || errfd < 0 || devnull < 0) {
        snprintf(err, errlen, "cannot create %s: %s", c->out_path, strerror(errno));
        goto fail_fds;
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        goto fail_fds;
    }
    if (pid == 0) {
        /* only async-signal-safe calls between fork and exec */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        dup2(devnull, 0);
        dup2(out, 1);
        dup2(errfd, 2);
        if (cpu >= 0)
            pin_to_cpu(cpu);
        execvp(argv[0], argv);
        static const char msg[] = "xsp-bench: exec failed\n";
        if (write(2, msg, sizeof msg - 1) < 0)
            _exit(127);
        _exit(127);
    }
    close(out);
    close(errfd);
    close(devnull);
    c->pid = pid;

    uint64_t deadline = now_ns() + (uint64_t) (timeout_s * 1e9);
    for (;;) {
        if (has_line(c->out_path, ready_prefix))
            return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            char how[64];
            child_describe_status(st, how, sizeof how);
            snprintf(err, errlen, "%s %s before it was ready (see its stderr above)", argv[0], how);
            c->pid = 0;
            child_dump_stderr(c);
            return -1;
        }
        if (now_ns() > deadline) {
            snprintf(err, errlen, "%s printed no \"%s\" line within %.0f s", argv[0],
                     ready_prefix, timeout_s);
            child_dump_stderr(c);
            child_stop(c, 2);
            return -1;
        }
        pause_ms(5);
    }

fail_fds:
    if (out >= 0)
        close(out);
    if (errfd >= 0)
        close(errfd);
    if (devnull >= 0)
        close(devnull);
    return -1;
}

double process_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, pid ? "/proc/%d/stat" : "/proc/self/stat", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* fields after "(comm)": state is field 3; utime and stime are fields 14 and 15 */
    char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &ut, &st) != 2)
        return -1;
    return (double) (ut + st) / (double) sysconf(_SC_CLK_TCK);
}

bool child_alive(child_t *c)
{
    if (!c->pid)
        return false;
    int st;
    if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
        c->pid = 0;
        c->status = st;
        return false;
    }
    return true;
}

int child_stop(child_t *c, double grace_s)
{
    if (!c->pid)
        return -1;
    int st = -1;
    kill(c->pid, SIGTERM);
    uint64_t deadline = now_ns() + (uint64_t) (grace_s * 1e9);
    while (waitpid(c->pid, &st, WNOHANG) != c->pid) {
        if (now_ns() > deadline) {
            fprintf(stderr, "xsp-bench: %s (pid %d) ignored SIGTERM for %.0f s; killing it\n",
                    c->name, (int) c->pid, grace_s);
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &st, 0);
            break;
        }
        pause_ms(5);
    }
    c->pid = 0;
    return st;
}

void child_dump_stderr(const child_t *c)
{
    FILE *f = fopen(c->err_path, "r");
    if (!f)
        return;
    /* the last ~20 lines: keep a ring of line starts */
    char lines[20][512];
    size_t n = 0;
    while (fgets(lines[n % 20], sizeof lines[0], f))
        n++;
    fclose(f);
    size_t first = n > 20 ? n - 20 : 0;
    for (size_t i = first; i < n; i++)
        fprintf(stderr, "  %s stderr: %s%s", c->name, lines[i % 20],
                strchr(lines[i % 20], '\n') ? "" : "\n");
}

int free_tcp_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int port = 0;
    if (!bind(fd, (struct sockaddr *) &a, sizeof a) && !getsockname(fd, (struct sockaddr *) &a, &len))
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

void run_dir_remove(const char *run_dir)
{
    DIR *d = opendir(run_dir);
    if (!d)
        return;
    struct dirent *e;
    char path[4096 + 256];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", run_dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(run_dir);
}

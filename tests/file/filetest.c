/*  filetest.c — the helpers of filetest.h.
    Owns: the plugin children started here.  Never touches: loop devices. */
#define _GNU_SOURCE
#include "filetest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

xsp_client_t *ft_client;
const xsp_call_opts_t ft_opts = { .timeout_ms = 60000 };

static pid_t children[8];

static void kill_children(void)
{
    for (int i = 0; i < 8; i++)
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
}

static void track(pid_t pid, bool on)
{
    static bool hooked;
    if (!hooked) {
        atexit(kill_children);
        hooked = true;
    }
    for (int i = 0; i < 8; i++)
        if (children[i] == (on ? 0 : pid)) {
            children[i] = on ? pid : 0;
            return;
        }
}

void ft_plugin_start(ft_plugin_t *p)
{
    char bin[512], wrap[1024];
    const char *argv[48];
    int n = 0;
    xsp_test_bin("xsp-plugin-file", bin, sizeof bin);
    const char *w = getenv("XSP_FILE_PLUGIN_WRAPPER");
    if (w && *w) {
        snprintf(wrap, sizeof wrap, "%s", w);
        for (char *save, *t = strtok_r(wrap, " ", &save); t && n < 32; t = strtok_r(NULL, " ", &save))
            argv[n++] = t;
    }
    argv[n++] = bin;
    argv[n++] = "--switch";
    argv[n++] = p->sw->endpoint;
    argv[n++] = "--queue";
    argv[n++] = FT_QUEUE;
    argv[n++] = "--state-dir";
    argv[n++] = p->state_dir;
    argv[n++] = "--log-level";
    argv[n++] = getenv("FT_PLUGIN_LOG") ? getenv("FT_PLUGIN_LOG") : "warn";
    for (int i = 0; i < 7 && p->extra[i]; i++)
        argv[n++] = p->extra[i];
    argv[n] = NULL;
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(argv[0], (char *const *) argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    track(pid, true);
}

void ft_plugin_kill(ft_plugin_t *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    track(p->pid, false);
    p->pid = 0;
}

static int reap(ft_plugin_t *p)
{
    int st;
    for (int i = 0; i < 3000; i++) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            track(p->pid, false);
            p->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        struct timespec ts = { 0, 10000000 };
        nanosleep(&ts, NULL);
    }
    ft_plugin_kill(p);
    return -1;
}

int ft_plugin_wait(ft_plugin_t *p)
{
    return p->pid <= 0 ? -1 : reap(p);
}

int ft_plugin_stop(ft_plugin_t *p)
{
    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    return reap(p);
}

void ft_setup(xsp_test_switch_t *sw, ft_plugin_t *p, char *tmp, size_t cap)
{
    xsp_error_t err;
    CHECK(xsp_test_switch_start(sw, NULL) == 0);
    memset(p, 0, sizeof *p);
    p->sw = sw;
    CHECK(xsp_test_tmpdir(p->state_dir, sizeof p->state_dir));
    CHECK(xsp_test_tmpdir(tmp, cap));
    ft_plugin_start(p);
    ft_client = xsp_client_new(sw->endpoint, "file-test", &err);
    CHECK_MSG(ft_client, "%s", err.msg);
}

void ft_sr(const char *dir, char *key, size_t cap)
{
    xsp_error_t err;
    char uri[1024];
    xsp_string_map_t conf = { 0, NULL }, out = { 0, NULL };
    snprintf(uri, sizeof uri, "file://%s", dir);
    CHECK_EQ(xsp_sr_create(ft_client, FT_QUEUE, &ft_opts, "t", uri, "sr", "test SR", &conf, NULL, &out, &err), XSP_OK);
    char *k = NULL;
    CHECK_EQ(xsp_sr_attach(ft_client, FT_QUEUE, &ft_opts, "t", &out, &k, &err), XSP_OK);
    snprintf(key, cap, "%s", k);
    free(k);
    xsp_string_map_dispose(&out);
}

void ft_volume(const char *sr, uint64_t size, char *key, size_t kcap, char *uri, size_t ucap)
{
    xsp_error_t err;
    xsp_volume_t v;
    CHECK_EQ(xsp_volume_create(ft_client, FT_QUEUE, &ft_opts, "t", sr, "vol", "a volume", size, false, &v, &err),
             XSP_OK);
    CHECK(v.uri.len == 1);
    snprintf(key, kcap, "%s", v.key);
    snprintf(uri, ucap, "%s", v.uri.val[0]);
    xsp_volume_dispose(&v);
}

int ft_loops_for(const char *path)
{
    DIR *d = opendir("/sys/block");
    struct dirent *de;
    int n = 0;
    size_t plen = strlen(path);
    while (d && (de = readdir(d))) {
        char p[512], b[4096];
        if (strncmp(de->d_name, "loop", 4) != 0)
            continue;
        snprintf(p, sizeof p, "/sys/block/%s/loop/backing_file", de->d_name);
        int fd = open(p, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t r = read(fd, b, sizeof b - 1);
        close(fd);
        if (r <= 0)
            continue;
        b[r] = '\0';
        if (b[r - 1] == '\n')
            b[r - 1] = '\0';
        if (strncmp(b, path, plen) == 0 && (b[plen] == '\0' || strcmp(b + plen, " (deleted)") == 0))
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

int ft_loops_settle(const char *path, int want)
{
    int n = ft_loops_for(path);
    for (int i = 0; i < 500 && n != want; i++) {
        struct timespec ts = { 0, 10000000 };
        nanosleep(&ts, NULL);
        n = ft_loops_for(path);
    }
    return n;
}

bool ft_loop_bound_to(const char *dev, const char *path)
{
    char p[512], b[4096];
    const char *name = strrchr(dev, '/');
    snprintf(p, sizeof p, "/sys/block/%s/loop/backing_file", name ? name + 1 : dev);
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return false;
    ssize_t r = read(fd, b, sizeof b - 1);
    close(fd);
    if (r <= 0)
        return false;
    b[r] = '\0';
    if (b[r - 1] == '\n')
        b[r - 1] = '\0';
    return strcmp(b, path) == 0;
}

void ft_pwrite(const char *path, const void *buf, size_t len, off_t off)
{
    int fd = open(path, O_WRONLY);
    CHECK_MSG(fd >= 0, "%s: %s", path, strerror(errno));
    CHECK_EQ(pwrite(fd, buf, len, off), (long long) len);
    CHECK_EQ(fsync(fd), 0);
    close(fd);
}

void ft_pread(const char *path, void *buf, size_t len, off_t off)
{
    int fd = open(path, O_RDONLY);
    CHECK_MSG(fd >= 0, "%s: %s", path, strerror(errno));
    CHECK_EQ(pread(fd, buf, len, off), (long long) len);
    close(fd);
}

void ft_pattern(unsigned char *buf, size_t len, unsigned seed)
{
    unsigned x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char) (x >> 16);
    }
}

bool ft_same_content(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb)
            same = false;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

/*  cmd_call.c — `xsp call` and `xsp serve`.

    Owns: reading a request body, printing an answer; serving a queue with --echo, or with
    --exec (one /bin/sh -c child per request, run on the server's worker threads so N
    requests run at once without blocking the I/O loop).
    Never touches: the protocol (libxsp), other commands.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

/* ================================================================ buffers */

typedef struct {
    char *p;
    size_t len, cap;
    size_t limit;           /* stop keeping bytes beyond this (still read them) */
    bool truncated;
} buf_t;

static int buf_add(buf_t *b, const void *src, size_t n)
{
    if (b->limit && b->len + n > b->limit) {
        b->truncated = true;
        n = b->limit > b->len ? b->limit - b->len : 0;
    }
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap < b->len + n)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np)
            return -1;
        b->p = np;
        b->cap = ncap;
    }
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static int read_all(int fd, buf_t *b)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (buf_add(b, chunk, (size_t) n))
            return -1;
    }
}

/* ================================================================ call */

int cmd_call(const cli_ctx_t *ctx0, int argc, char **argv)
{
    cli_ctx_t ctx = *ctx0;
    static const struct option opts[] = {
        { "timeout", 1, 0, 't' }, { "dbg", 1, 0, 'd' }, { "at-most-once", 0, 0, 'a' },
        { "persistent", 0, 0, 'p' }, { "identity", 1, 0, 'i' },
        { "switch", 1, 0, CLI_OPT_SWITCH }, { 0, 0, 0, 0 },
    };
    xsp_call_opts_t co;
    memset(&co, 0, sizeof co);
    int o;
    while ((o = getopt_long(argc, argv, "t:d:api:", opts, NULL)) != -1) {
        switch (o) {
        case 't': {
            long ms = cli_seconds_ms(optarg);
            if (ms < 0)
                return cli_die(CLI_USAGE, "--timeout wants seconds, not '%s'", optarg);
            co.timeout_ms = ms == 0 ? XSP_TIMEOUT_INFINITE : (uint32_t) ms;
            break;
        }
        case 'd':
            co.dbg = optarg;
            break;
        case 'a':
            co.flags |= XSP_CALL_AT_MOST_ONCE;
            break;
        case 'p':
            co.flags |= XSP_CALL_PERSISTENT;
            break;
        case 'i':
            ctx.identity = optarg;
            break;
        case CLI_OPT_SWITCH:
            ctx.endpoint = optarg;
            break;
        default:
            return cli_usage("call");
        }
    }
    int npos = argc - optind;
    if (npos < 1 || npos > 2)
        return cli_usage("call");
    const char *queue = argv[optind];
    buf_t body = { 0 };
    if (npos == 2) {
        if (buf_add(&body, argv[optind + 1], strlen(argv[optind + 1])))
            return cli_die(CLI_LOCAL, "out of memory");
    } else if (read_all(STDIN_FILENO, &body)) {
        free(body.p);
        return cli_die(CLI_LOCAL, "reading standard input: %s", strerror(errno));
    }
    xsp_client_t *c = cli_connect(&ctx, "cli");
    if (!c) {
        free(body.p);
        return CLI_FAILED;
    }
    xsp_reply_t rep;
    xsp_error_t err;
    int rc = xsp_client_call(c, queue, body.p, body.len, &co, &rep, &err);
    free(body.p);
    int code = CLI_OK;
    if (rc == XSP_OK || rc == XSP_E_APPLICATION) {
        if (rep.len && fwrite(rep.body, 1, rep.len, stdout) != rep.len)
            code = cli_die(CLI_LOCAL, "writing standard output: %s", strerror(errno));
        fflush(stdout);
    }
    if (rc != XSP_OK)
        code = cli_fail(&err);
    xsp_reply_dispose(&rep);
    xsp_client_destroy(&c);
    return code;
}

/* ================================================================ serve */

typedef struct {
    const char *cmd;
} exec_t;

static void echo_handler(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    (void) s;
    (void) arg;
    xsp_request_reply(req, XSP_STATUS_OK, xsp_request_body(req), xsp_request_size(req));
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/*  Run /bin/sh -c cmd with in on stdin; collect stdout/stderr (each up to limit bytes).
    Returns the wait status, or -1 with a reason in *why. */
static int run_child(const char *cmd, const void *in, size_t inlen, int64_t deadline_left_ms,
                     buf_t *out, buf_t *err, char *why, size_t whylen)
{
    int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
    if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (pin[i] >= 0) close(pin[i]);
            if (pout[i] >= 0) close(pout[i]);
            if (perr[i] >= 0) close(perr[i]);
        }
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
    posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
    posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
    posix_spawnattr_init(&at);
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGTERM);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *args[] = { "sh", "-c", (char *) cmd, NULL };
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, &at, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    if (rc != 0) {
        snprintf(why, whylen, "cannot run /bin/sh: %s", strerror(rc));
        close(pin[1]);
        close(pout[0]);
        close(perr[0]);
        return -1;
    }
    set_nonblock(pin[1]);
    set_nonblock(pout[0]);
    set_nonblock(perr[0]);
    size_t off = 0;
    int fin = pin[1], fout = pout[0], ferr = perr[0];
    if (inlen == 0) {
        close(fin);
        fin = -1;
    }
    int64_t end = deadline_left_ms >= 0 ? (int64_t) deadline_left_ms : -1;
    bool killed = false;
    while (fout >= 0 || ferr >= 0) {
        struct pollfd p[3];
        int n = 0, iin = -1, iout = -1, ierr = -1;
        if (fin >= 0) { iin = n; p[n++] = (struct pollfd) { .fd = fin, .events = POLLOUT }; }
        if (fout >= 0) { iout = n; p[n++] = (struct pollfd) { .fd = fout, .events = POLLIN }; }
        if (ferr >= 0) { ierr = n; p[n++] = (struct pollfd) { .fd = ferr, .events = POLLIN }; }
        int t = end < 0 ? -1 : end > 1000 ? 1000 : (int) end;
        int pr = poll(p, (nfds_t) n, t);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr == 0 && end >= 0) {
            end -= t;
            if (end <= 0 && !killed) {
                kill(pid, SIGKILL);     /* nobody waits for the answer any more */
                killed = true;
                end = -1;
            }
            continue;
        }
        if (iin >= 0 && p[iin].revents) {
            ssize_t w = write(fin, (const char *) in + off, inlen - off);
            if (w > 0)
                off += (size_t) w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || off == inlen) {
                close(fin);    /* done, or the child stopped reading (EPIPE) */
                fin = -1;
            }
        }
        int *fds[2] = { &fout, &ferr };
        int idx[2] = { iout, ierr };
        buf_t *bufs[2] = { out, err };
        for (int k = 0; k < 2; k++) {
            if (idx[k] < 0 || !p[idx[k]].revents)
                continue;
            char chunk[16384];
            ssize_t r = read(*fds[k], chunk, sizeof chunk);
            if (r > 0)
                buf_add(bufs[k], chunk, (size_t) r);
            else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(*fds[k]);
                *fds[k] = -1;
            }
        }
    }
    if (fin >= 0)
        close(fin);
    if (fout >= 0)
        close(fout);
    if (ferr >= 0)
        close(ferr);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (killed) {
        snprintf(why, whylen, "the command was killed: the request's deadline passed");
        return -1;
    }
    return status;
}

static void exec_handler(xsp_server_t *s, xsp_request_t *req, void *arg)
{
    const exec_t *ex = arg;
    uint64_t maxp = xsp_server_max_payload(s);
    buf_t out = { .limit = maxp ? maxp : (1u << 20) }, err = { .limit = 65536 };
    char why[256] = "";
    int status = run_child(ex->cmd, xsp_request_body(req), xsp_request_size(req),
                           xsp_request_time_left_ms(req), &out, &err, why, sizeof why);
    if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && !out.truncated) {
        xsp_request_reply(req, XSP_STATUS_OK, out.p, out.len);
    } else {
        if (status < 0) {
            err.len = 0;
            buf_add(&err, why, strlen(why));
        } else if (out.truncated) {
            err.len = 0;
            snprintf(why, sizeof why, "xsp serve: the command's output is over %zu bytes", out.limit);
            buf_add(&err, why, strlen(why));
        } else if (err.len == 0) {
            if (WIFEXITED(status))
                snprintf(why, sizeof why, "xsp serve: the command exited with status %d",
                         WEXITSTATUS(status));
            else
                snprintf(why, sizeof why, "xsp serve: the command was killed by signal %d",
                         WTERMSIG(status));
            buf_add(&err, why, strlen(why));
        }
        xsp_request_reply(req, XSP_STATUS_ERROR, err.p, err.len);
    }
    free(out.p);
    free(err.p);
}

int cmd_serve(const cli_ctx_t *ctx0, int argc, char **argv)
{
    cli_ctx_t ctx = *ctx0;
    static const struct option opts[] = {
        { "echo", 0, 0, 'e' }, { "exec", 1, 0, 'x' }, { "concurrency", 1, 0, 'c' },
        { "switch", 1, 0, CLI_OPT_SWITCH }, { 0, 0, 0, 0 },
    };
    bool echo = false;
    exec_t ex = { NULL };
    long conc = 1;
    int o;
    while ((o = getopt_long(argc, argv, "ex:c:", opts, NULL)) != -1) {
        switch (o) {
        case 'e':
            echo = true;
            break;
        case 'x':
            ex.cmd = optarg;
            break;
        case 'c': {
            char *end;
            conc = strtol(optarg, &end, 10);
            if (*end || conc < 1 || conc > 1024)
                return cli_die(CLI_USAGE, "--concurrency wants 1 to 1024, not '%s'", optarg);
            break;
        }
        case CLI_OPT_SWITCH:
            ctx.endpoint = optarg;
            break;
        default:
            return cli_usage("serve");
        }
    }
    if (argc - optind != 1 || echo == (ex.cmd != NULL))
        return cli_usage("serve");
    const char *queue = argv[optind];
    if (!xsp_queue_name_valid(queue))
        return cli_die(CLI_USAGE, "'%s' is not a queue name", queue);
    xsp_error_t err;
    xsp_server_t *s = xsp_server_new(ctx.endpoint, echo ? "xsp-serve-echo" : "xsp-serve-exec",
                                     "server", 0, &err);
    if (!s)
        return cli_fail(&err);
    int rc = XSP_OK;
    if (!echo)
        rc = xsp_server_set_workers(s, (unsigned) conc, &err);
    if (rc == XSP_OK)
        rc = xsp_server_subscribe(s, queue, (unsigned) conc, echo ? echo_handler : exec_handler,
                                  &ex, &err);
    if (rc != XSP_OK) {
        xsp_server_destroy(&s);
        return cli_fail(&err);
    }
    printf("xsp serve: ready: %s\n", queue);
    fflush(stdout);
    rc = xsp_server_run(s);
    xsp_server_destroy(&s);
    return rc == 0 ? CLI_OK : CLI_FAILED;
}

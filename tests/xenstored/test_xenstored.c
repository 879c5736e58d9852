/*
 * test_xenstored.c - checks that the xenstored fixture (real Debian
 * xenstored + xsshim) behaves like a real xenstore for libxenstore clients:
 * read/write, directory, watches, transaction conflicts, permissions
 * (including "owner must be an existing domain"), domain
 * introduction/release, and clean shutdown.
 *
 * Prints one PASS/FAIL line per check; exits 1 if any check failed (or the
 * fixture could not start), 0 otherwise.  On failure the run directory
 * (daemon log, trace) is kept and its path printed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xenstore.h>

#include "xs_fixture.h"

#define BASE "/xsp-test"
#define WATCH_TIMEOUT_MS 2000
#define TEST_DOMID 5
/* A domid the shim reports as not existing (see xsshim.c). */
#define MISSING_DOMID 1000
#define MISSING_DOMID_STR "1000"

static int checks, failures;

/* Record and print one check result; fmt describes the failure details. */
static bool check(bool ok, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool check(bool ok, const char *what, const char *fmt, ...)
{
    va_list ap;

    checks++;
    if (ok) {
        printf("PASS: %s\n", what);
        return true;
    }
    failures++;
    printf("FAIL: %s: ", what);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    return false;
}

/*
 * check() for a call that sets errno on failure: check_call(call(), what).
 * errno is saved on entry, after the call (an argument) was evaluated; a
 * strerror(errno) argument next to the call could be evaluated first.
 */
static bool check_call(bool ok, const char *what)
{
    int err = errno;

    return check(ok, what, "%s", strerror(err));
}

/* xs_read as a C string (NULL on error, errno set); caller frees. */
static char *read_str(struct xs_handle *h, xs_transaction_t t,
                      const char *path)
{
    unsigned int len;

    return xs_read(h, t, path, &len);
}

static bool write_str(struct xs_handle *h, xs_transaction_t t,
                      const char *path, const char *value)
{
    return xs_write(h, t, path, value, strlen(value));
}

static bool value_is(struct xs_handle *h, const char *path, const char *want,
                     const char *what)
{
    char *got = read_str(h, XBT_NULL, path);
    bool ok = check(got && strcmp(got, want) == 0, what,
                    "%s = %s%s%s, want \"%s\"", path, got ? "\"" : "",
                    got ? got : strerror(errno), got ? "\"" : "", want);

    free(got);
    return ok;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait up to timeout_ms for a watch event with this path and token,
 * discarding other events.  Uses poll() on xs_fileno() so it cannot hang.
 * On timeout returns false with errno ETIMEDOUT.
 */
static bool wait_event(struct xs_handle *h, const char *path,
                       const char *token, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    struct pollfd pfd = { .fd = xs_fileno(h), .events = POLLIN };

    if (pfd.fd < 0)
        return false;
    for (;;) {
        long long left = deadline - now_ms();
        int n = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        unsigned int num;
        char **ev;
        bool match;

        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = ETIMEDOUT;
        if (n <= 0 || !(pfd.revents & POLLIN))
            return false;
        ev = xs_read_watch(h, &num);
        if (!ev)
            return false;
        match = num >= 2 && strcmp(ev[XS_WATCH_PATH], path) == 0 &&
                strcmp(ev[XS_WATCH_TOKEN], token) == 0;
        free(ev);
        if (match)
            return true;
    }
}

static void test_write_read(struct xs_handle *h)
{
    check_call(write_str(h, XBT_NULL, BASE "/a", "hello"),
               "write " BASE "/a");
    value_is(h, BASE "/a", "hello", "read back " BASE "/a");
}

static void test_directory(struct xs_handle *h)
{
    unsigned int num = 0;
    char **ents;
    bool has_a = false, has_b = false;

    write_str(h, XBT_NULL, BASE "/b", "world");
    ents = xs_directory(h, XBT_NULL, BASE, &num);
    for (unsigned int i = 0; ents && i < num; i++) {
        has_a |= strcmp(ents[i], "a") == 0;
        has_b |= strcmp(ents[i], "b") == 0;
    }
    check(ents && num == 2 && has_a && has_b, "directory " BASE " = {a, b}",
          "%s, %u entries, a %s, b %s", ents ? "ok" : strerror(errno), num,
          has_a ? "found" : "missing", has_b ? "found" : "missing");
    free(ents);
}

static void test_watch(struct xs_handle *h)
{
    const char *dir = BASE "/watched", *child = BASE "/watched/child";

    if (!check_call(xs_watch(h, dir, "tok"), "xs_watch " BASE "/watched"))
        return;
    /* xenstored fires every new watch once, for the watched path itself. */
    check(wait_event(h, dir, "tok", WATCH_TIMEOUT_MS),
          "initial watch event on registration", "none within %d ms",
          WATCH_TIMEOUT_MS);
    write_str(h, XBT_NULL, child, "1");
    check(wait_event(h, child, "tok", WATCH_TIMEOUT_MS),
          "watch fires on write of " BASE "/watched/child",
          "no event within %d ms", WATCH_TIMEOUT_MS);
    check_call(xs_unwatch(h, dir, "tok"), "xs_unwatch");
}

static void test_transaction_conflict(struct xs_handle *h)
{
    const char *node = BASE "/tx";
    xs_transaction_t t;
    char *v;
    bool ended;
    int err;

    write_str(h, XBT_NULL, node, "v0");
    t = xs_transaction_start(h);
    if (!check(t != XBT_NULL, "transaction start", "%s", strerror(errno)))
        return;
    v = read_str(h, t, node);
    free(v);
    write_str(h, XBT_NULL, node, "outside");
    write_str(h, t, node, "inside");
    ended = xs_transaction_end(h, t, false);
    err = errno;
    check(!ended && err == EAGAIN, "conflicting transaction ends with EAGAIN",
          "xs_transaction_end returned %s, errno %s",
          ended ? "true" : "false", strerror(err));
    value_is(h, node, "outside", "conflicting transaction left no trace");

    t = xs_transaction_start(h);
    write_str(h, t, node, "committed");
    check_call(t != XBT_NULL && xs_transaction_end(h, t, false),
               "non-conflicting transaction commits");
    value_is(h, node, "committed", "committed value visible");
}

static void test_permissions(struct xs_handle *h)
{
    const char *node = BASE "/perm";
    struct xs_permissions set[2] = {
        { .id = 0, .perms = XS_PERM_NONE },
        { .id = TEST_DOMID, .perms = XS_PERM_READ },
    };
    struct xs_permissions *got;
    unsigned int num = 0;

    write_str(h, XBT_NULL, node, "p");
    check_call(xs_set_permissions(h, XBT_NULL, node, set, 2),
               "xs_set_permissions owner dom0, read for dom5");
    got = xs_get_permissions(h, XBT_NULL, node, &num);
    check(got && num == 2 && got[0].id == 0 &&
              got[0].perms == XS_PERM_NONE && got[1].id == TEST_DOMID &&
              got[1].perms == XS_PERM_READ,
          "xs_get_permissions reads back n0,r5",
          "%s: %u entries, [0] = %u/%#x, [1] = %u/%#x",
          got ? "ok" : strerror(errno), num, got ? got[0].id : 0,
          got ? (unsigned)got[0].perms : 0, got && num > 1 ? got[1].id : 0,
          got && num > 1 ? (unsigned)got[1].perms : 0);
    free(got);
}

/*
 * xenstored refuses a node owner whose domain does not exist (ENOENT); the
 * shim reports domids below XSSHIM_NR_DOMAINS (default 256) as existing.
 */
static void test_owner_must_exist(struct xs_handle *h)
{
    const char *node = BASE "/owned";
    struct xs_permissions owner5 = { .id = TEST_DOMID, .perms = XS_PERM_NONE };
    struct xs_permissions owner_gone = { .id = MISSING_DOMID,
                                         .perms = XS_PERM_NONE };
    bool ok;
    int err;

    write_str(h, XBT_NULL, node, "o");
    check_call(xs_set_permissions(h, XBT_NULL, node, &owner5, 1),
               "owner dom5 accepted (shim reports dom5 as existing)");
    ok = xs_set_permissions(h, XBT_NULL, node, &owner_gone, 1);
    err = errno;
    check(!ok && err == ENOENT,
          "owner dom" MISSING_DOMID_STR " refused with ENOENT (no such domain)",
          "%s", ok ? "accepted" : strerror(err));
}

static void test_introduce(struct xs_handle *h)
{
    char *path;

    check_call(xs_watch(h, "@introduceDomain", "intro") &&
                   wait_event(h, "@introduceDomain", "intro",
                              WATCH_TIMEOUT_MS),
               "watch @introduceDomain (and its initial event)");
    check_call(xs_introduce_domain(h, TEST_DOMID, 0x1234, 7),
               "xs_introduce_domain dom5");
    check(xs_is_domain_introduced(h, TEST_DOMID),
          "xs_is_domain_introduced dom5", "reported not introduced");
    check(wait_event(h, "@introduceDomain", "intro", WATCH_TIMEOUT_MS),
          "@introduceDomain fires", "no event within %d ms",
          WATCH_TIMEOUT_MS);
    path = xs_get_domain_path(h, TEST_DOMID);
    check(path && strcmp(path, "/local/domain/5") == 0,
          "xs_get_domain_path dom5", "got %s",
          path ? path : strerror(errno));
    free(path);

    check_call(xs_watch(h, "@releaseDomain", "rel") &&
                   wait_event(h, "@releaseDomain", "rel", WATCH_TIMEOUT_MS),
               "watch @releaseDomain (and its initial event)");
    check_call(xs_release_domain(h, TEST_DOMID), "xs_release_domain dom5");
    check(wait_event(h, "@releaseDomain", "rel", WATCH_TIMEOUT_MS),
          "@releaseDomain fires", "no event within %d ms", WATCH_TIMEOUT_MS);
    check(!xs_is_domain_introduced(h, TEST_DOMID),
          "dom5 no longer introduced", "still introduced");
}

static void test_stop(pid_t pid)
{
    pid_t r;
    int err;

    check_call(kill(pid, 0) == 0, "xenstored alive before stop");
    xs_fixture_stop(pid);
    r = waitpid(pid, NULL, WNOHANG);
    err = errno;
    check(r == -1 && err == ECHILD && kill(pid, 0) == -1 && errno == ESRCH,
          "xenstored stopped and reaped",
          "waitpid returned %ld (%s)", (long)r, strerror(err));
}

static int rm_entry(const char *path, const struct stat *sb, int type,
                    struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    char rundir[] = "/tmp/xsp-xenstored-XXXXXX";
    char err[4096];
    struct xs_handle *h;
    pid_t pid;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!mkdtemp(rundir)) {
        printf("FAIL: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    if (xs_fixture_start(rundir, &pid, err, sizeof(err)) != 0) {
        printf("FAIL: start xenstored fixture in %s: %s\n", rundir, err);
        return 1;
    }
    printf("PASS: xenstored fixture started (pid %ld, %s)\n", (long)pid,
           rundir);

    h = xs_open(0);
    if (check(h != NULL, "xs_open via XENSTORED_PATH", "%s",
              strerror(errno))) {
        test_write_read(h);
        test_directory(h);
        test_watch(h);
        test_transaction_conflict(h);
        test_permissions(h);
        test_owner_must_exist(h);
        test_introduce(h);
        xs_close(h);
    }
    test_stop(pid);

    printf("%d checks, %d failed\n", checks, failures);
    if (failures) {
        printf("run directory kept for inspection: %s\n", rundir);
        return 1;
    }
    nftw(rundir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/*  tests/registrar/regtest.h — the little test harness of the registrar's unit tests.

    Owns: PASS/FAIL reporting (one line per check, exit status 1 if any failed), and
    helpers that build registrations and working directories.
    Never touches: anything outside the test's own directory (REGTEST_DIR, set by CMake).
*/
#ifndef XSP_REGTEST_H
#define XSP_REGTEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reg.h"

#ifndef REGTEST_DIR
#define REGTEST_DIR "/tmp/xsp-regtest"
#endif

static int regtest_checks, regtest_failures;

static bool check_(bool ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), unused));

static bool check_(bool ok, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    regtest_checks++;
    if (!ok)
        regtest_failures++;
    printf("%s: ", ok ? "PASS" : "FAIL");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (!ok)
        printf("  [%s:%d]", file, line);
    printf("\n");
    fflush(stdout);
    return ok;
}

/* CHECK(condition, "what is checked", args...) */
#define CHECK(cond, ...) check_((cond), __FILE__, __LINE__, __VA_ARGS__)

/* Expect an error: rc < 0, err.code == code, and (when key is not NULL) a detail entry key
   (equal to val when val is not NULL). */
static bool __attribute__((unused))
check_err_(int rc, const reg_err_t *err, xsp_code_t code, const char *key, const char *val,
           const char *what, const char *file, int line)
{
    const char *got = key ? reg_err_get(err, key) : NULL;
    bool ok = rc < 0 && err->code == code && (!key || (got && (!val || strcmp(got, val) == 0)));

    return check_(ok, file, line, "%s -> %s%s%s%s%s (got rc %d, %s: %s%s%s)", what,
                  xsp_code_name(code), key ? ", detail " : "", key ? key : "",
                  val ? "=" : "", val ? val : "", rc, xsp_code_name(err->code), err->msg,
                  key ? "; detail " : "", key ? (got ? got : "(none)") : "");
}

#define CHECK_ERR(rc, err, code, key, val, what)                                             \
    check_err_((rc), &(err), (code), (key), (val), (what), __FILE__, __LINE__)

static int regtest_done(void) __attribute__((unused));

static int regtest_done(void)
{
    printf("%d checks, %d failures\n", regtest_checks, regtest_failures);
    return regtest_failures ? 1 : 0;
}

/* Split "a,b,c" into sv ("" = empty). */
static void __attribute__((unused)) strv_set(reg_strv_t *sv, const char *csv)
{
    char buf[4096], *save = NULL;

    reg_strv_dispose(sv);
    snprintf(buf, sizeof buf, "%s", csv);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        reg_strv_push(sv, t);
}

/* A valid registration request: own_domain backend, one feature. */
static void __attribute__((unused)) mkreg(reg_t *r, const char *name, unsigned kinds,
                                           const char *schemes, const char *queues)
{
    reg_dispose(r);
    r->name = strdup(name);
    r->version = strdup("1.2.3");
    r->api_version = strdup("1.0");
    r->kinds = kinds;
    strv_set(&r->schemes, schemes);
    strv_set(&r->queues, queues);
    strv_set(&r->features, "SR_PROBE");
    r->backend = REG_BACKEND_OWN_DOMAIN;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Empty and recreate dir (mkdir -p). */
static void __attribute__((unused)) fresh_dir(const char *dir)
{
    char cmd[4096];

    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    snprintf(cmd, sizeof cmd, "%s", dir);
    for (char *p = cmd + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(cmd, 0700);
            *p = '/';
        }
    mkdir(cmd, 0700);
}

#endif

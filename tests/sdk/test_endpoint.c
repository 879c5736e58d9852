/*  test_endpoint.c — the endpoint rule: explicit, then $XSP_SWITCH, then the run dir. */
#include <stdlib.h>
#include <unistd.h>

#include "xsp/endpoint.h"
#include "xsp_test.h"

int main(void)
{
    char buf[XSP_ENDPOINT_MAX], dir[XSP_ENDPOINT_MAX], want[XSP_ENDPOINT_MAX + 32];

    setenv("XSP_SWITCH", "tcp://127.0.0.1:7600", 1);
    CHECK(xsp_endpoint_resolve("ipc:///x/y.sock", buf, sizeof buf) == 0);
    CHECK_STR(buf, "ipc:///x/y.sock");
    CHECK(xsp_endpoint_resolve(NULL, buf, sizeof buf) == 0);
    CHECK_STR(buf, "tcp://127.0.0.1:7600");
    CHECK(xsp_endpoint_resolve("", buf, sizeof buf) == 0);     /* empty = not given */
    CHECK_STR(buf, "tcp://127.0.0.1:7600");

    unsetenv("XSP_SWITCH");
    setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
    CHECK(xsp_default_run_dir(dir, sizeof dir) == 0);
    CHECK_STR(dir, geteuid() == 0 ? "/run/xsp" : "/run/user/4242/xsp");
    CHECK(xsp_endpoint_resolve(NULL, buf, sizeof buf) == 0);
    snprintf(want, sizeof want, "ipc://%s/switch.sock", dir);
    CHECK_STR(buf, want);

    setenv("XSP_SWITCH", "", 1);    /* empty variable = not set */
    CHECK(xsp_endpoint_resolve(NULL, buf, sizeof buf) == 0);
    CHECK_STR(buf, want);

    if (geteuid() != 0) {
        unsetenv("XDG_RUNTIME_DIR");
        CHECK(xsp_default_run_dir(dir, sizeof dir) == 0);
        snprintf(want, sizeof want, "/tmp/xsp-%u", (unsigned) geteuid());
        CHECK_STR(dir, want);
    }

    /* too small a buffer is an error, never an overflow */
    char tiny[8];
    CHECK(xsp_endpoint_resolve("ipc:///a/long/path.sock", tiny, sizeof tiny) == -1);
    CHECK(tiny[sizeof tiny - 1] == '\0');
    CHECK(xsp_default_run_dir(tiny, 4) == -1);
    puts("ok");
    return 0;
}

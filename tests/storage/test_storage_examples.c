/*  test_storage_examples.c — the README examples work: example_plugin serves, and
    example_toolstack's synchronous stub call gets the typed backend (and a typed error).

    Runs both as real processes against a real switch; XSP_SWITCH points them at it.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "storage_test.h"

/*  Run example_toolstack URI; its stdout into out.  Returns its exit status. */
static int toolstack(const char *uri, char *out, size_t cap)
{
    char bin[512], cmd[1024];
    xsp_test_bin("example_toolstack", bin, sizeof bin);
    snprintf(cmd, sizeof cmd, "'%s' '%s' 2>&1", bin, uri);
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int main(void)
{
    xsp_test_switch_t sw;
    char out[4096];
    CHECK(xsp_test_switch_start(&sw, NULL) == 0);
    CHECK(setenv("XSP_SWITCH", sw.endpoint, 1) == 0);
    static const char *const quiet[] = { "--log-level", "warn", NULL };
    pid_t plugin = st_spawn("example_plugin", quiet, false);

    CHECK_EQ(toolstack("file:///srv/disk.img", out, sizeof out), 0);
    fputs(out, stderr);
    CHECK_MSG(strstr(out, "path: \"/srv/disk.img\"") && strstr(out, "source: fixed") &&
              strstr(out, "kind: file"), "%s", out);

    CHECK_EQ(toolstack("nbd://elsewhere/x", out, sizeof out), 1);
    CHECK_MSG(strstr(out, "attach: volume-does-not-exist: nbd://elsewhere/x is not a file:// URI "
                          "[uri=nbd://elsewhere/x]"), "%s", out);

    CHECK_EQ(st_stop(plugin), 0);
    CHECK_EQ(xsp_test_switch_stop(&sw), 0);
    puts("ok");
    return 0;
}

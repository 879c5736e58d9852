/*  tests/registrar/test_store_file.c — the file store: round trip through a restart (every
    field, awkward bytes), del by name and id, crash safety (a torn temp file left by a
    crash; a real crash of a child process between temp write and rename, and just after
    the rename), corrupted and torn state files (clear error, .bad copy kept, store usable),
    the lock, check() rewriting a vanished file, and --store specs (file, file:PATH, auto
    without xenstored, bad specs).

    Owns: REGTEST_DIR.  Exit 1 on any failure.
*/
#include "regtest.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "store.h"

static char path[512], tmp_path[600], bad_path[600];

static void mkfull(reg_t *r, const char *name, const char *id, uint32_t domid)
{
    mkreg(r, name, REG_KIND_VOLUME | REG_KIND_DATAPATH, "file,vhd+file", "org.xen.xsp.storage.f,q2");
    r->id = strdup(id);
    r->domid = domid;
    r->backend = REG_BACKEND_FIXED;
    r->has_backend_domid = true;
    r->backend_domid = 3;
    r->registered_at = 1732640000123ull;
    strv_set(&r->features, "SR_PROBE,with space,per%cent,comma\\,no");
    reg_strv_push(&r->features, "a,b=c d\xc3\xa9");   /* comma, equals, UTF-8 */
}

typedef struct {
    reg_vec_t got;
    int bad;
} loaded_t;

static void on_load(void *arg, const reg_t *reg, const reg_err_t *bad)
{
    loaded_t *l = arg;

    if (reg)
        reg_vec_put(&l->got, reg);
    else
        l->bad++, printf("  (bad entry: %s)\n", bad->msg);
}

static reg_store_t *open_store(void)
{
    reg_err_t err = { 0 };
    reg_store_t *s = reg_store_open_file(path, &err);

    if (!s)
        printf("open %s failed: %s\n", path, err.msg);
    return s;
}

static int load(reg_store_t *s, loaded_t *l, reg_err_t *err)
{
    reg_vec_dispose(&l->got);
    l->bad = 0;
    return reg_store_load_all(s, on_load, l, err);
}

static bool file_exists(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0;
}

static char *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void spit(const char *p, const char *data, size_t len)
{
    FILE *f = fopen(p, "wb");

    fwrite(data, 1, len, f);
    fclose(f);
}

static void test_roundtrip(void)
{
    reg_store_t *s = open_store();
    reg_t a = { 0 }, b = { 0 }, c = { 0 };
    loaded_t l = { 0 };
    reg_err_t err = { 0 };
    char *text;
    size_t len;
    int rc;

    if (!CHECK(s != NULL, "open a file store in a fresh directory"))
        return;
    CHECK(reg_store_kind(s) == REG_STORE_FILE && strncmp(reg_store_describe(s), "file:", 5) == 0 &&
              strcmp(reg_store_describe(s) + 5, path) == 0,
          "describe: %s", reg_store_describe(s));
    rc = load(s, &l, &err);
    CHECK(rc == 0 && l.got.n == 0, "first start: nothing stored, no error");
    mkfull(&a, "alpha", "alpha.0000000000000001", 0);
    mkfull(&b, "beta", "beta.0000000000000002", 5);
    mkreg(&c, "gamma", REG_KIND_DATAPATH, "nbd", "qg");
    c.id = strdup("gamma.0000000000000003");
    c.backend = REG_BACKEND_ON_DEMAND;
    strv_set(&c.features, "");
    c.prio = calloc(1, sizeof *c.prio);     /* table state: never stored */
    c.confirmed = true;
    CHECK(reg_store_put(s, &a, &err) == 0 && reg_store_put(s, &b, &err) == 0 &&
              reg_store_put(s, &c, &err) == 0,
          "put three registrations (%s)", err.msg);
    CHECK(reg_store_mirror(s)->n == 3, "the mirror holds three");
    text = slurp(path, &len);
    CHECK(text && strncmp(text, "xsp-registrar-state 1\n", 22) == 0 && strstr(text, "\nreg id=alpha.") &&
              strstr(text, "per%25cent") && strstr(text, "\nend count=3 fnv1a64="),
          "the file is the documented text format");
    free(text);
    CHECK(!file_exists(tmp_path), "no temp file left behind");
    reg_store_close(&s);

    s = open_store();
    rc = s ? load(s, &l, &err) : -1;
    CHECK(rc == 0 && l.got.n == 3 && l.bad == 0, "after a restart load_all finds three");
    if (rc == 0 && l.got.n == 3) {
        CHECK(reg_equal(&l.got.v[0], &a) && reg_equal(&l.got.v[1], &b),
              "alpha and beta come back field for field (features with spaces, %%, commas, UTF-8)");
        CHECK(reg_equal(&l.got.v[2], &c) && !l.got.v[2].confirmed && !l.got.v[2].prio,
              "gamma comes back without table state");
    }

    /* Replace and delete. */
    free(b.version);
    b.version = strdup("2.0");
    CHECK(reg_store_put(s, &b, &err) == 0, "put beta again (new version) replaces it");
    CHECK(reg_store_del(s, "alpha", "alpha.wrong", &err) == 0 && reg_store_mirror(s)->n == 3,
          "del alpha with a wrong id: nothing removed, no error");
    CHECK(reg_store_del(s, "alpha", "alpha.0000000000000001", &err) == 0 && reg_store_mirror(s)->n == 2,
          "del alpha with its id: removed");
    CHECK(reg_store_del(s, "nobody", NULL, &err) == 0, "del of a name never stored: fine");
    CHECK(reg_store_del(s, "bad.name", NULL, &err) < 0 && err.code == XSP_E_INVALID_ARGUMENT,
          "del of an invalid name: invalid-argument");
    reg_store_close(&s);
    s = open_store();
    rc = s ? load(s, &l, &err) : -1;
    CHECK(rc == 0 && l.got.n == 2 && strcmp(l.got.v[0].name, "beta") == 0 &&
              strcmp(l.got.v[0].version, "2.0") == 0,
          "after another restart: beta (v2.0) and gamma");
    reg_vec_dispose(&l.got);
    reg_store_close(&s);
    reg_dispose(&a);
    reg_dispose(&b);
    reg_dispose(&c);
}

static void test_torn_temp(void)
{
    reg_store_t *s;
    loaded_t l = { 0 };
    reg_err_t err = { 0 };
    static const char torn[] = "xsp-registrar-state 1\nreg id=delta.1 name=del";
    int rc;

    /* A crash after writing part of the temp file: the state file is untouched. */
    spit(tmp_path, torn, sizeof torn - 1);
    s = open_store();
    rc = s ? load(s, &l, &err) : -1;
    CHECK(rc == 0 && l.got.n == 2 && !file_exists(tmp_path) && reg_store_stats(s)->stale_temps == 1,
          "a torn temp file is ignored and removed; the old state loads (%s)", rc ? err.msg : "ok");
    reg_vec_dispose(&l.got);
    reg_store_close(&s);
}

typedef struct {
    const char *stage;
} crash_t;

static void crash_hook(void *arg, const char *stage)
{
    crash_t *c = arg;

    if (strcmp(stage, c->stage) == 0)
        _exit(0);       /* as sudden as a crash: no atexit, no flushing */
}

/* In a child: open, load, put `name`, crash at `stage`.  Returns the child's status. */
static int crash_child(const char *name, const char *stage)
{
    pid_t pid = fork();
    int status = -1;

    if (pid == 0) {
        reg_store_t *s = open_store();
        loaded_t l = { 0 };
        reg_err_t err = { 0 };
        crash_t c = { .stage = stage };
        reg_t r = { 0 };
        char id[128];

        if (!s || load(s, &l, &err) < 0)
            _exit(2);
        snprintf(id, sizeof id, "%s.00000000000000ff", name);
        mkfull(&r, name, id, 0);
        reg_store_set_test_hook(s, crash_hook, &c);
        reg_store_put(s, &r, &err);
        _exit(3);       /* the hook did not fire */
    }
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_real_crash(void)
{
    reg_store_t *s;
    loaded_t l = { 0 };
    reg_err_t err = { 0 };
    int rc;

    rc = crash_child("crashed", "temp-written");
    CHECK(rc == 0, "a child crashes after writing and fsyncing the temp file, before the rename");
    CHECK(file_exists(tmp_path), "... leaving the complete temp file behind");
    s = open_store();
    rc = s ? load(s, &l, &err) : -1;
    CHECK(rc == 0 && l.got.n == 2 && reg_vec_find(&l.got, "crashed") < 0 && !file_exists(tmp_path),
          "restart: the old state (2 entries), the unrenamed write is not there");
    reg_vec_dispose(&l.got);
    reg_store_close(&s);

    rc = crash_child("survivor", "renamed");
    CHECK(rc == 0, "a child crashes right after the rename");
    s = open_store();
    rc = s ? load(s, &l, &err) : -1;
    CHECK(rc == 0 && l.got.n == 3 && reg_vec_find(&l.got, "survivor") >= 0,
          "restart: the renamed write is there (3 entries)");
    reg_vec_dispose(&l.got);
    reg_store_close(&s);
}

static void corrupt_and_load(const char *what, void (*damage)(char *text, size_t *len),
                             const char *needle)
{
    reg_store_t *s;
    loaded_t l = { 0 };
    reg_err_t err = { 0 };
    char *orig, *text, *bad;
    size_t len, olen, blen;
    reg_t r = { 0 };
    int rc;

    orig = slurp(path, &olen);
    text = malloc(olen + 64);
    memcpy(text, orig, olen);
    len = olen;
    damage(text, &len);
    spit(path, text, len);
    unlink(bad_path);
    s = open_store();
    rc = s ? load(s, &l, &err) : -1;
    CHECK(rc < 0 && err.code == XSP_E_DECODE && strstr(err.msg, path) && strstr(err.msg, needle) &&
              strstr(err.msg, ".bad"),
          "%s: load_all fails, naming the file and the problem: %s", what, err.msg);
    bad = slurp(bad_path, &blen);
    CHECK(bad && blen == len && memcmp(bad, text, len) == 0 && !file_exists(path),
          "%s: the damaged file is kept as .bad", what);
    CHECK(s && reg_store_mirror(s)->n == 0, "%s: the store starts empty", what);
    mkfull(&r, "fresh", "fresh.1", 0);
    CHECK(s && reg_store_put(s, &r, &err) == 0, "%s: the store is still usable (put)", what);
    reg_store_close(&s);
    s = open_store();
    rc = s ? load(s, &l, &err) : -1;
    CHECK(rc == 0 && l.got.n == 1, "%s: the next restart loads the fresh file", what);
    reg_store_close(&s);
    /* Restore the previous state for the next case. */
    spit(path, orig, olen);
    reg_vec_dispose(&l.got);
    reg_dispose(&r);
    free(orig);
    free(text);
    free(bad);
}

static void flip_byte(char *text, size_t *len)
{
    text[*len / 2] ^= 0x20;
}

static void truncate_half(char *text, size_t *len)
{
    (void)text;
    *len /= 2;
}

static void drop_end(char *text, size_t *len)
{
    char *end = strstr(text, "\nend ");

    *len = (size_t)(end - text) + 1;
}

/* A line the checksum covers but that is not a valid registration: rewrite the
   checksum so that only the content check can catch it. */
static void bad_scheme(char *text, size_t *len)
{
    char *p = strstr(text, "schemes=file");
    char *end, line[96];
    uint64_t h = 0xcbf29ce484222325ull;

    memcpy(p + 8, "9ile", 4);
    end = strstr(text, "\nend ") + 1;
    for (char *q = text; q < end; q++) {
        h ^= (unsigned char)*q;
        h *= 0x100000001b3ull;
    }
    snprintf(line, sizeof line, "end count=%zu fnv1a64=%016llx\n", (size_t)3,
             (unsigned long long)h);
    strcpy(end, line);
    *len = strlen(text);
}

static void test_corruption(void)
{
    corrupt_and_load("one flipped byte", flip_byte, "checksum mismatch");
    corrupt_and_load("a file cut in half", truncate_half, "torn");
    corrupt_and_load("a file without its end line", drop_end, "no end line");
    corrupt_and_load("a valid checksum over an invalid entry", bad_scheme, ":3: ");
}

static void test_lock_and_check(void)
{
    reg_store_t *s = open_store(), *s2;
    loaded_t l = { 0 };
    reg_err_t err = { 0 };
    int rc;

    s2 = reg_store_open_file(path, &err);
    CHECK(!s2 && err.code == XSP_E_SYSTEM && strstr(err.msg, "in use"),
          "a second store on the same file is refused: %s", err.msg);
    reg_store_close(&s2);
    rc = s ? load(s, &l, &err) : -1;
    unlink(path);
    CHECK(rc == 0 && reg_store_check(s, &err) == 0 && file_exists(path) &&
              reg_store_stats(s)->resyncs == 1,
          "check() rewrites a state file that vanished");
    CHECK(reg_store_check(s, &err) == 0 && reg_store_stats(s)->resyncs == 1,
          "check() with the file present does nothing");
    reg_vec_dispose(&l.got);
    reg_store_close(&s);
}

static void test_specs(void)
{
    char dir[600], expect[700];
    reg_err_t err = { 0 };
    reg_store_t *s;

    snprintf(dir, sizeof dir, "%s/state/sub", REGTEST_DIR);
    s = reg_store_open("file", dir, &err);
    snprintf(expect, sizeof expect, "file:%s/registrar.state", dir);
    CHECK(s && strcmp(reg_store_describe(s), expect) == 0,
          "--store file: STATE_DIR/registrar.state, directory created (%s)",
          s ? reg_store_describe(s) : err.msg);
    reg_store_close(&s);
    snprintf(expect, sizeof expect, "file:%s/x.state", REGTEST_DIR);
    s = reg_store_open(expect, NULL, &err);
    CHECK(s && strcmp(reg_store_describe(s), expect) == 0, "--store file:PATH");
    reg_store_close(&s);

    /* auto without any xenstored: the file, with a note saying why. */
    setenv("XENSTORED_PATH", REGTEST_DIR "/no-such-socket", 1);
    s = reg_store_open("auto", dir, &err);
    CHECK(s && reg_store_kind(s) == REG_STORE_FILE && strstr(reg_store_note(s), "xenstore"),
          "--store auto without xenstored: file (%s; %s)", s ? reg_store_describe(s) : err.msg,
          s ? reg_store_note(s) : "");
    reg_store_close(&s);
    s = reg_store_open(NULL, dir, &err);
    CHECK(s && reg_store_kind(s) == REG_STORE_FILE, "no --store = auto");
    reg_store_close(&s);
    s = reg_store_open("xenstore", dir, &err);
    CHECK(!s && err.code == XSP_E_DISCONNECTED, "--store xenstore without xenstored fails: %s",
          err.msg);
    s = reg_store_open("bogus", dir, &err);
    CHECK(!s && err.code == XSP_E_INVALID_ARGUMENT && strstr(err.msg, "bogus"),
          "--store bogus: %s", err.msg);
    s = reg_store_open("file:", dir, &err);
    CHECK(!s && err.code == XSP_E_INVALID_ARGUMENT, "--store file: (no path) is refused");
    s = reg_store_open("xenstore:relative", dir, &err);
    CHECK(!s && err.code == XSP_E_INVALID_ARGUMENT, "--store xenstore:relative is refused");
}

int main(void)
{
    fresh_dir(REGTEST_DIR);
    snprintf(path, sizeof path, "%s/registrar.state", REGTEST_DIR);
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", path);
    snprintf(bad_path, sizeof bad_path, "%s.bad", path);
    test_roundtrip();
    test_torn_temp();
    test_real_crash();
    test_corruption();
    test_lock_and_check();
    test_specs();
    return regtest_done();
}

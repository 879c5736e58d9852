/*  test_fault_journal.c — switch/journal.c on its own, on real files.

    torn_tail           a journal of records whose last record is cut at every byte offset
                        (and, separately, garbled at every byte): replay keeps exactly the
                        earlier records, cuts the file back to their end, appends after it
    corrupt_middle      a checksum mismatch in a record followed by valid records: replay
                        refuses with a sentence naming the offset; the file is untouched
    compaction_bounded  churn (append, mark done, compact via the live set) keeps the file
                        under a bound while 100x that many bytes pass through it
    locked              a second open of the same directory fails naming the holder's pid;
                        a missing directory and a file in place of one give clear errors
    bad_magic           a file that is not a journal is refused, not overwritten
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "swtest.h"

static char dir[64];

static void mkstate(void)
{
    snprintf(dir, sizeof dir, "/tmp/xsp-jtest.XXXXXX");
    CHECK(mkdtemp(dir));
}

static void rmstate(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static char path[96];
static const char *jpath(void)
{
    snprintf(path, sizeof path, "%s/journal", dir);
    return path;
}

typedef struct {
    int n;
    uint32_t ids[256];
} seen_t;

static int collect(void *arg, unsigned type, const uint8_t *body, size_t len)
{
    seen_t *s = arg;
    CHECK_U(type, ==, 7);
    CHECK(len >= 4);
    uint32_t id;
    memcpy(&id, body, 4);
    for (size_t i = 4; i < len; i++)
        CHECKF(body[i] == (uint8_t) (id + i), "record %u byte %zu", id, i);
    CHECK(s->n < 256);
    s->ids[s->n++] = id;
    return 0;
}

static void append_rec(sw_journal_t *j, uint32_t id, size_t len)
{
    uint8_t b[512];
    CHECK(len <= sizeof b && len >= 4);
    memcpy(b, &id, 4);
    for (size_t i = 4; i < len; i++)
        b[i] = (uint8_t) (id + i);
    struct iovec iov = { b, len };
    CHECK(sw_journal_append(j, 7, &iov, 1) == 0);
}

static sw_journal_t *open_ok(void)
{
    char err[512];
    sw_journal_t *j = sw_journal_open(dir, err, sizeof err);
    CHECKF(j, "open: %s", err);
    return j;
}

static off_t file_size(void)
{
    struct stat st;
    CHECK(stat(jpath(), &st) == 0);
    return st.st_size;
}

static void write_file(const uint8_t *b, size_t len)
{
    int fd = open(jpath(), O_WRONLY | O_TRUNC | O_CREAT, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, b, len) == (ssize_t) len);
    close(fd);
}

static uint8_t *read_file(size_t *len)
{
    int fd = open(jpath(), O_RDONLY);
    CHECK(fd >= 0);
    off_t n = lseek(fd, 0, SEEK_END);
    uint8_t *b = malloc((size_t) n);
    CHECK(pread(fd, b, (size_t) n, 0) == n);
    close(fd);
    *len = (size_t) n;
    return b;
}

static void t_torn_tail(void)
{
    mkstate();
    sw_journal_t *j = open_ok();
    for (uint32_t i = 1; i <= 5; i++)
        append_rec(j, i, 20 + i * 7);
    CHECK(sw_journal_commit(j, true) == 0);
    sw_journal_destroy(&j);
    size_t full;
    uint8_t *img = read_file(&full);
    size_t last = full - (SW_JOURNAL_HEAD + 20 + 5 * 7);   /* the 5th record's start */
    for (int garble = 0; garble < 2; garble++)
        for (size_t cut = last; cut < full; cut++) {
            /* garble 0: the file ends at `cut`; garble 1: full length, byte `cut` flipped */
            if (garble) {
                img[cut] ^= 0x5a;
                write_file(img, full);
                img[cut] ^= 0x5a;
            } else
                write_file(img, cut);
            j = open_ok();
            seen_t s = { 0 };
            char err[512];
            CHECKF(sw_journal_replay(j, collect, &s, err, sizeof err) == 0, "cut %zu: %s", cut, err);
            CHECKF(s.n == 4, "cut at %zu (garble %d): %d records replayed, want 4", cut, garble, s.n);
            for (int i = 0; i < 4; i++)
                CHECK_U(s.ids[i], ==, i + 1);
            CHECK_U(sw_journal_size(j), ==, last);
            CHECK_U(file_size(), ==, last);
            if (garble || cut > last)
                CHECK_U(sw_journal_stats(j)->cut_bytes, >, 0);
            append_rec(j, 9, 40);       /* appends continue right after the cut */
            CHECK(sw_journal_commit(j, true) == 0);
            sw_journal_destroy(&j);
            j = open_ok();
            seen_t s2 = { 0 };
            CHECK(sw_journal_replay(j, collect, &s2, err, sizeof err) == 0);
            CHECK(s2.n == 5 && s2.ids[4] == 9);
            sw_journal_destroy(&j);
        }
    swt_note("every cut and every flipped byte of the last record: 4 earlier records kept");
    free(img);
    rmstate();
}

static void t_corrupt_middle(void)
{
    mkstate();
    sw_journal_t *j = open_ok();
    for (uint32_t i = 1; i <= 5; i++)
        append_rec(j, i, 30);
    CHECK(sw_journal_commit(j, true) == 0);
    sw_journal_destroy(&j);
    size_t len;
    uint8_t *img = read_file(&len);
    size_t rec = SW_JOURNAL_HEAD + 30, off = 8 + 2 * rec;   /* record 3 */
    img[off + SW_JOURNAL_HEAD + 10] ^= 1;
    write_file(img, len);
    j = open_ok();
    seen_t s = { 0 };
    char err[512] = "";
    CHECK(sw_journal_replay(j, collect, &s, err, sizeof err) < 0);
    char want[64];
    snprintf(want, sizeof want, "offset %zu", off);
    CHECKF(strstr(err, want) && strstr(err, "refusing"), "error: %s", err);
    swt_note("refused: %s", err);
    CHECK_U(file_size(), ==, len);      /* nothing cut */
    sw_journal_destroy(&j);
    free(img);
    rmstate();
}

/*  Churn: records come and go; compaction keeps only the live ones. */
static uint32_t live[64];
static int nlive;

static int emit(void *arg, sw_journal_t *j)
{
    (void) arg;
    for (int i = 0; i < nlive; i++)
        append_rec(j, live[i], 200);
    return 0;
}

static void t_compaction_bounded(void)
{
    mkstate();
    sw_journal_t *j = open_ok();
    const uint64_t bound = 64 * 1024;
    uint64_t written = 0, max_size = 0;
    uint32_t next = 1;
    for (int round = 0; round < 6000; round++) {
        /* keep up to 32 live; each round one new record and one retired */
        append_rec(j, next, 200);
        written += SW_JOURNAL_HEAD + 200;
        if (nlive == 32)
            memmove(live, live + 1, sizeof live[0] * (size_t) --nlive);
        live[nlive++] = next++;
        CHECK(sw_journal_commit(j, round % 8 == 0) == 0);
        if (sw_journal_size(j) > bound)
            CHECK(sw_journal_compact(j, emit, NULL) == 0);
        if (sw_journal_size(j) > max_size)
            max_size = sw_journal_size(j);
    }
    CHECK_U(max_size, <=, bound + SW_JOURNAL_HEAD + 200);
    CHECK_U(written, >, 10 * bound);
    CHECK_U(sw_journal_stats(j)->compactions, >, 5);
    sw_journal_destroy(&j);
    j = open_ok();
    seen_t s = { 0 };
    char err[512];
    CHECK(sw_journal_replay(j, collect, &s, err, sizeof err) == 0);
    /* the file holds the live set of the last compaction plus what came after it */
    CHECK(s.n >= nlive);
    CHECK_U(s.ids[s.n - 1], ==, next - 1);
    swt_note("%llu bytes through a journal that never passed %llu bytes (%llu compactions)",
             (unsigned long long) written, (unsigned long long) max_size,
             (unsigned long long) sw_journal_stats(j)->compactions);
    sw_journal_destroy(&j);
    struct stat st;
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%s/journal.tmp", dir);
    CHECK(stat(tmp, &st) < 0 && errno == ENOENT);
    rmstate();
}

static void t_locked(void)
{
    mkstate();
    sw_journal_t *j = open_ok();
    char err[512] = "";
    CHECK(sw_journal_open(dir, err, sizeof err) == NULL);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %d", (int) getpid());
    CHECKF(strstr(err, "in use by another xsp-switch") && strstr(err, pid), "error: %s", err);
    sw_journal_destroy(&j);
    j = open_ok();              /* released on destroy */
    sw_journal_destroy(&j);
    CHECK(sw_journal_open("/nonexistent/xsp-state", err, sizeof err) == NULL);
    CHECKF(strstr(err, "/nonexistent/xsp-state") && strstr(err, "No such file"), "error: %s", err);
    CHECK(sw_journal_open(jpath(), err, sizeof err) == NULL);
    CHECKF(strstr(err, "is not a directory"), "error: %s", err);
    CHECK(sw_journal_open("/sys", err, sizeof err) == NULL);
    CHECKF(strstr(err, "not writable"), "error: %s", err);
    rmstate();
}

static void t_bad_magic(void)
{
    mkstate();
    write_file((const uint8_t *) "hello, this is not a journal\n", 29);
    char err[512] = "";
    CHECK(sw_journal_open(dir, err, sizeof err) == NULL);
    CHECKF(strstr(err, "not an xsp-switch journal"), "error: %s", err);
    CHECK_U(file_size(), ==, 29);
    rmstate();
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "torn_tail", t_torn_tail, false },
        { "corrupt_middle", t_corrupt_middle, false },
        { "compaction_bounded", t_compaction_bounded, false },
        { "locked", t_locked, false },
        { "bad_magic", t_bad_magic, false },
        { NULL, NULL, false },
    };
    return swt_main(argc, argv, cases, 60);
}

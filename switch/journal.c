/*  journal.c — the append-only checksummed log (see journal.h for the contract and the
    file layout).  Owns the journal files and their descriptors; never interprets bodies. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "xsp/log.h"

struct sw_journal {
    char dir[PATH_MAX];
    char path[PATH_MAX + 16];
    int fd, lock_fd;
    uint64_t size;              /* committed bytes in the file */
    uint8_t *buf;               /* records appended, not yet written */
    size_t len, cap;
    sw_journal_stats_t st;
};

/* ------------------------------------------------------------------ CRC32C */

static uint32_t crc_table[8][256];

static void crc_init(void)
{
    if (crc_table[0][1])
        return;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t sw_crc32c(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    crc_init();
    crc = ~crc;
    while (len >= 8) {              /* slicing by 8 */
        uint32_t lo = crc ^ ((uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
                             (uint32_t) p[3] << 24);
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
              crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) (v >> 16);
    p[3] = (uint8_t) (v >> 24);
}

/* ------------------------------------------------------------------ open / close */

#define ERR(...) do { snprintf(err, errlen, __VA_ARGS__); goto fail; } while (0)

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

sw_journal_t *sw_journal_open(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    sw_journal_t *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    j->fd = j->lock_fd = -1;
    if (strlen(dir) >= sizeof j->dir - 32)
        ERR("state directory path is too long");
    snprintf(j->dir, sizeof j->dir, "%s", dir);
    snprintf(j->path, sizeof j->path, "%s/journal", dir);
    if (stat(dir, &st) < 0)
        ERR("state directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        ERR("state directory %s is not a directory", dir);
    char lock[PATH_MAX + 32];
    snprintf(lock, sizeof lock, "%s/journal.lock", dir);
    j->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->lock_fd < 0)
        ERR("state directory %s is not writable: cannot create %s: %s", dir, lock, strerror(errno));
    if (flock(j->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "";
        ssize_t n = pread(j->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        ERR("state directory %s is in use by another xsp-switch (pid %s)", dir, pid[0] ? pid : "?");
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int) getpid());
    if (ftruncate(j->lock_fd, 0) < 0 || pwrite(j->lock_fd, pid, (size_t) n, 0) != n)
        xsp_log(XSP_LOG_WARN, "cannot write the pid into %s", lock);
    j->fd = open(j->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->fd < 0)
        ERR("cannot open %s: %s", j->path, strerror(errno));
    if (fstat(j->fd, &st) < 0)
        ERR("cannot stat %s: %s", j->path, strerror(errno));
    j->size = (uint64_t) st.st_size;
    if (j->size < sizeof SW_JOURNAL_MAGIC - 1) {
        /* new, or torn while writing the magic: start the file afresh */
        if (ftruncate(j->fd, 0) < 0 || pwrite(j->fd, SW_JOURNAL_MAGIC, 8, 0) != 8 ||
            fdatasync(j->fd) < 0 || sync_dir(dir) < 0)
            ERR("cannot initialise %s: %s", j->path, strerror(errno));
        j->size = 8;
    } else {
        char magic[8];
        if (pread(j->fd, magic, 8, 0) != 8 || memcmp(magic, SW_JOURNAL_MAGIC, 8))
            ERR("%s is not an xsp-switch journal (bad magic); refusing to touch it", j->path);
    }
    if (lseek(j->fd, (off_t) j->size, SEEK_SET) < 0)
        ERR("cannot seek in %s: %s", j->path, strerror(errno));
    return j;
fail:
    sw_journal_destroy(&j);
    return NULL;
}

void sw_journal_destroy(sw_journal_t **pj)
{
    sw_journal_t *j = *pj;
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    if (j->lock_fd >= 0)
        close(j->lock_fd);      /* releases the flock; the file stays (harmless) */
    free(j->buf);
    free(j);
    *pj = NULL;
}

/* ------------------------------------------------------------------ replay */

/*  Is there a valid record at off in [data, data+size)? */
static bool valid_at(const uint8_t *data, uint64_t size, uint64_t off)
{
    if (off + SW_JOURNAL_HEAD > size)
        return false;
    uint32_t len = rd32(data + off);
    if (len > SW_JOURNAL_MAX_BODY || off + SW_JOURNAL_HEAD + len > size)
        return false;
    return sw_crc32c(0, data + off + 8, 1 + (size_t) len) == rd32(data + off + 4);
}

int sw_journal_replay(sw_journal_t *j, sw_journal_fn fn, void *arg, char *err, size_t errlen)
{
    uint64_t size = j->size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data)
        ERR("out of memory reading %s (%llu bytes)", j->path, (unsigned long long) size);
    for (uint64_t got = 0; got < size;) {
        ssize_t n = pread(j->fd, data + got, size - got, (off_t) got);
        if (n <= 0)
            ERR("cannot read %s: %s", j->path, n < 0 ? strerror(errno) : "short file");
        got += (uint64_t) n;
    }
    uint64_t off = 8;
    while (off < size) {
        if (!valid_at(data, size, off)) {
            uint32_t len = off + 4 <= size ? rd32(data + off) : 0;
            uint64_t next = off + SW_JOURNAL_HEAD + (uint64_t) len;
            if (off + SW_JOURNAL_HEAD <= size && len <= SW_JOURNAL_MAX_BODY && next < size &&
                valid_at(data, size, next))
                ERR("%s is corrupt: the record at offset %llu fails its checksum and valid "
                    "records follow it; refusing to start (move the file aside to discard the "
                    "journal)", j->path, (unsigned long long) off);
            xsp_log(XSP_LOG_WARN, "%s: torn tail at offset %llu: cutting %llu bytes (a write "
                    "that was never acknowledged)", j->path, (unsigned long long) off,
                    (unsigned long long) (size - off));
            if (ftruncate(j->fd, (off_t) off) < 0 || fdatasync(j->fd) < 0)
                ERR("cannot cut the torn tail of %s: %s", j->path, strerror(errno));
            j->st.cut_bytes = size - off;
            j->size = off;
            if (lseek(j->fd, (off_t) off, SEEK_SET) < 0)
                ERR("cannot seek in %s: %s", j->path, strerror(errno));
            break;
        }
        uint32_t len = rd32(data + off);
        int rc = fn(arg, data[off + 8], data + off + SW_JOURNAL_HEAD, len);
        if (rc)
            ERR("%s: the record at offset %llu (type %u, %u bytes) is not understood", j->path,
                (unsigned long long) off, data[off + 8], len);
        off += SW_JOURNAL_HEAD + len;
    }
    free(data);
    return 0;
fail:
    free(data);
    return -1;
}

#undef ERR

/* ------------------------------------------------------------------ writing */

int sw_journal_append(sw_journal_t *j, unsigned type, const struct iovec *iov, int n)
{
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += iov[i].iov_len;
    if (len > SW_JOURNAL_MAX_BODY) {
        errno = EMSGSIZE;
        return -1;
    }
    size_t need = j->len + SW_JOURNAL_HEAD + len;
    if (need > j->cap) {
        size_t cap = j->cap ? j->cap : 65536;
        while (cap < need)
            cap *= 2;
        uint8_t *b = realloc(j->buf, cap);
        if (!b)
            return -1;
        j->buf = b;
        j->cap = cap;
    }
    uint8_t *h = j->buf + j->len;
    wr32(h, (uint32_t) len);
    h[8] = (uint8_t) type;
    uint8_t *p = h + SW_JOURNAL_HEAD;
    for (int i = 0; i < n; i++) {
        if (iov[i].iov_len)
            memcpy(p, iov[i].iov_base, iov[i].iov_len);
        p += iov[i].iov_len;
    }
    wr32(h + 4, sw_crc32c(0, h + 8, 1 + len));
    j->len = need;
    j->st.records++;
    return 0;
}

size_t sw_journal_pending(const sw_journal_t *j)
{
    return j->len;
}

int sw_journal_commit(sw_journal_t *j, bool sync)
{
    if (j->len) {
        if (write_all(j->fd, j->buf, j->len) < 0)
            goto fail;
        j->size += j->len;
        j->len = 0;
        j->st.commits++;
    }
    if (sync) {
        if (fdatasync(j->fd) < 0)
            goto fail;
        j->st.fsyncs++;
    }
    return 0;
fail: {
        int e = errno;
        /* never leave half a commit behind: cut back to what was there */
        if (ftruncate(j->fd, (off_t) j->size) < 0 || lseek(j->fd, (off_t) j->size, SEEK_SET) < 0)
            xsp_log(XSP_LOG_ERR, "%s: cannot cut back a failed write: %s", j->path, strerror(errno));
        j->len = 0;
        errno = e;
        return -1;
    }
}

int sw_journal_compact(sw_journal_t *j, sw_journal_emit_fn emit, void *arg)
{
    if (sw_journal_commit(j, false) < 0)
        return -1;
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s/journal.tmp", j->dir);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        xsp_log(XSP_LOG_ERR, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    int old_fd = j->fd;
    uint64_t old_size = j->size;
    j->fd = fd;
    j->size = 8;
    if (write_all(fd, SW_JOURNAL_MAGIC, 8) < 0 || emit(arg, j) < 0 || write_all(fd, j->buf, j->len) < 0 ||
        fdatasync(fd) < 0 || rename(tmp, j->path) < 0) {
        xsp_log(XSP_LOG_ERR, "compacting %s failed: %s; keeping the old journal", j->path, strerror(errno));
        close(fd);
        unlink(tmp);
        j->fd = old_fd;
        j->size = old_size;
        j->len = 0;
        return -1;
    }
    j->size += j->len;
    j->len = 0;
    j->st.fsyncs++;
    j->st.compactions++;
    close(old_fd);
    if (sync_dir(j->dir) < 0)
        xsp_log(XSP_LOG_WARN, "cannot fsync %s after compaction: %s", j->dir, strerror(errno));
    xsp_log(XSP_LOG_DEBUG, "%s compacted from %llu to %llu bytes", j->path,
            (unsigned long long) old_size, (unsigned long long) j->size);
    return 0;
}

uint64_t sw_journal_size(const sw_journal_t *j)
{
    return j->size;
}

const sw_journal_stats_t *sw_journal_stats(const sw_journal_t *j)
{
    return &j->st;
}

const char *sw_journal_path(const sw_journal_t *j)
{
    return j->path;
}

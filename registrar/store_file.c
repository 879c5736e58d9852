/*  registrar/store_file.c — the file back end of the store (see store.h): every
    registration in one text file, rewritten whole and atomically.

    Owns: the state file PATH, its temp file PATH.tmp, the quarantine PATH.bad and the lock
    file PATH.lock (flock: one registrar per state file).
    Never touches: other files, the registration table.

    WRITING (crash safety): serialise the full set -> write PATH.tmp -> fsync it -> rename
    to PATH -> fsync the directory.  A crash before the rename leaves PATH as it was (and a
    PATH.tmp that the next load removes); a crash after it leaves the new PATH.  Nothing
    ever writes PATH in place.

    FORMAT (version 1; docs/registrar.md):

        xsp-registrar-state 1
        # written by xsp-registrar (docs/registrar.md); do not edit while it runs
        reg id=ID name=NAME version=V api_version=V kinds=volume,datapath schemes=S,S
            queues=Q,Q domid=N backend=fixed backend_domid=N features=F,F registered_at=MS
        end count=N fnv1a64=HEX

    one `reg` line per registration (shown wrapped above).  Values are percent-encoded
    (every byte outside A-Z a-z 0-9 . _ ~ : / @ + - becomes %XX); list elements are
    separated by commas.  Unknown keys are ignored (a newer registrar may add some).  The
    `end` line carries the number of `reg` lines and the FNV-1a 64 checksum of every byte
    before it: a file without a valid `end` line as its last line is torn or corrupted.
*/
#include "store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAGIC "xsp-registrar-state 1"
#define STATE_MAX_BYTES (64u << 20)

typedef struct {
    char *path, *tmp, *bad, *lock, *dir;
    int lock_fd;
} file_impl_t;

/* ------------------------------------------------------------------ text buffer */

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        if (!(p = realloc(b->p, cap))) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static bool plain_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("._~:/@+-", c));
}

static void sb_enc(sbuf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

        if (plain_byte(*p))
            sb_add(b, (const char *)p, 1);
        else
            sb_add(b, e, 3);
    }
}

static void sb_field(sbuf_t *b, const char *key, const char *val)
{
    sb_str(b, " ");
    sb_str(b, key);
    sb_str(b, "=");
    sb_enc(b, val);
}

static void sb_list(sbuf_t *b, const char *key, const reg_strv_t *sv)
{
    sb_str(b, " ");
    sb_str(b, key);
    sb_str(b, "=");
    for (size_t i = 0; i < sv->n; i++) {
        if (i)
            sb_str(b, ",");
        sb_enc(b, sv->v[i]);
    }
}

static void sb_u64(sbuf_t *b, const char *key, uint64_t v)
{
    char num[32];

    snprintf(num, sizeof num, " %s=%" PRIu64, key, v);
    sb_str(b, num);
}

static uint64_t fnv1a64(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void serialise(sbuf_t *b, const reg_vec_t *set)
{
    char end[96];

    sb_str(b, STATE_MAGIC "\n");
    sb_str(b, "# written by xsp-registrar (docs/registrar.md); do not edit while it runs\n");
    for (size_t i = 0; i < set->n; i++) {
        const reg_t *r = &set->v[i];
        reg_strv_t kinds = { 0 };
        char *kv[2];

        sb_str(b, "reg");
        sb_field(b, "id", r->id);
        sb_field(b, "name", r->name);
        sb_field(b, "version", r->version);
        sb_field(b, "api_version", r->api_version);
        kinds.v = kv;
        if (r->kinds & REG_KIND_VOLUME)
            kv[kinds.n++] = (char *)"volume";
        if (r->kinds & REG_KIND_DATAPATH)
            kv[kinds.n++] = (char *)"datapath";
        sb_list(b, "kinds", &kinds);
        sb_list(b, "schemes", &r->schemes);
        sb_list(b, "queues", &r->queues);
        sb_u64(b, "domid", r->domid);
        sb_field(b, "backend", reg_backend_name(r->backend));
        if (r->has_backend_domid)
            sb_u64(b, "backend_domid", r->backend_domid);
        sb_list(b, "features", &r->features);
        sb_u64(b, "registered_at", r->registered_at);
        sb_str(b, "\n");
    }
    if (b->oom)
        return;
    snprintf(end, sizeof end, "end count=%zu fnv1a64=%016" PRIx64 "\n", set->n,
             fnv1a64(b->p, b->len));
    sb_str(b, end);
}

/* ------------------------------------------------------------------ parsing */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode n bytes of percent-encoded s into a new string; NULL if malformed (or NUL). */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi, lo;

            if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 ||
                (lo = hexval(s[i + 2])) < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        } else if (plain_byte((unsigned char)s[i])) {
            *o++ = s[i];
        } else {
            free(out);
            return NULL;
        }
    }
    *o = '\0';
    return out;
}

static int parse_list(const char *val, reg_strv_t *sv)
{
    const char *s = val;

    if (!*val)
        return 0;
    for (;;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char *d = pct_decode(s, n);

        if (!d || !*d || reg_strv_push(sv, d) < 0) {
            free(d);
            return -1;
        }
        free(d);
        if (!e)
            return 0;
        s = e + 1;
    }
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;

    if (!(*s >= '0' && *s <= '9'))
        return -1;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno || *end ? -1 : 0;
}

/* Parse one `reg` line (without "reg" and the newline) into r. */
static int parse_reg(char *line, reg_t *r, char *why, size_t whylen)
{
    static const char *const required[] = { "id", "name", "version", "api_version", "kinds",
                                            "schemes", "queues", "domid", "backend",
                                            "registered_at" };
    unsigned seen = 0;
    char *save = NULL;
    bool has_features = false;

    for (char *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        const char *key = tok, *val;
        int k = -1;
        uint64_t u;

        if (!eq) {
            snprintf(why, whylen, "\"%.32s\" is not KEY=VALUE", tok);
            return -1;
        }
        *eq = '\0';
        val = eq + 1;
        for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
            if (strcmp(key, required[i]) == 0)
                k = (int)i;
        if (k >= 0) {
            if (seen & (1u << k)) {
                snprintf(why, whylen, "%s given twice", key);
                return -1;
            }
            seen |= 1u << k;
        }
        if (strcmp(key, "id") == 0 || strcmp(key, "name") == 0 ||
            strcmp(key, "version") == 0 || strcmp(key, "api_version") == 0) {
            char **dst = key[0] == 'i' ? &r->id : key[0] == 'n' ? &r->name
                         : key[0] == 'v' ? &r->version : &r->api_version;

            if (!(*dst = pct_decode(val, strlen(val)))) {
                snprintf(why, whylen, "%s: bad encoding", key);
                return -1;
            }
        } else if (strcmp(key, "kinds") == 0) {
            reg_strv_t kinds = { 0 };

            if (parse_list(val, &kinds) < 0) {
                reg_strv_dispose(&kinds);
                snprintf(why, whylen, "kinds: bad encoding");
                return -1;
            }
            for (size_t i = 0; i < kinds.n; i++) {
                unsigned bit = reg_kind_from_name(kinds.v[i]);

                if (!bit) {
                    snprintf(why, whylen, "kinds: unknown kind \"%.32s\"", kinds.v[i]);
                    reg_strv_dispose(&kinds);
                    return -1;
                }
                r->kinds |= bit;
            }
            reg_strv_dispose(&kinds);
        } else if (strcmp(key, "schemes") == 0 || strcmp(key, "queues") == 0 ||
                   strcmp(key, "features") == 0) {
            reg_strv_t *sv = key[0] == 's' ? &r->schemes : key[0] == 'q' ? &r->queues
                                                                         : &r->features;

            if (key[0] == 'f') {
                if (has_features) {
                    snprintf(why, whylen, "features given twice");
                    return -1;
                }
                has_features = true;
            }
            if (parse_list(val, sv) < 0) {
                snprintf(why, whylen, "%s: bad encoding", key);
                return -1;
            }
        } else if (strcmp(key, "domid") == 0 || strcmp(key, "backend_domid") == 0) {
            if (parse_u64(val, &u) < 0 || u >= REG_DOMID_LIMIT) {
                snprintf(why, whylen, "%s: \"%.32s\" is not a domid", key, val);
                return -1;
            }
            if (key[0] == 'd') {
                r->domid = (uint32_t)u;
            } else {
                if (r->has_backend_domid) {
                    snprintf(why, whylen, "backend_domid given twice");
                    return -1;
                }
                r->has_backend_domid = true;
                r->backend_domid = (uint32_t)u;
            }
        } else if (strcmp(key, "backend") == 0) {
            if (!reg_backend_from_name(val, &r->backend)) {
                snprintf(why, whylen, "backend: unknown policy \"%.32s\"", val);
                return -1;
            }
        } else if (strcmp(key, "registered_at") == 0) {
            if (parse_u64(val, &r->registered_at) < 0) {
                snprintf(why, whylen, "registered_at: \"%.32s\" is not a number", val);
                return -1;
            }
        }
        /* other keys: from a newer registrar; ignored */
    }
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!(seen & (1u << i))) {
            snprintf(why, whylen, "missing %s", required[i]);
            return -1;
        }
    if (!r->id[0]) {
        snprintf(why, whylen, "empty id");
        return -1;
    }
    return 0;
}

/* Parse the whole file; on error *line is the line at fault (0: the file as a whole). */
static int parse_file(char *text, size_t len, reg_vec_t *out, unsigned *line, char *why,
                      size_t whylen)
{
    char *p = text, *end_line = NULL;
    size_t nregs = 0;
    uint64_t count, sum;
    char sumhex[17];

    *line = 0;
    if (len == 0) {
        snprintf(why, whylen, "empty file");
        return -1;
    }
    if (memchr(text, '\0', len)) {
        snprintf(why, whylen, "NUL byte in the file");
        return -1;
    }
    if (text[len - 1] != '\n') {
        snprintf(why, whylen, "torn: the last line is incomplete");
        return -1;
    }
    /* Find the end line first: it must be the last line, and checks everything before. */
    for (char *q = text + len - 1; q > text; q--)
        if (q[-1] == '\n') {
            end_line = q;
            break;
        }
    if (!end_line || strncmp(end_line, "end ", 4) != 0) {
        snprintf(why, whylen, "torn: no end line");
        return -1;
    }
    if (sscanf(end_line, "end count=%" SCNu64 " fnv1a64=%16[0-9a-f]\n", &count, sumhex) != 2 ||
        strlen(sumhex) != 16) {
        snprintf(why, whylen, "malformed end line");
        return -1;
    }
    sum = strtoull(sumhex, NULL, 16);
    if (sum != fnv1a64(text, (size_t)(end_line - text))) {
        snprintf(why, whylen, "checksum mismatch: the file was changed or damaged");
        return -1;
    }
    while (p < end_line) {
        char *nl = strchr(p, '\n');

        *nl = '\0';
        (*line)++;
        if (*line == 1) {
            if (strcmp(p, STATE_MAGIC) != 0) {
                snprintf(why, whylen, "not an xsp-registrar state file (expected \"%s\")",
                         STATE_MAGIC);
                return -1;
            }
        } else if (p[0] == '#' || p[0] == '\0') {
            /* comment */
        } else if (strncmp(p, "reg ", 4) == 0) {
            reg_t r = { 0 };
            reg_err_t verr = { 0 };

            if (parse_reg(p + 4, &r, why, whylen) < 0) {
                reg_dispose(&r);
                return -1;
            }
            if (reg_validate(&r, &verr) < 0) {
                snprintf(why, whylen, "%.500s", verr.msg);
                reg_dispose(&r);
                return -1;
            }
            if (reg_vec_find(out, r.name) >= 0) {
                snprintf(why, whylen, "plugin %s appears twice", r.name);
                reg_dispose(&r);
                return -1;
            }
            if (reg_vec_put_move(out, &r) < 0) {
                reg_dispose(&r);
                snprintf(why, whylen, "out of memory");
                return -1;
            }
            nregs++;
        } else {
            snprintf(why, whylen, "unknown line \"%.32s\"", p);
            return -1;
        }
        p = nl + 1;
    }
    if (nregs != count) {
        *line = 0;
        snprintf(why, whylen, "end line says %" PRIu64 " registrations, found %zu", count,
                 nregs);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ file system */

static int mkdir_p(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof buf)
        return n == 0 ? 0 : (errno = ENAMETOOLONG, -1);
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int write_all_fd(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Replace the file with set: temp + fsync + rename + fsync(dir). */
static int write_set(reg_store_t *s, const reg_vec_t *set, reg_err_t *err)
{
    file_impl_t *f = s->impl;
    sbuf_t b = { 0 };
    int fd, dfd;

    serialise(&b, set);
    if (b.oom) {
        free(b.p);
        return reg_err(err, XSP_E_SYSTEM, "out of memory");
    }
    fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        reg_err(err, XSP_E_SYSTEM, "cannot create %s: %s", f->tmp, strerror(errno));
        free(b.p);
        return -1;
    }
    if (write_all_fd(fd, b.p, b.len) < 0 || fsync(fd) < 0) {
        reg_err(err, XSP_E_SYSTEM, "cannot write %s: %s", f->tmp, strerror(errno));
        close(fd);
        unlink(f->tmp);
        free(b.p);
        return -1;
    }
    free(b.p);
    if (close(fd) < 0) {
        reg_err(err, XSP_E_SYSTEM, "cannot write %s: %s", f->tmp, strerror(errno));
        unlink(f->tmp);
        return -1;
    }
    reg_store_hook_(s, "temp-written");
    if (rename(f->tmp, f->path) < 0) {
        reg_err(err, XSP_E_SYSTEM, "cannot rename %s to %s: %s", f->tmp, f->path,
                strerror(errno));
        unlink(f->tmp);
        return -1;
    }
    /* Make the rename itself durable. */
    if ((dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        int rc = fsync(dfd);
        int e = errno;

        close(dfd);
        if (rc < 0)
            return reg_err(err, XSP_E_SYSTEM, "cannot fsync %s: %s", f->dir, strerror(e));
    }
    reg_store_hook_(s, "renamed");
    return 0;
}

/* ------------------------------------------------------------------ operations */

static int file_load(reg_store_t *s, reg_vec_t *out, reg_store_load_fn *fn, void *arg,
                     reg_err_t *err)
{
    file_impl_t *f = s->impl;
    struct stat st;
    char *text = NULL, why[640];
    size_t len = 0;
    unsigned line;
    int fd;

    (void)fn;
    (void)arg;
    if (lstat(f->tmp, &st) == 0 && unlink(f->tmp) == 0)
        s->stats.stale_temps++;     /* a write that crashed before its rename */
    fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;               /* first start */
        return reg_err(err, XSP_E_SYSTEM, "cannot open %s: %s", f->path, strerror(errno));
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > STATE_MAX_BYTES) {
        reg_err(err, XSP_E_SYSTEM, "%s: not a regular file of at most %u bytes", f->path,
                STATE_MAX_BYTES);
        close(fd);
        return -1;
    }
    if (!(text = malloc((size_t)st.st_size + 1))) {
        close(fd);
        return reg_err(err, XSP_E_SYSTEM, "out of memory");
    }
    while (len < (size_t)st.st_size) {
        ssize_t r = read(fd, text + len, (size_t)st.st_size - len);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            reg_err(err, XSP_E_SYSTEM, "cannot read %s: %s", f->path, strerror(errno));
            close(fd);
            free(text);
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    text[len] = '\0';
    if (parse_file(text, len, out, &line, why, sizeof why) < 0) {
        char where[32] = "";

        free(text);
        reg_vec_dispose(out);
        if (line)
            snprintf(where, sizeof where, ":%u", line);
        if (rename(f->path, f->bad) < 0)
            return reg_err(err, XSP_E_DECODE,
                           "%s%s: %s; could not move it to %s (%s): starting with no "
                           "registrations", f->path, where, why, f->bad, strerror(errno));
        return reg_err(err, XSP_E_DECODE,
                       "%s%s: %s; moved it to %s, starting with no registrations", f->path,
                       where, why, f->bad);
    }
    free(text);
    return 0;
}

static int file_put(reg_store_t *s, const reg_t *r, reg_err_t *err)
{
    reg_vec_t set = { 0 };
    int rc;

    if (reg_vec_copy(&set, &s->mirror) < 0 || reg_vec_put(&set, r) < 0) {
        reg_vec_dispose(&set);
        return reg_err(err, XSP_E_SYSTEM, "out of memory");
    }
    rc = write_set(s, &set, err);
    reg_vec_dispose(&set);
    return rc;
}

static int file_del(reg_store_t *s, const char *name, const char *id, reg_err_t *err)
{
    reg_vec_t set = { 0 };
    long i = reg_vec_find(&s->mirror, name);
    int rc;

    if (i < 0 || (id && strcmp(s->mirror.v[i].id ? s->mirror.v[i].id : "", id) != 0))
        return 0;
    if (reg_vec_copy(&set, &s->mirror) < 0)
        return reg_err(err, XSP_E_SYSTEM, "out of memory");
    reg_vec_del(&set, name);
    rc = write_set(s, &set, err);
    reg_vec_dispose(&set);
    return rc;
}

static int file_resync(reg_store_t *s, reg_err_t *err)
{
    return write_set(s, &s->mirror, err);
}

static int file_check(reg_store_t *s, reg_err_t *err)
{
    file_impl_t *f = s->impl;
    struct stat st;

    if (stat(f->path, &st) == 0 || errno != ENOENT)
        return 0;
    if (s->mirror.n == 0)
        return 0;
    if (write_set(s, &s->mirror, err) < 0)
        return -1;
    s->stats.resyncs++;
    return 0;
}

static void file_close(reg_store_t *s)
{
    file_impl_t *f = s->impl;

    if (!f)
        return;
    if (f->lock_fd >= 0)
        close(f->lock_fd);   /* releases the flock */
    free(f->path);
    free(f->tmp);
    free(f->bad);
    free(f->lock);
    free(f->dir);
    free(f);
    s->impl = NULL;
}

static const reg_store_ops_t file_ops = {
    .kind = REG_STORE_FILE,
    .load = file_load,
    .put = file_put,
    .del = file_del,
    .resync = file_resync,
    .check = file_check,
    .close = file_close,
};

static char *suffixed(const char *path, const char *suffix)
{
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *p = malloc(n);

    if (p)
        snprintf(p, n, "%s%s", path, suffix);
    return p;
}

reg_store_t *reg_store_file_open_(const char *path, reg_err_t *err)
{
    file_impl_t *f = calloc(1, sizeof *f);
    reg_store_t *s = NULL;
    char *slash;

    if (!f) {
        reg_err(err, XSP_E_SYSTEM, "out of memory");
        return NULL;
    }
    f->lock_fd = -1;
    if (!(f->path = strdup(path)) || !(f->tmp = suffixed(path, ".tmp")) ||
        !(f->bad = suffixed(path, ".bad")) || !(f->lock = suffixed(path, ".lock")) ||
        !(f->dir = strdup(path))) {
        reg_err(err, XSP_E_SYSTEM, "out of memory");
        goto fail;
    }
    slash = strrchr(f->dir, '/');
    if (!slash)
        strcpy(f->dir, ".");
    else if (slash == f->dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    if (mkdir_p(f->dir) < 0) {
        reg_err(err, XSP_E_SYSTEM, "cannot create the state directory %s: %s", f->dir,
                strerror(errno));
        goto fail;
    }
    f->lock_fd = open(f->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f->lock_fd < 0) {
        reg_err(err, XSP_E_SYSTEM, "cannot open %s: %s", f->lock, strerror(errno));
        goto fail;
    }
    if (flock(f->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        reg_err(err, XSP_E_SYSTEM, "%s is in use by another xsp-registrar (%s is locked)",
                f->path, f->lock);
        goto fail;
    }
    if (!(s = reg_store_new_(&file_ops, f, err)))
        goto fail;
    snprintf(s->describe, sizeof s->describe, "file:%s", f->path);
    return s;
fail:
    {
        reg_store_t tmp = { .impl = f };

        file_close(&tmp);
    }
    return NULL;
}

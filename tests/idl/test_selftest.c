/*  test_selftest.c — the generic IDL self-test: every generated type, request and result.

    Owns: the checks run over the tables of selftest.h (emitted by the generator for one
    IDL run and linked in as st_modules[]):
      - round trip of every sample (empty, full per union variant, alt) through copy, equal,
        encode, unpack, decode; re-encoding is byte-identical; dispose leaves zeroes;
        printers and JSON succeed;
      - every prefix of every encoding is refused (truncation), as are trailing bytes;
      - per field: missing, nil, wrong type, duplicate key, and per kind: max-size values
        accepted and max+1 refused (strings, lists, list elements, maps, map keys and
        values), NUL bytes, integer ranges, unknown enum values, unknown error codes;
      - unknown keys skipped; non-map records, non-string keys, union "kind" errors, the
        request envelope, result top-level types;
      - every refusal is XSP_E_DECODE whose message starts with the path of the field, the
        output is left empty, and decode(object) and unpack(bytes) agree.
    Options: --corpus DIR writes every request/result/error encoding (fuzzer seeds);
             --json FILE writes hex(msgpack) + compact JSON + pretty JSON of every sample
             (tests/idl/check_json.py cross-checks them); -v prints each type.
    Never touches: anything outside the process (except those two outputs).
*/
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "selftest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "xsp/idl_codec.h"
#include "xsp/idl_emit.h"

static int failures, checks, verbose;
static const char *corpus_dir;
static FILE *json_out;
static msgpack_zone *Z;
static const st_type_t *T;     /* the type under test, for messages */

/* ------------------------------------------------------------------ helpers for samples */

char *st_strdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return d;
}

void *st_nonnull(void *p)
{
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

void st_ok(int rc)
{
    if (rc) {
        fprintf(stderr, "sample builder failed: %d\n", rc);
        exit(2);
    }
}

static void failf(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(const char *what, const char *fmt, ...)
{
    va_list ap;
    failures++;
    fprintf(stderr, "FAIL [%s] %s: ", T ? T->name : "-", what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

#define CHECK(cond, what, ...) do { checks++; if (!(cond)) failf(what, __VA_ARGS__); } while (0)

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ------------------------------------------------------------------ msgpack objects */

static msgpack_object o_nil(void)
{
    msgpack_object o;
    memset(&o, 0, sizeof o);
    o.type = MSGPACK_OBJECT_NIL;
    return o;
}

static msgpack_object o_uint(uint64_t v)
{
    msgpack_object o = o_nil();
    o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    o.via.u64 = v;
    return o;
}

static msgpack_object o_neg(int64_t v)
{
    msgpack_object o = o_nil();
    o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
    o.via.i64 = v;
    return o;
}

/* a string of n bytes (filled with fill), in the zone */
static msgpack_object o_strn(size_t n, char fill)
{
    msgpack_object o = o_nil();
    char *p = st_nonnull(msgpack_zone_malloc(Z, n ? n : 1));
    memset(p, fill, n);
    o.type = MSGPACK_OBJECT_STR;
    o.via.str.ptr = p;
    o.via.str.size = (uint32_t) n;
    return o;
}

static msgpack_object o_str(const char *s)
{
    msgpack_object o = o_strn(strlen(s), 'x');
    memcpy((char *) o.via.str.ptr, s, strlen(s));
    return o;
}

static msgpack_object o_array(size_t n, const msgpack_object *elem)
{
    msgpack_object o = o_nil();
    o.type = MSGPACK_OBJECT_ARRAY;
    o.via.array.size = (uint32_t) n;
    o.via.array.ptr = st_nonnull(msgpack_zone_malloc(Z, (n ? n : 1) * sizeof(msgpack_object)));
    for (size_t i = 0; i < n; i++)
        o.via.array.ptr[i] = *elem;
    return o;
}

static msgpack_object o_map(size_t n)
{
    msgpack_object o = o_nil();
    o.type = MSGPACK_OBJECT_MAP;
    o.via.map.size = (uint32_t) n;
    o.via.map.ptr = st_nonnull(msgpack_zone_malloc(Z, (n ? n : 1) * sizeof(msgpack_object_kv)));
    return o;
}

static bool key_is(const msgpack_object *k, const char *name)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name)
           && memcmp(k->via.str.ptr, name, k->via.str.size) == 0;
}

static const msgpack_object *map_get(const msgpack_object *m, const char *key)
{
    for (uint32_t i = 0; i < m->via.map.size; i++)
        if (key_is(&m->via.map.ptr[i].key, key))
            return &m->via.map.ptr[i].val;
    return NULL;
}

static msgpack_object map_without(const msgpack_object *m, const char *key)
{
    msgpack_object o = o_map(m->via.map.size);
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->via.map.size; i++)
        if (!key_is(&m->via.map.ptr[i].key, key))
            o.via.map.ptr[n++] = m->via.map.ptr[i];
    o.via.map.size = n;
    return o;
}

/* m with key's value replaced (or the entry appended) */
static msgpack_object map_with(const msgpack_object *m, const char *key, msgpack_object val)
{
    msgpack_object o = o_map(m->via.map.size + 1);
    bool done = false;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        o.via.map.ptr[i] = m->via.map.ptr[i];
        if (key_is(&m->via.map.ptr[i].key, key)) {
            o.via.map.ptr[i].val = val;
            done = true;
        }
    }
    o.via.map.size = m->via.map.size;
    if (!done) {
        o.via.map.ptr[o.via.map.size].key = o_str(key);
        o.via.map.ptr[o.via.map.size].val = val;
        o.via.map.size++;
    }
    return o;
}

/* m plus one more entry, whatever its key */
static msgpack_object map_plus(const msgpack_object *m, msgpack_object key, msgpack_object val)
{
    msgpack_object o = o_map(m->via.map.size + 1);
    if (m->via.map.size)
        memcpy(o.via.map.ptr, m->via.map.ptr, m->via.map.size * sizeof *m->via.map.ptr);
    o.via.map.ptr[m->via.map.size].key = key;
    o.via.map.ptr[m->via.map.size].val = val;
    return o;
}

/* a map of n entries "k0".."k<n-1>" -> "v" */
static msgpack_object o_strmap(size_t n)
{
    msgpack_object o = o_map(n);
    for (size_t i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof k, "k%zu", i);
        o.via.map.ptr[i].key = o_str(k);
        o.via.map.ptr[i].val = o_str("v");
    }
    return o;
}

/* ------------------------------------------------------------------ encode / decode helpers */

static int encode(const st_type_t *t, const void *obj, msgpack_sbuffer *sb, xsp_error_t *err)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    return t->encode(&pk, obj, err);
}

static void pack_object(const msgpack_object *o, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    st_ok(msgpack_pack_object(&pk, *o));
}

/* the fast path (xsp/idl_reader.h) over bytes the strict decoders accept: it must accept
   them too and read the same value, into the heap and into an arena (a 64-byte block, so
   larger values go on to the arena's heap chunks) */
static void expect_read_ok(const st_type_t *t, const void *buf, size_t len, const void *want,
                           const char *what)
{
    void *c = st_nonnull(calloc(1, t->size));
    char block[64];
    xsp_arena_t arena;

    CHECK(t->read(buf, len, c, NULL) == 0, what, "the fast path refused what decode accepts");
    CHECK(t->equal(want, c), what, "the fast path (heap) and decode disagree");
    t->dispose(c);
    memset(c, 0, t->size);
    xsp_arena_init(&arena, block, sizeof block);
    CHECK(t->read(buf, len, c, &arena) == 0, what, "the fast path (arena) refused what decode accepts");
    CHECK(t->equal(want, c), what, "the fast path (arena) and decode disagree");
    xsp_arena_dispose(&arena);      /* never t->dispose: the arena owned it all */
    free(c);
}

/* ... and it must refuse what they refuse (the message is theirs: the caller falls back) */
static void expect_read_fail(const st_type_t *t, const void *buf, size_t len, const char *what)
{
    void *c = st_nonnull(calloc(1, t->size));
    char block[64];
    xsp_arena_t arena;

    CHECK(t->read(buf, len, c, NULL) != 0, what, "the fast path (heap) accepted what decode refuses");
    t->dispose(c);
    memset(c, 0, t->size);
    xsp_arena_init(&arena, block, sizeof block);
    CHECK(t->read(buf, len, c, &arena) != 0, what, "the fast path (arena) accepted what decode refuses");
    xsp_arena_dispose(&arena);
    free(c);
}

/* decode o (object and re-packed bytes): must succeed; returns a fresh object to dispose */
static void *expect_ok(const st_type_t *t, const msgpack_object *o, const char *what)
{
    void *a = st_nonnull(calloc(1, t->size)), *b = st_nonnull(calloc(1, t->size));
    xsp_error_t err;
    msgpack_sbuffer sb;
    int rc;

    xsp_error_clear(&err);
    rc = t->decode(o, a, &err);
    CHECK(rc == 0, what, "decode failed: %s", err.msg);
    pack_object(o, &sb);
    rc = t->unpack(sb.data, sb.size, b, &err);
    CHECK(rc == 0, what, "unpack failed: %s", err.msg);
    CHECK(t->equal(a, b), what, "decode and unpack disagree");
    expect_read_ok(t, sb.data, sb.size, a, what);
    msgpack_sbuffer_destroy(&sb);
    t->dispose(b);
    free(b);
    return a;
}

static void expect_ok_roundtrip(const st_type_t *t, const msgpack_object *o, const char *what)
{
    void *a = expect_ok(t, o, what), *b = st_nonnull(calloc(1, t->size));
    msgpack_sbuffer sb;
    xsp_error_t err;

    CHECK(encode(t, a, &sb, &err) == 0, what, "re-encode failed: %s", err.msg);
    CHECK(t->unpack(sb.data, sb.size, b, &err) == 0, what, "re-decode failed: %s", err.msg);
    CHECK(t->equal(a, b), what, "round trip changed the value");
    msgpack_sbuffer_destroy(&sb);
    t->dispose(a);
    t->dispose(b);
    free(a);
    free(b);
}

/* decode o must fail with XSP_E_DECODE and a message starting with prefix (and containing
   `also` if given); the output must be left empty; unpack of the same bytes must agree */
static void expect_fail(const st_type_t *t, const msgpack_object *o, const char *prefix, const char *also,
                        const char *what)
{
    void *a = st_nonnull(calloc(1, t->size));
    xsp_error_t e1, e2;
    msgpack_sbuffer sb;
    int rc;

    xsp_error_clear(&e1);
    xsp_error_clear(&e2);
    rc = t->decode(o, a, &e1);
    CHECK(rc == XSP_E_DECODE && e1.code == XSP_E_DECODE, what, "decode returned %d (%s), want decode error", rc, e1.msg);
    CHECK(starts_with(e1.msg, prefix), what, "message \"%s\" does not start with \"%s\"", e1.msg, prefix);
    if (also)
        CHECK(strstr(e1.msg, also) != NULL, what, "message \"%s\" does not contain \"%s\"", e1.msg, also);
    CHECK(all_zero(a, t->size), what, "output not left empty after an error");
    t->dispose(a);      /* only matters when the decode wrongly succeeded */
    pack_object(o, &sb);
    rc = t->unpack(sb.data, sb.size, a, &e2);
    CHECK(rc == XSP_E_DECODE && strcmp(e1.msg, e2.msg) == 0, what, "unpack says \"%s\", decode said \"%s\"", e2.msg, e1.msg);
    CHECK(all_zero(a, t->size), what, "output not left empty after an unpack error");
    expect_read_fail(t, sb.data, sb.size, what);
    if (verbose > 1)
        fprintf(stderr, "  ok: %s\n", e1.msg);
    msgpack_sbuffer_destroy(&sb);
    t->dispose(a);
    free(a);
}

/* ------------------------------------------------------------------ outputs */

static void sanitize(const char *in, char *out, size_t n)
{
    size_t i;
    for (i = 0; in[i] && i + 1 < n; i++)
        out[i] = (in[i] == ' ' || in[i] == '/') ? '-' : in[i];
    out[i] = '\0';
}

static void write_corpus(const st_type_t *t, int which, const msgpack_sbuffer *sb)
{
    char name[256], path[1024];
    FILE *f;

    if (!corpus_dir || (t->role == ST_ROLE_TYPE && strcmp(t->name, "error_reply") != 0))
        return;
    sanitize(t->name, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s-%d.mp", corpus_dir, name, which);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(sb->data, 1, sb->size, f) != sb->size) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fclose(f);
}

static void write_json(const st_type_t *t, const void *obj, const msgpack_sbuffer *sb)
{
    xsp_buf_t b = XSP_BUF_INIT;

    if (!json_out)
        return;
    fprintf(json_out, "%s\n", t->name);
    for (size_t i = 0; i < sb->size; i++)
        fprintf(json_out, "%02x", (unsigned char) sb->data[i]);
    fputc('\n', json_out);
    st_ok(t->to_json(&b, obj, XSP_FORMAT_LINE));
    fprintf(json_out, "%s\n", xsp_buf_str(&b));
    xsp_buf_reset(&b);
    st_ok(t->to_json(&b, obj, 0));
    fprintf(json_out, "%s\n\x1e\n", xsp_buf_str(&b));
    xsp_buf_dispose(&b);
}

/* ------------------------------------------------------------------ round trips */

static void test_sample(const st_type_t *t, int which)
{
    void *obj = st_nonnull(calloc(1, t->size)), *cp = st_nonnull(calloc(1, t->size));
    void *back = st_nonnull(calloc(1, t->size));
    msgpack_sbuffer sb, sb2;
    xsp_error_t err;
    xsp_buf_t b = XSP_BUF_INIT;
    char what[64];
    const char *root = t->role == ST_ROLE_REQUEST ? "request" : t->root;

    snprintf(what, sizeof what, "sample %d", which);
    t->init(obj);
    t->sample(obj, which);
    CHECK(t->copy(cp, obj) == 0, what, "copy failed");
    CHECK(t->equal(cp, obj), what, "copy differs");
    t->dispose(cp);
    CHECK(all_zero(cp, t->size), what, "dispose did not leave zeroes");
    t->dispose(cp);     /* safe on an empty value */

    CHECK(encode(t, obj, &sb, &err) == 0, what, "encode failed: %s", err.msg);
    CHECK(t->unpack(sb.data, sb.size, back, &err) == 0, what, "unpack failed: %s", err.msg);
    CHECK(t->equal(obj, back), what, "round trip changed the value");
    CHECK(encode(t, back, &sb2, &err) == 0, what, "re-encode failed: %s", err.msg);
    CHECK(sb.size == sb2.size && memcmp(sb.data, sb2.data, sb.size) == 0, what, "re-encoding differs");
    msgpack_sbuffer_destroy(&sb2);
    t->dispose(back);
    expect_read_ok(t, sb.data, sb.size, obj, what);

    /* via msgpack_object too */
    {
        msgpack_unpacked up;
        xsp_path_t r = xsp_path_root("x");
        CHECK(xsp_idl_unpack(&up, sb.data, sb.size, &r, &err) == 0, what, "xsp_idl_unpack: %s", err.msg);
        CHECK(t->decode(&up.data, back, &err) == 0, what, "decode failed: %s", err.msg);
        CHECK(t->equal(obj, back), what, "decode changed the value");
        t->dispose(back);
        msgpack_unpacked_destroy(&up);
    }

    CHECK(t->format(&b, obj, 2) == 0 && b.len > 0, what, "format failed");
    if (verbose > 2)
        fprintf(stderr, "%s", xsp_buf_str(&b));
    xsp_buf_reset(&b);
    CHECK(t->format(&b, obj, XSP_FORMAT_LINE) == 0 && b.len > 0 && !strchr(xsp_buf_str(&b), '\n'), what,
          "one-line format failed or has a newline");
    xsp_buf_reset(&b);
    CHECK(t->to_json(&b, obj, XSP_FORMAT_LINE) == 0 && b.len > 0, what, "to_json failed");
    xsp_buf_dispose(&b);
    write_json(t, obj, &sb);
    write_corpus(t, which, &sb);

    /* every strict prefix is refused, the output left empty */
    for (size_t k = 0; k < sb.size; k++) {
        int rc = t->unpack(sb.data, k, back, &err);
        CHECK(rc == XSP_E_DECODE && starts_with(err.msg, root), what, "prefix %zu/%zu: rc %d \"%s\"", k, sb.size, rc, err.msg);
        CHECK(all_zero(back, t->size), what, "prefix %zu: output not empty", k);
        expect_read_fail(t, sb.data, k, what);
    }
    /* trailing garbage */
    {
        char *x = st_nonnull(malloc(sb.size + 1));
        memcpy(x, sb.data, sb.size);
        x[sb.size] = (char) 0xc0;
        CHECK(t->unpack(x, sb.size + 1, back, &err) == XSP_E_DECODE && strstr(err.msg, "trailing"), what,
              "trailing byte accepted or wrong message: %s", err.msg);
        expect_read_fail(t, x, sb.size + 1, what);
        free(x);
    }
    msgpack_sbuffer_destroy(&sb);
    t->dispose(obj);
    CHECK(all_zero(obj, t->size), what, "dispose did not leave zeroes");
    free(obj);
    free(cp);
    free(back);
}

/* ------------------------------------------------------------------ per-field refusals */

static msgpack_object wrong_type_for(const st_value_t *v)
{
    switch (v->kind) {
    case ST_STRING:
    case ST_CODE:
    case ST_ENUM:
        return o_uint(7);
    case ST_NIL:
        return o_uint(7);
    default:
        return o_str("wrong");
    }
}

static const char *type_word(st_kind_t k)
{
    switch (k) {
    case ST_NIL: return "nil";
    case ST_BOOL: return "boolean";
    case ST_INT: case ST_UINT: return "integer";
    case ST_STRING: case ST_CODE: case ST_ENUM: return "string";
    case ST_STRUCT: case ST_UNION: case ST_MAP: return "map";
    case ST_LIST: return "array";
    }
    return "?";
}

/* the record map under test inside root (requests: root["args"]) and how to put it back */
typedef struct {
    const st_type_t *t;
    msgpack_object root;
    const msgpack_object *rec;
} ctx_t;

static msgpack_object rebuild(const ctx_t *c, msgpack_object rec)
{
    if (c->t->role == ST_ROLE_REQUEST)
        return map_with(&c->root, "args", rec);
    return rec;
}

static void test_value_limits(const ctx_t *c, const st_field_t *f, const char *path)
{
    const st_value_t *v = &f->v;
    const msgpack_object *orig = map_get(c->rec, f->name);
    msgpack_object m, x;
    char what[160], pre2[400], prefix[400];

    snprintf(prefix, sizeof prefix, "%s: ", path);
    snprintf(what, sizeof what, "field %s limits", f->name);
    switch (v->kind) {
    case ST_STRING:
    case ST_CODE:
        m = rebuild(c, map_with(c->rec, f->name, o_strn(v->max, 'a')));
        expect_ok_roundtrip(c->t, &m, what);
        m = rebuild(c, map_with(c->rec, f->name, o_strn(v->max + 1, 'a')));
        expect_fail(c->t, &m, prefix, "exceeds the limit", what);
        x = o_str("a-b");
        ((char *) x.via.str.ptr)[1] = '\0';
        m = rebuild(c, map_with(c->rec, f->name, x));
        expect_fail(c->t, &m, prefix, "NUL byte", what);
        if (v->kind == ST_CODE) {      /* unknown codes are accepted as "unknown" */
            void *o;
            m = rebuild(c, map_with(c->rec, f->name, o_str("no-such-code")));
            o = expect_ok(c->t, &m, what);
            c->t->dispose(o);
            free(o);
        }
        break;
    case ST_LIST:
        if (orig && orig->type == MSGPACK_OBJECT_ARRAY && orig->via.array.size > 0) {
            m = rebuild(c, map_with(c->rec, f->name, o_array(v->max, &orig->via.array.ptr[0])));
            expect_ok_roundtrip(c->t, &m, what);
            m = rebuild(c, map_with(c->rec, f->name, o_array(v->max + 1, &orig->via.array.ptr[0])));
            expect_fail(c->t, &m, prefix, "exceeds the limit", what);
        } else {
            CHECK(0, what, "full sample has no list element");
        }
        if (v->elem == ST_STRING) {
            msgpack_object s = o_strn(v->elem_max, 'b');
            m = rebuild(c, map_with(c->rec, f->name, o_array(1, &s)));
            expect_ok_roundtrip(c->t, &m, what);
            s = o_strn(v->elem_max + 1, 'b');
            m = rebuild(c, map_with(c->rec, f->name, o_array(1, &s)));
            snprintf(pre2, sizeof pre2, "%s[0]: string of", path);
            expect_fail(c->t, &m, pre2, NULL, what);
        }
        /* an element of the wrong type */
        x = o_array(1, &(msgpack_object) { .type = MSGPACK_OBJECT_BOOLEAN });
        if (v->elem != ST_BOOL) {
            m = rebuild(c, map_with(c->rec, f->name, x));
            snprintf(pre2, sizeof pre2, "%s[0]: expected %s, got boolean", path, type_word(v->elem));
            expect_fail(c->t, &m, pre2, NULL, what);
        }
        break;
    case ST_MAP:
        m = rebuild(c, map_with(c->rec, f->name, o_strmap(v->max)));
        expect_ok_roundtrip(c->t, &m, what);
        m = rebuild(c, map_with(c->rec, f->name, o_strmap(v->max + 1)));
        expect_fail(c->t, &m, prefix, "exceeds the limit", what);
        x = o_map(1);
        x.via.map.ptr[0].key = o_strn(v->key_max, 'k');
        x.via.map.ptr[0].val = o_strn(v->elem_max, 'v');
        m = rebuild(c, map_with(c->rec, f->name, x));
        expect_ok_roundtrip(c->t, &m, what);
        x.via.map.ptr[0].key = o_strn(v->key_max + 1, 'k');
        m = rebuild(c, map_with(c->rec, f->name, x));
        expect_fail(c->t, &m, prefix, "map key", what);
        x.via.map.ptr[0].key = o_str("k");
        x.via.map.ptr[0].val = o_strn(v->elem_max + 1, 'v');
        m = rebuild(c, map_with(c->rec, f->name, x));
        snprintf(pre2, sizeof pre2, "%s[\"k\"]: string of", path);
        expect_fail(c->t, &m, pre2, NULL, what);
        x.via.map.ptr[0].val = o_uint(1);
        m = rebuild(c, map_with(c->rec, f->name, x));
        snprintf(pre2, sizeof pre2, "%s[\"k\"]: expected string, got integer", path);
        expect_fail(c->t, &m, pre2, NULL, what);
        x = o_strmap(2);
        x.via.map.ptr[1].key = x.via.map.ptr[0].key;
        m = rebuild(c, map_with(c->rec, f->name, x));
        snprintf(pre2, sizeof pre2, "%s[\"k0\"]: duplicate key", path);
        expect_fail(c->t, &m, pre2, NULL, what);
        x = o_map(1);
        x.via.map.ptr[0].key = o_uint(3);
        x.via.map.ptr[0].val = o_str("v");
        m = rebuild(c, map_with(c->rec, f->name, x));
        snprintf(pre2, sizeof pre2, "%s: map key is integer, expected string", path);
        expect_fail(c->t, &m, pre2, NULL, what);
        break;
    case ST_ENUM:
        m = rebuild(c, map_with(c->rec, f->name, o_str("no-such-value")));
        expect_fail(c->t, &m, prefix, "unknown", what);
        break;
    case ST_UINT:
        m = rebuild(c, map_with(c->rec, f->name, o_neg(-1)));
        expect_fail(c->t, &m, prefix, "out of range", what);
        if (v->bits == 32) {
            m = rebuild(c, map_with(c->rec, f->name, o_uint((uint64_t) UINT32_MAX + 1)));
            expect_fail(c->t, &m, prefix, "out of range", what);
        }
        m = rebuild(c, map_with(c->rec, f->name, o_uint(v->bits == 32 ? UINT32_MAX : UINT64_MAX)));
        expect_ok_roundtrip(c->t, &m, what);
        break;
    case ST_INT:
        if (v->bits == 32) {
            m = rebuild(c, map_with(c->rec, f->name, o_uint((uint64_t) INT32_MAX + 1)));
            expect_fail(c->t, &m, prefix, "out of range", what);
            m = rebuild(c, map_with(c->rec, f->name, o_neg((int64_t) INT32_MIN - 1)));
            expect_fail(c->t, &m, prefix, "out of range", what);
        } else {
            m = rebuild(c, map_with(c->rec, f->name, o_uint((uint64_t) INT64_MAX + 1)));
            expect_fail(c->t, &m, prefix, "out of range", what);
        }
        m = rebuild(c, map_with(c->rec, f->name, o_neg(v->bits == 32 ? INT32_MIN : INT64_MIN)));
        expect_ok_roundtrip(c->t, &m, what);
        break;
    default:
        break;
    }
}

static void test_fields(const st_type_t *t, size_t vi)
{
    const st_variant_t *var = &t->variants[vi];
    void *obj = st_nonnull(calloc(1, t->size));
    msgpack_sbuffer sb;
    msgpack_unpacked up;
    xsp_error_t err;
    xsp_path_t r = xsp_path_root("x");
    ctx_t c;
    msgpack_object m;
    char prefix[300], what[160];

    t->init(obj);
    t->sample(obj, t->full_sample[vi]);
    st_ok(encode(t, obj, &sb, &err));
    st_ok(xsp_idl_unpack(&up, sb.data, sb.size, &r, &err));
    c.t = t;
    c.root = up.data;
    c.rec = t->role == ST_ROLE_REQUEST ? map_get(&up.data, "args") : &up.data;

    for (size_t i = 0; i < var->nfields; i++) {
        const st_field_t *f = &var->fields[i];
        snprintf(prefix, sizeof prefix, "%s: %s: ", t->root, f->name);
        snprintf(what, sizeof what, "field %s", f->name);

        m = rebuild(&c, map_without(c.rec, f->name));
        if (f->required) {
            char p2[400];
            snprintf(p2, sizeof p2, "%srequired field is missing", prefix);
            expect_fail(t, &m, p2, NULL, what);
        } else {
            void *o = expect_ok(t, &m, what);
            t->dispose(o);
            free(o);
        }
        m = rebuild(&c, map_with(c.rec, f->name, o_nil()));
        if (f->required) {
            char p2[400];
            snprintf(p2, sizeof p2, "%sexpected %s, got nil", prefix, type_word(f->v.kind));
            expect_fail(t, &m, p2, NULL, what);
        } else {
            void *o = expect_ok(t, &m, what);
            t->dispose(o);
            free(o);
        }
        {
            msgpack_object w = wrong_type_for(&f->v);
            char p2[400];
            snprintf(p2, sizeof p2, "%sexpected %s, got %s", prefix, type_word(f->v.kind),
                     w.type == MSGPACK_OBJECT_STR ? "string" : "integer");
            m = rebuild(&c, map_with(c.rec, f->name, w));
            expect_fail(t, &m, p2, NULL, what);
        }
        {
            const msgpack_object *cur = map_get(c.rec, f->name);
            char p2[400];
            if (cur) {
                snprintf(p2, sizeof p2, "%sduplicate field", prefix);
                m = rebuild(&c, map_plus(c.rec, o_str(f->name), *cur));
                expect_fail(t, &m, p2, NULL, what);
            }
        }
        snprintf(prefix, sizeof prefix, "%s: %s", t->root, f->name);
        test_value_limits(&c, f, prefix);
    }

    /* unknown keys are skipped */
    {
        msgpack_object junk = o_map(1), arr;
        void *o;
        junk.via.map.ptr[0].key = o_str("a");
        junk.via.map.ptr[0].val = o_nil();
        arr = o_array(2, &junk);
        m = rebuild(&c, map_plus(c.rec, o_str("zz_unknown_field"), arr));
        o = expect_ok(t, &m, "unknown key");
        CHECK(t->equal(o, obj), "unknown key", "value changed by an unknown key");
        t->dispose(o);
        free(o);
    }
    /* a record that is not a map; a key that is not a string */
    {
        msgpack_object arr = o_array(0, NULL);
        snprintf(prefix, sizeof prefix, "%s: expected map, got array", t->root);
        m = rebuild(&c, arr);
        expect_fail(t, &m, prefix, NULL, "record not a map");
        snprintf(prefix, sizeof prefix, "%s: map key is integer, expected string", t->root);
        m = rebuild(&c, map_plus(c.rec, o_uint(7), o_nil()));
        expect_fail(t, &m, prefix, NULL, "integer key");
    }
    if (var->kind) {    /* a union: the "kind" entry */
        snprintf(prefix, sizeof prefix, "%s: kind: required field is missing", t->root);
        m = map_without(c.rec, "kind");
        expect_fail(t, &m, prefix, NULL, "kind missing");
        snprintf(prefix, sizeof prefix, "%s: kind: expected string, got integer", t->root);
        m = map_with(c.rec, "kind", o_uint(1));
        expect_fail(t, &m, prefix, NULL, "kind type");
        snprintf(prefix, sizeof prefix, "%s: kind: unknown ", t->root);
        m = map_with(c.rec, "kind", o_str("bogus"));
        expect_fail(t, &m, prefix, "\"bogus\"", "kind unknown");
        snprintf(prefix, sizeof prefix, "%s: kind: duplicate field", t->root);
        m = map_plus(c.rec, o_str("kind"), o_str(var->kind));
        expect_fail(t, &m, prefix, NULL, "kind duplicate");
    }
    if (t->role == ST_ROLE_REQUEST) {   /* the envelope */
        char p2[300];
        m = map_without(&c.root, "method");
        expect_fail(t, &m, "request: method: required field is missing", NULL, "envelope");
        m = map_with(&c.root, "method", o_uint(3));
        expect_fail(t, &m, "request: method: expected string, got integer", NULL, "envelope");
        m = map_with(&c.root, "method", o_str("Other.method"));
        snprintf(p2, sizeof p2, "request: method: is \"Other.method\", expected \"%s\"", t->method);
        expect_fail(t, &m, p2, NULL, "envelope");
        m = map_without(&c.root, "args");
        expect_fail(t, &m, "request: args: required field is missing", NULL, "envelope");
        m = map_plus(&c.root, o_str("method"), o_str(t->method));
        expect_fail(t, &m, "request: method: duplicate field", NULL, "envelope");
        m = o_array(1, &c.root);
        expect_fail(t, &m, "request: expected map, got array", NULL, "envelope");
        {
            void *o;
            m = map_plus(&c.root, o_str("deadline"), o_uint(5));
            o = expect_ok(t, &m, "envelope extra key");
            t->dispose(o);
            free(o);
        }
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    t->dispose(obj);
    free(obj);
}

/* ------------------------------------------------------------------ results */

static void test_result_top(const st_type_t *t)
{
    char prefix[300];
    msgpack_object m;
    const st_value_t *v = &t->top;

    snprintf(prefix, sizeof prefix, "%s: expected %s, got ", t->root, type_word(v->kind));
    m = v->kind == ST_LIST ? o_strmap(1) : (v->kind == ST_STRING || v->kind == ST_NIL) ? o_uint(1) : o_array(0, NULL);
    expect_fail(t, &m, prefix, NULL, "result type");
    if (v->kind == ST_NIL) {
        void *o;
        m = o_nil();
        o = expect_ok(t, &m, "nil result");
        free(o);
    }
    if (v->kind == ST_STRING) {
        m = o_strn(v->max, 'r');
        expect_ok_roundtrip(t, &m, "result max string");
        m = o_strn(v->max + 1, 'r');
        snprintf(prefix, sizeof prefix, "%s: string of", t->root);
        expect_fail(t, &m, prefix, NULL, "result string limit");
    }
    if (v->kind == ST_LIST) {
        void *obj = st_nonnull(calloc(1, t->size));
        msgpack_sbuffer sb;
        msgpack_unpacked up;
        xsp_error_t err;
        xsp_path_t r = xsp_path_root("x");

        t->sample(obj, 1);
        st_ok(encode(t, obj, &sb, &err));
        st_ok(xsp_idl_unpack(&up, sb.data, sb.size, &r, &err));
        if (up.data.via.array.size) {
            m = o_array(v->max, &up.data.via.array.ptr[0]);
            expect_ok_roundtrip(t, &m, "result list at its limit");
            m = o_array(v->max + 1, &up.data.via.array.ptr[0]);
            snprintf(prefix, sizeof prefix, "%s: list of", t->root);
            expect_fail(t, &m, prefix, NULL, "result list limit");
            m = o_array(2, &up.data.via.array.ptr[0]);
            m.via.array.ptr[1] = o_uint(9);
            snprintf(prefix, sizeof prefix, "%s: [1]: expected %s, got integer", t->root, type_word(v->elem));
            expect_fail(t, &m, prefix, NULL, "result list element");
        }
        msgpack_unpacked_destroy(&up);
        msgpack_sbuffer_destroy(&sb);
        t->dispose(obj);
        free(obj);
    }
}

/* ------------------------------------------------------------------ method tables */

static void test_methods(const st_module_t *mod)
{
    T = NULL;
    for (size_t i = 0; i < mod->nmethods; i++) {
        const xsp_method_info_t *mi = &mod->methods[i];
        msgpack_sbuffer sb;
        msgpack_unpacked up;
        xsp_error_t err;
        xsp_path_t r = xsp_path_root("x");
        const xsp_method_info_t *found = NULL;
        void *args = st_nonnull(calloc(1, mi->args_size));
        char name[128];

        CHECK(mi->id == i, mi->name, "id %u at index %zu", mi->id, i);
        CHECK(xsp_method_find(mod->methods, mod->nmethods, mi->name, strlen(mi->name)) == mi, mi->name, "lookup");
        snprintf(name, sizeof name, "%s.%s", mi->interface, mi->method);
        CHECK(strcmp(name, mi->name) == 0, mi->name, "interface.method is %s", name);
        mi->args_init(args);
        st_ok(encode(&(st_type_t) { .encode = mi->args_encode }, args, &sb, &err));
        st_ok(xsp_idl_unpack(&up, sb.data, sb.size, &r, &err));
        CHECK(xsp_request_method(&up.data, mod->methods, mod->nmethods, &found, &err) == 0 && found == mi,
              mi->name, "request_method: %s", err.msg);
        CHECK(mi->args_decode(&up.data, args, &err) == 0, mi->name, "args_decode: %s", err.msg);
        mi->args_dispose(args);
        msgpack_unpacked_destroy(&up);
        msgpack_sbuffer_destroy(&sb);
        free(args);
        if (mi->has_result) {
            void *res = st_nonnull(calloc(1, mi->result_size));
            mi->result_init(res);
            st_ok(encode(&(st_type_t) { .encode = mi->result_encode }, res, &sb, &err));
            st_ok(xsp_idl_unpack(&up, sb.data, sb.size, &r, &err));
            CHECK(mi->result_decode(&up.data, res, &err) == 0, mi->name, "result_decode: %s", err.msg);
            mi->result_dispose(res);
            msgpack_unpacked_destroy(&up);
            msgpack_sbuffer_destroy(&sb);
            free(res);
        }
    }
    if (mod->nmethods) {
        /* an unknown method is "unimplemented", a malformed request "decode" */
        msgpack_object req;
        const xsp_method_info_t *found;
        xsp_error_t err;
        Z = msgpack_zone_new(4096);
        req = o_map(0);
        req = map_with(&req, "method", o_str("No.such"));
        req = map_with(&req, "args", o_map(0));
        CHECK(xsp_request_method(&req, mod->methods, mod->nmethods, &found, &err) == XSP_E_UNIMPLEMENTED
              && strcmp(err.msg, "request: method: unknown method \"No.such\"") == 0 && found == NULL,
              "methods", "unknown method: %s", err.msg);
        req = map_with(&req, "method", o_uint(1));
        CHECK(xsp_request_method(&req, mod->methods, mod->nmethods, &found, &err) == XSP_E_DECODE, "methods",
              "malformed request: %s", err.msg);
        msgpack_zone_free(Z);
        Z = NULL;
    }
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    size_t ntypes = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--corpus") == 0 && i + 1 < argc) {
            corpus_dir = argv[++i];
            mkdir(corpus_dir, 0755);
        } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            json_out = fopen(argv[++i], "w");
            if (json_out == NULL) {
                perror(argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "-v") == 0) {
            verbose++;
        } else {
            fprintf(stderr, "usage: %s [-v] [--corpus DIR] [--json FILE]\n", argv[0]);
            return 2;
        }
    }
    for (const st_module_t *const *mp = st_modules; *mp; mp++) {
        const st_module_t *mod = *mp;
        for (size_t i = 0; i < mod->ntypes; i++) {
            const st_type_t *t = &mod->types[i];
            int before = failures;
            T = t;
            Z = msgpack_zone_new(1 << 16);
            for (int w = 0; w < t->nsamples; w++)
                test_sample(t, w);
            if (t->role != ST_ROLE_RESULT)
                for (size_t v = 0; v < t->nvariants; v++)
                    test_fields(t, v);
            else
                test_result_top(t);
            msgpack_zone_free(Z);
            Z = NULL;
            ntypes++;
            if (verbose)
                fprintf(stderr, "%-40s %s\n", t->name, failures == before ? "ok" : "FAILED");
        }
        test_methods(mod);
    }
    if (json_out)
        fclose(json_out);
    printf("idl selftest: %zu types/requests/results, %d checks, %d failures\n", ntypes, checks, failures);
    return failures ? 1 : 0;
}

/*  test_wire.c — the header codec (sdk/wire.c) on its own: the in-place fast paths of
    xsp_hdr_encode / xsp_hdr_decode against the general msgpack writer and reader they
    short-cut.

    - REQUEST, DELIVER, REPLY, RESULT and ERROR headers with integers at every width
      boundary and strings at every header-form boundary (fixstr, str8, str16) encode to
      exactly the bytes a reference built with xsp_mpw_* gives, and decode back to the
      same fields;
    - every command, random fields: decode(encode(h)) re-encodes to the same bytes;
    - a buffer one byte short gives 0, the exact size gives the header; every strict
      prefix of a header is refused (read from an exact heap copy: a read past it is
      caught under ASan);
    - forms our encoder never writes (uint64 for a small number, str16 for a short string,
      bin8) are still accepted with the same values. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsp/wire.h"
#include "xsp_test.h"

static const uint64_t U_EDGES[] = {
    0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295u, 4294967296u, UINT64_MAX,
};
#define N_UEDGES (sizeof U_EDGES / sizeof U_EDGES[0])
static const uint32_t S_EDGES[] = { 0, 1, 31, 32, 255, 256, 1000 };
#define N_SEDGES (sizeof S_EDGES / sizeof S_EDGES[0])

static char text[4096];

static uint64_t rnd64(void)
{
    return ((uint64_t) rand() << 42) ^ ((uint64_t) rand() << 21) ^ (uint64_t) rand();
}

/*  A reference header: the array of `n` elements written with the general writer. */
typedef struct {
    char kind;                  /* 'u' or 's' */
    uint64_t u;
    xsp_str_t s;
} ref_field_t;

static size_t ref_encode(unsigned cmd, const ref_field_t *f, int n, uint8_t *buf, size_t cap)
{
    xsp_mpw_t w;
    xsp_mpw_init(&w, buf, cap);
    xsp_mpw_array(&w, (uint32_t) n + 1);
    xsp_mpw_uint(&w, cmd);
    for (int i = 0; i < n; i++) {
        if (f[i].kind == 'u')
            xsp_mpw_uint(&w, f[i].u);
        else
            xsp_mpw_str(&w, f[i].s.ptr, f[i].s.len);
    }
    return w.overflow ? 0 : w.len;
}

static bool str_eq(xsp_str_t a, xsp_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/*  Encode h, compare with the reference, check the capacity edge, every prefix refused,
    decode back into *out. */
static void check_one(const xsp_hdr_t *h, const ref_field_t *f, int n, xsp_hdr_t *out)
{
    static uint8_t got[8192], want[8192];
    size_t lw = ref_encode(h->cmd, f, n, want, sizeof want);
    CHECK(lw > 0);
    size_t lg = xsp_hdr_encode(h, got, sizeof got);
    CHECK_MSG(lg == lw && memcmp(got, want, lw) == 0, "%s: %zu bytes, reference %zu",
              xsp_cmd_name(h->cmd), lg, lw);
    CHECK_EQ(xsp_hdr_encode(h, got, lw - 1), 0);
    CHECK_EQ(xsp_hdr_encode(h, got, lw), lw);
    char why[200];
    for (size_t cut = 0; cut < lw; cut++) {
        /* an exact heap copy: a read past the prefix is an error under ASan */
        uint8_t *pre = malloc(cut ? cut : 1);
        CHECK(pre != NULL);
        memcpy(pre, got, cut);
        CHECK_MSG(xsp_hdr_decode(pre, cut, out, why, sizeof why) == -1,
                  "%s: a %zu-byte prefix of %zu was accepted", xsp_cmd_name(h->cmd), cut, lw);
        free(pre);
    }
    CHECK_MSG(xsp_hdr_decode(got, lw, out, why, sizeof why) == 0, "%s: %s",
              xsp_cmd_name(h->cmd), why);
    CHECK_EQ(out->cmd, h->cmd);
}

static xsp_str_t str_of(uint32_t len, int salt)
{
    return (xsp_str_t) { text + (salt % 64), len };
}

static void hot_commands(void)
{
    xsp_hdr_t h, d;
    long checked = 0;
    for (size_t a = 0; a < N_UEDGES; a++)
        for (size_t b = 0; b < N_SEDGES; b++)
            for (size_t c = 0; c < N_SEDGES; c++) {
                uint64_t u = U_EDGES[a], v = U_EDGES[(a + 3) % N_UEDGES];
                xsp_str_t q = str_of(S_EDGES[b] > 255 ? 255 : S_EDGES[b], (int) b);
                xsp_str_t g = str_of(S_EDGES[c], (int) c + 7);

                memset(&h, 0, sizeof h);
                h.cmd = XSP_CMD_REQUEST;
                h.corr = u, h.queue = q, h.timeout_ms = v, h.flags = a & 3, h.dbg = g;
                ref_field_t rq[] = { { 'u', u, { 0 } }, { 's', 0, q }, { 'u', v, { 0 } },
                                     { 'u', a & 3, { 0 } }, { 's', 0, g } };
                check_one(&h, rq, 5, &d);
                CHECK(d.corr == u && str_eq(d.queue, q) && d.timeout_ms == v && d.flags == (a & 3)
                      && str_eq(d.dbg, g));

                memset(&h, 0, sizeof h);
                h.cmd = XSP_CMD_DELIVER;
                h.msg_id = v, h.queue = q, h.timeout_ms = u, h.flags = 1, h.dbg = g;
                h.peer_id = u ^ 5, h.domid = v >> 3;
                ref_field_t dl[] = { { 'u', v, { 0 } }, { 's', 0, q }, { 'u', u, { 0 } },
                                     { 'u', 1, { 0 } }, { 's', 0, g }, { 'u', u ^ 5, { 0 } },
                                     { 'u', v >> 3, { 0 } } };
                check_one(&h, dl, 7, &d);
                CHECK(d.msg_id == v && str_eq(d.queue, q) && d.timeout_ms == u && str_eq(d.dbg, g)
                      && d.peer_id == (u ^ 5) && d.domid == v >> 3);

                memset(&h, 0, sizeof h);
                h.cmd = XSP_CMD_REPLY;
                h.msg_id = u, h.status = c & 1;
                ref_field_t rp[] = { { 'u', u, { 0 } }, { 'u', c & 1, { 0 } } };
                check_one(&h, rp, 2, &d);
                CHECK(d.msg_id == u && d.status == (c & 1));

                memset(&h, 0, sizeof h);
                h.cmd = XSP_CMD_RESULT;
                h.corr = u, h.status = 1, h.msg_id = v, h.service_us = u >> 1;
                ref_field_t rs[] = { { 'u', u, { 0 } }, { 'u', 1, { 0 } }, { 'u', v, { 0 } },
                                     { 'u', u >> 1, { 0 } } };
                check_one(&h, rs, 4, &d);
                CHECK(d.corr == u && d.status == 1 && d.msg_id == v && d.service_us == u >> 1);

                memset(&h, 0, sizeof h);
                h.cmd = XSP_CMD_ERROR;
                h.ref_cmd = 3, h.corr = v, h.code = str_of(S_EDGES[b] > 64 ? 64 : S_EDGES[b], 1);
                h.message = g;
                ref_field_t er[] = { { 'u', 3, { 0 } }, { 'u', v, { 0 } }, { 's', 0, h.code },
                                     { 's', 0, g } };
                check_one(&h, er, 4, &d);
                CHECK(d.ref_cmd == 3 && d.corr == v && str_eq(d.code, h.code)
                      && str_eq(d.message, g));
                checked += 5;
            }
    printf("ok: %ld hot headers equal the reference encoding, round trip, edges\n", checked);
}

/*  Every command: random fields; decode(encode(h)) encodes to the same bytes. */
static void every_command(void)
{
    static uint8_t a[8192], b[8192];
    xsp_hdr_t h, d;
    char why[200];
    for (int round = 0; round < 3000; round++) {
        memset(&h, 0, sizeof h);
        h.cmd = (xsp_cmd_t) (1 + round % XSP_CMD__MAX);
        uint64_t *u[] = { &h.version, &h.pid, &h.domid, &h.peer_id, &h.heartbeat_ms,
                          &h.max_payload, &h.max_depth, &h.max_outstanding, &h.max_credit,
                          &h.boot_id, &h.corr, &h.msg_id, &h.timeout_ms, &h.flags, &h.status,
                          &h.credit, &h.ref_cmd, &h.seq, &h.follow, &h.ts_ns, &h.size,
                          &h.service_us, &h.lost };
        for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
            *u[i] = rand() % 2 ? U_EDGES[rand() % N_UEDGES] : rnd64() >> (rand() % 64);
        xsp_str_t *s[] = { &h.name, &h.role, &h.sw_version, &h.queue, &h.dbg, &h.code,
                           &h.message, &h.to };
        for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {     /* within every limit */
            uint32_t len = rand() % 2 ? S_EDGES[rand() % 4] : (uint32_t) rand() % 33;
            *s[i] = str_of(len, rand());
        }
        size_t la = xsp_hdr_encode(&h, a, sizeof a);
        CHECK(la > 0);
        CHECK_MSG(xsp_hdr_decode(a, la, &d, why, sizeof why) == 0, "%s: %s",
                  xsp_cmd_name(h.cmd), why);
        size_t lb = xsp_hdr_encode(&d, b, sizeof b);
        CHECK_MSG(lb == la && memcmp(a, b, la) == 0, "%s does not re-encode the same",
                  xsp_cmd_name(h.cmd));
        CHECK_EQ(xsp_hdr_encode(&h, b, la - 1), 0);
    }
    printf("ok: 3000 random headers of every command re-encode the same\n");
}

/*  Forms only other encoders write: still read, with the same values. */
static void other_forms(void)
{
    xsp_hdr_t d;
    char why[200];
    /* REPLY [5, msg_id as uint64 = 7, status as uint8 = 1] */
    const uint8_t reply[] = { 0x93, 0x05, 0xcf, 0, 0, 0, 0, 0, 0, 0, 7, 0xcc, 1 };
    CHECK(xsp_hdr_decode(reply, sizeof reply, &d, why, sizeof why) == 0);
    CHECK(d.cmd == XSP_CMD_REPLY && d.msg_id == 7 && d.status == 1);
    /* SUBSCRIBE [8, queue as str16 "q1", credit as uint16 = 300] in an array16 */
    const uint8_t sub[] = { 0xdc, 0, 3, 0x08, 0xda, 0, 2, 'q', '1', 0xcd, 0x01, 0x2c };
    CHECK(xsp_hdr_decode(sub, sizeof sub, &d, why, sizeof why) == 0);
    CHECK(d.cmd == XSP_CMD_SUBSCRIBE && str_eq(d.queue, XSP_STR("q1")) && d.credit == 300);
    /* UNSUBSCRIBE [9, queue as bin8 "ab"] */
    const uint8_t unsub[] = { 0x92, 0x09, 0xc4, 2, 'a', 'b' };
    CHECK(xsp_hdr_decode(unsub, sizeof unsub, &d, why, sizeof why) == 0);
    CHECK(d.cmd == XSP_CMD_UNSUBSCRIBE && str_eq(d.queue, XSP_STR("ab")));
    /* refused, with a reason: an empty array, a negative command, a str8 past the end */
    const uint8_t empty[] = { 0x90 }, neg[] = { 0x91, 0xff }, past[] = { 0x92, 0x09, 0xd9, 9, 'a' };
    CHECK(xsp_hdr_decode(empty, sizeof empty, &d, why, sizeof why) == -1 && why[0]);
    CHECK(xsp_hdr_decode(neg, sizeof neg, &d, why, sizeof why) == -1 && why[0]);
    CHECK(xsp_hdr_decode(past, sizeof past, &d, why, sizeof why) == -1 && why[0]);
    printf("ok: other encoders' forms read, bad ones refused\n");
}

int main(void)
{
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char) ('a' + i % 26);
    srand(20261127);
    hot_commands();
    every_command();
    other_forms();
    return 0;
}

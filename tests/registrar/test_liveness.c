/*  tests/registrar/test_liveness.c — DIAG parsing (as the switch encodes it, and malformed
    replies) and the liveness reconciliation: confirmation, the grace period for new and
    recovered registrations, removal of dead plugins with their events, the live queue that
    resolve answers, a clock that goes backwards.

    Owns: nothing but its own memory.  Exit 1 on any failure.
*/
#include "regtest.h"

#include <msgpack.h>

#include "liveness.h"
#include "table.h"

/* A DIAG reply shaped like the switch's (docs/protocol.md §9), with extra keys the
   registrar must ignore.  queues: "name=consumers,..." */
static void diag_bytes(msgpack_sbuffer *sb, const char *queues, bool with_hb)
{
    msgpack_packer pk;
    char buf[1024], *save = NULL;
    size_t n = 0;

    snprintf(buf, sizeof buf, "%s", queues);
    for (const char *p = buf; *p; p++)
        n += *p == ',';
    n += buf[0] != '\0';
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, with_hb ? 4 : 3);
    msgpack_pack_str_with_body(&pk, "version", 7);
    msgpack_pack_str_with_body(&pk, "0.1.0", 5);
    if (with_hb) {
        msgpack_pack_str_with_body(&pk, "heartbeat_ms", 12);
        msgpack_pack_uint64(&pk, 1000);
    }
    msgpack_pack_str_with_body(&pk, "queues", 6);
    msgpack_pack_array(&pk, n);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');

        *eq = '\0';
        msgpack_pack_map(&pk, 4);
        msgpack_pack_str_with_body(&pk, "name", 4);
        msgpack_pack_str_with_body(&pk, t, strlen(t));
        msgpack_pack_str_with_body(&pk, "depth", 5);
        msgpack_pack_uint64(&pk, 3);
        msgpack_pack_str_with_body(&pk, "consumers", 9);
        msgpack_pack_uint64(&pk, strtoull(eq + 1, NULL, 10));
        msgpack_pack_str_with_body(&pk, "inflight", 8);
        msgpack_pack_uint64(&pk, 0);
    }
    msgpack_pack_str_with_body(&pk, "peers", 5);
    msgpack_pack_array(&pk, 0);
}

static void parse(const char *queues, reg_diag_t *d)
{
    msgpack_sbuffer sb;
    reg_err_t err = { 0 };

    diag_bytes(&sb, queues, true);
    if (reg_diag_parse(sb.data, sb.size, d, &err) < 0)
        printf("diag parse failed: %s\n", err.msg);
    msgpack_sbuffer_destroy(&sb);
}

static void bad_diag(const void *buf, size_t len, const char *needle, const char *what)
{
    reg_diag_t d;
    reg_err_t err = { 0 };
    int rc = reg_diag_parse(buf, len, &d, &err);

    CHECK(rc < 0 && err.code == XSP_E_DECODE && strstr(err.msg, needle) && d.n == 0 && !d.q,
          "%s -> decode error mentioning \"%s\" (%s)", what, needle, err.msg);
}

static void test_diag(void)
{
    reg_diag_t d = { 0 };
    msgpack_sbuffer sb;
    msgpack_packer pk;
    reg_err_t err = { 0 };
    int rc;

    diag_bytes(&sb, "zq=0,aq=2,mq=1", true);
    rc = reg_diag_parse(sb.data, sb.size, &d, &err);
    CHECK(rc == 0 && d.n == 3, "a switch-shaped DIAG parses (%s)", rc ? err.msg : "ok");
    CHECK(rc == 0 && strcmp(d.q[0].name, "aq") == 0 && strcmp(d.q[2].name, "zq") == 0,
          "queues are sorted by name");
    CHECK(reg_diag_consumers(&d, "aq") == 2 && reg_diag_consumers(&d, "mq") == 1 &&
              reg_diag_consumers(&d, "zq") == 0 && reg_diag_consumers(&d, "nope") == 0,
          "consumer counts; an unknown queue has 0");
    CHECK(d.has_heartbeat && d.heartbeat_ms == 1000, "heartbeat_ms read");
    /* trailing byte */
    {
        char *more = malloc(sb.size + 1);

        memcpy(more, sb.data, sb.size);
        more[sb.size] = (char)0xc0;
        bad_diag(more, sb.size + 1, "after the map", "a DIAG with a trailing byte");
        bad_diag(sb.data, sb.size - 1, "not one well-formed", "a truncated DIAG");
        free(more);
    }
    msgpack_sbuffer_destroy(&sb);
    reg_diag_dispose(&d);

    diag_bytes(&sb, "", false);
    rc = reg_diag_parse(sb.data, sb.size, &d, &err);
    CHECK(rc == 0 && d.n == 0 && !d.has_heartbeat, "no queues, no heartbeat_ms: fine");
    msgpack_sbuffer_destroy(&sb);
    reg_diag_dispose(&d);

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 0);
    bad_diag(sb.data, sb.size, "expected a map", "an array instead of a map");
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "peers", 5);
    msgpack_pack_array(&pk, 0);
    bad_diag(sb.data, sb.size, "\"queues\" missing", "no queues key");
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "queues", 6);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_uint8(&pk, 1);
    bad_diag(sb.data, sb.size, "queues[0]: expected a map", "a queue that is not a map");
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "queues", 6);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "name", 4);
    msgpack_pack_str_with_body(&pk, "q", 1);
    msgpack_pack_str_with_body(&pk, "consumers", 9);
    msgpack_pack_int(&pk, -1);
    bad_diag(sb.data, sb.size, "queues[0].consumers", "negative consumers");
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "queues", 6);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "consumers", 9);
    msgpack_pack_uint8(&pk, 1);
    bad_diag(sb.data, sb.size, "queues[0].name", "a queue without a name");
    msgpack_sbuffer_destroy(&sb);
}

static size_t events_since(reg_table_t *t, uint64_t seq, reg_event_kind_t kind, const char *name)
{
    const reg_event_t *ev[64];
    uint64_t next, lost;
    size_t n = reg_table_events(t, seq, 64, ev, &next, &lost), hits = 0;

    for (size_t i = 0; i < n; i++)
        hits += ev[i]->kind == kind && ev[i]->reg.name && strcmp(ev[i]->reg.name, name) == 0;
    return hits;
}

static void test_reconcile(void)
{
    reg_table_t *t = reg_table_new(0, 9);
    reg_t req = { 0 };
    reg_err_t err;
    reg_add_opts_t o = { .now_wall_ms = 1, .now_mono_ms = 10000 };
    reg_diag_t d = { 0 };
    reg_reconcile_t rr = { 0 };
    reg_resolved_t res;
    const uint64_t grace = 3000;
    uint64_t seq;
    int rc;

    mkreg(&req, "a", REG_KIND_DATAPATH, "sa", "qa");
    reg_table_add(t, &req, 0, &o, NULL, &err);
    mkreg(&req, "b", REG_KIND_DATAPATH, "sb", "qb1,qb2");
    reg_table_add(t, &req, 0, &o, NULL, &err);
    mkreg(&req, "c", REG_KIND_DATAPATH, "sc", "qc");
    reg_table_add(t, &req, 0, &o, NULL, &err);
    o.now_mono_ms = 12000;
    mkreg(&req, "late", REG_KIND_DATAPATH, "sl", "ql");
    reg_table_add(t, &req, 0, &o, NULL, &err);
    CHECK(reg_table_count(t) == 4, "four registrations, all unconfirmed");

    /* t = 10100: a and b have consumers (b only on its second queue). */
    seq = reg_table_next_seq(t);
    parse("qa=1,qb2=2,other=5", &d);
    rc = reg_liveness_reconcile(t, &d, 10100, grace, &rr);
    CHECK(rc == 0 && rr.removed.n == 0 && rr.confirmed == 2 && rr.pending == 2,
          "first DIAG: a, b confirmed; c, late pending; nobody removed");
    CHECK(reg_table_find_name(t, "a")->confirmed && reg_table_find_name(t, "b")->confirmed &&
              !reg_table_find_name(t, "c")->confirmed,
          "confirmed flags set");
    CHECK(events_since(t, seq, REG_EV_CHANGED, "a") == 1 && events_since(t, seq, REG_EV_CHANGED, "b") == 1,
          "a confirmation is a `changed` event");
    rc = reg_table_resolve(t, "sb:x", 0, &res, &err);
    CHECK(rc == 0 && strcmp(res.queue, "qb2") == 0,
          "resolve sb answers b's live queue qb2, not its dead first queue");
    reg_reconcile_dispose(&rr);
    reg_diag_dispose(&d);

    /* t = 12999: c is 2999 ms old: still in its grace period. */
    parse("qa=1,qb2=2", &d);
    rc = reg_liveness_reconcile(t, &d, 12999, grace, &rr);
    CHECK(rc == 0 && rr.removed.n == 0 && rr.confirmed == 0 && rr.pending == 2,
          "within the grace period nothing is removed");
    reg_reconcile_dispose(&rr);
    reg_diag_dispose(&d);

    /* t = 13000: c's grace is over; b died (no consumers); late still young. */
    seq = reg_table_next_seq(t);
    parse("qa=1,qb1=0", &d);
    rc = reg_liveness_reconcile(t, &d, 13000, grace, &rr);
    CHECK(rc == 0 && rr.removed.n == 2 && reg_vec_find(&rr.removed, "b") >= 0 &&
              reg_vec_find(&rr.removed, "c") >= 0 && reg_table_count(t) == 2,
          "b (confirmed, now without consumers) and c (grace over) are removed");
    CHECK(events_since(t, seq, REG_EV_REMOVED, "b") == 1 && events_since(t, seq, REG_EV_REMOVED, "c") == 1,
          "each removal is a `removed` event");
    rc = reg_table_resolve(t, "sb:x", 0, &res, &err);
    CHECK_ERR(rc, err, XSP_E_NO_PLUGIN_FOR_URI, "scheme", "sb", "resolve of the dead plugin's scheme");
    reg_reconcile_dispose(&rr);
    reg_diag_dispose(&d);

    /* A clock that goes backwards never expires anything. */
    parse("qa=1", &d);
    rc = reg_liveness_reconcile(t, &d, 5, grace, &rr);
    CHECK(rc == 0 && rr.removed.n == 0 && reg_table_find_name(t, "late"),
          "now before pending_since: not expired");
    reg_reconcile_dispose(&rr);
    reg_diag_dispose(&d);

    /* late subscribes, then a loses its consumer. */
    parse("ql=1,qa=0", &d);
    rc = reg_liveness_reconcile(t, &d, 13500, grace, &rr);
    CHECK(rc == 0 && rr.removed.n == 1 && strcmp(rr.removed.v[0].name, "a") == 0 &&
              rr.confirmed == 1 && reg_table_find_name(t, "late")->confirmed,
          "late confirmed, a removed");
    reg_reconcile_dispose(&rr);
    reg_diag_dispose(&d);

    /* A recovered registration waits for its plugin from the time it was loaded. */
    {
        reg_t stored = { 0 };

        mkreg(&stored, "recovered", REG_KIND_VOLUME, "sr", "qr");
        stored.id = strdup("recovered.00000000000000aa");
        stored.registered_at = 5;
        o = (reg_add_opts_t){ .now_wall_ms = 99, .now_mono_ms = 50000, .restore = true };
        rc = reg_table_add(t, &stored, 0, &o, NULL, &err);
        CHECK(rc == 0, "a stored registration is restored (%s)", rc ? err.msg : "ok");
        parse("ql=1", &d);
        rc = reg_liveness_reconcile(t, &d, 52999, grace, &rr);
        CHECK(rc == 0 && rr.removed.n == 0, "recovered, 2999 ms without consumers: kept");
        reg_reconcile_dispose(&rr);
        rc = reg_liveness_reconcile(t, &d, 53000, grace, &rr);
        CHECK(rc == 0 && rr.removed.n == 1 && strcmp(rr.removed.v[0].id, "recovered.00000000000000aa") == 0,
              "recovered, 3000 ms without consumers: removed (id handed back for the store)");
        reg_reconcile_dispose(&rr);
        reg_diag_dispose(&d);
        reg_dispose(&stored);
    }
    reg_dispose(&req);
    reg_table_free(&t);
}

int main(void)
{
    test_diag();
    test_reconcile();
    return regtest_done();
}

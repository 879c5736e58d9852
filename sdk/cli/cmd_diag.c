/*  cmd_diag.c — `xsp queues` and `xsp diag`: the DIAG report, decoded with msgpack-c.

    Owns: fetching the report, reading it (unknown keys are ignored, missing ones show as
    0 or "-"), printing it as tables for people or as JSON for programs.
    Never touches: the protocol (libxsp), other commands.
*/
#define _GNU_SOURCE
#include <getopt.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ================================================================ msgpack helpers */

static const msgpack_object *mp_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
            memcmp(k->via.str.ptr, key, klen) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static uint64_t mp_u64(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = mp_get(map, key);
    if (!v)
        return 0;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return v->via.u64;
    if (v->type == MSGPACK_OBJECT_BOOLEAN)
        return v->via.boolean;
    return 0;
}

/*  A string field as printf "%.*s" arguments; "-" when absent. */
typedef struct {
    int len;
    const char *ptr;
} mstr_t;

static mstr_t mp_str(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = mp_get(map, key);
    if (v && v->type == MSGPACK_OBJECT_STR)
        return (mstr_t) { (int) v->via.str.size, v->via.str.ptr };
    if (v && v->type == MSGPACK_OBJECT_BIN)
        return (mstr_t) { (int) v->via.bin.size, v->via.bin.ptr };
    return (mstr_t) { 1, "-" };
}

static const msgpack_object_array *mp_array(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = mp_get(map, key);
    return v && v->type == MSGPACK_OBJECT_ARRAY ? &v->via.array : NULL;
}

static void mp_json(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        fputs("null", stdout);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        fputs(o->via.boolean ? "true" : "false", stdout);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        printf("%llu", (unsigned long long) o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        printf("%lld", (long long) o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        printf("%.17g", o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        cli_json_str(o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        cli_json_str(o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        putchar('[');
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                putchar(',');
            mp_json(&o->via.array.ptr[i]);
        }
        putchar(']');
        break;
    case MSGPACK_OBJECT_MAP:
        putchar('{');
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (i)
                putchar(',');
            if (k->type == MSGPACK_OBJECT_STR)
                cli_json_str(k->via.str.ptr, k->via.str.size);
            else {
                /* JSON keys are strings: render other keys as their JSON text, quoted */
                char tmp[64];
                snprintf(tmp, sizeof tmp, "%llu", (unsigned long long) k->via.u64);
                cli_json_str(tmp, strlen(tmp));
            }
            putchar(':');
            mp_json(&o->via.map.ptr[i].val);
        }
        putchar('}');
        break;
    default:
        fputs("null", stdout);  /* ext: not used by the switch */
        break;
    }
}

/* ================================================================ fetching */

typedef struct {
    void *data;
    msgpack_unpacked up;
    const msgpack_object *root;
} report_t;

static int fetch(const cli_ctx_t *ctx, report_t *r)
{
    memset(r, 0, sizeof *r);
    xsp_client_t *c = cli_connect(ctx, "cli");
    if (!c)
        return CLI_FAILED;
    xsp_error_t err;
    size_t len;
    int rc = xsp_client_diag(c, 5000, &r->data, &len, &err);
    xsp_client_destroy(&c);
    if (rc != XSP_OK)
        return cli_fail(&err);
    msgpack_unpacked_init(&r->up);
    size_t off = 0;
    if (msgpack_unpack_next(&r->up, r->data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        r->up.data.type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(&r->up);
        free(r->data);
        return cli_die(CLI_FAILED, "decode: the diagnostics report is not a msgpack map");
    }
    r->root = &r->up.data;
    return CLI_OK;
}

static void report_dispose(report_t *r)
{
    msgpack_unpacked_destroy(&r->up);
    free(r->data);
}

static int parse_json_flag(const cli_ctx_t *ctx0, cli_ctx_t *ctx, int argc, char **argv,
                           const char *cmd, bool *json)
{
    static const struct option opts[] = {
        { "json", 0, 0, 'j' }, { "switch", 1, 0, CLI_OPT_SWITCH }, { 0, 0, 0, 0 },
    };
    *ctx = *ctx0;
    *json = false;
    int o;
    while ((o = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
        if (o == 'j')
            *json = true;
        else if (o == CLI_OPT_SWITCH)
            ctx->endpoint = optarg;
        else
            return cli_usage(cmd);
    }
    if (optind != argc)
        return cli_usage(cmd);
    return CLI_OK;
}

/* ================================================================ printing */

static const char *const queue_cols[] = {
    "depth", "inflight", "consumers", "sent", "delivered", "replied", "expired", "requeued", "errors",
};
#define NQCOLS (sizeof queue_cols / sizeof queue_cols[0])

static void print_queue_table(const msgpack_object_array *qs, const char *indent)
{
    int w = 5;
    for (uint32_t i = 0; qs && i < qs->size; i++) {
        mstr_t n = mp_str(&qs->ptr[i], "name");
        if (n.len > w)
            w = n.len;
    }
    printf("%s%-*s", indent, w, "QUEUE");
    for (size_t k = 0; k < NQCOLS; k++) {
        char up[16];
        size_t j = 0;
        for (; queue_cols[k][j] && j < sizeof up - 1; j++)
            up[j] = (char) (queue_cols[k][j] - 32 * (queue_cols[k][j] >= 'a' && queue_cols[k][j] <= 'z'));
        up[j] = '\0';
        printf(" %10s", up);
    }
    putchar('\n');
    if (!qs || qs->size == 0) {
        printf("%s(no queues)\n", indent);
        return;
    }
    for (uint32_t i = 0; i < qs->size; i++) {
        const msgpack_object *q = &qs->ptr[i];
        mstr_t n = mp_str(q, "name");
        printf("%s%-*.*s", indent, w, n.len, n.ptr);
        for (size_t k = 0; k < NQCOLS; k++)
            printf(" %10llu", (unsigned long long) mp_u64(q, queue_cols[k]));
        putchar('\n');
    }
}

int cmd_queues(const cli_ctx_t *ctx0, int argc, char **argv)
{
    cli_ctx_t ctx;
    bool json;
    int rc = parse_json_flag(ctx0, &ctx, argc, argv, "queues", &json);
    if (rc != CLI_OK)
        return rc;
    report_t r;
    if ((rc = fetch(&ctx, &r)) != CLI_OK)
        return rc;
    const msgpack_object_array *qs = mp_array(r.root, "queues");
    if (json) {
        putchar('[');
        for (uint32_t i = 0; qs && i < qs->size; i++) {
            const msgpack_object *q = &qs->ptr[i];
            mstr_t n = mp_str(q, "name");
            printf("%s{\"name\":", i ? "," : "");
            cli_json_str(n.ptr, (size_t) n.len);
            for (size_t k = 0; k < NQCOLS; k++)
                printf(",\"%s\":%llu", queue_cols[k], (unsigned long long) mp_u64(q, queue_cols[k]));
            putchar('}');
        }
        puts("]");
    } else {
        print_queue_table(qs, "");
    }
    report_dispose(&r);
    return CLI_OK;
}

static void print_duration_ms(uint64_t ms)
{
    uint64_t s = ms / 1000;
    if (s >= 86400)
        printf("%llud %lluh %llum", (unsigned long long) (s / 86400),
               (unsigned long long) (s % 86400 / 3600), (unsigned long long) (s % 3600 / 60));
    else if (s >= 3600)
        printf("%lluh %llum %llus", (unsigned long long) (s / 3600),
               (unsigned long long) (s % 3600 / 60), (unsigned long long) (s % 60));
    else if (s >= 60)
        printf("%llum %llus", (unsigned long long) (s / 60), (unsigned long long) (s % 60));
    else
        printf("%llu.%03llus", (unsigned long long) s, (unsigned long long) (ms % 1000));
}

/*  Print every uint member of a map as key=value, wrapped. */
static void print_kv_map(const char *title, const msgpack_object *m)
{
    printf("%s:", title);
    if (!m || m->type != MSGPACK_OBJECT_MAP) {
        puts(" -");
        return;
    }
    int col = (int) strlen(title) + 1;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key, *v = &m->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            continue;
        char item[160];
        int n = snprintf(item, sizeof item, " %.*s=%llu", (int) k->via.str.size, k->via.str.ptr,
                         (unsigned long long) v->via.u64);
        if (col + n > 88) {
            printf("\n ");
            col = 1;
        }
        fputs(item, stdout);
        col += n;
    }
    putchar('\n');
}

static void print_peers(const msgpack_object_array *ps)
{
    printf("peers (%u):\n", ps ? ps->size : 0);
    if (!ps || ps->size == 0)
        return;
    printf("  %-24s %-10s %8s %5s %11s %8s %10s  %s\n", "PEER", "ROLE", "PID", "DOMID",
           "OUTSTANDING", "INFLIGHT", "LAST-SEEN", "SUBSCRIPTIONS (credit)");
    for (uint32_t i = 0; i < ps->size; i++) {
        const msgpack_object *p = &ps->ptr[i];
        mstr_t name = mp_str(p, "name"), role = mp_str(p, "role");
        char label[128];
        snprintf(label, sizeof label, "%.*s#%llu", name.len, name.ptr,
                 (unsigned long long) mp_u64(p, "id"));
        char seen[32];
        snprintf(seen, sizeof seen, "%llums ago", (unsigned long long) mp_u64(p, "last_seen_ms"));
        printf("  %-24s %-10.*s %8llu %5llu %11llu %8llu %10s ", label, role.len, role.ptr,
               (unsigned long long) mp_u64(p, "pid"), (unsigned long long) mp_u64(p, "domid"),
               (unsigned long long) mp_u64(p, "outstanding"), (unsigned long long) mp_u64(p, "inflight"),
               seen);
        const msgpack_object_array *subs = mp_array(p, "subscriptions");
        bool any = false;
        for (uint32_t j = 0; subs && j < subs->size; j++) {
            mstr_t q = mp_str(&subs->ptr[j], "queue");
            printf(" %.*s(%llu)", q.len, q.ptr, (unsigned long long) mp_u64(&subs->ptr[j], "credit"));
            any = true;
        }
        if (mp_u64(p, "tracing")) {
            printf(" [tracing]");
            any = true;
        }
        if (!any)
            printf(" -");
        putchar('\n');
    }
}

int cmd_diag(const cli_ctx_t *ctx0, int argc, char **argv)
{
    cli_ctx_t ctx;
    bool json;
    int rc = parse_json_flag(ctx0, &ctx, argc, argv, "diag", &json);
    if (rc != CLI_OK)
        return rc;
    report_t r;
    if ((rc = fetch(&ctx, &r)) != CLI_OK)
        return rc;
    if (json) {
        mp_json(r.root);
        putchar('\n');
        report_dispose(&r);
        return CLI_OK;
    }
    mstr_t ver = mp_str(r.root, "version");
    printf("switch %.*s at %s\n", ver.len, ver.ptr,
           ctx.endpoint ? ctx.endpoint : getenv(XSP_SWITCH_ENV) ? getenv(XSP_SWITCH_ENV) : "(default endpoint)");
    printf("uptime: ");
    print_duration_ms(mp_u64(r.root, "uptime_ms"));
    printf(", heartbeat %llu ms\n", (unsigned long long) mp_u64(r.root, "heartbeat_ms"));
    print_kv_map("limits", mp_get(r.root, "limits"));
    print_kv_map("counters", mp_get(r.root, "counters"));
    const msgpack_object *tr = mp_get(r.root, "trace");
    printf("trace: capacity %llu events, next seq %llu\n", (unsigned long long) mp_u64(tr, "capacity"),
           (unsigned long long) mp_u64(tr, "next_seq"));
    const msgpack_object_array *qs = mp_array(r.root, "queues");
    printf("queues (%u):\n", qs ? qs->size : 0);
    print_queue_table(qs, "  ");
    print_peers(mp_array(r.root, "peers"));
    report_dispose(&r);
    return CLI_OK;
}

/*  cmd_registrar.c — `xsp resolve`, `xsp plugins`, `xsp watch-plugins`: the registrar from
    the command line.

    Owns: the two commands' option parsing and output (resolve: the generated printer of
    resolve_result; plugins: a table of registrations, or the generated printers with
    --long / --json; watch-plugins: one line per Registrar.watch event).
    Never touches: the registrar's logic (xsp-registrar answers), the resolver's cache
    (sdk/resolve.c: `xsp resolve` goes through the same xsp_resolver_t the by-URI stubs and
    the storage commands use).
*/
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "xsp/idl_buf.h"
#include "xsp/registrar_client.h"
#include "xsp/resolve.h"

enum { OPT_JSON = 2000, OPT_KIND, OPT_SCHEME, OPT_DOMAIN, OPT_REGISTRAR, OPT_LONG, OPT_TIMEOUT };

static int write_buf(xsp_buf_t *b)
{
    int code = CLI_OK;
    if (b->len && xsp_buf_str(b)[b->len - 1] != '\n')
        xsp_buf_putc(b, '\n');
    if (xsp_buf_status(b) != XSP_OK || xsp_buf_write(b, stdout) != XSP_OK || fflush(stdout))
        code = cli_die(CLI_LOCAL, "writing standard output: %s", strerror(errno));
    xsp_buf_dispose(b);
    return code;
}

static int parse_kind(const char *cmd, const char *s, xsp_plugin_kind_t *out)
{
    if (xsp_plugin_kind_from_string(s, strlen(s), out))
        return CLI_OK;
    return cli_die(CLI_USAGE, "%s: --kind is volume or datapath, not '%s'", cmd, s);
}

/*  Exit code for a registrar error: 1 when the registrar answered with an error. */
static int registrar_fail(const xsp_error_t *err)
{
    fprintf(stderr, "xsp: %s: %s\n", xsp_code_name(err->code), err->msg);
    switch (err->code) {
    case XSP_E_NO_PLUGIN_FOR_URI:
    case XSP_E_PERMISSION_DENIED:
    case XSP_E_BACKEND_FAILURE:
        return CLI_ERROR_REPLY;
    case XSP_E_INVALID_ARGUMENT:
        return CLI_USAGE;
    case XSP_E_SYSTEM:
        return CLI_LOCAL;
    default:
        return CLI_FAILED;
    }
}

int cmd_resolve(const cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option lo[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "kind", required_argument, NULL, OPT_KIND },
        { "registrar", required_argument, NULL, OPT_REGISTRAR },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "switch", required_argument, NULL, CLI_OPT_SWITCH },
        { NULL, 0, NULL, 0 },
    };
    cli_ctx_t c = *ctx;
    bool json = false;
    int kind = XSP_RESOLVE_ANY_KIND;
    const char *registrar = NULL;
    long timeout = 0;
    for (int o; (o = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        xsp_plugin_kind_t k;
        switch (o) {
        case OPT_JSON: json = true; break;
        case OPT_KIND:
            if (parse_kind("resolve", optarg, &k) != CLI_OK)
                return CLI_USAGE;
            kind = (int) k;
            break;
        case OPT_REGISTRAR: registrar = optarg; break;
        case OPT_TIMEOUT:
            if ((timeout = cli_seconds_ms(optarg)) <= 0)
                return cli_die(CLI_USAGE, "resolve: --timeout wants seconds > 0, not '%s'", optarg);
            break;
        case CLI_OPT_SWITCH: c.endpoint = optarg; break;
        default: return cli_usage("resolve");
        }
    }
    if (optind + 1 != argc)
        return cli_usage("resolve");
    const char *uri = argv[optind];
    char scheme[80];
    xsp_error_t err;
    if (xsp_uri_scheme(uri, scheme, sizeof scheme, &err) != XSP_OK)
        return registrar_fail(&err);
    xsp_client_t *cl = cli_connect(&c, "cli");
    if (!cl)
        return CLI_FAILED;
    xsp_resolver_t *r = xsp_resolver_new(cl, registrar, &err);
    int code;
    if (!r) {
        code = registrar_fail(&err);
    } else {
        xsp_resolve_result_t res;
        xsp_resolve_result_init(&res);
        xsp_resolver_set_timeout(r, (uint32_t) timeout);
        if (xsp_resolver_resolve_kind(r, uri, kind, "xsp-cli", &res, &err) != XSP_OK) {
            code = registrar_fail(&err);
        } else {
            xsp_buf_t b = XSP_BUF_INIT;
            if (json)
                xsp_resolve_result_to_json(&b, &res, 0);
            else
                xsp_resolve_result_format(&b, &res, 0);
            code = write_buf(&b);
        }
        xsp_resolve_result_dispose(&res);
    }
    xsp_resolver_destroy(&r);
    xsp_client_destroy(&cl);
    return code;
}

static void print_table(const xsp_registration_list_t *l)
{
    printf("%-24s %-6s %-16s %-20s %-32s %-14s %s\n", "NAME", "DOMID", "KINDS", "SCHEMES", "QUEUE",
           "BACKEND", "STATE");
    for (size_t i = 0; i < l->len; i++) {
        const xsp_registration_t *g = &l->val[i];
        char kinds[64] = "", schemes[512] = "", backend[32];
        for (size_t k = 0; k < g->kinds.len; k++)
            snprintf(kinds + strlen(kinds), sizeof kinds - strlen(kinds), "%s%s", k ? "," : "",
                     (unsigned) g->kinds.val[k] < XSP_PLUGIN_KIND__COUNT ? xsp_plugin_kind_names_[g->kinds.val[k]] : "?");
        for (size_t k = 0; k < g->schemes.len; k++)
            snprintf(schemes + strlen(schemes), sizeof schemes - strlen(schemes), "%s%s", k ? "," : "",
                     g->schemes.val[k]);
        if (g->backend_policy.kind == XSP_BACKEND_POLICY_KIND_FIXED)
            snprintf(backend, sizeof backend, "domain %u", g->backend_policy.domid);
        else
            snprintf(backend, sizeof backend, "%s", g->backend_policy.kind == XSP_BACKEND_POLICY_KIND_ON_DEMAND
                     ? "on-demand" : "own");
        printf("%-24s %-6u %-16s %-20s %-32s %-14s %s\n", g->name ? g->name : "", g->domid, kinds, schemes,
               g->queues.len ? g->queues.val[0] : "", backend, g->confirmed ? "alive" : "unconfirmed");
    }
}

int cmd_plugins(const cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option lo[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "long", no_argument, NULL, OPT_LONG },
        { "kind", required_argument, NULL, OPT_KIND },
        { "scheme", required_argument, NULL, OPT_SCHEME },
        { "domain", required_argument, NULL, OPT_DOMAIN },
        { "registrar", required_argument, NULL, OPT_REGISTRAR },
        { "switch", required_argument, NULL, CLI_OPT_SWITCH },
        { NULL, 0, NULL, 0 },
    };
    cli_ctx_t c = *ctx;
    bool json = false, lng = false, has_kind = false, has_dom = false;
    xsp_plugin_kind_t kind = XSP_PLUGIN_KIND_VOLUME;
    uint32_t domid = 0;
    const char *scheme = NULL, *registrar = XSP_REGISTRAR_QUEUE;
    for (int o; (o = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        switch (o) {
        case OPT_JSON: json = true; break;
        case OPT_LONG: lng = true; break;
        case OPT_KIND:
            if (parse_kind("plugins", optarg, &kind) != CLI_OK)
                return CLI_USAGE;
            has_kind = true;
            break;
        case OPT_SCHEME: scheme = optarg; break;
        case OPT_DOMAIN: {
            char *end;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (!*optarg || *optarg == '-' || *end || errno || v > UINT32_MAX)
                return cli_die(CLI_USAGE, "plugins: --domain wants a domid, not '%s'", optarg);
            domid = (uint32_t) v;
            has_dom = true;
            break;
        }
        case OPT_REGISTRAR: registrar = optarg; break;
        case CLI_OPT_SWITCH: c.endpoint = optarg; break;
        default: return cli_usage("plugins");
        }
    }
    if (optind != argc)
        return cli_usage("plugins");
    xsp_client_t *cl = cli_connect(&c, "cli");
    if (!cl)
        return CLI_FAILED;
    xsp_registration_list_t l;
    xsp_registration_list_init(&l);
    xsp_error_t err;
    xsp_call_opts_t co = { .timeout_ms = XSP_RESOLVE_TIMEOUT_MS };
    int code;
    int rc = xsp_registrar_list(cl, registrar, &co, "xsp-cli", scheme, has_kind ? &kind : NULL,
                                has_dom ? &domid : NULL, &l, &err);
    if (rc == XSP_E_EXPIRED || rc == XSP_E_TIMEOUT) {
        fprintf(stderr, "xsp: %s: the registrar (queue %s) did not answer within %u ms: is "
                "xsp-registrar running?\n", xsp_code_name(err.code), registrar, XSP_RESOLVE_TIMEOUT_MS);
        code = CLI_FAILED;
    } else if (rc != XSP_OK) {
        code = registrar_fail(&err);
    } else if (json || lng) {
        xsp_buf_t b = XSP_BUF_INIT;
        if (json)
            xsp_registrar_list_result_to_json(&b, &l, 0);
        else
            xsp_registrar_list_result_format(&b, &l, 0);
        code = write_buf(&b);
    } else {
        print_table(&l);
        code = fflush(stdout) ? cli_die(CLI_LOCAL, "writing standard output: %s", strerror(errno)) : CLI_OK;
    }
    xsp_registration_list_dispose(&l);
    xsp_client_destroy(&cl);
    return code;
}

static void print_event(const xsp_watch_event_t *ev, bool json)
{
    const xsp_registration_t *g = &ev->registration;
    if (json) {
        xsp_buf_t b = XSP_BUF_INIT;
        xsp_watch_event_to_json(&b, ev, -1);
        xsp_buf_putc(&b, '\n');
        xsp_buf_write(&b, stdout);
        xsp_buf_dispose(&b);
    } else {
        char schemes[512] = "";
        for (size_t k = 0; k < g->schemes.len; k++)
            snprintf(schemes + strlen(schemes), sizeof schemes - strlen(schemes), "%s%s", k ? "," : "",
                     g->schemes.val[k]);
        printf("%llu %-8s %s domain %u schemes %s queue %s id %s%s\n", (unsigned long long) ev->seq,
               (unsigned) ev->kind < XSP_WATCH_EVENT_KIND__COUNT ? xsp_watch_event_kind_names_[ev->kind] : "?",
               g->name ? g->name : "", g->domid, schemes, g->queues.len ? g->queues.val[0] : "",
               g->id ? g->id : "", g->confirmed ? "" : " (unconfirmed)");
    }
    fflush(stdout);
}

int cmd_watch_plugins(const cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option lo[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "count", required_argument, NULL, OPT_KIND },
        { "registrar", required_argument, NULL, OPT_REGISTRAR },
        { "switch", required_argument, NULL, CLI_OPT_SWITCH },
        { NULL, 0, NULL, 0 },
    };
    cli_ctx_t c = *ctx;
    bool json = false;
    unsigned long count = 0;
    const char *registrar = XSP_REGISTRAR_QUEUE;
    for (int o; (o = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        char *end;
        switch (o) {
        case OPT_JSON: json = true; break;
        case OPT_KIND:
            errno = 0;
            count = strtoul(optarg, &end, 10);
            if (!*optarg || *optarg == '-' || *end || errno || count == 0)
                return cli_die(CLI_USAGE, "watch-plugins: --count wants a number > 0, not '%s'", optarg);
            break;
        case OPT_REGISTRAR: registrar = optarg; break;
        case CLI_OPT_SWITCH: c.endpoint = optarg; break;
        default: return cli_usage("watch-plugins");
        }
    }
    if (optind != argc)
        return cli_usage("watch-plugins");
    xsp_client_t *cl = cli_connect(&c, "cli");
    if (!cl)
        return CLI_FAILED;
    uint64_t from = UINT64_MAX, boot = 0;
    bool started = false;
    unsigned long seen = 0;
    int code = CLI_OK;
    while (!count || seen < count) {
        xsp_watch_result_t res;
        xsp_error_t err;
        uint32_t wait = started ? 30000 : 0;
        xsp_call_opts_t co = { .timeout_ms = started ? wait + 5000 : XSP_RESOLVE_TIMEOUT_MS };
        xsp_watch_result_init(&res);
        int rc = xsp_registrar_watch(cl, registrar, &co, "xsp-cli-watch", from, wait, &res, &err);
        if (rc == XSP_E_EXPIRED || rc == XSP_E_TIMEOUT) {
            if (!started) {
                fprintf(stderr, "xsp: %s: the registrar (queue %s) did not answer within %u ms: is "
                        "xsp-registrar running?\n", xsp_code_name(rc), registrar, XSP_RESOLVE_TIMEOUT_MS);
                code = CLI_FAILED;
                break;
            }
            continue;                   /* the registrar went away: the next watch waits for it */
        }
        if (rc != XSP_OK) {
            code = registrar_fail(&err);
            break;
        }
        if (!started) {
            if (!json)
                printf("following registrations (Ctrl-C stops); now: xsp plugins\n");
        } else if (res.boot_id != boot) {
            if (!json)
                printf("the registrar restarted: events start again (xsp plugins for the table)\n");
        } else {
            if (res.lost && !json)
                printf("%llu event(s) lost: xsp plugins for the table\n", (unsigned long long) res.lost);
            for (size_t i = 0; i < res.events.len && (!count || seen < count); i++, seen++)
                print_event(&res.events.val[i], json);
        }
        fflush(stdout);
        started = true;
        boot = res.boot_id;
        from = res.next_seq;
        xsp_watch_result_dispose(&res);
    }
    xsp_client_destroy(&cl);
    return code;
}

/*  xsp.c — `xsp`, the command-line tool: main(), global options, the command table and
    helpers shared by the commands.

    Owns: argument dispatch, exit codes, the --help text.
    Never touches: the protocol (libxsp does), command logic (the cmd_*.c files).
*/
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const cli_cmd_t cli_builtin_cmds[] = {
    { "call", cmd_call, "send one request to a queue and print the answer",
      "usage: xsp call QUEUE [BODY] [--timeout SECONDS] [--dbg STRING] [--at-most-once]\n"
      "                [--persistent [--identity ID]]\n"
      "  Sends BODY (or, without it, all of standard input) to QUEUE and writes the\n"
      "  answer's body to standard output.  An error answer's body is written too.\n"
      "  --timeout SECONDS  deadline told to the switch (default 30; 0 = none)\n"
      "  --dbg STRING       debug text recorded in traces and passed to the server\n"
      "  --at-most-once     never deliver twice (fail rather than resend after a restart)\n"
      "  --persistent       the switch journals the request before accepting it (needs a\n"
      "                     switch with --state-dir): it survives a switch crash\n"
      "  --identity ID      this caller's identity, so the answer of a persistent request\n"
      "                     still reaches it after a switch restart\n" },
    { "keygen", cmd_keygen, "make a CURVE key pair: NAME.key (public) and NAME.key_secret",
      "usage: xsp keygen NAME DIR [--domid N] [--serve PREFIXES] [--call PREFIXES]\n"
      "  Writes DIR/NAME.key (the public certificate: put it in the switch's --certs\n"
      "  directory) and DIR/NAME.key_secret (mode 0600: the peer's own; for the switch,\n"
      "  its --curve-secret).  A peer uses its secret certificate through\n"
      "  XSP_CURVE_CERT=FILE and the switch's public one through XSP_CURVE_SERVER=FILE.\n"
      "  --domid N          the domain this identity is (the switch uses it, whatever the\n"
      "                     peer claims)\n"
      "  --serve PREFIXES   comma-separated queue prefixes it may serve (outside dom0)\n"
      "  --call PREFIXES    comma-separated queue prefixes it may call besides the\n"
      "                     registrar's (outside dom0)\n" },
    { "serve", cmd_serve, "serve a queue: echo requests or answer them with a shell command",
      "usage: xsp serve QUEUE (--echo | --exec 'CMD') [--concurrency N]\n"
      "  --echo             answer every request with its own body\n"
      "  --exec CMD         run /bin/sh -c CMD per request, body on its standard input;\n"
      "                     exit 0: answer with its standard output; else an error answer\n"
      "                     (status 1) carrying its standard error\n"
      "  --concurrency N    handle N requests at once (credit N; N commands at once)\n"
      "  Prints `xsp serve: ready: QUEUE` once connected; runs until SIGINT/SIGTERM.\n" },
    { "queues", cmd_queues, "list the switch's queues with their counters",
      "usage: xsp queues [--json]\n"
      "  One row per queue: depth (waiting), inflight, consumers, and the counters sent,\n"
      "  delivered, replied, expired, requeued, errors.\n" },
    { "diag", cmd_diag, "print the switch's whole diagnostics report",
      "usage: xsp diag [--json]\n"
      "  Version, uptime, limits, counters, queues and peers (name, role, pid, domid,\n"
      "  outstanding, last seen, subscriptions).  --json: the report as one JSON object.\n" },
    { "trace", cmd_trace, "print the switch's trace events",
      "usage: xsp trace [--follow] [--queue GLOB] [--json] [--mscgen] [--from SEQ]\n"
      "  Prints the events in the switch's ring, then with --follow new ones until\n"
      "  SIGINT.  One line per event: seq, time (s since the switch started), event,\n"
      "  queue, msg id, from -> to, size, dbg, service time.  Lost events are reported.\n"
      "  --queue GLOB  only events of matching queues (* and ?)\n"
      "  --json        one JSON object per line\n"
      "  --mscgen      a sequence chart in mscgen syntax (with --follow: the header now,\n"
      "                the chart when interrupted)\n"
      "  --from SEQ    start at sequence SEQ (default 0: the whole ring)\n" },
    { "resolve", cmd_resolve, "ask the registrar which live plugin serves a URI",
      "usage: xsp resolve URI [--kind volume|datapath] [--json] [--registrar QUEUE]\n"
      "                       [--timeout SECONDS]\n"
      "  Prints the plugin, its queue and domain, its backend policy, the registration id\n"
      "  and the scheme.  URI may be a bare scheme (\"file:\").  Exit 1 when no live plugin\n"
      "  serves the scheme (no-plugin-for-uri), 2 for a string without a scheme, 3 when\n"
      "  the registrar does not answer (default wait 5 s).\n" },
    { "plugins", cmd_plugins, "list the plugins registered with the registrar",
      "usage: xsp plugins [--scheme S] [--kind volume|datapath] [--domain N]\n"
      "                   [--long | --json] [--registrar QUEUE]\n"
      "  One line per registration: name, domain, kinds, schemes, main queue, backend\n"
      "  policy, and alive (a consumer on its queue was seen) or unconfirmed.  Filters\n"
      "  combine.  --long: every field; --json: the registrar's answer as JSON.\n" },
    { "watch-plugins", cmd_watch_plugins, "print registrations as they come and go",
      "usage: xsp watch-plugins [--count N] [--json] [--registrar QUEUE]\n"
      "  Follows Registrar.watch: one line per event (added, removed, changed) with the\n"
      "  plugin's name, domain, schemes, queue and id, until Ctrl-C (or N events).  Says so\n"
      "  when the registrar restarted or events were lost (then see xsp plugins).\n" },
    { NULL, NULL, NULL, NULL },
};

const cli_cmd_t *const cli_tables[] = { cli_builtin_cmds, cli_idl_cmds, cli_storage_cmds, NULL };

static const char *find_usage(const char *cmd)
{
    for (const cli_cmd_t *const *t = cli_tables; *t; t++)
        for (const cli_cmd_t *c = *t; c->name; c++)
            if (strcmp(c->name, cmd) == 0)
                return c->usage;
    return NULL;
}

int cli_usage(const char *cmd)
{
    const char *u = cmd ? find_usage(cmd) : NULL;
    fprintf(stderr, "%s", u ? u : "usage: xsp [--switch ENDPOINT] COMMAND [ARGS]\n");
    return CLI_USAGE;
}

static void help(FILE *f)
{
    fprintf(f,
            "usage: xsp [--switch ENDPOINT] [--log-level LEVEL] COMMAND [ARGS...]\n"
            "       xsp COMMAND --help\n"
            "\n"
            "Commands:\n");
    for (const cli_cmd_t *const *t = cli_tables; *t; t++)
        for (const cli_cmd_t *c = *t; c->name; c++)
            fprintf(f, "  %-8s %s\n", c->name, c->summary);
    fprintf(f,
            "\n"
            "Options (before COMMAND; --switch may also follow it):\n"
            "  --switch ENDPOINT  the switch to talk to; default $%s, else\n"
            "                     ipc://RUN_DIR/switch.sock (RUN_DIR /run/xsp for root, else\n"
            "                     $XDG_RUNTIME_DIR/xsp, else /tmp/xsp-UID)\n"
            "  --log-level LEVEL  err, warn (default), info, debug (library logs on stderr)\n"
            "\n"
            "Exit status:\n"
            "  0  success\n"
            "  1  the server answered with an error (status != 0)\n"
            "  2  bad command line\n"
            "  3  the switch or the transport failed (no switch, timeout, expired, queue-full,\n"
            "     too-large, disconnected, ...): `xsp: CODE: sentence` on stderr\n"
            "  4  a local failure (reading input, starting a command)\n",
            XSP_SWITCH_ENV);
}

void cli_help(FILE *f)
{
    help(f);
}

int cli_fail(const xsp_error_t *err)
{
    fprintf(stderr, "xsp: %s: %s\n", xsp_code_name(err->code), err->msg);
    return err->code == XSP_E_APPLICATION ? CLI_ERROR_REPLY
         : err->code == XSP_E_SYSTEM ? CLI_LOCAL : CLI_FAILED;
}

int cli_die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("xsp: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

xsp_client_t *cli_connect(const cli_ctx_t *ctx, const char *role)
{
    xsp_error_t err;
    xsp_client_opts_t o;
    memset(&o, 0, sizeof o);
    o.endpoint = ctx->endpoint;
    o.name = "xsp-cli";
    o.role = role;
    o.connect_timeout_ms = 3000;
    o.identity = ctx->identity;
    xsp_client_t *c = xsp_client_new_opts(&o, &err);
    if (!c)
        cli_fail(&err);
    return c;
}

long cli_seconds_ms(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < 0 || v > 4e6)
        return -1;
    return (long) (v * 1000.0 + 0.5);
}

void cli_json_str(const char *s, size_t len)
{
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char) s[i];
        switch (ch) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        default:
            if (ch < 0x20 || ch == 0x7f)
                printf("\\u%04x", ch);
            else
                putchar(ch);     /* UTF-8 passes through; invalid bytes too */
        }
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    cli_ctx_t ctx = { .endpoint = NULL, .prog = "xsp" };
    xsp_log_level_t level = XSP_LOG_WARN;
    signal(SIGPIPE, SIG_IGN);
    int i = 1;
    /* global options before the command */
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help(stdout);
            return CLI_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("xsp %s\n", XSP_VERSION);
            return CLI_OK;
        } else if (strcmp(a, "--switch") == 0 && i + 1 < argc) {
            ctx.endpoint = argv[++i];
        } else if (strncmp(a, "--switch=", 9) == 0) {
            ctx.endpoint = a + 9;
        } else if (strcmp(a, "--log-level") == 0 && i + 1 < argc) {
            int l = xsp_log_level_from_name(argv[++i]);
            if (l < 0)
                return cli_die(CLI_USAGE, "unknown log level '%s'", argv[i]);
            level = (xsp_log_level_t) l;
        } else {
            help(stderr);
            return CLI_USAGE;
        }
    }
    if (i >= argc) {
        help(stderr);
        return CLI_USAGE;
    }
    xsp_log_open("xsp", false, level);
    const char *name = argv[i];
    for (const cli_cmd_t *const *t = cli_tables; *t; t++) {
        for (const cli_cmd_t *c = *t; c->name; c++) {
            if (strcmp(c->name, name) != 0)
                continue;
            for (int j = i + 1; c->usage && j < argc; j++) {   /* no usage: own --help */
                if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
                    fputs(c->usage, stdout);
                    return CLI_OK;
                }
                if (strcmp(argv[j], "--") == 0)
                    break;
            }
            optind = 0;     /* full getopt reset for the command */
            return c->fn(&ctx, argc - i, argv + i);
        }
    }
    fprintf(stderr, "xsp: unknown command '%s'\n", name);
    help(stderr);
    return CLI_USAGE;
}

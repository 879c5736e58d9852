/*  cmd_storage.c — the typed API commands of the `xsp` CLI (`xsp plugin query`,
    `xsp volume create SR NAME DESC 10G false --queue q`, ...) and `xsp help`.

    Owns: the generic engine behind every IDL interface command: find the method in the
    tables generated from the IDL (cli_idl.h, sdk/gen/xspidl/emit_cli.py), parse argv
    against its argument table (positional in IDL order, or --NAME VALUE; typed conversion
    with usage errors naming the argument), fill the generated args struct, encode the
    request with the method table's args encoder, send it with xsp_client_call, decode the
    result with the method table's result decoder and print it (generated text printer, or
    --json); error replies become `xsp: CODE: message` plus details on stderr.  Also which
    queue a request goes to (storage_target_queue: --queue, else the registrar resolves the
    URI / SR argument or --scheme through xsp_resolver_t, with the same retry-once rule as
    the by-URI stubs) and the --help texts (per module, interface and method).
    Never touches: anything method-specific (it is all in the generated tables), the wire
    protocol (libxsp).

    Exit codes (cli.h, `xsp --help`): 0 ok; 1 the plugin answered with an error; 2 bad
    command line; 3 the switch or the transport failed (including a reply that does not
    decode); 4 a local failure.
*/
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "cli.h"
#include "cli_idl.h"
#include "xsp/api_common.h"
#include "xsp/idl_buf.h"
#include "xsp/idl_codec.h"
#include "xsp/idl_strings.h"
#include "xsp/resolve.h"

#define DEFAULT_DBG "xsp-cli"

static const char COMMON_HELP[] =
    "\n"
    "Options (anywhere after the method):\n"
    "  --queue QUEUE      the plugin's queue (default: ask the registrar which live plugin\n"
    "                     serves the URI or SR argument's scheme)\n"
    "  --scheme S         for methods without a URI or SR argument (plugin query, sr probe,\n"
    "                     sr attach): the plugin serving scheme S\n"
    "  --registrar QUEUE  the registrar's queue (default " XSP_REGISTRAR_QUEUE ")\n"
    "  --dbg STRING       debug context, passed to the plugin and recorded by the switch\n"
    "                     (default \"" DEFAULT_DBG " INTERFACE METHOD\")\n"
    "  --timeout SECONDS  deadline told to the switch (default 30; 0 = none)\n"
    "  --json             print the result as JSON instead of text\n"
    "  --switch ENDPOINT  the switch to talk to (default $XSP_SWITCH; see xsp --help)\n"
    "  --                 what follows is positional, even if it starts with -\n"
    "\n"
    "Values: strings as given; bool: true or false; integers in decimal, optionally with\n"
    "a K, M, G or T suffix meaning powers of 1024 (1K = 1024, 10G = 10737418240); maps:\n"
    "--NAME KEY=VALUE once per entry; lists: --NAME VALUE once per element.\n"
    "\n"
    "Exit status: 0 success; 1 the plugin answered with an error (`xsp: CODE: message`\n"
    "and its details on stderr); 2 bad command line; 3 the switch or the transport failed;\n"
    "4 a local failure.\n";

/* ================================================================ help */

static void print_method_list(FILE *f, const cli_iface_t *ifc)
{
    for (size_t i = 0; i < ifc->n_methods; i++)
        fprintf(f, "  %-16s %s\n", ifc->methods[i].name, ifc->methods[i].info->summary);
}

static void print_iface_help(FILE *f, const cli_iface_t *ifc)
{
    fprintf(f, "usage: xsp %s METHOD [ARGUMENTS] [OPTIONS]\n"
               "       xsp %s METHOD --help\n\n", ifc->name, ifc->name);
    fprintf(f, "%s\n  (interface %s of module %s)\n\nMethods:\n", ifc->doc, ifc->interface,
            ifc->module);
    print_method_list(f, ifc);
    fputs(COMMON_HELP, f);
}

static void print_method_help(FILE *f, const cli_method_t *m)
{
    fputs(m->usage, f);
    fputs(COMMON_HELP, f);
}

static const cli_iface_t *find_iface(const char *name)
{
    for (const cli_iface_t *i = cli_idl_ifaces; i->name; i++)
        if (strcmp(i->name, name) == 0)
            return i;
    return NULL;
}

/*  "set-name" and "set_name" are the same method. */
static bool same_name(const char *table_name, const char *given)
{
    for (; *table_name && *given; table_name++, given++) {
        char a = *table_name == '_' ? '-' : *table_name;
        char b = *given == '_' ? '-' : *given;
        if (a != b)
            return false;
    }
    return *table_name == '\0' && *given == '\0';
}

static const cli_method_t *find_method(const cli_iface_t *ifc, const char *name)
{
    for (size_t i = 0; i < ifc->n_methods; i++)
        if (same_name(ifc->methods[i].name, name))
            return &ifc->methods[i];
    return NULL;
}

static bool is_module(const char *name)
{
    for (const cli_iface_t *i = cli_idl_ifaces; i->name; i++)
        if (strcmp(i->module, name) == 0)
            return true;
    return false;
}

static void print_module_help(FILE *f, const char *module)
{
    fprintf(f, "The %s API: `xsp INTERFACE METHOD [ARGUMENTS] [OPTIONS]`, one command per\n"
               "interface; `xsp INTERFACE METHOD --help` describes a method's arguments.\n",
            module);
    for (const cli_iface_t *i = cli_idl_ifaces; i->name; i++) {
        if (strcmp(i->module, module) != 0)
            continue;
        fprintf(f, "\nxsp %s: %s\n", i->name, i->summary);
        print_method_list(f, i);
    }
    fputs(COMMON_HELP, f);
}

int cmd_help(const cli_ctx_t *ctx, int argc, char **argv)
{
    (void) ctx;
    if (argc < 2) {
        cli_help(stdout);
        return CLI_OK;
    }
    if (argc > 3)
        return cli_usage("help");
    const char *topic = argv[1];
    const cli_iface_t *ifc = find_iface(topic);
    if (ifc && argc == 3) {
        const cli_method_t *m = find_method(ifc, argv[2]);
        if (!m) {
            fprintf(stderr, "xsp: %s has no method '%s'; it has:\n", ifc->name, argv[2]);
            print_method_list(stderr, ifc);
            return CLI_USAGE;
        }
        print_method_help(stdout, m);
        return CLI_OK;
    }
    if (argc == 3)
        return cli_usage("help");
    if (ifc) {
        print_iface_help(stdout, ifc);
        return CLI_OK;
    }
    if (is_module(topic)) {
        print_module_help(stdout, topic);
        return CLI_OK;
    }
    for (const cli_cmd_t *const *t = cli_tables; *t; t++)
        for (const cli_cmd_t *c = *t; c->name; c++)
            if (strcmp(c->name, topic) == 0 && c->usage) {
                fputs(c->usage, stdout);
                return CLI_OK;
            }
    fprintf(stderr, "xsp: no help on '%s'\n", topic);
    return cli_usage("help");
}

const cli_cmd_t cli_storage_cmds[] = {
    { "help", cmd_help, "help on a command, an API or a method: xsp help storage",
      "usage: xsp help [COMMAND | INTERFACE [METHOD] | MODULE]\n"
      "  xsp help                  the list of commands (= xsp --help)\n"
      "  xsp help storage          every interface and method of the storage API\n"
      "  xsp help volume           the methods of one interface (= xsp volume --help)\n"
      "  xsp help volume create    one method's arguments (= xsp volume create --help)\n"
      "  xsp help call             a built-in command's usage (= xsp call --help)\n" },
    { NULL, NULL, NULL, NULL },
};

/* ================================================================ options, target */

typedef struct {
    cli_ctx_t ctx;              /* --switch may override the global one */
    const char *queue;          /* --queue */
    const char *scheme;         /* --scheme */
    const char *registrar;      /* --registrar */
    const char *dbg;            /* --dbg */
    uint32_t timeout_ms;        /* --timeout: 0 = the library's default (30 s) */
    bool json;                  /* --json */
} storage_opts_t;

/*  The plugin kind an interface needs (XSP_RESOLVE_ANY_KIND for Plugin.*). */
static int iface_kind(const cli_iface_t *ifc)
{
    if (strcmp(ifc->interface, "Datapath") == 0)
        return XSP_PLUGIN_KIND_DATAPATH;
    if (strcmp(ifc->interface, "SR") == 0 || strcmp(ifc->interface, "Volume") == 0)
        return XSP_PLUGIN_KIND_VOLUME;
    return XSP_RESOLVE_ANY_KIND;
}

/*  What to resolve for a request: the method's argument naming what the request is for (a
    URI, or an SR key, which is a URI of the plugin's scheme: cli_method_t.route_arg) when
    given and not empty, else "S:" for --scheme S; NULL when there is neither. */
static const char *route_target(const storage_opts_t *o, const char *arg, char *buf, size_t size)
{
    if (arg && *arg)
        return arg;
    if (!o->scheme)
        return NULL;
    snprintf(buf, size, "%s:", o->scheme);
    return buf;
}

/*  The queue a request goes to: --queue; for the registrar's own interface its queue;
    else the registrar's answer for target (through r, which caches it).  *resolved tells
    whether it came from the registrar (then a retryable failure may resolve again).
    Returns NULL after printing why, with *code set. */
static const char *storage_target_queue(const storage_opts_t *o, const cli_iface_t *ifc,
                                        xsp_resolver_t *r, const char *target, bool *resolved,
                                        int *code)
{
    xsp_error_t err;
    *resolved = false;
    if (o->queue)
        return o->queue;
    if (strcmp(ifc->module, "registrar") == 0)
        return o->registrar ? o->registrar : XSP_REGISTRAR_QUEUE;
    if (!target) {
        *code = cli_die(CLI_USAGE, "%s: this method has no URI or SR argument to find the plugin "
                        "by: give --scheme S (or --queue QUEUE)", ifc->name);
        return NULL;
    }
    const char *q = xsp_resolver_queue_kind(r, target, iface_kind(ifc), o->dbg, &err);
    if (!q) {
        fprintf(stderr, "xsp: %s: %s\n", xsp_code_name(err.code), err.msg);
        *code = err.code == XSP_E_INVALID_ARGUMENT ? CLI_USAGE
              : err.code == XSP_E_NO_PLUGIN_FOR_URI ? CLI_ERROR_REPLY : CLI_FAILED;
        return NULL;
    }
    *resolved = true;
    return q;
}

/* ================================================================ argument values */

typedef struct {
    const char *cmd;            /* "volume create", for messages */
    const cli_method_t *m;
    void *args;                 /* the generated <method>_args_t */
} call_t;

static int arg_error(const call_t *c, const cli_arg_t *a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int arg_error(const call_t *c, const cli_arg_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "xsp: %s: argument %s: ", c->cmd, a->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see xsp %s --help)\n", c->cmd);
    va_end(ap);
    return CLI_USAGE;
}

static void *field_of(const call_t *c, const cli_arg_t *a)
{
    return (char *) c->args + a->offset;
}

static void set_present(const call_t *c, const cli_arg_t *a)
{
    if (a->has_offset >= 0)
        *(bool *) ((char *) c->args + a->has_offset) = true;
}

/*  Decimal integer with an optional K/M/G/T suffix (powers of 1024).  *neg is set for a
    leading '-'; *mag is the absolute value.  false on syntax error or overflow. */
static bool parse_integer(const char *s, bool *neg, uint64_t *mag)
{
    *neg = false;
    if (*s == '-' || *s == '+')
        *neg = *s++ == '-';
    if (!isdigit((unsigned char) *s))
        return false;
    uint64_t v = 0;
    for (; isdigit((unsigned char) *s); s++) {
        unsigned d = (unsigned) (*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    unsigned shift = 0;
    if (*s) {
        const char *sfx = strchr("KMGT", toupper((unsigned char) *s));
        if (!sfx || s[1] != '\0')
            return false;
        shift = 10u * (unsigned) (sfx - "KMGT" + 1);
        if (v > (UINT64_MAX >> shift))
            return false;
        v <<= shift;
    }
    *mag = v;
    return true;
}

static int set_integer(const call_t *c, const cli_arg_t *a, const char *s)
{
    bool neg;
    uint64_t mag;
    static const char *const what[] = {
        [CLI_ARG_INT32] = "int32", [CLI_ARG_UINT32] = "uint32",
        [CLI_ARG_INT64] = "int64", [CLI_ARG_UINT64] = "uint64",
    };
    if (!parse_integer(s, &neg, &mag))
        return arg_error(c, a, "'%s' is not an integer (decimal digits, optionally followed by "
                         "K, M, G or T: powers of 1024)", s);
    bool is_signed = a->kind == CLI_ARG_INT32 || a->kind == CLI_ARG_INT64;
    uint64_t max = a->kind == CLI_ARG_INT32 ? INT32_MAX : a->kind == CLI_ARG_UINT32 ? UINT32_MAX
                 : a->kind == CLI_ARG_INT64 ? INT64_MAX : UINT64_MAX;
    if (neg && mag != 0 && !is_signed)
        return arg_error(c, a, "'%s' is negative; %s is unsigned", s, what[a->kind]);
    if (neg ? mag > max + 1 : mag > max)
        return arg_error(c, a, "'%s' is out of range for %s", s, what[a->kind]);
    void *f = field_of(c, a);
    switch (a->kind) {
    case CLI_ARG_INT32:
        *(int32_t *) f = neg ? (int32_t) (-(int64_t) mag) : (int32_t) mag;
        break;
    case CLI_ARG_UINT32:
        *(uint32_t *) f = (uint32_t) mag;
        break;
    case CLI_ARG_INT64:
        /* -2^63 .. 2^63-1 without overflowing in the negation */
        *(int64_t *) f = neg ? (mag == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) mag)
                             : (int64_t) mag;
        break;
    default:
        *(uint64_t *) f = mag;
        break;
    }
    set_present(c, a);
    return CLI_OK;
}

/*  Convert one scalar value (string, bool, integer, code, enum) into the args struct. */
static int set_scalar(const call_t *c, const cli_arg_t *a, const char *s)
{
    void *f = field_of(c, a);
    switch (a->kind) {
    case CLI_ARG_STRING: {
        size_t n = strlen(s);
        if (n > a->max)
            return arg_error(c, a, "%zu bytes; at most %u allowed", n, a->max);
        char **p = f;
        free(*p);
        *p = strdup(s);
        if (!*p)
            return cli_die(CLI_LOCAL, "out of memory");
        return CLI_OK;
    }
    case CLI_ARG_BOOL:
        if (strcmp(s, "true") == 0)
            *(bool *) f = true;
        else if (strcmp(s, "false") == 0)
            *(bool *) f = false;
        else
            return arg_error(c, a, "'%s' is not a bool: say true or false", s);
        set_present(c, a);
        return CLI_OK;
    case CLI_ARG_INT32:
    case CLI_ARG_UINT32:
    case CLI_ARG_INT64:
    case CLI_ARG_UINT64:
        return set_integer(c, a, s);
    case CLI_ARG_ERROR_CODE: {
        xsp_code_t code = xsp_code_from_name(s, strlen(s));
        if (code == XSP_E_UNKNOWN && strcmp(s, "unknown") != 0)
            return arg_error(c, a, "'%s' is not an error code (see docs/api.md, Errors)", s);
        *(xsp_code_t *) f = code;
        set_present(c, a);
        return CLI_OK;
    }
    case CLI_ARG_ENUM:
        for (size_t i = 0; i < a->n_enum; i++) {
            if (strcmp(a->enum_names[i], s) == 0) {
                a->enum_set(f, (int) i);
                set_present(c, a);
                return CLI_OK;
            }
        }
        fprintf(stderr, "xsp: %s: argument %s: '%s' is not one of:", c->cmd, a->name, s);
        for (size_t i = 0; i < a->n_enum; i++)
            fprintf(stderr, " %s", a->enum_names[i]);
        fputc('\n', stderr);
        return CLI_USAGE;
    default:
        return arg_error(c, a, "a %s cannot be given on the command line yet", a->type);
    }
}

/*  One more element of a repeated (list or map) argument. */
static int add_repeated(const call_t *c, const cli_arg_t *a, const char *s)
{
    if (a->kind == CLI_ARG_STRING_LIST) {
        xsp_string_list_t *l = field_of(c, a);
        size_t n = strlen(s);
        if (l->len >= a->max)
            return arg_error(c, a, "more than %u values", a->max);
        if (n > a->val_max)
            return arg_error(c, a, "value of %zu bytes; at most %u allowed", n, a->val_max);
        if (xsp_string_list_append(l, s))
            return cli_die(CLI_LOCAL, "out of memory");
        set_present(c, a);
        return CLI_OK;
    }
    xsp_string_map_t *map = field_of(c, a);
    const char *eq = strchr(s, '=');
    if (!eq || eq == s)
        return arg_error(c, a, "'%s' is not KEY=VALUE", s);
    size_t klen = (size_t) (eq - s), vlen = strlen(eq + 1);
    char *key = strndup(s, klen);
    if (!key)
        return cli_die(CLI_LOCAL, "out of memory");
    int rc = CLI_OK;
    if (klen > a->key_max)
        rc = arg_error(c, a, "key '%s' is %zu bytes; at most %u allowed", key, klen, a->key_max);
    else if (vlen > a->val_max)
        rc = arg_error(c, a, "the value of '%s' is %zu bytes; at most %u allowed", key, vlen,
                       a->val_max);
    else if (xsp_string_map_get(map, key))
        rc = arg_error(c, a, "key '%s' given twice", key);
    else if (map->len >= a->max)
        rc = arg_error(c, a, "more than %u entries", a->max);
    else if (xsp_string_map_set(map, key, eq + 1))
        rc = cli_die(CLI_LOCAL, "out of memory");
    else
        set_present(c, a);
    free(key);
    return rc;
}

/* ================================================================ argv */

/*  --name matches argument `name` (dashes and underscores alike). */
static const cli_arg_t *find_arg(const cli_method_t *m, const char *opt, size_t len)
{
    for (size_t i = 0; i < m->n_args; i++) {
        const char *n = m->args[i].name;
        if (strlen(n) != len)
            continue;
        size_t k = 0;
        for (; k < len; k++)
            if ((n[k] == '_' ? '-' : n[k]) != (opt[k] == '_' ? '-' : opt[k]))
                break;
        if (k == len)
            return &m->args[i];
    }
    return NULL;
}

/*  How an argument name is shown: upper case (SIZE) or as an option (new-size). */
static const char *shown_name(const char *name, bool upper, char *buf, size_t size)
{
    size_t k = 0;
    for (; name[k] && k + 1 < size; k++)
        buf[k] = upper ? (char) toupper((unsigned char) name[k]) : name[k] == '_' ? '-' : name[k];
    buf[k] = '\0';
    return buf;
}

static bool opt_is(const char *opt, size_t len, const char *name)
{
    return strlen(name) == len && strncmp(opt, name, len) == 0;
}

/*  Parse argv[first..argc) for method c->m into c->args and *o.  Returns CLI_OK, CLI_USAGE
    (after printing why), or -1 when --help was asked for (already printed). */
static int parse_argv(call_t *c, storage_opts_t *o, int argc, char **argv, int first)
{
    const cli_method_t *m = c->m;
    const char **given = calloc(m->n_args ? m->n_args : 1, sizeof *given);
    const char **pos = calloc((size_t) argc, sizeof *pos);
    size_t npos = 0;
    int rc = CLI_OK;
    bool only_pos = false;
    if (!given || !pos) {
        free(given);
        free(pos);
        return cli_die(CLI_LOCAL, "out of memory");
    }
    for (int i = first; i < argc && rc == CLI_OK; i++) {
        const char *s = argv[i];
        if (only_pos || s[0] != '-' || s[1] == '\0' || isdigit((unsigned char) s[1])) {
            pos[npos++] = s;          /* "-" and "-5" are values */
            continue;
        }
        if (strcmp(s, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            print_method_help(stdout, m);
            rc = -1;
            break;
        }
        if (s[1] != '-') {
            fprintf(stderr, "xsp: %s: unknown option %s (see xsp %s --help)\n", c->cmd, s, c->cmd);
            rc = CLI_USAGE;
            break;
        }
        const char *opt = s + 2;
        const char *eq = strchr(opt, '=');
        size_t len = eq ? (size_t) (eq - opt) : strlen(opt);
        if (opt_is(opt, len, "json")) {
            if (eq) {
                fprintf(stderr, "xsp: %s: --json takes no value\n", c->cmd);
                rc = CLI_USAGE;
            }
            o->json = true;
            continue;
        }
        const cli_arg_t *a = find_arg(m, opt, len);
        bool engine = opt_is(opt, len, "queue") || opt_is(opt, len, "timeout") ||
                      opt_is(opt, len, "dbg") || opt_is(opt, len, "switch") ||
                      ((opt_is(opt, len, "scheme") || opt_is(opt, len, "registrar")) && !a);
        if (!a && !engine) {
            fprintf(stderr, "xsp: %s: unknown option --%.*s (see xsp %s --help)\n", c->cmd,
                    (int) len, opt, c->cmd);
            rc = CLI_USAGE;
            break;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "xsp: %s: option --%.*s needs a value\n", c->cmd, (int) len, opt);
                rc = CLI_USAGE;
                break;
            }
            val = argv[++i];
        }
        if (opt_is(opt, len, "queue")) {
            o->queue = val;
        } else if (!a && opt_is(opt, len, "scheme")) {
            o->scheme = val;
        } else if (!a && opt_is(opt, len, "registrar")) {
            o->registrar = val;
        } else if (opt_is(opt, len, "switch")) {
            o->ctx.endpoint = val;
        } else if (opt_is(opt, len, "dbg")) {
            o->dbg = val;
        } else if (opt_is(opt, len, "timeout")) {
            long ms = cli_seconds_ms(val);
            if (ms < 0 || ms > (long) UINT32_MAX - 1) {
                fprintf(stderr, "xsp: %s: --timeout wants seconds, not '%s'\n", c->cmd, val);
                rc = CLI_USAGE;
            } else {
                o->timeout_ms = ms == 0 ? XSP_TIMEOUT_INFINITE : (uint32_t) ms;
            }
        } else if (a->kind == CLI_ARG_STRING_LIST || a->kind == CLI_ARG_STRING_MAP) {
            rc = add_repeated(c, a, val);
        } else if (given[a - m->args]) {
            rc = arg_error(c, a, "given twice ('%s' and '%s')", given[a - m->args], val);
        } else {
            given[a - m->args] = val;
        }
    }
    /* positional values fill the positional arguments in IDL order */
    size_t next = 0;
    for (size_t i = 0; i < m->n_args && rc == CLI_OK && next < npos; i++) {
        const cli_arg_t *a = &m->args[i];
        if (!a->positional)
            continue;
        if (given[i]) {
            char opt[128];
            rc = arg_error(c, a, "given twice (as --%s and by position: '%s')",
                           shown_name(a->name, false, opt, sizeof opt), pos[next]);
            break;
        }
        given[i] = pos[next++];
    }
    if (rc == CLI_OK && next < npos) {
        fprintf(stderr, "xsp: %s: too many arguments, from '%s' on (see xsp %s --help)\n",
                c->cmd, pos[next], c->cmd);
        rc = CLI_USAGE;
    }
    /* convert, and check that every required argument is there */
    for (size_t i = 0; i < m->n_args && rc == CLI_OK; i++) {
        const cli_arg_t *a = &m->args[i];
        if (a->is_dbg)
            continue;
        if (given[i])
            rc = set_scalar(c, a, given[i]);
        else if (a->required && a->kind == CLI_ARG_UNSUPPORTED)
            rc = arg_error(c, a, "required, but a %s cannot be given on the command line yet",
                           a->type);
        else if (a->required) {
            char meta[128], opt[128];
            fprintf(stderr, "xsp: %s: missing argument %s (by position, or --%s)\n"
                            "(see xsp %s --help)\n", c->cmd, shown_name(a->name, true, meta, sizeof meta),
                    shown_name(a->name, false, opt, sizeof opt), c->cmd);
            rc = CLI_USAGE;
        }
    }
    free(given);
    free(pos);
    return rc;
}

/* ================================================================ replies */

/*  The error code's wire name as the plugin sent it (this build may not know it). */
static void raw_code(const void *body, size_t len, char *buf, size_t size)
{
    msgpack_unpacked up;
    xsp_path_t root = xsp_path_root("error reply");
    buf[0] = '\0';
    if (xsp_idl_unpack(&up, body, len, &root, NULL) != XSP_OK)
        return;
    if (up.data.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < up.data.via.map.size; i++) {
            const msgpack_object_kv *kv = &up.data.via.map.ptr[i];
            if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 4 &&
                memcmp(kv->key.via.str.ptr, "code", 4) == 0 && kv->val.type == MSGPACK_OBJECT_STR) {
                snprintf(buf, size, "%.*s", (int) kv->val.via.str.size, kv->val.via.str.ptr);
                break;
            }
        }
    }
    msgpack_unpacked_destroy(&up);
}

/*  The plugin answered with an error: `xsp: CODE: message`, then `  key=value` details. */
static int print_error_reply(const xsp_reply_t *rep)
{
    if (rep->status != XSP_STATUS_ERROR) {
        fprintf(stderr, "xsp: application: the server answered with status %u\n", rep->status);
        return CLI_ERROR_REPLY;
    }
    xsp_error_reply_t er;
    xsp_error_t derr;
    if (xsp_error_reply_unpack(rep->body, rep->len, &er, &derr) != XSP_OK) {
        fprintf(stderr, "xsp: application: the plugin's error reply does not decode: %s\n",
                derr.msg);
        return CLI_ERROR_REPLY;
    }
    char code[80];
    raw_code(rep->body, rep->len, code, sizeof code);
    fprintf(stderr, "xsp: %s: %s\n", code[0] ? code : xsp_code_name(er.code),
            er.message ? er.message : "");
    if (er.has_detail)
        for (size_t i = 0; i < er.detail.len; i++)
            fprintf(stderr, "  %s=%s\n", er.detail.val[i].key ? er.detail.val[i].key : "",
                    er.detail.val[i].value ? er.detail.val[i].value : "");
    xsp_error_reply_dispose(&er);
    return CLI_ERROR_REPLY;
}

/*  Decode a success reply with the method's result decoder and print it. */
/*  Decode and print a successful answer.  r (NULL when the call went to a --queue): the
    answer is first checked against the registration of the plugin serving uri
    (xsp/validate.h: dom0 does not trust plugins). */
static int print_result(const call_t *c, const storage_opts_t *o, const xsp_reply_t *rep,
                        xsp_resolver_t *r, const char *uri, int kind)
{
    const xsp_method_info_t *info = c->m->info;
    char label[160];
    snprintf(label, sizeof label, "%s result", info->name);
    xsp_path_t root = xsp_path_root(label);
    msgpack_unpacked up;
    xsp_error_t err;
    if (xsp_idl_unpack(&up, rep->body, rep->len, &root, &err) != XSP_OK)
        return cli_fail(&err);
    void *res = calloc(1, info->result_size ? info->result_size : 1);
    if (!res) {
        msgpack_unpacked_destroy(&up);
        return cli_die(CLI_LOCAL, "out of memory");
    }
    info->result_init(res);
    int rc = info->result_decode(&up.data, res, &err);
    msgpack_unpacked_destroy(&up);
    if (rc == XSP_OK && r && uri && xsp_resolver_check(r, uri, kind, info, res, &err) != XSP_OK) {
        /* the plugin answered, but something dom0 must not act on: its error (exit 1) */
        info->result_dispose(res);
        free(res);
        cli_fail(&err);
        return CLI_ERROR_REPLY;
    }
    if (rc != XSP_OK) {
        info->result_dispose(res);
        free(res);
        return cli_fail(&err);
    }
    int code = CLI_OK;
    xsp_buf_t b = XSP_BUF_INIT;
    if (o->json) {
        info->result_to_json(&b, res, 0);
    } else if (c->m->result_is_string) {
        const char *s = *(char **) res;     /* printed raw: a key, or multi-line text */
        xsp_buf_puts(&b, s ? s : "");
    } else if (info->has_result) {
        info->result_format(&b, res, 0);
    }
    if (b.len && xsp_buf_str(&b)[b.len - 1] != '\n')
        xsp_buf_putc(&b, '\n');
    if (xsp_buf_status(&b) != XSP_OK || xsp_buf_write(&b, stdout) != XSP_OK || fflush(stdout))
        code = cli_die(CLI_LOCAL, "writing standard output: %s", strerror(errno));
    xsp_buf_dispose(&b);
    info->result_dispose(res);
    free(res);
    return code;
}

/* ================================================================ the command */

static int run_method(const cli_ctx_t *ctx, const cli_iface_t *ifc, const cli_method_t *m,
                      int argc, char **argv)
{
    const xsp_method_info_t *info = m->info;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "%s %s", ifc->name, m->name);
    char dflt_dbg[160];     /* "xsp-cli datapath attach": the trace then says what ran */
    snprintf(dflt_dbg, sizeof dflt_dbg, "%s %s", DEFAULT_DBG, cmd);
    storage_opts_t o = { .ctx = *ctx, .dbg = dflt_dbg };
    call_t c = { .cmd = cmd, .m = m, .args = calloc(1, info->args_size ? info->args_size : 1) };
    if (!c.args)
        return cli_die(CLI_LOCAL, "out of memory");
    info->args_init(c.args);

    int rc = parse_argv(&c, &o, argc, argv, 2);
    const char *target = NULL;
    char target_buf[128];
    if (rc == CLI_OK && strlen(o.dbg) > 1024)
        rc = cli_die(CLI_USAGE, "%s: --dbg is %zu bytes; at most 1024 allowed", cmd, strlen(o.dbg));
    for (size_t i = 0; i < m->n_args && rc == CLI_OK; i++)
        if (m->args[i].is_dbg)
            rc = set_scalar(&c, &m->args[i], o.dbg);
    char *target_copy = NULL;
    if (rc == CLI_OK) {
        const char *arg = NULL;
        if (m->route_arg >= 0 && m->args[m->route_arg].kind == CLI_ARG_STRING)
            arg = *(char **) field_of(&c, &m->args[m->route_arg]);
        target = route_target(&o, arg, target_buf, sizeof target_buf);
        if (target && !(target = target_copy = strdup(target)))
            rc = cli_die(CLI_LOCAL, "out of memory");
    }
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    if (rc == CLI_OK) {
        msgpack_packer pk;
        xsp_error_t err;
        msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
        if (info->args_encode(&pk, c.args, &err) != XSP_OK)
            rc = cli_die(CLI_LOCAL, "%s: encoding the request: %s", cmd, err.msg);
    }
    info->args_dispose(c.args);
    free(c.args);
    c.args = NULL;
    if (rc != CLI_OK) {
        msgpack_sbuffer_destroy(&sbuf);
        free(target_copy);
        return rc < 0 ? CLI_OK : rc;        /* -1: --help was printed */
    }

    xsp_client_t *cl = cli_connect(&o.ctx, "cli");
    xsp_error_t err;
    xsp_resolver_t *r = cl ? xsp_resolver_new(cl, o.registrar, &err) : NULL;
    if (!r) {
        if (cl)
            cli_fail(&err);
        xsp_client_destroy(&cl);
        msgpack_sbuffer_destroy(&sbuf);
        free(target_copy);
        return cl ? CLI_USAGE : CLI_FAILED;
    }
    xsp_call_opts_t co = { .timeout_ms = o.timeout_ms, .dbg = o.dbg };
    xsp_reply_t rep;
    memset(&rep, 0, sizeof rep);
    char used[XSP_QUEUE_MAX + 1];
    int code = CLI_OK;
    bool resolved = false;
    for (int attempt = 0;; attempt++) {
        const char *queue = storage_target_queue(&o, ifc, r, target, &resolved, &code);
        if (!queue) {
            rc = -1;
            break;
        }
        snprintf(used, sizeof used, "%s", queue);
        rc = xsp_client_call(cl, used, sbuf.data, sbuf.size, &co, &rep, &err);
        if (rc == XSP_OK || rc == XSP_E_APPLICATION || !resolved || attempt > 0 ||
            !xsp_resolver_retry(r, target, iface_kind(ifc), o.dbg, used, &err))
            break;
        fprintf(stderr, "xsp: %s: %s (queue %s): resolving %s again and retrying once\n",
                xsp_code_name(err.code), err.msg, used, target);
    }
    msgpack_sbuffer_destroy(&sbuf);
    if (rc == XSP_OK)
        code = print_result(&c, &o, &rep, resolved ? r : NULL, target, iface_kind(ifc));
    else if (rc == XSP_E_APPLICATION)
        code = print_error_reply(&rep);
    else if (rc != -1)
        code = cli_fail(&err);
    xsp_reply_dispose(&rep);
    free(target_copy);
    xsp_resolver_destroy(&r);
    xsp_client_destroy(&cl);
    return code;
}

int cmd_storage(const cli_ctx_t *ctx, int argc, char **argv)
{
    const cli_iface_t *ifc = find_iface(argv[0]);
    if (!ifc)
        return cli_die(CLI_USAGE, "'%s' is not an API interface", argv[0]);
    if (argc < 2) {
        print_iface_help(stderr, ifc);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_iface_help(stdout, ifc);
        return CLI_OK;
    }
    const cli_method_t *m = find_method(ifc, argv[1]);
    if (!m) {
        if (argv[1][0] == '-')
            fprintf(stderr, "xsp: %s: say the method first, then options (xsp %s METHOD ...); "
                            "methods:\n", ifc->name, ifc->name);
        else
            fprintf(stderr, "xsp: %s has no method '%s'; it has:\n", ifc->name, argv[1]);
        print_method_list(stderr, ifc);
        return CLI_USAGE;
    }
    return run_method(ctx, ifc, m, argc, argv);
}

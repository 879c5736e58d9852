/*  cli.h — shared pieces of the `xsp` command-line tool.

    Owns: the command table type, global options, exit codes, small helpers shared by the
    command files (xsp.c: main and the table; cmd_call.c: call, serve; cmd_diag.c: queues,
    diag; trace_print.c: trace; cmd_storage.c: the IDL-driven API
    commands and help; cmd_registrar.c: resolve, plugins,
    watch-plugins).
    Never touches: the wire protocol directly (everything goes through libxsp).

    Adding a command (e.g. generated storage stubs): write
        int cmd_foo(const cli_ctx_t *ctx, int argc, char **argv);
    and add a cli_cmd_t row to a table listed in cli_tables (xsp.c).  argv[0] is the
    command name; parse the rest with getopt_long (optind is reset for you).
*/
#ifndef XSP_CLI_H
#define XSP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "xsp/xsp.h"

/*  Exit codes (documented in `xsp --help`). */
enum {
    CLI_OK = 0,
    CLI_ERROR_REPLY = 1,    /* the server answered with an error (status != 0) */
    CLI_USAGE = 2,          /* bad command line */
    CLI_FAILED = 3,         /* the switch or transport failed: no switch, timeout, expired,
                               queue-full, too-large, disconnected, ... */
    CLI_LOCAL = 4,          /* a local failure: reading input, starting a command, memory */
};

typedef struct {
    const char *endpoint;   /* --switch, or NULL (then XSP_SWITCH / default) */
    const char *prog;       /* "xsp" */
    const char *identity;   /* `xsp call --identity`, or NULL */
} cli_ctx_t;

typedef int cli_fn(const cli_ctx_t *ctx, int argc, char **argv);

typedef struct {
    const char *name;
    cli_fn *fn;
    const char *summary;    /* one line for `xsp --help` */
    const char *usage;      /* full usage for `xsp COMMAND --help`; NULL: the command
                               handles --help itself (it sees it in argv) */
} cli_cmd_t;

/*  Tables of commands, each ended by a row with name NULL; the list ends with NULL. */
extern const cli_cmd_t *const cli_tables[];
extern const cli_cmd_t cli_builtin_cmds[];
extern const cli_cmd_t cli_idl_cmds[];       /* generated: plugin, sr, volume, datapath */
extern const cli_cmd_t cli_storage_cmds[];   /* cmd_storage.c: help */

/*  Print `xsp: CODE: sentence` on stderr; returns the exit code for err. */
int cli_fail(const xsp_error_t *err);
/*  Print `xsp: message` on stderr (printf-like) and return code. */
int cli_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*  Print `xsp --help` (the command list, options, exit codes) to f. */
void cli_help(FILE *f);
/*  Print a command's usage to stderr and return CLI_USAGE. */
int cli_usage(const char *cmd);
/*  A client for tools; NULL after printing why. */
xsp_client_t *cli_connect(const cli_ctx_t *ctx, const char *role);
/*  Parse "1.5" seconds into ms; -1 on error. */
long cli_seconds_ms(const char *s);
/*  Common option handling: --switch EP inside a command. */
#define CLI_OPT_SWITCH 1000
/*  Write s (len bytes) as a JSON string (with quotes). */
void cli_json_str(const char *s, size_t len);

/*  Commands. */
int cmd_call(const cli_ctx_t *ctx, int argc, char **argv);
int cmd_serve(const cli_ctx_t *ctx, int argc, char **argv);
int cmd_queues(const cli_ctx_t *ctx, int argc, char **argv);
int cmd_diag(const cli_ctx_t *ctx, int argc, char **argv);
int cmd_trace(const cli_ctx_t *ctx, int argc, char **argv);
int cmd_storage(const cli_ctx_t *ctx, int argc, char **argv);  /* every IDL interface */
int cmd_help(const cli_ctx_t *ctx, int argc, char **argv);
int cmd_resolve(const cli_ctx_t *ctx, int argc, char **argv);  /* cmd_registrar.c */
int cmd_keygen(const cli_ctx_t *ctx, int argc, char **argv);   /* cmd_keygen.c */
int cmd_plugins(const cli_ctx_t *ctx, int argc, char **argv);
int cmd_watch_plugins(const cli_ctx_t *ctx, int argc, char **argv);

#endif

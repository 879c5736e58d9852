/*  cli_idl.h — the tables that drive the `xsp` CLI's typed API commands
    (`xsp volume create ...`), generated from the IDL by sdk/gen/xspidl/emit_cli.py.

    Owns: the row types cli_arg_t (one argument of a method: how to parse it and where it
    goes in the generated args struct), cli_method_t (a method: its xsp_method_info_t, its
    arguments and --help text) and cli_iface_t (an interface = one `xsp` command), and the
    two generated tables cli_idl_ifaces / cli_idl_cmds.
    Never touches: parsing or calling (cmd_storage.c is the engine that reads the tables).
*/
#ifndef XSP_CLI_IDL_H
#define XSP_CLI_IDL_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"
#include "xsp/idl_method.h"

typedef enum {
    CLI_ARG_STRING,         /* char *: the text as given (optional: NULL = absent) */
    CLI_ARG_BOOL,           /* bool: true or false */
    CLI_ARG_INT32,          /* int32_t ... uint64_t: decimal, K/M/G/T = powers of 1024 */
    CLI_ARG_UINT32,
    CLI_ARG_INT64,
    CLI_ARG_UINT64,
    CLI_ARG_ERROR_CODE,     /* xsp_code_t: a wire name from xsp/error.h */
    CLI_ARG_ENUM,           /* an IDL enum: one of enum_names, stored with enum_set */
    CLI_ARG_STRING_LIST,    /* xsp_string_list_t: --NAME VALUE, repeated */
    CLI_ARG_STRING_MAP,     /* xsp_string_map_t: --NAME KEY=VALUE, repeated */
    CLI_ARG_UNSUPPORTED,    /* structs, unions, lists of them: not on the command line yet */
} cli_arg_kind_t;

typedef struct {
    const char *name;               /* IDL name ("new_size"); option --new-size / --new_size */
    const char *type;               /* as --help shows it: "sr = string, max 4096 bytes" */
    cli_arg_kind_t kind;
    size_t offset;                  /* offsetof(<method>_args_t, <name>) */
    long has_offset;                /* offsetof has_<name> (optional non-strings), else -1 */
    bool optional;                  /* optional<>: absent unless given */
    bool required;                  /* must be given (not optional, not a list/map, not dbg) */
    bool positional;                /* may be given by position (scalars except dbg) */
    bool is_dbg;                    /* the debug context: --dbg (default "xsp-cli") */
    unsigned max;                   /* string: bytes; list, map: entries */
    unsigned key_max, val_max;      /* map: key and value bytes; list: element bytes */
    const char *const *enum_names;  /* enum: value names, n_enum of them */
    size_t n_enum;
    void (*enum_set)(void *field, int value);
    const char *doc;                /* the IDL doc, one line */
} cli_arg_t;

typedef struct {
    const char *name;               /* CLI name: "set-name" (also accepted: "set_name") */
    const xsp_method_info_t *info;  /* the generated method table row */
    const cli_arg_t *args;          /* IDL order, common args (dbg) first */
    size_t n_args;
    int route_arg;                  /* the argument naming the target (a uri or sr), or -1 */
    bool result_is_string;          /* a plain string result prints raw in text mode */
    const char *usage;              /* `xsp IFACE METHOD --help`, from the IDL docs */
} cli_method_t;

typedef struct {
    const char *name;               /* the command: "volume" (NULL ends the table) */
    const char *interface;          /* IDL name: "Volume" */
    const char *module;             /* IDL module: "storage" (`xsp help storage`) */
    const char *summary;            /* first sentence of the interface's doc */
    const char *doc;                /* the whole doc, wrapped, indented by 2 */
    const cli_method_t *methods;
    size_t n_methods;
} cli_iface_t;

/*  Generated (gen/cli/idl_cli_tables.c). */
extern const cli_iface_t cli_idl_ifaces[];
extern const cli_cmd_t cli_idl_cmds[];

#endif

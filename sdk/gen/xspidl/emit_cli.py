"""emit_cli.py — the `xsp` command-line tool's typed API commands, as C tables.

Owns: one C file (xspgen.py --cli FILE) holding, for every interface of every module, a
`cli_cmd_t` row (`xsp volume ...`, the CLI name is the interface name in lower case), and
per method a `cli_method_t` row (CLI name in kebab case: `set-name`) with its arguments
(`cli_arg_t`: IDL name, what to parse it as, offset of its member in the generated args
struct, required or not, doc) and its full `--help` text, written from the IDL docs.  The
types are declared in sdk/cli/cli_idl.h; the generic engine that reads these tables (parse
argv, fill the args struct, encode, call, decode, print) is sdk/cli/cmd_storage.c.
Adding a method or an interface to an IDL therefore adds its CLI command with no
hand-written code.
Never touches: the generated API itself (it only takes addresses and offsets of it).

Command-line rules the tables encode (the engine applies them):
  * arguments are given by position in IDL order, or as `--NAME VALUE` (`--new-size` and
    `--new_size` both work);
  * a string argument named `dbg` is the debug context: `--dbg` only, default "xsp-cli";
  * map<string, string> arguments: `--NAME KEY=VALUE`, repeated; list<string> arguments:
    `--NAME VALUE`, repeated; neither is positional, both default to empty;
  * integers accept K, M, G, T suffixes (powers of 1024);
  * struct, union and list-of-record arguments cannot be given yet (kind UNSUPPORTED).
Argument names that would shadow the engine's own options (queue, timeout, json, switch,
help) and interface names that would shadow a built-in command are refused here, at build
time, with a clear message.
"""

import textwrap

from .cnames import cstr, first_sentence, snake
from .errors import IdlError
from .model import Alias, Enum, ListT, MapT, Optional, Prim, Ref, Str, concrete
from .records import banner

# Options of the engine (sdk/cli/cmd_storage.c) an argument may not be called.
ENGINE_OPTIONS = ("queue", "timeout", "json", "switch", "help")
# Commands of sdk/cli/xsp.c and cmd_storage.c an interface may not be called.
BUILTIN_COMMANDS = ("call", "serve", "queues", "diag", "trace", "help")
# An argument whose type is (an alias of) one of these names the thing the request is for:
# the engine gives it to storage_target_queue() (later: the registrar resolves it).
ROUTE_ALIASES = ("uri", "sr")

INT_KINDS = {"int32": "CLI_ARG_INT32", "uint32": "CLI_ARG_UINT32",
             "int64": "CLI_ARG_INT64", "uint64": "CLI_ARG_UINT64"}

WIDTH = 80


def cli_iface_name(iface):
    return snake(iface.name).replace("_", "-")


def cli_method_name(meth):
    return meth.name.replace("_", "-")


def _opt(name):
    return "--" + name.replace("_", "-")


def _metavar(name):
    return name.upper()


def type_text(t):
    """Plain-text type for --help: `sr = string, max 4096 bytes`."""
    if isinstance(t, Optional):
        return type_text(t.inner)
    if isinstance(t, Ref):
        d = t.target
        if isinstance(d, Alias):
            return "%s = %s" % (d.name, type_text(d.type))
        return "%s %s" % (d.kind, d.name)
    if isinstance(t, Str):
        return "string, max %d bytes" % t.max
    if isinstance(t, Prim):
        return t.name
    if isinstance(t, ListT):
        return "list of %s, max %d" % (type_text(t.elem), t.max)
    if isinstance(t, MapT):
        k, v = concrete(t.key), concrete(t.val)
        return "map of KEY (max %d bytes) = VALUE (max %d bytes), max %d entries" % (k.max, v.max, t.max)
    raise AssertionError(t)


def short_type(t):
    if isinstance(t, Ref):
        return t.target.name
    if isinstance(t, Str):
        return "string"
    if isinstance(t, Prim):
        return t.name
    if isinstance(t, ListT):
        return "list<%s>" % short_type(t.elem)
    if isinstance(t, MapT):
        return "map<string, string>"
    return "?"


def _routes(t):
    while isinstance(t, Ref) and isinstance(t.target, Alias):
        if t.target.name in ROUTE_ALIASES:
            return True
        t = t.target.type
    return False


class Arg:
    """How one argument of a method appears on the command line."""

    def __init__(self, names, module, meth, f):
        self.f = f
        self.name = f.name
        self.optional = isinstance(f.type, Optional)
        declared = f.type.inner if self.optional else f.type
        t = concrete(declared)
        self.max = self.key_max = self.val_max = 0
        self.enum = None
        self.is_string = False
        if isinstance(t, Str):
            self.kind, self.max, self.is_string = "CLI_ARG_STRING", t.max, True
            self.value = "STRING"
        elif isinstance(t, Prim) and t.name == "bool":
            self.kind, self.value = "CLI_ARG_BOOL", "true|false"
        elif isinstance(t, Prim) and t.name in INT_KINDS:
            self.kind, self.value = INT_KINDS[t.name], "INTEGER"
        elif isinstance(t, Prim) and t.name == "error_code":
            self.kind, self.value = "CLI_ARG_ERROR_CODE", "CODE"
        elif isinstance(t, Ref) and isinstance(t.target, Enum):
            self.kind, self.enum = "CLI_ARG_ENUM", t.target
            self.value = "|".join(v.name for v in t.target.values)
        elif isinstance(t, ListT) and isinstance(concrete(t.elem), Str):
            self.kind, self.max, self.val_max = "CLI_ARG_STRING_LIST", t.max, concrete(t.elem).max
            self.value = "VALUE"
        elif isinstance(t, MapT):
            self.kind, self.max = "CLI_ARG_STRING_MAP", t.max
            self.key_max, self.val_max = concrete(t.key).max, concrete(t.val).max
            self.value = "KEY=VALUE"
        else:
            self.kind, self.value = "CLI_ARG_UNSUPPORTED", "(not yet)"
        self.is_dbg = self.name == "dbg" and self.is_string
        self.repeated = self.kind in ("CLI_ARG_STRING_LIST", "CLI_ARG_STRING_MAP")
        self.positional = not self.is_dbg and not self.repeated
        self.required = not self.optional and not self.repeated and not self.is_dbg
        self.has_flag = self.optional and not self.is_string
        self.route = _routes(declared)
        self.type = type_text(f.type)
        if self.kind in INT_KINDS.values():
            self.type += " (K, M, G, T suffixes: powers of 1024)"
        if self.name in ENGINE_OPTIONS or (self.name == "dbg" and not self.is_dbg):
            raise IdlError(f.loc, "argument %r of %s would shadow the `xsp` CLI option --%s "
                           "(sdk/gen/xspidl/emit_cli.py): rename it" % (self.name, meth.wire_name, self.name))


def _wrap(text, indent):
    out = []
    for para in (text or "").split("\n\n"):
        words = " ".join(para.split())
        if words:
            out += textwrap.wrap(words, WIDTH - len(indent), break_on_hyphens=False,
                                 break_long_words=False) or [""]
            out.append("")
    while out and out[-1] == "":
        out.pop()
    return [(indent + l) if l else "" for l in out]


def _raises_text(program, meth):
    specific = [w for (w, _loc) in meth.raises]
    anys = [e.wire for e in program.errors.values()
            if e.any_method and not e.transport and e.module is meth.interface.module
            and e.wire not in specific]
    parts = []
    if specific:
        parts.append(", ".join(specific))
    if anys:
        parts.append(("and, like every method, " if specific else "like every method: ") + ", ".join(anys))
    return "; ".join(parts) if parts else "none declared"


def usage_text(program, iface, meth, args):
    cmd = "xsp %s %s" % (cli_iface_name(iface), cli_method_name(meth))
    syn = [cmd, "[OPTIONS]"]
    for a in args:
        if a.positional:
            syn.append(_metavar(a.name) if a.required else "[%s]" % _metavar(a.name))
    for a in args:
        if a.repeated:
            syn.append("[%s %s]..." % (_opt(a.name), a.value))
    L = ["usage:"]
    for tok in syn:               # wrap between tokens, never inside one
        if len(L[-1]) + 1 + len(tok) > WIDTH and L[-1].strip():
            L.append("        ")
        L[-1] += " " + tok
    L.append("")
    L += _wrap(meth.doc, "  ")
    L.append("  (%s)" % meth.wire_name)
    shown = [a for a in args if not a.is_dbg]
    if shown:
        L.append("")
        L.append("Arguments (by position in this order, or as --NAME VALUE):")
        for a in shown:
            if a.positional:
                head = "%s, %s %s" % (_metavar(a.name), _opt(a.name), a.value)
            else:
                head = "%s %s  (repeat for more)" % (_opt(a.name), a.value)
            if a.kind == "CLI_ARG_UNSUPPORTED":
                head += "  (cannot be given on the command line yet)"
            elif not a.required and not a.repeated:
                head += "  (optional)"
            L.append("  " + head)
            L += _wrap(a.type + ".  " + (a.f.doc or ""), "      ")
    L.append("")
    if meth.result is None:
        L.append("Result: none.")
    else:
        L += _wrap("Result (%s): %s" % (short_type(meth.result), meth.result_doc or ""), "")
    L += _wrap("Errors: %s." % _raises_text(program, meth), "")
    return "\n".join(L) + "\n"


def _c_text(s, indent="      "):
    """A long C string literal, one source line per text line."""
    lines = s.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
        parts = [l + "\n" for l in lines]
    else:
        parts = [l + "\n" for l in lines[:-1]] + [lines[-1]]
    return "\n".join(indent + cstr(p) for p in parts) if parts else indent + '""'


def emit_cli(names):
    program = names.program
    mods = [m for m in program.modules if m.interfaces]
    L = banner("idl_cli_tables.c (the `xsp` CLI's API commands)", [m.display_file for m in program.modules],
               "one cli_cmd_t row per interface and, per method, its arguments (kind, offset in "
               "the args struct, required, doc) and --help text, for the generic engine in "
               "sdk/cli/cmd_storage.c (types: sdk/cli/cli_idl.h).")
    L += ["#include <stddef.h>", "", '#include "cli.h"', '#include "cli_idl.h"']
    for m in mods:
        L.append('#include "%s"' % names.header(m))
    L.append("")

    enums = []
    iface_rows = []
    cmd_rows = []
    seen_cmds = {}
    for m in mods:
        for iface in m.interfaces:
            cname = cli_iface_name(iface)
            if cname in BUILTIN_COMMANDS:
                raise IdlError(iface.loc, "interface %s would shadow the built-in `xsp %s` command "
                               "(sdk/gen/xspidl/emit_cli.py): rename it" % (iface.name, cname))
            if cname in seen_cmds:
                raise IdlError(iface.loc, "interface %s and %s are both `xsp %s`"
                               % (iface.name, seen_cmds[cname].name, cname))
            seen_cmds[cname] = iface
            ib = "%s_%s" % (m.prefix, snake(iface.name))
            mrows = []
            for meth in iface.methods:
                args = [Arg(names, m, meth, f) for f in meth.all_args]
                mb = names.method_base(meth)
                at = names.args_type(meth)
                if args:
                    L.append("static const cli_arg_t %s_cli_args[%d] = {" % (mb, len(args)))
                    for a in args:
                        if a.enum is not None and a.enum not in enums:
                            enums.append(a.enum)
                        row = ["        .name = %s, .kind = %s," % (cstr(a.name), a.kind),
                               "        .type = %s," % cstr(a.type),
                               "        .offset = offsetof(%s, %s)," % (at, a.name),
                               "        .has_offset = %s," % ("(long) offsetof(%s, has_%s)" % (at, a.name) if a.has_flag else "-1"),
                               "        .optional = %s, .required = %s, .positional = %s, .is_dbg = %s," % tuple(
                                   "true" if x else "false" for x in (a.optional, a.required, a.positional, a.is_dbg)),
                               "        .max = %du, .key_max = %du, .val_max = %du," % (a.max, a.key_max, a.val_max)]
                        if a.enum is not None:
                            eb = names.base(a.enum)
                            row.append("        .enum_names = %s_names_, .n_enum = %s, .enum_set = %s_cli_set,"
                                       % (eb, names.upper(a.enum) + "__COUNT", eb))
                        row.append("        .doc = %s," % cstr(" ".join((a.f.doc or "").split())))
                        L += ["    {"] + row + ["    },"]
                    L += ["};", ""]
                route = next((i for i, a in enumerate(args) if a.route), -1)
                raw = meth.result is not None and isinstance(concrete(meth.result), Str)
                usage = usage_text(program, iface, meth, args)
                mrows += ["    {",
                          "        .name = %s," % cstr(cli_method_name(meth)),
                          "        .info = &%s[%s]," % (names.method_table(m), names.method_const(meth)),
                          "        .args = %s, .n_args = %d," % (("%s_cli_args" % mb) if args else "NULL", len(args)),
                          "        .route_arg = %d, .result_is_string = %s," % (route, "true" if raw else "false"),
                          "        .usage =",
                          _c_text(usage, "            ") + ",",
                          "    },"]
            L.append("static const cli_method_t %s_cli_methods[%d] = {" % (ib, len(iface.methods)))
            L += mrows
            L += ["};", ""]
            summary = first_sentence(iface.doc) or ("The %s interface." % iface.name)
            iface_rows += ["    {",
                           "        .name = %s, .interface = %s, .module = %s," % (cstr(cname), cstr(iface.name), cstr(m.name)),
                           "        .summary = %s," % cstr(summary),
                           "        .doc = %s," % cstr("\n".join(_wrap(iface.doc, "  "))),
                           "        .methods = %s_cli_methods, .n_methods = %d," % (ib, len(iface.methods)),
                           "    },"]
            cmd_rows.append("    { %s, cmd_storage, %s, NULL }," % (cstr(cname), cstr(summary)))
    setters = []
    for e in enums:
        eb = names.base(e)
        setters += ["static void %s_cli_set(void *field, int v)" % eb, "{",
                    "    *(%s *) field = (%s) v;" % (names.type(e), names.type(e)), "}", ""]
    # the setters must precede the argument tables that point at them: right after the
    # includes (and the blank line that follows them)
    out = L[:]
    if setters:
        idx = max(i for i, l in enumerate(out) if l.startswith("#include")) + 2
        out[idx:idx] = setters
    out.append("const cli_iface_t cli_idl_ifaces[] = {")
    out += iface_rows
    out += ["    { .name = NULL },", "};", ""]
    out.append("/*  Rows for cli_tables (sdk/cli/xsp.c): `xsp <interface> <method> ...`.  usage is NULL:")
    out.append("    cmd_storage prints its own --help (per interface and per method). */")
    out.append("const cli_cmd_t cli_idl_cmds[] = {")
    out += cmd_rows
    out += ["    { NULL, NULL, NULL, NULL },", "};", ""]
    return "\n".join(out)

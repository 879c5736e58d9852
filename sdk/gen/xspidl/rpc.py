"""rpc.py — what the client-stub and server-dispatch emitters share.

Owns: the C names of everything emit_client.py and emit_server.py generate (stubs, async
callbacks, typed replies, ops tables, dispatchers), the mapping of IDL arguments to flat C
parameters, the errors a method documents, and the check that none of these names collides
with another generated identifier or with libxsp's hand-written runtime (xsp/stub.h,
xsp/dispatch.h, xsp/plugin.h).
Never touches: files, the names cnames.py owns (it only reads them).

Names, for method I.m of a module with prefix p and base B = p_<snake(I)>_<m>:
    B(...)             synchronous stub           B_send(...)      asynchronous stub
    B_done_fn          its completion type        B_args_call(...) stub taking the args struct
    B_reply(call, ..)  typed answer (server)      B_done_          (static) completion trampoline
per module M (base MB = p_M):
    MB_ops_t / struct MB_ops      the handler table  MB_call_t       a call (= xsp_call_t)
    MB_dispatch(req, ops, ctx)    the dispatcher     MB_handler      an xsp_handler_fn
    MB_service_t / struct MB_service  {ops, ctx} for MB_handler
"""

import re

from .cnames import snake
from .errors import IdlError
from .model import Optional, PRIMS, Str, concrete

# Hand-written runtime identifiers generated code lives next to (libxsp headers).
RUNTIME_NAMES = (
    "xsp_call_t", "xsp_call", "xsp_call_reply", "xsp_call_fail", "xsp_call_failv",
    "xsp_call_method", "xsp_call_args", "xsp_call_request", "xsp_call_begin",
    "xsp_call_unimplemented", "xsp_call_decode", "xsp_call_end",
    "xsp_stub_dbg", "xsp_stub_call", "xsp_stub_send", "xsp_stub_decode", "xsp_stub_encode",
    "xsp_stub_done_fn",
    "xsp_plugin_t", "xsp_plugin", "xsp_plugin_def_t", "xsp_plugin_def", "xsp_plugin_option_t",
    "xsp_plugin_option", "xsp_plugin_timer_fn", "xsp_plugin_main", "xsp_plugin_after",
    "xsp_plugin_stop", "xsp_plugin_stopping", "xsp_plugin_server", "xsp_plugin_queue",
    "xsp_plugin_name", "xsp_plugin_domid", "xsp_plugin_workers",
)

# Parameters and locals of generated stubs: an IDL argument with one of these names gets a
# trailing underscore in the flat stubs' parameter lists.
STUB_RESERVED = ("client", "queue", "opts", "result", "err", "cb", "arg", "call_id", "a")


def method_base(names, meth):
    return names.method_base(meth)


def op_member(meth):
    return "%s_%s" % (snake(meth.interface.name), meth.name)


def module_names(names, m):
    mb = names.module_base(m)
    return {
        "ops": mb + "_ops", "ops_t": mb + "_ops_t", "call_t": mb + "_call_t",
        "dispatch": mb + "_dispatch", "handler": mb + "_handler",
        "service": mb + "_service", "service_t": mb + "_service_t",
    }


def method_names(names, meth):
    b = names.method_base(meth)
    return {"sync": b, "send": b + "_send", "done_fn": b + "_done_fn", "args_call": b + "_args_call",
            "reply": b + "_reply", "tramp": b + "_done_"}


def row(names, meth):
    """C expression: a pointer to the method's xsp_method_info_t row."""
    mod = meth.interface.module
    return "&%s[%s]" % (names.method_table(mod), names.method_const(meth))


def dbg_arg(meth):
    """The argument named `dbg` of string type (normally from common_args), or None."""
    for f in meth.all_args:
        if f.name == "dbg":
            t = f.type.inner if isinstance(f.type, Optional) else f.type
            if isinstance(concrete(t), Str):
                return f
    return None


def raises(program, meth):
    """Wire names of the errors a method documents (its raises, then the `any` ones)."""
    out = [w for (w, _loc) in meth.raises]
    for e in program.errors.values():
        if e.any_method and not e.transport and e.module is meth.interface.module and e.wire not in out:
            out.append(e.wire)
    return out


def ptr(ctype, name):
    """`T *name` (or `char **name`)."""
    return "%s%s*%s" % (ctype, "" if ctype.endswith("*") else " ", name)


def decl(ctype, name):
    return "%s%s%s" % (ctype, "" if ctype.endswith("*") else " ", name)


def is_value(ct):
    """Passed by value in flat parameter lists: primitives and enums."""
    return ct.kind in PRIMS or ct.kind == "enum"


class FlatArg:
    """One IDL argument as a flat C parameter of a stub, and how it goes into the args struct."""

    def __init__(self, names, m, f):
        self.f = f
        self.optional = isinstance(f.type, Optional)
        self.ct = names.ct(f.type.inner if self.optional else f.type, m)
        self.param = f.name + "_" if f.name in STUB_RESERVED else f.name
        ct = self.ct
        if ct.is_string:
            self.cdecl = "const char *%s" % self.param
        elif is_value(ct) and not self.optional:
            self.cdecl = decl(ct.ctype, self.param)
        else:
            self.cdecl = "const " + ptr(ct.ctype, self.param)

    def assign(self, acc="a."):
        """C statements copying the parameter into the args struct (borrowing, never owning)."""
        f, p = self.f.name, self.param
        if self.ct.is_string:
            return ["%s%s = (char *) %s;" % (acc, f, p)]
        if is_value(self.ct) and not self.optional:
            return ["%s%s = %s;" % (acc, f, p)]
        if self.optional:
            return ["if (%s) {" % p, "    %shas_%s = true;" % (acc, f), "    %s%s = *%s;" % (acc, f, p), "}"]
        return ["if (%s)" % p, "    %s%s = *%s;" % (acc, f, p)]

    def doc(self):
        if self.ct.is_string:
            return "NULL = absent" if self.optional else None
        if self.optional:
            return "NULL = absent"
        if not is_value(self.ct):
            return "NULL = empty"
        return None


def flat_args(names, m, meth):
    return [FlatArg(names, m, f) for f in meth.all_args]


def result_ct(names, m, meth):
    return None if meth.result is None else names.ct(meth.result, m)


def wrap_proto(head, params, tail=";", width=100):
    """`head(p1, p2, ...)tail` wrapped under the opening parenthesis."""
    one = "%s(%s)%s" % (head, ", ".join(params), tail)
    if len(one) <= width:
        return [one]
    pad = " " * (len(head) + 1)
    lines, cur = [], head + "("
    for i, p in enumerate(params):
        piece = p + ("," if i < len(params) - 1 else ")" + tail)
        if i == 0:
            cur += piece
        elif len(cur) + 1 + len(piece) > width:
            lines.append(cur)
            cur = pad + piece
        else:
            cur += " " + piece
    lines.append(cur)
    return lines


# ------------------------------------------------------------------------- collisions

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
_TAG = re.compile(r"\b(?:struct|union|enum)\s+([A-Za-z_][A-Za-z0-9_]*)")
_checked = {}
_TAG_KINDS = ("ops", "service")     # module_names() entries that are struct tags


def _header_identifiers(names):
    """(ordinary identifiers, struct/union/enum tags) declared or used in every generated
    header of the program (C keeps tags in a namespace of their own).  Raises IdlError if
    one of them is a name of libxsp's runtime (a struct `call` would make xsp_call_t)."""
    from .emit_header import emit_header
    idents, tags = set(), set()
    for mod in names.program.modules:
        text = _COMMENT.sub(" ", emit_header(names, mod))
        mod_tags = set(_TAG.findall(text))
        mod_idents = set(_IDENT.findall(_TAG.sub(" ", text)))
        clash = sorted((mod_tags | mod_idents) & set(RUNTIME_NAMES))
        if clash:
            raise IdlError(mod.loc, "generated C name %s (module %s) collides with libxsp's runtime "
                           "(xsp/stub.h, xsp/dispatch.h or xsp/plugin.h)" % (clash[0], mod.name))
        tags |= mod_tags
        idents |= mod_idents
    return idents, tags


def check_names(names):
    """Raise IdlError if a stub/dispatch name collides with a generated or runtime name, or
    two of them with each other.  Done once per program (both emitters call it)."""
    key = id(names)
    if _checked.get(key) is names:
        return
    taken_idents, taken_tags = _header_identifiers(names)
    runtime = set(RUNTIME_NAMES)
    mine = {}

    def add(ident, loc, what, tag=False):
        key = ("tag " if tag else "") + ident
        if key in mine:
            raise IdlError(loc, "generated C name %s (%s) collides with %s" % (ident, what, mine[key]))
        if ident in (taken_tags if tag else taken_idents):
            raise IdlError(loc, "generated C name %s (%s) collides with a name in the generated headers"
                           % (ident, what))
        if ident in runtime:
            raise IdlError(loc, "generated C name %s (%s) collides with libxsp's runtime (xsp/stub.h, "
                           "xsp/dispatch.h or xsp/plugin.h)" % (ident, what))
        mine[key] = "%s at %s" % (what, loc)

    for m in names.program.modules:
        if not m.methods:
            continue
        for k, ident in sorted(module_names(names, m).items()):
            add(ident, m.loc, "module %s %s" % (m.name, k), tag=k in _TAG_KINDS)
        for meth in m.methods:
            for k, ident in sorted(method_names(names, meth).items()):
                add(ident, meth.loc, "%s %s" % (meth.wire_name, k))
    _checked[key] = names

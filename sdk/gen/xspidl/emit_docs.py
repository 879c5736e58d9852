"""emit_docs.py — docs/api.md: the API reference, generated from the IDL.

Owns: the Markdown layout of the reference and the fixed "Wire encoding" chapter (the
encoding is the generator's contract, so its description lives next to the generator).
Everything else comes from the IDL's /// and //! docs and from error.h's one-line meanings.
Never touches: C output.  Output is deterministic (a ctest compares it with docs/api.md).
"""

from .model import (Alias, Enum, ListT, MapT, Optional, Prim, Ref, Str, Struct, Union,
                    concrete)

WIRE_ENCODING = """\
## Wire encoding

Calls travel through the switch (docs/protocol.md) as the payload of a REQUEST and come back
as the payload of a RESULT.  Every payload is exactly one msgpack value.

### Request

A request payload is the map

```
{"method": "Datapath.attach",
 "args":   {"dbg": "vm-start 5f3e", "uri": "vhd+file:///srv/sr1/3.vhd", "domain": "7"}}
```

- `method` (string): `<Interface>.<method>`, as in the headings below.
- `args` (map): one entry per argument, keyed by argument name, `dbg` included.

### Replies

- **Success** (RESULT status 0): the payload is the method's result encoded as its type
  (below); msgpack `nil` for methods without a result.
- **Error** (RESULT status 1): the payload is an [`error_reply`](#type-error_reply) map
  `{"code": str, "message": str, "detail": map<str, str>}` (`detail` optional), e.g.
  `{"code": "activated-on-another-host", "message": "volume 3 is active on host2",
  "detail": {"host": "host2"}}`.  `code` is a wire name from the [Errors](#errors) tables.
- A RESULT status other than 0 and 1 is reported to the caller as `application`, payload
  unread.  A client accepts any known code in an `error_reply`, transport codes included
  (a plugin may pass on a `timeout` of its own); an unknown code reads as `unknown`.

### Calling a plugin

- **Queue.**  A storage plugin serves the queue `org.xen.xsp.storage.<plugin>` unless it
  was started with another; the registrar resolves a URI to the plugin and queue that serve
  it.  Callers that do not use the registrar name the queue themselves.
- **dbg.**  Send the same string as `args.dbg` and as the REQUEST header's `dbg` (the switch
  traces the header's).  Servers log `args.dbg` with everything they do for the call.
- **Bad requests.**  A server that cannot decode a request answers an `error_reply` with
  code `decode` and a message naming the field (`decode` is the one code in the transport
  table a server writes); a request naming a method the server does not know, or does not
  implement, is answered `unimplemented`.
- **Arguments** follow the rules of struct fields: an optional argument may be absent or
  nil, unknown argument names are ignored.
- **Methods without a result** answer msgpack `nil`; a strict client refuses anything else.

### Types

| IDL type | msgpack | C |
|----------|---------|---|
| `string(N)` | str of at most N bytes (UTF-8 by convention, not checked; NUL bytes refused; msgpack bin is refused) | `char *` (NULL reads as "") |
| `bool` | true / false | `bool` |
| `int32`, `int64` | int (any width) in range | `int32_t`, `int64_t` |
| `uint32`, `uint64` | non-negative int (any width) in range | `uint32_t`, `uint64_t` |
| `error_code` | str: a wire name from the Errors tables; unknown names decode as `unknown` | `xsp_code_t` |
| enum | str: the value's name | `xsp_<enum>_t` |
| struct | map keyed by field name | `xsp_<struct>_t` |
| union | map: `"kind"`: the variant's name, plus the variant's fields | `xsp_<union>_t` (`.kind`, `.u.<variant>`) |
| `list<T>(N)` | array of at most N elements | `{size_t len; T *val;}` |
| `map<string, string>(N)` | map of at most N entries with unique string keys | `xsp_string_map_t` |
| `optional<T>` field | absent or nil means absent; encoders leave absent fields out | `char *` NULL, else `bool has_<f>` + value |

Unless a limit is given, strings are at most 4096 bytes, lists 4096 elements and maps 1024
entries.  Independently, the switch refuses payloads over its `max_payload` (1 MiB by
default, docs/protocol.md), which is what bounds a large `SR.ls` in practice.

### Decoding is strict

A payload is refused with error `decode` when: it is not exactly one well-formed msgpack
value (truncated, trailing bytes, a container claiming more elements than there are bytes,
nesting deeper than 24, the payload's own value being depth 1); a value has the wrong msgpack type; a required field is missing; a
key appears twice; an enum value or union kind is unknown; a string, list or map is over its
limit; a string contains a NUL byte; an integer is out of range.  The message names the
method and the path to the value:

```
Datapath.attach result: implementations[1].params: expected string, got integer
```

A repeated key is refused even though many msgpack libraries silently keep the last value:
an implementation in another language needs a duplicate check when it decodes maps.

Map keys a record does not define are ignored, in records, in `args` and in the request
envelope alike, so a newer peer may add optional fields.  Compatible changes: adding an optional
field, a method, an enum value or union kind that old peers will not be sent, an error code
(in error.h first).  Anything else (renaming, removing, retyping, tightening a limit) is not.
"""


def anchor(name):
    return "type-" + name


def tlink(d):
    return "[`%s`](#%s)" % (d.name, anchor(d.name))


def doc_type(t):
    """Markdown for a type expression (optional<> handled by the caller)."""
    if isinstance(t, Optional):
        return doc_type(t.inner)
    if isinstance(t, Ref):
        d = t.target
        if isinstance(d, Alias):
            return "%s = %s" % (tlink(d), doc_type(d.type))
        return tlink(d)
    if isinstance(t, Str):
        return "string (≤ %d bytes)" % t.max
    if isinstance(t, Prim):
        return "`%s`" % t.name
    if isinstance(t, ListT):
        return "list of %s (≤ %d)" % (doc_type(t.elem), t.max)
    if isinstance(t, MapT):
        k, v = concrete(t.key), concrete(t.val)
        return "map string (≤ %d bytes) → string (≤ %d bytes) (≤ %d entries)" % (k.max, v.max, t.max)
    raise AssertionError(t)


def short_type(t):
    """Compact type for signatures."""
    if isinstance(t, Optional):
        return "optional<%s>" % short_type(t.inner)
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
    raise AssertionError(t)


def cell(text):
    """Doc text in a table cell: one line, pipes escaped."""
    if not text:
        return ""
    return " ".join(text.split()).replace("|", "\\|")


def para(text):
    return (text or "").strip()


def _fields_table(fields, names=None, module=None):
    L = ["| field | type | required | description |", "|-------|------|----------|-------------|"]
    for f in fields:
        L.append("| `%s` | %s | %s | %s |" % (f.name, doc_type(f.type), "optional" if f.optional else "yes", cell(f.doc)))
    return L


def _errors(program, names):
    L = ["## Errors", "",
         "Every error reply carries one of these codes (the wire names of `sdk/include/xsp/error.h`;",
         "the C constant is given too).  Clients receive them as `xsp_error_t` values.", ""]
    app = [e for m in program.modules for e in m.errors if not e.transport]
    tr = [e for m in program.modules for e in m.errors if e.transport]
    raisers = {}
    for m in program.modules:
        for meth in m.methods:
            for (w, _loc) in meth.raises:
                raisers.setdefault(w, []).append(meth.wire_name)
    if app:
        L += ["### Errors plugins answer with", "",
              "| code | C | meaning | `detail` keys | returned by |",
              "|------|---|---------|---------------|-------------|"]
        for e in app:
            by = "any method" if e.any_method else ", ".join("[%s](#%s)" % (w, method_anchor(w)) for w in raisers.get(e.wire, [])) or "—"
            keys = ", ".join("`%s`" % k for k in e.detail_keys) or "—"
            L.append("| <a id=\"error-%s\"></a>`%s` | `%s` | %s | %s | %s |" % (
                e.wire, e.wire, e.code.enum, cell(e.doc or e.code.doc), keys, by))
        L.append("")
    if tr:
        L += ["### Transport errors (any call)", ""]
        L += ["These come from the client library or the switch, never from a plugin, so they never",
              "appear in an `error_reply` written by a server.", "",
              "| code | C | meaning |", "|------|---|---------|"]
        for e in tr:
            L.append("| <a id=\"error-%s\"></a>`%s` | `%s` | %s |" % (e.wire, e.wire, e.code.enum, cell(e.doc or e.code.doc)))
        L.append("")
    return L


def method_anchor(wire):
    return "method-" + wire.replace(".", "-").lower()


def _method(names, program, m, meth):
    L = ['<a id="%s"></a>' % method_anchor(meth.wire_name), "#### %s" % meth.wire_name, ""]
    sig_args = ", ".join("%s: %s" % (a.name, short_type(a.type)) for a in meth.all_args)
    res = short_type(meth.result) if meth.result is not None else "()"
    L += ["```", "%s(%s) → %s" % (meth.wire_name, sig_args, res), "```", ""]
    if meth.doc:
        L += [para(meth.doc), ""]
    L += ["| argument | type | description |", "|----------|------|-------------|"]
    for a in meth.all_args:
        t = doc_type(a.type) + (" (optional)" if a.optional else "")
        L.append("| `%s` | %s | %s |" % (a.name, t, cell(a.doc)))
    L.append("")
    if meth.result is not None:
        L.append("**Result:** %s%s" % (doc_type(meth.result), (" — " + cell(meth.result_doc)) if meth.result_doc else ""))
    else:
        L.append("**Result:** none (`nil`).")
    L.append("")
    errs = ["[`%s`](#error-%s)" % (w, w) for (w, _loc) in meth.raises]
    listed = set(w for (w, _loc) in meth.raises)
    anys = [e for e in program.errors.values()
            if e.any_method and not e.transport and e.module is m and e.wire not in listed]
    line = "**Errors:** " + (", ".join(errs) if errs else "none specific")
    if anys:
        line += "; and, like every method, " + ", ".join("[`%s`](#error-%s)" % (e.wire, e.wire) for e in anys)
    L += [line + ".", ""]
    L += ["C: `%s`, `%s_args_encode/decode`, `%s_result_*`%s, method id `%s`." % (
        names.args_type(meth), names.method_base(meth), names.method_base(meth),
        " (`%s` = `%s`)" % (names.result_type(meth), names.ct(meth.result, m).ctype.strip()) if meth.result is not None else "",
        names.method_const(meth)), ""]
    return L


def _type(names, d):
    L = ['<a id="%s"></a>' % anchor(d.name)]
    if isinstance(d, Alias):
        L += ["#### %s (alias)" % d.name, "", "`%s` = %s" % (d.name, doc_type(d.type)), ""]
        if d.doc:
            L += [para(d.doc), ""]
        return L
    L += ["#### %s (%s)" % (d.name, d.kind), ""]
    if d.doc:
        L += [para(d.doc), ""]
    L += ["C: `%s`." % names.type(d), ""]
    if isinstance(d, Enum):
        L += ["| value | C | description |", "|-------|---|-------------|"]
        for v in d.values:
            L.append("| `%s` | `%s` | %s |" % (v.name, names.enum_const(d, v.name), cell(v.doc)))
        L.append("")
    elif isinstance(d, Struct):
        L += _fields_table(d.fields) + [""]
    elif isinstance(d, Union):
        L += ["Encoded as a map whose `\"kind\"` is one of: %s." % ", ".join("`%s`" % v.name for v in d.variants), ""]
        for v in d.variants:
            L.append("- **`%s`** — %s%s" % (v.name, cell(v.doc), "" if v.fields else " (no fields)"))
        L.append("")
        for v in d.variants:
            if v.fields:
                L += ["Fields of `%s` (C: `.u.%s`):" % (v.name, v.name), ""]
                L += _fields_table(v.fields) + [""]
    return L


def emit_docs(names):
    program = names.program
    srcs = ", ".join(m.display_file for m in program.modules)
    L = ["# xsp API reference", "",
         "<!-- Generated by sdk/gen/xspgen.py from %s: do not edit by hand." % srcs,
         "     Refresh: cmake --build <build-dir> --target xsp_idl_docs (ctest idl_docs checks it). -->", "",
         "The reference for every interface, method, argument, result, type and error of the xsp",
         "APIs, generated from the IDL.  [docs/protocol.md](protocol.md) describes the switch",
         "protocol that carries these payloads; this page describes the payloads.", "",
         "## Contents", "",
         "- [Wire encoding](#wire-encoding)",
         "- [Errors](#errors)"]
    for m in program.modules:
        L.append("- [Module `%s`](#module-%s)" % (m.name, m.name))
        for i in m.interfaces:
            L.append("  - [Interface %s](#interface-%s): %s" % (
                i.name, i.name.lower(), ", ".join("[%s](#%s)" % (x.name, method_anchor(x.wire_name)) for x in i.methods)))
        if m.decls:
            L.append("  - Types: " + ", ".join("[%s](#%s)" % (d.name, anchor(d.name)) for d in m.decls))
    L.append("")
    L.append(WIRE_ENCODING)
    L += _errors(program, names)
    for m in program.modules:
        L += ['<a id="module-%s"></a>' % m.name, "## Module `%s`" % m.name, ""]
        if m.doc:
            L += [para(m.doc), ""]
        L += ["Source: `%s`.  C header: `<%s>`." % (m.display_file, names.header(m)), ""]
        if m.common_args:
            L += ["Every method of this module takes first: %s." % ", ".join(
                "`%s` (%s)" % (a.name, doc_type(a.type)) for a in m.common_args), ""]
        for i in m.interfaces:
            L += ['<a id="interface-%s"></a>' % i.name.lower(), "### Interface %s" % i.name, ""]
            if i.doc:
                L += [para(i.doc), ""]
            for meth in i.methods:
                L += _method(names, program, m, meth)
        if m.decls:
            L += ["### Types of `%s`" % m.name, ""]
            for d in m.decls:
                L += _type(names, d)
    while L and L[-1] == "":
        L.pop()
    return "\n".join(L) + "\n"

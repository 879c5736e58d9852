"""cnames.py — how the model maps to C: names, C types and per-type code snippets.

Owns: every C identifier the generator makes (types `<prefix>_<name>_t`, functions
`<prefix>_<name>_<op>`, enum constants), the C representation of each IDL type, which
module owns each generated list type, the check that no two generated identifiers collide,
and `CT` objects giving the C statements to dispose/copy/compare/encode/decode/walk a value.
Never touches: files (emitters write them) or IDL syntax.

Representation rules (also in sdk/idl/README.md):
  string -> char * (NULL reads as "" unless the field is optional, where NULL = absent)
  bool/int32/uint32/int64/uint64 -> bool/int32_t/uint32_t/int64_t/uint64_t
  error_code -> xsp_code_t (wire: its error.h wire name)
  enum E -> <p>_E_t;  struct/union S -> <p>_S_t
  list<string> -> xsp_string_list_t (runtime);  list<T> -> <p>_T_list_t {size_t len; T *val;}
  map<string,string> -> xsp_string_map_t (runtime)
  optional<string> -> char * (NULL = absent);  optional<T> -> bool has_<f>; T <f>;
An all-zero object is always a valid, initialised, empty value.
"""

import re

from .errors import IdlError
from .model import (Alias, Enum, ListT, MapT, Optional, Prim, Ref, Str, Struct, Union,
                    concrete)

C_KEYWORDS = set("""auto break case char const continue default do double else enum extern float
for goto if inline int long register restrict return short signed sizeof static struct switch
typedef union unsigned void volatile while _Bool _Complex _Imaginary bool true false""".split())

PRIM_C = {"bool": "bool", "int32": "int32_t", "uint32": "uint32_t", "int64": "int64_t",
          "uint64": "uint64_t", "error_code": "xsp_code_t"}
PRIM_SUFFIX = {"bool": "bool", "int32": "i32", "uint32": "u32", "int64": "i64", "uint64": "u64",
               "error_code": "code"}


def snake(name):
    """Interface name to C: Datapath -> datapath, SR -> sr, VolumeGroup -> volume_group."""
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return s.lower()


def cstr(s):
    """A C string literal for s (UTF-8, octal escapes so nothing merges with what follows)."""
    out = ['"']
    for b in s.encode("utf-8"):
        c = chr(b)
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif 0x20 <= b < 0x7f and c != "?":      # '?' avoids trigraphs
            out.append(c)
        else:
            out.append("\\%03o" % b)
    out.append('"')
    return "".join(out)


def mp_str_header(n):
    """The msgpack str header for n bytes (the shortest form, as msgpack-c packs it)."""
    if n < 32:
        return bytes([0xa0 | n])
    if n < 0x100:
        return bytes([0xd9, n])
    if n < 0x10000:
        return bytes([0xda, n >> 8, n & 0xff])
    return bytes([0xdb]) + n.to_bytes(4, "big")


def c_bytes(b):
    """A C string literal for the bytes b (3-digit octal escapes: nothing merges)."""
    out = ['"']
    for x in b:
        c = chr(x)
        if c in '"\\?' or not 0x20 <= x < 0x7f:
            out.append("\\%03o" % x)
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


_NOT_AN_END = ("e.g", "i.e", "etc", "vs", "cf")


def first_sentence(doc):
    """The first sentence of a doc (not fooled by "e.g." or "i.e.")."""
    if not doc:
        return ""
    para = " ".join(doc.split("\n\n")[0].split())
    for m in re.finditer(r"\.(?=\s|$)", para):
        word = re.search(r"([A-Za-z.]*)$", para[:m.start()]).group(1).lower()
        if word.strip(".") in _NOT_AN_END:
            continue
        return para[:m.end()]
    return para


def comment_lines(doc, indent="", width=92):
    """doc as the lines of a C comment body (without /* */)."""
    if not doc:
        return []
    out = []
    for para in doc.split("\n\n"):
        words = para.split()
        line = ""
        for w in words:
            if line and len(indent) + len(line) + 1 + len(w) > width:
                out.append(line)
                line = w
            else:
                line = (line + " " + w) if line else w
        if line:
            out.append(line)
        out.append("")
    while out and out[-1] == "":
        out.pop()
    return [l.replace("*/", "* /") for l in out]


# ------------------------------------------------------------------------- per-type snippets

class CT:
    """C snippets for one concrete (non-optional) IDL type.  lv/a/b/src/dst are C lvalues."""
    kind = "?"
    needs_path = False       # does encode/decode need a sub-path of its own?
    is_string = False

    def dispose(self, lv):
        return []

    def copy(self, dst, src):
        return ["%s = %s;" % (dst, src)]

    def equal(self, a, b):
        return "(%s == %s)" % (a, b)


class StrCT(CT):
    kind = "string"
    is_string = True
    ctype = "char *"

    def __init__(self, max):
        self.max = max

    def dispose(self, lv):
        return ["free(%s);" % lv]

    def copy(self, dst, src):
        return ["if (xsp_str_copy(&%s, %s)) goto oom;" % (dst, src)]

    def equal(self, a, b):
        return "xsp_str_equal(%s, %s)" % (a, b)

    def encode(self, v, path):
        return ["XSP_PK(xsp_pk_str(pk, %s));" % v]

    def decode(self, o, out, path):
        return "xsp_dec_str(%s, &%s, %du, %s, err)" % (o, out, self.max, path)

    def read(self, out):
        """C expression: 0 or -1, the fast-path reader (xsp/idl_reader.h)."""
        return "xsp_rd_str(rd, &%s, %du)" % (out, self.max)

    def walk(self, v, e="e"):
        return ["xsp_emit_str(%s, %s);" % (e, v)]


class PrimCT(CT):
    def __init__(self, name):
        self.name = name
        self.kind = name
        self.ctype = PRIM_C[name]
        self.sfx = PRIM_SUFFIX[name]

    def encode(self, v, path):
        return ["XSP_PK(xsp_pk_%s(pk, %s));" % (self.sfx, v)]

    def decode(self, o, out, path):
        return "xsp_dec_%s(%s, &%s, %s, err)" % (self.sfx, o, out, path)

    def read(self, out):
        return "xsp_rd_%s(rd, &%s)" % (self.sfx, out)

    def walk(self, v, e="e"):
        if self.name == "error_code":
            return ["xsp_emit_word(%s, xsp_code_name(%s));" % (e, v)]
        return ["xsp_emit_%s(%s, %s);" % (self.sfx, e, v)]


class EnumCT(CT):
    kind = "enum"
    needs_path = True

    def __init__(self, names, decl):
        self.decl = decl
        self.ctype = names.type(decl)
        self.base = names.base(decl)

    def encode(self, v, path):
        return ["rc = %s_encode_(pk, %s, %s, err);" % (self.base, v, path), "if (rc) return rc;"]

    def decode(self, o, out, path):
        return "%s_decode_(%s, &%s, %s, err)" % (self.base, o, out, path)

    def read(self, out):
        return "%s_read_(rd, &%s)" % (self.base, out)

    def walk(self, v, e="e"):
        return ["xsp_emit_enum(%s, %s_to_string(%s), (int) %s);" % (e, self.base, v, v)]


class RecordCT(CT):
    """struct or union"""
    needs_path = True

    def __init__(self, names, decl):
        self.decl = decl
        self.kind = decl.kind
        self.ctype = names.type(decl)
        self.base = names.base(decl)

    def dispose(self, lv):
        return ["%s_dispose(&%s);" % (self.base, lv)]

    def copy(self, dst, src):
        return ["if (%s_copy(&%s, &%s)) goto oom;" % (self.base, dst, src)]

    def equal(self, a, b):
        return "%s_equal(&%s, &%s)" % (self.base, a, b)

    def encode(self, v, path):
        return ["rc = %s_encode_(pk, &%s, %s, err);" % (self.base, v, path), "if (rc) return rc;"]

    def decode(self, o, out, path):
        return "%s_decode_(%s, &%s, %s, err)" % (self.base, o, out, path)

    def read(self, out):
        return "%s_read_(rd, &%s)" % (self.base, out)

    def walk(self, v, e="e"):
        return ["%s_walk_(%s, &%s);" % (self.base, e, v)]


class StringListCT(CT):
    kind = "list"
    ctype = "xsp_string_list_t"

    def __init__(self, max, elem_max):
        self.max, self.elem_max = max, elem_max
        self.elem = StrCT(elem_max)

    def dispose(self, lv):
        return ["xsp_string_list_dispose(&%s);" % lv]

    def copy(self, dst, src):
        return ["if (xsp_string_list_copy(&%s, &%s)) goto oom;" % (dst, src)]

    def equal(self, a, b):
        return "xsp_string_list_equal(&%s, &%s)" % (a, b)

    def encode(self, v, path):
        return ["XSP_PK(xsp_pk_string_list(pk, &%s));" % v]

    def decode(self, o, out, path):
        return "xsp_dec_string_list(%s, &%s, %du, %du, %s, err)" % (o, out, self.max, self.elem_max, path)

    def read(self, out):
        return "xsp_rd_string_list(rd, &%s, %du, %du)" % (out, self.max, self.elem_max)

    def walk(self, v, e="e"):
        return ["xsp_emit_string_list(%s, &%s);" % (e, v)]


class ListCT(CT):
    """list of a named type or a non-string primitive: a generated <p>_<elem>_list_t."""
    kind = "list"
    needs_path = True

    def __init__(self, info, max):
        self.info, self.max = info, max
        self.ctype = info.ctype
        self.base = info.base
        self.elem = info.elem_ct

    def dispose(self, lv):
        return ["%s_dispose(&%s);" % (self.base, lv)]

    def copy(self, dst, src):
        return ["if (%s_copy(&%s, &%s)) goto oom;" % (self.base, dst, src)]

    def equal(self, a, b):
        return "%s_equal(&%s, &%s)" % (self.base, a, b)

    def encode(self, v, path):
        return ["rc = %s_encode_(pk, &%s, %s, err);" % (self.base, v, path), "if (rc) return rc;"]

    def decode(self, o, out, path):
        return "%s_decode_(%s, &%s, %du, %s, err)" % (self.base, o, out, self.max, path)

    def read(self, out):
        return "%s_read_(rd, &%s, %du)" % (self.base, out, self.max)

    def walk(self, v, e="e"):
        return ["%s_walk_(%s, &%s);" % (self.base, e, v)]


class MapCT(CT):
    kind = "map"
    ctype = "xsp_string_map_t"

    def __init__(self, max, key_max, val_max):
        self.max, self.key_max, self.val_max = max, key_max, val_max

    def dispose(self, lv):
        return ["xsp_string_map_dispose(&%s);" % lv]

    def copy(self, dst, src):
        return ["if (xsp_string_map_copy(&%s, &%s)) goto oom;" % (dst, src)]

    def equal(self, a, b):
        return "xsp_string_map_equal(&%s, &%s)" % (a, b)

    def encode(self, v, path):
        return ["XSP_PK(xsp_pk_string_map(pk, &%s));" % v]

    def decode(self, o, out, path):
        return "xsp_dec_string_map(%s, &%s, %du, %du, %du, %s, err)" % (
            o, out, self.max, self.key_max, self.val_max, path)

    def read(self, out):
        return "xsp_rd_string_map(rd, &%s, %du, %du, %du)" % (out, self.max, self.key_max, self.val_max)

    def walk(self, v, e="e"):
        return ["xsp_emit_string_map(%s, &%s);" % (e, v)]


class ListInfo:
    """A generated list type: <p>_<elem>_list_t, owned (emitted) by one module."""

    def __init__(self, names, owner, elem_t, elem_key):
        self.owner = owner
        self.elem_t = elem_t           # concrete TypeExpr of the element
        self.elem_key = elem_key       # decl name or prim name
        self.base = "%s_%s_list" % (owner.prefix, elem_key)
        self.ctype = self.base + "_t"
        self.elem_ct = None            # filled by Names once every list is known


# ------------------------------------------------------------------------- names

class Names:
    def __init__(self, program):
        self.program = program
        self.lists = {}        # (prefix, elem_key) -> ListInfo
        self._collect_lists()
        for info in self.lists.values():
            info.elem_ct = self.ct(info.elem_t, info.owner)
        self._check_identifiers()

    # -- basic names

    @staticmethod
    def base(decl):
        return "%s_%s" % (decl.module.prefix, decl.name)

    def type(self, decl):
        return self.base(decl) + "_t"

    @staticmethod
    def upper(decl):
        return ("%s_%s" % (decl.module.prefix, decl.name)).upper()

    @staticmethod
    def enum_const(decl, value_name):
        return ("%s_%s_%s" % (decl.module.prefix, decl.name, value_name)).upper()

    @staticmethod
    def header(m):
        return "%s/%s.h" % (m.prefix, m.name)

    @staticmethod
    def guard(m):
        return ("%s_%s_H" % (m.prefix, m.name)).upper()

    # unions
    def kind_type(self, u):
        return self.base(u) + "_kind_t"

    def variant_type(self, u, v):
        return "%s_%s_t" % (self.base(u), v.name)

    # methods
    @staticmethod
    def method_base(m):
        return "%s_%s_%s" % (m.interface.module.prefix, snake(m.interface.name), m.name)

    def args_type(self, m):
        return self.method_base(m) + "_args_t"

    def result_type(self, m):
        return self.method_base(m) + "_result_t"

    @staticmethod
    def method_const(meth):
        mod = meth.interface.module
        return ("%s_%s_METHOD_%s_%s" % (mod.prefix, mod.name, snake(meth.interface.name), meth.name)).upper()

    @staticmethod
    def method_enum_type(mod):
        return "%s_%s_method_t" % (mod.prefix, mod.name)

    @staticmethod
    def method_count(mod):
        return ("%s_%s_METHOD__COUNT" % (mod.prefix, mod.name)).upper()

    @staticmethod
    def module_base(mod):
        return "%s_%s" % (mod.prefix, mod.name)

    @staticmethod
    def method_table(mod):
        return "%s_%s_methods" % (mod.prefix, mod.name)

    # -- types to snippets

    def ct(self, t, module):
        """CT for a concrete or aliased non-optional type used in `module`."""
        t = concrete(t)
        if isinstance(t, Str):
            return StrCT(t.max)
        if isinstance(t, Prim):
            return PrimCT(t.name)
        if isinstance(t, Ref):
            d = t.target
            if isinstance(d, Enum):
                return EnumCT(self, d)
            if isinstance(d, (Struct, Union)):
                return RecordCT(self, d)
        if isinstance(t, MapT):
            return MapCT(t.max, concrete(t.key).max, concrete(t.val).max)
        if isinstance(t, ListT):
            e = concrete(t.elem)
            if isinstance(e, Str):
                return StringListCT(t.max, e.max)
            return ListCT(self.list_info(e, module), t.max)
        raise AssertionError("no C mapping for %r" % t)

    def list_info(self, elem_t, module):
        if isinstance(elem_t, Ref):
            return self.lists[(elem_t.target.module.prefix, elem_t.target.name)]
        return self.lists[(module.prefix, elem_t.name)]

    def field_decl(self, f, module):
        """C member declaration(s) for a field."""
        ct = self.ct(f.type.inner if isinstance(f.type, Optional) else f.type, module)
        if isinstance(f.type, Optional) and not ct.is_string:
            return ["bool has_%s;" % f.name, "%s %s;" % (ct.ctype, f.name)]
        sep = "" if ct.ctype.endswith("*") else " "
        return ["%s%s%s;" % (ct.ctype, sep, f.name)]

    # -- list ownership

    def _all_type_uses(self):
        """(module, TypeExpr) for every type expression written in any module."""
        for m in self.program.modules:
            for d in m.decls:
                if isinstance(d, Alias):
                    yield m, d.type
                elif isinstance(d, Struct):
                    for f in d.fields:
                        yield m, f.type
                elif isinstance(d, Union):
                    for v in d.variants:
                        for f in v.fields:
                            yield m, f.type
            for meth in m.methods:
                for f in meth.all_args:
                    yield m, f.type
                if meth.result is not None:
                    yield m, meth.result

    def _collect_lists(self):
        for m, t in self._all_type_uses():
            if isinstance(t, Optional):
                t = t.inner
            t = concrete(t)
            if not isinstance(t, ListT):
                continue
            e = concrete(t.elem)
            if isinstance(e, Str):
                continue
            if isinstance(e, Ref):
                owner, key = e.target.module, e.target.name
            else:
                owner, key = m, e.name
            k = (owner.prefix, key)
            if k not in self.lists:
                self.lists[k] = ListInfo(self, owner, e, key)

    def lists_owned_by(self, m):
        return [i for i in self.lists.values() if i.owner is m]

    # -- collisions

    def _check_identifiers(self):
        seen = {}

        def add(ident, loc, what):
            if ident in seen:
                raise IdlError(loc, "generated C name %s (%s) collides with %s" % (ident, what, seen[ident]))
            seen[ident] = "%s at %s" % (what, loc)

        rec_ops = ("init", "dispose", "copy", "equal", "encode", "decode", "unpack", "format",
                   "print", "to_json", "encode_", "decode_", "walk_")
        for m in self.program.modules:
            for d in m.types:
                add(self.type(d), d.loc, d.kind + " " + d.name)
                if isinstance(d, Enum):
                    for op in ("to_string", "from_string", "encode_", "decode_", "names_"):
                        add("%s_%s" % (self.base(d), op), d.loc, "enum " + d.name)
                    add(self.upper(d) + "__COUNT", d.loc, "enum " + d.name)
                    for v in d.values:
                        add(self.enum_const(d, v.name), v.loc, "enum value %s.%s" % (d.name, v.name))
                    continue
                for op in rec_ops:
                    add("%s_%s" % (self.base(d), op), d.loc, d.kind + " " + d.name)
                if isinstance(d, Union):
                    add(self.kind_type(d), d.loc, "union " + d.name)
                    for op in ("init_kind", "kind_to_string", "kind_from_string", "kind_names_"):
                        add("%s_%s" % (self.base(d), op), d.loc, "union " + d.name)
                    add(self.upper(d) + "__COUNT", d.loc, "union " + d.name)
                    for v in d.variants:
                        add(self.enum_const(d, v.name), v.loc, "variant %s.%s" % (d.name, v.name))
                        if v.fields:
                            add(self.variant_type(d, v), v.loc, "variant %s.%s" % (d.name, v.name))
                fields = d.fields if isinstance(d, Struct) else [f for v in d.variants for f in v.fields]
                for f in fields:
                    if f.name in C_KEYWORDS:
                        raise IdlError(f.loc, "field name %r is a C keyword" % f.name)
                for v in getattr(d, "variants", []):
                    if v.name in C_KEYWORDS:
                        raise IdlError(v.loc, "variant name %r is a C keyword" % v.name)
            for meth in m.methods:
                mb = self.method_base(meth)
                add(self.args_type(meth), meth.loc, "method %s args" % meth.wire_name)
                add(self.result_type(meth), meth.loc, "method %s result" % meth.wire_name)
                for op in rec_ops:
                    add("%s_args_%s" % (mb, op), meth.loc, "method %s" % meth.wire_name)
                    add("%s_result_%s" % (mb, op), meth.loc, "method %s" % meth.wire_name)
                add(self.method_const(meth), meth.loc, "method %s" % meth.wire_name)
                for f in meth.all_args:
                    if f.name in C_KEYWORDS:
                        raise IdlError(f.loc, "argument name %r is a C keyword" % f.name)
            if m.interfaces:
                add(self.method_enum_type(m), m.loc, "module %s" % m.name)
                add(self.method_table(m), m.loc, "module %s" % m.name)
                add(self.module_base(m) + "_method_lookup", m.loc, "module %s" % m.name)
                add(self.module_base(m) + "_request_method", m.loc, "module %s" % m.name)
        for info in self.lists.values():
            add(info.ctype, info.owner.loc, "list<%s>" % info.elem_key)
            for op in ("init", "dispose", "copy", "equal", "add", "encode_", "decode_", "walk_"):
                add("%s_%s" % (info.base, op), info.owner.loc, "list<%s>" % info.elem_key)

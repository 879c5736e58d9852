"""model.py — what an IDL file means: modules, types, interfaces, methods and errors.

Owns: the in-memory model every emitter reads, name resolution across modules, default
limits, and every semantic check (unknown names, duplicates, nesting rules, by-value
cycles, error codes that error.h does not know).
Never touches: text syntax (parser.py) or any output language (emit_*.py, cnames.py).

Type expressions are Prim, Str, ListT, MapT, Optional or Ref.  A Ref names an Alias, Enum,
Struct or Union; `concrete(t)` looks through aliases.  After `Program.resolve()` every Str
has its `max`, every ListT/MapT its `max`, every Ref its `target`.
"""

import re

from .errors import IdlError

PRIMS = ("bool", "int32", "uint32", "int64", "uint64", "error_code")
INT_RANGES = {
    "int32": (-(1 << 31), (1 << 31) - 1),
    "uint32": (0, (1 << 32) - 1),
    "int64": (-(1 << 63), (1 << 63) - 1),
    "uint64": (0, (1 << 64) - 1),
}
DEFAULT_LIMITS = {"string": 4096, "list": 4096, "map": 1024}
MSGPACK_MAX = (1 << 32) - 1          # msgpack str/array/map lengths are 32-bit
ERROR_CODE_MAX = 64                  # wire names of error codes (XSP_CODE_MAX in wire.h)

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
CAMEL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


# ------------------------------------------------------------------------- type expressions

class TypeExpr:
    loc = None


class Prim(TypeExpr):
    def __init__(self, name, loc=None):
        self.name, self.loc = name, loc

    def __repr__(self):
        return self.name


class Str(TypeExpr):
    def __init__(self, max=None, loc=None):
        self.max, self.loc = max, loc

    def __repr__(self):
        return "string(%s)" % self.max


class ListT(TypeExpr):
    def __init__(self, elem, max=None, loc=None):
        self.elem, self.max, self.loc = elem, max, loc

    def __repr__(self):
        return "list<%r>(%s)" % (self.elem, self.max)


class MapT(TypeExpr):
    def __init__(self, key, val, max=None, loc=None):
        self.key, self.val, self.max, self.loc = key, val, max, loc

    def __repr__(self):
        return "map<%r,%r>(%s)" % (self.key, self.val, self.max)


class Optional(TypeExpr):
    def __init__(self, inner, loc=None):
        self.inner, self.loc = inner, loc

    def __repr__(self):
        return "optional<%r>" % self.inner


class Ref(TypeExpr):
    def __init__(self, name, loc=None):
        self.name, self.loc, self.target = name, loc, None

    def __repr__(self):
        return self.name


def concrete(t):
    """Look through aliases (and only aliases)."""
    seen = 0
    while isinstance(t, Ref) and isinstance(t.target, Alias):
        t = t.target.type
        seen += 1
        if seen > 100:
            raise IdlError(t.loc, "alias loop")
    return t


def is_named(t, cls):
    t = concrete(t)
    return isinstance(t, Ref) and isinstance(t.target, cls)


# ------------------------------------------------------------------------- declarations

class Decl:
    kind = "?"

    def __init__(self, name, doc, loc):
        self.name, self.doc, self.loc = name, doc, loc
        self.module = None


class Alias(Decl):
    kind = "alias"

    def __init__(self, name, type, doc, loc):
        super().__init__(name, doc, loc)
        self.type = type


class EnumValue:
    def __init__(self, name, doc, loc):
        self.name, self.doc, self.loc = name, doc, loc


class Enum(Decl):
    kind = "enum"

    def __init__(self, name, values, doc, loc):
        super().__init__(name, doc, loc)
        self.values = values


class Field:
    def __init__(self, name, type, doc, loc):
        self.name, self.type, self.doc, self.loc = name, type, doc, loc

    @property
    def optional(self):
        return isinstance(self.type, Optional)

    @property
    def value_type(self):
        """The type of the value (without optional<>), aliases resolved."""
        t = self.type.inner if isinstance(self.type, Optional) else self.type
        return concrete(t)


class Struct(Decl):
    kind = "struct"

    def __init__(self, name, fields, doc, loc):
        super().__init__(name, doc, loc)
        self.fields = fields


class Variant:
    kind = "variant"

    def __init__(self, name, fields, doc, loc):
        self.name, self.fields, self.doc, self.loc = name, fields, doc, loc
        self.union = None


class Union(Decl):
    kind = "union"

    def __init__(self, name, variants, doc, loc):
        super().__init__(name, doc, loc)
        self.variants = variants


class Method:
    def __init__(self, name, args, result, result_doc, raises, doc, loc):
        self.name, self.args, self.result, self.result_doc = name, args, result, result_doc
        self.raises, self.doc, self.loc = raises, doc, loc
        self.interface = None
        self.all_args = None     # common args + args, set by resolve()

    @property
    def wire_name(self):
        return "%s.%s" % (self.interface.name, self.name)


class Interface:
    def __init__(self, name, methods, doc, loc):
        self.name, self.methods, self.doc, self.loc = name, methods, doc, loc
        self.module = None


class ErrorDecl:
    def __init__(self, wire, detail_keys, any_method, transport, doc, loc):
        self.wire, self.detail_keys, self.any_method = wire, detail_keys, any_method
        self.transport, self.doc, self.loc = transport, doc, loc
        self.module = None
        self.code = None         # the ErrorCode from error.h, set by resolve()


class Module:
    def __init__(self, name, prefix, doc, loc, file):
        self.name, self.prefix, self.doc, self.loc, self.file = name, prefix, doc, loc, file
        self.display_file = file # path shown in generated banners (set relative by xspgen)
        self.limits = dict(DEFAULT_LIMITS)
        self.decls = []          # Alias/Enum/Struct/Union, in file order
        self.interfaces = []
        self.errors = []         # ErrorDecl (application and transport), in file order
        self.common_args = []    # Fields prepended to every method of this module

    @property
    def types(self):
        return [d for d in self.decls if not isinstance(d, Alias)]

    @property
    def methods(self):
        return [m for i in self.interfaces for m in i.methods]


# ------------------------------------------------------------------------- the program

class Program:
    """Every module given to one generator run, resolved together."""

    def __init__(self, modules, error_codes):
        self.modules = modules
        self.error_codes = error_codes     # wire name -> errorh.ErrorCode
        self.decls = {}                    # type name -> Decl
        self.errors = {}                   # wire name -> ErrorDecl
        self.interfaces = {}               # interface name -> Interface

    def resolve(self):
        seen_modules = {}
        for m in self.modules:
            if m.name in seen_modules:
                raise IdlError(m.loc, "module %s is also defined at %s" % (m.name, seen_modules[m.name].loc))
            seen_modules[m.name] = m
            for d in m.decls:
                if d.name in PRIMS or d.name in ("string", "list", "map", "optional"):
                    raise IdlError(d.loc, "%r is a built-in type name" % d.name)
                if d.name in self.decls:
                    raise IdlError(d.loc, "type %s is also defined at %s" % (d.name, self.decls[d.name].loc))
                if not SNAKE.match(d.name):
                    raise IdlError(d.loc, "type names are snake_case: %r" % d.name)
                d.module = m
                self.decls[d.name] = d
            for e in m.errors:
                if e.wire in self.errors:
                    raise IdlError(e.loc, "error %s is also declared at %s" % (e.wire, self.errors[e.wire].loc))
                code = self.error_codes.get(e.wire)
                if code is None:
                    raise IdlError(e.loc, "error %r is not in xsp/error.h (XSP_ERROR_CODES); add it there first" % e.wire)
                e.code, e.module = code, m
                self.errors[e.wire] = e
        for m in self.modules:
            self._resolve_module(m)
        self._check_cycles()

    # -- types

    def _resolve_type(self, t, m, where, field_level=False):
        """Resolve names and fill default limits in t, used in module m."""
        if isinstance(t, Optional):
            if not field_level:
                raise IdlError(t.loc, "optional<> is only allowed as the type of a field or argument (%s)" % where)
            self._resolve_type(t.inner, m, where)
            if isinstance(concrete(t.inner), Optional):
                raise IdlError(t.loc, "optional<optional<>> (%s)" % where)
            return
        if isinstance(t, Prim):
            return
        if isinstance(t, Str):
            if t.max is None:
                t.max = m.limits["string"]
            self._check_limit(t.max, t.loc, where)
            return
        if isinstance(t, ListT):
            if t.max is None:
                t.max = m.limits["list"]
            self._check_limit(t.max, t.loc, where)
            self._resolve_type(t.elem, m, where)
            e = concrete(t.elem)
            if isinstance(e, (ListT, MapT, Optional)):
                raise IdlError(t.loc, "list elements must be a string, a primitive or a named enum/struct/union, "
                               "not %r (%s): define a struct for it" % (e, where))
            return
        if isinstance(t, MapT):
            if t.max is None:
                t.max = m.limits["map"]
            self._check_limit(t.max, t.loc, where)
            self._resolve_type(t.key, m, where)
            self._resolve_type(t.val, m, where)
            if not isinstance(concrete(t.key), Str) or not isinstance(concrete(t.val), Str):
                raise IdlError(t.loc, "only map<string, string> is supported (%s)" % where)
            return
        if isinstance(t, Ref):
            d = self.decls.get(t.name)
            if d is None:
                raise IdlError(t.loc, "unknown type %r (%s)" % (t.name, where))
            t.target = d
            if isinstance(d, Alias) and isinstance(concrete(t), Optional):
                raise IdlError(t.loc, "alias %s is optional<>; aliases cannot be optional" % d.name)
            return
        raise AssertionError(t)

    @staticmethod
    def _check_limit(n, loc, where):
        if not 1 <= n <= MSGPACK_MAX:
            raise IdlError(loc, "limit %d out of range 1..%d (%s)" % (n, MSGPACK_MAX, where))

    def _resolve_fields(self, fields, m, where, reserved=()):
        names = {}
        for f in fields:
            if not SNAKE.match(f.name):
                raise IdlError(f.loc, "field names are snake_case: %r (%s)" % (f.name, where))
            if f.name in names:
                raise IdlError(f.loc, "duplicate field %r in %s (first at %s)" % (f.name, where, names[f.name].loc))
            if f.name in reserved:
                raise IdlError(f.loc, "field name %r is reserved in %s" % (f.name, where))
            names[f.name] = f
            self._resolve_type(f.type, m, "%s.%s" % (where, f.name), field_level=True)

    def _resolve_module(self, m):
        for d in m.decls:
            if isinstance(d, Alias):
                self._resolve_type(d.type, m, "alias %s" % d.name)
            elif isinstance(d, Enum):
                if not d.values:
                    raise IdlError(d.loc, "enum %s has no values" % d.name)
                seen = set()
                for v in d.values:
                    if not SNAKE.match(v.name):
                        raise IdlError(v.loc, "enum values are snake_case: %r" % v.name)
                    if v.name in seen:
                        raise IdlError(v.loc, "duplicate value %r in enum %s" % (v.name, d.name))
                    seen.add(v.name)
            elif isinstance(d, Struct):
                self._resolve_fields(d.fields, m, "struct %s" % d.name)
            elif isinstance(d, Union):
                if not d.variants:
                    raise IdlError(d.loc, "union %s has no variants" % d.name)
                seen = set()
                for v in d.variants:
                    v.union = d
                    if not SNAKE.match(v.name):
                        raise IdlError(v.loc, "variant names are snake_case: %r" % v.name)
                    if v.name in seen:
                        raise IdlError(v.loc, "duplicate variant %r in union %s" % (v.name, d.name))
                    seen.add(v.name)
                    self._resolve_fields(v.fields, m, "%s.%s" % (d.name, v.name), reserved=("kind",))
        for f in m.common_args:
            self._resolve_type(f.type, m, "common_args", field_level=True)
        for i in m.interfaces:
            i.module = m
            if not CAMEL.match(i.name):
                raise IdlError(i.loc, "interface names are CamelCase or UPPER: %r" % i.name)
            if i.name in self.interfaces:
                raise IdlError(i.loc, "interface %s is also defined at %s" % (i.name, self.interfaces[i.name].loc))
            self.interfaces[i.name] = i
            seen = {}
            for meth in i.methods:
                meth.interface = i
                if not SNAKE.match(meth.name):
                    raise IdlError(meth.loc, "method names are snake_case: %r" % meth.name)
                if meth.name in seen:
                    raise IdlError(meth.loc, "duplicate method %s.%s (first at %s)" % (i.name, meth.name, seen[meth.name].loc))
                seen[meth.name] = meth
                meth.all_args = list(m.common_args) + list(meth.args)
                self._resolve_fields(meth.all_args, m, "%s.%s" % (i.name, meth.name))
                if meth.result is not None:
                    if isinstance(meth.result, Optional):
                        raise IdlError(meth.result.loc, "a result cannot be optional<>")
                    self._resolve_type(meth.result, m, "%s.%s result" % (i.name, meth.name))
                for (wire, loc) in meth.raises:
                    e = self.errors.get(wire)
                    if e is None:
                        raise IdlError(loc, "%s.%s raises %r, which no errors block declares" % (i.name, meth.name, wire))
                    if e.transport:
                        raise IdlError(loc, "%r is a transport error: every call may see it, do not list it" % wire)

    def _check_cycles(self):
        """A struct may not contain itself by value (directly or through other types)."""
        state = {}

        def by_value_deps(d):
            fields = []
            if isinstance(d, Struct):
                fields = d.fields
            elif isinstance(d, Union):
                fields = [f for v in d.variants for f in v.fields]
            for f in fields:
                t = f.value_type
                if isinstance(t, Ref) and isinstance(t.target, (Struct, Union)):
                    yield t.target, f

        def visit(d, path):
            st = state.get(d.name)
            if st == "done":
                return
            if st == "active":
                raise IdlError(d.loc, "type %s contains itself by value (%s); use a list<> to break the cycle"
                               % (d.name, " -> ".join(path + [d.name])))
            state[d.name] = "active"
            for dep, _f in by_value_deps(d):
                visit(dep, path + [d.name])
            state[d.name] = "done"

        for m in self.modules:
            for d in m.types:
                visit(d, [])

    def by_value_order(self, m):
        """m's types ordered so that every type comes after the types it holds by value."""
        order, done = [], set()

        def visit(d):
            if d.name in done:
                return
            done.add(d.name)
            fields = d.fields if isinstance(d, Struct) else \
                [f for v in d.variants for f in v.fields] if isinstance(d, Union) else []
            for f in fields:
                t = f.value_type
                if isinstance(t, Ref) and isinstance(t.target, (Struct, Union, Enum)) and t.target.module is m:
                    visit(t.target)
            order.append(d)

        for d in m.types:
            visit(d)
        return order

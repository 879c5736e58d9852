"""parser.py — the IDL grammar: tokens in, one model.Module out.

Owns: the syntax of every statement (see sdk/idl/README.md for the language).
Never touches: name resolution or checks that need other declarations (model.Program).

    file      := 'module' NAME ('prefix' NAME)? ';' item*
    item      := limits | alias | enum | struct | union | interface | errors | common_args
    limits    := 'limits' '{' (('string'|'list'|'map') '=' INT ';')* '}'
    alias     := 'alias' NAME '=' type ';'
    enum      := 'enum' NAME '{' (NAME ',')* NAME ','? '}'
    struct    := 'struct' NAME '{' fields '}'
    union     := 'union' NAME '{' (NAME ('{' fields '}')? ',')* '}'
    interface := 'interface' NAME '{' method* '}'
    method    := 'method' NAME '(' fields ')' ('returns' type)? ('raises' '(' ERR (',' ERR)* ')')? ';'
    errors    := ('errors' | 'transport_errors') '{' ('any'? ERR ('(' NAME (',' NAME)* ')')? ';')* '}'
    common_args := 'common_args' '(' fields ')' ';'
    fields    := (NAME ':' type ',')* (NAME ':' type)?
    type      := 'string' ('(' INT ')')? | 'list' '<' type '>' ('(' INT ')')?
               | 'map' '<' type ',' type '>' ('(' INT ')')? | 'optional' '<' type '>'
               | 'bool' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'error_code' | NAME

Every item, field, enum value, variant, error and `returns` may be preceded by `///` docs.
"""

from .errors import IdlError
from .lexer import Lexer
from .model import (Alias, Enum, EnumValue, ErrorDecl, Field, Interface, ListT, MapT, Method,
                    Module, Optional, PRIMS, Prim, Ref, Str, Struct, Union, Variant)


# keywords that start something a /// comment may document
_DOCUMENTABLE_KEYWORDS = ("alias", "enum", "struct", "union", "interface", "errors", "transport_errors",
                          "common_args", "method", "returns", "any", "limits")


class Parser:
    def __init__(self, text, filename):
        self.lexer = Lexer(text, filename)
        self.toks = self.lexer.tokens
        self.i = 0
        self.filename = filename

    # -- token helpers

    @property
    def tok(self):
        return self.toks[self.i]

    def advance(self):
        t = self.toks[self.i]
        if t.doc is not None and t.kind == "ident" and t.value in _DOCUMENTABLE_KEYWORDS:
            t.doc_used = True
        if t.kind != "eof":
            self.i += 1
        return t

    def error(self, msg, tok=None):
        tok = tok or self.tok
        found = "end of file" if tok.kind == "eof" else repr(tok.value)
        raise IdlError(tok.loc, "%s, found %s" % (msg, found))

    def at(self, value):
        t = self.tok
        return t.kind in ("punct", "ident") and t.value == value

    def expect(self, value):
        if not self.at(value):
            self.error("expected %r" % value)
        return self.advance()

    def accept(self, value):
        if self.at(value):
            return self.advance()
        return None

    def name(self, what="a name", documented=False):
        t = self.tok
        if t.kind != "ident":
            self.error("expected %s" % what)
        if documented:
            t.doc_used = True
        return self.advance()

    def integer(self):
        t = self.tok
        if t.kind != "int":
            self.error("expected a number")
        return self.advance().value

    # -- grammar

    def parse(self):
        head = self.tok
        if head.doc:
            raise IdlError(head.loc, "/// docs cannot document the module statement: use //! lines")
        self.expect("module")
        name = self.name("the module name")
        prefix = "xsp"
        if self.accept("prefix"):
            prefix = self.name("a C prefix").value
        self.expect(";")
        m = Module(name.value, prefix, self.lexer.module_doc, name.loc, self.filename)
        while self.tok.kind != "eof":
            self.item(m)
        for t in self.toks:
            if t.doc is not None and not t.doc_used:
                raise IdlError(t.loc, "/// doc comment here documents nothing (docs go before items, "
                               "fields, enum values, variants, errors and 'returns')")
        return m

    def item(self, m):
        t = self.tok
        doc = t.doc
        kw = t.value if t.kind == "ident" else None
        if kw == "limits":
            self.limits(m)
        elif kw == "alias":
            self.advance()
            n = self.name("the alias name")
            self.expect("=")
            ty = self.type()
            self.expect(";")
            m.decls.append(Alias(n.value, ty, doc, n.loc))
        elif kw == "enum":
            self.advance()
            n = self.name("the enum name")
            self.expect("{")
            values = []
            while not self.at("}"):
                v = self.name("an enum value", documented=True)
                values.append(EnumValue(v.value, v.doc, v.loc))
                if not self.accept(","):
                    break
            self.expect("}")
            m.decls.append(Enum(n.value, values, doc, n.loc))
        elif kw == "struct":
            self.advance()
            n = self.name("the struct name")
            self.expect("{")
            fields = self.fields("}")
            self.expect("}")
            m.decls.append(Struct(n.value, fields, doc, n.loc))
        elif kw == "union":
            self.advance()
            n = self.name("the union name")
            self.expect("{")
            variants = []
            while not self.at("}"):
                v = self.name("a variant name", documented=True)
                fields = []
                if self.accept("{"):
                    fields = self.fields("}")
                    self.expect("}")
                variants.append(Variant(v.value, fields, v.doc, v.loc))
                if not self.accept(","):
                    break
            self.expect("}")
            m.decls.append(Union(n.value, variants, doc, n.loc))
        elif kw == "interface":
            self.interface(m, doc)
        elif kw in ("errors", "transport_errors"):
            self.errors(m, transport=(kw == "transport_errors"))
        elif kw == "common_args":
            self.advance()
            if m.common_args:
                raise IdlError(t.loc, "common_args given twice")
            self.expect("(")
            m.common_args = self.fields(")")
            self.expect(")")
            self.expect(";")
        else:
            self.error("expected a declaration (limits, alias, enum, struct, union, interface, "
                       "errors, transport_errors, common_args)")

    def limits(self, m):
        self.advance()
        self.expect("{")
        while not self.at("}"):
            k = self.name("string, list or map")
            if k.value not in m.limits:
                raise IdlError(k.loc, "unknown limit %r (string, list or map)" % k.value)
            self.expect("=")
            n = self.integer()
            if n < 1:
                raise IdlError(k.loc, "a limit must be at least 1")
            m.limits[k.value] = n
            self.expect(";")
        self.expect("}")

    def fields(self, close):
        fields = []
        while not self.at(close):
            n = self.name("a field name", documented=True)
            self.expect(":")
            ty = self.type()
            fields.append(Field(n.value, ty, n.doc, n.loc))
            if not self.accept(","):
                break
        return fields

    def opt_limit(self):
        if self.accept("("):
            n = self.integer()
            self.expect(")")
            return n
        return None

    def type(self):
        t = self.name("a type")
        v = t.value
        if v == "string":
            return Str(self.opt_limit(), t.loc)
        if v == "list":
            self.expect("<")
            elem = self.type()
            self.expect(">")
            return ListT(elem, self.opt_limit(), t.loc)
        if v == "map":
            self.expect("<")
            k = self.type()
            self.expect(",")
            val = self.type()
            self.expect(">")
            return MapT(k, val, self.opt_limit(), t.loc)
        if v == "optional":
            self.expect("<")
            inner = self.type()
            self.expect(">")
            return Optional(inner, t.loc)
        if v in PRIMS:
            return Prim(v, t.loc)
        if "-" in v:
            raise IdlError(t.loc, "type names cannot contain '-': %r" % v)
        return Ref(v, t.loc)

    def interface(self, m, doc):
        self.advance()
        n = self.name("the interface name")
        self.expect("{")
        methods = []
        while not self.at("}"):
            mdoc = self.tok.doc
            self.expect("method")
            mn = self.name("the method name")
            self.expect("(")
            args = self.fields(")")
            self.expect(")")
            result = result_doc = None
            if self.at("returns"):
                result_doc = self.tok.doc
                self.advance()
                result = self.type()
            raises = []
            if self.accept("raises"):
                self.expect("(")
                while True:
                    e = self.name("an error name")
                    raises.append((e.value, e.loc))
                    if not self.accept(","):
                        break
                self.expect(")")
            self.expect(";")
            methods.append(Method(mn.value, args, result, result_doc, raises, mdoc, mn.loc))
        self.expect("}")
        m.interfaces.append(Interface(n.value, methods, doc, n.loc))

    def errors(self, m, transport):
        self.advance()
        self.expect("{")
        while not self.at("}"):
            doc = self.tok.doc
            any_method = False
            if self.at("any"):
                if transport:
                    raise IdlError(self.tok.loc, "'any' is implied for transport errors")
                any_method = True
                self.advance()
                doc = doc or self.tok.doc
            e = self.name("an error name (its wire name in error.h, e.g. sr-not-attached)", documented=True)
            keys = []
            if self.accept("("):
                while not self.at(")"):
                    keys.append(self.name("a detail key").value)
                    if not self.accept(","):
                        break
                self.expect(")")
            self.expect(";")
            m.errors.append(ErrorDecl(e.value, keys, any_method or transport, transport, doc, e.loc))
        self.expect("}")


def parse_file(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return Parser(text, path).parse()


def parse_text(text, filename="<text>"):
    return Parser(text, filename).parse()

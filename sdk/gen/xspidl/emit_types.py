"""emit_types.py — <module>_types.c: the life cycle of every generated value.

Owns: enum name tables and to/from string; for records (structs, unions, method args)
init/dispose/copy/equal and union init_kind; for generated list types
init/dispose/copy/equal/add.
Never touches: encoding (emit_msgpack), printing (emit_format), methods (emit_methods).
"""

from .cnames import cstr
from .records import FieldCode, banner, c_prologue, per_type


def _fields_dispose(names, m, fields, acc):
    out = []
    for f in fields:
        fc = FieldCode(names, m, f, acc)
        out += fc.ct.dispose(fc.lv)
    return out


def _fields_copy(names, m, fields, dacc, sacc):
    out = []
    for f in fields:
        d = FieldCode(names, m, f, dacc)
        s = FieldCode(names, m, f, sacc)
        if d.has:
            out.append("if (%s) {" % s.has)
            out.append("    %s = true;" % d.has)
            out += ["    " + l for l in d.ct.copy(d.lv, s.lv)]
            out.append("}")
        else:
            out += d.ct.copy(d.lv, s.lv)
    return out


def _fields_equal(names, m, fields, aacc, bacc):
    terms = []
    for f in fields:
        a = FieldCode(names, m, f, aacc)
        b = FieldCode(names, m, f, bacc)
        if a.has:
            terms.append("(%s == %s && (!%s || %s))" % (a.has, b.has, a.has, a.ct.equal(a.lv, b.lv)))
        elif a.optional:
            terms.append("xsp_optstr_equal(%s, %s)" % (a.lv, b.lv))
        else:
            terms.append(a.ct.equal(a.lv, b.lv))
    return terms


def _uses_oom(lines):
    return any("goto oom" in l for l in lines)


def _record(names, m, r):
    b, t = r.base, r.ctype
    L = []
    L.append("void %s_init(%s *p)" % (b, t))
    L.append("{")
    L.append("    memset(p, 0, sizeof *p);")
    L.append("}")
    L.append("")

    # dispose
    L.append("void %s_dispose(%s *p)" % (b, t))
    L.append("{")
    L.append("    if (p == NULL)")
    L.append("        return;")
    if r.is_union:
        cases = [(v, _fields_dispose(names, m, v.fields, "p->u.%s." % v.name)) for v in r.variants]
        if any(body for _, body in cases):
            L.append("    switch (p->kind) {")
            for v, body in cases:
                if body:
                    L.append("    case %s:" % names.enum_const(r.decl, v.name))
                    L += ["        " + l for l in body]
                    L.append("        break;")
            L.append("    default:")
            L.append("        break;")
            L.append("    }")
    else:
        L += ["    " + l for l in _fields_dispose(names, m, r.fields, "p->")]
    L.append("    memset(p, 0, sizeof *p);")
    L.append("}")
    L.append("")

    # copy
    if r.is_union:
        body = ["dst->kind = src->kind;"]
        cases = [(v, _fields_copy(names, m, v.fields, "dst->u.%s." % v.name, "src->u.%s." % v.name))
                 for v in r.variants]
        if any(c for _, c in cases):
            body.append("switch (src->kind) {")
            for v, c in cases:
                if c:
                    body.append("case %s:" % names.enum_const(r.decl, v.name))
                    body += ["    " + l for l in c]
                    body.append("    break;")
            body.append("default:")
            body.append("    break;")
            body.append("}")
    else:
        body = _fields_copy(names, m, r.fields, "dst->", "src->")
    L.append("int %s_copy(%s *dst, const %s *src)" % (b, t, t))
    L.append("{")
    L.append("    %s_init(dst);" % b)
    if not body:
        L.append("    (void) src;")
    L += ["    " + l for l in body]
    L.append("    return XSP_OK;")
    if _uses_oom(body):
        L.append("oom:")
        L.append("    %s_dispose(dst);" % b)
        L.append("    return XSP_E_SYSTEM;")
    L.append("}")
    L.append("")

    # equal
    L.append("bool %s_equal(const %s *a, const %s *b)" % (b, t, t))
    L.append("{")
    if r.is_union:
        L.append("    if (a->kind != b->kind)")
        L.append("        return false;")
        cases = [(v, _fields_equal(names, m, v.fields, "a->u.%s." % v.name, "b->u.%s." % v.name))
                 for v in r.variants]
        if any(c for _, c in cases):
            L.append("    switch (a->kind) {")
            for v, terms in cases:
                if terms:
                    L.append("    case %s:" % names.enum_const(r.decl, v.name))
                    L.append("        return " + "\n            && ".join(terms) + ";")
            L.append("    default:")
            L.append("        return true;")
            L.append("    }")
        else:
            L.append("    return true;")
    else:
        terms = _fields_equal(names, m, r.fields, "a->", "b->")
        if terms:
            L.append("    return " + "\n        && ".join(terms) + ";")
        else:
            L.append("    (void) a;")
            L.append("    (void) b;")
            L.append("    return true;")
    L.append("}")
    L.append("")

    if r.is_union:
        u = r.decl
        L.append("void %s_init_kind(%s *p, %s_kind_t k)" % (b, t, b))
        L.append("{")
        L.append("    %s_dispose(p);" % b)
        L.append("    p->kind = k;")
        L.append("}")
        L.append("")
        L.append("const char *const %s_kind_names_[%s] = {" % (b, names.upper(u) + "__COUNT"))
        for v in u.variants:
            L.append("    %s," % cstr(v.name))
        L.append("};")
        L.append("")
        L.append("const char *%s_kind_to_string(%s_kind_t k)" % (b, b))
        L.append("{")
        L.append("    return (unsigned) k < %s ? %s_kind_names_[k] : NULL;" % (names.upper(u) + "__COUNT", b))
        L.append("}")
        L.append("")
        L.append("bool %s_kind_from_string(const char *s, size_t len, %s_kind_t *out)" % (b, b))
        L.append("{")
        L.append("    for (unsigned i = 0; i < %s; i++)" % (names.upper(u) + "__COUNT"))
        L.append("        if (strlen(%s_kind_names_[i]) == len && memcmp(%s_kind_names_[i], s, len) == 0) {" % (b, b))
        L.append("            *out = (%s_kind_t) i;" % b)
        L.append("            return true;")
        L.append("        }")
        L.append("    return false;")
        L.append("}")
        L.append("")
    return L


def _enum(names, d):
    b, t, n = names.base(d), names.type(d), names.upper(d) + "__COUNT"
    L = ["const char *const %s_names_[%s] = {" % (b, n)]
    for v in d.values:
        L.append("    %s," % cstr(v.name))
    L += ["};", "",
          "const char *%s_to_string(%s v)" % (b, t), "{",
          "    return (unsigned) v < %s ? %s_names_[v] : NULL;" % (n, b), "}", "",
          "bool %s_from_string(const char *s, size_t len, %s *out)" % (b, t), "{",
          "    for (unsigned i = 0; i < %s; i++)" % n,
          "        if (strlen(%s_names_[i]) == len && memcmp(%s_names_[i], s, len) == 0) {" % (b, b),
          "            *out = (%s) i;" % t,
          "            return true;",
          "        }",
          "    return false;", "}", ""]
    return L


def _list(names, info):
    b, t, e = info.base, info.ctype, info.elem_ct
    L = ["void %s_init(%s *l)" % (b, t), "{", "    l->len = 0;", "    l->val = NULL;", "}", ""]
    disp = e.dispose("l->val[i]")
    L += ["void %s_dispose(%s *l)" % (b, t), "{", "    if (l == NULL)", "        return;"]
    if disp:
        L.append("    for (size_t i = 0; i < l->len; i++)")
        L += ["        " + x for x in disp]
    L += ["    free(l->val);", "    %s_init(l);" % b, "}", ""]
    cp = e.copy("dst->val[i]", "src->val[i]")
    L += ["int %s_copy(%s *dst, const %s *src)" % (b, t, t), "{",
          "    %s_init(dst);" % b,
          "    if (src->len == 0)",
          "        return XSP_OK;",
          "    dst->val = calloc(src->len, sizeof *dst->val);",
          "    if (dst->val == NULL)",
          "        return XSP_E_SYSTEM;",
          "    dst->len = src->len;",
          "    for (size_t i = 0; i < src->len; i++) {"]
    L += ["        " + x for x in cp]
    L += ["    }", "    return XSP_OK;"]
    if _uses_oom(cp):
        L += ["oom:", "    %s_dispose(dst);" % b, "    return XSP_E_SYSTEM;"]
    L += ["}", ""]
    L += ["bool %s_equal(const %s *a, const %s *b)" % (b, t, t), "{",
          "    if (a->len != b->len)", "        return false;",
          "    for (size_t i = 0; i < a->len; i++)",
          "        if (!%s)" % e.equal("a->val[i]", "b->val[i]"),
          "            return false;",
          "    return true;", "}", ""]
    L += ["%s *%s_add(%s *l)" % (e.ctype, b, t), "{",
          "    %s *v;" % e.ctype,
          "    if (l->len >= SIZE_MAX / sizeof *v - 1)",
          "        return NULL;",
          "    v = realloc(l->val, (l->len + 1) * sizeof *v);",
          "    if (v == NULL)",
          "        return NULL;",
          "    l->val = v;",
          "    memset(&v[l->len], 0, sizeof *v);",
          "    return &v[l->len++];", "}", ""]
    return L


def emit_types(names, m):
    L = banner("%s_types.c" % m.name, [m.display_file],
               "init/dispose/copy/equal of the `%s` module's types; enum and union-kind names." % m.name)
    L += c_prologue(names, m)
    L += per_type(names, m, _enum, _list, _record)
    return "\n".join(L)

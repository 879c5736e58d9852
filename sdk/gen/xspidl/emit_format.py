"""emit_format.py — <module>_format.c: printers (human text, one line, JSON).

Owns: one `_walk_` function per type describing its value to an xsp_emit_t, and the public
`_format`, `_print` and `_to_json` wrappers.  How things look is decided by the runtime
(sdk/gen/runtime/idl_emit.c), never here.
Never touches: msgpack, life cycle.
"""

from .cnames import cstr
from .records import FieldCode, banner, module_records


def _walk_fields(names, m, fields, acc):
    L = []
    for f in fields:
        fc = FieldCode(names, m, f, acc)
        body = ["xsp_emit_field(e, %s);" % cstr(f.name)] + fc.ct.walk(fc.lv)
        if fc.optional:
            L.append("if (%s) {" % fc.present())
            L += ["    " + l for l in body]
            L.append("} else {")
            L.append("    xsp_emit_absent(e, %s);" % cstr(f.name))
            L.append("}")
        else:
            L += body
    return L


def printers(base, ctype, walk_call, arg="p"):
    """format/print/to_json around a walker call (also used for method results)."""
    return [
        "int %s_format(xsp_buf_t *b, const %s *%s, int indent)" % (base, ctype, arg), "{",
        "    xsp_emit_t e;", "",
        "    xsp_emit_start(&e, b, xsp_emit_text_mode(indent), indent);",
        "    %s" % walk_call,
        "    return xsp_emit_finish(&e);", "}", "",
        "int %s_print(FILE *f, const %s *%s, int indent)" % (base, ctype, arg), "{",
        "    xsp_buf_t b = XSP_BUF_INIT;",
        "    int rc = %s_format(&b, %s, indent);" % (base, arg),
        "",
        "    if (rc == 0)",
        "        rc = xsp_buf_write(&b, f);",
        "    xsp_buf_dispose(&b);",
        "    return rc;", "}", "",
        "int %s_to_json(xsp_buf_t *b, const %s *%s, int indent)" % (base, ctype, arg), "{",
        "    xsp_emit_t e;", "",
        "    xsp_emit_start(&e, b, xsp_emit_json_mode(indent), indent);",
        "    %s" % walk_call,
        "    return xsp_emit_finish(&e);", "}", ""]


def _record(names, m, r):
    b, t = r.base, r.ctype
    L = ["void %s_walk_(xsp_emit_t *e, const %s *p)" % (b, t), "{", "    xsp_emit_struct_begin(e);"]
    if r.is_union:
        u = r.decl
        L.append('    xsp_emit_field(e, "kind");')
        L.append("    xsp_emit_enum(e, %s_kind_to_string(p->kind), (int) p->kind);" % b)
        cases = [(v, _walk_fields(names, m, v.fields, "p->u.%s." % v.name)) for v in r.variants]
        if any(c for _, c in cases):
            L.append("    switch (p->kind) {")
            for v, c in cases:
                if c:
                    L.append("    case %s:" % names.enum_const(u, v.name))
                    L += ["        " + l for l in c]
                    L.append("        break;")
            L.append("    default:")
            L.append("        break;")
            L.append("    }")
    else:
        body = _walk_fields(names, m, r.fields, "p->")
        if not body:
            L.append("    (void) p;")
        L += ["    " + l for l in body]
    L += ["    xsp_emit_struct_end(e);", "}", ""]
    L += printers(b, t, "%s_walk_(&e, p);" % b)
    return L


def _list(info):
    b, t, e = info.base, info.ctype, info.elem_ct
    L = ["void %s_walk_(xsp_emit_t *e, const %s *l)" % (b, t), "{",
         "    xsp_emit_list_begin(e, l->len);",
         "    for (size_t i = 0; i < l->len; i++) {",
         "        xsp_emit_index(e, i);"]
    L += ["        " + x for x in e.walk("l->val[i]")]
    L += ["    }", "    xsp_emit_list_end(e);", "}", ""]
    return L


def emit_format(names, m):
    L = banner("%s_format.c" % m.name, [m.display_file],
               "walkers and printers (text, one line, JSON) of the `%s` module's types." % m.name)
    L += ['#include "%s"' % names.header(m), ""]
    for info in names.lists_owned_by(m):
        L += _list(info)
    for r in module_records(names, m):
        L += _record(names, m, r)
    return "\n".join(L)

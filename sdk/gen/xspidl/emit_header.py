"""emit_header.py — the public C header of one module: <prefix>/<module>.h.

Owns: the declarations of every generated type and function of a module, with the IDL docs
as comments, in an order C accepts (forward typedefs, enums, list types, records in by-value
order, method args, result typedefs, prototypes, then an "internals" section used only by
other generated code).
Never touches: function bodies (emit_types/emit_msgpack/emit_format/emit_methods).
"""

from .cnames import cstr, first_sentence
from .model import Enum, Union
from .records import (banner, doc_comment, field_comment, module_deps, module_records)


def _record_protos(r):
    b, t = r.base, r.ctype
    out = [
        "void %s_init(%s *p);" % (b, t),
        "void %s_dispose(%s *p);" % (b, t),
        "int  %s_copy(%s *dst, const %s *src);" % (b, t, t),
        "bool %s_equal(const %s *a, const %s *b);" % (b, t, t),
    ]
    if r.is_union:
        out.append("/*  Dispose p (which must be initialised) and make it an empty value of kind k. */")
        out.append("void %s_init_kind(%s *p, %s_kind_t k);" % (b, t, b))
        out.append("const char *%s_kind_to_string(%s_kind_t k);" % (b, b))
        out.append("bool %s_kind_from_string(const char *s, size_t len, %s_kind_t *out);" % (b, b))
    if r.kind == "args":
        out.append("/*  The whole request payload {\"method\": %s, \"args\": {...}}. */" % cstr(r.method.wire_name))
    out += [
        "int  %s_encode(msgpack_packer *pk, const %s *p, xsp_error_t *err);" % (b, t),
        "int  %s_decode(const msgpack_object *o, %s *out, xsp_error_t *err);" % (b, t),
        "int  %s_unpack(const void *buf, size_t len, %s *out, xsp_error_t *err);" % (b, t),
        "int  %s_format(xsp_buf_t *b, const %s *p, int indent);" % (b, t),
        "int  %s_print(FILE *f, const %s *p, int indent);" % (b, t),
        "int  %s_to_json(xsp_buf_t *b, const %s *p, int indent);" % (b, t),
    ]
    return out


def _record_internals(r):
    b, t = r.base, r.ctype
    return [
        "int  %s_encode_(msgpack_packer *pk, const %s *p, const xsp_path_t *path, xsp_error_t *err);" % (b, t),
        "int  %s_decode_(const msgpack_object *o, %s *out, const xsp_path_t *path, xsp_error_t *err);" % (b, t),
        "int  %s_read_(xsp_rd_t *rd, %s *out);" % (b, t),
        "void %s_walk_(xsp_emit_t *e, const %s *p);" % (b, t),
    ]


def _struct_body(names, module, fields, indent="    "):
    out = []
    if not fields:
        out.append(indent + "char unused_;    /* no fields: C needs a member */")
    for f in fields:
        out += doc_comment(field_comment(f), indent)
        out += [indent + d for d in names.field_decl(f, module)]
    return out


def emit_header(names, m):
    L = []
    L += banner(names.header(m), [m.display_file],
                "the C types, codecs, printers and method table of the `%s` module." % m.name,
                extra=["Conventions (every type T below):",
                       "  T_init(p)        make *p empty (an all-zero T is empty too)",
                       "  T_dispose(p)     free everything p owns; p is left empty; safe on empty",
                       "  T_copy(dst, src) deep copy into an empty dst: XSP_OK or XSP_E_SYSTEM",
                       "  T_equal(a, b)    deep comparison (NULL and \"\" are the same required string)",
                       "  T_encode(pk, p, err)       msgpack_pack the value",
                       "  T_decode(o, out, err)      strict decode from a msgpack_object into an empty out;",
                       "                             on error out is left empty and err names the field",
                       "  T_unpack(buf, len, out, err)  validate + unpack bytes, then T_decode",
                       "  T_format(b, p, indent)     human text (indent >= 0) or one line (XSP_FORMAT_LINE)",
                       "  T_print(f, p, indent)      T_format to a FILE*",
                       "  T_to_json(b, p, indent)    JSON, pretty (indent >= 0) or compact (XSP_FORMAT_LINE)",
                       "Fallible functions return XSP_OK (0) or an xsp_code_t and fill err when given."])
    g = names.guard(m)
    L += ["#ifndef " + g, "#define " + g, "",
          "#include <stdbool.h>", "#include <stddef.h>", "#include <stdint.h>", "#include <stdio.h>", "",
          "#include <msgpack.h>", "",
          '#include "xsp/error.h"', '#include "xsp/idl_buf.h"', '#include "xsp/idl_codec.h"',
          '#include "xsp/idl_emit.h"', '#include "xsp/idl_method.h"', '#include "xsp/idl_reader.h"',
          '#include "xsp/idl_strings.h"']
    for d in module_deps(names, m):
        L.append('#include "%s"' % names.header(d))
    L += ["", "#ifdef __cplusplus", 'extern "C" {', "#endif", ""]

    recs = module_records(names, m)
    enums = [d for d in m.types if isinstance(d, Enum)]
    unions = [d for d in m.types if isinstance(d, Union)]

    # forward typedefs
    if recs:
        L.append("/* ------------------------------------------------------------------ types */")
        L.append("")
        for r in recs:
            L.append("typedef struct %s %s;" % (r.base, r.ctype))
            if r.is_union:
                for v in r.variants:
                    if v.fields:
                        L.append("typedef struct %s_%s %s;" % (r.base, v.name, names.variant_type(r.decl, v)))
        L.append("")

    for d in enums:
        L += doc_comment(d.doc)
        L.append("typedef enum {")
        for i, v in enumerate(d.values):
            c = first_sentence(v.doc)
            L.append("    %-40s /* %s */" % ("%s = %d," % (names.enum_const(d, v.name), i), cstr(v.name)[1:-1] + (": " + c if c else "")))
        L.append("    %s" % (names.upper(d) + "__COUNT"))
        L.append("} %s;" % names.type(d))
        L.append("")
    for u in unions:
        L.append("/*  Which variant of %s is set (the \"kind\" on the wire). */" % names.type(u))
        L.append("typedef enum {")
        for i, v in enumerate(u.variants):
            L.append("    %s = %d," % (names.enum_const(u, v.name), i))
        L.append("    %s" % (names.upper(u) + "__COUNT"))
        L.append("} %s;" % names.kind_type(u))
        L.append("")

    lists = names.lists_owned_by(m)
    for info in lists:
        L.append("typedef struct %s {" % info.base)
        L.append("    size_t len;")
        L.append("    %s *val;" % info.elem_ct.ctype)
        L.append("} %s;" % info.ctype)
        L.append("")

    for r in recs:
        rdoc = doc_comment(r.doc if r.kind != "args" else "Arguments of %s." % r.method.wire_name)
        if not r.is_union:
            L += rdoc
        if r.is_union:
            for v in r.variants:
                if not v.fields:
                    continue
                L += doc_comment("kind %s: %s" % (v.name, v.doc or ""))
                L.append("struct %s_%s {" % (r.base, v.name))
                L += _struct_body(names, m, v.fields)
                L.append("};")
            L += rdoc
            L.append("struct %s {" % r.base)
            L.append("    %s_kind_t kind;" % r.base)
            with_fields = [v for v in r.variants if v.fields]
            if with_fields:
                L.append("    union {")
                for v in with_fields:
                    L.append("        %s %s;" % (names.variant_type(r.decl, v), v.name))
                L.append("    } u;")
            L.append("};")
        else:
            L.append("struct %s {" % r.base)
            L += _struct_body(names, m, r.fields)
            L.append("};")
        L.append("")

    # results
    if m.methods:
        L.append("/* ------------------------------------------------------------------ method results */")
        L.append("")
        for meth in m.methods:
            if meth.result is None:
                continue
            ct = names.ct(meth.result, m)
            sep = "" if ct.ctype.endswith("*") else " "
            L.append("typedef %s%s%s;" % (ct.ctype, sep, names.result_type(meth)))
        L.append("")

    # prototypes
    L.append("/* ------------------------------------------------------------------ functions */")
    L.append("")
    for d in enums:
        b, t = names.base(d), names.type(d)
        L.append("/*  %s: wire name of v, or NULL if v is out of range. */" % t)
        L.append("const char *%s_to_string(%s v);" % (b, t))
        L.append("bool %s_from_string(const char *s, size_t len, %s *out);" % (b, t))
        L.append("")
    for info in lists:
        b, t = info.base, info.ctype
        e = info.elem_ct
        L.append("void %s_init(%s *l);" % (b, t))
        L.append("void %s_dispose(%s *l);" % (b, t))
        L.append("int  %s_copy(%s *dst, const %s *src);" % (b, t, t))
        L.append("bool %s_equal(const %s *a, const %s *b);" % (b, t, t))
        L.append("/*  Append an empty element and return it (NULL when out of memory). */")
        L.append("%s *%s_add(%s *l);" % (e.ctype, b, t))
        L.append("")
    for r in recs:
        L.append("/* %s */" % r.ctype)
        L += _record_protos(r)
        L.append("")
    for meth in m.methods:
        mb = names.method_base(meth)
        rt = names.result_type(meth)
        L.append("/* %s result */" % meth.wire_name)
        if meth.result is None:
            L.append("int  %s_result_encode(msgpack_packer *pk, xsp_error_t *err);     /* packs nil */" % mb)
            L.append("int  %s_result_decode(const msgpack_object *o, xsp_error_t *err); /* accepts nil only */" % mb)
            L.append("int  %s_result_unpack(const void *buf, size_t len, xsp_error_t *err);" % mb)
        else:
            L += [
                "void %s_result_init(%s *r);" % (mb, rt),
                "void %s_result_dispose(%s *r);" % (mb, rt),
                "int  %s_result_copy(%s *dst, const %s *src);" % (mb, rt, rt),
                "bool %s_result_equal(const %s *a, const %s *b);" % (mb, rt, rt),
                "int  %s_result_encode(msgpack_packer *pk, const %s *r, xsp_error_t *err);" % (mb, rt),
                "int  %s_result_decode(const msgpack_object *o, %s *out, xsp_error_t *err);" % (mb, rt),
                "int  %s_result_unpack(const void *buf, size_t len, %s *out, xsp_error_t *err);" % (mb, rt),
                "int  %s_result_format(xsp_buf_t *b, const %s *r, int indent);" % (mb, rt),
                "int  %s_result_print(FILE *f, const %s *r, int indent);" % (mb, rt),
                "int  %s_result_to_json(xsp_buf_t *b, const %s *r, int indent);" % (mb, rt),
            ]
        L.append("")

    if m.methods:
        L.append("/* ------------------------------------------------------------------ methods */")
        L.append("")
        L.append("typedef enum {")
        for i, meth in enumerate(m.methods):
            L.append("    %-48s /* %s */" % ("%s = %d," % (names.method_const(meth), i), meth.wire_name))
        L.append("    %s" % names.method_count(m))
        L.append("} %s;" % names.method_enum_type(m))
        L.append("")
        L.append("/*  One row per method, indexed by %s (see xsp/idl_method.h). */" % names.method_enum_type(m))
        L.append("extern const xsp_method_info_t %s[%s];" % (names.method_table(m), names.method_count(m)))
        L.append("/*  The row for a wire name (\"Datapath.attach\"), or NULL. */")
        L.append("const xsp_method_info_t *%s_method_lookup(const char *name, size_t len);" % names.module_base(m))
        L.append("/*  The method a request payload asks for: XSP_OK, XSP_E_DECODE (malformed request) or")
        L.append("    XSP_E_UNIMPLEMENTED (a method this module does not have). */")
        L.append("int %s_request_method(const msgpack_object *req, %s *out, xsp_error_t *err);"
                 % (names.module_base(m), names.method_enum_type(m)))
        L.append("")

    # internals
    L.append("/* ------------------------------------------------------------------ internals")
    L.append("   For other generated code only (paths, walkers); not part of the API. */")
    L.append("")
    for d in enums:
        b, t = names.base(d), names.type(d)
        L.append("extern const char *const %s_names_[%s];" % (b, names.upper(d) + "__COUNT"))
        L.append("int  %s_encode_(msgpack_packer *pk, %s v, const xsp_path_t *path, xsp_error_t *err);" % (b, t))
        L.append("int  %s_decode_(const msgpack_object *o, %s *out, const xsp_path_t *path, xsp_error_t *err);" % (b, t))
        L.append("int  %s_read_(xsp_rd_t *rd, %s *out);" % (b, t))
    for u in unions:
        L.append("extern const char *const %s_kind_names_[%s];" % (names.base(u), names.upper(u) + "__COUNT"))
    for info in lists:
        b, t = info.base, info.ctype
        L.append("int  %s_encode_(msgpack_packer *pk, const %s *l, const xsp_path_t *path, xsp_error_t *err);" % (b, t))
        L.append("int  %s_decode_(const msgpack_object *o, %s *out, size_t max, const xsp_path_t *path, xsp_error_t *err);" % (b, t))
        L.append("int  %s_read_(xsp_rd_t *rd, %s *out, size_t max);" % (b, t))
        L.append("void %s_walk_(xsp_emit_t *e, const %s *l);" % (b, t))
    for r in recs:
        L += _record_internals(r)
    for meth in m.methods:
        L.append("int  %s_result_read_(xsp_rd_t *rd, void *res);" % names.method_base(meth))
    L += ["", "#ifdef __cplusplus", "}", "#endif", "#endif", ""]
    return "\n".join(L)

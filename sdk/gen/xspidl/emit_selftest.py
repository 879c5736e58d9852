"""emit_selftest.py — tables and sample values for the generic self-test (tests/idl).

Owns: for every record, method request and method result of a run, a descriptor
(tests/idl/selftest.h: fields, kinds, limits, type-erased functions) and sample builders:
sample 0 is the empty value, then a "full" value per union variant (unicode strings,
extreme integers, optional fields present, two-element lists and maps) and an "alt" value
(empty strings, the other integer extremes, optional fields present but empty).
Never touches: the API emitters; tests/idl/test_selftest.c decides what to check.
"""

from .cnames import RecordCT, EnumCT, ListCT, MapCT, PrimCT, StrCT, StringListCT, cstr
from .model import Optional, Union
from .records import FieldCode, module_records

MAX_DEPTH = 3
UNICODE = "ünïcødé ✓ 𝄞 "


def _sample_str(label, mode, max_len):
    if mode == 2:
        return ""
    s = UNICODE + label
    if len(s.encode("utf-8")) > max_len:
        s = "x" * min(max_len, 8)
    return s


def _value_desc(names, m, t):
    ct = names.ct(t, m)
    if isinstance(ct, StrCT):
        return "{ ST_STRING, %du, 0, ST_NIL, 0, 0 }" % ct.max
    if isinstance(ct, PrimCT):
        n = ct.name
        if n == "bool":
            return "{ ST_BOOL, 0, 0, ST_NIL, 0, 0 }"
        if n == "error_code":
            return "{ ST_CODE, 64, 0, ST_NIL, 0, 0 }"
        bits = 32 if n.endswith("32") else 64
        return "{ %s, 0, %d, ST_NIL, 0, 0 }" % ("ST_UINT" if n.startswith("u") else "ST_INT", bits)
    if isinstance(ct, EnumCT):
        return "{ ST_ENUM, 0, 0, ST_NIL, 0, 0 }"
    if isinstance(ct, RecordCT):
        return "{ %s, 0, 0, ST_NIL, 0, 0 }" % ("ST_UNION" if ct.kind == "union" else "ST_STRUCT")
    if isinstance(ct, StringListCT):
        return "{ ST_LIST, %du, 0, ST_STRING, %du, 0 }" % (ct.max, ct.elem_max)
    if isinstance(ct, ListCT):
        inner = _value_desc(names, m, ct.info.elem_t)
        elem_kind = inner.split(",")[0].strip("{ ")
        return "{ ST_LIST, %du, 0, %s, 0, 0 }" % (ct.max, elem_kind)
    if isinstance(ct, MapCT):
        return "{ ST_MAP, %du, 0, ST_STRING, %du, %du }" % (ct.max, ct.val_max, ct.key_max)
    raise AssertionError(ct)


def _fill_value(names, m, ct, lv, mode, label, ordinal):
    """C lines setting lvalue lv (already empty) to a sample of the given mode (1 or 2)."""
    if isinstance(ct, StrCT):
        return ["%s = st_strdup(%s);" % (lv, cstr(_sample_str(label, mode, ct.max)))]
    if isinstance(ct, PrimCT):
        vals = {"bool": ("true", "false"), "int32": ("INT32_MIN", "INT32_MAX"),
                "uint32": ("UINT32_MAX", "1"), "int64": ("INT64_MIN", "INT64_MAX"),
                "uint64": ("UINT64_MAX", "1"),
                "error_code": ("XSP_E_ACTIVATED_ON_ANOTHER_HOST", "XSP_E_TIMEOUT")}[ct.name]
        return ["%s = %s;" % (lv, vals[mode - 1])]
    if isinstance(ct, EnumCT):
        d = ct.decl
        v = d.values[-1] if mode == 1 else d.values[len(d.values) // 2]
        return ["%s = %s;" % (lv, names.enum_const(d, v.name))]
    if isinstance(ct, RecordCT):
        if ct.kind == "union":
            nv = len(ct.decl.variants)
            variant = ordinal % nv if mode == 1 else nv - 1
            return ["st_fill_%s(&%s, %d, %d, depth + 1);" % (ct.base, lv, variant, mode)]
        return ["st_fill_%s(&%s, %d, depth + 1);" % (ct.base, lv, mode)]
    if isinstance(ct, StringListCT):
        n = min(2 if mode == 1 else 1, ct.max)
        return ["st_ok(xsp_string_list_append(&%s, %s));" % (lv, cstr(_sample_str("%s[%d]" % (label, i), mode, ct.elem_max)))
                for i in range(n)]
    if isinstance(ct, ListCT):
        n = min(2 if mode == 1 else 1, ct.max)
        L = ["if (depth < %d) {" % MAX_DEPTH]
        for i in range(n):
            L.append("    {")
            L.append("        %s *el = st_nonnull(%s_add(&%s));" % (ct.elem.ctype, ct.base, lv))
            L += ["        " + x for x in _fill_value(names, m, ct.elem, "(*el)", mode, "%s[%d]" % (label, i), i)]
            L.append("    }")
        L.append("}")
        return L
    if isinstance(ct, MapCT):
        if mode == 1:
            L = ["st_ok(xsp_string_map_set(&%s, %s, %s));" % (
                lv, cstr(_sample_str("k", 1, ct.key_max)), cstr(_sample_str(label, 1, ct.val_max)))]
            if ct.max >= 2:
                L.append('st_ok(xsp_string_map_set(&%s, "", ""));' % lv)
            return L
        return ['st_ok(xsp_string_map_set(&%s, "a", ""));' % lv]
    raise AssertionError(ct)


def _fill_fields(names, m, fields, acc, mode):
    L = []
    for i, f in enumerate(fields):
        fc = FieldCode(names, m, f, acc)
        body = _fill_value(names, m, fc.ct, fc.lv, mode, f.name, i)
        if fc.has:
            body = ["%s = true;" % fc.has] + body
        L += body
    return L


def _fill_fn(names, m, r):
    L = []
    if r.is_union:
        u = r.decl
        L.append("static void st_fill_%s(%s *p, int variant, int mode, int depth)" % (r.base, r.ctype))
        L.append("{")
        L.append("    %s_init_kind(p, (%s_kind_t) variant);" % (r.base, r.base))
        L.append("    if (mode == 0 || depth > %d)" % (MAX_DEPTH + 1))
        L.append("        return;")
        L.append("    switch (variant) {")
        for i, v in enumerate(u.variants):
            L.append("    case %d:" % i)
            if v.fields:
                L.append("        if (mode == 1) {")
                L += ["            " + x for x in _fill_fields(names, m, v.fields, "p->u.%s." % v.name, 1)]
                L.append("        } else {")
                L += ["            " + x for x in _fill_fields(names, m, v.fields, "p->u.%s." % v.name, 2)]
                L.append("        }")
            L.append("        break;")
        L.append("    default:")
        L.append("        break;")
        L.append("    }")
        L.append("}")
    else:
        L.append("static void st_fill_%s(%s *p, int mode, int depth)" % (r.base, r.ctype))
        L.append("{")
        if not r.fields:
            L.append("    (void) p;")
        L.append("    if (mode == 0 || depth > %d)" % (MAX_DEPTH + 1))
        L.append("        return;")
        if r.fields:
            L.append("    if (mode == 1) {")
            L += ["        " + x for x in _fill_fields(names, m, r.fields, "p->", 1)]
            L.append("    } else {")
            L += ["        " + x for x in _fill_fields(names, m, r.fields, "p->", 2)]
            L.append("    }")
        L.append("}")
    L.append("")
    return L


def _field_table(names, m, tname, fields):
    if not fields:
        return []
    L = ["static const st_field_t %s[%d] = {" % (tname, len(fields))]
    for f in fields:
        inner = f.type.inner if isinstance(f.type, Optional) else f.type
        L.append("    { %s, %s, %s }," % (cstr(f.name), "false" if f.optional else "true", _value_desc(names, m, inner)))
    L.append("};")
    return L


def _wrap(prefix, base, ctype, encode=True, read=None):
    """type-erased wrappers around a record's (or result's) functions; `read` is the C
    expression running the fast-path reader over (b, n) into p with arena a"""
    w = "st_w_" + prefix
    if read is None:
        read = "(%s_read_(&rd, p) == 0 && xsp_rd_done(&rd) == 0)" % base
    L = [
        "static int %s_read(const void *b, size_t n, void *p, xsp_arena_t *a)" % w,
        "{",
        "    xsp_rd_t rd;",
        "",
        "    xsp_rd_init(&rd, b, n, a);",
        "    return %s ? 0 : -1;" % read,
        "}",
        "static void %s_init(void *p) { %s_init(p); }" % (w, base),
        "static void %s_dispose(void *p) { %s_dispose(p); }" % (w, base),
        "static int %s_copy(void *d, const void *s) { return %s_copy(d, s); }" % (w, base),
        "static bool %s_equal(const void *a, const void *b) { return %s_equal(a, b); }" % (w, base),
        "static int %s_encode(msgpack_packer *pk, const void *p, xsp_error_t *err) { return %s_encode(pk, p, err); }" % (w, base),
        "static int %s_decode(const msgpack_object *o, void *p, xsp_error_t *err) { return %s_decode(o, p, err); }" % (w, base),
        "static int %s_unpack(const void *b, size_t n, void *p, xsp_error_t *err) { return %s_unpack(b, n, p, err); }" % (w, base),
        "static int %s_format(xsp_buf_t *b, const void *p, int i) { return %s_format(b, p, i); }" % (w, base),
        "static int %s_to_json(xsp_buf_t *b, const void *p, int i) { return %s_to_json(b, p, i); }" % (w, base),
    ]
    return w, L


def _funcs(w):
    return ("%s_init, %s_dispose, %s_copy, %s_equal, %s_encode, %s_decode, %s_unpack, %s_format, %s_to_json, %s_read"
            % ((w,) * 10))


def _module(names, m):
    L = ["/* ================================================================== module %s */" % m.name, ""]
    recs = module_records(names, m)
    for r in recs:
        L += _fill_fn(names, m, r)
    rows = []
    for r in recs:
        key = r.base[len(m.prefix) + 1:]
        read = None
        if r.kind == "args":
            read = ("(xsp_read_request(b, n, %s, %s, &%s[%s], &mi, p, a) == 0)"
                    % (names.method_table(m), names.method_count(m), names.method_table(m),
                       names.method_const(r.method)))
            read = "((void) rd, " + read + ")"
        w, wl = _wrap(key, r.base, r.ctype, read=read)
        if r.kind == "args":
            wl[3:3] = ["    const xsp_method_info_t *mi;"]
        L += wl
        if r.is_union:
            vts = []
            for v in r.variants:
                tn = "st_f_%s_%s" % (key, v.name)
                L += _field_table(names, m, tn, v.fields)
                vts.append((v.name, tn if v.fields else "NULL", len(v.fields)))
            L.append("static const st_variant_t st_v_%s[%d] = {" % (key, len(vts)))
            L += ["    { %s, %s, %d }," % (cstr(k), t, n) for (k, t, n) in vts]
            L.append("};")
            nv = len(r.variants)
            L.append("static void st_sample_%s(void *p, int which)" % key)
            L.append("{")
            L.append("    if (which == 0)")
            L.append("        st_fill_%s(p, 0, 0, 0);" % r.base)
            L.append("    else if (which <= %d)" % nv)
            L.append("        st_fill_%s(p, which - 1, 1, 0);" % r.base)
            L.append("    else")
            L.append("        st_fill_%s(p, which - %d, 2, 0);" % (r.base, nv + 1))
            L.append("}")
            nsamples, full = 1 + 2 * nv, list(range(1, nv + 1))
            top = "{ ST_UNION, 0, 0, ST_NIL, 0, 0 }"
        else:
            tn = "st_f_%s" % key
            L += _field_table(names, m, tn, r.fields)
            L.append("static const st_variant_t st_v_%s[1] = { { NULL, %s, %d } };" % (key, tn if r.fields else "NULL", len(r.fields)))
            L.append("static void st_sample_%s(void *p, int which) { st_fill_%s(p, which, 0); }" % (key, r.base))
            nsamples, full, nv = 3, [1], 1
            top = "{ ST_STRUCT, 0, 0, ST_NIL, 0, 0 }"
        role = "ST_ROLE_REQUEST" if r.kind == "args" else "ST_ROLE_TYPE"
        method = cstr(r.method.wire_name) if r.method else "NULL"
        rows.append("    { %s, %s, %s, %s, %s, st_v_%s, %d, %d, { %s }, sizeof(%s), st_sample_%s, %s },"
                    % (cstr(r.label), cstr(r.label), role, method, top, key, nv, nsamples,
                       ", ".join(str(x) for x in full), r.ctype, key, _funcs(w)))
        L.append("")
    for meth in m.methods:
        mb = names.method_base(meth)
        key = "r_" + mb[len(m.prefix) + 1:]
        label = cstr("%s result" % meth.wire_name)
        if meth.result is None:
            w = "st_w_" + key
            L += [
                "static void %s_init(void *p) { (void) p; }" % w,
                "static void %s_dispose(void *p) { (void) p; }" % w,
                "static int %s_copy(void *d, const void *s) { (void) d; (void) s; return 0; }" % w,
                "static bool %s_equal(const void *a, const void *b) { (void) a; (void) b; return true; }" % w,
                "static int %s_encode(msgpack_packer *pk, const void *p, xsp_error_t *err) { (void) p; return %s_result_encode(pk, err); }" % (w, mb),
                "static int %s_decode(const msgpack_object *o, void *p, xsp_error_t *err) { (void) p; return %s_result_decode(o, err); }" % (w, mb),
                "static int %s_unpack(const void *b, size_t n, void *p, xsp_error_t *err) { (void) p; return %s_result_unpack(b, n, err); }" % (w, mb),
                "static int %s_format(xsp_buf_t *b, const void *p, int i) { (void) p; return xsp_format_none(b, i); }" % w,
                "static int %s_to_json(xsp_buf_t *b, const void *p, int i) { (void) p; return xsp_json_null(b, i); }" % w,
                "static void st_sample_%s(void *p, int which) { (void) p; (void) which; }" % key,
                "static int %s_read(const void *b, size_t n, void *p, xsp_arena_t *a)" % w,
                "{",
                "    xsp_rd_t rd;",
                "",
                "    xsp_rd_init(&rd, b, n, a);",
                "    return %s_result_read_(&rd, p) == 0 && xsp_rd_done(&rd) == 0 ? 0 : -1;" % mb,
                "}",
            ]
            rows.append("    { %s, %s, ST_ROLE_RESULT, %s, { ST_NIL, 0, 0, ST_NIL, 0, 0 }, NULL, 0, 1, { 0 }, 1, st_sample_%s, %s },"
                        % (label, label, cstr(meth.wire_name), key, _funcs(w)))
            L.append("")
            continue
        rt = names.result_type(meth)
        w, wl = _wrap(key, mb + "_result", rt,
                      read="(%s_result_read_(&rd, p) == 0 && xsp_rd_done(&rd) == 0)" % mb)
        L += wl
        ct = names.ct(meth.result, m)
        L.append("static void st_sample_%s(void *p, int which)" % key)
        L.append("{")
        L.append("    %s *r = p;" % rt)
        L.append("    int depth = 0;")
        L.append("")
        L.append("    (void) r;")
        L.append("    (void) depth;")
        L.append("    if (which == 1) {")
        L += ["        " + x for x in _fill_value(names, m, ct, "(*r)", 1, "result", 0)]
        L.append("    } else if (which == 2) {")
        L += ["        " + x for x in _fill_value(names, m, ct, "(*r)", 2, "result", 0)]
        L.append("    }")
        L.append("}")
        desc = _value_desc(names, m, meth.result)
        variants, nv = "NULL", 0
        if isinstance(ct, RecordCT):
            rk = ct.base[len(ct.decl.module.prefix) + 1:]
            if ct.decl.module is m:
                variants = "st_v_%s" % rk
                nv = len(ct.decl.variants) if isinstance(ct.decl, Union) else 1
        rows.append("    { %s, %s, ST_ROLE_RESULT, %s, %s, %s, %d, 3, { 1 }, sizeof(%s), st_sample_%s, %s },"
                    % (label, label, cstr(meth.wire_name), desc, variants, nv, rt, key, _funcs(w)))
        L.append("")
    L.append("static const st_type_t st_types_%s[%d] = {" % (m.name, max(len(rows), 1)))
    L += rows or ["    { NULL }"]
    L.append("};")
    L.append("")
    methods = (names.method_table(m), names.method_count(m)) if m.methods else ("NULL", "0")
    L.append("static const st_module_t st_module_%s = { %s, st_types_%s, %d, %s, %s };"
             % (m.name, cstr(m.name), m.name, len(rows), methods[0], methods[1]))
    L.append("")
    return L


def emit_selftest(names):
    program = names.program
    L = ["/*  Self-test tables — GENERATED by sdk/gen/xspgen.py --selftest from %s." % ", ".join(
        m.display_file for m in program.modules),
         "    Owns: descriptors and sample values of every type, request and result (see",
         "    tests/idl/selftest.h); tests/idl/test_selftest.c checks them.  Do not edit. */",
         "#ifndef _POSIX_C_SOURCE", "#define _POSIX_C_SOURCE 200809L", "#endif",
         '#include "selftest.h"', ""]
    for m in program.modules:
        L.append('#include "%s"' % names.header(m))
    L += ["", "#include <stdint.h>", "#include <stdlib.h>", ""]
    # fill functions may call each other across records: declare them all first
    for m in program.modules:
        for r in module_records(names, m):
            if r.is_union:
                L.append("static void st_fill_%s(%s *p, int variant, int mode, int depth);" % (r.base, r.ctype))
            else:
                L.append("static void st_fill_%s(%s *p, int mode, int depth);" % (r.base, r.ctype))
    L.append("")
    for m in program.modules:
        L += _module(names, m)
    L.append("const st_module_t *const st_modules[] = {")
    L += ["    &st_module_%s," % m.name for m in program.modules]
    L += ["    NULL", "};", ""]
    return "\n".join(L)

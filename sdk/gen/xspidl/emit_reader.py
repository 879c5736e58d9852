"""emit_reader.py — <module>_reader.c: the fast-path readers, straight from msgpack bytes.

Owns: `T_read_(xsp_rd_t *rd, T *out)` for every enum, list, record, method args record and
method result of a module (the contract is at the top of xsp/idl_reader.h: accept exactly
what the strict decoders accept, produce the same value, return -1 without a message
anywhere else), and the per-record key lookup (a switch on the key's length, then one
memcmp) that replaces the decoders' table scan — enum values and union kinds are looked
up the same way.
Never touches: error messages and the tree decoders (emit_msgpack), value life cycle
(emit_types: readers fill zeroed memory and never dispose).
"""

from .cnames import cstr
from .records import FieldCode, banner, c_prologue, per_type


def _key_lookup(fname, fields):
    """static inline int fname(const char *k, uint32_t n): the field index, or -1."""
    by_len = {}
    for i, f in enumerate(fields):
        by_len.setdefault(len(f.name.encode("utf-8")), []).append((i, f.name))
    L = ["static inline int %s(const char *k, uint32_t n)" % fname, "{"]
    if not fields:
        L += ["    (void) k;", "    (void) n;", "    return -1;", "}", ""]
        return L
    L.append("    switch (n) {")
    for n in sorted(by_len):
        L.append("    case %d:" % n)
        for i, name in by_len[n]:
            L.append("        if (memcmp(k, %s, %d) == 0)" % (cstr(name), n))
            L.append("            return %d;" % i)
        L.append("        break;")
    L.append("    default:")
    L.append("        break;")
    L.append("    }")
    L.append("    return -1;")
    L.append("}")
    L.append("")
    return L


def _fields_fn(names, m, fname, ctype, fields, skip_kind):
    """static int fname(xsp_rd_t *rd, uint32_t n, ctype *out): the n entries of a map.
    A union variant's takes `int kinds`: how many "kind" entries were read already (the
    union reader consumes a leading one itself)."""
    if len(fields) > 64:
        raise ValueError("%s: more than 64 fields" % ctype)
    L = _key_lookup(fname + "_key", fields)
    req = 0
    for i, f in enumerate(fields):
        if not FieldCode(names, m, f, "out->").optional:
            req |= 1 << i
    if skip_kind:
        L += ["static int %s(xsp_rd_t *rd, uint32_t n, %s *out, int kinds)" % (fname, ctype), "{"]
    else:
        L += ["static int %s(xsp_rd_t *rd, uint32_t n, %s *out)" % (fname, ctype), "{"]
    L.append("    uint64_t seen = 0;")
    L.append("")
    if not fields:
        L.append("    (void) out;")
    L.append("    for (uint32_t i = 0; i < n; i++) {")
    L.append("        const char *k;")
    L.append("        uint32_t kl;")
    L.append("")
    L.append("        if (xsp_rd_key(rd, &k, &kl))")
    L.append("            return -1;")
    if skip_kind:
        L.append('        if (xsp_rd_is(k, kl, "kind", 4)) {')
        # the first "kind" is the one the caller's pre-scan read and checked (a string
        # naming a variant): passing over it needs no validating skip
        L.append("            if (kinds++ || xsp_rd_raw_str(rd, &k, &kl))")
        L.append("                return -1;")
        L.append("            continue;")
        L.append("        }")
    L.append("        switch (%s_key(k, kl)) {" % fname)
    for i, f in enumerate(fields):
        fc = FieldCode(names, m, f, "out->")
        L.append("        case %d:" % i)
        L.append("            if (seen & UINT64_C(0x%x))" % (1 << i))
        L.append("                return -1;")
        L.append("            seen |= UINT64_C(0x%x);" % (1 << i))
        if fc.optional:
            L.append("            if (xsp_rd_nil(rd))")
            L.append("                break;")
        L.append("            if (%s)" % fc.ct.read(fc.lv))
        L.append("                return -1;")
        if fc.has:
            L.append("            %s = true;" % fc.has)
        L.append("            break;")
    L.append("        default:")
    L.append("            if (xsp_rd_skip(rd))")
    L.append("                return -1;")
    L.append("            break;")
    L.append("        }")
    L.append("    }")
    L.append("    return (seen & UINT64_C(0x%x)) == UINT64_C(0x%x) ? 0 : -1;" % (req, req))
    L.append("}")
    L.append("")
    return L


def _record(names, m, r):
    b, t = r.base, r.ctype
    L = []
    if not r.is_union:
        L += _fields_fn(names, m, "rd_%s" % b, t, r.fields, False)
        L += ["int %s_read_(xsp_rd_t *rd, %s *out)" % (b, t), "{",
              "    uint32_t n;", "",
              "    if (xsp_rd_map(rd, &n) || rd_%s(rd, n, out))" % b,
              "        return -1;",
              "    xsp_rd_leave(rd, n);",
              "    return 0;", "}", ""]
        return L
    u = r.decl
    for v in r.variants:
        vt = names.variant_type(u, v) if v.fields else t
        L += _fields_fn(names, m, "rd_%s_%s" % (b, v.name), vt, v.fields, True)
    L += _key_lookup("rd_%s_kind_name" % b, r.variants)
    L += ["int %s_read_(xsp_rd_t *rd, %s *out)" % (b, t), "{",
          "    xsp_rd_t scan = *rd;",
          "    uint32_t n, total;",
          "    int kind = -1, rc, first = 0;", "",
          "    /* the kind first (encoders write it first: then this loop stops at once) */",
          "    if (xsp_rd_map(&scan, &n))",
          "        return -1;",
          "    total = n;",
          "    for (uint32_t i = 0; i < n; i++) {",
          "        const char *k;",
          "        uint32_t kl;", "",
          "        if (xsp_rd_key(&scan, &k, &kl))",
          "            return -1;",
          '        if (xsp_rd_is(k, kl, "kind", 4)) {',
          "            if (kind >= 0 || xsp_rd_raw_str(&scan, &k, &kl) ||",
          "                (kind = rd_%s_kind_name(k, kl)) < 0)" % b,
          "                return -1;",
          "            if (i == 0) {",
          "                first = 1;      /* a second \"kind\" is refused below */",
          "                break;",
          "            }",
          "        } else if (xsp_rd_skip(&scan)) {",
          "            return -1;",
          "        }",
          "    }",
          "    if (kind < 0)",
          "        return -1;",
          "    if (first) {",
          "        *rd = scan;             /* the map header and \"kind\" are read: go on from there */",
          "        n--;",
          "    } else if (xsp_rd_map(rd, &n)) {",
          "        return -1;",
          "    }",
          "    out->kind = (%s_kind_t) kind;" % b,
          "    switch (out->kind) {"]
    for v in r.variants:
        target = "&out->u.%s" % v.name if v.fields else "out"
        L.append("    case %s:" % names.enum_const(u, v.name))
        L.append("        rc = rd_%s_%s(rd, n, %s, first);" % (b, v.name, target))
        L.append("        break;")
    L += ["    default:",
          "        rc = -1;",
          "        break;",
          "    }",
          "    if (rc)",
          "        return -1;",
          "    xsp_rd_leave(rd, total);",
          "    return 0;", "}", ""]
    return L


def _enum(names, d):
    """The value by its wire name: the same switch on the length as record keys."""
    b, t = names.base(d), names.type(d)
    L = _key_lookup("rd_%s_name" % b, d.values)
    return L + ["int %s_read_(xsp_rd_t *rd, %s *out)" % (b, t), "{",
                "    const char *s;",
                "    uint32_t len;",
                "    int v;", "",
                "    if (xsp_rd_raw_str(rd, &s, &len) || (v = rd_%s_name(s, len)) < 0)" % b,
                "        return -1;",
                "    *out = (%s) v;" % t,
                "    return 0;", "}", ""]


def _list(names, info):
    b, t, e = info.base, info.ctype, info.elem_ct
    return ["int %s_read_(xsp_rd_t *rd, %s *out, size_t max)" % (b, t), "{",
            "    uint32_t n;", "",
            "    if (xsp_rd_array(rd, &n) || n > max)",
            "        return -1;",
            "    if (n) {",
            "        out->val = xsp_rd_alloc(rd, n, sizeof *out->val);",
            "        if (out->val == NULL)",
            "            return -1;",
            "        out->len = n;",
            "        for (uint32_t i = 0; i < n; i++)",
            "            if (%s)" % e.read("out->val[i]"),
            "                return -1;",
            "    }",
            "    xsp_rd_leave(rd, n);",
            "    return 0;", "}", ""]


def _result(names, m, meth):
    mb = names.method_base(meth)
    if meth.result is None:
        return ["int %s_result_read_(xsp_rd_t *rd, void *out)" % mb, "{",
                "    (void) out;",
                "    return xsp_rd_nil(rd) ? 0 : -1;", "}", ""]
    rt = names.result_type(meth)
    ct = names.ct(meth.result, m)
    return ["int %s_result_read_(xsp_rd_t *rd, void *res)" % mb, "{",
            "    %s *out = res;" % rt, "",
            "    return %s;" % ct.read("(*out)"), "}", ""]


def emit_reader(names, m):
    L = banner("%s_reader.c" % m.name, [m.display_file],
               "the fast-path readers of the `%s` module's types (xsp/idl_reader.h)." % m.name)
    L += c_prologue(names, m)
    L += per_type(names, m, _enum, _list, _record)
    for meth in m.methods:
        L += _result(names, m, meth)
    return "\n".join(L)

"""emit_msgpack.py — <module>_msgpack.c: msgpack encoders and strict decoders.

Owns: the wire encoding of every type of a module, as fixed in docs/api.md: records are
maps keyed by field name, absent optional fields are left out on encode and may be absent
or nil on decode, unions carry "kind", enums are strings, unknown keys are skipped,
duplicate keys, missing required fields, wrong types and oversize values are refused with
the field path in the message.
Never touches: request envelopes and results (emit_methods), value life cycle (emit_types).
"""

from .cnames import c_bytes, cstr, mp_str_header
from .records import FieldCode, banner, c_prologue, per_type


def _mp_str(s):
    """The msgpack encoding of the string s, header included."""
    b = s.encode("utf-8")
    return mp_str_header(len(b)) + b


def _raw_runs(items):
    """Lines for a sequence of ("raw", bytes, label) and ("code", line) items: adjacent
    constants are written by one xsp_pk_raw (one bounds check, one copy)."""
    L, run, labels = [], b"", []

    def flush():
        if run:
            L.append("XSP_PK(xsp_pk_raw(pk, %s, %d));   /* %s */" % (c_bytes(run), len(run), " ".join(labels)))
    for it in items:
        if it[0] == "raw":
            run += it[1]
            labels.append(it[2])
        else:
            flush()
            run, labels = b"", []
            L.append(it[1])
    flush()
    return L


def _encode_fields(names, m, fields, acc, extra_count=0, head=None):
    """Lines packing a map of `fields` (plus extra_count entries written by `head`, a list
    of ("raw", bytes, label) items).  Without optional fields the map header is a constant
    too, and runs of constants (header, keys, a union's kind) are written at once."""
    fcs = [FieldCode(names, m, f, acc) for f in fields]
    required = sum(1 for fc in fcs if not fc.optional) + extra_count
    items = []
    if any(fc.optional for fc in fcs) or required >= 16:
        L = ["size_t n = %d;" % required]
        for fc in fcs:
            if fc.optional:
                L.append("if (%s)" % fc.present())
                L.append("    n++;")
        L.append("XSP_PK(xsp_pk_map(pk, n));")
        items += [("code", l) for l in L]
    else:
        items.append(("raw", bytes([0x80 | required]), "{%d}" % required))
    items += head or []
    for fc in fcs:
        key = ("raw", _mp_str(fc.name), '"%s"' % fc.name)
        body = []
        if fc.ct.needs_path:
            body.append("{")
            body.append("    xsp_path_t sub = xsp_path_field(path, %s);" % cstr(fc.name))
            body += ["    " + l for l in fc.ct.encode(fc.lv, "&sub")]
            body.append("}")
        else:
            body += fc.ct.encode(fc.lv, "path")
        if fc.optional:
            items.append(("code", "if (%s) {" % fc.present()))
            items += [("code", "    " + l) for l in _raw_runs([key])]
            items += [("code", "    " + l) for l in body]
            items.append(("code", "}"))
        else:
            items.append(key)
            items += [("code", l) for l in body]
    return _raw_runs(items)


def _keys_table(name, fields):
    if not fields:
        return []
    L = ["static const char *const %s[%d] = {" % (name, len(fields))]
    L += ["    %s," % cstr(f.name) for f in fields]
    L.append("};")
    return L


def _required_table(name, fields):
    if not fields:
        return []
    return ["static const unsigned char %s[%d] = { %s };"
            % (name, len(fields), ", ".join("0" if f.optional else "1" for f in fields))]


def _decode_fields_fn(names, m, fname, ctype, fields, keys, req, skip):
    """static int fname(const msgpack_object *o, ctype *out, path, err): fills out's fields."""
    n = len(fields)
    L = ["static int %s(const msgpack_object *o, %s *out, const xsp_path_t *path, xsp_error_t *err)" % (fname, ctype),
         "{"]
    if n:
        L.append("    unsigned char seen[%d] = { 0 };" % n)
    L.append("    int rc;")
    L.append("")
    L.append("    for (uint32_t i = 0; i < o->via.map.size; i++) {")
    L.append("        const msgpack_object_kv *kv = &o->via.map.ptr[i];")
    L.append("        int f;")
    L.append("        rc = xsp_dec_key(kv, %s, %d, %s, %s, &f, path, err);"
             % (keys if n else "NULL", n, "seen" if n else "NULL", cstr(skip) if skip else "NULL"))
    L.append("        if (rc)")
    L.append("            return rc;")
    if n:
        L.append("        switch (f) {")
        for i, f in enumerate(fields):
            fc = FieldCode(names, m, f, "out->")
            L.append("        case %d: {" % i)
            L.append("            xsp_path_t sub = xsp_path_field(path, %s);" % cstr(f.name))
            if fc.optional:
                L.append("            if (kv->val.type == MSGPACK_OBJECT_NIL)")
                L.append("                break;")
            L.append("            rc = %s;" % fc.ct.decode("&kv->val", fc.lv, "&sub"))
            if fc.has:
                L.append("            if (rc == 0)")
                L.append("                %s = true;" % fc.has)
            L.append("            break;")
            L.append("        }")
        L.append("        default:")
        L.append("            rc = 0;")
        L.append("            break;")
        L.append("        }")
        L.append("        if (rc)")
        L.append("            return rc;")
    L.append("    }")
    if n:
        L.append("    return xsp_dec_required(seen, %s, %s, %d, path, err);" % (req, keys, n))
    else:
        L.append("    (void) out;")
        L.append("    return 0;")
    L.append("}")
    L.append("")
    return L


def _public_codec(r, encode_name=None):
    """encode/decode/unpack wrappers with the record's root label."""
    b, t = r.base, r.ctype
    label = cstr(r.label)
    return [
        "int %s_encode(msgpack_packer *pk, const %s *p, xsp_error_t *err)" % (b, t), "{",
        "    xsp_path_t root = xsp_path_root(%s);" % label,
        "    return %s_encode_(pk, p, &root, err);" % b, "}", "",
        "int %s_decode(const msgpack_object *o, %s *out, xsp_error_t *err)" % (b, t), "{",
        "    xsp_path_t root = xsp_path_root(%s);" % label,
        "    return %s_decode_(o, out, &root, err);" % b, "}", "",
        "int %s_unpack(const void *buf, size_t len, %s *out, xsp_error_t *err)" % (b, t), "{",
        "    xsp_path_t root = xsp_path_root(%s);" % label,
        "    msgpack_unpacked up;",
        "    int rc;",
        "",
        "    %s_init(out);" % b,
        "    {",
        "        /* the fast path; what it refuses, the strict decoder explains */",
        "        xsp_rd_t rd;",
        "        xsp_rd_init(&rd, buf, len, NULL);",
        "        if (%s_read_(&rd, out) == 0 && xsp_rd_done(&rd) == 0)" % b,
        "            return XSP_OK;",
        "        %s_dispose(out);" % b,
        "    }",
        "    rc = xsp_idl_unpack(&up, buf, len, &root, err);",
        "    if (rc)",
        "        return rc;",
        "    rc = %s_decode_(&up.data, out, &root, err);" % b,
        "    msgpack_unpacked_destroy(&up);",
        "    return rc;", "}", "",
    ]


def _record(names, m, r):
    b, t = r.base, r.ctype
    L = []
    if r.is_union:
        u = r.decl
        # per-variant field decoders
        for v in r.variants:
            vt = names.variant_type(u, v) if v.fields else t
            keys, req = "%s_%s_keys_" % (b, v.name), "%s_%s_required_" % (b, v.name)
            L += _keys_table(keys, v.fields)
            L += _required_table(req, v.fields)
            L += _decode_fields_fn(names, m, "decode_%s_%s" % (b, v.name), vt, v.fields, keys, req, "kind")
        # encode_
        L.append("int %s_encode_(msgpack_packer *pk, const %s *p, const xsp_path_t *path, xsp_error_t *err)" % (b, t))
        L.append("{")
        L.append("    int rc = 0;")
        L.append("")
        L.append("    switch (p->kind) {")
        for v in r.variants:
            L.append("    case %s: {" % names.enum_const(u, v.name))
            head = [("raw", _mp_str("kind"), '"kind"'), ("raw", _mp_str(v.name), '"%s"' % v.name)]
            if v.fields:
                L.append("        const %s *v = &p->u.%s;" % (names.variant_type(u, v), v.name))
            L += ["        " + l for l in _encode_fields(names, m, v.fields, "v->", 1, head)]
            L.append("        break;")
            L.append("    }")
        L.append("    default: {")
        L.append('        xsp_path_t sub = xsp_path_field(path, "kind");')
        L.append('        return xsp_path_error(err, XSP_E_INVALID_ARGUMENT, &sub, "invalid %s kind %%d", (int) p->kind);' % u.name)
        L.append("    }")
        L.append("    }")
        L.append("    return rc;")
        L.append("}")
        L.append("")
        # decode_
        L.append("int %s_decode_(const msgpack_object *o, %s *out, const xsp_path_t *path, xsp_error_t *err)" % (b, t))
        L.append("{")
        L.append("    int rc, kind;")
        L.append("")
        L.append("    %s_init(out);" % b)
        L.append("    rc = xsp_dec_map(o, path, err);")
        L.append("    if (rc)")
        L.append("        return rc;")
        L.append("    rc = xsp_dec_kind(o, %s_kind_names_, %s, %s, &kind, path, err);"
                 % (b, names.upper(u) + "__COUNT", cstr(u.name)))
        L.append("    if (rc)")
        L.append("        return rc;")
        L.append("    out->kind = (%s_kind_t) kind;" % b)
        L.append("    switch (out->kind) {")
        for v in r.variants:
            L.append("    case %s:" % names.enum_const(u, v.name))
            target = "&out->u.%s" % v.name if v.fields else "out"
            L.append("        rc = decode_%s_%s(o, %s, path, err);" % (b, v.name, target))
            L.append("        break;")
        L.append("    default:")
        L.append("        rc = XSP_E_INTERNAL;")
        L.append("        break;")
        L.append("    }")
        L.append("    if (rc)")
        L.append("        %s_dispose(out);" % b)
        L.append("    return rc;")
        L.append("}")
        L.append("")
    else:
        keys, req = "%s_keys_" % b, "%s_required_" % b
        L += _keys_table(keys, r.fields)
        L += _required_table(req, r.fields)
        L += _decode_fields_fn(names, m, "decode_%s" % b, t, r.fields, keys, req, None)
        L.append("int %s_encode_(msgpack_packer *pk, const %s *p, const xsp_path_t *path, xsp_error_t *err)" % (b, t))
        L.append("{")
        L.append("    int rc = 0;")
        if not r.fields:
            L.append("    (void) p;")
        L += ["    " + l for l in _encode_fields(names, m, r.fields, "p->")]
        L.append("    return rc;")
        L.append("}")
        L.append("")
        L.append("int %s_decode_(const msgpack_object *o, %s *out, const xsp_path_t *path, xsp_error_t *err)" % (b, t))
        L.append("{")
        L.append("    int rc;")
        L.append("")
        L.append("    %s_init(out);" % b)
        L.append("    rc = xsp_dec_map(o, path, err);")
        L.append("    if (rc == 0)")
        L.append("        rc = decode_%s(o, out, path, err);" % b)
        L.append("    if (rc)")
        L.append("        %s_dispose(out);" % b)
        L.append("    return rc;")
        L.append("}")
        L.append("")
    if r.kind != "args":     # requests get their public codec in <module>_methods.c
        L += _public_codec(r)
    return L


def _enum(names, d):
    b, t, n = names.base(d), names.type(d), names.upper(d) + "__COUNT"
    wire = [_mp_str(v.name) for v in d.values]
    return [
        "/* each value's wire form, header included: one xsp_pk_raw per value */",
        "static const char *const %s_wire_[] = {" % b]  + \
        ["    %s," % c_bytes(w) for w in wire] + ["};",
        "static const unsigned char %s_wire_len_[] = { %s };" % (b, ", ".join(str(len(w)) for w in wire)),
        "",
        "int %s_encode_(msgpack_packer *pk, %s v, const xsp_path_t *path, xsp_error_t *err)" % (b, t), "{",
        "    if ((unsigned) v < %s)" % n,
        "        return xsp_pk_raw(pk, %s_wire_[v], %s_wire_len_[v]) ? xsp_enc_io(err, path) : 0;" % (b, b),
        "    return xsp_pk_enum(pk, (int) v, %s_names_, %s, %s, path, err);    /* refuses it */" % (b, n, cstr(d.name)), "}", "",
        "int %s_decode_(const msgpack_object *o, %s *out, const xsp_path_t *path, xsp_error_t *err)" % (b, t), "{",
        "    int v = 0;",
        "    int rc = xsp_dec_enum(o, %s_names_, %s, %s, &v, path, err);" % (b, n, cstr(d.name)),
        "    *out = (%s) v;" % t,
        "    return rc;", "}", ""]


def _list(names, info):
    b, t, e = info.base, info.ctype, info.elem_ct
    L = ["int %s_encode_(msgpack_packer *pk, const %s *l, const xsp_path_t *path, xsp_error_t *err)" % (b, t), "{",
         "    int rc = 0;", "",
         "    XSP_PK(xsp_pk_array(pk, l->len));",
         "    for (size_t i = 0; i < l->len; i++) {",
         "        xsp_path_t sub = xsp_path_index(path, i);"]
    enc = e.encode("l->val[i]", "&sub")
    if not e.needs_path:
        enc = [x.replace("XSP_PK(", "XSP_PK_AT(") for x in enc]
    L += ["        " + x for x in enc]
    L += ["    }", "    return rc;", "}", ""]
    L += ["int %s_decode_(const msgpack_object *o, %s *out, size_t max, const xsp_path_t *path, xsp_error_t *err)" % (b, t), "{",
          "    int rc;", "",
          "    %s_init(out);" % b,
          "    rc = xsp_dec_array(o, max, path, err);",
          "    if (rc || o->via.array.size == 0)",
          "        return rc;",
          "    out->val = xsp_dec_calloc(o->via.array.size, sizeof *out->val, path, err);",
          "    if (out->val == NULL)",
          "        return XSP_E_SYSTEM;",
          "    out->len = o->via.array.size;",
          "    for (size_t i = 0; i < out->len; i++) {",
          "        xsp_path_t sub = xsp_path_index(path, i);",
          "        rc = %s;" % e.decode("&o->via.array.ptr[i]", "out->val[i]", "&sub"),
          "        if (rc) {",
          "            %s_dispose(out);" % b,
          "            return rc;",
          "        }",
          "    }",
          "    return 0;", "}", ""]
    return L


def emit_msgpack(names, m):
    L = banner("%s_msgpack.c" % m.name, [m.display_file],
               "msgpack encode/decode of the `%s` module's types (docs/api.md, \"Wire encoding\")." % m.name)
    L += c_prologue(names, m)
    L += ["/* a packer failure inside a loop, reported at the element's path */",
          "#define XSP_PK_AT(call) do { if ((call) != 0) return xsp_enc_io(err, &sub); } while (0)", ""]
    L += per_type(names, m, _enum, _list, _record)
    return "\n".join(L)

"""emit_methods.py — <module>_methods.c: requests, results and the method table.

Owns: per method, the request payload codec ({"method": "I.m", "args": {...}} around the
args record), the result type's functions (life cycle, codec with root label
"I.m result", printers), and the module's xsp_method_info_t table with the type-erased
wrappers phase-2 client stubs and server dispatch will call.
Never touches: the args record's own fields (emit_types/emit_msgpack/emit_format do those).

Phase 2 hook: client stubs and a server dispatch table are one more emitter each
(emit_client.py, emit_server.py) reading the same model and this table; nothing here has
to change for them.
"""

from .cnames import c_bytes, cstr, first_sentence, mp_str_header
from .emit_format import printers
from .records import args_rec, banner


def _request(names, meth):
    r = args_rec(names, meth)
    b, t = r.base, r.ctype
    label = cstr(r.label)
    wire = cstr(meth.wire_name)
    # {"method": "<wire name>", "args": — packed as one constant
    wb = meth.wire_name.encode("utf-8")
    head = (bytes([0x82]) + mp_str_header(6) + b"method" + mp_str_header(len(wb)) + wb
            + mp_str_header(4) + b"args")
    head_c, head_n = c_bytes(head), len(head)
    return [
        "int %s_encode(msgpack_packer *pk, const %s *p, xsp_error_t *err)" % (b, t), "{",
        "    xsp_path_t root = xsp_path_root(%s);" % label,
        "    const xsp_path_t *path = &root;", "",
        "    XSP_PK(xsp_pk_raw(pk, %s, %d));   /* {\"method\": %s, \"args\": */" % (head_c, head_n, meth.wire_name),
        "    return %s_encode_(pk, p, &root, err);" % b, "}", "",
        "int %s_decode(const msgpack_object *o, %s *out, xsp_error_t *err)" % (b, t), "{",
        "    xsp_path_t root = xsp_path_root(%s);" % label,
        "    const msgpack_object *args;",
        "    int rc;", "",
        "    %s_init(out);" % b,
        "    rc = xsp_dec_request(o, %s, &args, err);" % wire,
        "    if (rc)",
        "        return rc;",
        "    return %s_decode_(args, out, &root, err);" % b, "}", "",
        "int %s_unpack(const void *buf, size_t len, %s *out, xsp_error_t *err)" % (b, t), "{",
        '    xsp_path_t root = xsp_path_root("request");',
        "    msgpack_unpacked up;",
        "    int rc;", "",
        "    %s_init(out);" % b,
        "    {",
        "        /* the fast path; what it refuses, the strict decoder explains */",
        "        const xsp_method_info_t *mi;",
        "        if (xsp_read_request(buf, len, %s, %s, &%s[%s], &mi, out, NULL) == 0)"
        % (names.method_table(meth.interface.module), names.method_count(meth.interface.module),
           names.method_table(meth.interface.module), names.method_const(meth)),
        "            return XSP_OK;",
        "        %s_dispose(out);" % b,
        "    }",
        "    rc = xsp_idl_unpack(&up, buf, len, &root, err);",
        "    if (rc)",
        "        return rc;",
        "    rc = %s_decode(&up.data, out, err);" % b,
        "    msgpack_unpacked_destroy(&up);",
        "    return rc;", "}", ""]


def _result(names, m, meth):
    mb = names.method_base(meth)
    label = cstr("%s result" % meth.wire_name)
    if meth.result is None:
        return [
            "int %s_result_encode(msgpack_packer *pk, xsp_error_t *err)" % mb, "{",
            "    xsp_path_t root = xsp_path_root(%s);" % label,
            "    const xsp_path_t *path = &root;", "",
            "    XSP_PK(msgpack_pack_nil(pk));",
            "    return 0;", "}", "",
            "int %s_result_decode(const msgpack_object *o, xsp_error_t *err)" % mb, "{",
            "    xsp_path_t root = xsp_path_root(%s);" % label, "",
            "    return xsp_dec_nil(o, &root, err);", "}", "",
            "int %s_result_unpack(const void *buf, size_t len, xsp_error_t *err)" % mb, "{",
            "    xsp_path_t root = xsp_path_root(%s);" % label,
            "    msgpack_unpacked up;",
            "    xsp_rd_t rd;",
            "    int rc;", "",
            "    xsp_rd_init(&rd, buf, len, NULL);",
            "    if (%s_result_read_(&rd, NULL) == 0 && xsp_rd_done(&rd) == 0)" % mb,
            "        return XSP_OK;",
            "    rc = xsp_idl_unpack(&up, buf, len, &root, err);",
            "    if (rc)",
            "        return rc;",
            "    rc = xsp_dec_nil(&up.data, &root, err);",
            "    msgpack_unpacked_destroy(&up);",
            "    return rc;", "}", ""]
    rt = names.result_type(meth)
    ct = names.ct(meth.result, m)
    L = ["void %s_result_init(%s *r)" % (mb, rt), "{", "    memset(r, 0, sizeof *r);", "}", ""]
    L += ["void %s_result_dispose(%s *r)" % (mb, rt), "{", "    if (r == NULL)", "        return;"]
    L += ["    " + l for l in ct.dispose("(*r)")]
    L += ["    memset(r, 0, sizeof *r);", "}", ""]
    cp = ct.copy("(*dst)", "(*src)")
    L += ["int %s_result_copy(%s *dst, const %s *src)" % (mb, rt, rt), "{",
          "    %s_result_init(dst);" % mb]
    L += ["    " + l for l in cp]
    L.append("    return XSP_OK;")
    if any("goto oom" in l for l in cp):
        L += ["oom:", "    %s_result_dispose(dst);" % mb, "    return XSP_E_SYSTEM;"]
    L += ["}", ""]
    L += ["bool %s_result_equal(const %s *a, const %s *b)" % (mb, rt, rt), "{",
          "    return %s;" % ct.equal("(*a)", "(*b)"), "}", ""]
    L += ["int %s_result_encode(msgpack_packer *pk, const %s *r, xsp_error_t *err)" % (mb, rt), "{",
          "    xsp_path_t root = xsp_path_root(%s);" % label,
          "    const xsp_path_t *path = &root;",
          "    int rc = 0;", ""]
    L += ["    " + l for l in ct.encode("(*r)", "&root")]
    L += ["    (void) path;", "    return rc;", "}", ""]
    L += ["int %s_result_decode(const msgpack_object *o, %s *out, xsp_error_t *err)" % (mb, rt), "{",
          "    xsp_path_t root = xsp_path_root(%s);" % label, "",
          "    %s_result_init(out);" % mb,
          "    return %s;" % ct.decode("o", "(*out)", "&root"), "}", ""]
    L += ["int %s_result_unpack(const void *buf, size_t len, %s *out, xsp_error_t *err)" % (mb, rt), "{",
          "    xsp_path_t root = xsp_path_root(%s);" % label,
          "    msgpack_unpacked up;",
          "    int rc;", "",
          "    %s_result_init(out);" % mb,
          "    {",
          "        /* the fast path; what it refuses, the strict decoder explains */",
          "        xsp_rd_t rd;",
          "        xsp_rd_init(&rd, buf, len, NULL);",
          "        if (%s_result_read_(&rd, out) == 0 && xsp_rd_done(&rd) == 0)" % mb,
          "            return XSP_OK;",
          "        %s_result_dispose(out);" % mb,
          "    }",
          "    rc = xsp_idl_unpack(&up, buf, len, &root, err);",
          "    if (rc)",
          "        return rc;",
          "    rc = %s_result_decode(&up.data, out, err);" % mb,
          "    msgpack_unpacked_destroy(&up);",
          "    return rc;", "}", ""]
    walk = " ".join(ct.walk("(*r)", "&e"))
    L += printers(mb + "_result", rt, walk, arg="r")
    return L


def _raises(names, program, meth):
    codes = [program.errors[w].code.enum for (w, _loc) in meth.raises]
    for e in program.errors.values():
        if e.any_method and not e.transport and e.module is meth.interface.module and e.code.enum not in codes:
            codes.append(e.code.enum)
    return codes


def _wrappers(names, program, m, meth):
    mb = names.method_base(meth)
    at, rt = names.args_type(meth), names.result_type(meth)
    w = "w_" + mb[len(m.prefix) + 1:]
    L = [
        "static void %s_args_init(void *a) { %s_args_init(a); }" % (w, mb),
        "static void %s_args_dispose(void *a) { %s_args_dispose(a); }" % (w, mb),
        "static int %s_args_encode(msgpack_packer *pk, const void *a, xsp_error_t *err) { return %s_args_encode(pk, a, err); }" % (w, mb),
        "static int %s_args_decode(const msgpack_object *o, void *a, xsp_error_t *err) { return %s_args_decode(o, a, err); }" % (w, mb),
        "static int %s_args_read(xsp_rd_t *rd, void *a) { return %s_args_read_(rd, a); }" % (w, mb),
        "static int %s_args_format(xsp_buf_t *b, const void *a, int indent) { return %s_args_format(b, a, indent); }" % (w, mb),
        "static int %s_args_to_json(xsp_buf_t *b, const void *a, int indent) { return %s_args_to_json(b, a, indent); }" % (w, mb),
    ]
    if meth.result is None:
        L += [
            "static void %s_result_init(void *r) { (void) r; }" % w,
            "static void %s_result_dispose(void *r) { (void) r; }" % w,
            "static int %s_result_encode(msgpack_packer *pk, const void *r, xsp_error_t *err) { (void) r; return %s_result_encode(pk, err); }" % (w, mb),
            "static int %s_result_decode(const msgpack_object *o, void *r, xsp_error_t *err) { (void) r; return %s_result_decode(o, err); }" % (w, mb),
            "static int %s_result_format(xsp_buf_t *b, const void *r, int indent) { (void) r; return xsp_format_none(b, indent); }" % w,
            "static int %s_result_to_json(xsp_buf_t *b, const void *r, int indent) { (void) r; return xsp_json_null(b, indent); }" % w,
        ]
    else:
        L += [
            "static void %s_result_init(void *r) { %s_result_init(r); }" % (w, mb),
            "static void %s_result_dispose(void *r) { %s_result_dispose(r); }" % (w, mb),
            "static int %s_result_encode(msgpack_packer *pk, const void *r, xsp_error_t *err) { return %s_result_encode(pk, r, err); }" % (w, mb),
            "static int %s_result_decode(const msgpack_object *o, void *r, xsp_error_t *err) { return %s_result_decode(o, r, err); }" % (w, mb),
            "static int %s_result_format(xsp_buf_t *b, const void *r, int indent) { return %s_result_format(b, r, indent); }" % (w, mb),
            "static int %s_result_to_json(xsp_buf_t *b, const void *r, int indent) { return %s_result_to_json(b, r, indent); }" % (w, mb),
        ]
    codes = _raises(names, program, meth)
    L.append("static const xsp_code_t %s_raises[%d] = { %s };" % (w, max(len(codes), 1), ", ".join(codes) or "XSP_OK"))
    L.append("")
    row = [
        "    [%s] = {" % names.method_const(meth),
        "        %s, %s, %s," % (cstr(meth.wire_name), cstr(meth.interface.name), cstr(meth.name)),
        "        %s," % cstr(first_sentence(meth.doc)),
        "        %s, %s, %s_raises, %d," % (names.method_const(meth), "true" if meth.result is not None else "false", w, len(codes)),
        "        sizeof(%s), %s_args_init, %s_args_dispose, %s_args_encode, %s_args_decode," % (at, w, w, w, w),
        "        %s_args_format, %s_args_to_json," % (w, w),
        "        %s, %s_result_init, %s_result_dispose, %s_result_encode," % ("sizeof(%s)" % rt if meth.result is not None else "0", w, w, w),
        "        %s_result_decode, %s_result_format, %s_result_to_json," % (w, w, w),
        "        %s_args_read, %s_result_read_, %d," % (w, mb, len(meth.wire_name.encode("utf-8"))),
        "    },",
    ]
    return L, row


def emit_methods(names, m):
    program = names.program
    L = banner("%s_methods.c" % m.name, [m.display_file],
               "request payloads, results and the method table of the `%s` module." % m.name)
    L += ["#ifndef _POSIX_C_SOURCE", "#define _POSIX_C_SOURCE 200809L", "#endif",
          '#include "%s"' % names.header(m), "",
          "#include <stdint.h>", "#include <stdlib.h>", "#include <string.h>", ""]
    if not m.methods:
        L.append("/* this module declares no interfaces */")
        L.append("typedef int %s_no_methods_;" % names.module_base(m))
        return "\n".join(L) + "\n"
    rows = []
    for meth in m.methods:
        L.append("/* ------------------------------------------------------------------ %s */" % meth.wire_name)
        L.append("")
        L += _request(names, meth)
        L += _result(names, m, meth)
        w, row = _wrappers(names, program, m, meth)
        L += w
        rows += row
    L.append("/* ------------------------------------------------------------------ table */")
    L.append("")
    L.append("const xsp_method_info_t %s[%s] = {" % (names.method_table(m), names.method_count(m)))
    L += rows
    L.append("};")
    L.append("")
    mb = names.module_base(m)
    L += ["const xsp_method_info_t *%s_method_lookup(const char *name, size_t len)" % mb, "{",
          "    return xsp_method_find(%s, %s, name, len);" % (names.method_table(m), names.method_count(m)), "}", "",
          "int %s_request_method(const msgpack_object *req, %s *out, xsp_error_t *err)" % (mb, names.method_enum_type(m)), "{",
          "    const xsp_method_info_t *info = NULL;",
          "    int rc = xsp_request_method(req, %s, %s, &info, err);" % (names.method_table(m), names.method_count(m)), "",
          "    if (rc == 0)",
          "        *out = (%s) info->id;" % names.method_enum_type(m),
          "    return rc;", "}", ""]
    return "\n".join(L)

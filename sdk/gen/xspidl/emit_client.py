"""emit_client.py — typed client stubs: <prefix>/<module>_client.h and <module>_client.c.

Owns: per method of every interface of a module, the synchronous stub (flat arguments in IDL
order, typed result out-parameter), the asynchronous stub with its typed completion
callback, and the stub taking a ready args struct (which also hands back the plugin's
error_reply).  All of them call libxsp's hand-written runtime (xsp/stub.h) with the method's
row of the table emit_methods.py generates; the `dbg` argument (common_args) is also sent as
the switch REQUEST dbg so it shows in traces.
Never touches: encoding, decoding or types (emit_methods/emit_msgpack/emit_types do those),
the server side (emit_server.py), names it does not own (see rpc.py).
"""

import textwrap

from .cnames import first_sentence
from .records import banner
from .rpc import (check_names, dbg_arg, flat_args, method_names, ptr, raises, result_ct, row,
                  wrap_proto)


def _header_name(names, m):
    return "%s/%s_client.h" % (m.prefix, m.name)


def _guard(m):
    return ("%s_%s_CLIENT_H" % (m.prefix, m.name)).upper()


def _sync_params(names, m, meth):
    rct = result_ct(names, m, meth)
    ps = ["xsp_client_t *client", "const char *queue", "const xsp_call_opts_t *opts"]
    ps += [a.cdecl for a in flat_args(names, m, meth)]
    if rct is not None:
        ps.append(ptr(rct.ctype, "result"))
    ps.append("xsp_error_t *err")
    return ps


def _send_params(names, m, meth):
    n = method_names(names, meth)
    ps = ["xsp_client_t *client", "const char *queue", "const xsp_call_opts_t *opts"]
    ps += [a.cdecl for a in flat_args(names, m, meth)]
    ps += ["%s *cb" % n["done_fn"], "void *arg", "uint64_t *call_id", "xsp_error_t *err"]
    return ps


def _done_params(names, m, meth):
    rct = result_ct(names, m, meth)
    ps = ["xsp_client_t *client", "uint64_t call_id", "const xsp_error_t *err"]
    if rct is not None:
        ps.append(ptr(rct.ctype, "result"))
    ps += ["const xsp_error_reply_t *error_reply", "void *arg"]
    return ps


def _args_call_params(names, m, meth):
    rct = result_ct(names, m, meth)
    ps = ["xsp_client_t *client", "const char *queue", "const xsp_call_opts_t *opts",
          "const %s *args" % names.args_type(meth)]
    if rct is not None:
        ps.append(ptr(rct.ctype, "result"))
    ps += ["xsp_error_reply_t *error_reply", "xsp_error_t *err"]
    return ps


def _method_doc(names, m, meth):
    args = flat_args(names, m, meth)
    lines = ["/*  %s: %s" % (meth.wire_name, first_sentence(meth.doc) or "(undocumented)")]
    if args:
        notes = ["%s%s" % (a.param, " (%s)" % a.doc() if a.doc() else "") for a in args]
        lines.append("    Args: %s; see %s." % (", ".join(notes), names.args_type(meth)))
    if meth.result is not None:
        rdoc = first_sentence(meth.result_doc) if meth.result_doc else ""
        lines.append("    Result: %s%s" % (names.result_type(meth), (" — " + rdoc) if rdoc else ""))
    else:
        lines.append("    Result: none.")
    errs = raises(names.program, meth)
    lines.append("    Errors: %s%s." % (", ".join(errs) if errs else "none documented",
                                       "; plus transport errors"))
    out = []
    for i, l in enumerate(lines):
        first = "/*  " if i == 0 else "    "
        body = l[4:].replace("*/", "* /")
        out += [first + w if j == 0 else "        " + w
                for j, w in enumerate(textwrap.wrap(body, 92 - 8, break_on_hyphens=False,
                                                    break_long_words=False) or [""])]
    out[-1] += " */"
    return out


def emit_client_h(names, m):
    check_names(names)
    L = banner(_header_name(names, m), [m.display_file],
               "typed client stubs for every method of the `%s` module." % m.name, extra=[
                   "Per method I.m (here Datapath.attach):",
                   "  xsp_datapath_attach(client, queue, opts, dbg, uri, domain, &result, &err)",
                   "      synchronous: arguments in IDL order, result out-parameter (NULL to drop",
                   "      it); returns err->code.  On XSP_OK *result is owned by the caller",
                   "      (xsp_datapath_attach_result_dispose); on failure it is left empty.",
                   "  xsp_datapath_attach_send(client, queue, opts, dbg, uri, domain, cb, arg,",
                   "                           &call_id, &err)",
                   "      asynchronous (xsp/client.h event loop): cb runs exactly once inside",
                   "      xsp_client_process() with the decoded typed result or the error; the",
                   "      result is borrowed for the callback (copy it with _copy to keep it).",
                   "  xsp_datapath_attach_args_call(client, queue, opts, &args, &result,",
                   "                                &error_reply, &err)",
                   "      synchronous, from a ready args struct; *error_reply (may be NULL) gets",
                   "      the plugin's error reply (code, message, detail map) when it sent one.",
                   "dbg: the API's dbg argument is also the switch REQUEST dbg (traces, DELIVER);",
                   "NULL = opts->dbg.  Strings: NULL reads as \"\", except optional ones (NULL =",
                   "absent).  Containers and records are passed by pointer (NULL = empty).",
                   "Errors (err->code): transport errors as in xsp/client.h (timeout, expired,",
                   "disconnected, ...); the plugin's error code with err->msg = its sentence and",
                   "details \" [key=value, ...]\"; XSP_E_DECODE with the method and field path when",
                   "the answer is malformed (\"Datapath.attach result: implementations[1].params:",
                   "expected string, got integer\"); XSP_E_UNKNOWN for an error code this build",
                   "does not know.",
                   "Thread-safety and ownership: as xsp/client.h and xsp/stub.h (one thread per",
                   "client; arguments are only read, and copied before the stub returns)."])
    g = _guard(m)
    L += ["#ifndef " + g, "#define " + g, ""]
    if not m.methods:
        L += ["/* this module declares no interfaces: no stubs */", "", "#endif", ""]
        return "\n".join(L)
    L += ["#include <stdbool.h>", "#include <stdint.h>", "",
          '#include "xsp/client.h"', '#include "xsp/idl_error_reply.h"', '#include "xsp/stub.h"',
          '#include "%s"' % names.header(m), "",
          "#ifdef __cplusplus", 'extern "C" {', "#endif", ""]
    for meth in m.methods:
        n = method_names(names, meth)
        L.append("/* ------------------------------------------------------------------ %s */" % meth.wire_name)
        L.append("")
        L += _method_doc(names, m, meth)
        L += wrap_proto("int " + n["sync"], _sync_params(names, m, meth))
        L += wrap_proto("typedef void " + n["done_fn"], _done_params(names, m, meth))
        L += wrap_proto("int " + n["send"], _send_params(names, m, meth))
        L += wrap_proto("int " + n["args_call"], _args_call_params(names, m, meth))
        L.append("")
    L += ["#ifdef __cplusplus", "}", "#endif", "#endif", ""]
    return "\n".join(L)


def _fill_args(names, m, meth):
    L = ["    %s a;" % names.args_type(meth), "", "    memset(&a, 0, sizeof a);"]
    d = dbg_arg(meth)
    for fa in flat_args(names, m, meth):
        if d is not None and fa.f is d:
            L.append("    a.%s = (char *) xsp_stub_dbg(%s, opts);" % (d.name, fa.param))
        else:
            L += ["    " + s for s in fa.assign()]
    return L, ("a.%s" % d.name) if d is not None else "NULL"


def emit_client_c(names, m):
    check_names(names)
    L = banner("%s_client.c" % m.name, [m.display_file],
               "the typed client stubs of the `%s` module (see %s)." % (m.name, _header_name(names, m)))
    if not m.methods:
        L += ["", "/* this module declares no interfaces */",
              "typedef int %s_no_client_;" % names.module_base(m), ""]
        return "\n".join(L)
    L += ['#include "%s"' % _header_name(names, m), "", "#include <string.h>", ""]
    for meth in m.methods:
        n = method_names(names, meth)
        has_result = meth.result is not None
        L.append("/* ------------------------------------------------------------------ %s */" % meth.wire_name)
        L.append("")
        # synchronous, flat
        L += wrap_proto("int " + n["sync"], _sync_params(names, m, meth), tail="")
        body, dbg = _fill_args(names, m, meth)
        L += ["{"] + body
        L += wrap_proto("    return xsp_stub_call", ["client", "queue", "opts", row(names, meth), dbg, "&a",
                                                      "result" if has_result else "NULL", "NULL", "err"])
        L += ["}", ""]
        # completion trampoline: calls the application's typed callback through its own type
        L += wrap_proto("static void " + n["tramp"],
                        ["xsp_client_t *client", "uint64_t call_id", "const xsp_error_t *err",
                         "void *result", "const xsp_error_reply_t *error_reply",
                         "void (*fn)(void)", "void *arg"], tail="")
        L.append("{")
        if not has_result:
            L.append("    (void) result;")
        L.append("    ((%s *) fn)(client, call_id, err, %serror_reply, arg);"
                 % (n["done_fn"], "result, " if has_result else ""))
        L += ["}", ""]
        # asynchronous, flat
        L += wrap_proto("int " + n["send"], _send_params(names, m, meth), tail="")
        body, dbg = _fill_args(names, m, meth)
        L += ["{"] + body
        L += wrap_proto("    return xsp_stub_send", ["client", "queue", "opts", row(names, meth), dbg, "&a",
                                                      "cb ? %s : NULL" % n["tramp"], "(void (*)(void)) cb",
                                                      "arg", "call_id", "err"])
        L += ["}", ""]
        # synchronous, args struct
        L += wrap_proto("int " + n["args_call"], _args_call_params(names, m, meth), tail="")
        d = dbg_arg(meth)
        L += ["{",
              "    %s empty;" % names.args_type(meth), "",
              "    if (args == NULL) {",
              "        memset(&empty, 0, sizeof empty);",
              "        args = &empty;",
              "    }",
              ] + wrap_proto("    return xsp_stub_call", [
                  "client", "queue", "opts", row(names, meth), ("args->%s" % d.name) if d is not None else "NULL",
                  "args", "result" if has_result else "NULL", "error_reply", "err"]) + ["}", ""]
    return "\n".join(L)


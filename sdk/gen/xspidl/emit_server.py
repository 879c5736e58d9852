"""emit_server.py — typed server dispatch: <prefix>/<module>_server.h and <module>_server.c.

Owns: per module with interfaces, the ops table a server fills (one handler pointer per
method, NULL = answered `unimplemented` automatically), the dispatcher that decodes a
request strictly and calls the handler, an xsp_handler_fn wrapper for xsp_server_subscribe,
and per method a typed reply function.  The generic work (decoding, answering once, error
replies, freeing) is libxsp's hand-written runtime, xsp/dispatch.h.
Never touches: encoding, decoding or types (emit_methods/emit_msgpack/emit_types), the
client side (emit_client.py), names it does not own (see rpc.py).
"""

from .cnames import first_sentence
from .records import banner, doc_comment
from .rpc import check_names, is_value, method_names, module_names, op_member, result_ct, wrap_proto


def _header_name(m):
    return "%s/%s_server.h" % (m.prefix, m.name)


def _guard(m):
    return ("%s_%s_SERVER_H" % (m.prefix, m.name)).upper()


def _reply_param(names, m, meth):
    """(C parameter, expression giving xsp_call_reply its `const void *`, prelude lines)."""
    ct = result_ct(names, m, meth)
    if ct is None:
        return None, "NULL", []
    if ct.is_string:
        return "const char *result", "&r", ["    char *r = (char *) result;", ""]
    if is_value(ct):
        return "%s result" % ct.ctype, "&result", []
    return "const %s *result" % ct.ctype, "result", []


def emit_server_h(names, m):
    check_names(names)
    mn = module_names(names, m)
    L = banner(_header_name(m), [m.display_file],
               "the server side of the `%s` module: handler table, dispatcher, typed replies." % m.name,
               extra=[
                   "A server fills %s (NULL entries answer `unimplemented` by themselves) and" % mn["ops_t"],
                   "hands each delivered request to %s(req, &ops, ctx), or subscribes with" % mn["dispatch"],
                   "%s as the handler and a %s {ops, ctx} as its arg." % (mn["handler"], mn["service_t"]),
                   "The dispatcher decodes the request strictly (a malformed request or an unknown",
                   "method is answered `decode` / `unimplemented` with a sentence naming the field),",
                   "then calls the handler with the typed args.  Handlers return int:",
                   "",
                   "  answer NOW:   return xsp_datapath_attach_reply(call, &backend);",
                   "                return xsp_call_fail(call, XSP_E_VOLUME_DOES_NOT_EXIST,",
                   "                                     XSP_DETAIL1(\"uri\", args->uri), \"no volume at %s\", args->uri);",
                   "                return XSP_E_BACKEND_FAILURE;   (answered for you, generic sentence)",
                   "  answer LATER: keep `call` (and `args`: both stay valid until the call is",
                   "                answered), return 0, and later — from the loop (a timer, an fd)",
                   "                or any thread — call the reply or xsp_call_fail exactly once.",
                   "",
                   "Every call is answered exactly once; nothing leaks on any path, whatever the",
                   "peer sends.  Thread-safety and ownership: see xsp/dispatch.h (handlers run on",
                   "the server's I/O thread or its workers; answers may come from any thread)."])
    g = _guard(m)
    L += ["#ifndef " + g, "#define " + g, ""]
    if not m.methods:
        L += ["/* this module declares no interfaces: nothing to dispatch */", "", "#endif", ""]
        return "\n".join(L)
    L += ['#include "xsp/dispatch.h"', '#include "xsp/server.h"', '#include "%s"' % names.header(m), "",
          "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
          "/*  A call of this module being handled (see xsp/dispatch.h). */",
          "typedef xsp_call_t %s;" % mn["call_t"], "",
          "/*  One handler per method; NULL = not implemented (answered `unimplemented`).  ctx is",
          "    the pointer given to the dispatcher. */",
          "typedef struct %s {" % mn["ops"]]
    for meth in m.methods:
        n = method_names(names, meth)
        L += doc_comment("%s: %s  Answer: %s()." % (
            meth.wire_name, first_sentence(meth.doc) or "(undocumented)", n["reply"]), "    ")
        L += ["    " + l for l in wrap_proto(
            "int (*%s)" % op_member(meth),
            ["void *ctx", "%s *call" % mn["call_t"], "const %s *args" % names.args_type(meth)])]
    L += ["} %s;" % mn["ops_t"], "",
          "/*  Decode req and call its handler in ops (NULL ops: every method is unimplemented).",
          "    Returns XSP_OK (answered, or the handler will answer later) or the error code the",
          "    request was answered with.  req belongs to the call from now on. */",
          "int %s(xsp_request_t *req, const %s *ops, void *ctx);" % (mn["dispatch"], mn["ops_t"]), "",
          "/*  What %s passes to the dispatcher. */" % mn["handler"],
          "typedef struct %s {" % mn["service"],
          "    const %s *ops;" % mn["ops_t"],
          "    void *ctx;",
          "} %s;" % mn["service_t"], "",
          "/*  An xsp_handler_fn for xsp_server_subscribe(server, queue, credit, %s," % mn["handler"],
          "    &service, &err), `service` being a %s that outlives the subscription. */" % mn["service_t"],
          "void %s(xsp_server_t *server, xsp_request_t *req, void *service);" % mn["handler"], "",
          "/* ------------------------------------------------------------------ typed replies",
          "   Answer a call with its result (only read: the caller keeps ownership).  Returns",
          "   XSP_OK, or the error the call was answered with instead (result not encodable). */", ""]
    for meth in m.methods:
        n = method_names(names, meth)
        p, _expr, _pre = _reply_param(names, m, meth)
        params = ["%s *call" % mn["call_t"]] + ([p] if p else [])
        L += wrap_proto("int " + n["reply"], params)
    L += ["", "#ifdef __cplusplus", "}", "#endif", "#endif", ""]
    return "\n".join(L)


def emit_server_c(names, m):
    check_names(names)
    mn = module_names(names, m)
    L = banner("%s_server.c" % m.name, [m.display_file],
               "the dispatcher and typed replies of the `%s` module (see %s)." % (m.name, _header_name(m)))
    if not m.methods:
        L += ["", "/* this module declares no interfaces */",
              "typedef int %s_no_server_;" % names.module_base(m), ""]
        return "\n".join(L)
    table, count = names.method_table(m), names.method_count(m)
    L += ['#include "%s"' % _header_name(m), "",
          "int %s(xsp_request_t *req, const %s *ops, void *ctx)" % (mn["dispatch"], mn["ops_t"]), "{",
          "    xsp_call_t *call;",
          "    int rc = xsp_call_begin(req, %s, %s, &call);" % (table, count), "",
          "    if (rc)",
          "        return rc;",
          "    switch ((%s) xsp_call_method(call)->id) {" % names.method_enum_type(m)]
    for meth in m.methods:
        op = op_member(meth)
        L += ["    case %s:" % names.method_const(meth),
              "        if (ops == NULL || ops->%s == NULL)" % op,
              "            return xsp_call_unimplemented(call);",
              "        if ((rc = xsp_call_decode(call)) != 0)",
              "            return rc;",
              "        return xsp_call_end(call, ops->%s(ctx, call, xsp_call_args(call)));" % op]
    L += ["    default:",
          "        break;",
          "    }",
          "    return xsp_call_unimplemented(call);",
          "}", "",
          "void %s(xsp_server_t *server, xsp_request_t *req, void *service)" % mn["handler"], "{",
          "    const %s *svc = service;" % mn["service_t"], "",
          "    (void) server;",
          "    %s(req, svc ? svc->ops : NULL, svc ? svc->ctx : NULL);" % mn["dispatch"],
          "}", ""]
    for meth in m.methods:
        n = method_names(names, meth)
        p, expr, pre = _reply_param(names, m, meth)
        params = ["%s *call" % mn["call_t"]] + ([p] if p else [])
        L += wrap_proto("int " + n["reply"], params, tail="")
        L += ["{"] + pre + ["    return xsp_call_reply(call, %s);" % expr, "}", ""]
    return "\n".join(L)

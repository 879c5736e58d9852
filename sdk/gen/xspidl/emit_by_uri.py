"""emit_by_uri.py — by-URI client stubs: <prefix>/<module>_by_uri.h and <module>_by_uri.c.

Owns: for every method whose first argument after the common ones is of the module's alias
`uri` or `sr` (SR keys are URIs of the plugin's scheme), the synchronous stub
<base>_by_uri(resolver, opts, <the queue stub's arguments>, &result, &err): it resolves that
argument through libxsp's resolver (xsp/resolve.h) for the interface's plugin kind
(Datapath -> datapath, SR and Volume -> volume, other interfaces -> any), calls the queue
stub emit_client.py generates, and on an error xsp_resolver_retry() accepts resolves again
and retries once; and the asynchronous <base>_by_uri_send(resolver, opts, <args>, cb, arg,
&call_id, &err) on xsp_resolver_send(), completing through the queue stub's typed callback.
Never touches: the queue-addressed stubs (emit_client.py), encoding or types, the resolver's
cache and retry rules (sdk/resolve.c).
"""

from .emit_client import _fill_args
from .model import Alias, Ref
from .records import banner
from .rpc import check_names, flat_args, method_names, ptr, result_ct, row, wrap_proto

URI_ALIASES = ("uri", "sr")
KINDS = {"Datapath": "XSP_PLUGIN_KIND_DATAPATH", "SR": "XSP_PLUGIN_KIND_VOLUME",
         "Volume": "XSP_PLUGIN_KIND_VOLUME"}


def uri_arg(m, meth):
    """The argument addressed by URI (the first one after the common args), or None."""
    if not meth.args:
        return None
    t = meth.args[0].type
    if isinstance(t, Ref) and t.name in URI_ALIASES and isinstance(t.target, Alias) \
            and t.target.module is m:
        return meth.args[0]
    return None


def by_uri_methods(m):
    return [meth for meth in m.methods if uri_arg(m, meth) is not None]


def _name(names, meth):
    return method_names(names, meth)["sync"] + "_by_uri"


def _params(names, m, meth):
    rct = result_ct(names, m, meth)
    ps = ["xsp_resolver_t *resolver", "const xsp_call_opts_t *opts"]
    ps += [a.cdecl for a in flat_args(names, m, meth)]
    if rct is not None:
        ps.append(ptr(rct.ctype, "result"))
    ps.append("xsp_error_t *err")
    return ps


def _send_params(names, m, meth):
    n = method_names(names, meth)
    ps = ["xsp_resolver_t *resolver", "const xsp_call_opts_t *opts"]
    ps += [a.cdecl for a in flat_args(names, m, meth)]
    ps += ["%s *cb" % n["done_fn"], "void *arg", "uint64_t *call_id", "xsp_error_t *err"]
    return ps


def _guard(m):
    return ("%s_%s_BY_URI_H" % (m.prefix, m.name)).upper()


def emit_by_uri_h(names, m):
    check_names(names)
    meths = by_uri_methods(m)
    L = banner("%s/%s_by_uri.h" % (m.prefix, m.name), [m.display_file],
               "the by-URI client stubs of the `%s` module (see xsp/resolve.h)." % m.name, extra=[
                   "Per method whose first argument is a `uri` or an `sr` (here Datapath.attach):",
                   "  xsp_datapath_attach_by_uri(resolver, opts, dbg, uri, domain, &result, &err)",
                   "      as xsp_datapath_attach() (xsp/%s_client.h), but the queue is the one the" % m.name,
                   "      registrar names for the URI's scheme (cached by the resolver); on an error",
                   "      xsp_resolver_retry() accepts (the plugin went away or was replaced) it",
                   "      resolves again and retries once.  Returns err->code.",
                   "  xsp_datapath_attach_by_uri_send(resolver, opts, dbg, uri, domain, cb, arg,",
                   "                                  &call_id, &err)",
                   "      the same without blocking (xsp_resolver_send): cb, the queue stub's typed",
                   "      completion, runs exactly once inside xsp_client_process() of the",
                   "      resolver's client, with call_id = the id stored in *call_id."])
    g = _guard(m)
    L += ["#ifndef " + g, "#define " + g, ""]
    if not meths:
        L += ["/* this module has no method addressed by URI: no by-URI stubs */", "", "#endif", ""]
        return "\n".join(L)
    L += ['#include "xsp/resolve.h"', '#include "%s/%s_client.h"' % (m.prefix, m.name), "",
          "#ifdef __cplusplus", 'extern "C" {', "#endif", ""]
    for meth in meths:
        L.append("/*  %s by URI (argument `%s`). */" % (meth.wire_name, uri_arg(m, meth).name))
        L += wrap_proto("int " + _name(names, meth), _params(names, m, meth))
        L += wrap_proto("int " + _name(names, meth) + "_send", _send_params(names, m, meth))
    L += ["", "#ifdef __cplusplus", "}", "#endif", "#endif", ""]
    return "\n".join(L)


def emit_by_uri_c(names, m):
    check_names(names)
    meths = by_uri_methods(m)
    L = banner("%s_by_uri.c" % m.name, [m.display_file],
               "the by-URI client stubs of the `%s` module (see %s/%s_by_uri.h)." % (m.name, m.prefix, m.name))
    if not meths:
        L += ["", "/* this module has no method addressed by URI */",
              "typedef int %s_no_by_uri_;" % names.module_base(m), ""]
        return "\n".join(L)
    L += ['#include "%s/%s_by_uri.h"' % (m.prefix, m.name), "", "#include <stdio.h>",
          "#include <string.h>", "",
          '#include "xsp/wire.h"', ""]
    for meth in meths:
        args = flat_args(names, m, meth)
        ua = uri_arg(m, meth)
        uparam = [a.param for a in args if a.f is ua][0]
        dparam = [a.param for a in args if a.f.name == "dbg"]
        dbg = "xsp_stub_dbg(%s, opts)" % dparam[0] if dparam else "opts ? opts->dbg : NULL"
        kind = KINDS.get(meth.interface.name, "XSP_RESOLVE_ANY_KIND")
        rct = result_ct(names, m, meth)
        call = ["xsp_resolver_client(resolver)", "used_", "opts"] + [a.param for a in args]
        if rct is not None:
            call.append("result")
        call.append("err")
        L += wrap_proto("int " + _name(names, meth), _params(names, m, meth), tail="")
        L += ["{",
              "    char used_[XSP_QUEUE_MAX + 1];",
              "",
              "    for (int attempt_ = 0;; attempt_++) {",
              "        const char *q_ = xsp_resolver_queue_kind(resolver, %s, %s, %s, err);" % (uparam, kind, dbg),
              "        if (!q_)",
              "            return err->code;",
              "        snprintf(used_, sizeof used_, \"%s\", q_);"]
        L += wrap_proto("        int rc_ = " + method_names(names, meth)["sync"], call)
        if rct is not None:
            L += ["        if (rc_ == XSP_OK)",
                  "            return xsp_resolver_check(resolver, %s, %s, %s, result, err);"
                  % (uparam, kind, row(names, meth))]
        L += ["        if (rc_ == XSP_OK || attempt_ > 0 ||",
              "            !xsp_resolver_retry(resolver, %s, %s, %s, used_, err))" % (uparam, kind, dbg),
              "            return rc_;",
              "    }",
              "}", ""]
        # asynchronous: the trampoline calls the application's typed callback
        n = method_names(names, meth)
        tramp = _name(names, meth) + "_done_"
        has_result = meth.result is not None
        L += wrap_proto("static void " + tramp,
                        ["xsp_client_t *client", "uint64_t call_id", "const xsp_error_t *err",
                         "void *result", "const xsp_error_reply_t *error_reply",
                         "void (*fn)(void)", "void *arg"], tail="")
        L.append("{")
        if not has_result:
            L.append("    (void) result;")
        L.append("    ((%s *) fn)(client, call_id, err, %serror_reply, arg);"
                 % (n["done_fn"], "result, " if has_result else ""))
        L += ["}", ""]
        L += wrap_proto("int " + _name(names, meth) + "_send", _send_params(names, m, meth), tail="")
        body, dbgx = _fill_args(names, m, meth)
        L += ["{"] + body
        L += wrap_proto("    return xsp_resolver_send", [
            "resolver", uparam, kind, "opts", row(names, meth), dbgx, "&a",
            "cb ? %s : NULL" % tramp, "(void (*)(void)) cb", "arg", "call_id", "err"])
        L += ["}", ""]
    return "\n".join(L)

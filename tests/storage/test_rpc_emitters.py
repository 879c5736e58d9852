#!/usr/bin/env python3
"""test_rpc_emitters.py — unit tests of the client-stub and server-dispatch emitters
(sdk/gen/xspidl/emit_client.py, emit_server.py, rpc.py), standard library only.

Owns: checks that stub/dispatch names never collide silently (with each other, with generated
type functions, with libxsp's runtime), that IDL arguments named like stub parameters are
renamed, that modules without interfaces give empty outputs, and that the output for the
real IDL is deterministic and complete.  The generated C itself is compiled and exercised by
the other storage_* tests.
Never touches: the source tree (writes only to temporary directories).

    test_rpc_emitters.py REPO_ROOT
"""

import os
import sys
import tempfile
import unittest

ROOT = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, "sdk", "gen"))

import xspgen                                               # noqa: E402
from xspidl.cnames import Names                             # noqa: E402
from xspidl.emit_client import emit_client_c, emit_client_h  # noqa: E402
from xspidl.emit_server import emit_server_c, emit_server_h  # noqa: E402
from xspidl.errorh import read_error_codes                  # noqa: E402
from xspidl.errors import IdlError                          # noqa: E402
from xspidl.model import Program                            # noqa: E402
from xspidl.parser import parse_text                        # noqa: E402

ERROR_H = os.path.join(ROOT, "sdk", "include", "xsp", "error.h")
CODES = read_error_codes(ERROR_H)


def names_of(*texts):
    mods = [parse_text(t, "m%d.idl" % i) for i, t in enumerate(texts)]
    p = Program(mods, CODES)
    p.resolve()
    return Names(p)


def emit_all(names):
    out = {}
    for m in names.program.modules:
        for f in (emit_client_h, emit_client_c, emit_server_h, emit_server_c):
            out[(m.name, f.__name__)] = f(names, m)
    return out


class Collisions(unittest.TestCase):
    def refused(self, text, needle):
        with self.assertRaises(IdlError) as cm:
            emit_all(names_of(text))
        self.assertIn(needle, str(cm.exception))

    def test_stub_names_collide_with_each_other(self):
        self.refused("module m;\ninterface Disk { method attach(); method attach_send(); }\n",
                     "xsp_disk_attach_send")

    def test_stub_collides_with_a_type_function(self):
        self.refused("module m;\nstruct thing { a: bool }\ninterface Thing { method copy(); }\n",
                     "xsp_thing_copy")

    def test_module_names_collide_with_a_type(self):
        self.refused("module m;\nstruct m_ops { a: bool }\ninterface I { method x(); }\n", "xsp_m_ops")

    def test_runtime_names_are_reserved(self):
        self.refused("module m;\nstruct call { a: bool }\ninterface I { method x(); }\n", "libxsp's runtime")

    def test_struct_tags_do_not_clash_with_functions(self):
        # struct tag `xsp_sr_stat` and the stub function `xsp_sr_stat` live in different C
        # namespaces (storage.idl has both): accepted
        emit_all(names_of("module m prefix xsp;\nstruct sr_stat { a: bool }\n"
                          "interface SR { method stat() returns sr_stat; }\n"))


class Mapping(unittest.TestCase):
    def test_reserved_argument_names_are_renamed(self):
        n = names_of("module m;\ncommon_args(dbg: string(10));\n"
                     "interface I { method x(queue: string, result: bool, err: uint32, a: string) returns bool; }\n")
        h = emit_client_h(n, n.program.modules[0])
        self.assertIn("const char *queue_", h)
        self.assertIn("bool result_", h)
        self.assertIn("uint32_t err_", h)
        self.assertIn("const char *a_", h)
        c = emit_client_c(n, n.program.modules[0])
        self.assertIn("a.queue = (char *) queue_;", c)
        self.assertIn("a.dbg = (char *) xsp_stub_dbg(dbg, opts);", c)

    def test_dbg_goes_to_the_switch_only_when_the_api_has_it(self):
        n = names_of("module m;\ninterface I { method x(s: string); }\n")
        c = emit_client_c(n, n.program.modules[0])
        self.assertNotIn("xsp_stub_dbg", c)
        self.assertIn("NULL, &a", c)     # no dbg argument: opts->dbg is the switch dbg

    def test_parameter_kinds(self):
        n = names_of("module m;\nenum e { x, y }\nstruct s { a: bool }\n"
                     "interface I { method f(p: uint64, q: optional<uint64>, r: e, t: optional<e>, "
                     "u: s, v: optional<s>, w: map<string, string>, x: list<string>, "
                     "y: optional<string>) returns e; }\n")
        h = emit_client_h(n, n.program.modules[0])
        for decl in ("uint64_t p", "const uint64_t *q", "xsp_e_t r", "const xsp_e_t *t", "const xsp_s_t *u",
                     "const xsp_s_t *v", "const xsp_string_map_t *w", "const xsp_string_list_t *x",
                     "const char *y", "xsp_e_t *result"):
            self.assertIn(decl, h)
        sh = emit_server_h(n, n.program.modules[0])
        self.assertIn("int xsp_i_f_reply(xsp_m_call_t *call, xsp_e_t result);", sh)

    def test_module_without_interfaces(self):
        n = names_of("module m;\nstruct s { a: bool }\n")
        out = emit_all(n)
        self.assertIn("no interfaces", out[("m", "emit_client_h")])
        self.assertIn("typedef int xsp_m_no_client_;", out[("m", "emit_client_c")])
        self.assertIn("typedef int xsp_m_no_server_;", out[("m", "emit_server_c")])


class RealIdl(unittest.TestCase):
    def test_storage_outputs(self):
        idl = [os.path.join(ROOT, "sdk", "idl", f) for f in ("api_common.idl", "storage.idl")]
        outs = []
        for _ in range(2):
            with tempfile.TemporaryDirectory() as d:
                self.assertEqual(xspgen.main(["--error-h", ERROR_H, "--root", ROOT, "--c-out", d] + idl), 0)
                files = {}
                for f in ("include/xsp/storage_client.h", "storage_client.c", "include/xsp/storage_server.h",
                          "storage_server.c", "include/xsp/api_common_client.h", "api_common_server.c"):
                    with open(os.path.join(d, f), encoding="utf-8") as fh:
                        files[f] = fh.read()
                outs.append(files)
        self.assertEqual(outs[0], outs[1])
        h, sh, sc = outs[0]["include/xsp/storage_client.h"], outs[0]["include/xsp/storage_server.h"], \
            outs[0]["storage_server.c"]
        # every method has its three stubs, an ops entry, a dispatch case and a typed reply
        names = names_of(*(open(p, encoding="utf-8").read() for p in idl))
        storage = [m for m in names.program.modules if m.name == "storage"][0]
        self.assertEqual(len(storage.methods), 28)
        for meth in storage.methods:
            b = names.method_base(meth)
            for ident in (b + "(", b + "_send(", b + "_args_call(", b + "_done_fn("):
                self.assertIn(ident, h)
            self.assertIn(b + "_reply(", sh)
            self.assertIn("case %s:" % names.method_const(meth), sc)
        self.assertIn("int xsp_datapath_attach(xsp_client_t *client, const char *queue, const xsp_call_opts_t *opts,\n"
                      "                        const char *dbg, const char *uri, const char *domain, xsp_backend_t *result,\n"
                      "                        xsp_error_t *err);", h)


if __name__ == "__main__":
    unittest.main(verbosity=1)

#!/usr/bin/env python3
"""test_generator.py — unit tests of the IDL compiler (sdk/gen), standard library only.

Owns: checks that bad IDL is refused with a located, useful message (syntax, names, limits,
nesting, cycles, C collisions, error codes), that output is deterministic, and that the
real IDL files compile.  The C the generator writes is tested by the other idl_* tests.
Never touches: the source tree (writes only to temporary directories).

    test_generator.py REPO_ROOT
"""

import os
import sys
import tempfile
import unittest

ROOT = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
sys.dont_write_bytecode = True     # never litter the source tree with __pycache__
sys.path.insert(0, os.path.join(ROOT, "sdk", "gen"))

import xspgen                                   # noqa: E402
from xspidl.cnames import Names, first_sentence  # noqa: E402
from xspidl.errorh import read_error_codes      # noqa: E402
from xspidl.errors import IdlError              # noqa: E402
from xspidl.model import Program                # noqa: E402
from xspidl.parser import parse_text            # noqa: E402

ERROR_H = os.path.join(ROOT, "sdk", "include", "xsp", "error.h")
CODES = read_error_codes(ERROR_H)


def compile_texts(*texts):
    mods = [parse_text(t, "m%d.idl" % i) for i, t in enumerate(texts)]
    p = Program(mods, CODES)
    p.resolve()
    return Names(p)


class Refusals(unittest.TestCase):
    def refused(self, text, needle, line=None, *more):
        with self.assertRaises(IdlError) as cm:
            compile_texts(text, *more)
        msg = str(cm.exception)
        self.assertIn(needle, msg)
        if line is not None:
            self.assertIn(":%d:" % line, msg)
        return msg

    def test_syntax_errors_are_located(self):
        self.refused("module m;\nstruct s {\n  a string,\n}\n", "expected ':'", 3)
        self.refused("module m;\nstruct s { a: string(x) }\n", "expected a number", 2)
        self.refused("module m;\nfrobnicate x;\n", "expected a declaration", 2)
        self.refused("module m;\nstruct s { a: string }\n/* open", "unterminated", 3)
        self.refused("struct s {}", "expected 'module'", 1)
        self.refused("module m;\nstruct s { a: $ }", "unexpected character", 2)

    def test_stray_doc_comment(self):
        self.refused("module m;\nstruct s {\n  a: string,\n  /// nothing after me\n}\n", "documents nothing", 5)

    def test_names(self):
        self.refused("module m;\nstruct Foo {}\n", "snake_case")
        self.refused("module m;\nstruct s { A: bool }\n", "snake_case")
        self.refused("module m;\ninterface lower { }\n", "CamelCase")
        self.refused("module m;\nstruct s { a: bool, a: bool }\n", "duplicate field")
        self.refused("module m;\nstruct s {}\nstruct s {}\n", "also defined")
        self.refused("module m;\nenum e { a, a }\n", "duplicate value")
        self.refused("module m;\nenum e { }\n", "no values")
        self.refused("module m;\nunion u { }\n", "no variants")
        self.refused("module m;\nunion u { v { kind: string } }\n", "reserved")
        self.refused("module m;\nstruct s { int: bool }\n", "C keyword")
        self.refused("module m;\nstruct string {}\n", "built-in")
        self.refused("module m;\ninterface I { method a(); method a(); }\n", "duplicate method")

    def test_types(self):
        self.refused("module m;\nstruct s { a: nope }\n", "unknown type 'nope'", 2)
        self.refused("module m;\nstruct s { a: list<optional<bool>> }\n", "only allowed as the type of a field")
        self.refused("module m;\nstruct s { a: list<list<bool>> }\n", "define a struct")
        self.refused("module m;\nstruct s { a: map<string, bool> }\n", "map<string, string>")
        self.refused("module m;\nstruct s { a: string(0) }\n", "out of range")
        self.refused("module m;\nstruct s { a: list<bool>(4294967296) }\n", "out of range")
        self.refused("module m;\ninterface I { method a() returns optional<bool>; }\n", "cannot be optional")
        self.refused("module m;\nalias a = optional<bool>;\n", "only allowed")

    def test_cycles(self):
        self.refused("module m;\nstruct a { b: b }\nstruct b { a: optional<a> }\n", "contains itself by value")
        compile_texts("module m;\nstruct t { kids: list<t> }\n")     # through a list: fine

    def test_c_name_collisions(self):
        self.refused("module m;\nstruct v {}\nstruct v_list {}\nstruct w { l: list<v> }\n", "collides")
        self.refused("module m;\nenum a { b_c }\nenum a_b { c }\n", "collides")

    def test_errors(self):
        self.refused("module m;\nerrors { no-such-code; }\n", "not in xsp/error.h")
        self.refused("module m;\ninterface I { method a() raises(cancelled); }\n", "no errors block declares")
        self.refused("module m;\ntransport_errors { timeout; }\ninterface I { method a() raises(timeout); }\n",
                     "transport error")
        self.refused("module m;\nerrors { cancelled; }\n", "also declared", None, "module n;\nerrors { cancelled; }\n")

    def test_module_file_name(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "wrong.idl")
            with open(p, "w") as f:
                f.write("module right;\n")
            with self.assertRaises(IdlError) as cm:
                xspgen.load([p], ERROR_H, d)
            self.assertIn("must be in a file named right.idl", str(cm.exception))


class Accepted(unittest.TestCase):
    def test_cross_module_and_defaults(self):
        names = compile_texts("module a;\nlimits { string = 7; }\nstruct x { s: string }\n",
                              "module b;\nstruct y { xs: list<x>(2), s: string }\n")
        a, b = names.program.modules
        self.assertEqual(a.decls[0].fields[0].type.max, 7)      # a's default
        self.assertEqual(b.decls[0].fields[1].type.max, 4096)   # b's default
        self.assertIs(names.lists[("xsp", "x")].owner, a)       # list<x> belongs to x's module

    def test_first_sentence(self):
        self.assertEqual(first_sentence("Path, e.g. `/dev/x`.  More."), "Path, e.g. `/dev/x`.")
        self.assertEqual(first_sentence("No dot"), "No dot")


class RealIdl(unittest.TestCase):
    def test_storage_compiles_and_is_deterministic(self):
        idl = [os.path.join(ROOT, "sdk", "idl", f) for f in ("api_common.idl", "storage.idl")]
        outs = []
        for _ in range(2):
            with tempfile.TemporaryDirectory() as d:
                rc = xspgen.main(["--error-h", ERROR_H, "--root", ROOT, "--c-out", d, "--docs",
                                  os.path.join(d, "api.md")] + idl)
                self.assertEqual(rc, 0)
                files = {}
                for dirpath, _dirs, fnames in os.walk(d):
                    for fn in fnames:
                        with open(os.path.join(dirpath, fn), encoding="utf-8") as f:
                            files[os.path.relpath(os.path.join(dirpath, fn), d)] = f.read()
                outs.append(files)
        self.assertEqual(outs[0], outs[1])
        self.assertIn(os.path.join("include", "xsp", "storage.h"), outs[0])
        self.assertIn("Datapath.attach", outs[0]["api.md"])


if __name__ == "__main__":
    unittest.main(verbosity=1)

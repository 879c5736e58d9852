#!/usr/bin/env python3
"""xspgen.py — the IDL compiler: sdk/idl/*.idl in, C sources and docs/api.md out.

Owns: the command line and the list of emitters.  Python 3 standard library only.
Never touches: anything but the output paths it is given.

    xspgen.py --error-h sdk/include/xsp/error.h [--root REPO] IDL...
              [--c-out DIR]          C: DIR/include/<prefix>/<module>.h, DIR/<module>_{types,msgpack,format,methods,reader}.c,
                                     client stubs DIR/include/<prefix>/<module>_client.h + DIR/<module>_client.c,
                                     by-URI stubs DIR/include/<prefix>/<module>_by_uri.h + DIR/<module>_by_uri.c,
                                     server dispatch DIR/include/<prefix>/<module>_server.h + DIR/<module>_server.c
              [--docs FILE]          the Markdown API reference
              [--check-docs FILE]    exit 1 (with a diff) if FILE is not what --docs would write
              [--selftest FILE]      tables for the generic self-test (tests/idl)
              [--cli FILE]           the `xsp` CLI's API command tables (sdk/cli/cli_idl.h)

All IDL files of one API family are given together: they are resolved as one program (a
type of one module may be used in another; each module's header includes the ones it
needs).  Every IDL file must declare `module <its file name without .idl>;`.

Adding an output (phase 2: client stubs, server dispatch) is one more emitter module and
one more entry in EMITTERS / one more option below.
"""

import argparse
import difflib
import os
import sys

sys.dont_write_bytecode = True     # never litter the source tree with __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from xspidl.cnames import Names                      # noqa: E402
from xspidl.emit_cli import emit_cli                 # noqa: E402
from xspidl.emit_by_uri import emit_by_uri_c, emit_by_uri_h  # noqa: E402
from xspidl.emit_client import emit_client_c, emit_client_h  # noqa: E402
from xspidl.emit_docs import emit_docs               # noqa: E402
from xspidl.emit_format import emit_format           # noqa: E402
from xspidl.emit_header import emit_header           # noqa: E402
from xspidl.emit_methods import emit_methods         # noqa: E402
from xspidl.emit_msgpack import emit_msgpack         # noqa: E402
from xspidl.emit_reader import emit_reader           # noqa: E402
from xspidl.emit_selftest import emit_selftest       # noqa: E402
from xspidl.emit_server import emit_server_c, emit_server_h  # noqa: E402
from xspidl.emit_types import emit_types             # noqa: E402
from xspidl.errorh import read_error_codes           # noqa: E402
from xspidl.errors import IdlError                   # noqa: E402
from xspidl.model import Program                     # noqa: E402
from xspidl.parser import parse_file                 # noqa: E402

# per-module C outputs: (file name pattern, emitter)
EMITTERS = [
    ("%(module)s_types.c", emit_types),
    ("%(module)s_msgpack.c", emit_msgpack),
    ("%(module)s_format.c", emit_format),
    ("%(module)s_methods.c", emit_methods),
    ("%(module)s_reader.c", emit_reader),
    ("include/%(prefix)s/%(module)s_client.h", emit_client_h),
    ("%(module)s_client.c", emit_client_c),
    ("include/%(prefix)s/%(module)s_by_uri.h", emit_by_uri_h),
    ("%(module)s_by_uri.c", emit_by_uri_c),
    ("include/%(prefix)s/%(module)s_server.h", emit_server_h),
    ("%(module)s_server.c", emit_server_c),
]


def load(idl_paths, error_h, root):
    modules = []
    for path in idl_paths:
        m = parse_file(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        if m.name != stem:
            raise IdlError(m.loc, "module %s must be in a file named %s.idl" % (m.name, m.name))
        m.display_file = os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")
        modules.append(m)
    program = Program(modules, read_error_codes(error_h))
    program.resolve()
    return program, Names(program)


def write(path, text):
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="xsp IDL compiler")
    ap.add_argument("idl", nargs="+", help="IDL files, resolved together")
    ap.add_argument("--error-h", required=True, help="path of sdk/include/xsp/error.h")
    ap.add_argument("--root", default=os.getcwd(), help="repository root (paths in outputs are relative to it)")
    ap.add_argument("--c-out", help="directory for generated C")
    ap.add_argument("--docs", help="write the Markdown reference here")
    ap.add_argument("--check-docs", help="compare the Markdown reference with this file")
    ap.add_argument("--selftest", help="write the self-test tables here")
    ap.add_argument("--cli", help="write the xsp CLI command tables (C) here")
    args = ap.parse_args(argv)
    try:
        program, names = load(args.idl, args.error_h, args.root)
        if args.c_out:
            for m in program.modules:
                write(os.path.join(args.c_out, "include", names.header(m)), emit_header(names, m))
                for pattern, emitter in EMITTERS:
                    write(os.path.join(args.c_out, pattern % {"module": m.name, "prefix": m.prefix}), emitter(names, m))
        if args.docs:
            write(args.docs, emit_docs(names))
        if args.selftest:
            write(args.selftest, emit_selftest(names))
        if args.cli:
            write(args.cli, emit_cli(names))
        if args.check_docs:
            want = emit_docs(names)
            want = want if want.endswith("\n") else want + "\n"
            try:
                with open(args.check_docs, encoding="utf-8") as f:
                    have = f.read()
            except OSError as e:
                have = ""
                print("cannot read %s: %s" % (args.check_docs, e), file=sys.stderr)
            if have != want:
                rel = os.path.relpath(os.path.abspath(args.check_docs), args.root)
                diff = difflib.unified_diff(have.splitlines(True), want.splitlines(True),
                                            rel + " (committed)", rel + " (from the IDL)")
                sys.stderr.writelines(list(diff)[:200])
                print("\n%s is out of date with the IDL (sdk/idl/*.idl).\n"
                      "Refresh it with:  cmake --build <build-dir> --target xsp_idl_docs\n"
                      "or:  python3 sdk/gen/xspgen.py --error-h sdk/include/xsp/error.h --docs docs/api.md %s\n"
                      "and commit the result." % (rel, " ".join(
                          os.path.relpath(os.path.abspath(p), args.root) for p in args.idl)), file=sys.stderr)
                return 1
    except IdlError as e:
        print(str(e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

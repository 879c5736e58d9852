"""errorh.py — reads the closed list of error codes from sdk/include/xsp/error.h.

Owns: parsing the `X(ENUM, "wire-name", "doc")` rows of XSP_ERROR_CODES, so the IDL can
only name codes that exist and the docs quote error.h's own one-line meanings.
Never touches: error.h itself (read-only; error.c is the C side of the same table).
"""

import re

from .errors import IdlError, Loc

_ROW = re.compile(r'X\(\s*(XSP_[A-Z0-9_]+)\s*,\s*"([^"]*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)')


class ErrorCode:
    def __init__(self, enum, wire, doc):
        self.enum, self.wire, self.doc = enum, wire, doc

    def __repr__(self):
        return "ErrorCode(%s)" % self.enum


def read_error_codes(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start = text.find("#define XSP_ERROR_CODES(X)")
    if start < 0:
        raise IdlError(Loc(path, 1, 1), "no XSP_ERROR_CODES(X) list in error.h")
    # the macro ends at the first line that does not end with a backslash
    lines = []
    for line in text[start:].splitlines():
        lines.append(line)
        if not line.rstrip().endswith("\\"):
            break
    codes = {}
    for m in _ROW.finditer("\n".join(lines)):
        codes[m.group(2)] = ErrorCode(m.group(1), m.group(2), m.group(3))
    if "ok" not in codes or "decode" not in codes:
        raise IdlError(Loc(path, 1, 1), "could not read the error codes from error.h")
    return codes

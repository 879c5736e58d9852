"""errors.py — how the generator reports a mistake in an IDL file.

Owns: source locations and the one exception type every stage raises.  Messages have the
compiler form `file:line:col: error: text` so editors can jump to them.
"""


class Loc:
    __slots__ = ("file", "line", "col")

    def __init__(self, file, line, col):
        self.file, self.line, self.col = file, line, col

    def __str__(self):
        return "%s:%d:%d" % (self.file, self.line, self.col)


class IdlError(Exception):
    def __init__(self, loc, msg):
        super().__init__("%s: error: %s" % (loc, msg) if loc else "error: %s" % msg)
        self.loc = loc
        self.msg = msg

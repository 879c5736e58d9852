"""lexer.py — turns IDL text into tokens.

Owns: the token syntax of the IDL language (identifiers, kebab-case error names, integers,
punctuation, `//` and `/* */` comments, `///` item docs and `//!` module docs).
Never touches: grammar (parser.py) or meaning (model.py).

Doc comments are not tokens: consecutive `///` lines are attached to the next token as
`token.doc`; `//!` lines are collected into `Lexer.module_doc`.
"""

import re

from .errors import IdlError, Loc

PUNCT = set("{}()<>,;:=")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*")
_INT = re.compile(r"[0-9]+")


class Token:
    __slots__ = ("kind", "value", "loc", "doc", "doc_used")

    def __init__(self, kind, value, loc, doc=None):
        self.kind = kind      # "ident", "int", "punct", "eof"
        self.value = value
        self.loc = loc
        self.doc = doc        # text of the /// lines just before, or None
        self.doc_used = False # set by the parser when an item takes the doc

    def __repr__(self):
        return "Token(%s, %r)" % (self.kind, self.value)


def _strip_doc_line(text):
    # "/// foo" -> "foo"; keep further indentation (Markdown lists, code)
    return text[1:] if text.startswith(" ") else text


class Lexer:
    def __init__(self, text, filename):
        self.text = text
        self.filename = filename
        self.module_doc_lines = []
        self.tokens = self._scan()

    @property
    def module_doc(self):
        return "\n".join(self.module_doc_lines).strip() or None

    def _loc(self, pos):
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return Loc(self.filename, line, col)

    def _scan(self):
        text, pos, n = self.text, 0, len(self.text)
        toks = []
        doc_lines = None
        doc_pos = None
        while pos < n:
            c = text[pos]
            if c in " \t\r\n":
                pos += 1
                continue
            if text.startswith("///", pos) and not text.startswith("////", pos):
                end = text.find("\n", pos)
                end = n if end < 0 else end
                if doc_lines is None:
                    doc_lines, doc_pos = [], pos
                doc_lines.append(_strip_doc_line(text[pos + 3:end].rstrip()))
                pos = end
                continue
            if text.startswith("//!", pos):
                end = text.find("\n", pos)
                end = n if end < 0 else end
                self.module_doc_lines.append(_strip_doc_line(text[pos + 3:end].rstrip()))
                pos = end
                continue
            if text.startswith("//", pos):
                end = text.find("\n", pos)
                pos = n if end < 0 else end
                continue
            if text.startswith("/*", pos):
                end = text.find("*/", pos + 2)
                if end < 0:
                    raise IdlError(self._loc(pos), "unterminated /* comment")
                pos = end + 2
                continue
            loc = self._loc(pos)
            m = _IDENT.match(text, pos)
            if m:
                tok = Token("ident", m.group(0), loc)
                pos = m.end()
            else:
                m = _INT.match(text, pos)
                if m:
                    if pos + len(m.group(0)) < n and (text[m.end()].isalpha() or text[m.end()] == "_"):
                        raise IdlError(loc, "malformed number %r" % text[pos:m.end() + 1])
                    tok = Token("int", int(m.group(0)), loc)
                    pos = m.end()
                elif c in PUNCT:
                    tok = Token("punct", c, loc)
                    pos += 1
                else:
                    raise IdlError(loc, "unexpected character %r" % c)
            if doc_lines is not None:
                tok.doc = "\n".join(doc_lines).strip() or None
                doc_lines = None
            toks.append(tok)
        if doc_lines is not None:
            raise IdlError(self._loc(doc_pos), "/// doc comment documents nothing (end of file)")
        toks.append(Token("eof", None, self._loc(n)))
        return toks

#!/usr/bin/env python3
"""check_json.py — the generated `_to_json` printers agree with the msgpack encoders.

Owns: an independent check of JSON output: runs a self-test binary with `--json FILE`,
then for every sample parses the compact and the pretty JSON with Python's json module,
decodes the msgpack bytes with a small reader of its own (standard library only), and
requires all three to be the same value (absent optional fields are null in JSON and
missing in msgpack, so null entries are dropped before comparing).
Never touches: anything but the temporary file it is given.

    check_json.py SELFTEST_BINARY TMPFILE
"""

import json
import struct
import subprocess
import sys


class Reader:
    def __init__(self, data):
        self.d, self.i = data, 0

    def take(self, n):
        if self.i + n > len(self.d):
            raise ValueError("truncated msgpack")
        b = self.d[self.i:self.i + n]
        self.i += n
        return b

    def uint(self, n):
        return int.from_bytes(self.take(n), "big")

    def value(self):
        c = self.take(1)[0]
        if c <= 0x7f:
            return c
        if c >= 0xe0:
            return c - 0x100
        if 0x80 <= c <= 0x8f:
            return self.map(c & 0x0f)
        if 0x90 <= c <= 0x9f:
            return [self.value() for _ in range(c & 0x0f)]
        if 0xa0 <= c <= 0xbf:
            return self.take(c & 0x1f).decode("utf-8")
        simple = {0xc0: None, 0xc2: False, 0xc3: True}
        if c in simple:
            return simple[c]
        if c in (0xd9, 0xda, 0xdb):
            return self.take(self.uint({0xd9: 1, 0xda: 2, 0xdb: 4}[c])).decode("utf-8")
        if c in (0xcc, 0xcd, 0xce, 0xcf):
            return self.uint({0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8}[c])
        if c in (0xd0, 0xd1, 0xd2, 0xd3):
            n = {0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8}[c]
            return int.from_bytes(self.take(n), "big", signed=True)
        if c in (0xdc, 0xdd):
            return [self.value() for _ in range(self.uint(2 if c == 0xdc else 4))]
        if c in (0xde, 0xdf):
            return self.map(self.uint(2 if c == 0xde else 4))
        if c in (0xca, 0xcb):
            return struct.unpack(">f" if c == 0xca else ">d", self.take(4 if c == 0xca else 8))[0]
        raise ValueError("unexpected msgpack byte 0x%02x" % c)

    def map(self, n):
        out = {}
        for _ in range(n):
            k = self.value()
            out[k] = self.value()
        return out


def drop_nulls(v):
    if isinstance(v, dict):
        return {k: drop_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [drop_nulls(x) for x in v]
    return v


def main():
    binary, tmp = sys.argv[1], sys.argv[2]
    r = subprocess.run([binary, "--json", tmp], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr, file=sys.stderr)
        print("the self-test failed; see above", file=sys.stderr)
        return 1
    with open(tmp, encoding="utf-8") as f:
        records = f.read().split("\n\x1e\n")
    bad = n = 0
    for rec in records:
        if not rec.strip():
            continue
        lines = rec.split("\n")
        name, hexbytes, compact, pretty = lines[0], lines[1], lines[2], "\n".join(lines[3:])
        n += 1
        try:
            rd = Reader(bytes.fromhex(hexbytes))
            mp = rd.value()
            if rd.i != len(rd.d):
                raise ValueError("trailing msgpack bytes")
            jc = json.loads(compact)
            jp = json.loads(pretty)
        except ValueError as e:
            print("FAIL %s: %s\n  json: %s" % (name, e, compact), file=sys.stderr)
            bad += 1
            continue
        if name.endswith(" args"):        # a request: msgpack has the envelope, JSON the args
            if not isinstance(mp, dict) or mp.get("method") != name[:-len(" args")] or "args" not in mp:
                print("FAIL %s: bad request envelope %r" % (name, mp), file=sys.stderr)
                bad += 1
                continue
            mp = mp["args"]
        if jc != jp:
            print("FAIL %s: compact and pretty JSON differ" % name, file=sys.stderr)
            bad += 1
        elif drop_nulls(jc) != drop_nulls(mp):
            print("FAIL %s: JSON and msgpack differ\n  json:    %r\n  msgpack: %r" % (name, jc, mp), file=sys.stderr)
            bad += 1
    print("json check: %d samples, %d failures" % (n, bad))
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

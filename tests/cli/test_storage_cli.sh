#!/bin/bash
# test_storage_cli.sh — the typed storage commands of the `xsp` CLI (xsp plugin|sr|volume|
# datapath ..., xsp help), generated from the IDL, against a real xsp-switch and a real
# plugin: build/bin/xsp-test-plugin when it exists ($XSP_TEST_PLUGIN), else the Python
# stand-in tests/cli/storage_plugin.py (python3-zmq + python3-msgpack).
#
# Checks: help texts; the message for a method with no URI and neither --scheme nor --queue; volume create printed by the generated
# printer and as JSON (parsed by python3 -m json.tool); datapath attach prints the backend
# (domain + implementations); a storage error exits 1 with its code and details on stderr; a
# bad argument exits 2 naming the argument; a transport error exits 3; --dbg reaches the
# switch's trace.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
if [ -z "${XSP_TEST_PLUGIN:-}" ] || [ ! -x "$XSP_TEST_PLUGIN" ]; then
  if ! "$PY" -c 'import zmq, msgpack' 2>/dev/null; then
    echo "SKIP: no xsp-test-plugin and no python3-zmq/python3-msgpack for the stand-in plugin"
    exit 77
  fi
fi
. "$HERE/lib.sh"
start_switch

Q=storage-cli
STANDIN=1
if [ -n "${XSP_TEST_PLUGIN:-}" ] && [ -x "$XSP_TEST_PLUGIN" ]; then
  STANDIN=0
  echo "plugin: $XSP_TEST_PLUGIN"
  bg plugin "$XSP_TEST_PLUGIN" --switch "$XSP_SWITCH" --queue "$Q"
else
  echo "plugin: $HERE/storage_plugin.py (stand-in)"
  bg plugin "$PY" "$HERE/storage_plugin.py" --switch "$XSP_SWITCH" --queue "$Q"
fi
json() {  # PYTHON-EXPR [ARGS...]: print EXPR, with d = the JSON document in $OUT (ARGS: sys.argv[2:])
  "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$@" <<<"$OUT"
}

# ---------------------------------------------------------------- help (no switch needed)
expect_rc 0 "$XSP" --help
for c in plugin sr volume datapath help; do
  echo "$OUT" | grep -qE "^  $c +" || fail "xsp --help does not list '$c': $OUT"
done
expect_rc 0 "$XSP" help storage
for m in 'query ' 'probe ' 'set-description ' 'snapshot ' 'activate '; do
  echo "$OUT" | grep -q "^  $m" || fail "xsp help storage does not list '$m': $OUT"
done
expect_rc 0 "$XSP" volume --help
echo "$OUT" | grep -qE '^  create +Create a new volume\.$' || fail "volume --help: $OUT"
echo "$OUT" | grep -qE '^  set-name +Change a volume' || fail "volume --help: $OUT"
expect_rc 0 "$XSP" volume create --help
echo "$OUT" | grep -q '^usage: xsp volume create \[OPTIONS\] SR NAME DESCRIPTION SIZE SHARABLE$' ||
  fail "volume create --help synopsis: $OUT"
echo "$OUT" | grep -q 'SIZE, --size INTEGER' || fail "volume create --help: no SIZE: $OUT"
echo "$OUT" | grep -q 'uint64 (K, M, G, T suffixes: powers of 1024). Minimum virtual size' ||
  fail "volume create --help: no type/doc for size: $OUT"
echo "$OUT" | grep -q -- '--queue QUEUE' || fail "volume create --help: no --queue: $OUT"
expect_rc 0 "$XSP" help volume create
expect_rc 0 "$XSP" help datapath
echo "$OUT" | grep -qE '^  attach +Connect the data' || fail "help datapath: $OUT"
expect_rc 2 "$XSP" volume
expect_rc 2 "$XSP" volume frobnicate
echo "$ERR" | grep -q "no method 'frobnicate'" || fail "unknown method: $ERR"

# ---------------------------------------------------------------- usage errors (exit 2)
expect_rc 2 "$XSP" plugin query
[ "$ERR" = "xsp: plugin: this method has no URI or SR argument to find the plugin by: give --scheme S (or --queue QUEUE)" ] ||
  fail "missing --queue said: $ERR"
expect_rc 2 "$XSP" volume create sr1 disk0 desc 12X false --queue "$Q"
echo "$ERR" | grep -q "argument size: '12X' is not an integer" || fail "bad size said: $ERR"
expect_rc 2 "$XSP" volume create sr1 disk0 desc 1G maybe --queue "$Q"
echo "$ERR" | grep -q "argument sharable: 'maybe' is not a bool" || fail "bad bool said: $ERR"
expect_rc 2 "$XSP" volume create sr1 disk0 desc -5 false --queue "$Q"
echo "$ERR" | grep -q "argument size: '-5' is negative" || fail "negative size said: $ERR"
expect_rc 2 "$XSP" volume create sr1 disk0 --queue "$Q"
echo "$ERR" | grep -q "missing argument DESCRIPTION" || fail "missing argument said: $ERR"
expect_rc 2 "$XSP" volume stat sr1 k extra --queue "$Q"
echo "$ERR" | grep -q "too many arguments" || fail "too many arguments said: $ERR"
expect_rc 2 "$XSP" volume stat sr1 k --bogus 1 --queue "$Q"
echo "$ERR" | grep -q "unknown option --bogus" || fail "unknown option said: $ERR"
expect_rc 2 "$XSP" sr attach --configuration novalue --queue "$Q"
echo "$ERR" | grep -q "argument configuration: 'novalue' is not KEY=VALUE" || fail "bad map said: $ERR"
expect_rc 2 "$XSP" volume resize sr1 k 1G --new-size 2G --queue "$Q"
echo "$ERR" | grep -q "argument new_size: given twice" || fail "twice said: $ERR"

# ---------------------------------------------------------------- Plugin
expect_rc 0 "$XSP" plugin query --queue "$Q" --timeout 10    # waits for the plugin to subscribe
echo "$OUT" | grep -qE '^plugin: "' || fail "plugin query printed: $OUT"
echo "$OUT" | grep -qE '^api_version: "' || fail "plugin query printed: $OUT"
expect_rc 0 "$XSP" plugin query --queue "$Q" --json
"$PY" -m json.tool <<<"$OUT" >/dev/null || fail "plugin query --json is not JSON: $OUT"
expect_rc 0 "$XSP" plugin diagnostics --queue "$Q"

# ---------------------------------------------------------------- SR
expect_rc 0 "$XSP" sr create "mem://cli-test" "CLI SR" "made by test_storage_cli.sh" \
  --configuration origin=cli-test --queue "$Q" --json
"$PY" -m json.tool <<<"$OUT" >/dev/null || fail "sr create --json is not JSON: $OUT"
mapfile -t CONF < <("$PY" -c 'import json, sys
for k, v in json.load(sys.stdin).items(): print("--configuration=%s=%s" % (k, v))' <<<"$OUT")
[ "${#CONF[@]}" -ge 1 ] || fail "sr create returned an empty configuration: $OUT"
expect_rc 0 "$XSP" sr attach "${CONF[@]}" --queue "$Q"
SR=$OUT                                # a string result prints raw: the SR key
[ -n "$SR" ] && [ "$(wc -l <<<"$SR")" = 1 ] || fail "sr attach printed: '$SR'"
expect_rc 0 "$XSP" plugin ls --queue "$Q" --json
[ "$(json 'sys.argv[2] in d' "$SR")" = True ] || fail "plugin ls does not list $SR: $OUT"
expect_rc 0 "$XSP" sr stat "$SR" --queue "$Q"
echo "$OUT" | grep -qE '^health: ' || fail "sr stat printed: $OUT"
expect_rc 0 "$XSP" sr set-name "$SR" "renamed SR" --queue "$Q"
[ -z "$OUT" ] || fail "sr set-name printed '$OUT' (no result: nothing in text mode)"
expect_rc 0 "$XSP" sr stat "$SR" --queue "$Q" --json
[ "$(json 'd["name"]')" = "renamed SR" ] || fail "sr set-name did not rename: $OUT"

# ---------------------------------------------------------------- Volume
expect_rc 0 "$XSP" volume create "$SR" disk0 "first disk" 10G false --queue "$Q" --dbg cli-storage-dbg
for f in key name description read_write sharable virtual_size physical_utilisation uri keys; do
  echo "$OUT" | grep -qE "^$f:" || fail "volume create printed no '$f:' line: $OUT"
done
echo "$OUT" | grep -q '^name: "disk0"$' || fail "volume create printed: $OUT"
echo "$OUT" | grep -q '^sharable: false$' || fail "volume create printed: $OUT"
echo "$OUT" | grep -qE '^  \[0\]: "' || fail "volume create printed no indented uri list: $OUT"
HUMAN_CREATE=$OUT
expect_rc 0 "$XSP" volume create --sr "$SR" --name disk1 --description="second disk" \
  --size 1536M --sharable true --queue "$Q" --json
"$PY" -m json.tool <<<"$OUT" >/dev/null || fail "volume create --json is not JSON: $OUT"
[ "$(json 'd["name"]')" = disk1 ] || fail "volume create --json: $OUT"
[ "$(json 'd["sharable"]')" = True ] || fail "volume create --json: $OUT"
[ "$(json 'd["virtual_size"] >= 1536 * 1024 * 1024')" = True ] || fail "1536M: $OUT"
KEY=$(json 'd["key"]')
URI=$(json 'd["uri"][0]')
expect_rc 0 "$XSP" volume stat "$SR" "$KEY" --queue "$Q"
echo "$OUT" | grep -q '^name: "disk1"$' || fail "volume stat printed: $OUT"
expect_rc 0 "$XSP" volume set "$SR" "$KEY" owner "the test" --queue "$Q"
expect_rc 0 "$XSP" volume set_name "$SR" "$KEY" disk1b --queue "$Q"     # snake case works too
expect_rc 0 "$XSP" volume resize "$SR" "$KEY" --new-size 2G --queue "$Q"
expect_rc 0 "$XSP" volume stat "$SR" "$KEY" --queue "$Q" --json
[ "$(json 'd["keys"]["owner"]')" = "the test" ] || fail "volume set: $OUT"
[ "$(json 'd["name"]')" = disk1b ] || fail "volume set-name: $OUT"
[ "$(json 'd["virtual_size"] >= 2 << 30')" = True ] || fail "volume resize 2G: $OUT"
expect_rc 0 "$XSP" sr ls "$SR" --queue "$Q" --json
[ "$(json 'len(d)')" = 2 ] || fail "sr ls: $OUT"

# a storage error: exit 1, `xsp: CODE: message` on stderr
expect_rc 1 "$XSP" volume stat "$SR" no-such-volume --queue "$Q"
echo "$ERR" | grep -q '^xsp: volume-does-not-exist: ' || fail "unknown volume said: $ERR"
[ -z "$OUT" ] || fail "an error reply printed on stdout: $OUT"
if [ $STANDIN = 1 ]; then     # the stand-in's details are known: sr=..., key=...
  echo "$ERR" | grep -q '^  key=no-such-volume$' || fail "no detail key=value line: $ERR"
fi

# ---------------------------------------------------------------- Datapath
expect_rc 0 "$XSP" datapath open "$URI" true --queue "$Q"
expect_rc 0 "$XSP" datapath attach "$URI" 7 --queue "$Q"
echo "$OUT" | grep -q '^domain:$' || fail "datapath attach printed no domain: $OUT"
echo "$OUT" | grep -qE '^  domid: [0-9]+$' || fail "datapath attach printed no domid: $OUT"
echo "$OUT" | grep -qE '^  source: (fixed|plugin_domain|on_demand)$' || fail "no source: $OUT"
echo "$OUT" | grep -q '^implementations:$' || fail "datapath attach printed no implementations: $OUT"
echo "$OUT" | grep -qE '^    kind: (xen_disk|block_device|file|nbd)$' || fail "no kind: $OUT"
HUMAN_ATTACH=$OUT
expect_rc 0 "$XSP" datapath attach --uri "$URI" --domain 7 --queue "$Q" --json
"$PY" -m json.tool <<<"$OUT" >/dev/null || fail "datapath attach --json is not JSON: $OUT"
[ "$(json 'isinstance(d["domain"]["domid"], int) and len(d["implementations"]) >= 1')" = True ] ||
  fail "datapath attach --json: $OUT"
expect_rc 0 "$XSP" datapath activate "$URI" 7 --queue "$Q"
[ -z "$OUT" ] || fail "datapath activate printed '$OUT'"
expect_rc 0 "$XSP" datapath deactivate "$URI" 7 --queue "$Q" --json
[ "$OUT" = null ] || fail "datapath deactivate --json printed '$OUT'"
expect_rc 0 "$XSP" datapath detach "$URI" 7 --queue "$Q"
expect_rc 0 "$XSP" datapath close "$URI" --queue "$Q"

# ---------------------------------------------------------------- dbg, transport errors, cleanup
expect_rc 0 "$XSP" trace --queue "$Q"
echo "$OUT" | grep -q 'cli-storage-dbg' || fail "--dbg did not reach the switch's trace: $OUT"
expect_rc 3 "$XSP" plugin query --queue nobody-serves-this --timeout 0.3
echo "$ERR" | grep -q '^xsp: expired: ' || fail "no 'xsp: expired:' line: $ERR"
expect_rc 3 "$XSP" --switch "ipc://$T/none.sock" plugin query --queue "$Q"
echo "$ERR" | grep -q '^xsp: disconnected: ' || fail "no switch said: $ERR"
expect_rc 0 "$XSP" volume destroy "$SR" "$KEY" --queue "$Q"
expect_rc 0 "$XSP" sr destroy "$SR" --queue "$Q"

echo "--- volume create (text):"
echo "$HUMAN_CREATE"
echo "--- datapath attach (text):"
echo "$HUMAN_ATTACH"
echo ok

#!/bin/bash
# test_quickstart.sh SOURCE_DIR BUILD_DIR — the README Quick start main job and walk-through,
# run exactly as written (see CMakeLists.txt).  Exit 0 when every check holds.
set -uo pipefail
src=$1 build=$2
fail() { echo "quickstart: FAIL: $*" >&2; [ -f "${log:-}" ] && sed 's/^/   run.sh | /' "$log" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (xsp-plugin-file makes loop devices)"
[ -e /dev/loop-control ] || fail "no /dev/loop-control: the file plugin cannot make loop devices here"

tmp=$(mktemp -d /tmp/xsp-qs.XXXXXX)
runpid=
cleanup() {
  [ -n "$runpid" ] && kill -TERM "$runpid" 2>/dev/null && wait "$runpid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
log=$tmp/run.log
: >"$log"

# 1. the main job, on the binaries of this build tree
XSP_NO_BUILD=1 XSP_BUILD_DIR=$build XSP_RUN_DIR=$tmp/run setsid bash "$src/scripts/run.sh" >"$log" 2>&1 &
runpid=$!
for ((i = 0; i < 300; i++)); do
  grep -q "all components up" "$log" && break
  kill -0 "$runpid" 2>/dev/null || fail "scripts/run.sh exited before all components were up"
  sleep 0.1
done
grep -q "all components up" "$log" || fail "components not up within 30 s"
for c in switch registrar plugin-file; do
  grep -Eq "^\[xsp\] $c +up " "$log" || fail "no status line for $c"
done
grep -q "^\[xsp\] sr .*attached file://$tmp/run/state/sr1" "$log" || fail "default SR not attached"
export_line=$(grep -E '^ +export XSP_SWITCH=' "$log" | sed 's/^ *//')
[ -n "$export_line" ] || fail "run.sh printed no export line"

# 2. the README walk-through: its lines, with the export line run.sh printed
block=$(awk '/<!-- walkthrough -->/{on=1; next} /<!-- \/walkthrough -->/{on=0} on && !/^```/' "$src/README.md")
[ -n "$block" ] || fail "no walk-through block in README.md"
script=$tmp/walk.sh
{
  echo "set -e"
  echo "$export_line"
  grep -v '^export XSP_SWITCH=' <<<"$block"
} >"$script"
mkdir "$tmp/work"
out=$tmp/walk.out
(cd "$tmp/work" && bash -x "$script") >"$out" 2>&1 || { cat "$out" >&2; fail "the walk-through failed"; }
cat "$out"

# 3. what the walk-through must have shown
check() { grep -Eq "$1" "$out" || fail "walk-through output lacks: $2"; }
check 'xsp-plugin-file +0 +volume,datapath +file .*alive' "the plugin in xsp plugins"
check 'queue: "org.xen.xsp.storage.file"' "the resolved queue"
check 'kind: block_device' "a block device implementation"
check 'path: "/dev/loop[0-9]+"' "a loop device path"
check 'activated-on-another-host' "the refused second activation"
check 'refused: domain 5 holds it' "the refusal message"
check 'reply +org.xen.xsp.storage.file' "trace lines for the plugin's queue"
img=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["uri"][0][7:])' "$tmp/work/vol1.json")
[ -z "$(losetup -j "$img" 2>/dev/null)" ] || fail "a loop device is left on $img: $(losetup -j "$img")"
[ ! -e "$img" ] || fail "volume destroy left $img"

# 4. stop as Ctrl-C does: in order, every component reported stopped, nothing left running
kill -TERM "$runpid"
rc=0; wait "$runpid" || rc=$?
runpid=
[ "$rc" = 0 ] || fail "run.sh exit status $rc after SIGTERM"
for c in plugin-file registrar switch; do
  grep -Eq "^\[xsp\] $c +stopped$" "$log" || fail "$c not reported stopped"
done
pgrep -f "$tmp/run" >/dev/null && fail "processes left running: $(pgrep -af "$tmp/run")"
echo "quickstart: ok"

# lib.sh — helpers for the CLI tests (sourced by test_*.sh; bash, set -e).
#
# start_switch [ARGS...]   start build/bin/xsp-switch in a private run dir, wait for its ready
#                          line, export XSP_SWITCH; the EXIT trap kills it and every background
#                          job started with bg.
# bg NAME CMD...           run CMD in the background, output in $T/NAME.out (stdout+stderr);
#                          its pid is remembered for cleanup and printed in $BG_PID
# wait_for FILE PATTERN [SECONDS]  wait until FILE contains PATTERN (grep -E)
# fail MSG                 print MSG and exit 1
# expect_rc N CMD...       run CMD, fail unless it exits with N; output in $OUT (stdout) $ERR

BIN=${XSP_BIN_DIR:?XSP_BIN_DIR must point at build/bin}
XSP=$BIN/xsp
T=$(mktemp -d "${TMPDIR:-/tmp}/xsp-cli.XXXXXX")
PIDS=()

cleanup() {
  local rc=$? p i
  # SIGTERM first so that processes exit cleanly (and sanitizers get to report), then KILL
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 60; i++)); do
    local alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.05
  done
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.out "$T"/*.err 2>/dev/null; then
    echo "FAIL: a sanitizer reported an error in the files above" >&2
    rc=1
  fi
  if [ $rc -ne 0 ]; then
    echo "--- test failed (rc $rc); logs in $T:" >&2
    for f in "$T"/*.out "$T"/*.err; do [ -f "$f" ] && { echo "== $f" >&2; tail -20 "$f" >&2; }; done
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

wait_for() {  # FILE PATTERN [SECONDS]
  local file=$1 pat=$2 secs=${3:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    grep -qE -- "$pat" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "'$pat' did not appear in $file within $secs s"
}

bg() {  # NAME CMD...
  local name=$1; shift
  "$@" >"$T/$name.out" 2>&1 &
  BG_PID=$!
  PIDS+=("$BG_PID")
}

start_switch() {
  mkdir -p "$T/run"
  "$BIN/xsp-switch" --run-dir "$T/run" --heartbeat-ms 200 --log-level warn "$@" \
    >"$T/switch.out" 2>"$T/switch.err" &
  PIDS+=($!)
  wait_for "$T/switch.out" '^xsp-switch ready: ' 10
  export XSP_SWITCH="ipc://$T/run/switch.sock"
}

expect_rc() {  # N CMD...
  local want=$1; shift
  set +e
  "$@" >"$T/last.out" 2>"$T/last.err"
  local rc=$?
  set -e
  OUT=$(cat "$T/last.out"); ERR=$(cat "$T/last.err")
  [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, want $want; stdout: $OUT; stderr: $ERR"
}

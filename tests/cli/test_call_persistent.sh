#!/bin/bash
# xsp call --persistent [--identity]: journaled by a switch with --state-dir; an accepted
# call with an identity gets its answer from the restarted switch after a SIGKILL; a switch
# without --state-dir refuses --persistent with a sentence.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/state"
start_switch --state-dir "$T/state"
sw_pid=${PIDS[-1]}

bg echo "$XSP" serve echo --echo
wait_for "$T/echo.out" '^xsp serve: ready: echo$'
expect_rc 0 "$XSP" call echo hello --persistent --identity cli-test
[ "$OUT" = hello ] || fail "persistent echo answered '$OUT'"

# an accepted call waiting for a server survives a SIGKILL of the switch
"$XSP" call later "kept across the crash" --persistent --identity cli-later --timeout 60 \
  >"$T/later.out" 2>"$T/later.err" &
call_pid=$!
for _ in $(seq 100); do   # wait until the request is journaled (the queue exists, depth 1)
  "$XSP" queues 2>/dev/null | grep -Eq '^ *later +1 ' && break
  sleep 0.1
done
"$XSP" queues | grep -Eq '^ *later +1 ' || fail "the persistent request never reached queue 'later': $("$XSP" queues)"
kill -KILL "$sw_pid"
wait "$sw_pid" 2>/dev/null || true
"$BIN/xsp-switch" --run-dir "$T/run" --heartbeat-ms 200 --log-level warn --state-dir "$T/state" \
  >"$T/switch2.out" 2>"$T/switch2.err" &
PIDS+=($!)
wait_for "$T/switch2.out" '^xsp-switch ready: ' 10
bg later-server "$XSP" serve later --echo
rc=0; wait "$call_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "the persistent call exited $rc after the switch restart: $(cat "$T/later.err")"
[ "$(cat "$T/later.out")" = "kept across the crash" ] || fail "answer after the restart: '$(cat "$T/later.out")'"
echo ok

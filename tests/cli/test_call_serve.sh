#!/bin/bash
# xsp call / xsp serve --echo / --exec, exit codes and error lines.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
start_switch

# --echo: body from the argument and from stdin
bg echo "$XSP" serve echo --echo --concurrency 2
wait_for "$T/echo.out" '^xsp serve: ready: echo$'
expect_rc 0 "$XSP" call echo hello
[ "$OUT" = hello ] || fail "echo answered '$OUT'"
out=$(printf 'from stdin\nline 2' | "$XSP" call echo)
[ "$out" = $'from stdin\nline 2' ] || fail "stdin echo answered '$out'"
expect_rc 0 "$XSP" call echo ''          # empty body
[ -z "$OUT" ] || fail "empty echo answered '$OUT'"
# --switch on the command line wins over $XSP_SWITCH
expect_rc 0 env XSP_SWITCH=ipc:///nonexistent/x.sock "$XSP" --switch "$XSP_SWITCH" call echo viaflag
[ "$OUT" = viaflag ] || fail "--switch call answered '$OUT'"

# --exec: stdout becomes the answer
bg upper "$XSP" serve upper --exec 'tr a-z A-Z' --concurrency 2
wait_for "$T/upper.out" '^xsp serve: ready: upper$'
expect_rc 0 "$XSP" call upper 'hello world' --dbg cli-test
[ "$OUT" = 'HELLO WORLD' ] || fail "upper answered '$OUT'"

# --exec failing: status 1 carrying its stderr, exit code 1
bg bad "$XSP" serve bad --exec 'echo bad >&2; exit 3'
wait_for "$T/bad.out" '^xsp serve: ready: bad$'
expect_rc 1 "$XSP" call bad x
[ "$OUT" = bad ] || fail "error answer body was '$OUT'"
echo "$ERR" | grep -q '^xsp: application: ' || fail "no 'xsp: application:' line: $ERR"

# --concurrency: 3 commands sleeping 1 s run at once (all start before any ends)
bg slow "$XSP" serve slow --exec "date +%s%N >>$T/starts; sleep 1; date +%s%N >>$T/ends; cat" --concurrency 3
wait_for "$T/slow.out" '^xsp serve: ready: slow$'
callers=()
for i in 1 2 3; do "$XSP" call slow "job$i" >"$T/slow$i.res" & callers+=($!); done
for p in "${callers[@]}"; do wait "$p" || fail "a slow call failed"; done
for i in 1 2 3; do [ "$(cat "$T/slow$i.res")" = "job$i" ] || fail "slow job$i answered '$(cat "$T/slow$i.res")'"; done
[ "$(wc -l <"$T/starts")" = 3 ] && [ "$(wc -l <"$T/ends")" = 3 ] || fail "not 3 commands ran"
last_start=$(sort -n "$T/starts" | tail -1)
first_end=$(sort -n "$T/ends" | head -1)
[ "$last_start" -lt "$first_end" ] || fail "--concurrency 3 did not run the 3 commands at once"

# switch-side errors: exit 3 and `xsp: CODE: sentence`
expect_rc 3 "$XSP" call nobody x --timeout 0.3
echo "$ERR" | grep -q '^xsp: expired: ' || fail "no 'xsp: expired:' line: $ERR"
expect_rc 3 "$XSP" call 'bad queue!' x
echo "$ERR" | grep -q '^xsp: invalid-argument: ' || fail "no invalid-argument line: $ERR"

# no switch: exit 3 with a clear sentence
expect_rc 3 "$XSP" --switch "ipc://$T/none.sock" call echo x
echo "$ERR" | grep -q "xsp: disconnected: no switch answered at ipc://$T/none.sock within" ||
  fail "no 'no switch answered' line: $ERR"

# --persistent needs a switch with --state-dir: refused with a sentence
expect_rc 3 "$XSP" call echo x --persistent
echo "$ERR" | grep -q "state-dir" || fail "--persistent without --state-dir: $ERR"

# usage errors: exit 2
expect_rc 2 "$XSP" call
expect_rc 2 "$XSP" serve q
expect_rc 2 "$XSP" serve q --echo --exec cat
expect_rc 2 "$XSP" frobnicate
expect_rc 0 "$XSP" --help
echo "$OUT" | grep -q 'Exit status' || fail "--help does not document exit codes"
expect_rc 0 "$XSP" call --help
echo "$OUT" | grep -q 'usage: xsp call' || fail "call --help"

# serve stops cleanly on SIGTERM
kill -TERM "$BG_PID"
for _ in $(seq 100); do kill -0 "$BG_PID" 2>/dev/null || break; sleep 0.05; done
! kill -0 "$BG_PID" 2>/dev/null || fail "xsp serve ignored SIGTERM"
wait "$BG_PID" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || fail "xsp serve exited $rc after SIGTERM"
echo ok

#!/bin/bash
# xsp trace: lines, --json, --queue, --mscgen, --follow (until SIGINT).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
start_switch

bg echo "$XSP" serve echo --echo
wait_for "$T/echo.out" '^xsp serve: ready: echo$'
expect_rc 0 "$XSP" call echo hi --dbg my-dbg-123
expect_rc 3 "$XSP" call other x --timeout 0.2 --dbg other-dbg

# the switch's expire event normally precedes the CLI's own give-up (500 ms later), but a
# starved switch may record it late: give it up to 5 s before reading the ring
for _ in $(seq 50); do
  "$XSP" trace | grep -qE ' expire +other ' && break
  sleep 0.1
done
tr=$("$XSP" trace)
echo "$tr"
for ev in send deliver reply; do
  echo "$tr" | grep -E " $ev +echo " | grep -q 'dbg="my-dbg-123"' || fail "no $ev event with the dbg"
done
echo "$tr" | grep -E ' reply +echo ' | grep -q 'service=' || fail "reply event without service time"
echo "$tr" | grep -qE ' expire +other ' || fail "no expire event"
echo "$tr" | grep -qE ' peer-up ' || fail "no peer-up event"

# --queue filters
q=$("$XSP" trace --queue 'ech?')
echo "$q" | grep -qE ' send +echo ' || fail "--queue ech? lost the echo events"
! echo "$q" | grep -qE ' other ' || fail "--queue ech? kept the other queue"

# --json: one valid object per line
"$XSP" trace --json | /usr/bin/python3 -c '
import json, sys
evs = [json.loads(l) for l in sys.stdin if l.strip()]
kinds = {(e["event"], e["queue"]) for e in evs}
for k in ("send", "deliver", "reply"):
    assert (k, "echo") in kinds, k
r = [e for e in evs if e["event"] == "reply" and e["queue"] == "echo"][0]
assert r["dbg"] == "my-dbg-123" and r["size"] == 2 and r["msg_id"] > 0, r
seqs = [e["seq"] for e in evs]
assert seqs == sorted(seqs), seqs
' || fail "trace --json"

# --from skips earlier events
# (compare sequence numbers, not line counts: every `xsp trace` adds its own peer events)
first=$("$XSP" trace --from 5 | awk 'NR == 1 {print $1}')
[ "$first" = 5 ] || fail "--from 5 started at seq '$first'"
! "$XSP" trace --from 5 | awk '{print $1}' | grep -qxE '[0-4]' || fail "--from 5 printed an earlier seq"

# --mscgen
m=$("$XSP" trace --mscgen)
[ "$(echo "$m" | head -1)" = 'msc {' ] || fail "mscgen does not start with 'msc {': $m"
[ "$(echo "$m" | tail -1)" = '}' ] || fail "mscgen does not end with '}'"
echo "$m" | grep -qE '^  "xsp-cli#[0-9]+" => "echo" \[label="send #[0-9]+ my-dbg-123"\];$' || fail "mscgen send arc: $m"
echo "$m" | grep -qE '^  "xsp-serve-echo#[0-9]+" >> "xsp-cli#[0-9]+" \[label="reply #' || fail "mscgen reply arc"
if command -v mscgen >/dev/null; then echo "$m" | mscgen -T png -o "$T/chart.png" - || fail "mscgen rejected the chart"; fi

# --follow: live events until SIGINT
bg follow "$XSP" trace --follow --queue echo
fpid=$BG_PID
bg followmsc "$XSP" trace --follow --mscgen
mpid=$BG_PID
wait_for "$T/followmsc.out" '^msc \{$'
wait_for "$T/follow.out" 'my-dbg-123'          # the ring first
expect_rc 0 "$XSP" call echo live --dbg live-dbg-456
wait_for "$T/follow.out" 'reply +echo .*live-dbg-456'
sleep 0.2
kill -INT "$fpid" "$mpid"
wait "$fpid" || fail "trace --follow exited $? after SIGINT"
wait "$mpid" || fail "trace --follow --mscgen exited $? after SIGINT"
[ "$(tail -1 "$T/followmsc.out")" = '}' ] || fail "follow mscgen not closed: $(tail -3 "$T/followmsc.out")"
grep -q 'live-dbg-456' "$T/followmsc.out" || fail "follow mscgen lacks the live call"
echo ok

#!/bin/bash
# xsp queues [--json], xsp diag [--json].
set -euo pipefail
. "$(dirname "$0")/lib.sh"
start_switch

bg echo "$XSP" serve echo --echo
wait_for "$T/echo.out" '^xsp serve: ready: echo$'
"$XSP" call echo warmup >/dev/null

# three requests wait in a queue nobody serves
for i in 1 2 3; do bg "wait$i" "$XSP" call waitq "w$i" --timeout 30; done
depth=
for _ in $(seq 100); do
  json=$("$XSP" queues --json)
  depth=$(printf '%s' "$json" | /usr/bin/python3 -c '
import json, sys
qs = json.load(sys.stdin)
assert isinstance(qs, list)
print(next((q["depth"] for q in qs if q["name"] == "waitq"), -1))')
  [ "$depth" = 3 ] && break
  sleep 0.05
done
[ "$depth" = 3 ] || fail "waitq depth is '$depth', want 3: $json"
printf '%s' "$json" | /usr/bin/python3 -c '
import json, sys
q = {q["name"]: q for q in json.load(sys.stdin)}
e = q["echo"]
assert e["consumers"] == 1 and e["sent"] == 1 and e["delivered"] == 1 and e["replied"] == 1, e
for k in ("depth", "inflight", "consumers", "sent", "delivered", "replied", "expired", "requeued", "errors"):
    assert k in q["waitq"], k
assert q["waitq"]["consumers"] == 0 and q["waitq"]["sent"] == 3
' || fail "queues --json content: $json"

# the table form
table=$("$XSP" queues)
echo "$table" | grep -qE '^QUEUE +DEPTH +INFLIGHT +CONSUMERS +SENT +DELIVERED +REPLIED +EXPIRED +REQUEUED +ERRORS$' ||
  fail "queues header: $table"
echo "$table" | grep -qE '^waitq +3 +0 +0 +3 ' || fail "queues row for waitq: $table"

# diag: readable, mentions the peers
d=$("$XSP" diag)
echo "$d"
echo "$d" | grep -q '^switch ' || fail "diag has no switch line"
echo "$d" | grep -q 'uptime:' || fail "diag has no uptime"
echo "$d" | grep -q 'limits:.*max_payload=1048576' || fail "diag has no limits"
echo "$d" | grep -qE 'counters:.*sent=4' || fail "diag counters"
echo "$d" | grep -qE 'xsp-serve-echo#[0-9]+ +server .* echo\(1\)' || fail "diag does not show the echo server"
[ "$(echo "$d" | grep -cE 'xsp-cli#[0-9]+ +cli ')" -ge 4 ] || fail "diag does not show the 3 waiting callers and itself"

# diag --json: one object with the documented keys
"$XSP" diag --json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
for k in ("version", "uptime_ms", "heartbeat_ms", "limits", "counters", "queues", "peers", "trace"):
    assert k in d, k
assert d["heartbeat_ms"] == 200
names = [p["name"] for p in d["peers"]]
assert "xsp-serve-echo" in names, names
srv = [p for p in d["peers"] if p["name"] == "xsp-serve-echo"][0]
assert [(s["queue"], s["credit"]) for s in srv["subscriptions"]] == [("echo", 1)], srv
' || fail "diag --json"
echo ok

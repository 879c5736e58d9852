#!/bin/sh
# bench_smoke — xsp-bench runs every phase end to end with tiny durations, over ipc and tcp;
# its --json output parses and reports every reply verified (errors == 0) and every figure
# present.  A correctness smoke, NOT a timing assertion: no speed is checked here.
# Usage: bench_smoke.sh path/to/xsp-bench   (needs xsp-switch next to it)
set -u
bench="$1"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for transport in ipc tcp; do
    if ! "$bench" --transport "$transport" --seconds 0.3 --rtt-count 300 --window 16 --json >"$out"; then
        echo "bench_smoke: xsp-bench --transport $transport failed; its output:" >&2
        cat "$out" >&2
        exit 1
    fi
    /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
keys = ["direct_rtt_us", "switch_rtt_us", "rtt_ratio", "pipelined_rpc_per_s",
        "bare_relay_rpc_per_s", "vs_bare_relay", "clients", "servers", "window",
        "payload_bytes", "transport", "errors"]
missing = [k for k in keys if d.get(k) is None]
if missing:
    sys.exit("bench_smoke: figures missing from the JSON: %s" % missing)
if d["errors"] != 0 or d["failed_phases"] != 0:
    sys.exit("bench_smoke: errors=%s failed_phases=%s" % (d["errors"], d["failed_phases"]))
print("bench_smoke: %s ok: rtt_ratio %.2f, vs_bare_relay %.2f" % (d["transport"], d["rtt_ratio"], d["vs_bare_relay"]))
' "$out" || { cat "$out" >&2; exit 1; }
done

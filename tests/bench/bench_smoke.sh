#!/bin/sh
# bench_smoke — xsp-bench runs every phase end to end with tiny durations, over ipc and tcp,
# then the SDK mode alone (--sdk: typed Datapath.attach calls through libxsp against raw
# peers of the same payload sizes); each --json output parses and reports every reply
# verified (errors == 0) and every figure present.  A correctness smoke, NOT a timing
# assertion: no speed (nor sdk_overhead) is checked here.
# Usage: bench_smoke.sh path/to/xsp-bench   (needs xsp-switch next to it)
set -u
bench="$1"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# check WHAT KEYS...: the JSON in $out has every key (non-null), errors == 0, no failed phase
check() {
    /usr/bin/python3 -c '
import json, sys
what, keys = sys.argv[2], sys.argv[3:]
d = json.load(open(sys.argv[1]))
missing = [k for k in keys if d.get(k) is None]
if missing:
    sys.exit("bench_smoke: %s: figures missing from the JSON: %s" % (what, missing))
if d["errors"] != 0 or d["failed_phases"] != 0:
    sys.exit("bench_smoke: %s: errors=%s failed_phases=%s" % (what, d["errors"], d["failed_phases"]))
line = "bench_smoke: %s ok:" % what
if "rtt_ratio" in keys:
    line += " rtt_ratio %.2f, vs_bare_relay %.2f," % (d["rtt_ratio"], d["vs_bare_relay"])
line += " sdk %d vs raw %d rpc/s (sdk_overhead %.2f; request %d B, reply %d B)" % (
    d["sdk_rpc_per_s"], d["raw_same_payload_rpc_per_s"], d["sdk_overhead"],
    d["sdk_request_bytes"], d["sdk_reply_bytes"])
print(line)
' "$out" "$@" || { cat "$out" >&2; exit 1; }
}

sdk_keys="sdk_rpc_per_s raw_same_payload_rpc_per_s sdk_overhead sdk_request_bytes sdk_reply_bytes"
# ipc in one round (the test's time is mostly per-round set-up), tcp in the default three
# (the median over rounds)
for transport in ipc tcp; do
    rounds=3
    [ "$transport" = ipc ] && rounds=1
    if ! "$bench" --transport "$transport" --seconds 0.3 --rtt-count 300 --window 16 --rounds "$rounds" \
            --json >"$out"; then
        echo "bench_smoke: xsp-bench --transport $transport failed; its output:" >&2
        cat "$out" >&2
        exit 1
    fi
    check "all phases, $transport" direct_rtt_us switch_rtt_us rtt_ratio pipelined_rpc_per_s \
        bare_relay_rpc_per_s vs_bare_relay clients servers window payload_bytes transport errors \
        $sdk_keys
done

# the SDK mode alone, 2 clients and 2 servers (several sessions per process)
if ! "$bench" --sdk --seconds 0.3 --window 16 --clients 2 --servers 2 --json >"$out"; then
    echo "bench_smoke: xsp-bench --sdk failed; its output:" >&2
    cat "$out" >&2
    exit 1
fi
check "--sdk" $sdk_keys
/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ran = sorted(d["phases"])
if ran != ["raw_same_payload", "sdk_pipelined"]:
    sys.exit("bench_smoke: --sdk ran %s, expected raw_same_payload and sdk_pipelined" % ran)
' "$out" || exit 1

# SDK peers with their own libzmq contexts (one I/O thread per session, as separate
# processes would have) instead of sharing the raw peers' context
if ! "$bench" --sdk --sdk-own-contexts --seconds 0.3 --window 16 --clients 2 --servers 2 --json >"$out"; then
    echo "bench_smoke: xsp-bench --sdk-own-contexts failed; its output:" >&2
    cat "$out" >&2
    exit 1
fi
check "--sdk --sdk-own-contexts" $sdk_keys

#!/bin/bash
# CURVE for tcp peers, and each refusal with the log line it leaves (docs/security.md):
#   plaintext tcp to a CURVE switch, an unknown key (logged, counted), a driver-domain
#   identity claiming dom0 (its certificate's domid wins), serving the registrar's queue or
#   a queue outside its `serve` prefixes, calling outside its `call` prefixes, TRACE and
#   DIAG; a permitted queue works and a dom0
#   caller reaches it; the registrar refuses a registration by the AUTHENTICATED domain.
set -euo pipefail
. "$(dirname "$0")/../cli/lib.sh"

K=$T/keys; mkdir -p "$K" "$T/certs"
"$XSP" keygen switch "$K" >/dev/null
"$XSP" keygen tool0 "$K" --domid 0 >/dev/null
"$XSP" keygen nbd3 "$K" --domid 3 --serve org.xen.xsp.storage.nbd --call org.xen.xsp.storage.nbd.peer >/dev/null
"$XSP" keygen stranger "$K" --domid 0 >/dev/null
[ "$(stat -c %a "$K/nbd3.key_secret")" = 600 ] || fail "a secret certificate is not mode 0600"
cp "$K/tool0.key" "$K/nbd3.key" "$T/certs/"        # not the stranger's

start_switch --listen tcp://127.0.0.1:0 --curve-secret "$K/switch.key_secret" --certs "$T/certs" --log-level info
EP=$(sed -n 's/.* \(tcp:[^ ]*\).*/\1/p' "$T/switch.out")
[ -n "$EP" ] || fail "no tcp endpoint in the ready line: $(cat "$T/switch.out")"
# as KEYNAME CMD... : run CMD with that identity's certificate.  A script that execs CMD, so
# that `bg NAME as ...` remembers CMD's own pid (a shell function would leave CMD running
# as a grandchild nobody kills).
cat >"$T/as" <<AS
#!/bin/sh
who=\$1; shift
XSP_CURVE_CERT=$K/\$who.key_secret XSP_CURVE_SERVER=$K/switch.key exec "\$@"
AS
chmod +x "$T/as"
as() { "$T/as" "$@"; }

# 1. plaintext tcp: the CURVE handshake fails, nothing reaches the switch
expect_rc 3 "$XSP" --switch "$EP" diag
echo "$ERR" | grep -q "no switch answered" || fail "plaintext tcp: $ERR"
echo "ok 1 - plaintext tcp refused by the handshake"

# 2. an unknown key: refused, logged with the key, counted
expect_rc 3 as stranger "$XSP" --switch "$EP" diag
stranger=$(sed -n 's/.*public-key = "\(.*\)"/\1/p' "$K/stranger.key")
wait_for "$T/switch.err" "refused a CURVE connection from 127.0.0.1: public key .* is not in --certs"
grep -qF "$stranger" "$T/switch.err" || fail "the refusal does not name the key"
"$XSP" diag --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["counters"]["auth_refused"] >= 1 else 1)' ||
  fail "counters.auth_refused did not count the unknown key"
echo "ok 2 - unknown key refused: $(grep -m1 'refused a CURVE' "$T/switch.err" | cut -c1-120)..."

# 3. a dom0 identity may observe
expect_rc 0 as tool0 "$XSP" --switch "$EP" diag
wait_for "$T/switch.err" "authenticated as tool0 \(domain 0\)"
echo "ok 3 - dom0 identity authenticated, DIAG allowed"

# 4. a driver-domain identity: its certificate's domid replaces the claim; DIAG and TRACE refused
expect_rc 3 as nbd3 "$XSP" --switch "$EP" diag
echo "$ERR" | grep -q "permission-denied: identity nbd3 (domain 3) may not use diag" || fail "diag: $ERR"
wait_for "$T/switch.err" "refused: xsp-cli#[0-9]+ \(identity nbd3, domain 3\) may not use diag"
as nbd3 "$XSP" --switch "$EP" trace >"$T/trace3.out" 2>&1 || true
grep -q "may not use trace" "$T/trace3.out" || fail "trace by nbd3: $(cat "$T/trace3.out")"
wait_for "$T/switch.err" "may not use trace"
echo "ok 4 - driver-domain identity: DIAG and TRACE refused with a sentence and a log line"

# 5. serving: the registrar's queue and a queue outside its prefixes are refused
bg reg3 "$T/as" nbd3 "$XSP" --switch "$EP" serve org.xen.xsp.registrar --echo
wait_for "$T/reg3.out" "refused our SUBSCRIBE: permission-denied: identity nbd3 \(domain 3\) may not serve queue 'org.xen.xsp.registrar'"
wait_for "$T/switch.err" "may not serve queue 'org.xen.xsp.registrar'"
bg other3 "$T/as" nbd3 "$XSP" --switch "$EP" serve org.xen.xsp.storage.file --echo
wait_for "$T/other3.out" "may not serve queue 'org.xen.xsp.storage.file'"
echo "ok 5 - nbd3 may not serve org.xen.xsp.registrar nor org.xen.xsp.storage.file"

# 6. its own prefix works; a dom0 caller over ipc reaches it; the switch reports it as domain 3
bg nbd3 "$T/as" nbd3 "$XSP" --switch "$EP" serve org.xen.xsp.storage.nbd --echo
wait_for "$T/nbd3.out" "ready: org.xen.xsp.storage.nbd"
expect_rc 0 "$XSP" call org.xen.xsp.storage.nbd hello --timeout 10
[ "$OUT" = hello ] || fail "call through nbd3: '$OUT'"
"$XSP" diag --json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
peers = d["peers"] if isinstance(d["peers"], list) else list(d["peers"].values())
srv = [p for p in peers if p.get("role") == "server" and p.get("domid") == 3]
sys.exit(0 if srv else "no server peer with domid 3 in DIAG: %r" % peers)' || fail "the nbd3 server is not domain 3 in DIAG"
echo "ok 6 - nbd3 serves its own prefix; a dom0 call reaches it; DIAG shows it as domain 3"

# 6b. calls: a driver-domain identity may call the registrar and its `call` prefixes only
bg peer "$XSP" serve org.xen.xsp.storage.nbd.peer --echo
wait_for "$T/peer.out" "ready: org.xen.xsp.storage.nbd.peer"
expect_rc 0 as nbd3 "$XSP" --switch "$EP" call org.xen.xsp.storage.nbd.peer ping --timeout 10
[ "$OUT" = ping ] || fail "nbd3's permitted call answered '$OUT'"
expect_rc 3 as nbd3 "$XSP" --switch "$EP" call org.xen.xsp.storage.file stolen --timeout 10
echo "$ERR" | grep -q "permission-denied: identity nbd3 (domain 3) may not call queue 'org.xen.xsp.storage.file'" ||
  fail "a forbidden call: $ERR"
wait_for "$T/switch.err" "may not call queue 'org.xen.xsp.storage.file'"
echo "ok 6b - nbd3 may call its call prefix; another plugin's queue is refused and logged"

# 7. the registrar enforces against the authenticated domain: a plugin keyed for domain 3
#    that claims --domain 0 is refused the registration the built-in policy keeps for dom0
"$BIN/xsp-registrar" --switch "$XSP_SWITCH" --store "file:$T/reg.state" --state-dir "$T" --log-level info \
  >"$T/registrar.out" 2>&1 &
PIDS+=($!)
XSP_CURVE_CERT=$K/nbd3.key_secret XSP_CURVE_SERVER=$K/switch.key \
  "$BIN/xsp-test-plugin" --switch "$EP" --queue org.xen.xsp.storage.nbd.test --scheme nbd --domain 0 \
  --log-level info >"$T/plugin3.out" 2>&1 &
PIDS+=($!)
wait_for "$T/plugin3.out" "registration (was )?refused|refused" 20
grep -qi "domain 3" "$T/plugin3.out" "$T/registrar.out" || fail "the refusal does not name domain 3: $(tail -5 "$T/plugin3.out")"
expect_rc 1 "$XSP" resolve nbd://x
echo "ok 7 - registrar refused the plugin by its authenticated domain 3 (it claimed 0): $(grep -m1 -i refused "$T/plugin3.out" | cut -c1-160)"
# 8. bad configuration gets a clear error
expect_rc 2 "$BIN/xsp-switch" --run-dir "$T/bad" --curve-secret "$K/switch.key_secret"
echo "$ERR" | grep -q -- "--curve-secret and --certs go together" || fail "half a CURVE config: $ERR"
expect_rc 1 "$BIN/xsp-switch" --run-dir "$T/bad" --listen tcp://127.0.0.1:0 --curve-secret "$K/switch.key" --certs "$T/certs"
echo "$ERR" | grep -q "holds no secret-key" || fail "a public certificate as --curve-secret: $ERR"
expect_rc 1 "$BIN/xsp-switch" --run-dir "$T/bad" --listen tcp://127.0.0.1:0 --curve-secret "$K/switch.key_secret" --certs "$T/nope"
echo "$ERR" | grep -q -- "--certs $T/nope: No such file or directory" || fail "a missing --certs: $ERR"
printf 'curve\n    public-key = "short"\n' >"$T/broken.key_secret"
expect_rc 3 env XSP_CURVE_CERT="$T/broken.key_secret" XSP_CURVE_SERVER="$K/switch.key" "$XSP" --switch "$EP" diag
echo "$ERR" | grep -q "no valid curve public-key" || fail "a broken client certificate: $ERR"
expect_rc 2 "$XSP" keygen 'bad"name' "$K"
expect_rc 2 "$XSP" keygen x "$K" --domid 99999999
echo "ok 8 - bad CURVE configuration and certificates are refused with a sentence"
# nothing of ours outlives the test (the EXIT trap stops what is left)
echo ok

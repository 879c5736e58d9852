#!/usr/bin/python3
"""Interop test: a Python peer written only from docs/protocol.md and docs/api.md talks
to the real C xsp-switch (and, when one is given, to a C storage plugin).

usage:
  test_interop.py [SWITCH_BIN]          run the test (SWITCH_BIN or $XSP_SWITCH_BIN)
  test_interop.py --serve-plugin --switch ENDPOINT --queue QUEUE
                                        be the Python stand-in storage plugin

environment:
  XSP_SWITCH_BIN   the xsp-switch binary (when not given as an argument)
  XSP_TEST_PLUGIN  a C test plugin binary (`PLUGIN --switch ENDPOINT --queue QUEUE`);
                   part (b) calls it instead of the Python stand-in
  XSP_CLI          the `xsp` command-line tool; part (c) uses it to call the Python
                   stand-in plugin from C (skipped when unset)

Parts:
  (0) codec: the documents' own examples (header bytes, request map, decode message).
  (a) transport: a Python server and a Python client through the switch: round trip,
      DELIVER fields, status pass-through, empty payloads, expired, invalid queue names,
      over-long fields, no-session, version, heartbeats, DIAG, TRACE.
  (b) storage: every method of Plugin, SR, Volume and Datapath per docs/api.md, result
      shapes checked strictly, and error replies (volume-does-not-exist, sr-not-attached).
  (c) C client → Python plugin: `xsp call` with a msgpack request body.
  (d) switch restart: a live Session gets `no-session`, says HELLO again, resends (§4.1)
      and sees a new boot_id; both switch instances must exit 0 on SIGTERM.

Prints one line per check (`ok - ...` / `FAIL - ...`); exits 1 on any failure.  Bounded
to ~20 s; the switch and plugins are killed on every exit path, and the switch must exit
0 on SIGTERM.  Always run with /usr/bin/python3 (needs python3-zmq, python3-msgpack).
"""

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import msgpack  # noqa: E402
    import zmq      # noqa: E402

    import xsp_client as xc  # noqa: E402
except ImportError as _e:    # ctest: SKIP_RETURN_CODE 77
    print("skipped: %s (%s needs python3-zmq and python3-msgpack; use /usr/bin/python3)"
          % (_e, sys.executable))
    sys.exit(77)

TIME_BUDGET_S = 20


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------

class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def ok(self, cond, what, info=""):
        if cond:
            self.passed += 1
            print("ok - %s" % what, flush=True)
        else:
            self.failed.append(what)
            print("FAIL - %s%s" % (what, (": " + str(info)) if info != "" else ""), flush=True)
        return bool(cond)

    def eq(self, got, want, what):
        return self.ok(got == want, what, "got %r, want %r" % (got, want))

    def raises(self, fn, code, what, exc_type=xc.XspError):
        """fn() must raise exc_type with .code == code (code may be a set).  Returns the
        exception (or None)."""
        try:
            r = fn()
        except exc_type as e:
            codes = code if isinstance(code, (set, frozenset)) else {code}
            self.ok(e.code in codes, what, "raised %s %r" % (type(e).__name__, str(e)))
            return e
        except Exception as e:
            self.ok(False, what, "raised %s %r" % (type(e).__name__, e))
            return None
        self.ok(False, what, "returned %r" % (r,))
        return None

    def section(self, name):
        print("# --- %s" % name, flush=True)


C = Checks()


class Deadline(Exception):
    pass


# --------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------

CHILDREN = []


def spawn(argv, log_path, stdout=None):
    log = open(log_path, "wb")
    p = subprocess.Popen(argv, stdout=stdout if stdout is not None else log, stderr=log,
                         stdin=subprocess.DEVNULL)
    CHILDREN.append(p)
    return p


def kill_children():
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(2)
            except subprocess.TimeoutExpired:
                pass


def stop(p, timeout=5.0):
    """SIGTERM, wait; SIGKILL if it does not exit.  Returns the exit status (None when
    it had to be killed)."""
    if p.poll() is not None:
        return p.returncode
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


def start_switch(binary, run_dir, log="switch.log"):
    """Start xsp-switch with a private run dir; return (process, endpoint) once it
    printed `xsp-switch ready: ENDPOINT`."""
    p = spawn([binary, "--run-dir", run_dir], os.path.join(run_dir, log),
              stdout=subprocess.PIPE)
    buf = b""
    end = time.monotonic() + 5
    while b"\n" not in buf:
        left = end - time.monotonic()
        if left <= 0:
            raise RuntimeError("no ready line from xsp-switch within 5 s")
        r, _, _ = select.select([p.stdout], [], [], left)
        if r:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError("xsp-switch exited before it was ready (status %s)" % p.wait())
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.startswith(b"xsp-switch ready: "):
                    endpoint = line[len(b"xsp-switch ready: "):].decode().strip()
                    # Keep draining stdout so the switch can never block on it.
                    threading.Thread(target=lambda: p.stdout.read(), daemon=True).start()
                    return p, endpoint
    raise RuntimeError("unreachable")


def wait_until(cond, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def idle(sessions, seconds):
    """Keep several single-threaded sessions alive (heartbeats) for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for s in sessions:
            s.pump(0.02)


# --------------------------------------------------------------------------------------
# Part (0): the codec against the documents' own examples
# --------------------------------------------------------------------------------------

def part_codec():
    C.section("(0) codec: the examples in docs/protocol.md §3.1 and docs/api.md")
    hdr = xc.encode_header(xc.Cmd.REQUEST, 7, "echo", 5000, 0, "t1")
    C.eq(hdr.hex(" "), "96 03 07 a4 65 63 68 6f cd 13 88 00 a2 74 31",
         "REQUEST header bytes = protocol.md §3.1 example")
    cmd, f = xc.decode_header(hdr)
    C.eq((cmd, f["corr"], f["queue"], f["timeout_ms"], f["dbg"]), (3, 7, "echo", 5000, "t1"),
         "REQUEST header decodes back")
    bad = {"domain": {"domid": 0, "source": "fixed"},
           "implementations": [{"kind": "file", "path": "/x"},
                               {"kind": "xen_disk", "backend_type": "vbd", "params": 5, "extra": {}}]}
    e = C.raises(lambda: xc.decode_reply("Datapath.attach", 0, xc.pack_payload(bad)), "decode",
                 "a bad Datapath.attach result is refused with decode")
    if e:
        C.eq(e.message, "Datapath.attach result: implementations[1].params: expected string, got integer",
             "decode message = api.md example")
    req = xc.decode_request(xc.encode_request(
        "Datapath.attach", "vm-start 5f3e", {"uri": "vhd+file:///srv/sr1/3.vhd", "domain": "7"}))
    C.eq(req, ("Datapath.attach", {"dbg": "vm-start 5f3e", "uri": "vhd+file:///srv/sr1/3.vhd",
                                   "domain": "7"}), "request envelope = api.md example")
    er = {"code": "activated-on-another-host", "message": "volume 3 is active on host2",
          "detail": {"host": "host2"}}
    e = C.raises(lambda: xc.decode_reply("Datapath.activate", 1, xc.pack_payload(er)),
                 "activated-on-another-host", "error_reply example → StorageError", xc.StorageError)
    if e:
        C.eq((e.message, e.detail), ("volume 3 is active on host2", {"host": "host2"}),
             "error_reply message and detail")
    e = C.raises(lambda: xc.decode_reply("SR.stat", 1, xc.pack_payload({"code": "brand-new", "message": "m"})),
                 "unknown", "an unknown error code decodes as unknown", xc.StorageError)
    dup = b"\x82\xa4code\xa1x\xa4code\xa1y"          # {"code": "x", "code": "y"}
    C.raises(lambda: xc.decode_reply("SR.stat", 1, dup), "decode", "a key appearing twice → decode")
    C.raises(lambda: xc.decode_reply("SR.detach", 0, xc.pack_payload(None) + b"\xc0"), "decode",
             "trailing bytes → decode")


# --------------------------------------------------------------------------------------
# Part (a): transport
# --------------------------------------------------------------------------------------

def raw_dealer(endpoint):
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    return s


def raw_recv(sock, timeout):
    if not sock.poll(int(timeout * 1000)):
        return None
    frames = sock.recv_multipart()
    return xc.decode_header(frames[0])


def wait_error(session, corr, timeout, other):
    """Wait for the ERROR answering a raw REQUEST: filed under its corr (or corr 0, or
    as a session error) — whichever the switch chose."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        session.pump(0.05)
        other.pump(0)
        for key in (corr, 0):
            if key in session._results:
                return session._results.pop(key)
        if session.errors:
            return session.errors.popleft()
    return None


def part_transport(endpoint):
    C.section("(a) transport: Python server + Python client through the C switch")
    Q = "interop.echo"
    DBG = "interop-rt-%d" % os.getpid()
    server = xc.Session(endpoint, name="py-server", role="server")
    client = xc.Session(endpoint, name="py-client", role="client", domid=0)
    # Both sessions live in this one thread: while waiting on one, keep the other pumped
    # (it must read and send HEARTBEATs, or the switch declares it dead after 3 s).
    def deliver(timeout):
        end = time.monotonic() + timeout
        while True:
            d = server.next_delivery(min(0.05, max(0.0, end - time.monotonic())))
            client.pump(0)
            if d is not None or time.monotonic() >= end:
                return d

    def result(corr, timeout):
        end = time.monotonic() + timeout
        while True:
            try:
                return client.wait_result(corr, 0.05)
            except xc.XspError as e:
                if e.code != "timeout" or time.monotonic() >= end:
                    raise
            server.pump(0)

    try:
        w1, w2 = server.welcome, client.welcome
        C.eq(w2.version, 1, "WELCOME version 1")
        C.ok(w1.peer_id != w2.peer_id, "WELCOME peer ids differ", (w1.peer_id, w2.peer_id))
        C.ok(w2.heartbeat_ms > 0 and w2.max_payload > 0 and w2.max_credit > 0,
             "WELCOME heartbeat/limits non-zero", w2)
        C.eq(w1.boot_id, w2.boot_id, "WELCOME boot_id same for both sessions")
        C.ok(w2.sw_version != "", "WELCOME sw_version %r" % w2.sw_version)

        server.subscribe(Q, 4)

        # Round trip, DELIVER fields.
        t0 = time.monotonic()
        corr = client.request(Q, b"ping-1", timeout_ms=5000, dbg=DBG)
        d = deliver(5)
        if C.ok(d is not None, "DELIVER reaches the Python server"):
            C.eq(d.queue, Q, "DELIVER queue")
            C.eq(d.dbg, DBG, "DELIVER dbg")
            C.eq(d.payload, b"ping-1", "DELIVER payload")
            C.eq(d.peer_id, client.peer_id, "DELIVER peer_id = client's WELCOME peer_id")
            C.eq(d.domid, 0, "DELIVER domid = client's HELLO domid")
            C.ok(0 < d.timeout_ms <= 5000, "DELIVER timeout_ms is the time left (%d)" % d.timeout_ms)
            C.eq(d.flags, 0, "DELIVER flags 0")
            server.reply(d.msg_id, b"pong:" + d.payload)
            r = result(corr, 5)
            C.eq((r.corr, r.status, r.payload), (corr, 0, b"pong:ping-1"), "RESULT corr/status/payload")
            C.eq(r.msg_id, d.msg_id, "RESULT msg_id = DELIVER msg_id")
            C.ok(r.service_us < (time.monotonic() - t0) * 1e6 + 1000,
                 "RESULT service_us plausible (%d us)" % r.service_us)
            C.ok(r.msg_id >= 1 << 62,
                 "msg_id %d is >= 2^62 (µs since epoch × 4096: does not fit a 63-bit int)" % r.msg_id)
        first_msg_id, first_corr = (d.msg_id if d else None), corr

        # AT_MOST_ONCE is passed to the server; status 1 and other statuses pass through.
        corr = client.request(Q, b"amo", timeout_ms=5000, flags=xc.FLAG_AT_MOST_ONCE, dbg="amo")
        d = deliver(5)
        C.ok(d is not None and d.flags == xc.FLAG_AT_MOST_ONCE, "DELIVER carries AT_MOST_ONCE flag",
             d and d.flags)
        if d:
            server.reply(d.msg_id, b"app-error-body", status=xc.STATUS_ERROR)
            r = result(corr, 5)
            C.eq((r.status, r.payload), (1, b"app-error-body"), "status 1 + error body passed through")
        corr = client.request(Q, b"s7", timeout_ms=5000, dbg="s7")
        d = deliver(5)
        if d:
            server.reply(d.msg_id, b"seven", status=7)
            r = result(corr, 5)
            C.eq((r.status, r.payload), (7, b"seven"), "status 7 passed through unchanged")

        # No payload frame on REQUEST and REPLY: RESULT still has two frames (§5.6).
        corr = client.request(Q, None, timeout_ms=5000, dbg="empty")
        d = deliver(5)
        if C.ok(d is not None, "one-frame REQUEST is delivered"):
            C.eq(d.payload, b"", "empty request body delivered")
            server.reply(d.msg_id, None)
            r = result(corr, 5)
            C.eq(r.payload, b"", "RESULT for a one-frame REPLY has an empty payload frame")

        # A queue with no server: the request waits until a server subscribes.
        server.unsubscribe(Q)
        # REQUEST and UNSUBSCRIBE travel on different connections, unordered: a DIAG on the
        # server's own connection is answered only after its UNSUBSCRIBE was processed.
        subs = [p for p in server.diag().get("peers", []) if p.get("id") == server.peer_id]
        C.ok(subs and not subs[0].get("subscriptions"), "DIAG: no subscription after UNSUBSCRIBE", subs)
        corr = client.request(Q, b"later", timeout_ms=4000, dbg="later")
        C.ok(deliver(0.3) is None, "no DELIVER after UNSUBSCRIBE")
        server.subscribe(Q, 1)
        d = deliver(3)
        C.ok(d is not None and d.payload == b"later", "queued request delivered after SUBSCRIBE")
        if d:
            server.reply(d.msg_id, b"ok")
            C.eq(result(corr, 3).payload, b"ok", "late-subscribed answer arrives")

        # expired: no server, small timeout.
        t0 = time.monotonic()
        e = C.raises(lambda: client.call("interop.nobody", b"x", timeout_ms=200, dbg="exp-dbg"),
                     "expired", "no server + timeout 200 ms → ERROR expired", xc.SwitchError)
        el = time.monotonic() - t0
        if e:
            C.ok(e.ref_cmd == xc.Cmd.REQUEST and e.ref > 0, "expired ERROR ref_cmd 3, ref = corr",
                 (e.ref_cmd, e.ref))
        C.ok(0.15 <= el < 2.0, "expired after %.0f ms" % (el * 1000))

        # invalid-argument: queue names.
        for bad in ("bad queue!", "", "q#1", "caf\u00e9"):
            C.raises(lambda: client.call(bad, b"x", timeout_ms=1000),
                     "invalid-argument", "queue name %r → invalid-argument" % bad, xc.SwitchError)
        C.raises(lambda: client.call("A-z.0_9:/@+x", b"x", timeout_ms=100),
                     "expired", "queue name with every allowed punctuation is accepted", xc.SwitchError)

        # A queue name over 255 bytes is a string over its limit: `protocol` (§7).
        client.sock.send_multipart([msgpack.packb([3, 99991, "q" * 256, 1000, 0, ""]), b"x"])
        e = wait_error(client, 99991, 3, server)
        C.ok(isinstance(e, xc.SwitchError) and e.code == "protocol",
             "256-byte queue name → protocol", e)
        if isinstance(e, xc.SwitchError):
            print("# info: over-long field ERROR came with ref_cmd=%d ref=%d" % (e.ref_cmd, e.ref))
        # A bool where a uint belongs (§2: refused).
        client.sock.send_multipart([msgpack.packb([3, 99992, Q, True, 0, ""]), b"x"])
        e = wait_error(client, 99992, 3, server)
        C.ok(isinstance(e, xc.SwitchError) and e.code == "protocol", "bool timeout_ms → protocol", e)
        # Extra header elements are ignored (§3).
        corr = 99993
        client.sock.send_multipart([msgpack.packb([3, corr, Q, 5000, 0, "extra", "future", 1]),
                                    b"extra"])
        d = deliver(3)
        if C.ok(d is not None, "REQUEST with extra trailing header elements accepted"):
            server.reply(d.msg_id, b"x")
            C.eq(result(corr, 3).status, 0, "... and answered")
        # Non-shortest encodings are accepted (§2: decoders MUST accept any width).
        hdr = bytes([0x96, 0x03, 0xcf]) + (99994).to_bytes(8, "big") + \
            bytes([0xda, 0x00, len(Q)]) + Q.encode() + bytes([0xce, 0, 0, 0x13, 0x88, 0xcc, 0x00]) + \
            bytes([0xc4, 0x03]) + b"bin"          # dbg as bin8 (accepted on input)
        client.sock.send_multipart([hdr, b"wide"])
        d = deliver(3)
        if C.ok(d is not None and d.payload == b"wide" and d.dbg == "bin",
                "REQUEST with uint64/str16/uint32/bin8 encodings accepted", d):
            server.reply(d.msg_id, b"x")
            C.eq(result(99994, 3).corr, 99994, "... answered with the 64-bit-encoded corr")

        # no-session / version, from raw sockets.
        raw = raw_dealer(endpoint)
        raw.send_multipart([xc.encode_header(xc.Cmd.REQUEST, 42, Q, 1000, 0, ""), b"x"])
        m = raw_recv(raw, 3)
        C.ok(m is not None and m[0] == xc.Cmd.ERROR and m[1]["code"] == "no-session"
             and m[1]["ref_cmd"] == 3 and m[1]["ref"] == 42,
             "REQUEST before HELLO → ERROR no-session ref_cmd 3 ref 42", m)
        raw.send_multipart([xc.encode_header(xc.Cmd.HELLO, 2, "py-v2", "client", os.getpid(), 0)])
        m = raw_recv(raw, 3)
        C.ok(m is not None and m[0] == xc.Cmd.ERROR and m[1]["code"] == "version"
             and m[1]["ref_cmd"] == 0, "HELLO version 2 → ERROR version ref_cmd 0", m)
        raw.close()

        # Heartbeats from the switch (§4.4).
        # The switch may skip a HEARTBEAT to a peer it sent something else: allow ~2.5 intervals.
        end = time.monotonic() + client.heartbeat_s * 2.5
        while time.monotonic() < end and not (client.heartbeats_received and server.heartbeats_received):
            idle([client, server], 0.05)
        C.ok(client.heartbeats_received >= 1 and server.heartbeats_received >= 1,
             "switch sends HEARTBEATs (%d, %d)" % (client.heartbeats_received,
                                                     server.heartbeats_received))

        # DIAG shows both peers.
        rep = client.diag()
        peers = {p.get("id"): p for p in rep.get("peers", [])}
        sp, cp = peers.get(server.peer_id), peers.get(client.peer_id)
        C.ok(sp is not None and sp.get("name") == "py-server" and sp.get("role") == "server",
             "DIAG lists the server peer", sp)
        C.ok(cp is not None and cp.get("name") == "py-client" and cp.get("pid") == os.getpid(),
             "DIAG lists the client peer", cp)
        subs = (sp or {}).get("subscriptions", [])
        C.ok(any(s.get("queue") == Q for s in subs), "DIAG: server subscribes %s" % Q, subs)
        qs = {q.get("name"): q for q in rep.get("queues", [])}
        qe = qs.get(Q, {})
        C.ok(qe.get("consumers") == 1 and qe.get("sent", 0) >= 6 and qe.get("replied", 0) >= 6,
             "DIAG: queue %s consumers/sent/replied" % Q, qe)
        C.eq(rep.get("heartbeat_ms"), client.welcome.heartbeat_ms, "DIAG heartbeat_ms = WELCOME's")
        C.eq(rep.get("limits", {}).get("max_payload"), client.welcome.max_payload,
             "DIAG limits.max_payload = WELCOME's")
        cnt = rep.get("counters", {})
        C.ok(cnt.get("expired", 0) >= 2 and cnt.get("errors", 0) >= 1 and cnt.get("protocol_errors", 0) >= 2,
             "DIAG counters expired/errors/protocol_errors", cnt)
        C.ok(isinstance(rep.get("trace", {}).get("next_seq"), int), "DIAG trace.next_seq")

        # TRACE shows send → deliver → reply with the dbg string.
        events, end = client.trace(0, Q)
        mine = [e for e in events if e.dbg == DBG]
        kinds = [e.event for e in mine]
        C.eq(kinds, ["send", "deliver", "reply"], "TRACE events for the first request")
        cname, sname = "py-client#%d" % client.peer_id, "py-server#%d" % server.peer_id
        want = {"send": (cname, Q), "deliver": (Q, sname), "reply": (sname, cname)}
        for e in mine:
            C.eq((e.from_, e.to), want.get(e.event), "TRACE %s from → to" % e.event)
            C.eq((e.queue, e.msg_id), (Q, first_msg_id), "TRACE %s queue/msg_id" % e.event)
        if len(mine) == 3:
            C.eq(mine[0].corr, first_corr, "TRACE send carries corr")
            C.eq(mine[0].size, len(b"ping-1"), "TRACE send size")
            C.ok(mine[0].seq < mine[1].seq < mine[2].seq and mine[0].ts_ns <= mine[2].ts_ns,
                 "TRACE seq and ts_ns increase")
        C.ok(all(e.queue in (Q, "") for e in events), "TRACE glob filters by queue")
        C.ok(end.next_seq > max([e.seq for e in events] or [0]), "TRACE_END next_seq after last event",
             end)
        events, end = client.trace(0, "interop.nob*")
        exp = [e for e in events if e.event == "expire"]
        C.ok(len(exp) == 1 and exp[0].dbg.startswith("expired: "),
             "TRACE glob 'interop.nob*': one expire event, dbg 'expired: ...'", [tuple(e[:4]) + (e.dbg,) for e in events])
        events, _ = client.trace(0, "")
        errs = [e for e in events if e.event == "error" and e.dbg.startswith("invalid-argument")]
        C.ok(len(errs) >= 3, "TRACE: error events for the refused queue names (%d)" % len(errs))
        ups = [e for e in events if e.event == "peer-up" and e.from_ in (cname, sname)]
        C.ok(len(ups) == 2, "TRACE: peer-up events for both sessions",
             [(e.event, e.from_, e.to) for e in events if e.event == "peer-up"])
        # from_seq beyond the newest = from now: nothing but TRACE_END.
        events, end2 = client.trace(end.next_seq + 1000, "")
        C.ok(all(e.seq >= end.next_seq for e in events), "TRACE from a future seq sends no old events",
             len(events))

        # A following trace sees a new request live.
        client.trace_follow(end.next_seq + 10**6, Q)   # "from now"
        corr = client.request(Q, b"live", timeout_ms=3000, dbg="live-dbg")
        d = deliver(3)
        if d:
            server.reply(d.msg_id, b"ok")
        result(corr, 3)
        seen = []
        while True:
            ev = client.next_trace_event(0.5)
            if ev is None or isinstance(ev, xc.TraceEnd):
                break
            seen.append(ev.event if ev.dbg == "live-dbg" else None)
        C.eq([s for s in seen if s], ["send", "deliver", "reply"], "TRACE follow 1 streams live events")
        client.untrace()

        # BYE: the server leaves; DIAG no longer lists it.
        server.bye()
        time.sleep(0.1)
        peers = {p.get("id") for p in client.diag().get("peers", [])}
        C.ok(server.peer_id not in peers and client.peer_id in peers, "after BYE DIAG drops the server")
    finally:
        server.close()
        client.bye()
        client.close()


# --------------------------------------------------------------------------------------
# Part (b): storage
# --------------------------------------------------------------------------------------

def expect_storage_error(fn, code, what):
    e = C.raises(fn, code, what, xc.StorageError)
    if isinstance(e, xc.StorageError):
        C.ok(e.message != "", "%s: has a message (%r)" % (what, e.message))
    return e


def part_storage(endpoint, queue, who):
    C.section("(b) storage API: Python client → %s" % who)
    s = xc.Session(endpoint, name="py-storage-client", role="client")
    st = xc.StorageClient(s, queue, timeout_ms=5000, dbg="interop-storage")
    try:
        # Plugin
        info = st.Plugin.query(dbg="interop Plugin.query")
        C.ok(info["plugin"] and info["api_version"], "Plugin.query → plugin_info %s %s (api %s)"
             % (info["plugin"], info["version"], info["api_version"]))
        C.ok(isinstance(info["features"], list) and isinstance(info["configuration"], dict),
             "Plugin.query features/configuration shapes")
        srs_before = st.Plugin.ls()
        C.ok(isinstance(srs_before, list), "Plugin.ls → list<sr> (%d)" % len(srs_before))
        diag = st.Plugin.diagnostics()
        C.ok(isinstance(diag, str), "Plugin.diagnostics → string (%d bytes)" % len(diag))

        # SR
        probes = st.SR.probe(configuration={})
        C.ok(isinstance(probes, list) and all("complete" in p and "configuration" in p for p in probes),
             "SR.probe({}) → list<probe_result> (%d)" % len(probes))
        cfg = st.SR.create(uri="file:///srv/interop-sr", name="interop SR",
                           description="created by test_interop.py",
                           configuration={"path": "/srv/interop-sr"},
                           uuid="6f1c1f0e-1111-4b3a-9a55-000000000001")
        C.ok(isinstance(cfg, dict), "SR.create → configuration %r" % (cfg,))
        sr = st.SR.attach(configuration=cfg)
        C.ok(isinstance(sr, str) and sr != "", "SR.attach → sr %r" % sr)
        C.eq(st.SR.attach(configuration=cfg), sr, "SR.attach is idempotent (same key)")
        C.ok(sr in st.Plugin.ls(), "Plugin.ls lists the attached SR")
        stat = st.SR.stat(sr=sr)
        C.ok(stat["sr"] == sr and stat["health"] in xc.HEALTH[2] and
             isinstance(stat["free_space"], int) and isinstance(stat["clustered"], bool),
             "SR.stat → sr_stat (health %s, %d/%d bytes free)"
             % (stat["health"], stat["free_space"], stat["total_space"]))
        # api.md: uuid is returned "when the plugin persists one": optional, but if present
        # it must be the one SR.create was given.
        C.ok(stat.get("uuid") in (None, "6f1c1f0e-1111-4b3a-9a55-000000000001"),
             "SR.stat uuid absent or = SR.create's (%r)" % stat.get("uuid"))
        C.eq(st.SR.set_name(sr=sr, new_name="renamed SR"), None, "SR.set_name → nil")
        C.eq(st.SR.set_description(sr=sr, new_description="new desc"), None, "SR.set_description → nil")
        stat = st.SR.stat(sr=sr)
        C.eq((stat["name"], stat["description"]), ("renamed SR", "new desc"),
             "SR.stat shows the new name and description")

        # Volume
        vol = st.Volume.create(sr=sr, name="disk0", description="interop disk", size=1 << 30,
                               sharable=False)
        key = vol["key"]
        C.ok(vol["virtual_size"] >= 1 << 30 and vol["name"] == "disk0" and
             vol["sharable"] is False and isinstance(vol["uri"], list) and vol["uri"],
             "Volume.create → volume %r (%d bytes, uri %s)" % (key, vol["virtual_size"], vol["uri"]))
        C.eq(st.Volume.stat(sr=sr, key=key)["key"], key, "Volume.stat → the same volume")
        C.eq(st.Volume.set_name(sr=sr, key=key, new_name="disk0-renamed"), None, "Volume.set_name → nil")
        C.eq(st.Volume.set_description(sr=sr, key=key, new_description="d2"), None,
             "Volume.set_description → nil")
        C.eq(st.Volume.set(sr=sr, key=key, k="vm", v="uuid-1"), None, "Volume.set → nil")
        v = st.Volume.stat(sr=sr, key=key)
        C.eq((v["name"], v["description"], v["keys"].get("vm")), ("disk0-renamed", "d2", "uuid-1"),
             "Volume.stat shows name, description, keys")
        C.eq(st.Volume.unset(sr=sr, key=key, k="vm"), None, "Volume.unset → nil")
        C.eq(st.Volume.unset(sr=sr, key=key, k="never-set"), None, "Volume.unset of an unset key → nil")
        C.ok("vm" not in st.Volume.stat(sr=sr, key=key)["keys"], "Volume.unset removed the key")
        C.eq(st.Volume.resize(sr=sr, key=key, new_size=2 << 30), None, "Volume.resize → nil")
        C.ok(st.Volume.stat(sr=sr, key=key)["virtual_size"] >= 2 << 30, "Volume.stat shows the new size")
        clone = st.Volume.clone(sr=sr, key=key)
        C.ok(clone["key"] != key and clone.get("parent", key) == key and clone["read_write"],
             "Volume.clone → new writable volume %r" % clone["key"])
        snap = st.Volume.snapshot(sr=sr, key=key)
        C.ok(snap["key"] not in (key, clone["key"]) and snap["read_write"] is False,
             "Volume.snapshot → new read-only volume %r" % snap["key"])
        keys = {x["key"] for x in st.SR.ls(sr=sr)}
        C.ok({key, clone["key"], snap["key"]} <= keys, "SR.ls → list<volume> with all three", keys)

        # Datapath
        uri, dom = vol["uri"][0], "7"
        C.eq(st.Datapath.open(uri=uri, persistent=True), None, "Datapath.open → nil")
        be = st.Datapath.attach(uri=uri, domain=dom)
        impls = be["implementations"]
        C.ok(isinstance(be["domain"]["domid"], int) and
             be["domain"]["source"] in xc.BACKEND_DOMAIN_SOURCE[2],
             "Datapath.attach → backend domain (domid %d, %s)" % (be["domain"]["domid"],
                                                                be["domain"]["source"]))
        C.ok(len(impls) >= 1 and all(i["kind"] in xc.IMPLEMENTATION[2] for i in impls),
             "Datapath.attach → implementations %s" % [i["kind"] for i in impls])
        C.eq(st.Datapath.activate(uri=uri, domain=dom), None, "Datapath.activate → nil")
        C.eq(st.Datapath.deactivate(uri=uri, domain=dom), None, "Datapath.deactivate → nil")
        C.eq(st.Datapath.detach(uri=uri, domain=dom), None, "Datapath.detach → nil")
        C.eq(st.Datapath.close(uri=uri), None, "Datapath.close → nil")

        # Errors
        e = expect_storage_error(lambda: st.Volume.stat(sr=sr, key="no-such-volume"),
                                 "volume-does-not-exist", "Volume.stat unknown key → volume-does-not-exist")
        if e:
            print("# info: error_reply message=%r detail=%r" % (e.message, e.detail))
            C.ok(all(k in ("sr", "key", "uri") for k in e.detail),
                 "volume-does-not-exist detail keys ⊆ {sr,key,uri}", e.detail)
        expect_storage_error(lambda: st.Datapath.attach(uri=uri + ".missing", domain=dom),
                             "volume-does-not-exist", "Datapath.attach unknown uri → volume-does-not-exist")
        expect_storage_error(lambda: st.Volume.resize(sr=sr, key=key, new_size=1),
                             "invalid-argument", "Volume.resize shrinking → invalid-argument")
        # An undecodable request (a required argument missing): api.md says `decode`, but
        # also that servers never send transport codes; accept either, report which.
        r = s.call(queue, xc.pack_payload({"method": "Volume.stat", "args": {"dbg": "x", "sr": sr}}),
                   timeout_ms=5000, dbg="interop-missing-arg")
        try:
            xc.decode_reply("Volume.stat", r.status, r.payload)
            C.ok(False, "request missing a required argument is refused")
        except xc.StorageError as e:
            C.ok(e.code in ("decode", "invalid-argument"),
                 "request missing a required argument → %s (%s)" % (e.code, e.message))
        r = s.call(queue, xc.pack_payload({"method": "Volume.frobnicate", "args": {"dbg": "x"}}),
                   timeout_ms=5000, dbg="interop-unknown-method")
        try:
            xc.decode_reply("Volume.stat", r.status, r.payload)
            C.ok(False, "unknown method is refused")
        except xc.StorageError as e:
            C.ok(e.code in ("unimplemented", "decode", "invalid-argument"),
                 "unknown method → %s (%s)" % (e.code, e.message))

        # Clean-up path: destroy volumes, detach, destroy a second SR.
        for k in (snap["key"], clone["key"], key):
            C.eq(st.Volume.destroy(sr=sr, key=k), None, "Volume.destroy %r → nil" % k)
        expect_storage_error(lambda: st.Volume.stat(sr=sr, key=key), "volume-does-not-exist",
                             "Volume.stat after destroy → volume-does-not-exist")
        C.eq(st.SR.detach(sr=sr), None, "SR.detach → nil")
        expect_storage_error(lambda: st.SR.stat(sr=sr), "sr-not-attached",
                             "SR.stat after detach → sr-not-attached")
        sr2 = st.SR.attach(configuration=st.SR.create(
            uri="file:///srv/interop-sr2", name="sr2", description="", configuration={"path": "/srv/interop-sr2"}))
        C.eq(st.SR.destroy(sr=sr2), None, "SR.destroy (SR created without uuid) → nil")
        # api.md does not say whether a destroyed SR is still "attached": report only.
        print("# info: after SR.destroy, Plugin.ls %s the SR"
              % ("still lists" if sr2 in st.Plugin.ls() else "no longer lists"))
    finally:
        s.bye()
        s.close()


# --------------------------------------------------------------------------------------
# Part (c): C client (xsp call) → Python plugin
# --------------------------------------------------------------------------------------

def part_cli(cli, endpoint, queue):
    C.section("(c) C client (xsp call) → Python stand-in plugin")

    def xsp_call(method, args, dbg):
        body = xc.encode_request(method, dbg, args)
        return subprocess.run([cli, "--switch", endpoint, "call", queue, "--timeout", "5",
                               "--dbg", dbg], input=body, capture_output=True, timeout=10)

    p = xsp_call("Plugin.query", {}, "cli-query")
    C.eq(p.returncode, 0, "xsp call Plugin.query exits 0")
    try:
        info = xc.decode_reply("Plugin.query", 0, p.stdout)
        C.eq(info["plugin"], "py-test-plugin", "xsp call Plugin.query → plugin_info from Python")
    except xc.XspError as e:
        C.ok(False, "xsp call Plugin.query output decodes", e)
    p = xsp_call("SR.stat", {"sr": "no-such-sr"}, "cli-error")
    C.eq(p.returncode, 1, "xsp call of an error answer exits 1")
    C.raises(lambda: xc.decode_reply("SR.stat", 1, p.stdout), "sr-not-attached",
             "xsp call writes the error_reply body (sr-not-attached)", xc.StorageError)


# --------------------------------------------------------------------------------------
# Part (d): switch restart (§4.1: no-session → HELLO again → resend)
# --------------------------------------------------------------------------------------

def part_restart(switch_bin, tmp, sw, endpoint):
    C.section("(d) switch restart: a session survives through no-session + HELLO")
    survivor = xc.Session(endpoint, name="py-survivor", role="client")
    old = survivor.welcome
    C.eq(stop(sw), 0, "first xsp-switch exits 0 on SIGTERM")
    sw, endpoint2 = start_switch(switch_bin, tmp, "switch2.log")
    C.eq(endpoint2, endpoint, "restarted switch listens on the same endpoint")
    try:
        # Queued in the DEALER while disconnected, answered `no-session` by the new switch;
        # Session.call says HELLO again and resends: the resent request then expires.
        C.raises(lambda: survivor.call("interop.after-restart", b"x", timeout_ms=300, dbg="restart"),
                 "expired", "request across a restart: no-session, HELLO, resend, expired",
                 xc.SwitchError)
        C.ok(survivor.welcome.boot_id != old.boot_id,
             "new WELCOME has a new boot_id (%d → %d)" % (old.boot_id, survivor.welcome.boot_id))
    finally:
        survivor.bye()
        survivor.close()
    return sw


# --------------------------------------------------------------------------------------
# The Python stand-in storage plugin
# --------------------------------------------------------------------------------------

class StandInPlugin:
    """In-memory storage plugin implementing every method of docs/api.md.

    SRs are created under a `path` (configuration["path"], else the uri's path) and
    attached under the key "sr:<path>".  Volume keys are "vol<N>", their single URI
    "file://<path>/<key>.raw"; the Datapath works on any URI of an existing volume."""

    def __init__(self):
        self.srs = {}          # path → {"name", "description", "uuid", "volumes": {key: volume}}
        self.attached = set()  # sr keys
        self.next_vol = 1
        self.active = {}       # uri → domain

    # helpers
    @staticmethod
    def _path(cfg, uri=""):
        p = cfg.get("path") or (uri.split("://", 1)[1] if "://" in uri else uri)
        if not p:
            raise xc.StorageError("invalid-argument", "no path in the configuration",
                                  {"argument": "configuration"})
        return p

    def _sr(self, sr):
        if sr not in self.attached:
            raise xc.StorageError("sr-not-attached", "SR %s is not attached" % sr, {"sr": sr})
        return self.srs[sr[3:]]

    def _vol(self, args):
        rec = self._sr(args["sr"])
        v = rec["volumes"].get(args["key"])
        if v is None:
            raise xc.StorageError("volume-does-not-exist", "no volume %s in SR %s"
                                  % (args["key"], args["sr"]), {"sr": args["sr"], "key": args["key"]})
        return rec, v

    def _by_uri(self, uri):
        for rec in self.srs.values():
            for v in rec["volumes"].values():
                if uri in v["uri"]:
                    return v
        raise xc.StorageError("volume-does-not-exist", "no volume data at %s" % uri, {"uri": uri})

    def _new_vol(self, args, rec, base, read_write=True, parent=None):
        key = "vol%d" % self.next_vol
        self.next_vol += 1
        path = [p for p, r in self.srs.items() if r is rec][0]
        v = {"key": key, "name": base["name"], "description": base["description"],
             "read_write": read_write, "sharable": base["sharable"],
             "virtual_size": base["virtual_size"], "physical_utilisation": 0,
             "uri": ["file://%s/%s.raw" % (path, key)], "keys": {}}
        if parent:
            v["parent"] = parent
        rec["volumes"][key] = v
        return dict(v)

    # Plugin
    def Plugin_query(self, a):
        return {"plugin": "py-test-plugin", "name": "Python stand-in plugin",
                "description": "In-memory plugin written from docs/api.md (tests/interop).",
                "vendor": "xsp", "copyright": "public domain", "version": "1.0",
                "api_version": "1.0", "features": ["SR_PROBE", "VDI_RESIZE", "VDI_SNAPSHOT"],
                "configuration": {"path": "where the SR lives"}, "required_cluster_stack": []}

    def Plugin_ls(self, a):
        return sorted(self.attached)

    def Plugin_diagnostics(self, a):
        return "srs: %d\nattached: %s\n" % (len(self.srs), sorted(self.attached))

    # SR
    def SR_probe(self, a):
        return [{"configuration": {"path": p}, "complete": True, "extra_info": {},
                 "sr": self._stat("sr:" + p, r)} for p, r in sorted(self.srs.items())]

    def SR_create(self, a):
        p = self._path(a["configuration"], a["uri"])
        self.srs[p] = {"name": a["name"], "description": a["description"],
                       "uuid": a.get("uuid"), "volumes": {}}
        return dict(a["configuration"], path=p)

    def SR_attach(self, a):
        p = self._path(a["configuration"])
        if p not in self.srs:
            raise xc.StorageError("sr-does-not-exist", "no SR at %s" % p, {"sr": p})
        self.attached.add("sr:" + p)
        return "sr:" + p

    def SR_detach(self, a):
        self.attached.discard(a["sr"])

    def SR_destroy(self, a):
        self._sr(a["sr"])
        self.attached.discard(a["sr"])
        del self.srs[a["sr"][3:]]

    @staticmethod
    def _stat(sr, rec):
        used = sum(v["virtual_size"] for v in rec["volumes"].values())
        st = {"sr": sr, "name": rec["name"], "description": rec["description"],
              "free_space": (1 << 40) - used, "total_space": 1 << 40, "datasources": [],
              "clustered": False, "health": "healthy"}
        if rec["uuid"]:
            st["uuid"] = rec["uuid"]
        return st

    def SR_stat(self, a):
        return self._stat(a["sr"], self._sr(a["sr"]))

    def SR_set_name(self, a):
        self._sr(a["sr"])["name"] = a["new_name"]

    def SR_set_description(self, a):
        self._sr(a["sr"])["description"] = a["new_description"]

    def SR_ls(self, a):
        return [dict(v) for v in self._sr(a["sr"])["volumes"].values()]

    # Volume
    def Volume_create(self, a):
        rec = self._sr(a["sr"])
        size = (a["size"] + 511) // 512 * 512
        return self._new_vol(a, rec, {"name": a["name"], "description": a["description"],
                                      "sharable": a["sharable"], "virtual_size": size})

    def Volume_destroy(self, a):
        rec, v = self._vol(a)
        del rec["volumes"][v["key"]]

    def Volume_clone(self, a):
        rec, v = self._vol(a)
        return self._new_vol(a, rec, v, True, v["key"])

    def Volume_snapshot(self, a):
        rec, v = self._vol(a)
        return self._new_vol(a, rec, v, False, v["key"])

    def Volume_resize(self, a):
        _, v = self._vol(a)
        if a["new_size"] < v["virtual_size"]:
            raise xc.StorageError("invalid-argument", "cannot shrink %s" % v["key"],
                                  {"argument": "new_size"})
        v["virtual_size"] = a["new_size"]

    def Volume_stat(self, a):
        return dict(self._vol(a)[1])

    def Volume_set_name(self, a):
        self._vol(a)[1]["name"] = a["new_name"]

    def Volume_set_description(self, a):
        self._vol(a)[1]["description"] = a["new_description"]

    def Volume_set(self, a):
        self._vol(a)[1]["keys"][a["k"]] = a["v"]

    def Volume_unset(self, a):
        self._vol(a)[1]["keys"].pop(a["k"], None)

    # Datapath
    def Datapath_open(self, a):
        self._by_uri(a["uri"])

    def Datapath_attach(self, a):
        path = self._by_uri(a["uri"])["uri"][0][len("file://"):]
        return {"domain": {"domid": 0, "source": "fixed"},
                "implementations": [
                    {"kind": "xen_disk", "backend_type": "qdisk", "params": path,
                     "extra": {"domain": a["domain"]}},
                    {"kind": "file", "path": path}]}

    def Datapath_activate(self, a):
        self._by_uri(a["uri"])
        holder = self.active.get(a["uri"])
        if holder not in (None, a["domain"]):
            raise xc.StorageError("activated-on-another-host", "active in domain %s" % holder,
                                  {"host": holder})
        self.active[a["uri"]] = a["domain"]

    def Datapath_deactivate(self, a):
        self.active.pop(a["uri"], None)

    def Datapath_detach(self, a):
        pass

    def Datapath_close(self, a):
        pass

    def handlers(self):
        return {m: getattr(self, m.replace(".", "_")) for m in xc.STORAGE_METHODS}


def serve_plugin(argv):
    endpoint = queue = None
    it = iter(argv)
    for a in it:
        if a == "--switch":
            endpoint = next(it)
        elif a == "--queue":
            queue = next(it)
    if not endpoint or not queue:
        print("usage: test_interop.py --serve-plugin --switch ENDPOINT --queue QUEUE", file=sys.stderr)
        return 2
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    session = xc.Session(endpoint, name="py-test-plugin", role="plugin")
    server = xc.StorageServer(session, queue, StandInPlugin().handlers())
    print("py-test-plugin serving %s on %s" % (queue, endpoint), file=sys.stderr, flush=True)
    while not stopping:
        server.serve_once(0.2)
    session.bye()
    session.close()
    return 0


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------

def main(argv):
    if argv[:1] == ["--serve-plugin"]:
        return serve_plugin(argv[1:])
    switch_bin = argv[0] if argv else os.environ.get("XSP_SWITCH_BIN")
    if not switch_bin:
        print(__doc__, file=sys.stderr)
        return 2
    c_plugin = os.environ.get("XSP_TEST_PLUGIN") or None
    cli = os.environ.get("XSP_CLI") or None

    def on_alarm(*_):
        raise Deadline("time budget of %d s exceeded" % TIME_BUDGET_S)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIME_BUDGET_S)

    tmp = tempfile.mkdtemp(prefix="xsp-interop.", dir="/tmp")   # short: ipc path limit
    t0 = time.monotonic()
    sw = None
    ok_exit = False
    try:
        sw, endpoint = start_switch(switch_bin, tmp)
        C.ok(True, "xsp-switch ready on %s" % endpoint)

        # Sections run even if an earlier one crashed; a crash is a failure.
        for name, fn in (("codec", part_codec),
                         ("transport", lambda: part_transport(endpoint)),
                         ("storage", lambda: run_storage(endpoint, tmp, c_plugin, cli))):
            try:
                fn()
            except Deadline:
                raise
            except Exception as e:
                traceback.print_exc(file=sys.stdout)
                C.ok(False, "%s section ran to the end" % name, repr(e))

        sw = part_restart(switch_bin, tmp, sw, endpoint)
        signal.alarm(0)
        rc = stop(sw)
        C.eq(rc, 0, "xsp-switch exits 0 on SIGTERM")
        ok_exit = True
    except Deadline as e:
        C.ok(False, str(e))
    except Exception as e:
        traceback.print_exc(file=sys.stdout)
        C.ok(False, "harness", repr(e))
    finally:
        signal.alarm(0)
        kill_children()
        for log in ("switch.log", "switch2.log"):
            log = os.path.join(tmp, log)
            text = open(log, errors="replace").read() if os.path.exists(log) else ""
            if "Sanitizer" in text or "runtime error" in text:
                C.ok(False, "%s free of sanitizer reports" % os.path.basename(log))
        if C.failed or not ok_exit:
            for name in sorted(os.listdir(tmp)):
                if name.endswith(".log"):
                    print("# --- %s (last 30 lines)" % name)
                    with open(os.path.join(tmp, name), errors="replace") as f:
                        for line in f.readlines()[-30:]:
                            print("#   " + line.rstrip())
        shutil.rmtree(tmp, ignore_errors=True)
    print("# %d passed, %d failed, %.1f s" % (C.passed, len(C.failed), time.monotonic() - t0))
    for f in C.failed:
        print("# failed: %s" % f)
    return 1 if C.failed else 0


def wait_for_consumer(endpoint, queue, proc, name, timeout=5.0):
    """Fail fast (with a clear line) when a plugin does not come up: poll DIAG until the
    queue has a consumer, the plugin process exits, or `timeout` passes."""
    with xc.Session(endpoint, name="py-waiter", role="client") as s:
        end = time.monotonic() + timeout
        while True:
            qs = {q.get("name"): q for q in s.diag().get("queues", [])}
            if qs.get(queue, {}).get("consumers", 0) >= 1:
                return C.ok(True, "%s subscribed %s" % (name, queue))
            if proc.poll() is not None:
                return C.ok(False, "%s subscribes %s" % (name, queue),
                            "it exited with status %s (see its log below)" % proc.returncode)
            if time.monotonic() >= end:
                return C.ok(False, "%s subscribes %s within %.0f s" % (name, queue, timeout))
            s.pump(0.05)


def run_storage(endpoint, tmp, c_plugin, cli):
    # The Python stand-in always runs (part (c) calls it from C); part (b) calls the C
    # plugin when one is given, else the stand-in.
    py_q = "interop.py-plugin"
    py = spawn([sys.executable, os.path.abspath(__file__), "--serve-plugin",
                "--switch", endpoint, "--queue", py_q], os.path.join(tmp, "py-plugin.log"))
    plugins = [("Python stand-in plugin", py)]
    if c_plugin:
        c_q = "interop.c-plugin"
        cp = spawn([c_plugin, "--switch", endpoint, "--queue", c_q], os.path.join(tmp, "c-plugin.log"))
        plugins.append(("C test plugin %s" % os.path.basename(c_plugin), cp))
        if wait_for_consumer(endpoint, c_q, cp, plugins[-1][0]):
            part_storage(endpoint, c_q, plugins[-1][0])
    else:
        print("# info: XSP_TEST_PLUGIN not set: part (b) runs against the Python stand-in")
        if wait_for_consumer(endpoint, py_q, py, plugins[0][0]):
            part_storage(endpoint, py_q, plugins[0][0])
    if cli and (not c_plugin or wait_for_consumer(endpoint, py_q, py, plugins[0][0])):
        part_cli(cli, endpoint, py_q)
    else:
        print("# info: XSP_CLI not set: part (c) skipped")
    for name, p in plugins:
        C.ok(p.poll() is None, "%s still running at the end" % name, p.returncode)
        rc = stop(p, 3)
        C.eq(rc, 0, "%s exits 0 on SIGTERM" % name)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""xsp_client — a small, standalone Python client for the xsp switch and storage API.

Written from the two specifications only:

  * docs/protocol.md — the switch wire protocol (ZeroMQ DEALER, msgpack headers), and
  * docs/api.md      — the storage API payloads (request map, results, error_reply).

It is meant as a worked example for anyone implementing xsp in another language: every
protocol rule it relies on is cited by section ("§5.6" means docs/protocol.md section
5.6; "api.md: ..." names a heading of docs/api.md).  It needs only pyzmq and msgpack
(Debian: python3-zmq, python3-msgpack).

Layers, bottom to top:

  encode_header / decode_header   §2–§3: the header frame, a msgpack array
  Session                         §4–§9: one DEALER connection: HELLO/WELCOME, heartbeats,
                                  REQUEST → RESULT/ERROR, SUBSCRIBE/DELIVER/REPLY/CREDIT,
                                  DIAG, TRACE, BYE
  check / STORAGE_METHODS         api.md "Types", "Decoding is strict": the storage types
  StorageClient                   api.md "Wire encoding": {"method", "args"} requests,
                                  results decoded and checked, error_reply → StorageError
  StorageServer                   the other side: decode requests, call handlers, answer

The Session is single-threaded and never blocks on its own: everything it receives is
read by `pump()`, which every waiting method calls, and which also sends the HEARTBEATs
(§4.4).  A program that does not call into the session for 3 heartbeat intervals is
declared dead by the switch, so long-running programs should call `pump()` regularly (or
run the session in a thread of its own).

Example:

    with Session("ipc:///run/xsp/switch.sock", name="example") as s:
        r = s.call("echo", b"hello", timeout_ms=5000, dbg="example-1")
        print(r.status, r.payload)
        storage = StorageClient(s, "plugin-queue")
        print(storage.Plugin.query(dbg="example-2")["name"])
"""

import collections
import itertools
import os
import time

import msgpack
import zmq

__all__ = [
    "PROTOCOL_VERSION", "Cmd", "FLAG_AT_MOST_ONCE", "STATUS_OK", "STATUS_ERROR",
    "SWITCH_CODES", "TRANSPORT_CODES", "PLUGIN_CODES", "ALL_CODES",
    "XspError", "SwitchError", "StorageError", "ProtocolViolation",
    "encode_header", "decode_header",
    "Welcome", "Result", "Delivery", "TraceEvent", "TraceEnd", "Session",
    "check", "TYPES", "STORAGE_METHODS", "encode_request", "decode_request",
    "StorageClient", "StorageServer",
]

# --------------------------------------------------------------------------------------
# Constants (§3.1, §3.2)
# --------------------------------------------------------------------------------------

PROTOCOL_VERSION = 1          # §3.2 `version`


class Cmd:
    """Command numbers, element 0 of every header (§3.1)."""
    HELLO = 1
    WELCOME = 2
    REQUEST = 3
    DELIVER = 4
    REPLY = 5
    RESULT = 6
    ERROR = 7
    SUBSCRIBE = 8
    UNSUBSCRIBE = 9
    CREDIT = 10
    HEARTBEAT = 11
    BYE = 12
    TRACE = 13
    TRACE_EVENT = 14
    TRACE_END = 15
    UNTRACE = 16
    DIAG = 17
    DIAG_REPLY = 18


CMD_NAMES = {v: k for k, v in vars(Cmd).items() if not k.startswith("_")}

FLAG_AT_MOST_ONCE = 0x1       # §3.2 `flags` bit 0; other bits MUST be 0
STATUS_OK = 0                 # §3.2 `status`: payload is the answer
STATUS_ERROR = 1              # §3.2 `status`: payload is the server's error body

MAX_HEADER = 4096             # §1: a header is at most 4096 bytes

# Field lists per command (§3.1): (name, kind, limit).  kind "u" = uint, "s" = str.
HEADER_FIELDS = {
    Cmd.HELLO: [("version", "u", None), ("name", "s", 64), ("role", "s", 32),
                ("pid", "u", None), ("domid", "u", None)],
    Cmd.WELCOME: [("version", "u", None), ("peer_id", "u", None),
                  ("heartbeat_ms", "u", None), ("max_payload", "u", None),
                  ("max_depth", "u", None), ("max_outstanding", "u", None),
                  ("max_credit", "u", None), ("sw_version", "s", 64),
                  ("boot_id", "u", None)],
    Cmd.REQUEST: [("corr", "u", None), ("queue", "s", 255), ("timeout_ms", "u", None),
                  ("flags", "u", None), ("dbg", "s", 1024)],
    Cmd.DELIVER: [("msg_id", "u", None), ("queue", "s", 255), ("timeout_ms", "u", None),
                  ("flags", "u", None), ("dbg", "s", 1024), ("peer_id", "u", None),
                  ("domid", "u", None)],
    Cmd.REPLY: [("msg_id", "u", None), ("status", "u", None)],
    Cmd.RESULT: [("corr", "u", None), ("status", "u", None), ("msg_id", "u", None),
                 ("service_us", "u", None)],
    Cmd.ERROR: [("ref_cmd", "u", None), ("ref", "u", None), ("code", "s", 64),
                ("message", "s", 1024)],
    Cmd.SUBSCRIBE: [("queue", "s", 255), ("credit", "u", None)],
    Cmd.UNSUBSCRIBE: [("queue", "s", 255)],
    Cmd.CREDIT: [("queue", "s", 255), ("credit", "u", None)],
    Cmd.HEARTBEAT: [],
    Cmd.BYE: [],
    Cmd.TRACE: [("from_seq", "u", None), ("glob", "s", 255), ("follow", "u", None)],
    Cmd.TRACE_EVENT: [("seq", "u", None), ("ts_ns", "u", None), ("event", "s", 64),
                      ("queue", "s", 255), ("msg_id", "u", None), ("corr", "u", None),
                      ("from", "s", 80), ("to", "s", 80), ("size", "u", None),
                      ("dbg", "s", 1024), ("service_us", "u", None), ("lost", "u", None)],
    Cmd.TRACE_END: [("next_seq", "u", None), ("lost", "u", None)],
    Cmd.UNTRACE: [],
    Cmd.DIAG: [("corr", "u", None)],
    Cmd.DIAG_REPLY: [("corr", "u", None)],
}

# Error codes.  §7 lists what the switch sends; api.md "Errors" adds the codes a client
# library produces itself (`timeout`, `disconnected`, `decode`, `no-plugin-for-uri`) and
# the codes plugins answer with.
SWITCH_CODES = frozenset([
    "version", "no-session", "protocol", "invalid-argument", "too-large",
    "too-many-outstanding", "queue-full", "too-many-queues", "too-many-peers",
    "expired", "server-lost", "shutdown",
])
TRANSPORT_CODES = frozenset(SWITCH_CODES - {"invalid-argument"} | {
    "timeout", "disconnected", "decode", "no-plugin-for-uri",
})
PLUGIN_CODES = frozenset([
    "unimplemented", "sr-not-attached", "sr-does-not-exist", "volume-does-not-exist",
    "activated-on-another-host", "permission-denied", "invalid-argument",
    "backend-failure", "cancelled",
])
ALL_CODES = SWITCH_CODES | TRANSPORT_CODES | PLUGIN_CODES


# --------------------------------------------------------------------------------------
# Exceptions
# --------------------------------------------------------------------------------------

class XspError(Exception):
    """A failed call.  `code` is a wire name from ALL_CODES, or "unknown" for a code this
    client does not know (§7: clients MUST treat unknown codes as a generic failure; the
    original string stays in `wire_code`).  `detail` is a dict of str → str."""

    def __init__(self, code, message, detail=None):
        self.wire_code = code
        self.code = code if code in ALL_CODES else "unknown"
        self.message = message
        self.detail = dict(detail or {})
        super().__init__("%s: %s" % (code, message))


class SwitchError(XspError):
    """An ERROR frame from the switch (§3.1 cmd 7, §7).  `ref_cmd`/`ref` say what it
    answers (§3.2): ref_cmd 3 + the request's corr, 5 + a msg_id, 17 + a DIAG corr, 0 for
    the whole session."""

    def __init__(self, code, message, ref_cmd=0, ref=0):
        super().__init__(code, message)
        self.ref_cmd = ref_cmd
        self.ref = ref


class StorageError(XspError):
    """A storage call the server answered with an error_reply (api.md "Replies")."""

    def __init__(self, code, message, detail=None, method=None):
        super().__init__(code, message, detail)
        self.method = method


class ProtocolViolation(XspError):
    """The switch sent something this client cannot parse (a bug on one side)."""

    def __init__(self, message):
        super().__init__("protocol", message)


# --------------------------------------------------------------------------------------
# Header codec (§2, §3)
# --------------------------------------------------------------------------------------

def _is_uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 64


def encode_header(cmd, *fields):
    """Pack [cmd, field...] for `cmd`, checking each field against §3.1.

    Strings are given as str (encoded UTF-8) or bytes, and sent as msgpack str (§2: str
    family; bin is only *accepted* by the switch).  msgpack-python always picks the
    shortest encoding, as §2 recommends."""
    spec = HEADER_FIELDS[cmd]
    if len(fields) != len(spec):
        raise ValueError("%s takes %d fields, got %d" % (CMD_NAMES[cmd], len(spec), len(fields)))
    out = [cmd]
    for (name, kind, limit), v in zip(spec, fields):
        if kind == "u":
            if not _is_uint(v):
                raise ValueError("%s.%s: expected uint, got %r" % (CMD_NAMES[cmd], name, v))
            out.append(v)
        else:
            b = v.encode("utf-8", "surrogateescape") if isinstance(v, str) else bytes(v)
            if len(b) > limit:
                raise ValueError("%s.%s: %d bytes, limit %d"
                                 % (CMD_NAMES[cmd], name, len(b), limit))
            # msgpack-python writes str for a (decoded) str; bytes would become bin.
            out.append(b.decode("utf-8", "surrogateescape"))
    packed = msgpack.packb(out, use_bin_type=True,
                           unicode_errors="surrogateescape")
    if len(packed) > MAX_HEADER:
        raise ValueError("header of %d bytes over %d" % (len(packed), MAX_HEADER))
    return packed


def decode_header(frame):
    """Unpack a header frame into (cmd, {field: value}).

    Strings come back as Python str (UTF-8, undecodable bytes kept via surrogateescape:
    §2 says header strings are bytes).  Elements after the known fields are ignored (§3);
    too few elements, a wrong type, trailing bytes or an oversized frame raise
    ProtocolViolation."""
    if len(frame) > MAX_HEADER:
        raise ProtocolViolation("header of %d bytes" % len(frame))
    try:
        arr = msgpack.unpackb(frame, raw=True, use_list=True, strict_map_key=False)
    except Exception as e:        # ExtraData (bytes after the array), truncation, ...
        raise ProtocolViolation("header is not one msgpack value: %s" % e)
    if not isinstance(arr, list) or not arr or not _is_uint(arr[0]):
        raise ProtocolViolation("header is not [cmd, ...]")
    cmd = arr[0]
    spec = HEADER_FIELDS.get(cmd)
    if spec is None:
        raise ProtocolViolation("unknown command %d" % cmd)
    if len(arr) - 1 < len(spec):
        raise ProtocolViolation("%s with %d fields, needs %d"
                                % (CMD_NAMES[cmd], len(arr) - 1, len(spec)))
    fields = {}
    for (name, kind, limit), v in zip(spec, arr[1:]):
        if kind == "u":
            if not _is_uint(v):
                raise ProtocolViolation("%s.%s: expected uint, got %r" % (CMD_NAMES[cmd], name, v))
            fields[name] = v
        else:
            if not isinstance(v, bytes) or len(v) > limit:
                raise ProtocolViolation("%s.%s: expected str(<=%d), got %r"
                                        % (CMD_NAMES[cmd], name, limit, v))
            fields[name] = v.decode("utf-8", "surrogateescape")
    return cmd, fields


# --------------------------------------------------------------------------------------
# Session (§4–§9)
# --------------------------------------------------------------------------------------

Welcome = collections.namedtuple("Welcome", [f[0] for f in HEADER_FIELDS[Cmd.WELCOME]])
Result = collections.namedtuple("Result", "corr status msg_id service_us payload")
Delivery = collections.namedtuple(
    "Delivery", "msg_id queue timeout_ms flags dbg peer_id domid payload received")
# `from` is a Python keyword: the field is called from_ here.
TraceEvent = collections.namedtuple(
    "TraceEvent", "seq ts_ns event queue msg_id corr from_ to size dbg service_us lost payload")
TraceEnd = collections.namedtuple("TraceEnd", "next_seq lost")


class Session:
    """One session with the switch over one ZeroMQ DEALER socket.

    Opening it connects and does HELLO → WELCOME (§4.1); `welcome` holds the switch's
    answer (peer_id, heartbeat_ms, limits, boot_id).  Every method that waits calls
    `pump()`, which reads everything the switch sent, files it by kind, sends HEARTBEATs
    when due and notices a silent switch (§4.4).

    Client side:  request() + wait_result(), or call() for both.
    Server side:  subscribe(), next_delivery(), reply(), credit(), unsubscribe().
    Tools:        diag(), trace(), trace_follow() / untrace().
    Closing:      bye() (§4.5) then close(), or use `with`.
    """

    def __init__(self, endpoint, name="xsp-py", role="client", domid=0, pid=None,
                 hello_timeout=5.0, context=None):
        self.endpoint = endpoint
        self.name, self.role, self.domid = name, role, domid
        self.pid = os.getpid() if pid is None else pid
        self._ctx = context or zmq.Context.instance()
        self.sock = self._ctx.socket(zmq.DEALER)   # §1: a DEALER; no routing id set
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self._corr = itertools.count(1)            # §3.2 corr: unique among ours
        self._results = {}                         # corr → Result | SwitchError
        self._deliveries = collections.deque()     # Delivery, in arrival order
        self._diag = {}                            # corr → dict | SwitchError
        self._trace = collections.deque()          # TraceEvent | TraceEnd | SwitchError
        self.errors = collections.deque()          # ERRORs not tied to a request/diag
        self.heartbeats_received = 0
        self.welcome = None                        # the last WELCOME (kept after BYE)
        self.in_session = False                    # between WELCOME and BYE
        self._last_send = self._last_recv = time.monotonic()
        self.hello(hello_timeout)

    # -- context manager -----------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bye()
        self.close()

    # -- sending ---------------------------------------------------------------------------

    def send(self, cmd, *fields, payload=None):
        """Send one message: the header frame, plus a payload frame when payload is not
        None (§1: one or two frames)."""
        frames = [encode_header(cmd, *fields)]
        if payload is not None:
            frames.append(bytes(payload))
        self.sock.send_multipart(frames, copy=False)
        self._last_send = time.monotonic()

    def hello(self, timeout=5.0):
        """HELLO → WELCOME (§4.1).  Also used after `no-session` (the switch restarted):
        a new HELLO starts a new session; a changed `boot_id` tells a restart apart."""
        self.in_session = False
        self.errors.clear()
        self.send(Cmd.HELLO, PROTOCOL_VERSION, self.name, self.role, self.pid, self.domid)

        def refused():    # `version` (ref_cmd 0) or `too-many-peers` (ref_cmd 0 or 1)
            for e in self.errors:
                if e.ref_cmd in (0, Cmd.HELLO) and e.code != "no-session":
                    return e
            return None
        self._wait(lambda: self.in_session, timeout, "WELCOME", refused)
        return self.welcome

    @property
    def peer_id(self):
        return self.welcome.peer_id

    @property
    def heartbeat_s(self):
        return (self.welcome.heartbeat_ms if self.welcome else 1000) / 1000.0

    # -- receiving -------------------------------------------------------------------------

    def pump(self, timeout=0.0):
        """Wait up to `timeout` seconds for messages and file every one that arrived.
        Sends a HEARTBEAT when nothing was sent for one interval (§4.4); raises
        XspError("disconnected") when the switch was silent for 3 intervals."""
        end = time.monotonic() + timeout
        while True:
            got = False
            while self.sock.poll(0):        # read what is queued before judging silence
                self._receive(self.sock.recv_multipart())
                got = True
            now = time.monotonic()
            if self.in_session and now - self._last_send >= self.heartbeat_s:
                self.send(Cmd.HEARTBEAT)
            if got:
                return
            if self.in_session and now - self._last_recv > 3 * self.heartbeat_s:
                raise XspError("disconnected", "the switch was silent for 3 heartbeat intervals")
            left = end - now
            if left <= 0:
                return
            self.sock.poll(int(min(left, self.heartbeat_s / 2) * 1000) + 1)

    def _receive(self, frames):
        self._last_recv = time.monotonic()
        if not 1 <= len(frames) <= 2:
            raise ProtocolViolation("message of %d frames" % len(frames))
        cmd, f = decode_header(frames[0])
        payload = frames[1] if len(frames) == 2 else None
        if cmd == Cmd.WELCOME:
            if f["version"] != PROTOCOL_VERSION:
                raise ProtocolViolation("WELCOME version %d" % f["version"])
            self.welcome = Welcome(**f)
            self.in_session = True
        elif cmd == Cmd.HEARTBEAT:
            self.heartbeats_received += 1
        elif cmd == Cmd.RESULT:
            # §5.6: a RESULT always has two frames.  payload stays None if the switch
            # ever sent one frame, so that a test can tell; callers treat None as b"".
            self._results[f["corr"]] = Result(f["corr"], f["status"], f["msg_id"],
                                              f["service_us"], payload)
        elif cmd == Cmd.DELIVER:
            self._deliveries.append(Delivery(payload=payload or b"",
                                             received=time.monotonic(), **f))
        elif cmd == Cmd.ERROR:
            err = SwitchError(f["code"], f["message"], f["ref_cmd"], f["ref"])
            if err.code in ("no-session", "version"):
                # The switch does not know us (it restarted, §4.1) or refused our HELLO:
                # no heartbeats until the next HELLO.
                self.in_session = False
            if f["ref_cmd"] == Cmd.REQUEST:                  # §3.2: ref = corr
                self._results[f["ref"]] = err
            elif f["ref_cmd"] == Cmd.DIAG:                   # ref = the DIAG corr
                self._diag[f["ref"]] = err
            elif f["ref_cmd"] in (Cmd.TRACE, Cmd.UNTRACE):
                self._trace.append(err)
            else:                                            # session, REPLY, SUBSCRIBE, ...
                self.errors.append(err)
        elif cmd == Cmd.DIAG_REPLY:
            try:
                report = msgpack.unpackb(payload or b"", raw=False, strict_map_key=False)
            except Exception as e:
                report = ProtocolViolation("DIAG_REPLY payload: %s" % e)
            self._diag[f["corr"]] = report
        elif cmd == Cmd.TRACE_EVENT:
            ev = dict(f)
            ev["from_"] = ev.pop("from")
            self._trace.append(TraceEvent(payload=payload, **ev))
        elif cmd == Cmd.TRACE_END:
            self._trace.append(TraceEnd(**f))
        else:
            raise ProtocolViolation("switch sent %s" % CMD_NAMES.get(cmd, cmd))

    def _wait(self, ready, timeout, what, failed=lambda: None):
        """Pump until ready() (or raise failed()'s exception, or XspError "timeout": the
        code api.md gives a caller's own timeout)."""
        end = time.monotonic() + timeout
        while not ready():
            err = failed()
            if err is not None:
                raise err
            left = end - time.monotonic()
            if left <= 0:
                raise XspError("timeout", "no %s within %.1f s" % (what, timeout))
            self.pump(left)

    # -- client side (§5.1, §5.6) ---------------------------------------------------------

    def request(self, queue, body=b"", timeout_ms=5000, flags=0, dbg="", corr=None):
        """Send a REQUEST and return its corr (without waiting).  body None sends a
        one-frame message (no payload)."""
        corr = next(self._corr) if corr is None else corr
        self.send(Cmd.REQUEST, corr, queue, timeout_ms, flags, dbg, payload=body)
        return corr

    def wait_result(self, corr, timeout):
        """Wait for the RESULT or ERROR that answers `corr`.  Returns a Result (status 0
        or not: the caller interprets the payload); raises SwitchError for an ERROR and
        XspError("timeout") when nothing came within `timeout` seconds."""
        self._wait(lambda: corr in self._results, timeout, "answer to request %d" % corr)
        r = self._results.pop(corr)
        if isinstance(r, Exception):
            raise r
        return r

    def call(self, queue, body=b"", timeout_ms=5000, flags=0, dbg="", wait=None,
             resend_on_no_session=True):
        """REQUEST + wait.  Our own wait is the switch deadline plus a margin (or `wait`
        seconds).  A `no-session` answer means the request was never accepted (§4.1):
        say HELLO again and resend it, once, even when AT_MOST_ONCE."""
        if wait is None:
            wait = (timeout_ms / 1000.0 + 2.0) if timeout_ms else 30.0
        corr = self.request(queue, body, timeout_ms, flags, dbg)
        try:
            return self.wait_result(corr, wait)
        except SwitchError as e:
            if e.code != "no-session" or not resend_on_no_session:
                raise
        self.hello()
        corr = self.request(queue, body, timeout_ms, flags, dbg)
        return self.wait_result(corr, wait)

    # -- server side (§5.3–§5.5, §5.8) ------------------------------------------------------

    def subscribe(self, queue, credit=1):
        self.send(Cmd.SUBSCRIBE, queue, credit)

    def unsubscribe(self, queue):
        self.send(Cmd.UNSUBSCRIBE, queue)

    def credit(self, queue, n):
        self.send(Cmd.CREDIT, queue, n)

    def next_delivery(self, timeout):
        """The next DELIVER, or None after `timeout` seconds."""
        end = time.monotonic() + timeout
        while not self._deliveries:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.pump(left)
        return self._deliveries.popleft()

    def reply(self, msg_id, body=b"", status=STATUS_OK):
        """Answer a delivery (§5.5).  Returns one credit to the subscription."""
        self.send(Cmd.REPLY, msg_id, status, payload=body)

    # -- diagnostics and traces (§8, §9) -------------------------------------------------

    def diag(self, timeout=5.0):
        """DIAG → the switch's diagnostics map (§9)."""
        corr = next(self._corr)
        self.send(Cmd.DIAG, corr)
        self._wait(lambda: corr in self._diag, timeout, "DIAG_REPLY")
        r = self._diag.pop(corr)
        if isinstance(r, Exception):
            raise r
        return r

    def trace(self, from_seq=0, glob="", timeout=5.0):
        """TRACE with follow 0: returns (events, TraceEnd) for every event held."""
        self._trace.clear()
        self.send(Cmd.TRACE, from_seq, glob, 0)
        events = []
        end = time.monotonic() + timeout
        while True:
            while self._trace:
                item = self._trace.popleft()
                if isinstance(item, Exception):
                    raise item
                if isinstance(item, TraceEnd):
                    return events, item
                events.append(item)
            left = end - time.monotonic()
            if left <= 0:
                raise XspError("timeout", "no TRACE_END within %.1f s" % timeout)
            self.pump(left)

    def trace_follow(self, from_seq=0, glob=""):
        """Start a following trace (follow 1); read events with next_trace_event()."""
        self._trace.clear()
        self.send(Cmd.TRACE, from_seq, glob, 1)

    def next_trace_event(self, timeout):
        end = time.monotonic() + timeout
        while not self._trace:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.pump(left)
        item = self._trace.popleft()
        if isinstance(item, Exception):
            raise item
        return item

    def untrace(self):
        self.send(Cmd.UNTRACE)

    # -- closing ---------------------------------------------------------------------------

    def bye(self):
        """End the session cleanly (§4.5); the switch does not answer."""
        if self.in_session and not self.sock.closed:
            self.send(Cmd.BYE)
            self.in_session = False

    def close(self):
        if not self.sock.closed:
            self.sock.close(linger=0)


# --------------------------------------------------------------------------------------
# Storage API types (api.md "Types" and "Module storage")
# --------------------------------------------------------------------------------------
#
# A type is a tuple:
#   ("str", max_bytes)            ("bool",)        ("uint", bits)   ("int", bits)
#   ("list", elem, max_len)       ("smap", key_max, value_max, max_entries)
#   ("enum", name, values)        ("struct", name, fields)   ("union", name, {kind: fields})
#   ("code",)  an error_code      ("nil",)  no result
# fields: [(name, type, required)].  api.md: unless a limit is given, strings are at most
# 4096 bytes, lists 4096 elements, maps 1024 entries.

def _s(n=4096):
    return ("str", n)


def _list(t, n=4096):
    return ("list", t, n)


def _smap(k=4096, v=4096, n=1024):
    return ("smap", k, v, n)


BOOL, U32, U64, NIL, CODE = ("bool",), ("uint", 32), ("uint", 64), ("nil",), ("code",)
DBG, SR, KEY, URI, DOMAIN = _s(1024), _s(), _s(), _s(), _s(256)
CONFIGURATION = _smap(256, 4096, 256)

ERROR_REPLY = ("struct", "error_reply", [
    ("code", CODE, True), ("message", _s(1024), True),
    ("detail", _smap(256, 4096, 64), False)])

PLUGIN_INFO = ("struct", "plugin_info", [
    ("plugin", _s(64), True), ("name", _s(256), True), ("description", _s(), True),
    ("vendor", _s(256), True), ("copyright", _s(1024), True), ("version", _s(64), True),
    ("api_version", _s(64), True), ("features", _list(_s(64), 256), True),
    ("configuration", _smap(256, 1024, 256), True),
    ("required_cluster_stack", _list(_s(64), 16), True)])

HEALTH = ("enum", "health", ("healthy", "recovering", "unreachable", "unavailable"))

SR_STAT = ("struct", "sr_stat", [
    ("sr", SR, True), ("name", _s(256), True), ("uuid", _s(64), False),
    ("description", _s(), True), ("free_space", U64, True), ("total_space", U64, True),
    ("datasources", _list(URI, 256), True), ("clustered", BOOL, True),
    ("health", HEALTH, True), ("health_detail", _s(1024), False)])

PROBE_RESULT = ("struct", "probe_result", [
    ("configuration", CONFIGURATION, True), ("complete", BOOL, True),
    ("sr", SR_STAT, False), ("extra_info", _smap(256, 4096, 256), True)])

VOLUME = ("struct", "volume", [
    ("key", KEY, True), ("uuid", _s(64), False), ("name", _s(256), True),
    ("description", _s(), True), ("read_write", BOOL, True), ("sharable", BOOL, True),
    ("virtual_size", U64, True), ("physical_utilisation", U64, True),
    ("uri", _list(URI, 64), True), ("keys", _smap(256, 4096, 256), True),
    ("parent", KEY, False)])

BACKEND_DOMAIN_SOURCE = ("enum", "backend_domain_source", ("fixed", "plugin_domain", "on_demand"))

BACKEND_DOMAIN = ("struct", "backend_domain", [
    ("domid", U32, True), ("source", BACKEND_DOMAIN_SOURCE, True),
    ("domain_uuid", _s(64), False)])

IMPLEMENTATION = ("union", "implementation", {
    "xen_disk": [("backend_type", _s(64), True), ("params", _s(), True),
                 ("extra", _smap(256, 4096, 64), True)],
    "block_device": [("path", _s(), True)],
    "file": [("path", _s(), True)],
    "nbd": [("uri", URI, True)],
})

BACKEND = ("struct", "backend", [
    ("domain", BACKEND_DOMAIN, True),
    ("implementations", _list(IMPLEMENTATION, 16), True)])

TYPES = {t[1]: t for t in (ERROR_REPLY, PLUGIN_INFO, HEALTH, SR_STAT, PROBE_RESULT, VOLUME,
                           BACKEND_DOMAIN_SOURCE, BACKEND_DOMAIN, IMPLEMENTATION, BACKEND)}

# Method → (arguments after dbg as [(name, type, required)], result type).
# Every method takes `dbg` first (api.md "Module storage").
STORAGE_METHODS = {
    "Plugin.query": ([], PLUGIN_INFO),
    "Plugin.ls": ([], _list(SR)),
    "Plugin.diagnostics": ([], _s(262144)),
    "SR.probe": ([("configuration", CONFIGURATION, True)], _list(PROBE_RESULT, 1024)),
    "SR.create": ([("uri", URI, True), ("name", _s(256), True), ("description", _s(), True),
                   ("configuration", CONFIGURATION, True), ("uuid", _s(64), False)],
                  CONFIGURATION),
    "SR.attach": ([("configuration", CONFIGURATION, True)], SR),
    "SR.detach": ([("sr", SR, True)], NIL),
    "SR.destroy": ([("sr", SR, True)], NIL),
    "SR.stat": ([("sr", SR, True)], SR_STAT),
    "SR.set_name": ([("sr", SR, True), ("new_name", _s(256), True)], NIL),
    "SR.set_description": ([("sr", SR, True), ("new_description", _s(), True)], NIL),
    "SR.ls": ([("sr", SR, True)], _list(VOLUME, 65536)),
    "Volume.create": ([("sr", SR, True), ("name", _s(256), True), ("description", _s(), True),
                       ("size", U64, True), ("sharable", BOOL, True)], VOLUME),
    "Volume.destroy": ([("sr", SR, True), ("key", KEY, True)], NIL),
    "Volume.clone": ([("sr", SR, True), ("key", KEY, True)], VOLUME),
    "Volume.snapshot": ([("sr", SR, True), ("key", KEY, True)], VOLUME),
    "Volume.resize": ([("sr", SR, True), ("key", KEY, True), ("new_size", U64, True)], NIL),
    "Volume.stat": ([("sr", SR, True), ("key", KEY, True)], VOLUME),
    "Volume.set_name": ([("sr", SR, True), ("key", KEY, True), ("new_name", _s(256), True)], NIL),
    "Volume.set_description": ([("sr", SR, True), ("key", KEY, True),
                                ("new_description", _s(), True)], NIL),
    "Volume.set": ([("sr", SR, True), ("key", KEY, True), ("k", _s(256), True),
                    ("v", _s(), True)], NIL),
    "Volume.unset": ([("sr", SR, True), ("key", KEY, True), ("k", _s(256), True)], NIL),
    "Datapath.open": ([("uri", URI, True), ("persistent", BOOL, True)], NIL),
    "Datapath.attach": ([("uri", URI, True), ("domain", DOMAIN, True)], BACKEND),
    "Datapath.activate": ([("uri", URI, True), ("domain", DOMAIN, True)], NIL),
    "Datapath.deactivate": ([("uri", URI, True), ("domain", DOMAIN, True)], NIL),
    "Datapath.detach": ([("uri", URI, True), ("domain", DOMAIN, True)], NIL),
    "Datapath.close": ([("uri", URI, True)], NIL),
}

MAX_NESTING = 24      # api.md "Decoding is strict": nesting deeper than 24 is refused


def _kind(v):
    """msgpack type names as api.md's error messages use them."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (bytes, bytearray)):
        return "binary"
    if isinstance(v, (list, tuple)):
        return "array"
    if isinstance(v, dict):
        return "map"
    return type(v).__name__


class _DecodeError(Exception):
    def __init__(self, path, what):
        super().__init__("%s: %s" % (path or "(value)", what))


def _check_str(v, limit, path):
    if not isinstance(v, str):
        raise _DecodeError(path, "expected string, got %s" % _kind(v))
    b = v.encode("utf-8", "surrogateescape")
    if len(b) > limit:
        raise _DecodeError(path, "string of %d bytes over its limit %d" % (len(b), limit))
    if "\0" in v:
        raise _DecodeError(path, "string contains a NUL byte")
    return v


def _check_fields(v, fields, path):
    if not isinstance(v, dict):
        raise _DecodeError(path, "expected map, got %s" % _kind(v))
    out = {}
    for name, t, required in fields:
        sub = "%s.%s" % (path, name) if path else name
        if name not in v and required:
            raise _DecodeError(sub, "missing")
        if name not in v or (v[name] is None and not required):
            continue            # optional: absent or nil means absent; leave it out
        out[name] = check(v[name], t, sub)
    # Keys the record does not define are ignored (api.md "Decoding is strict").
    return out


def check(v, t, path=""):
    """Check a decoded msgpack value against type `t` and return it normalised: optional
    fields absent (never None), unknown record keys dropped, unknown error codes mapped to
    "unknown".  Raises _DecodeError("path: what") on any violation api.md lists."""
    k = t[0]
    if k == "str":
        return _check_str(v, t[1], path)
    if k == "code":
        _check_str(v, 64, path)
        return v if v in ALL_CODES else "unknown"   # api.md: unknown names → `unknown`
    if k == "bool":
        if not isinstance(v, bool):
            raise _DecodeError(path, "expected boolean, got %s" % _kind(v))
        return v
    if k in ("uint", "int"):
        if not isinstance(v, int) or isinstance(v, bool):
            raise _DecodeError(path, "expected integer, got %s" % _kind(v))
        lo, hi = (0, 1 << t[1]) if k == "uint" else (-(1 << (t[1] - 1)), 1 << (t[1] - 1))
        if not lo <= v < hi:
            raise _DecodeError(path, "integer %d out of range" % v)
        return v
    if k == "nil":
        if v is not None:
            raise _DecodeError(path, "expected nil, got %s" % _kind(v))
        return None
    if k == "list":
        if not isinstance(v, (list, tuple)):
            raise _DecodeError(path, "expected array, got %s" % _kind(v))
        if len(v) > t[2]:
            raise _DecodeError(path, "array of %d elements over its limit %d" % (len(v), t[2]))
        return [check(e, t[1], "%s[%d]" % (path, i)) for i, e in enumerate(v)]
    if k == "smap":
        if not isinstance(v, dict):
            raise _DecodeError(path, "expected map, got %s" % _kind(v))
        if len(v) > t[3]:
            raise _DecodeError(path, "map of %d entries over its limit %d" % (len(v), t[3]))
        out = {}
        for key, val in v.items():
            _check_str(key, t[1], "%s{key}" % path)
            out[key] = _check_str(val, t[2], "%s.%s" % (path, key) if path else key)
        return out
    if k == "enum":
        if not isinstance(v, str):
            raise _DecodeError(path, "expected string, got %s" % _kind(v))
        if v not in t[2]:
            raise _DecodeError(path, "unknown %s value %r" % (t[1], v))
        return v
    if k == "struct":
        return _check_fields(v, t[2], path)
    if k == "union":
        if not isinstance(v, dict):
            raise _DecodeError(path, "expected map, got %s" % _kind(v))
        kind = v.get("kind")
        sub = "%s.kind" % path if path else "kind"
        if kind is None:
            raise _DecodeError(sub, "missing")
        if not isinstance(kind, str):
            raise _DecodeError(sub, "expected string, got %s" % _kind(kind))
        if kind not in t[2]:
            raise _DecodeError(sub, "unknown %s kind %r" % (t[1], kind))
        out = _check_fields(v, t[2][kind], path)
        out["kind"] = kind
        return out
    raise ValueError("bad type %r" % (t,))


def _no_duplicate_keys(pairs):
    d = {}
    for key, val in pairs:
        if key in d:
            raise ValueError("key %r appears twice" % (key,))
        d[key] = val
    return d


def _depth(v, d=1):
    if isinstance(v, dict):
        return max([d] + [_depth(x, d + 1) for x in v.values()])
    if isinstance(v, list):
        return max([d] + [_depth(x, d + 1) for x in v])
    return d


def unpack_payload(data):
    """One msgpack value, strictly: no trailing bytes, no duplicate map keys, nesting at
    most 24, strings UTF-8.  Raises ValueError."""
    try:
        v = msgpack.unpackb(bytes(data), raw=False, use_list=True, strict_map_key=False,
                            object_pairs_hook=_no_duplicate_keys)
    except ValueError:
        raise
    except Exception as e:        # ExtraData, OutOfData, FormatError, ...
        raise ValueError("not one well-formed msgpack value: %s" % e)
    if _depth(v) > MAX_NESTING:
        raise ValueError("nesting deeper than %d" % MAX_NESTING)
    return v


def pack_payload(v):
    return msgpack.packb(v, use_bin_type=True)


def encode_request(method, dbg, args):
    """The request payload {"method": ..., "args": {"dbg": ..., ...}} (api.md "Request").
    Arguments are checked against the method's signature; an optional argument given as
    None is left out."""
    if method not in STORAGE_METHODS:
        raise ValueError("unknown method %s" % method)
    fields, _ = STORAGE_METHODS[method]
    names = {f[0] for f in fields}
    extra = set(args) - names
    if extra:
        raise ValueError("%s: unknown arguments %s" % (method, sorted(extra)))
    try:
        a = {"dbg": check(dbg, DBG, "dbg")}
        a.update(_check_fields(args, fields, ""))
    except _DecodeError as e:
        raise ValueError("%s args: %s" % (method, e))
    return pack_payload({"method": method, "args": a})


def decode_request(data):
    """Server side: payload → (method, args dict incl. dbg).  Raises XspError("decode")
    with api.md's message form ("<method> args: <path>: <what>"), or "unimplemented" for
    a method this API does not have."""
    try:
        req = unpack_payload(data)
    except ValueError as e:
        raise XspError("decode", "request: %s" % e)
    if not isinstance(req, dict):
        raise XspError("decode", "request: expected map, got %s" % _kind(req))
    method, args = req.get("method"), req.get("args")   # other envelope keys: ignored
    if not isinstance(method, str):
        raise XspError("decode", "request: method: expected string, got %s" % _kind(method))
    if not isinstance(args, dict):
        raise XspError("decode", "%s args: expected map, got %s" % (method, _kind(args)))
    if method not in STORAGE_METHODS:
        raise XspError("unimplemented", "no method %s" % method)
    fields, _ = STORAGE_METHODS[method]
    try:
        return method, _check_fields(args, [("dbg", DBG, True)] + fields, "")
    except _DecodeError as e:
        raise XspError("decode", "%s args: %s" % (method, e))


# --------------------------------------------------------------------------------------
# Storage client (api.md "Wire encoding")
# --------------------------------------------------------------------------------------

class _Interface:
    """storage.SR.attach(dbg=..., configuration=...) → storage.call("SR.attach", ...)."""

    def __init__(self, client, name):
        self._client, self._name = client, name

    def __getattr__(self, method):
        full = "%s.%s" % (self._name, method)
        if full not in STORAGE_METHODS:
            raise AttributeError(full)
        return lambda dbg=None, **args: self._client.call(full, dbg=dbg, **args)


class StorageClient:
    """Calls the storage API of the plugin serving `queue`.

    Each call sends one REQUEST whose payload is {"method", "args"} and whose header `dbg`
    is the call's dbg, then decodes the RESULT:

      status 0  → the result, checked against the method's result type (XspError
                  "decode" with the value's path when it does not match);
      status 1  → the error_reply map → StorageError(code, message, detail);
      other     → XspError("unknown") (§3.2: treat other statuses as errors).

    Switch refusals (expired, queue-full, ...) raise SwitchError."""

    def __init__(self, session, queue, timeout_ms=10000, dbg="xsp-py", flags=0):
        self.session, self.queue = session, queue
        self.timeout_ms, self.dbg, self.flags = timeout_ms, dbg, flags
        self.Plugin = _Interface(self, "Plugin")
        self.SR = _Interface(self, "SR")
        self.Volume = _Interface(self, "Volume")
        self.Datapath = _Interface(self, "Datapath")
        self.last_result = None      # the raw Result of the last call, for tests/tools

    def call(self, method, dbg=None, **args):
        dbg = self.dbg if dbg is None else dbg
        body = encode_request(method, dbg, args)
        r = self.session.call(self.queue, body, timeout_ms=self.timeout_ms,
                              flags=self.flags, dbg=dbg)
        self.last_result = r
        return decode_reply(method, r.status, r.payload)


def decode_reply(method, status, payload):
    """RESULT status + payload → the method's result, or raise (see StorageClient)."""
    try:
        value = unpack_payload(payload or b"")
    except ValueError as e:
        raise XspError("decode", "%s %s: %s" % (method, "result" if status == 0 else "error", e))
    if status == STATUS_OK:
        try:
            return check(value, STORAGE_METHODS[method][1], "")
        except _DecodeError as e:
            raise XspError("decode", "%s result: %s" % (method, e))
    if status == STATUS_ERROR:
        try:
            er = check(value, ERROR_REPLY, "")
        except _DecodeError as e:
            raise XspError("decode", "%s error: %s" % (method, e))
        raise StorageError(value["code"], er["message"], er.get("detail"), method)
    raise XspError("unknown", "%s: reply status %d" % (method, status))


# --------------------------------------------------------------------------------------
# Storage server (the plugin side)
# --------------------------------------------------------------------------------------

class StorageServer:
    """Serves the storage API on `queue` with `handlers`: {"SR.attach": fn(args) → result}.

    A handler returns the method's result (None for methods without one) or raises
    StorageError/XspError; the reply is status 0 + result or status 1 + error_reply.
    Methods without a handler answer `unimplemented` (api.md "Module storage").  Results
    are checked against the API before they are sent, so a handler bug becomes a
    `backend-failure` here rather than a `decode` error at the caller."""

    def __init__(self, session, queue, handlers, credit=8):
        self.session, self.queue, self.handlers = session, queue, handlers
        session.subscribe(queue, credit)

    def handle(self, delivery):
        try:
            method, args = decode_request(delivery.payload)
            fn = self.handlers.get(method)
            if fn is None:
                raise XspError("unimplemented", "%s is not implemented" % method)
            result = check(fn(args), STORAGE_METHODS[method][1], "")
            status, body = STATUS_OK, result
        except XspError as e:
            status, body = STATUS_ERROR, {"code": e.wire_code, "message": e.message}
            if e.detail:
                body["detail"] = e.detail
        except _DecodeError as e:
            status, body = STATUS_ERROR, {"code": "backend-failure",
                                          "message": "bad result from handler: %s" % e}
        self.session.reply(delivery.msg_id, pack_payload(body), status)

    def serve_once(self, timeout):
        d = self.session.next_delivery(timeout)
        if d is not None:
            self.handle(d)
        return d is not None

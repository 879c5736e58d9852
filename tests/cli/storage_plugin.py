#!/usr/bin/python3
"""storage_plugin.py — a stand-in storage plugin for the CLI tests (test_storage_cli.sh).

Owns: a minimal in-memory implementation of the storage API (docs/api.md: every method of
Plugin, SR, Volume and Datapath) served on one queue, speaking the switch protocol
(docs/protocol.md: HELLO/WELCOME, SUBSCRIBE, DELIVER -> REPLY, HEARTBEAT, BYE) with only
python3-zmq and python3-msgpack.  The test prefers the C plugin build/bin/xsp-test-plugin
when it exists; this file keeps the test meaningful until then.
Never touches: anything on disk; state lives and dies with the process.

    storage_plugin.py --switch ENDPOINT --queue QUEUE
Prints `storage_plugin: ready: QUEUE` once subscribed; exits on SIGTERM/SIGINT (says BYE).
"""

import argparse
import os
import signal
import sys
import time
import uuid as uuidlib

import msgpack
import zmq

HELLO, WELCOME, DELIVER, REPLY, ERROR, SUBSCRIBE, HEARTBEAT, BYE = 1, 2, 4, 5, 7, 8, 11, 12


class Fail(Exception):
    """An error reply: {"code", "message", "detail"} (docs/api.md, Replies)."""

    def __init__(self, code, message, **detail):
        super().__init__(message)
        self.code, self.message, self.detail = code, message, detail


class Store:
    def __init__(self):
        self.srs = {}          # sr key -> {"name", "description", "uuid", "volumes": {key: volume}}
        self.attached = set()
        self.next_vol = 1
        self.datapaths = {}    # uri -> {"open": bool, "domains": set}

    # ---------------------------------------------------------------- helpers
    def sr(self, a):
        key = a["sr"]
        if key not in self.srs or key not in self.attached:
            raise Fail("sr-not-attached", "SR %s is not attached" % key, sr=key)
        return self.srs[key]

    def vol(self, a):
        s = self.sr(a)
        key = a["key"]
        if key not in s["volumes"]:
            raise Fail("volume-does-not-exist", "no volume %s in SR %s" % (key, a["sr"]),
                       sr=a["sr"], key=key)
        return s["volumes"][key]

    def by_uri(self, uri):
        for s in self.srs.values():
            for v in s["volumes"].values():
                if uri in v["uri"]:
                    return v
        raise Fail("volume-does-not-exist", "no volume data at %s" % uri, uri=uri)

    def new_volume(self, sr, name, description, size, sharable, read_write=True, parent=None):
        key = "vol-%d" % self.next_vol
        self.next_vol += 1
        v = {"key": key, "uuid": str(uuidlib.uuid4()), "name": name, "description": description,
             "read_write": read_write, "sharable": sharable, "virtual_size": size,
             "physical_utilisation": 0, "uri": ["mem+file://%s/%s" % (sr.split("://")[-1], key)],
             "keys": {}}
        if parent is not None:
            v["parent"] = parent
        self.srs[sr]["volumes"][key] = v
        return v

    # ---------------------------------------------------------------- Plugin
    def Plugin_query(self, a):
        return {"plugin": "pymem", "name": "Python in-memory test plugin",
                "description": "Keeps SRs and volumes in memory; for the CLI tests.",
                "vendor": "xsp tests", "copyright": "none", "version": "0.1",
                "api_version": "1.0", "features": ["SR_PROBE", "VDI_RESIZE", "VDI_SNAPSHOT"],
                "configuration": {"uri": "where the SR lives (mem://NAME)"},
                "required_cluster_stack": []}

    def Plugin_ls(self, a):
        return sorted(self.attached)

    def Plugin_diagnostics(self, a):
        return "srs: %d\nattached: %s\n" % (len(self.srs), ", ".join(sorted(self.attached)))

    # ---------------------------------------------------------------- SR
    def SR_probe(self, a):
        return [{"configuration": {"uri": k}, "complete": True, "extra_info": {}} for k in self.srs]

    def SR_create(self, a):
        conf = dict(a["configuration"])
        uri = a["uri"] or conf.get("uri") or "mem://sr%d" % (len(self.srs) + 1)
        if uri in self.srs:
            raise Fail("invalid-argument", "an SR already exists at %s" % uri, argument="uri")
        conf["uri"] = uri
        self.srs[uri] = {"name": a["name"], "description": a["description"],
                         "uuid": a.get("uuid"), "volumes": {}}
        return conf

    def SR_attach(self, a):
        uri = a["configuration"].get("uri", "")
        if uri not in self.srs:
            raise Fail("sr-does-not-exist", "no SR at %r" % uri, sr=uri)
        self.attached.add(uri)
        return uri

    def SR_detach(self, a):
        self.attached.discard(a["sr"])

    def SR_destroy(self, a):
        self.sr(a)
        self.attached.discard(a["sr"])
        del self.srs[a["sr"]]

    def SR_stat(self, a):
        s = self.sr(a)
        r = {"sr": a["sr"], "name": s["name"], "description": s["description"],
             "free_space": 1 << 40, "total_space": 1 << 40, "datasources": [],
             "clustered": False, "health": "healthy"}
        if s["uuid"]:
            r["uuid"] = s["uuid"]
        return r

    def SR_set_name(self, a):
        self.sr(a)["name"] = a["new_name"]

    def SR_set_description(self, a):
        self.sr(a)["description"] = a["new_description"]

    def SR_ls(self, a):
        return list(self.sr(a)["volumes"].values())

    # ---------------------------------------------------------------- Volume
    def Volume_create(self, a):
        self.sr(a)
        return self.new_volume(a["sr"], a["name"], a["description"], a["size"], a["sharable"])

    def Volume_destroy(self, a):
        self.vol(a)
        del self.srs[a["sr"]]["volumes"][a["key"]]

    def Volume_clone(self, a):
        v = self.vol(a)
        return self.new_volume(a["sr"], v["name"], v["description"], v["virtual_size"],
                               v["sharable"], parent=v["key"])

    def Volume_snapshot(self, a):
        v = self.vol(a)
        return self.new_volume(a["sr"], v["name"], v["description"], v["virtual_size"],
                               v["sharable"], read_write=False, parent=v["key"])

    def Volume_resize(self, a):
        v = self.vol(a)
        if a["new_size"] < v["virtual_size"]:
            raise Fail("invalid-argument", "cannot shrink %s" % a["key"], argument="new_size")
        v["virtual_size"] = a["new_size"]

    def Volume_stat(self, a):
        return self.vol(a)

    def Volume_set_name(self, a):
        self.vol(a)["name"] = a["new_name"]

    def Volume_set_description(self, a):
        self.vol(a)["description"] = a["new_description"]

    def Volume_set(self, a):
        self.vol(a)["keys"][a["k"]] = a["v"]

    def Volume_unset(self, a):
        self.vol(a)["keys"].pop(a["k"], None)

    # ---------------------------------------------------------------- Datapath
    def Datapath_open(self, a):
        self.by_uri(a["uri"])
        self.datapaths.setdefault(a["uri"], {"domains": set()})

    def Datapath_attach(self, a):
        v = self.by_uri(a["uri"])
        self.datapaths.setdefault(a["uri"], {"domains": set()})["domains"].add(a["domain"])
        path = "/run/pymem/%s" % v["key"]
        return {"domain": {"domid": 0, "source": "fixed"},
                "implementations": [
                    {"kind": "xen_disk", "backend_type": "vbd", "params": path,
                     "extra": {"sharable": str(v["sharable"]).lower()}},
                    {"kind": "file", "path": path}]}

    def Datapath_activate(self, a):
        self.by_uri(a["uri"])

    def Datapath_deactivate(self, a):
        pass

    def Datapath_detach(self, a):
        self.datapaths.get(a["uri"], {"domains": set()})["domains"].discard(a["domain"])

    def Datapath_close(self, a):
        self.datapaths.pop(a["uri"], None)

    # ---------------------------------------------------------------- dispatch
    def handle(self, payload):
        """Request payload -> (status, reply payload)."""
        try:
            try:
                req = msgpack.unpackb(payload, raw=False)
                method, args = req["method"], req["args"]
                fn = getattr(self, method.replace(".", "_"), None) if isinstance(method, str) else None
            except Exception as e:  # noqa: BLE001 - any malformed request
                raise Fail("invalid-argument", "malformed request: %s" % e)
            if fn is None or method.startswith("_"):
                raise Fail("unimplemented", "%s is not implemented" % method)
            try:
                return 0, msgpack.packb(fn(args), use_bin_type=True)
            except KeyError as e:
                raise Fail("invalid-argument", "%s: missing argument %s" % (method, e), argument=str(e))
        except Fail as f:
            body = {"code": f.code, "message": f.message}
            if f.detail:
                body["detail"] = {k: str(v) for k, v in f.detail.items()}
            return 1, msgpack.packb(body, use_bin_type=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--switch", default=os.environ.get("XSP_SWITCH"))
    ap.add_argument("--queue", required=True)
    opts = ap.parse_args()
    if not opts.switch:
        ap.error("--switch or $XSP_SWITCH is needed")

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 500)
    sock.connect(opts.switch)

    def send(header, payload=None):
        frames = [msgpack.packb(header, use_bin_type=True)]
        if payload is not None:
            frames.append(payload)
        sock.send_multipart(frames)

    def hello():
        send([HELLO, 1, "pymem-plugin", "plugin", os.getpid(), 0])

    store = Store()
    hello()
    heartbeat_s = 1.0
    last_sent = time.monotonic()
    ready = False
    while not stop:
        if sock.poll(int(heartbeat_s * 1000 / 2)):
            frames = sock.recv_multipart()
            h = msgpack.unpackb(frames[0], raw=False)
            cmd = h[0]
            if cmd == WELCOME:
                heartbeat_s = max(h[3], 10) / 1000.0
                send([SUBSCRIBE, opts.queue, 16])
                if not ready:
                    print("storage_plugin: ready: %s" % opts.queue, flush=True)
                    ready = True
            elif cmd == DELIVER:
                status, body = store.handle(frames[1] if len(frames) > 1 else b"")
                send([REPLY, h[1], status], body)
            elif cmd == ERROR:
                if h[3] == "no-session":          # the switch restarted: start again
                    hello()
                else:
                    print("storage_plugin: switch error: %s: %s" % (h[3], h[4]), file=sys.stderr, flush=True)
            last_sent = time.monotonic() if cmd == DELIVER else last_sent
        if time.monotonic() - last_sent >= heartbeat_s / 2:
            send([HEARTBEAT])
            last_sent = time.monotonic()
    send([BYE])
    sock.close()
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())

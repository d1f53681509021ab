#!/usr/bin/env python3
"""A small client for Tessera's wire protocol (docs/protocol.md).

It needs only Debian's python3-zmq and python3-msgpack. Requests are MessagePack maps
sent on a ZeroMQ DEALER socket; tensors of 64 KiB or more travel in frames of their
own, referenced from the header as {"frame": k}.

Example:

    from tessera_client import TesseraClient, Tensor
    import struct

    with TesseraClient("tcp://127.0.0.1:5555") as client:
        print(client.health())                       # {'live': True, 'ready': True}
        image = Tensor("image", "FP32", [1, 3, 224, 224],
                       struct.pack("<%df" % (3 * 224 * 224), *([0.5] * 3 * 224 * 224)))
        outputs = client.infer("resnet18", [image], deadline_ms=500)
        logits = outputs["logits"]                    # Tensor(name, datatype, shape, data)
        print(logits.shape, len(logits.data))

Errors come back as TesseraError with the numeric code, its name and a message:
    except TesseraError as e: print(e.code, e.name, e.message)

Requests in flight when the gateway's connection drops (a coordinator that dies and
is restarted) get no reply: they raise deadline_exceeded when their wait ends. With
TesseraClient(endpoint, retry_on_reconnect=True), the client watches its connection
(a ZeroMQ socket monitor) and, once a new connection is ready, sends each idempotent
request that was in flight again, once, with the same id: infer and the reads
(IDEMPOTENT_OPS), never model_load, model_unload or fuse, which change the node's
state. An infer whose deadline_ms has passed is not sent again; one that is carries
what is left of it. A second reply to the same id is dropped. See docs/cluster.md.

From a shell: python3 tessera_client.py tcp://127.0.0.1:5555 health
              python3 tessera_client.py --selftest tcp://127.0.0.1:5555
              python3 tessera_client.py --selftest-retry on tcp://127.0.0.1:5555
"""

import argparse
import itertools
import sys
import time
from collections import namedtuple

import msgpack
import zmq
from zmq.utils.monitor import recv_monitor_message

FRAME_THRESHOLD_BYTES = 64 * 1024

ELEMENT_BYTES = {"FP32": 4, "FP64": 8, "FP16": 2, "BF16": 2, "INT8": 1, "INT16": 2,
                 "INT32": 4, "INT64": 8, "UINT8": 1, "BOOL": 1}

# The operations that a retry_on_reconnect client sends again after a reconnect.
IDEMPOTENT_OPS = frozenset({"infer", "model_ready", "repository_index", "server_status",
                            "health", "metadata", "fetch_blob", "fetch_skeleton",
                            "fetch_manifest"})

Tensor = namedtuple("Tensor", "name datatype shape data")
Tensor.__doc__ = "A named tensor; data is little-endian bytes (or a memoryview of a frame)."


class TesseraError(Exception):
    """An error reply, or a local failure with a code from the same list."""

    def __init__(self, code, name, message):
        super().__init__("%s (%d): %s" % (name, code, message))
        self.code, self.name, self.message = code, name, message


def _timeout(message):
    return TesseraError(18, "deadline_exceeded", message)


class UploadPacer:
    """Paces uploads to the gateway's uplink share, like transport::upload_pacer:
    a token bucket that holds one message; a share of 0 holds uploads for a second."""

    ZERO_SHARE_HOLD_S = 1.0

    def __init__(self):
        self.share = None
        self._debt_until = 0.0
        self._hold_until = 0.0

    def set_share(self, share, now):
        if not isinstance(share, int) or isinstance(share, bool) or share < 0:
            share = None  # absent, or not a share: pacing off
        if share == 0 and (self.share != 0 or now >= self._hold_until):
            self._hold_until = now + self.ZERO_SHARE_HOLD_S
        self.share = share

    def next_start(self, now):
        if self.share is None:
            return now
        return max(now, self._hold_until if self.share == 0 else self._debt_until)

    def sent(self, nbytes, at):
        if self.share:
            self._debt_until = max(at, self._debt_until) + nbytes / self.share


class _InFlight:
    """A request sent whose reply has not come (tracked with retry_on_reconnect)."""

    __slots__ = ("header", "frames", "deadline", "lost")

    def __init__(self, header, frames, deadline):
        self.header = header
        self.frames = frames      # kept to send again: idempotent ones, until re-sent
        self.deadline = deadline  # monotonic time its deadline_ms runs out, or None
        self.lost = False         # in flight when the connection dropped


class TesseraClient:
    """One DEALER connection to a gateway. Not thread-safe: one client per thread.

    retry_on_reconnect: send idempotent requests that were in flight when the
    connection dropped again, once, when a new connection is ready (module doc).
    """

    def __init__(self, endpoint, timeout_ms=5000, context=None, retry_on_reconnect=False):
        self._context = context or zmq.Context.instance()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.IMMEDIATE, 1)
        self._monitor = None
        self._in_flight = {}
        if retry_on_reconnect:
            # HANDSHAKE_SUCCEEDED, not CONNECTED: with CURVE a connection carries
            # nothing until its handshake is done.
            self._monitor = self._socket.get_monitor_socket(
                zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED)
            self._monitor.setsockopt(zmq.LINGER, 0)
            self._poller = zmq.Poller()
            self._poller.register(self._socket, zmq.POLLIN)
            self._poller.register(self._monitor, zmq.POLLIN)
        self._socket.connect(endpoint)
        self._timeout_ms = timeout_ms
        self._ids = itertools.count(1)
        self._kept = {}
        self._pacer = UploadPacer()

    @property
    def uplink_share(self):
        """The share of the uplink (bytes/s) the last reply gave, or None."""
        return self._pacer.share

    def close(self):
        if self._monitor is not None:
            self._socket.disable_monitor()
            self._monitor.close()
        self._socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Low level: any operation, several in flight.

    def send(self, op, request_id=None, **fields):
        """Sends one request and returns its id."""
        request_id = request_id or "py%d" % next(self._ids)
        header = {"op": op, "id": request_id}
        frames = [None]
        if fields.get("inputs") is not None:
            fields["inputs"] = [_tensor_field(t, frames) for t in fields["inputs"]]
        header.update({k: v for k, v in fields.items() if v is not None})
        frames[0] = msgpack.packb(header, use_bin_type=True)
        time.sleep(max(0.0, self._pacer.next_start(time.monotonic()) - time.monotonic()))
        if not self._socket.poll(self._timeout_ms, zmq.POLLOUT):
            raise TesseraError(20, "unavailable", "no server took the request")
        if self._monitor is not None:
            # Events from before this send first: a drop seen only after the request
            # went out on a new connection would take it for lost and send it twice.
            self._watch_connection()
        self._socket.send_multipart(frames, copy=False)
        self._pacer.sent(sum(memoryview(f).nbytes for f in frames), time.monotonic())
        if self._monitor is not None:
            deadline_ms = header.get("deadline_ms")
            deadline = None if deadline_ms is None else time.monotonic() + deadline_ms / 1000
            # The frames are the header's bytes and views of the tensors: no copy.
            kept = frames if op in IDEMPOTENT_OPS else None
            self._in_flight[request_id] = _InFlight(header, kept, deadline)
        return request_id

    def receive(self, request_id, timeout_ms=None):
        """Waits for the reply to request_id; returns its fields or raises TesseraError."""
        timeout_ms = self._timeout_ms if timeout_ms is None else timeout_ms
        deadline = time.monotonic() + timeout_ms / 1000
        while request_id not in self._kept:
            if self._monitor is None:
                if not self._socket.poll(timeout_ms, zmq.POLLIN):
                    raise _timeout("no reply to %s in time" % request_id)
            elif not self._wait_watching(deadline):
                self._in_flight.pop(request_id, None)  # abandoned: a late reply is dropped
                raise _timeout("no reply to %s in time" % request_id)
            reply = _decode_reply(self._socket.recv_multipart(copy=False))
            self._pacer.set_share(reply.get("uplink_share_bytes_per_s"), time.monotonic())
            reply_id = reply.get("id", "")
            if self._monitor is not None and self._in_flight.pop(reply_id, None) is None:
                continue  # the second reply to a request sent again, or a late one
            self._kept[reply_id] = reply
        reply = self._kept.pop(request_id)
        if not reply.get("ok"):
            err = reply.get("error", {})
            raise TesseraError(err.get("code", 16), err.get("name", "malformed_request"),
                               err.get("message", ""))
        return reply

    def call(self, op, **fields):
        return self.receive(self.send(op, **fields))

    # retry_on_reconnect: the connection's events, read on this thread.

    def _wait_watching(self, deadline):
        """Waits until a reply can be read (True) or the deadline (False), handling
        connection events meanwhile."""
        while True:
            self._watch_connection()
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            ready = dict(self._poller.poll(left_ms))
            if self._socket in ready:
                return True
            if not ready:
                return False

    def _watch_connection(self):
        while self._monitor.poll(0, zmq.POLLIN):
            event = recv_monitor_message(self._monitor)["event"]
            if event == zmq.EVENT_DISCONNECTED:
                for entry in self._in_flight.values():
                    entry.lost = True
            elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._resend_lost()

    def _resend_lost(self):
        now = time.monotonic()
        for entry in self._in_flight.values():
            frames, lost = entry.frames, entry.lost
            entry.lost = False
            if not lost or frames is None:
                continue  # not lost, not idempotent, or it was sent again once already
            entry.frames = None
            if entry.deadline is not None:
                left_ms = int((entry.deadline - now) * 1000)
                if left_ms <= 0:
                    continue  # past its deadline: its wait ends as usual
                # The new gateway counts from its own receipt: give it what is left.
                entry.header["deadline_ms"] = left_ms
                frames[0] = msgpack.packb(entry.header, use_bin_type=True)
            try:
                # Not paced: the share came from the gateway that was lost.
                self._socket.send_multipart(frames, copy=False, flags=zmq.NOBLOCK)
                self._pacer.sent(sum(memoryview(f).nbytes for f in frames), now)
            except zmq.Again:
                pass  # refused: it waits for its timeout

    # One method per operation.

    def health(self, probe="ready"):
        reply = self.call("health", probe=probe)
        return {"live": reply["live"], "ready": reply["ready"]}

    def infer(self, model_name, inputs, outputs=None, model_version=None, parameters=None,
              deadline_ms=None, priority=None, request_id=None):
        """Runs a model; inputs are Tensors; returns {name: Tensor} of the outputs."""
        reply = self.call("infer", request_id=request_id, model_name=model_name,
                          model_version=model_version, inputs=list(inputs),
                          outputs=[{"name": n} for n in outputs] if outputs else None,
                          parameters=parameters, deadline_ms=deadline_ms, priority=priority)
        return {t.name: t for t in reply["outputs"]}

    def model_load(self, model_name, model_version=None):
        return self.call("model_load", model_name=model_name, model_version=model_version)

    def model_unload(self, model_name, model_version=None):
        return self.call("model_unload", model_name=model_name, model_version=model_version)

    def model_ready(self, model_name, model_version=None):
        return self.call("model_ready", model_name=model_name,
                         model_version=model_version)["ready"]

    def fuse(self, group_name, models):
        return self.call("fuse", group_name=group_name, models=list(models))

    def repository_index(self, ready_only=False):
        return self.call("repository_index", ready_only=ready_only)["models"]

    def server_status(self):
        return self.call("server_status")

    def metadata(self, model_name=None, model_version=None):
        return self.call("metadata", model_name=model_name, model_version=model_version)


def _tensor_field(tensor, frames):
    """The wire map of a tensor; large data goes to its own frame, without a copy."""
    data = memoryview(tensor.data).cast("B")
    expected = ELEMENT_BYTES.get(tensor.datatype, 0)
    for dim in tensor.shape:
        expected *= dim
    if expected != len(data):
        raise TesseraError(7, "shape_mismatch", "%s: %d bytes, but %s of %s needs %d" % (
            tensor.name, len(data), list(tensor.shape), tensor.datatype, expected))
    field = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
    if len(data) >= FRAME_THRESHOLD_BYTES:
        frames.append(data)
        field["data"] = {"frame": len(frames) - 1}
    else:
        field["data"] = data.tobytes()
    return field


def _decode_reply(frames):
    header = msgpack.unpackb(frames[0].bytes, raw=False)
    if not isinstance(header, dict):
        return {"ok": False, "error": {"code": 16, "name": "malformed_request",
                                       "message": "reply is not a map"}}
    outputs = header.get("outputs")
    if header.get("op") == "infer" and isinstance(outputs, list):
        header["outputs"] = [_tensor_of(o, frames) for o in outputs]
    return header


def _tensor_of(field, frames):
    data = field["data"]
    if isinstance(data, dict):
        data = frames[data["frame"]].buffer  # a view of the frame, not a copy
    return Tensor(field["name"], field["datatype"], field["shape"], data)


def _selftest(endpoint):
    """Sends health and two infers (one inline, one framed) and checks the echo."""
    import struct
    with TesseraClient(endpoint, timeout_ms=10000) as client:
        health = client.call("health", request_id="py-health", probe="ready")
        assert health["live"] is True and health["ready"] is True, health
        small = Tensor("x", "FP32", [2, 3], struct.pack("<6f", 0, 1, 2, 3, 4, 5))
        large = Tensor("image", "UINT8", [1, 256, 256], bytes(i % 251 for i in range(65536)))
        for request_id, tensor in (("py-infer-small", small), ("py-infer-large", large)):
            outputs = client.infer("echo", [tensor], request_id=request_id, deadline_ms=1000)
            out = outputs[tensor.name]
            assert out.datatype == tensor.datatype and list(out.shape) == tensor.shape, out
            assert bytes(out.data) == bytes(tensor.data), "%s: echoed bytes differ" % request_id
    print("selftest: ok")
    return 0


def _selftest_retry(endpoint, retry):
    """Against a server that takes py-unload and py-retry, closes without answering,
    comes back on the same endpoint and answers everything twice: with retry, only
    py-retry is sent again and answered, once; without it, both time out."""
    import struct
    tensor = Tensor("x", "FP32", [2], struct.pack("<2f", 1.5, 2.5))
    with TesseraClient(endpoint, timeout_ms=5000, retry_on_reconnect=retry) as client:
        unload = client.send("model_unload", request_id="py-unload", model_name="echo")
        infer = client.send("infer", request_id="py-retry", model_name="echo",
                            inputs=[tensor], deadline_ms=10000)
        try:
            reply = client.receive(infer, timeout_ms=5000 if retry else 1500)
            assert retry, "py-retry was answered without retry_on_reconnect"
            out = {t.name: t for t in reply["outputs"]}["x"]
            assert bytes(out.data) == tensor.data, "py-retry: echoed bytes differ"
        except TesseraError as e:
            if retry or e.name != "deadline_exceeded":
                raise
        for request_id, timeout_ms in ((unload, 500), (infer, 300)):
            try:  # py-unload was not sent again; py-retry's second reply is dropped
                client.receive(request_id, timeout_ms=timeout_ms)
                raise AssertionError("%s: an unexpected reply" % request_id)
            except TesseraError as e:
                assert e.name == "deadline_exceeded", e
        health = client.call("health", request_id="py-health")  # connected again
        assert health["live"] is True, health
    print("selftest-retry: ok")
    return 0


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selftest", metavar="ENDPOINT",
                        help="run the interop self-test against an echoing server")
    parser.add_argument("--selftest-retry", nargs=2, metavar=("on|off", "ENDPOINT"),
                        help="run the retry_on_reconnect self-test against a server "
                             "that dies and comes back")
    parser.add_argument("endpoint", nargs="?")
    parser.add_argument("op", nargs="?", default="health",
                        help="health, server_status, repository_index or metadata")
    args = parser.parse_args(argv)
    if args.selftest:
        return _selftest(args.selftest)
    if args.selftest_retry:
        return _selftest_retry(args.selftest_retry[1], args.selftest_retry[0] == "on")
    if not args.endpoint:
        parser.error("an endpoint is needed")
    with TesseraClient(args.endpoint) as client:
        try:
            print(client.call(args.op))
        except TesseraError as e:
            print("error: %s" % e, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

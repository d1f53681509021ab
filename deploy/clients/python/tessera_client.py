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

From a shell: python3 tessera_client.py tcp://127.0.0.1:5555 health
              python3 tessera_client.py --selftest tcp://127.0.0.1:5555
"""

import argparse
import itertools
import sys
import time
from collections import namedtuple

import msgpack
import zmq

FRAME_THRESHOLD_BYTES = 64 * 1024

ELEMENT_BYTES = {"FP32": 4, "FP64": 8, "FP16": 2, "BF16": 2, "INT8": 1, "INT16": 2,
                 "INT32": 4, "INT64": 8, "UINT8": 1, "BOOL": 1}

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


class TesseraClient:
    """One DEALER connection to a gateway. Not thread-safe: one client per thread."""

    def __init__(self, endpoint, timeout_ms=5000, context=None):
        self._context = context or zmq.Context.instance()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.IMMEDIATE, 1)
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
        self._socket.send_multipart(frames, copy=False)
        self._pacer.sent(sum(memoryview(f).nbytes for f in frames), time.monotonic())
        return request_id

    def receive(self, request_id, timeout_ms=None):
        """Waits for the reply to request_id; returns its fields or raises TesseraError."""
        timeout_ms = self._timeout_ms if timeout_ms is None else timeout_ms
        while request_id not in self._kept:
            if not self._socket.poll(timeout_ms, zmq.POLLIN):
                raise _timeout("no reply to %s in time" % request_id)
            reply = _decode_reply(self._socket.recv_multipart(copy=False))
            self._pacer.set_share(reply.get("uplink_share_bytes_per_s"), time.monotonic())
            self._kept[reply.get("id", "")] = reply
        reply = self._kept.pop(request_id)
        if not reply.get("ok"):
            err = reply.get("error", {})
            raise TesseraError(err.get("code", 16), err.get("name", "malformed_request"),
                               err.get("message", ""))
        return reply

    def call(self, op, **fields):
        return self.receive(self.send(op, **fields))

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


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selftest", metavar="ENDPOINT",
                        help="run the interop self-test against an echoing server")
    parser.add_argument("endpoint", nargs="?")
    parser.add_argument("op", nargs="?", default="health",
                        help="health, server_status, repository_index or metadata")
    args = parser.parse_args(argv)
    if args.selftest:
        return _selftest(args.selftest)
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

#!/usr/bin/python3
"""The Python server a user would write in an afternoon: the baseline that
`tessera bench serve` reports beside Tessera.

It speaks Tessera's wire protocol (docs/protocol.md: MessagePack headers on a
ZeroMQ ROUTER socket, large tensors in frames of their own) and serves whole
TorchScript files, one per model version (MODELS_DIR/NAME-vVERSION.pt), with
the model manifests of a Tessera store (STORE/models/NAME/VERSION.json) for
the input and output names. One thread, one request at a time, in arrival
order. Loaded models are kept in an LRU within --budget-bytes; a miss loads
the whole file with torch.jit.load, evicting the least recently used models
until it fits. Operations: infer and health; every other operation is
answered with an error. The wire protocol's decoding, limits, error codes
and reply encoding are in wire_codec.py, beside this file. Needs only
Debian's python3-torch, python3-zmq and python3-msgpack.

    /usr/bin/python3 deploy/baselines/python_server.py --listen tcp://127.0.0.1:5555 \\
        --store STORE --models-dir STORE/whole --budget-bytes 100000000
"""

import argparse
import collections
import json
import os
import re
import signal
import sys
import time

import msgpack
import torch
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire_codec import (MAX_MESSAGE_BYTES, WIRE_NAME_OF, RequestError, decode,  # noqa: E402
                        encode_tensor, error_reply, recover_id, to_tensor, wire_dtype)

# A budget this long or longer is beyond the node's clock: no deadline.
NO_DEADLINE_MS = 9_200_000_000_000
# The node's gateway answers deadline_exceeded this long after the deadline
# (actors/src/gateway.cpp, deadline_grace); a result ready sooner is sent.
DEADLINE_GRACE_S = 0.005
MANIFEST_TTL_S = 2.0  # as the node's gateway caches manifests

NAME_RULE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


# Models: manifests from the store, whole files in an LRU within the budget.

class Models:
    def __init__(self, store, models_dir, budget_bytes, log):
        self.store, self.models_dir, self.budget = store, models_dir, budget_bytes
        self.loaded = collections.OrderedDict()  # (name, version) -> (module, bytes)
        self.used = 0
        self.manifests = {}  # (name, version or 0) -> (manifest, fetched at)
        self.log = log

    def manifest(self, name, version):
        if not NAME_RULE.match(name) or name in (".", ".."):
            raise RequestError("unknown_model", "no model named \"%s\": model names have 1 to 128 "
                               "letters, digits, '.', '_' or '-'" % name)
        if version > 0xFFFFFFFF:
            raise RequestError("invalid_argument", "model_version %d is out of range" % version)
        key = (name, version)
        cached = self.manifests.get(key)
        if cached and time.monotonic() - cached[1] < MANIFEST_TTL_S:
            return cached[0]
        folder = os.path.join(self.store, "models", name)
        try:
            versions = sorted(int(f[:-5]) for f in os.listdir(folder)
                              if f.endswith(".json") and f[:-5].isdigit() and len(f) < 15)
        except OSError:
            versions = []
        if not versions:
            raise RequestError("unknown_model", "no model named \"%s\"" % name)
        if version == 0:
            version = versions[-1]
        elif version not in versions:
            raise RequestError("unknown_model", "model \"%s\" has no version %d" % (name, version))
        path = os.path.join(folder, "%d.json" % version)
        try:
            with open(path) as f:
                text = json.load(f)
            m = {"name": text["name"], "version": text["version"],
                 "inputs": [self._spec(t) for t in text["inputs"]],
                 "outputs": [self._spec(t) for t in text["outputs"]]}
        except OSError as e:
            raise RequestError("io_error", "%s: %s" % (path, e))
        except (ValueError, KeyError, TypeError) as e:
            raise RequestError("bad_manifest", "%s: %s" % (path, e))
        if m["name"] != name or m["version"] != version:
            raise RequestError("bad_manifest", "%s: holds %s:%s, not %s:%d"
                               % (path, m["name"], m["version"], name, version))
        self.manifests[key] = (m, time.monotonic())
        return m

    @staticmethod
    def _spec(t):
        wire = wire_dtype(t["dtype"])
        if wire is None:
            raise ValueError("unknown dtype %r" % t["dtype"])
        return t["name"], wire, [int(d) for d in t["shape"]]

    def module(self, m):
        """(module, whether it was loaded now) of manifest m; a miss loads it, evicting
        least recently used models until it fits."""
        key = (m["name"], m["version"])
        if key in self.loaded:
            self.loaded.move_to_end(key)
            return self.loaded[key][0], False
        path = os.path.join(self.models_dir, "%s-v%d.pt" % key)
        try:
            file_bytes = os.path.getsize(path)
        except OSError:
            raise RequestError("io_error", "no file %s for model \"%s\"" % (path, m["name"]))
        self._make_room(key, file_bytes)  # the file's size reserves until it is loaded
        try:
            module = torch.jit.load(path, map_location="cpu")
            module.eval()
        except Exception as e:
            raise RequestError("backend_error", "%s: %s" % (path, e))
        bytes_held = sum(p.numel() * p.element_size() for p in module.parameters())
        bytes_held += sum(b.numel() * b.element_size() for b in module.buffers())
        self._make_room(key, bytes_held)
        self.loaded[key] = (module, bytes_held)
        self.used += bytes_held
        self.log("loaded %s:%d (%d bytes; %d of %d in use)"
                 % (key + (bytes_held, self.used, self.budget)))
        return module, True

    def _make_room(self, key, nbytes):
        if nbytes > self.budget:
            raise RequestError("out_of_memory", "model \"%s\" needs %d bytes; the budget is %d"
                               % (key[0], nbytes, self.budget))
        while self.used + nbytes > self.budget:
            old, (_, old_bytes) = self.loaded.popitem(last=False)
            self.used -= old_bytes
            self.log("evicted %s:%d (%d bytes)" % (old + (old_bytes,)))


def shape_accepts(want, got):
    """Whether a manifest's shape (-1: any size) accepts a concrete one."""
    return len(want) == len(got) and all(w in (-1, g) for w, g in zip(want, got))


def check_inputs(m, given):
    """The request's inputs as tensors in the manifest's order, checked as the node checks them."""
    by_name = {t[0]: t for t in given}
    who = "model \"%s\"" % m["name"]
    for name, _, _ in m["inputs"]:
        if name not in by_name:
            raise RequestError("missing_input", "%s needs input \"%s\"" % (who, name))
    for t in given:
        if all(t[0] != name for name, _, _ in m["inputs"]):
            raise RequestError("invalid_argument", "%s has no input \"%s\"" % (who, t[0]))
    args, batch = [], None
    for name, wire, shape in m["inputs"]:
        _, got_wire, got_shape, data = by_name[name]
        where = "%s: input \"%s\": " % (who, name)
        if got_wire != wire:
            raise RequestError("dtype_mismatch", where + "expected %s, got %s" % (wire, got_wire))
        if not shape_accepts(shape, got_shape):
            raise RequestError("shape_mismatch", where + "expected %s, got %s" % (shape, got_shape))
        if got_shape and got_shape[0] == 0:
            raise RequestError("shape_mismatch", where + "batch size must be at least 1")
        if got_shape and batch is not None and got_shape[0] != batch:
            raise RequestError("shape_mismatch", where + "batch size %d differs from the first "
                               "input's %d" % (got_shape[0], batch))
        if got_shape:
            batch = got_shape[0]
        args.append(to_tensor(got_wire, got_shape, data))
    return args


class Server:
    def __init__(self, socket, endpoint, models):
        self.socket, self.endpoint, self.models = socket, endpoint, models

    def handle(self, frames, arrival):
        """The reply frames to one request [header, data...]: exactly one reply."""
        try:
            request_id, op, req = decode(frames)
        except RequestError as e:
            return error_reply(recover_id(frames[0].bytes), e.name, e.message)
        except Exception as e:  # a bug in the checks above: still one reply
            return error_reply(recover_id(frames[0].bytes), "malformed_request", "message: %s" % e)
        try:
            if op == "health":
                fields = {"live": True, "ready": True}
                frames_out = [None]
            else:
                fields, frames_out = self.infer(req, arrival)
            header = {"id": request_id, "ok": True, "op": op}
            header.update(fields)
            frames_out[0] = msgpack.packb(header, use_bin_type=True)
            return frames_out
        except RequestError as e:
            return error_reply(request_id, e.name, e.message)
        except Exception as e:
            return error_reply(request_id, "backend_error", "%s: %s" % (type(e).__name__, e))

    def infer(self, req, arrival):
        m = self.models.manifest(req["model_name"], req["model_version"] or 0)
        names = [name for name, _, _ in m["outputs"]]
        for name in req["outputs"]:
            if name not in names:
                raise RequestError("invalid_argument", "model \"%s\" has no output \"%s\""
                                   % (m["name"], name))
        args = check_inputs(m, req["inputs"])
        deadline_ms = req["deadline_ms"]
        if deadline_ms == 0:
            raise RequestError("deadline_exceeded", "deadline_ms is 0")
        best_effort = req["parameters"].get("best_effort")
        best_effort = best_effort is True or (type(best_effort) is int and best_effort != 0)
        deadline = None
        if deadline_ms is not None and not best_effort and deadline_ms < NO_DEADLINE_MS:
            deadline = arrival + deadline_ms / 1000.0
        start = time.monotonic()
        if deadline is not None and start > deadline:
            raise RequestError("deadline_exceeded", "model \"%s\": the deadline passed while "
                               "queued" % m["name"])
        module, was_loaded = self.models.module(m)
        loaded = time.monotonic()
        try:
            with torch.inference_mode():
                result = module(*args)
                tensors = [result] if isinstance(result, torch.Tensor) else result
                if not isinstance(tensors, (tuple, list)) or \
                        not all(isinstance(t, torch.Tensor) for t in tensors):
                    raise RequestError("backend_error", "model \"%s\": forward must return a "
                                       "tensor or a tuple of tensors" % m["name"])
                if len(tensors) != len(m["outputs"]):
                    raise RequestError("backend_error", "model \"%s\"'s file gave %d outputs; its "
                                       "manifest has %d" % (m["name"], len(tensors), len(names)))
                frames = [None]
                outputs = []
                for (name, wire, shape), t in zip(m["outputs"], tensors):
                    if WIRE_NAME_OF.get(t.dtype) != wire or not shape_accepts(shape, t.shape):
                        raise RequestError("backend_error", "model \"%s\"'s file gave output "
                                           "\"%s\" of another type or shape than its manifest's"
                                           % (m["name"], name))
                    if not req["outputs"] or name in req["outputs"]:
                        outputs.append(encode_tensor(name, t, frames))
        except RequestError:
            raise
        except Exception as e:
            raise RequestError("backend_error", "model \"%s\": %s" % (m["name"], e))
        done = time.monotonic()
        if deadline is not None and done > deadline + DEADLINE_GRACE_S:
            raise RequestError("deadline_exceeded", "the request did not finish by its deadline")
        fields = {"model_name": m["name"], "model_version": m["version"], "outputs": outputs,
                  "parameters": {"executor": "%s python/cpu/0" % self.endpoint,
                                 "queue_ms": (start - arrival) * 1000.0,
                                 "load_ms": (loaded - start) * 1000.0 if was_loaded else 0.0,
                                 "run_ms": (done - loaded) * 1000.0}}
        return fields, frames

    def serve(self, stopping):
        while not stopping():
            if not self.socket.poll(100, zmq.POLLIN):
                continue
            message = self.socket.recv_multipart(copy=False)
            arrival = time.monotonic()
            route, body = message[:1], message[1:]
            if len(body) > 1 and len(body[0]) == 0:  # a REQ client's delimiter: echo it
                route, body = message[:2], message[2:]
            if not body:
                continue
            reply = self.handle(body, arrival)
            try:
                self.socket.send_multipart(route + reply, copy=False)
            except zmq.ZMQError as e:  # the client is gone
                print("python_server: reply not sent: %s" % e, file=sys.stderr)


def bind_endpoint(endpoint):
    """ZeroMQ picks a free port for `*`; take port 0 the same way."""
    return re.sub(r":0$", ":*", endpoint) if endpoint.startswith("tcp://") else endpoint


def write_ready_file(path, endpoint):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(endpoint + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)  # a reader never sees a partial file


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="endpoint to bind, e.g. tcp://127.0.0.1:0")
    parser.add_argument("--store", required=True, help="a Tessera store (its models/ manifests)")
    parser.add_argument("--models-dir", required=True, help="folder of NAME-vVERSION.pt files")
    parser.add_argument("--budget-bytes", type=int, required=True,
                        help="bytes of parameters the loaded models may hold")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--ready-file", help="once bound, write the bound endpoint here")
    parser.add_argument("--verbose", action="store_true", help="log loads and evictions")
    args = parser.parse_args(argv)

    torch.set_num_threads(max(1, args.threads))
    stop = []

    def on_signal(signum, _frame):
        stop.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def log(line):
        if args.verbose:
            print("python_server: " + line, file=sys.stderr, flush=True)

    context = zmq.Context()
    socket = context.socket(zmq.ROUTER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.MAXMSGSIZE, 2 * MAX_MESSAGE_BYTES)
    try:
        socket.bind(bind_endpoint(args.listen))
    except zmq.ZMQError as e:
        print("python_server: cannot bind \"%s\": %s" % (args.listen, e), file=sys.stderr)
        return 1
    endpoint = socket.getsockopt(zmq.LAST_ENDPOINT).decode()
    if args.ready_file:
        write_ready_file(args.ready_file, endpoint)
    print("python_server: listening on %s" % endpoint, file=sys.stderr, flush=True)
    models = Models(args.store, args.models_dir, args.budget_bytes, log)
    try:
        Server(socket, endpoint, models).serve(lambda: bool(stop))
    finally:
        socket.close()
        context.term()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

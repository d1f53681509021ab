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
answered with an error. Needs only Debian's python3-torch, python3-zmq and
python3-msgpack.

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

FRAME_THRESHOLD_BYTES = 64 * 1024  # tensors this large or larger get their own frame
MAX_MESSAGE_BYTES = 256 << 20
MAX_TENSOR_BYTES = 256 << 20
MAX_TENSORS = 64
MAX_RANK = 8
MAX_STRING_BYTES = 4096
MAX_MAP_ENTRIES = 256
# A budget this long or longer is beyond the node's clock: no deadline.
NO_DEADLINE_MS = 9_200_000_000_000
# The node's gateway answers deadline_exceeded this long after the deadline
# (actors/src/gateway.cpp, deadline_grace); a result ready sooner is sent.
DEADLINE_GRACE_S = 0.005
MANIFEST_TTL_S = 2.0  # as the node's gateway caches manifests

ERROR_CODES = {
    "invalid_argument": 1, "bad_manifest": 2, "unknown_model": 3, "io_error": 6,
    "shape_mismatch": 7, "dtype_mismatch": 8, "out_of_memory": 9, "backend_error": 10,
    "unsupported": 13, "missing_input": 15, "malformed_request": 16,
    "message_too_large": 17, "deadline_exceeded": 18, "unknown_operation": 19,
}

# Wire name -> (torch dtype, element bytes). Names match in any case, either spelling.
DTYPES = {
    "FP32": (torch.float32, 4), "FP64": (torch.float64, 8), "FP16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2), "INT8": (torch.int8, 1), "INT16": (torch.int16, 2),
    "INT32": (torch.int32, 4), "INT64": (torch.int64, 8), "UINT8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1),
}
ALIASES = {"FLOAT32": "FP32", "FLOAT64": "FP64", "FLOAT16": "FP16", "BFLOAT16": "BF16"}
WIRE_NAME_OF = {dtype: name for name, (dtype, _) in DTYPES.items()}

# Operations of the protocol this server does not offer: `unsupported`.
# Any other op is `unknown_operation`, as the node's decoder answers it.
OTHER_OPS = {"model_load", "model_unload", "model_ready", "fuse", "repository_index",
             "server_status", "metadata", "fetch_blob", "fetch_skeleton", "fetch_manifest"}

NAME_RULE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RequestError(Exception):
    """A request answered with an error: its code's name and a message."""

    def __init__(self, name, message):
        super().__init__(message)
        self.name, self.message = name, message


def wire_dtype(name):
    """The wire name of a datatype name (FP32, float32, fp32...), or None."""
    if not isinstance(name, str):
        return None
    upper = ALIASES.get(name.upper(), name.upper())
    return upper if upper in DTYPES else None


# Decoding a request: every field is checked before it is used.

def _unique_str_keys(pairs):
    out = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise ValueError("map key %r is not a string" % (key,))
        if key in out:
            raise ValueError("duplicate map key \"%s\"" % key)
        out[key] = value
    return out


def recover_id(header_bytes):
    """The top-level `id` of a header that does not decode, if the bytes up to it are valid."""
    try:
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        unpacker.feed(header_bytes)
        for _ in range(unpacker.read_map_header()):
            key = unpacker.unpack()
            if key == "id":
                value = unpacker.unpack()
                return value if isinstance(value, str) and len(value) <= MAX_STRING_BYTES else ""
            unpacker.skip()
    except Exception:
        pass
    return ""


def get(m, key, path, kind, required=False):
    """m[key] checked to be of `kind` ("str", "int", "bool", "list", "map"); nil is absent."""
    value = m.get(key)
    where = path + key if not path else path + "." + key
    if value is None:
        if required:
            raise RequestError("malformed_request", "%s: missing field" % where)
        return None
    ok = {"str": isinstance(value, str),
          "int": isinstance(value, int) and not isinstance(value, bool),
          "bool": isinstance(value, bool),
          "list": isinstance(value, list),
          "map": isinstance(value, dict)}[kind]
    if not ok:
        raise RequestError("malformed_request", "%s: expected %s" % (where, {
            "str": "string", "int": "integer", "bool": "boolean", "list": "array",
            "map": "map"}[kind]))
    if kind == "str" and len(value.encode()) > MAX_STRING_BYTES:
        raise RequestError("message_too_large",
                           "%s: string above %d bytes" % (where, MAX_STRING_BYTES))
    if kind == "map" and len(value) > MAX_MAP_ENTRIES:
        raise RequestError("message_too_large",
                           "%s: map above %d entries" % (where, MAX_MAP_ENTRIES))
    return value


def get_name(m, key, path=""):
    value = get(m, key, path, "str", required=True)
    if not value.strip():
        raise RequestError("invalid_argument",
                           "%s: empty name" % (path + "." + key if path else key))
    return value


def decode_tensor(obj, path, frames, used):
    """(name, wire datatype, shape, data) of an input tensor; data is bytes or a frame's view."""
    if not isinstance(obj, dict):
        raise RequestError("malformed_request", "%s: expected map" % path)
    name = get_name(obj, "name", path)
    datatype = get(obj, "datatype", path, "str", required=True)
    wire = wire_dtype(datatype)
    if wire is None:
        raise RequestError("dtype_mismatch", "%s.datatype: unknown datatype \"%s\" (expected FP32, "
                           "FP64, FP16, BF16, INT8, INT16, INT32, INT64, UINT8 or BOOL)"
                           % (path, datatype))
    shape = get(obj, "shape", path, "list", required=True)
    if len(shape) > MAX_RANK:
        raise RequestError("invalid_argument", "%s.shape: rank %d exceeds the limit of %d"
                           % (path, len(shape), MAX_RANK))
    nbytes = DTYPES[wire][1]
    for i, dim in enumerate(shape):
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise RequestError("malformed_request", "%s.shape[%d]: expected integer" % (path, i))
        if dim < 0:
            raise RequestError("invalid_argument", "%s.shape[%d]: negative dimension %d"
                               % (path, i, dim))
        nbytes *= dim
    if nbytes > MAX_TENSOR_BYTES:
        raise RequestError("message_too_large", "%s.shape: %s of %s exceeds the tensor limit of "
                           "%d bytes" % (path, shape, wire, MAX_TENSOR_BYTES))
    data = obj.get("data")
    if data is None:
        raise RequestError("malformed_request", "%s.data: missing field" % path)
    if isinstance(data, dict):
        k = get(data, "frame", path + ".data", "int", required=True)
        if k < 0:
            raise RequestError("invalid_argument", "%s.data.frame: negative index %d" % (path, k))
        if k == 0 or k >= len(frames):
            raise RequestError("malformed_request", "%s.data.frame: frame %d does not exist (the "
                               "message has %d frames)" % (path, k, len(frames)))
        if used[k]:
            raise RequestError("malformed_request", "%s.data.frame: frame %d is referenced twice"
                               % (path, k))
        used[k] = True
        data = frames[k].buffer
    elif not isinstance(data, bytes):
        raise RequestError("malformed_request", "%s.data: expected bin or {\"frame\": k}" % path)
    if len(data) != nbytes:
        raise RequestError("shape_mismatch", "%s.data: %d bytes, but %s of %s needs %d"
                           % (path, len(data), shape, wire, nbytes))
    return name, wire, shape, data


def decode_infer(header, frames, used):
    req = {"model_name": get_name(header, "model_name"),
           "model_version": get(header, "model_version", "", "int")}
    if req["model_version"] is not None and req["model_version"] < 1:
        raise RequestError("invalid_argument", "model_version: %d is not a version (versions "
                           "start at 1)" % req["model_version"])
    inputs = get(header, "inputs", "", "list", required=True)
    if len(inputs) > MAX_TENSORS:
        raise RequestError("message_too_large", "inputs: more than %d tensors" % MAX_TENSORS)
    req["inputs"] = []
    for i, obj in enumerate(inputs):
        tensor = decode_tensor(obj, "inputs[%d]" % i, frames, used)
        if any(t[0] == tensor[0] for t in req["inputs"]):
            raise RequestError("invalid_argument", "inputs[%d].name: duplicate tensor name \"%s\""
                               % (i, tensor[0]))
        req["inputs"].append(tensor)
    outputs = get(header, "outputs", "", "list") or []
    if len(outputs) > MAX_TENSORS:
        raise RequestError("message_too_large", "outputs: more than %d entries" % MAX_TENSORS)
    req["outputs"] = []
    for i, obj in enumerate(outputs):
        if not isinstance(obj, dict):
            raise RequestError("malformed_request", "outputs[%d]: expected map" % i)
        req["outputs"].append(get_name(obj, "name", "outputs[%d]" % i))
    parameters = get(header, "parameters", "", "map") or {}
    for key, value in parameters.items():
        if not isinstance(value, (bool, int, float, str)):
            raise RequestError("malformed_request", "parameters.%s: expected bool, integer, float "
                               "or string" % key)
    req["parameters"] = parameters
    req["deadline_ms"] = get(header, "deadline_ms", "", "int")
    get(header, "priority", "", "int")  # checked; one queue in arrival order here
    if not req["inputs"]:
        raise RequestError("missing_input", "inputs: infer needs at least one input tensor")
    if req["deadline_ms"] is not None and req["deadline_ms"] < 0:
        raise RequestError("invalid_argument",
                           "deadline_ms: negative budget %d" % req["deadline_ms"])
    return req


def decode(frames):
    """(id, op, request fields) of a message [header, data...]; raises RequestError."""
    if sum(len(f) for f in frames) > MAX_MESSAGE_BYTES:
        raise RequestError("message_too_large", "message: above %d bytes" % MAX_MESSAGE_BYTES)
    if len(frames) - 1 > MAX_TENSORS:
        raise RequestError("message_too_large", "message: more than %d data frames" % MAX_TENSORS)
    try:
        header = msgpack.unpackb(frames[0].bytes, raw=False, object_pairs_hook=_unique_str_keys)
    except Exception as e:  # not MessagePack, truncated, extra bytes, bad keys, too deep
        raise RequestError("malformed_request", "message: %s" % (str(e) or type(e).__name__))
    if not isinstance(header, dict):
        raise RequestError("malformed_request", "message: the header is not a map")
    if len(header) > MAX_MAP_ENTRIES:
        raise RequestError("message_too_large",
                           "message: header above %d entries" % MAX_MAP_ENTRIES)
    request_id = get(header, "id", "", "str", required=True)
    op = get(header, "op", "", "str", required=True)
    used = [True] + [False] * (len(frames) - 1)
    if op == "infer":
        req = decode_infer(header, frames, used)
    elif op == "health":
        probe = get(header, "probe", "", "str")
        req = {"probe": "ready" if probe is None else probe}
        if req["probe"] not in ("live", "ready"):
            raise RequestError("invalid_argument", "probe: \"%s\" is neither \"live\" nor \"ready\""
                               % req["probe"])
    elif op in OTHER_OPS:
        raise RequestError("unsupported", "%s: the Python baseline server offers only infer and "
                           "health" % op)
    else:
        raise RequestError("unknown_operation", "op: unknown operation \"%s\"" % op)
    for k, was_used in enumerate(used):
        if not was_used:
            raise RequestError("malformed_request", "message: frame %d is not referenced" % k)
    return request_id, op, req


# Encoding replies.

def error_reply(request_id, name, message):
    return [msgpack.packb({"id": request_id, "ok": False,
                           "error": {"code": ERROR_CODES[name], "name": name, "message": message}},
                          use_bin_type=True)]


def encode_tensor(name, tensor, frames):
    """The wire map of an output; 64 KiB or more go in a frame of their own."""
    tensor = tensor.detach().cpu().contiguous()
    data = tensor.reshape(-1).view(torch.uint8).numpy()  # little-endian bytes, no copy
    field = {"name": name, "datatype": WIRE_NAME_OF[tensor.dtype], "shape": list(tensor.shape)}
    if data.nbytes >= FRAME_THRESHOLD_BYTES:
        frames.append(data)
        field["data"] = {"frame": len(frames) - 1}
    else:
        field["data"] = data.tobytes()
    return field


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


def to_tensor(wire, shape, data):
    dtype = DTYPES[wire][0]
    if len(data) == 0:
        return torch.empty(shape, dtype=dtype)
    buffer = bytearray(data)  # one copy: writable, aligned
    if dtype == torch.bool:
        return (torch.frombuffer(buffer, dtype=torch.uint8) != 0).reshape(shape)
    return torch.frombuffer(buffer, dtype=dtype).reshape(shape)


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

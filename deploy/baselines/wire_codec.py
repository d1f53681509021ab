"""Tessera's wire protocol as the Python baseline server (python_server.py,
beside this file) speaks it: decoding a request [header, data...]
(docs/protocol.md: a MessagePack header, large tensors in frames of their
own) with every field checked before it is used, the limits it is checked
against, the table of error codes, and encoding replies: error replies and
output tensors (64 KiB or more in a frame of their own). Needs only Debian's
python3-torch and python3-msgpack.
"""

import msgpack
import torch

FRAME_THRESHOLD_BYTES = 64 * 1024  # tensors this large or larger get their own frame
MAX_MESSAGE_BYTES = 256 << 20
MAX_TENSOR_BYTES = 256 << 20
MAX_TENSORS = 64
MAX_RANK = 8
MAX_STRING_BYTES = 4096
MAX_MAP_ENTRIES = 256

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


def to_tensor(wire, shape, data):
    """The torch tensor of a decoded input's wire datatype, shape and data."""
    dtype = DTYPES[wire][0]
    if len(data) == 0:
        return torch.empty(shape, dtype=dtype)
    buffer = bytearray(data)  # one copy: writable, aligned
    if dtype == torch.bool:
        return (torch.frombuffer(buffer, dtype=torch.uint8) != 0).reshape(shape)
    return torch.frombuffer(buffer, dtype=dtype).reshape(shape)


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

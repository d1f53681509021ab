#!/usr/bin/python3
"""The Python baseline server (deploy/baselines/python_server.py) against the
project's own client (deploy/clients/python/tessera_client.py).

    /usr/bin/python3 tests/deploy/python_server_test.py STORE_DIR MODELS_DIR [MODEL_A MODEL_B]

STORE_DIR is a Tessera store (its models/NAME/VERSION.json manifests) and
MODELS_DIR holds whole TorchScript files named NAME-vVERSION.pt. Two models are
served (the two smallest files that have a manifest, unless named) under a
budget that holds either of them but not both. Checks: health; an infer of
each model equals torch.jit.load's own answer bit for bit; the first model
again (evicted and loaded again); an unknown model; wrong input shape, name
and dtype; deadline_ms 0; operations it does not offer; garbage and damaged
messages; a REQ client; SIGTERM ends it with status 0. Exits 1 naming every
check that failed.
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import msgpack
import torch
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "deploy", "clients", "python"))
from tessera_client import Tensor, TesseraClient, TesseraError  # noqa: E402

SERVER = os.path.join(ROOT, "deploy", "baselines", "python_server.py")

WIRE = {"float32": ("FP32", torch.float32), "float64": ("FP64", torch.float64),
        "float16": ("FP16", torch.float16), "bfloat16": ("BF16", torch.bfloat16),
        "int8": ("INT8", torch.int8), "int16": ("INT16", torch.int16),
        "int32": ("INT32", torch.int32), "int64": ("INT64", torch.int64),
        "uint8": ("UINT8", torch.uint8), "bool": ("BOOL", torch.bool)}
WIRE.update({wire.lower(): (wire, dt) for wire, dt in list(WIRE.values())})

failures = []


def check(condition, what):
    print(("ok:   " if condition else "FAIL: ") + what, flush=True)
    if not condition:
        failures.append(what)
    return condition


def expect_error(what, code_name, call):
    try:
        call()
    except TesseraError as e:
        return check(e.name == code_name, "%s: %s (%d): %s" % (what, e.name, e.code, e.message)
                     + ("" if e.name == code_name else " -- expected %s" % code_name))
    return check(False, "%s: answered ok, expected %s" % (what, code_name))


def tensor_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


class Model:
    """A model to serve: its manifest, whole file, an input and torch's own answer."""

    def __init__(self, store, models_dir, name, version, seed):
        self.name, self.version = name, version
        self.path = os.path.join(models_dir, "%s-v%d.pt" % (name, version))
        with open(os.path.join(store, "models", name, "%d.json" % version)) as f:
            manifest = json.load(f)
        self.output_names = [o["name"] for o in manifest["outputs"]]
        gen = torch.Generator().manual_seed(seed)
        self.inputs, args = [], []
        for spec in manifest["inputs"]:
            wire, dtype = WIRE[spec["dtype"].lower()]
            shape = [1 if d == -1 else d for d in spec["shape"]]
            if dtype.is_floating_point:
                t = torch.randn(shape, generator=gen).to(dtype)
            else:
                high = 2 if dtype == torch.bool else 10
                t = torch.randint(0, high, shape, generator=gen).to(dtype)
            args.append(t)
            self.inputs.append(Tensor(spec["name"], wire, shape, tensor_bytes(t)))
        module = torch.jit.load(self.path, map_location="cpu").eval()
        with torch.inference_mode():
            out = module(*args)
            out = [out] if isinstance(out, torch.Tensor) else list(out)
            self.expected = [(WIRE[str(t.dtype).replace("torch.", "")][0], list(t.shape),
                              tensor_bytes(t)) for t in out]

    def check_reply(self, reply, what):
        outs = reply["outputs"]
        ok = check(reply.get("model_name") == self.name and
                   reply.get("model_version") == self.version,
                   "%s: model %s:%s" % (what, reply.get("model_name"), reply.get("model_version")))
        ok &= check([o.name for o in outs] == self.output_names,
                    "%s: output names %s (manifest: %s)"
                    % (what, [o.name for o in outs], self.output_names))
        for o, (wire, shape, data) in zip(outs, self.expected):
            ok &= check(o.datatype == wire and list(o.shape) == shape,
                        "%s: output %s is %s %s (torch: %s %s)"
                        % (what, o.name, o.datatype, list(o.shape), wire, shape))
            ok &= check(bytes(o.data) == data, "%s: output %s equals torch.jit.load's bit for bit"
                        % (what, o.name))
        return ok


def pick_models(store, models_dir, names):
    """(name, version) of two models with a whole file and a manifest."""
    found = {}
    for f in os.listdir(models_dir):
        m = re.match(r"^(.+)-v(\d+)\.pt$", f)
        if m and os.path.isfile(os.path.join(store, "models", m.group(1), m.group(2) + ".json")):
            key = (m.group(1), int(m.group(2)))
            found[key] = os.path.getsize(os.path.join(models_dir, f))
    if names:
        picked = []
        for n in names:
            versions = [k for k in found if k[0] == n]
            if not versions:
                sys.exit("FAIL: %s has no whole file with a manifest" % n)
            picked.append(max(versions))
    else:
        picked = sorted(found, key=lambda k: found[k])[:2]
    if len(picked) != 2:
        sys.exit("FAIL: need two models with a whole file and a manifest; found %s" % sorted(found))
    return picked


def raw_exchange(endpoint, frames, kind=zmq.DEALER, timeout_ms=10000):
    """Sends one message on a fresh socket; returns the replies' headers (those that came
    within the timeout, then 300 ms more for a second one that must not come)."""
    ctx = zmq.Context.instance()
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    try:
        s.send_multipart(frames)
        replies = []
        wait = timeout_ms
        while s.poll(wait, zmq.POLLIN):
            replies.append(msgpack.unpackb(s.recv_multipart()[0], raw=False))
            wait = 300
            if kind == zmq.REQ:
                break  # REQ takes one reply
        return replies
    finally:
        s.close()


def malformed_once(replies, request_id, what):
    check(len(replies) == 1, "%s: exactly one reply (got %d)" % (what, len(replies)))
    if replies:
        r = replies[0]
        err = r.get("error", {})
        check(r.get("ok") is False and err.get("code") == 16 and
              err.get("name") == "malformed_request" and r.get("id") == request_id,
              "%s: malformed_request, id %r: %s" % (what, r.get("id"), err.get("message")))


def main(argv):
    if len(argv) not in (2, 4):
        sys.exit("usage: python_server_test.py STORE_DIR MODELS_DIR [MODEL_A MODEL_B]")
    store, models_dir = os.path.abspath(argv[0]), os.path.abspath(argv[1])
    torch.set_num_threads(1)  # as the server runs, so that the answers are bit-identical
    (name_a, ver_a), (name_b, ver_b) = pick_models(store, models_dir, argv[2:])
    a = Model(store, models_dir, name_a, ver_a, seed=1)
    b = Model(store, models_dir, name_b, ver_b, seed=2)
    size_a, size_b = os.path.getsize(a.path), os.path.getsize(b.path)
    budget = max(size_a, size_b)  # either one (it reserves its file size), never both
    print("models: %s:%d (%d bytes), %s:%d (%d bytes); budget %d bytes"
          % (a.name, a.version, size_a, b.name, b.version, size_b, budget), flush=True)

    parent = os.environ.get("TESSERA_TEST_TMP")
    if parent:
        os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix="python-server-test-", dir=parent or None)
    ready = os.path.join(work, "ready")
    log_path = os.path.join(work, "server.log")
    log = open(log_path, "w")
    server = subprocess.Popen(
        [sys.executable, SERVER, "--listen", "tcp://127.0.0.1:0", "--store", store,
         "--models-dir", models_dir, "--budget-bytes", str(budget), "--threads", "1",
         "--ready-file", ready, "--verbose"],
        cwd=work, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(ready) and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if not os.path.exists(ready):
            check(False, "the server wrote its ready file (status %s)" % server.poll())
            return 1
        with open(ready) as f:
            endpoint = f.read().strip()
        check(re.match(r"^tcp://127\.0\.0\.1:\d+$", endpoint) is not None and
              not endpoint.endswith(":0"), "ready file names the bound endpoint %s" % endpoint)
        try:
            run_checks(endpoint, a, b)
        except Exception as e:  # a reply that should have come, or come ok, did not
            check(False, "the checks stopped: %s: %s" % (type(e).__name__, e))
        server.send_signal(signal.SIGTERM)
        try:
            status = server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            status = None
        check(status == 0, "SIGTERM: the server exited with status %s" % status)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
        if failures:
            with open(log_path) as f:
                print("--- server log ---\n" + f.read() + "--- end ---")
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("%d check(s) failed:\n  %s" % (len(failures), "\n  ".join(failures)))
        return 1
    print("all checks passed")
    return 0


def run_checks(endpoint, a, b):
    with TesseraClient(endpoint, timeout_ms=120000) as client:
        def infer(model, **fields):
            return client.call("infer", model_name=model.name, inputs=model.inputs, **fields)

        # (1) health
        check(client.health() == {"live": True, "ready": True}, "health: live and ready")
        check(client.health("live")["live"] is True, "health probe live: live")
        expect_error("health with probe \"sideways\"", "invalid_argument",
                     lambda: client.call("health", probe="sideways"))

        # (2) each model, against torch.jit.load's answer; the budget holds one at a time
        r = infer(a)
        a.check_reply(r, "infer %s" % a.name)
        check(r["parameters"]["load_ms"] > 0, "infer %s: loaded it (load_ms %.1f)"
              % (a.name, r["parameters"]["load_ms"]))
        r = infer(b, model_version=b.version, deadline_ms=600000)
        b.check_reply(r, "infer %s:%d" % (b.name, b.version))
        check(r["parameters"]["load_ms"] > 0, "infer %s: loaded it (load_ms %.1f)"
              % (b.name, r["parameters"]["load_ms"]))

        # (3) the first model again: evicted for the second, so loaded again; then resident
        r = infer(a)
        a.check_reply(r, "infer %s again" % a.name)
        check(r["parameters"]["load_ms"] > 0, "infer %s again: evicted, loaded again (load_ms "
              "%.1f)" % (a.name, r["parameters"]["load_ms"]))
        r = infer(a, outputs=[{"name": a.output_names[0]}])
        check(r["parameters"]["load_ms"] == 0.0, "infer %s a third time: resident (load_ms %.1f)"
              % (a.name, r["parameters"]["load_ms"]))
        check([o.name for o in r["outputs"]] == a.output_names[:1],
              "infer %s with outputs=[%s]: only that output" % (a.name, a.output_names[0]))

        # (4) unknown models
        expect_error("infer an unknown model", "unknown_model",
                     lambda: client.call("infer", model_name="no-such-model", inputs=a.inputs))
        expect_error("infer %s version 999" % a.name, "unknown_model",
                     lambda: infer(a, model_version=999))
        expect_error("infer a model named \"../x\"", "unknown_model",
                     lambda: client.call("infer", model_name="../x", inputs=a.inputs))

        # (5) wrong inputs are refused, and the server goes on answering
        first = a.inputs[0]
        shape = list(first.shape)
        shape[-1] += 1
        wide = Tensor(first.name, first.datatype, shape,
                      bytes(len(first.data) // first.shape[-1] * shape[-1]))
        expect_error("infer %s with input shape %s" % (a.name, shape), "shape_mismatch",
                     lambda: client.call("infer", model_name=a.name, inputs=[wide] + a.inputs[1:]))
        renamed = Tensor(first.name + "-x", first.datatype, first.shape, first.data)
        expect_error("infer %s with input %s" % (a.name, renamed.name), "missing_input",
                     lambda: client.call("infer", model_name=a.name,
                                         inputs=[renamed] + a.inputs[1:]))
        other = "FP64" if first.datatype != "FP64" else "INT64"
        wrong = Tensor(first.name, other, first.shape, bytes(len(first.data) // {
            "FP32": 4, "FP64": 8, "FP16": 2, "BF16": 2, "INT8": 1, "INT16": 2, "INT32": 4,
            "INT64": 8, "UINT8": 1, "BOOL": 1}[first.datatype] * 8))
        expect_error("infer %s with a %s input" % (a.name, other), "dtype_mismatch",
                     lambda: client.call("infer", model_name=a.name, inputs=[wrong] + a.inputs[1:]))
        expect_error("infer %s with an output it lacks" % a.name, "invalid_argument",
                     lambda: infer(a, outputs=[{"name": "no-such-output"}]))
        expect_error("infer %s with deadline_ms 0" % a.name, "deadline_exceeded",
                     lambda: infer(a, deadline_ms=0))
        expect_error("infer without inputs", "missing_input",
                     lambda: client.call("infer", model_name=a.name, inputs=[]))
        expect_error("server_status", "unsupported", lambda: client.call("server_status"))
        expect_error("an op \"dance\"", "unknown_operation", lambda: client.call("dance"))
        check(client.health()["ready"] is True, "health after the refused requests")

        # (6) garbage and damaged messages get one malformed_request each; the server lives
        rng = random.Random(7)
        garbage = bytes(rng.getrandbits(8) for _ in range(200))
        malformed_once(raw_exchange(endpoint, [b"\xc1" + garbage]), "",
                       "a frame that starts with a byte MessagePack never uses")
        malformed_once(raw_exchange(endpoint, [garbage]), "", "a frame of random bytes")
        malformed_once(raw_exchange(endpoint, [garbage, garbage[:50]]), "",
                       "two frames of random bytes")
        whole = msgpack.packb({"id": "cut-1", "op": "infer", "model_name": a.name},
                              use_bin_type=True)
        malformed_once(raw_exchange(endpoint, [whole[:-3]]), "cut-1", "a truncated header")
        health = msgpack.packb({"id": "extra-1", "op": "health"}, use_bin_type=True)
        malformed_once(raw_exchange(endpoint, [health, b"unreferenced"]), "extra-1",
                       "a health with a frame nothing references")
        malformed_once(raw_exchange(endpoint, [msgpack.packb([1, 2, 3])]), "",
                       "a header that is an array")
        replies = raw_exchange(endpoint, [health], kind=zmq.REQ)
        check(len(replies) == 1 and replies[0].get("ok") is True and
              replies[0].get("id") == "extra-1" and replies[0].get("live") is True,
              "a REQ client's health is answered (%s)" % replies)
        check(client.health() == {"live": True, "ready": True}, "health after the garbage")
        r = infer(b)
        b.check_reply(r, "infer %s after the garbage" % b.name)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

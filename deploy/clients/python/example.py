#!/usr/bin/env python3
"""Classifies a synthetic image with a Tessera node, using tessera_client.py.

    python3 example.py tcp://127.0.0.1:5555 resnet18

It asks the node for the model's input type (metadata), builds a batch of one
image (a smooth gradient, little-endian float32), sends it with a deadline,
and prints the output's shape, the top five classes and the node's timings.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tessera_client import TesseraClient, TesseraError, Tensor  # noqa: E402


def main(endpoint, model):
    with TesseraClient(endpoint, timeout_ms=30000) as client:
        try:
            meta = client.metadata(model)
        except TesseraError as e:
            print("error %d (%s): %s" % (e.code, e.name, e.message))
            return 1
        spec = meta["inputs"][0]
        shape = [1 if d < 0 else d for d in spec["shape"]]
        count = 1
        for d in shape:
            count *= d
        values = [((i % 224) / 224.0) - 0.5 for i in range(count)]
        image = Tensor(spec["name"], spec["datatype"], shape, struct.pack("<%df" % count, *values))
        try:
            reply = client.call("infer", model_name=model, inputs=[image], deadline_ms=10000)
        except TesseraError as e:
            print("error %d (%s): %s" % (e.code, e.name, e.message))
            return 1
        for out in reply["outputs"]:
            print("%s: %s %s" % (out.name, out.datatype, list(out.shape)))
        logits = reply["outputs"][0]
        floats = struct.unpack("<%df" % (len(logits.data) // 4), bytes(logits.data))
        top = sorted(range(len(floats)), key=lambda i: -floats[i])[:5]
        print("top classes: %s" % ", ".join("%d (%.3f)" % (i, floats[i]) for i in top))
        print("timings: %s" % {k: v for k, v in reply.get("parameters", {}).items()})
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))

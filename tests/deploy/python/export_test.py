"""The exporter from nn.Module (issue 23): modules defined in export_models.py
are exported as TorchScript stages, imported with `tessera import FOLDER`, and
run by `tessera run`; the answers equal PyTorch's bit for bit. Run by
tests/deploy/python_export_test.sh with the tessera binary and a work folder."""
import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "..", "deploy", "clients", "python"))
sys.path.insert(0, here)
import export_models as em  # noqa: E402
import tessera_export as te  # noqa: E402

tessera, work = sys.argv[1], sys.argv[2]
store = os.path.join(work, "store")


def run(*args):
    out = subprocess.run([tessera, "-s", store] + list(args), capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("FAIL: tessera %s: %s%s" % (" ".join(args), out.stdout, out.stderr))
    return out.stdout


def check_answers(name, module, x, outputs, input_name="image"):
    path = os.path.join(work, name + "-in.npy")
    np.save(path, x.numpy())
    with torch.no_grad():
        want = module(x)
    want = (want,) if isinstance(want, torch.Tensor) else want
    for out_name, w in zip(outputs, want):
        got_path = os.path.join(work, "%s-%s.npy" % (name, out_name))
        run("run", "-m", name, "-i", "%s=%s" % (input_name, path), "-o",
            "%s=%s" % (out_name, got_path))
        got = np.load(got_path)
        if not np.array_equal(got, w.numpy()):
            sys.exit("FAIL: %s output %s differs from PyTorch's" % (name, out_name))


def blocks(name):
    m = json.loads(run("models", "--show", name))
    return [(n["skeleton"], tuple(p["blob"] for p in n["params"])) for n in m["nodes"]]


# 1. A ResNet-like module with shortcuts: stages along its submodules.
x = torch.randn(2, 3, 32, 32)
base = te.export(em.small_resnet(), (x,), os.path.join(work, "base"), "small-resnet",
                 max_block_mb=0.02, input_names=["image"], output_names=["logits"])
if len(base["stages"]) < 6:
    sys.exit("FAIL: only %d stages" % len(base["stages"]))
if not any(len(s["inputs"]) == 2 for s in base["stages"]):
    sys.exit("FAIL: no stage takes a shortcut's two inputs")
run("import", os.path.join(work, "base"))
check_answers("small-resnet", em.small_resnet(), torch.randn(3, 3, 32, 32), ["logits"])

# 2. A fine-tune that retrained layer2 and fc shares the stem and layer1 as
# whole blocks, not only as blobs.
te.export(em.small_resnet_finetune(), (x,), os.path.join(work, "ft"), "small-resnet-ft",
          max_block_mb=0.02, input_names=["image"], output_names=["logits"])
run("import", os.path.join(work, "ft"))
b, f = blocks("small-resnet"), blocks("small-resnet-ft")
shared = [s for s in base["stages"] if s["name"].split("-")[-1].startswith(("conv1", "layer1"))]
common = sum(1 for blk in b if blk in f)
if common < len(shared) or common >= len(b):
    sys.exit("FAIL: %d blocks shared of %d (the stem and layer1 are %d)" % (common, len(b), len(shared)))

# 3. A tuple of outputs.
xh = torch.randn(4, 32)
te.export(em.two_heads(), (xh,), os.path.join(work, "heads"), "heads", max_block_mb=0.001,
          output_names=["a", "b"])
run("import", os.path.join(work, "heads"))
check_answers("heads", em.two_heads(), torch.randn(2, 32), ["a", "b"], input_name="x")

# 4. What fx cannot trace is refused with the route that works, and nothing is written.
try:
    te.export(em.untraceable(), (torch.randn(1, 8),), os.path.join(work, "bad"), "bad")
    sys.exit("FAIL: an untraceable module was exported")
except te.ExportError as e:
    if "torch.jit.script" not in str(e) or "tessera import model.pt" not in str(e):
        sys.exit("FAIL: the refusal does not point to TorchScript: %s" % e)
if os.path.exists(os.path.join(work, "bad")):
    sys.exit("FAIL: a refused export left a folder")

# 5. The command line, with a factory function.
cli = subprocess.run([sys.executable, os.path.join(here, "..", "..", "..", "deploy", "clients",
                                                   "python", "tessera_export.py"),
                      "export_models:small_resnet", "--input", "image:float32:1x3x32x32",
                      "--name", "cli-resnet", "--out", os.path.join(work, "cli"),
                      "--max-block-mb", "0.02"], capture_output=True, text=True, cwd=here)
if cli.returncode != 0 or "tessera import" not in cli.stdout:
    sys.exit("FAIL: tessera_export.py: %s%s" % (cli.stdout, cli.stderr))
run("import", os.path.join(work, "cli"))
# 6. The TorchScript route: the same module saved with torch.jit.script (its
# norms read self.training, raise on a wrong rank: what torchvision's code
# does) is cut into blocks by `tessera import FILE` and answers the same.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    torch.jit.script(em.small_resnet()).save(os.path.join(work, "scripted.pt"))
said = run("import", os.path.join(work, "scripted.pt"), "--name", "scripted-resnet", "--input",
           "image:float32:-1x3x32x32", "--max-block-mb", "0.02")
if "note:" in said or int(said.split(": ")[1].split(" ")[0]) < 6:
    sys.exit("FAIL: the scripted file was not cut: %s" % said)
check_answers("scripted-resnet", em.small_resnet(), torch.randn(2, 3, 32, 32), ["output"])
# 7. A value changed in place (ReLU(inplace=True) is torch.relu_) never crosses
# a block boundary before the change: no block changes one of its own inputs,
# which a fused group may share with another member.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    torch.jit.script(em.inplace_net()).save(os.path.join(work, "inplace.pt"))
said = run("import", os.path.join(work, "inplace.pt"), "--name", "inplace", "--input",
           "image:float32:-1x3x16x16", "--max-block-mb", "0.001")
if int(said.split(": ")[1].split(" ")[0]) < 2:
    sys.exit("FAIL: the in-place model was not cut: %s" % said)
for node in json.loads(run("models", "--show", "inplace"))["nodes"]:
    with open(os.path.join(store, "skeletons", node["skeleton"] + ".script")) as f:
        code = f.read()
    head = code[:code.index(")")]
    inputs = set(re.findall(r"\b(v\d+):", head))
    changed = set(re.findall(r"torch\.\w+_\((v\d+)", code))
    if inputs & changed:
        sys.exit("FAIL: block %s changes its input in place:\n%s" % (node["name"], code))
check_answers("inplace", em.inplace_net(), torch.randn(2, 3, 16, 16), ["output"])
print("PASS: export from nn.Module")

#!/usr/bin/env python3
"""Exports a PyTorch nn.Module as a folder of TorchScript stages that
`tessera import FOLDER` reads (docs/model-format.md).

It needs Debian's python3-torch. The module is traced with torch.fx and cut
into stages along its submodules, by the rule `tessera import FILE` applies to
TorchScript: the top-level submodules first, a stage above the size cut along
its own submodules, and small neighbouring submodules merged. Each stage is
saved with torch.jit.script, beside a dag.json that chains them. Before
anything is written, the stages run on the example inputs and must give the
module's own outputs bit for bit.

Example:

    import torch, torchvision
    from tessera_export import export

    model = torchvision.models.resnet18()
    export(model, (torch.randn(1, 3, 224, 224),), "resnet18-stages", name="my-resnet")
    # then: tessera import resnet18-stages

From the command line, with a function that builds the module:

    tessera_export.py mypackage.models:make_resnet --input image:float32:1x3x224x224 \\
        --weights resnet.pth --name my-resnet --out resnet18-stages

A module that torch.fx cannot trace (control flow that depends on the input's
values, for one) raises ExportError, which says so and points to the
TorchScript route: torch.jit.script(module).save("model.pt"), then
`tessera import model.pt --name ... --input ...`, which cuts the file itself.
"""

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
import warnings

import torch
import torch.fx
from torch.fx.passes.split_module import split_module

DEFAULT_MAX_BLOCK_MB = 4.0


class ExportError(Exception):
    """The module cannot be exported as stages; the message says why and what to do."""


def _tensors_of(gm, node):
    """Names of the parameters and buffers a traced node reads."""
    if node.op == "call_module":
        sub = gm.get_submodule(node.target)
        return [node.target + "." + n for n, _ in sub.named_parameters()] + \
               [node.target + "." + n for n, _ in sub.named_buffers()]
    if node.op == "get_attr":
        return [node.target]
    return []


def _path_of(node):
    """The submodule path a node belongs to, as a list ([] for the top module)."""
    if node.op in ("call_module", "get_attr"):
        return node.target.split(".")
    return None  # functions and methods: with their neighbours


def _partition(gm, max_bytes):
    """Assigns each computing node a stage number, in order."""
    nodes = [n for n in gm.graph.nodes if n.op not in ("placeholder", "output")]
    paths = []
    last = []
    for n in nodes:
        p = _path_of(n)
        last = p if p is not None else last
        paths.append(last)

    def runs(indices, depth):
        """Consecutive runs of nodes that share their first `depth` path names."""
        out = []
        for i in indices:
            key = tuple(paths[i][:depth])
            if out and out[-1][0] == key:
                out[-1][1].append(i)
            else:
                out.append((key, [i]))
        return [r for _, r in out]

    tensor_bytes = {n: t.numel() * t.element_size()
                    for n, t in list(gm.named_parameters()) + list(gm.named_buffers())}

    def size(indices):
        names = set()
        for i in indices:
            names.update(_tensors_of(gm, nodes[i]))
        return sum(tensor_bytes.get(n, 0) for n in names)

    def cut(indices, depth, top):
        if (not top and size(indices) <= max_bytes) or depth > 8:
            return [indices]
        parts = runs(indices, depth)
        if len(parts) == 1:
            return cut(indices, depth + 1, top) if depth < max(len(paths[i]) for i in indices) \
                else [indices]
        out = []
        mergeable = False
        for part in parts:
            if size(part) > max_bytes:
                out.extend(cut(part, depth + 1, False))
                mergeable = False
            elif mergeable and size(out[-1] + part) <= max_bytes / 64:
                out[-1] = out[-1] + part
            else:
                out.append(part)
                mergeable = True
        return out

    stage_of = {}
    for s, part in enumerate(cut(list(range(len(nodes))), 1, True)):
        for i in part:
            stage_of[nodes[i]] = s
    # A stage without tensors (an activation, a pooling) joins the one before
    # that has some (the first such stage, for those that come before it).
    with_tensors = sorted({s for n, s in stage_of.items() if _tensors_of(gm, n)})

    def home(s):
        before = [t for t in with_tensors if t <= s]
        return before[-1] if before else (with_tensors[0] if with_tensors else s)
    return {n: home(s) for n, s in stage_of.items()}


def _stage_names(stage_of):
    """stage<i>, with the submodule path its modules share ("stage3-layer1.1")."""
    common = {}
    for n, s in stage_of.items():
        p = _path_of(n)
        if p is not None:
            common[s] = p if s not in common else os.path.commonprefix([common[s], p])
    return {s: "stage%d" % s + ("-" + ".".join(common[s]) if common.get(s) else "")
            for s in set(stage_of.values())}


def _dtype_name(dtype):
    names = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
             torch.int64: "int64", torch.int32: "int32", torch.int8: "int8", torch.uint8: "uint8",
             torch.bool: "bool"}
    if dtype not in names:
        raise ExportError("a tensor of dtype %s, which the wire does not carry" % dtype)
    return names[dtype]


def _io_spec(name, tensor, source=None):
    spec = {"name": name, "dtype": _dtype_name(tensor.dtype),
            "shape": [-1] + list(tensor.shape[1:])}
    if source is not None:
        spec["from"] = source
    return spec


def export(module, example_inputs, out_dir, name, max_block_mb=DEFAULT_MAX_BLOCK_MB,
           input_names=None, output_names=None, family=None, version=1):
    """Writes `out_dir` (which must not exist) with one TorchScript file per
    stage and a dag.json. `example_inputs` is a tuple of tensors whose first
    dimension is the batch. Returns the dag.json contents."""
    if os.path.exists(out_dir):
        raise ExportError("%s exists; give a folder that does not" % out_dir)
    module = module.eval()
    inputs = tuple(example_inputs)
    with torch.no_grad():
        expected = module(*inputs)
    single = isinstance(expected, torch.Tensor)
    expected = (expected,) if single else tuple(expected)
    if not all(isinstance(t, torch.Tensor) for t in expected):
        raise ExportError("forward must return a tensor or a tuple of tensors")
    try:
        gm = torch.fx.symbolic_trace(module)
    except Exception as e:  # fx raises many kinds: say which, and the other route
        raise ExportError(
            "torch.fx cannot trace this module (%s: %s). Save it as TorchScript instead, "
            "torch.jit.script(module).save('model.pt') (or torch.jit.trace), and import the "
            "file: tessera import model.pt --name NAME --input NAME:DTYPE:SHAPE; it is cut into "
            "blocks the same way." % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    stage_of = _partition(gm, max_block_mb * 1048576.0)
    names = _stage_names(stage_of)
    split = split_module(gm, module, lambda n: stage_of[n])

    placeholders = [n for n in split.graph.nodes if n.op == "placeholder"]
    if input_names is None:
        input_names = [p.name for p in placeholders]
    if len(input_names) != len(placeholders) or len(placeholders) != len(inputs):
        raise ExportError("forward takes %d inputs; %d example inputs and %d names were given" %
                          (len(placeholders), len(inputs), len(input_names)))
    ref = {p: n for p, n in zip(placeholders, input_names)}
    stages = []
    scripted = []
    for node in split.graph.nodes:
        if node.op == "call_module":
            stage = names[int(node.target[len("submod_"):])]
            args = []
            for a in node.args:
                if not isinstance(a, torch.fx.Node) or a not in ref:
                    raise ExportError("stage %s takes an argument that is not a tensor of an "
                                      "earlier stage (%r)" % (stage, a))
                args.append(ref[a])
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # TorchScript's notes on fx's code
                    code = torch.jit.script(getattr(split, node.target))
            except Exception as e:
                raise ExportError("stage %s does not compile as TorchScript (%s); save the whole "
                                  "module with torch.jit.trace and import that file" %
                                  (stage, str(e).splitlines()[0]))
            stages.append({"name": stage, "file": stage + ".pt", "inputs": args})
            scripted.append(code)
            ref[node] = stage
        elif node.op == "call_function" and node.target.__name__ == "getitem":
            ref[node] = "%s:%d" % (ref[node.args[0]], node.args[1])
        elif node.op == "output":
            result = node.args[0]
            outs = [result] if isinstance(result, torch.fx.Node) else list(result)
            sources = [ref[o] for o in outs]
        elif node.op != "placeholder":
            raise ExportError("the split graph has a %s node outside the stages (%s)" %
                              (node.op, node.target))
    # The check: the stages, run as `tessera import` will run them.
    values = dict(zip(input_names, inputs))
    with torch.no_grad():
        for st, code in zip(stages, scripted):
            out = code(*[values[a] for a in st["inputs"]])
            if isinstance(out, torch.Tensor):
                values[st["name"]] = out
            else:
                for k, t in enumerate(out):
                    values["%s:%d" % (st["name"], k)] = t
    for i, (src, want) in enumerate(zip(sources, expected)):
        got = values.get(src)
        if got is None or got.dtype != want.dtype or got.shape != want.shape or \
                not torch.equal(got, want):
            raise ExportError("the stages do not give the module's output %d bit for bit; "
                              "export the whole module with torch.jit.script and import the "
                              "file instead" % i)
    if output_names is None:
        output_names = ["output"] if len(sources) == 1 else ["output%d" % i for i in
                                                             range(len(sources))]
    dag = {"name": name, "version": version,
           "inputs": [_io_spec(n, t) for n, t in zip(input_names, inputs)],
           "outputs": [_io_spec(n, t, s) for n, t, s in zip(output_names, expected, sources)],
           "stages": stages}
    if family:
        dag["family"] = family
    # Written whole or not at all.
    parent = os.path.dirname(os.path.abspath(out_dir))
    tmp = tempfile.mkdtemp(prefix=".tessera-export-", dir=parent)
    try:
        for st, code in zip(stages, scripted):
            code.save(os.path.join(tmp, st["file"]))
        with open(os.path.join(tmp, "dag.json"), "w") as f:
            json.dump(dag, f, indent=2)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dag


def _parse_input(text):
    """NAME:DTYPE:SHAPE, as `tessera import --input` takes it (here the batch is concrete)."""
    try:
        name, dtype, shape = text.split(":")
        dims = [int(d) for d in shape.replace(",", "x").split("x")]
    except ValueError:
        raise ExportError("--input %s: expected NAME:DTYPE:SHAPE, e.g. image:float32:1x3x224x224"
                          % text)
    types = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
             "fp16": torch.float16, "float64": torch.float64, "fp64": torch.float64,
             "int64": torch.int64, "int32": torch.int32}
    if dtype.lower() not in types or any(d <= 0 for d in dims):
        raise ExportError("--input %s: unknown dtype or a dimension that is not positive" % text)
    t = types[dtype.lower()]
    sample = torch.randn(dims).to(t) if t.is_floating_point else torch.zeros(dims, dtype=t)
    return name, sample


def main(argv=None):
    p = argparse.ArgumentParser(description="Export an nn.Module as TorchScript stages and a "
                                            "dag.json for `tessera import FOLDER`.")
    p.add_argument("factory", help="MODULE:FUNCTION that returns the nn.Module")
    p.add_argument("--input", action="append", required=True,
                   help="NAME:DTYPE:SHAPE per forward() argument, e.g. image:float32:1x3x224x224")
    p.add_argument("--weights", help="a state_dict saved with torch.save, loaded before export")
    p.add_argument("--name", required=True, help="the model's name in Tessera")
    p.add_argument("--family", help="the model's family, e.g. resnet")
    p.add_argument("--output", action="append", help="output names, in order")
    p.add_argument("--out", required=True, help="the folder to write (must not exist)")
    p.add_argument("--max-block-mb", type=float, default=DEFAULT_MAX_BLOCK_MB,
                   help="the size stages aim under (default %(default)s)")
    args = p.parse_args(argv)
    try:
        mod_name, _, fn_name = args.factory.partition(":")
        sys.path.insert(0, os.getcwd())
        factory = getattr(importlib.import_module(mod_name), fn_name or "model")
        module = factory()
        if args.weights:
            module.load_state_dict(torch.load(args.weights, map_location="cpu"))
        named = [_parse_input(t) for t in args.input]
        dag = export(module, tuple(t for _, t in named), args.out, args.name,
                     max_block_mb=args.max_block_mb, input_names=[n for n, _ in named],
                     output_names=args.output, family=args.family)
    except ExportError as e:
        print("tessera_export: %s" % e, file=sys.stderr)
        return 2
    print("wrote %s: %d stages; import it with: tessera import %s" %
          (args.out, len(dag["stages"]), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

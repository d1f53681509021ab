// `tessera import FILE`: one TorchScript file, cut into automatic blocks
// (auto_blocks.hpp) that must give its outputs bit for bit, or kept whole.
#include "tessera/torch/torchscript_files.hpp"

#include "import_steps.hpp"
#include "tensor_convert.hpp"

#include <filesystem>
#include <map>

namespace tessera::torch_backend {

namespace {

/// A module cut into blocks, and each block's output type from the sample run
/// (none where it returns a tuple).
struct checked_cut {
  cut_model cut;
  std::vector<std::optional<tensor_spec>> output_specs;
};

// Cuts the module into automatic blocks and runs them on the sample inputs:
// they must give the module's own outputs bit for bit, or the cut is refused.
caf::expected<checked_cut> cut_checked(const torch::jit::Module& mod, const import_options& opts,
                                       const std::vector<c10::IValue>& args,
                                       const std::vector<at::Tensor>& expected) {
  std::vector<std::string> names;
  for (const auto& in : opts.inputs)
    names.push_back(in.name);
  auto cut = cut_into_blocks(mod, names, opts.max_block_bytes);
  if (!cut)
    return cut.error();
  if (cut->blocks.size() < 2)
    return make_error(ec::unsupported, "the forward graph has no place to cut (control flow, or "
                                       "no point where only a few tensors are live)");
  std::map<std::string, at::Tensor> values;
  for (size_t i = 0; i < names.size(); ++i)
    values[names[i]] = args[i].toTensor();
  checked_cut out;
  for (auto& b : cut->blocks) {
    c10::IValue result;
    if (auto why = run_block(b, values, result); !why.empty())
      return make_error(ec::backend_error, "block " + b.name + ": " + why);
    std::optional<tensor_spec> spec;
    bool fits = b.outputs == 1
                    ? result.isTensor()
                    : result.isTuple() && result.toTupleRef().elements().size() == b.outputs;
    if (!fits || !keep_result(values, b.name, result, spec))
      return make_error(ec::backend_error, "block " + b.name + " returns other than it should");
    out.output_specs.push_back(spec);
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    auto v = values.find(cut->outputs.at(i));
    if (v == values.end() || !bit_identical(v->second, expected[i]))
      return make_error(ec::backend_error, "the blocks do not give the module's output " +
                                               std::to_string(i) + " bit for bit");
  }
  out.cut = std::move(*cut);
  return out;
}

} // namespace

caf::expected<model_manifest> import_torchscript_file(const store::block_store& store,
                                                      const std::string& path,
                                                      const import_options& opts) {
  model_manifest m;
  m.name = opts.name;
  m.version = opts.version;
  m.description = opts.description.empty() ? "imported from " + path : opts.description;
  m.family = opts.family;
  m.inputs = opts.inputs;
  auto who = "import of " + path;
  // Checked first, so that a bad name leaves nothing behind.
  if (auto err = store::check_model_name(m.name))
    return wrap(err, who);
  if (!std::filesystem::is_regular_file(path))
    return make_error(ec::io_error, who + ": no such file (a TorchScript file, or a folder of "
                                          "stages with a dag.json)");
  try {
    torch::jit::Module mod;
    try {
      mod = torch::jit::load(path, at::kCPU);
    } catch (const std::exception& e) {
      return make_error(ec::invalid_argument,
                        who +
                            ": not a TorchScript file torch::jit::load can read (save one with "
                            "torch.jit.script(m).save or torch.jit.trace(m, x).save): " +
                            cause_of(e));
    }
    mod.eval();
    auto samples = sample_inputs(opts.inputs);
    if (!samples)
      return wrap(samples.error(), who);
    std::vector<c10::IValue> args;
    for (const auto& s : *samples)
      args.emplace_back(view_of(s));
    c10::IValue result;
    if (auto why = sample_forward(mod, args, result); !why.empty()) {
      std::string given;
      for (size_t i = 0; i < opts.inputs.size(); ++i)
        given +=
            (i > 0 ? ", " : "") + opts.inputs[i].name + " " + spec_text(view_of((*samples)[i]));
      return make_error(ec::invalid_argument,
                        who + ": the sample run on " + given + " failed: " + why +
                            " (each --input shape starts with the batch dimension, -1, then the "
                            "model's own, e.g. image:float32:-1x3x224x224)");
    }
    std::vector<at::Tensor> outs;
    if (result.isTensor())
      outs.push_back(result.toTensor());
    else if (result.isTuple())
      for (const auto& e : result.toTupleRef().elements()) {
        if (!e.isTensor())
          return make_error(ec::unsupported, who + ": forward returns a tuple with a non-tensor");
        outs.push_back(e.toTensor());
      }
    else
      return make_error(ec::unsupported, who + ": forward must return a tensor or a tuple of tensors");
    std::vector<std::string> sources;
    if (opts.blocks != 1) {
      auto checked = cut_checked(mod, opts, args, outs);
      if (checked) {
        for (size_t i = 0; i < checked->cut.blocks.size(); ++i) {
          auto& b = checked->cut.blocks[i];
          auto node = store_block(store, b);
          if (!node)
            return wrap(node.error(), who + ", block " + b.name);
          node->output = checked->output_specs[i];
          m.nodes.push_back(std::move(*node));
        }
        sources = checked->cut.outputs;
      } else if (opts.note) {
        opts.note("kept as one block: " + describe(checked.error()));
      }
    }
    if (m.nodes.empty()) {
      auto node = split_module(store, mod);
      if (!node)
        return wrap(node.error(), who);
      node->name = "main";
      for (const auto& in : opts.inputs)
        node->inputs.push_back(in.name);
      m.nodes.push_back(std::move(*node));
      for (size_t i = 0; i < outs.size(); ++i)
        sources.push_back(outs.size() == 1 ? "main" : "main:" + std::to_string(i));
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      auto type = from_scalar_type(outs[i].scalar_type());
      if (!type)
        return wrap(type.error(), who);
      io_spec out;
      out.name = i < opts.output_names.size() ? opts.output_names[i]
                 : outs.size() == 1           ? "output"
                                              : "output" + std::to_string(i);
      out.spec = {*type, std::vector<int64_t>(outs[i].sizes().begin(), outs[i].sizes().end())};
      if (out.spec.shape.empty())
        return make_error(ec::unsupported, who + ": output " + std::to_string(i) + " has no batch dimension");
      out.spec.shape[0] = dynamic_dim;
      out.source = sources.at(i);
      m.outputs.push_back(std::move(out));
    }
  } catch (const std::exception& e) {
    return make_error(ec::backend_error, who + ": " + torch_message(e));
  }
  if (auto err = store.add_model(m))
    return err;
  return m;
}

} // namespace tessera::torch_backend

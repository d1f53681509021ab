#include "tessera/torch/torchscript_files.hpp"

#include "tensor_convert.hpp"
#include "tessera/core/error.hpp"
#include "tessera/store/atomic_file.hpp"

#include <nlohmann/json.hpp>

#include <sstream>

namespace tessera::torch_backend {

namespace {

// Stores a module's tensors as blobs, empties them, and stores what remains as a
// module skeleton. Returns the node (name and inputs left to the caller).
caf::expected<node_spec> split_module(const store::block_store& store,
                                      torch::jit::Module mod) {
  node_spec node;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : mod.named_parameters(true))
    tensors.emplace_back(p.name, p.value);
  for (const auto& b : mod.named_buffers(true))
    tensors.emplace_back(b.name, b.value);
  for (auto& [name, value] : tensors) {
    auto t = value.detach().to(at::kCPU).contiguous();
    auto type = from_scalar_type(t.scalar_type());
    if (!type)
      return wrap(type.error(), "tensor \"" + name + "\"");
    tensor_spec spec{*type, std::vector<int64_t>(t.sizes().begin(), t.sizes().end())};
    auto id = store.blobs().put(spec, t.data_ptr());
    if (!id)
      return id.error();
    node.params.push_back({name, *id, spec});
  }
  // Empty every tensor so the skeleton holds code only.
  for (auto& [name, value] : tensors) {
    torch::jit::Module owner = mod;
    std::string leaf = name;
    for (auto dot = leaf.find('.'); dot != std::string::npos; dot = leaf.find('.')) {
      owner = owner.attr(leaf.substr(0, dot)).toModule();
      leaf = leaf.substr(dot + 1);
    }
    owner.setattr(leaf, torch::empty({0}, value.options().requires_grad(false)));
  }
  std::ostringstream archive;
  mod.save(archive);
  auto sk = store.skeletons().put(store::skeleton_kind::module, archive.str());
  if (!sk)
    return sk.error();
  node.skeleton = *sk;
  return node;
}

caf::expected<std::vector<tensor_buffer>> sample_inputs(const std::vector<io_spec>& inputs) {
  std::vector<tensor_buffer> out;
  torch::manual_seed(7);
  for (const auto& in : inputs) {
    auto shape = in.spec.shape;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (i == 0)
        shape[i] = 2;
      else if (shape[i] < 0)
        return make_error(ec::invalid_argument, "input \"" + in.name
                                                  + "\": only the batch dimension may be dynamic on import");
    }
    auto type = to_scalar_type(in.spec.type);
    if (!type)
      return type.error();
    auto t = at::isFloatingType(*type) ? torch::randn(shape).to(*type)
                                       : torch::zeros(shape, torch::TensorOptions().dtype(*type));
    auto buf = buffer_of(t);
    if (!buf)
      return buf.error();
    out.push_back(std::move(*buf));
  }
  return out;
}

caf::expected<io_spec> parse_io(const nlohmann::json& j, const std::string& where, bool output) {
  if (!j.is_object() || !j.contains("name") || !j.contains("dtype") || !j.contains("shape"))
    return make_error(ec::bad_manifest, where + ": needs name, dtype and shape");
  io_spec io;
  try {
    io.name = j.at("name").get<std::string>();
    auto t = parse_dtype(j.at("dtype").get<std::string>());
    if (!t)
      return wrap(t.error(), where);
    io.spec.type = *t;
    io.spec.shape = j.at("shape").get<std::vector<int64_t>>();
    if (output)
      io.source = j.at("from").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return make_error(ec::bad_manifest, where + ": " + e.what());
  }
  return io;
}

} // namespace

caf::expected<model_manifest> import_torchscript_file(const store::block_store& store,
                                                      const std::string& path,
                                                      const import_options& opts) {
  model_manifest m;
  m.name = opts.name;
  m.version = opts.version;
  m.description = opts.description.empty() ? "imported from " + path : opts.description;
  m.inputs = opts.inputs;
  auto who = "import of " + path;
  try {
    auto mod = torch::jit::load(path, at::kCPU);
    mod.eval();
    auto samples = sample_inputs(opts.inputs);
    if (!samples)
      return wrap(samples.error(), who);
    std::vector<c10::IValue> args;
    for (const auto& s : *samples)
      args.emplace_back(view_of(s));
    c10::IValue result;
    {
      c10::InferenceMode inference;
      result = mod.forward(args);
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
    auto node = split_module(store, mod);
    if (!node)
      return wrap(node.error(), who);
    node->name = "main";
    for (const auto& in : opts.inputs)
      node->inputs.push_back(in.name);
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
      out.source = outs.size() == 1 ? "main" : "main:" + std::to_string(i);
      m.outputs.push_back(std::move(out));
    }
    m.nodes.push_back(std::move(*node));
  } catch (const std::exception& e) {
    return make_error(ec::backend_error, who + ": " + torch_message(e));
  }
  if (auto err = store.add_model(m))
    return err;
  return m;
}

caf::expected<model_manifest> import_torchscript_dag(const store::block_store& store,
                                                     const std::string& folder) {
  std::string text;
  auto dag_path = folder + "/dag.json";
  if (auto err = store::read_whole_file(dag_path, text))
    return err;
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return make_error(ec::bad_manifest, dag_path + ": not valid JSON: " + e.what());
  }
  model_manifest m;
  try {
    m.name = doc.at("name").get<std::string>();
    m.version = doc.value("version", 1u);
    m.description = doc.value("description", "imported from " + folder);
    for (size_t i = 0; i < doc.at("inputs").size(); ++i) {
      auto io = parse_io(doc["inputs"][i], dag_path + ": inputs[" + std::to_string(i) + "]", false);
      if (!io)
        return io.error();
      m.inputs.push_back(*io);
    }
    for (size_t i = 0; i < doc.at("outputs").size(); ++i) {
      auto io = parse_io(doc["outputs"][i], dag_path + ": outputs[" + std::to_string(i) + "]", true);
      if (!io)
        return io.error();
      m.outputs.push_back(*io);
    }
    const auto& stages = doc.at("stages");
    for (size_t i = 0; i < stages.size(); ++i) {
      auto where = dag_path + ": stages[" + std::to_string(i) + "]";
      const auto& s = stages[i];
      auto file = folder + "/" + s.at("file").get<std::string>();
      torch::jit::Module mod;
      try {
        mod = torch::jit::load(file, at::kCPU);
      } catch (const std::exception& e) {
        return make_error(ec::backend_error, where + ": cannot load " + file + ": " + torch_message(e));
      }
      mod.eval();
      auto node = split_module(store, mod);
      if (!node)
        return wrap(node.error(), where);
      node->name = s.at("name").get<std::string>();
      node->inputs = s.at("inputs").get<std::vector<std::string>>();
      m.nodes.push_back(std::move(*node));
    }
  } catch (const nlohmann::json::exception& e) {
    return make_error(ec::bad_manifest, dag_path + ": " + e.what());
  }
  if (auto err = store.add_model(m))
    return err;
  return m;
}

} // namespace tessera::torch_backend

#include "import_steps.hpp"

#include "skeleton_cache.hpp"
#include "tensor_convert.hpp"

#include <sstream>

namespace tessera::torch_backend {

caf::expected<param_binding> put_tensor(const store::block_store& store, const std::string& name,
                                        const at::Tensor& value) {
  auto t = value.detach().to(at::kCPU).contiguous();
  auto type = from_scalar_type(t.scalar_type());
  if (!type)
    return wrap(type.error(), "tensor \"" + name + "\"");
  tensor_spec spec{*type, std::vector<int64_t>(t.sizes().begin(), t.sizes().end())};
  auto id = store.blobs().put(spec, t.data_ptr());
  if (!id)
    return id.error();
  return param_binding{name, *id, spec};
}

caf::expected<node_spec> split_module(const store::block_store& store, torch::jit::Module mod) {
  node_spec node;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : mod.named_parameters(true))
    tensors.emplace_back(p.name, p.value);
  for (const auto& b : mod.named_buffers(true))
    tensors.emplace_back(b.name, b.value);
  for (auto& [name, value] : tensors) {
    auto binding = put_tensor(store, name, value);
    if (!binding)
      return binding.error();
    node.params.push_back(std::move(*binding));
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

caf::expected<node_spec> store_block(const store::block_store& store, const cut_block& b) {
  node_spec node;
  node.name = b.name;
  node.inputs = b.inputs;
  auto sk = store.skeletons().put(store::skeleton_kind::script, b.source);
  if (!sk)
    return sk.error();
  node.skeleton = *sk;
  if (!b.graph.empty())
    if (auto err = store.skeletons().put_graph(*sk, graph_runtime(), b.graph))
      return err;
  for (size_t k = 0; k < b.params.size(); ++k) {
    auto binding = put_tensor(store, "p" + std::to_string(k), b.params[k]);
    if (!binding)
      return binding.error();
    node.params.push_back(std::move(*binding));
  }
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
        return make_error(ec::invalid_argument,
                          "input \"" + in.name +
                              "\": only the batch dimension may be dynamic on import");
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

std::string cause_of(const std::exception& e) {
  auto text = torch_message(e);
  if (text.find("Traceback of TorchScript") == std::string::npos)
    return text;
  auto end = text.find_last_not_of(" \n");
  if (end == std::string::npos)
    return text;
  auto start = text.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return text.substr(start, end + 1 - start);
}

std::string spec_text(const at::Tensor& t) {
  auto type = from_scalar_type(t.scalar_type());
  return (type ? to_string(*type) : std::string{"?"}) +
         shape_to_string(std::vector<int64_t>(t.sizes().begin(), t.sizes().end()));
}

std::string run_block(cut_block& b, const std::map<std::string, at::Tensor>& values,
                      c10::IValue& result) {
  std::shared_ptr<torch::jit::CompilationUnit> unit;
  b.graph.clear();
  try {
    unit = compile_script(b.source);
  } catch (const std::exception& e) {
    return "its code does not compile back: " + cause_of(e);
  }
  try {
    auto graph = print_graph(unit->get_function("forward"));
    auto parsed = parse_graph(graph);
    // The executor binds arguments by name: the parsed graph must name them alike.
    auto names = [](torch::jit::CompilationUnit& u) {
      std::vector<std::string> out;
      for (const auto& a : u.get_function("forward").getSchema().arguments())
        out.push_back(a.name());
      return out;
    };
    if (names(*parsed) == names(*unit)) {
      unit = std::move(parsed);
      b.graph = std::move(graph);
    }
  } catch (const std::exception&) {
    // nop: executors compile this block's source, as the run below does
  }
  std::vector<c10::IValue> args;
  for (const auto& r : b.inputs)
    args.emplace_back(values.at(r));
  for (const auto& p : b.params)
    args.emplace_back(p);
  auto why = sample_forward(unit->get_function("forward"), std::move(args), result);
  return why.empty() ? why : "its sample run failed: " + why;
}

bool bit_identical(const at::Tensor& a, const at::Tensor& b) {
  return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() && torch::equal(a, b);
}

bool keep_result(std::map<std::string, at::Tensor>& values, const std::string& name,
                 const c10::IValue& result, std::optional<tensor_spec>& spec) {
  if (result.isTensor()) {
    const auto& t = result.toTensor();
    values[name] = t;
    auto type = from_scalar_type(t.scalar_type());
    auto shape = std::vector<int64_t>(t.sizes().begin(), t.sizes().end());
    if (type && !shape.empty()) {
      shape[0] = dynamic_dim;
      spec = tensor_spec{*type, shape};
    }
    return true;
  }
  if (!result.isTuple())
    return false;
  const auto& elements = result.toTupleRef().elements();
  for (size_t k = 0; k < elements.size(); ++k)
    if (elements[k].isTensor())
      values[name + ":" + std::to_string(k)] = elements[k].toTensor();
  return true;
}

} // namespace tessera::torch_backend

#include "tessera/torch/torchscript_files.hpp"

#include "skeleton_cache.hpp"
#include "tensor_convert.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/model_graph.hpp"

#include <map>

namespace tessera::torch_backend {

namespace {

// A script skeleton's `def forward(` becomes a method of the exported module.
caf::expected<std::string> as_method(const compiled_skeleton& sk, const std::string& name) {
  static const std::string head = "def forward(";
  auto at = sk.source.find(head);
  if (at == std::string::npos)
    return make_error(ec::unsupported, "skeleton " + sk.id.short_hex() + " has no `def forward(`");
  auto out = sk.source;
  out.replace(at, head.size(), "def " + name + "(self, ");
  if (out.back() != '\n')
    out += '\n';
  return out;
}

std::string value_name(const value_ref& ref) {
  if (ref.from_input)
    return "in_" + std::to_string(ref.index);
  auto v = "v_" + std::to_string(ref.index);
  return ref.element == 0 ? v : v + "[" + std::to_string(ref.element) + "]";
}

} // namespace

caf::error export_torchscript(const store::block_store& store, const model_manifest& m,
                              const std::string& path) {
  auto graph = validate_manifest(m);
  if (!graph)
    return graph.error();
  auto who = "model \"" + m.name + "\": ";
  try {
    // The layout torch.jit.script gives a model: one submodule per block holding
    // its parameters as attributes, and one class type per distinct block code,
    // shared by the submodules that run it.
    auto unit = std::make_shared<torch::jit::CompilationUnit>();
    torch::jit::Module root{c10::QualifiedName{"__torch__.tessera.Model"}, unit};
    std::map<content_id, torch::jit::Module> first_of_kind;
    std::string forward = "def forward(self";
    for (size_t i = 0; i < m.inputs.size(); ++i)
      forward += ", in_" + std::to_string(i) + ": Tensor";
    forward += "):\n";
    for (auto idx : graph->order) {
      const auto& node = m.nodes[idx];
      auto where = who + "node \"" + node.name + "\"";
      auto sk = skeleton_cache::process_wide().get(node.skeleton, store.skeletons());
      if (!sk)
        return wrap(sk.error(), where);
      if ((*sk)->kind != store::skeleton_kind::script)
        return make_error(ec::unsupported, where + " is an imported module; only script skeletons export");
      auto known = first_of_kind.find(node.skeleton);
      auto sub = known == first_of_kind.end()
                   ? torch::jit::Module{c10::QualifiedName{"__torch__.tessera.Block_" + node.skeleton.short_hex(16)},
                                        unit}
                   : torch::jit::Module{unit, known->second.type()};
      const auto& names = (*sk)->argument_names;
      std::string call = "    return self.block(";
      for (size_t a = 0; a < node.inputs.size(); ++a)
        call += (a > 0 ? ", x" : "x") + std::to_string(a);
      for (size_t a = node.inputs.size(); a < names.size(); ++a) {
        auto p = std::find_if(node.params.begin(), node.params.end(),
                              [&](const param_binding& b) { return b.name == names[a]; });
        if (p == node.params.end())
          return make_error(ec::bad_manifest, where + ": argument \"" + names[a] + "\" has no parameter binding");
        auto blob = store.blobs().read(p->blob, store::read_method::map, true);
        if (!blob)
          return wrap(blob.error(), where);
        sub.register_parameter(names[a], view_of(*blob), false); // saved by value
        call += ", self." + names[a];
      }
      if (known == first_of_kind.end()) {
        auto block = as_method(**sk, "block");
        if (!block)
          return block.error();
        std::string fwd = "def forward(self";
        for (size_t a = 0; a < node.inputs.size(); ++a)
          fwd += ", x" + std::to_string(a);
        sub.define(*block + "\n" + fwd + "):\n" + call + ")\n");
        first_of_kind.emplace(node.skeleton, sub);
      }
      root.register_module("n" + std::to_string(idx), sub);
      std::string line = "    v_" + std::to_string(idx) + " = self.n" + std::to_string(idx) + ".forward(";
      bool first = true;
      for (const auto& ref : graph->node_inputs[idx]) {
        line += (first ? "" : ", ") + value_name(ref);
        first = false;
      }
      forward += line + ")\n";
    }
    forward += "    return ";
    if (m.outputs.size() == 1) {
      forward += value_name(graph->outputs[0]);
    } else {
      forward += "(";
      for (size_t i = 0; i < graph->outputs.size(); ++i)
        forward += (i > 0 ? ", " : "") + value_name(graph->outputs[i]);
      forward += ")";
    }
    root.define(forward + "\n");
    root.eval();
    root.save(path);
  } catch (const std::exception& e) {
    return make_error(ec::backend_error, who + "export failed: " + torch_message(e));
  }
  return {};
}

} // namespace tessera::torch_backend

#include "tessera/torch/torchscript_files.hpp"

#include "skeleton_cache.hpp"
#include "tensor_convert.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/model_graph.hpp"

#include <set>

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
    torch::jit::Module mod{"tessera_export"};
    std::string methods;
    std::string forward = "def forward(self";
    for (size_t i = 0; i < m.inputs.size(); ++i)
      forward += ", in_" + std::to_string(i) + ": Tensor";
    forward += "):\n";
    std::set<content_id> defined;
    for (auto idx : graph->order) {
      const auto& node = m.nodes[idx];
      auto sk = skeleton_cache::process_wide().get(node.skeleton, store.skeletons());
      if (!sk)
        return wrap(sk.error(), who + "node \"" + node.name + "\"");
      if ((*sk)->kind != store::skeleton_kind::script)
        return make_error(ec::unsupported, who + "node \"" + node.name
                                             + "\" is an imported module; only script skeletons export");
      auto method = "sk_" + node.skeleton.short_hex(16);
      if (defined.insert(node.skeleton).second) {
        auto text = as_method(**sk, method);
        if (!text)
          return text.error();
        methods += *text + "\n";
      }
      std::string call = "    v_" + std::to_string(idx) + " = self." + method + "(";
      bool first = true;
      for (const auto& ref : graph->node_inputs[idx]) {
        call += (first ? "" : ", ") + value_name(ref);
        first = false;
      }
      const auto& names = (*sk)->argument_names;
      for (size_t a = node.inputs.size(); a < names.size(); ++a) {
        auto p = std::find_if(node.params.begin(), node.params.end(),
                              [&](const param_binding& b) { return b.name == names[a]; });
        if (p == node.params.end())
          return make_error(ec::bad_manifest, who + "node \"" + node.name + "\": argument \""
                                                + names[a] + "\" has no parameter binding");
        auto blob = store.blobs().read(p->blob, store::read_method::copy, true);
        if (!blob)
          return wrap(blob.error(), who + "node \"" + node.name + "\"");
        auto attr = "p_" + std::to_string(idx) + "_" + names[a];
        mod.register_parameter(attr, view_of(*blob).clone(), false);
        call += ", self." + attr;
      }
      forward += call + ")\n";
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
    mod.define(methods + forward + "\n");
    mod.eval();
    mod.save(path);
  } catch (const std::exception& e) {
    return make_error(ec::backend_error, who + "export failed: " + torch_message(e));
  }
  return {};
}

} // namespace tessera::torch_backend

#include "node_binding.hpp"

#include "tensor_convert.hpp"
#include "tessera/core/error.hpp"

#include <unordered_map>

namespace tessera::torch_backend {

namespace {

caf::error bind_module_path(torch::jit::Module& root, const std::string& path,
                            const at::Tensor& value) {
  torch::jit::Module owner = root;
  size_t start = 0;
  for (size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', start)) {
    auto part = path.substr(start, dot - start);
    if (!owner.hasattr(part))
      return make_error(ec::bad_manifest, "module has no submodule \"" + part + "\"");
    owner = owner.attr(part).toModule();
    start = dot + 1;
  }
  auto leaf = path.substr(start);
  if (!owner.hasattr(leaf))
    return make_error(ec::bad_manifest, "module has no attribute \"" + path + "\"");
  owner.setattr(leaf, value);
  return {};
}

caf::error bind_tensors(bound_node& bound, const node_spec& node,
                        std::unordered_map<std::string, at::Tensor>& tensors) {
  const auto& sk = *bound.skeleton;
  if (sk.kind == store::skeleton_kind::script) {
    const auto& names = sk.argument_names;
    if (names.size() != node.inputs.size() + node.params.size())
      return make_error(ec::bad_manifest,
                        "skeleton takes " + std::to_string(names.size()) + " arguments, node gives "
                          + std::to_string(node.inputs.size()) + " input(s) and "
                          + std::to_string(node.params.size()) + " parameter(s)");
    for (size_t a = node.inputs.size(); a < names.size(); ++a) {
      auto t = tensors.find(names[a]);
      if (t == tensors.end())
        return make_error(ec::bad_manifest, "skeleton argument \"" + names[a]
                                              + "\" has no parameter binding");
      bound.params.emplace_back(t->second);
    }
    return {};
  }
  if (sk.module_arity != node.inputs.size())
    return make_error(ec::bad_manifest, "module takes " + std::to_string(sk.module_arity)
                                          + " input(s), node gives "
                                          + std::to_string(node.inputs.size()));
  try {
    bound.module = sk.module_template->clone();
    for (const auto& [path, t] : tensors)
      if (auto err = bind_module_path(*bound.module, path, t))
        return err;
  } catch (const std::exception& e) {
    return make_error(ec::backend_error, "cannot bind module: " + torch_message(e));
  }
  return {};
}

} // namespace

caf::expected<bound_node> bind_node(std::shared_ptr<const compiled_skeleton> skeleton,
                                    const node_spec& node, const residency::lease& lease,
                                    const torch::Device& device, const std::string& where,
                                    bool params_on_device, bool unowned_views) {
  bound_node bound;
  bound.skeleton = std::move(skeleton);
  std::unordered_map<std::string, at::Tensor> tensors;
  for (const auto& p : node.params) {
    auto blob = lease.tensor(p.blob);
    if (!blob)
      return wrap(blob.error(), where + ", parameter \"" + p.name + "\"");
    if (blob->spec != p.spec)
      return make_error(ec::shape_mismatch, where + ", parameter \"" + p.name
                                              + "\": blob holds " + to_string(blob->spec)
                                              + ", manifest declares " + to_string(p.spec));
    if (unowned_views)
      blob->owner.reset(); // the views' deleter then keeps nothing alive
    try {
      if (params_on_device) {
        tensors.emplace(p.name, view_of(*blob, device));
      } else {
        auto t = view_of(*blob);
        tensors.emplace(p.name, device.is_cpu() ? t : t.to(device));
      }
    } catch (const std::exception& e) {
      return make_error(ec::out_of_memory, where + ": cannot place parameter \"" + p.name
                                             + "\" on " + device.str() + ": " + torch_message(e));
    }
  }
  if (auto err = bind_tensors(bound, node, tensors))
    return wrap(err, where);
  return bound;
}

c10::IValue call_node(const bound_node& bound, std::vector<c10::IValue> args) {
  if (bound.module) {
    torch::jit::Module module = *bound.module; // a handle; shares the object
    return module.forward(std::move(args));
  }
  args.insert(args.end(), bound.params.begin(), bound.params.end());
  return (*bound.skeleton->function)(std::move(args));
}

caf::expected<std::shared_ptr<const bound_node>>
kept_bindings::bind(uint32_t index, const std::shared_ptr<const compiled_skeleton>& skeleton,
                    const node_spec& node, const residency::lease& lease,
                    const std::string& model) {
  entry fresh;
  fresh.data.reserve(node.params.size());
  for (const auto& p : node.params) {
    auto blob = lease.tensor(p.blob);
    if (!blob)
      break; // bind_node below reports it
    fresh.data.push_back(blob->data);
  }
  bool complete = fresh.data.size() == node.params.size();
  if (complete) {
    std::lock_guard<std::mutex> guard{mtx_};
    const auto& kept = entries_[index];
    if (kept.bound != nullptr && kept.data == fresh.data)
      return kept.bound;
  }
  auto bound = bind_node(skeleton, node, lease, torch::kCPU,
                         "model \"" + model + "\": node \"" + node.name + "\"", false, true);
  if (!bound)
    return bound.error();
  fresh.bound = std::make_shared<const bound_node>(std::move(*bound));
  auto out = fresh.bound;
  std::lock_guard<std::mutex> guard{mtx_};
  entries_[index] = std::move(fresh);
  return out;
}

} // namespace tessera::torch_backend

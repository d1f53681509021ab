#include "tessera/zoo/model_writer.hpp"

#include "tessera/core/error.hpp"
#include "tessera/zoo/families.hpp"
#include "tessera/zoo/param_values.hpp"

#include <algorithm>

namespace tessera::zoo {

model_writer::model_writer(const store::block_store& store) : store_(&store) {
  // nop
}

caf::expected<content_id> model_writer::skeleton(const std::string& script) {
  if (auto i = skeletons_.find(script); i != skeletons_.end())
    return i->second;
  auto id = store_->skeletons().put(store::skeleton_kind::script, script);
  if (id)
    skeletons_.emplace(script, *id);
  return id;
}

caf::expected<param_binding> model_writer::param(const param_plan& p, uint64_t key) {
  if (auto i = params_.find(key); i != params_.end() && i->second.spec.shape == p.shape)
    return param_binding{p.name, i->second.blob, i->second.spec};
  tensor_spec spec{dtype::float32, p.shape};
  fill_param(p, key, buffer_);
  auto id = store_->blobs().put(spec, buffer_.data());
  if (!id)
    return id.error();
  bytes_generated_ += spec.bytes();
  param_binding binding{p.name, *id, spec};
  params_.emplace(key, binding);
  return binding;
}

caf::error model_writer::write(const architecture& arch, const lineage_plan& lineage,
                               model_manifest& m) {
  if (arch.empty())
    return make_error(ec::invalid_argument, "zoo model " + m.name + " has no blocks");
  m.inputs = {io_spec{zoo_input_name, tensor_spec{dtype::float32, {-1, 3, 224, 224}}, ""}};
  m.nodes.clear();
  for (const auto& block : arch) {
    const auto& changed = lineage.changed_modules;
    bool is_changed = std::find(changed.begin(), changed.end(), block.module) != changed.end();
    std::string tag = is_changed ? lineage.changed_tag : std::string{"base"};
    node_spec node;
    node.name = block.name;
    node.inputs = block.inputs;
    node.output = tensor_spec{dtype::float32, block.output_shape};
    auto skel = skeleton(block.script);
    if (!skel)
      return wrap(skel.error(), "zoo model " + m.name + ", node " + block.name);
    node.skeleton = *skel;
    for (const auto& p : block.params) {
      auto key = stream_key(lineage.seed, lineage.family, tag, block.name, p.name);
      auto binding = param(p, key);
      if (!binding)
        return wrap(binding.error(),
                    "zoo model " + m.name + ", node " + block.name + ", param " + p.name);
      node.params.push_back(std::move(*binding));
    }
    m.nodes.push_back(std::move(node));
  }
  m.outputs = {io_spec{"logits", tensor_spec{dtype::float32, arch.back().output_shape},
                       arch.back().name}};
  return {};
}

} // namespace tessera::zoo

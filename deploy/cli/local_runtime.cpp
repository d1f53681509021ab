#include "local_runtime.hpp"

#include "cli_context.hpp"
#include "tessera/actors/device_tier.hpp"
#include "tessera/core/error.hpp"
#include "tessera/torch/torch_executor.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <numeric>

namespace tessera::cli {

caf::expected<std::unique_ptr<local_runtime>> local_runtime::open(const node_config& cfg,
                                                                  store::block_store store) {
  std::unique_ptr<local_runtime> rt{new local_runtime(std::move(store))};
  auto tier = actors::make_device_tier(cfg);
  if (!tier)
    return tier.error();
  rt->arena_ = std::move(tier->memory);
  rt->residency_ = std::make_unique<residency::residency_manager>(
    rt->store_, *rt->arena_, residency::residency_options::from(cfg));
  rt->residency_->learn_sharing_from(rt->store_.manifests().list_latest());
  torch_backend::torch_options opts;
  opts.device = cfg.device;
  opts.params_on_device = tier->on_device;
  opts.threads = cfg.torch_threads;
  auto exec = torch_backend::make_torch_executor(opts, *rt->residency_, rt->store_.skeletons());
  if (!exec)
    return exec.error();
  rt->executor_ = std::move(*exec);
  return rt;
}

caf::expected<std::shared_ptr<backend::loaded_model>>
local_runtime::model(const std::string& ref, backend::load_report* report) {
  if (auto i = loaded_.find(ref); i != loaded_.end()) {
    if (report != nullptr)
      *report = backend::load_report{};
    return i->second;
  }
  std::string name;
  uint32_t version = 0;
  if (auto err = parse_model_ref(ref, name, version))
    return err;
  auto m = store_.manifests().get(name, version);
  if (!m)
    return m.error();
  auto loaded = executor_->load(*m, report);
  if (!loaded)
    return loaded.error();
  loaded_[ref] = *loaded;
  return *loaded;
}

caf::expected<std::vector<tensor_buffer>> local_runtime::run(const backend::loaded_model& m,
                                                             const std::vector<tensor_buffer>& inputs) {
  return executor_->run(m, inputs);
}

void local_runtime::unload(const std::string& ref) {
  if (auto i = loaded_.find(ref); i != loaded_.end()) {
    executor_->unload(i->second);
    loaded_.erase(i);
  }
}

std::vector<std::string> local_runtime::loaded() const {
  std::vector<std::string> out;
  for (const auto& [ref, m] : loaded_)
    out.push_back(ref);
  return out;
}

std::vector<tensor_buffer> random_inputs(const model_manifest& m, int64_t batch, uint64_t seed) {
  std::vector<tensor_buffer> out;
  for (size_t i = 0; i < m.inputs.size(); ++i)
    out.push_back(random_tensor(with_batch(m.inputs[i].spec, batch), seed + i));
  return out;
}

void print_outputs(const model_manifest& m, const std::vector<tensor_buffer>& outputs,
                   const std::string& indent) {
  for (size_t i = 0; i < outputs.size() && i < m.outputs.size(); ++i) {
    const auto& t = outputs[i];
    std::printf("%s%s: %s checksum %016" PRIx64, indent.c_str(), m.outputs[i].name.c_str(),
                to_string(t.spec).c_str(), checksum(t));
    if (t.spec.type == dtype::float32 && t.spec.shape.size() == 2 && t.spec.shape[1] > 1) {
      const auto* row = reinterpret_cast<const float*>(t.data);
      std::vector<int64_t> idx(static_cast<size_t>(t.spec.shape[1]));
      std::iota(idx.begin(), idx.end(), 0);
      auto k = std::min<size_t>(3, idx.size());
      std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                        [row](int64_t a, int64_t b) { return row[a] > row[b]; });
      std::printf("  top:");
      for (size_t j = 0; j < k; ++j)
        std::printf(" %" PRId64 " (%.3f)", idx[j], row[idx[j]]);
    }
    std::printf("\n");
  }
}

} // namespace tessera::cli

#include "tessera/torch/torch_executor.hpp"

#include "node_binding.hpp"
#include "run_steps.hpp"
#include "skeleton_cache.hpp"
#include "tensor_convert.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/model_graph.hpp"

#include <torch/cuda.h>

#include <chrono>
#include <future>
#include <tuple>
#include <utility>

namespace tessera::torch_backend {

namespace {

class torch_model final : public backend::loaded_model {
public:
  torch_model(model_manifest m, model_graph g) : manifest_(std::move(m)), graph_(std::move(g)) {
    // nop
  }

  const model_manifest& manifest() const override {
    return manifest_;
  }

  model_manifest manifest_;
  model_graph graph_;
  /// Keeps the blobs resident for as long as the model lives; declared before
  /// the nodes so that their tensor views are gone when it is released.
  residency::lease_ptr lease_;
  std::vector<bound_node> nodes_;
};

class torch_executor final : public backend::model_executor {
public:
  torch_executor(torch::Device device, bool params_on_device, residency::residency_manager& residency,
                 const store::skeleton_store& skeletons)
    : device_(device), params_on_device_(params_on_device), residency_(residency), skeletons_(skeletons) {
    // nop
  }

  std::string device() const override {
    return device_.str();
  }

  caf::expected<std::shared_ptr<backend::loaded_model>>
  load(const model_manifest& m, backend::load_report* report) override {
    auto start = std::chrono::steady_clock::now();
    auto graph = validate_manifest(m);
    if (!graph)
      return graph.error();
    auto model = std::make_shared<torch_model>(m, std::move(*graph));
    backend::load_report local;
    auto& r = report != nullptr ? *report : local;
    r = {};
    auto& cache = skeleton_cache::process_wide();
    // Skeletons not compiled yet compile on a helper thread while the blobs
    // are read: on a first load the two take about as long (bench import),
    // and neither needs the other. The loop below finds them compiled, or
    // compiles (and reports) one that failed.
    std::vector<content_id> missing;
    for (const auto& node : m.nodes)
      if (!cache.has(node.skeleton) &&
          std::find(missing.begin(), missing.end(), node.skeleton) == missing.end())
        missing.push_back(node.skeleton);
    std::future<std::pair<size_t, size_t>> compiling; // compiled, of them from a graph
    if (!missing.empty())
      compiling = std::async(std::launch::async, [&cache, missing, this] {
        std::pair<size_t, size_t> counts{0, 0};
        for (const auto& id : missing) {
          bool fresh = false;
          auto sk = cache.get(id, skeletons_, &fresh);
          if (sk && fresh) {
            ++counts.first;
            counts.second += (*sk)->from_graph ? 1 : 0;
          }
        }
        return counts;
      });
    auto lease = residency_.load(m.name, residency::blob_refs_of(m));
    if (compiling.valid())
      std::tie(r.skeletons_compiled, r.skeletons_from_graph) = compiling.get();
    if (!lease)
      return wrap(lease.error(), "model \"" + m.name + "\"");
    model->lease_ = *lease;
    model->nodes_.resize(m.nodes.size());
    for (size_t i = 0; i < m.nodes.size(); ++i) {
      const auto& node = m.nodes[i];
      auto where = "model \"" + m.name + "\": node \"" + node.name + "\"";
      bool compiled = false;
      auto sk = cache.get(node.skeleton, skeletons_, &compiled);
      if (!sk)
        return wrap(sk.error(), where);
      r.skeletons_compiled += compiled ? 1 : 0;
      r.skeletons_from_graph += compiled && (*sk)->from_graph ? 1 : 0;
      auto bound = bind_node(*sk, node, *model->lease_, device_, where, params_on_device_);
      if (!bound)
        return bound.error();
      model->nodes_[i] = std::move(*bound);
    }
    const auto& lr = model->lease_->report();
    r.blobs = lr.blobs;
    r.bytes = lr.bytes;
    r.blobs_read = lr.blobs_read;
    r.bytes_read = lr.bytes_read;
    r.blobs_joined = lr.blobs_joined;
    r.bytes_evicted = lr.bytes_evicted;
    r.residency_ms = lr.elapsed_ms;
    r.elapsed_ms = std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - start)
                     .count();
    return std::shared_ptr<backend::loaded_model>{std::move(model)};
  }

  caf::expected<std::vector<tensor_buffer>>
  run(const backend::loaded_model& base, const std::vector<tensor_buffer>& inputs) override {
    std::vector<uint32_t> all(base.manifest().outputs.size());
    for (uint32_t i = 0; i < all.size(); ++i)
      all[i] = i;
    return run_outputs(base, inputs, all, nullptr);
  }

  caf::expected<std::vector<tensor_buffer>>
  run_outputs(const backend::loaded_model& base, const std::vector<tensor_buffer>& inputs,
              const std::vector<uint32_t>& wanted, backend::run_stats* stats) override {
    const auto* model = dynamic_cast<const torch_model*>(&base);
    if (model == nullptr)
      return make_error(ec::invalid_argument, "model was loaded by another executor");
    const auto& m = model->manifest_;
    if (auto err = check_run_request(m, inputs, wanted))
      return err;
    auto pin = model->lease_->pin();
    if (!pin)
      return pin.error();
    backend::run_stats local;
    auto& st = stats != nullptr ? *stats : local;
    auto run_node = [model](uint32_t idx, std::vector<c10::IValue> args) -> caf::expected<c10::IValue> {
      return call_node(model->nodes_[idx], std::move(args));
    };
    auto out = run_steps(m, model->graph_, inputs, wanted, device_, run_node, st);
    if (out)
      if (auto err = pin->check_unchanged()) // in place: a file changed under the run
        return wrap(err, "model \"" + m.name + "\"");
    return out;
  }

  void unload(const std::shared_ptr<backend::loaded_model>& base) override {
    auto* model = dynamic_cast<torch_model*>(base.get());
    if (model == nullptr || model->lease_ == nullptr)
      return;
    // Running batches finish first; then the tensors that view the blobs go,
    // so that releasing the lease really frees their memory.
    model->lease_->drain();
    model->nodes_.clear();
    residency_.unload(model->lease_);
  }

private:
  torch::Device device_;
  bool params_on_device_;
  residency::residency_manager& residency_;
  const store::skeleton_store& skeletons_;
};

} // namespace

bool cuda_available() {
  return torch::cuda::is_available();
}

void clear_compiled_skeletons() {
  skeleton_cache::process_wide().clear();
}

size_t compiled_skeleton_count() {
  return skeleton_cache::process_wide().size();
}

caf::expected<std::unique_ptr<backend::model_executor>>
make_torch_executor(const torch_options& opts, residency::residency_manager& residency,
                    const store::skeleton_store& skeletons) {
  auto device = apply_torch_options(opts);
  if (!device)
    return device.error();
  return std::unique_ptr<backend::model_executor>{
    std::make_unique<torch_executor>(*device, opts.params_on_device && !device->is_cpu(), residency, skeletons)};
}

} // namespace tessera::torch_backend

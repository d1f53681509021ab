// The streaming executor: prepares models (validation, compiled skeletons, the
// refusal of blocks larger than the budget) and runs them block by block, each
// block leased through a stream_window, bound when it runs (or its binding from
// an earlier run used again) and released after its last use. The DAG walk is
// the resident executor's (run_steps).
#include "tessera/torch/streaming.hpp"

#include "node_binding.hpp"
#include "run_steps.hpp"
#include "skeleton_cache.hpp"
#include "stream_plan.hpp"
#include "stream_registry.hpp"
#include "stream_window.hpp"
#include "tensor_convert.hpp"
#include "tessera/core/error.hpp"

#include <chrono>

namespace tessera::torch_backend {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

class streamed_model_impl final : public streamed_model {
public:
  streamed_model_impl(model_manifest m, model_graph g, stream_plan plan, stream_options opts,
                      std::shared_ptr<stream_registry> registry)
    : manifest_(std::move(m)), graph_(std::move(g)), plan_(std::move(plan)), opts_(opts),
      budget_(opts.budget_bytes), registry_(std::move(registry)) {
    // nop
  }

  const model_manifest& manifest() const override {
    return manifest_;
  }

  uint64_t model_bytes() const override {
    return plan_.model_bytes;
  }

  const std::string& largest_block() const override {
    static const std::string none;
    return plan_.steps.empty() ? none : plan_.steps[plan_.largest_step].name;
  }

  uint64_t largest_block_bytes() const override {
    return plan_.largest_bytes;
  }

  caf::error set_budget(uint64_t bytes) override {
    if (auto err = check_stream_fits(plan_, manifest_.name, bytes, "budget asked for"))
      return err;
    budget_ = bytes;
    if (auto r = registry_.lock())
      r->rebalance();
    return {};
  }

  uint64_t budget() const override {
    return budget_.load();
  }

  uint64_t held_bytes() const override {
    return held_->load();
  }

  model_manifest manifest_;
  model_graph graph_;
  stream_plan plan_; ///< every node; runs plan their own sub-DAG
  stream_options opts_;
  std::atomic<uint64_t> budget_;
  std::weak_ptr<stream_registry> registry_;
  std::shared_ptr<std::atomic<uint64_t>> held_ = std::make_shared<std::atomic<uint64_t>>(0);
  std::vector<std::shared_ptr<const compiled_skeleton>> skeletons_; ///< per node
  kept_bindings bindings_{manifest_.nodes.size()}; ///< CPU only: bound once, not per run
};

class streaming_executor_impl final : public streaming_executor {
public:
  streaming_executor_impl(torch::Device device, residency::residency_manager& residency,
                          const store::skeleton_store& skeletons, uint64_t budget_bytes)
    : device_(device), residency_(residency), skeletons_(skeletons),
      registry_(std::make_shared<stream_registry>(budget_bytes)) {
    // nop
  }

  caf::expected<std::shared_ptr<streamed_model>>
  prepare(const model_manifest& m, const stream_options& opts) override {
    auto graph = validate_manifest(m);
    if (!graph)
      return graph.error();
    std::vector<uint32_t> all(m.outputs.size());
    for (uint32_t i = 0; i < all.size(); ++i)
      all[i] = i;
    auto plan = plan_stream(m, *graph, all);
    if (opts.budget_bytes > 0)
      if (auto err = check_stream_fits(plan, m.name, opts.budget_bytes, "model's streaming budget"))
        return err;
    if (auto err = check_stream_fits(plan, m.name, registry_->total(), "executor's streaming budget"))
      return err;
    if (auto err = check_stream_fits(plan, m.name, residency_.options().device_budget_bytes,
                                     "device budget"))
      return err;
    auto model = std::make_shared<streamed_model_impl>(m, std::move(*graph), std::move(plan), opts,
                                                       registry_);
    auto& cache = skeleton_cache::process_wide();
    for (const auto& node : m.nodes) {
      auto sk = cache.get(node.skeleton, skeletons_);
      if (!sk)
        return wrap(sk.error(), "model \"" + m.name + "\": node \"" + node.name + "\"");
      model->skeletons_.push_back(std::move(*sk));
    }
    return std::shared_ptr<streamed_model>{std::move(model)};
  }

  caf::expected<std::vector<tensor_buffer>>
  run_outputs(streamed_model& base, const std::vector<tensor_buffer>& inputs,
              const std::vector<uint32_t>& wanted, stream_stats* stats,
              stream_step_callback on_step) override {
    auto* model = dynamic_cast<streamed_model_impl*>(&base);
    if (model == nullptr)
      return make_error(ec::invalid_argument, "model was prepared by another executor");
    const auto& m = model->manifest_;
    if (auto err = check_run_request(m, inputs, wanted))
      return err;
    auto start = clock_type::now();
    stream_stats local;
    auto& st = stats != nullptr ? *stats : local;
    st = {};
    auto plan = plan_stream(m, model->graph_, wanted);
    auto ticket = std::make_shared<stream_registry::ticket>();
    ticket->model = m.name;
    ticket->largest_block_bytes = plan.largest_bytes;
    ticket->model_bytes = plan.model_bytes;
    ticket->cap = [model] { return model->budget_.load(); };
    auto registry = registry_;
    auto* t = ticket.get();
    auto window = std::make_shared<stream_window>(
      residency_, m.name + "/stream", plan, model->opts_,
      [registry, t] { return registry->budget_of(*t); }, model->held_, leased_);
    ticket->changed = [w = std::weak_ptr<stream_window>(window)] {
      if (auto live = w.lock())
        live->budget_changed();
    };
    if (auto err = registry_->enter(ticket))
      return err;
    window->start();
    std::vector<uint32_t> step_of(m.nodes.size(), 0);
    for (uint32_t s = 0; s < plan.steps.size(); ++s)
      step_of[plan.steps[s].node] = s;
    auto steps = static_cast<uint32_t>(plan.steps.size());
    auto run_node = [&](uint32_t idx, std::vector<c10::IValue> args) -> caf::expected<c10::IValue> {
      auto s = step_of[idx];
      stream_block_stats block;
      auto lease = window->take(s, block);
      if (!lease)
        return wrap(lease.error(), "model \"" + m.name + "\"");
      auto pin = (*lease)->pin();
      if (!pin)
        return pin.error();
      auto compute_start = clock_type::now();
      c10::IValue value;
      {
        // Bound outside inference mode, like the resident executor's parameters:
        // the graph executor then sees the same kind of tensors in both.
        caf::expected<std::shared_ptr<const bound_node>> bound = make_error(ec::none);
        {
          c10::InferenceMode normal{false};
          bound = bind_block(*model, idx, **lease);
        }
        if (!bound)
          return bound.error();
        value = call_node(**bound, std::move(args));
      } // the views of the blobs go before the block is released
      block.compute_ms = ms_since(compute_start);
      if (auto err = pin->check_unchanged()) // in place: a file changed under the block
        return wrap(err, "model \"" + m.name + "\"");
      pin->release();
      window->finish(s, block.compute_ms);
      st.blocks.push_back(std::move(block));
      if (on_step)
        on_step(s, steps);
      return value;
    };
    auto out = run_steps(m, model->graph_, inputs, wanted, device_, run_node, st.run);
    st.peak_held_bytes = window->peak_held_bytes();
    st.forced_blocks = window->forced_blocks();
    st.trimmed_blocks = window->trimmed_blocks();
    st.retained_bytes = window->retained_bytes();
    window.reset(); // stops the helper and releases what is left
    registry_->leave(ticket);
    for (const auto& b : st.blocks) {
      st.bytes_read += b.bytes_read;
      st.copies += b.copies;
      st.bytes_copied += b.bytes_copied;
      st.wait_ms += b.wait_ms;
    }
    st.elapsed_ms = ms_since(start);
    return out;
  }

  uint64_t budget_bytes() const override {
    return registry_->total();
  }

  void set_budget_bytes(uint64_t bytes) override {
    registry_->set_total(bytes);
  }

  void on_memory_pressure(pressure_level level) override {
    registry_->set_pressure(level);
  }

  void set_room_bytes(uint64_t bytes) override {
    registry_->set_room(bytes);
  }

  uint64_t leased_bytes() const override {
    return leased_->load();
  }

private:
  // On the CPU the block's binding is kept for the next runs (kept_bindings);
  // on another device its parameters are copies, which must go with the block.
  caf::expected<std::shared_ptr<const bound_node>>
  bind_block(streamed_model_impl& model, uint32_t idx, const residency::lease& lease) {
    const auto& m = model.manifest_;
    if (device_.is_cpu())
      return model.bindings_.bind(idx, model.skeletons_[idx], m.nodes[idx], lease, m.name);
    auto bound = bind_node(model.skeletons_[idx], m.nodes[idx], lease, device_,
                           "model \"" + m.name + "\": node \"" + m.nodes[idx].name + "\"");
    if (!bound)
      return bound.error();
    return std::make_shared<const bound_node>(std::move(*bound));
  }

  torch::Device device_;
  residency::residency_manager& residency_;
  const store::skeleton_store& skeletons_;
  std::shared_ptr<stream_registry> registry_;
  std::shared_ptr<std::atomic<uint64_t>> leased_ = std::make_shared<std::atomic<uint64_t>>(0);
};

} // namespace

caf::expected<std::unique_ptr<streaming_executor>>
make_streaming_executor(const torch_options& opts, residency::residency_manager& residency,
                        const store::skeleton_store& skeletons, uint64_t budget_bytes) {
  auto device = apply_torch_options(opts);
  if (!device)
    return device.error();
  if (budget_bytes == 0)
    budget_bytes = residency.options().device_budget_bytes;
  if (opts.params_on_device && !device->is_cpu())
    return make_error(ec::unsupported, "streaming over a GPU device tier is not built: stream from a "
                                       "host-memory tier (device = cpu, or a unified-memory GPU)");
  return std::unique_ptr<streaming_executor>{
    std::make_unique<streaming_executor_impl>(*device, residency, skeletons, budget_bytes)};
}

} // namespace tessera::torch_backend

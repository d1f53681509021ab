#include "tessera/sim/sim_model_executor.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

namespace tessera::sim {

namespace {

class sim_loaded_model : public backend::loaded_model {
public:
  explicit sim_loaded_model(model_manifest m) : manifest_(std::move(m)) {
    // nop
  }

  const model_manifest& manifest() const override {
    return manifest_;
  }

private:
  model_manifest manifest_;
};

class sim_model_executor : public backend::model_executor {
public:
  sim_model_executor(std::vector<schedule_model> models, schedule_device device, sim_backend_options opts)
    : device_(std::move(models), device, opts.device), opts_(std::move(opts)) {
    // nop
  }

  std::string device() const override {
    return "sim";
  }

  caf::expected<std::shared_ptr<backend::loaded_model>> load(const model_manifest& m,
                                                             backend::load_report* report) override {
    auto model = std::find_if(device_.models().begin(), device_.models().end(),
                              [&](const schedule_model& x) { return x.name == m.name; });
    if (model == device_.models().end())
      return make_error(ec::unknown_model, "the simulated device has no model \"" + m.name + "\"");
    // Blocks of the held models count once, like shared blocks on a device.
    std::map<content_id, uint64_t> blocks;
    for (const auto& [name, held] : held_)
      for (const auto& b : held->blocks)
        blocks.emplace(b.id, b.bytes);
    uint64_t added = 0;
    for (const auto& b : model->blocks)
      if (blocks.emplace(b.id, b.bytes).second)
        added += b.bytes;
    uint64_t total = 0;
    for (const auto& [id, bytes] : blocks)
      total += bytes;
    if (opts_.budget_bytes > 0 && total > opts_.budget_bytes && !held_.empty())
      return make_error(ec::out_of_memory, "model \"" + m.name + "\" does not fit the simulated device's budget");
    held_[m.name] = &*model;
    if (report != nullptr) {
      report->bytes = static_cast<size_t>(model_bytes(*model));
      report->bytes_read = static_cast<size_t>(added);
    }
    return std::make_shared<sim_loaded_model>(m);
  }

  caf::expected<std::vector<tensor_buffer>> run(const backend::loaded_model& model,
                                                const std::vector<tensor_buffer>& inputs) override {
    const auto& m = model.manifest();
    auto r = device_.run(m.name, device_.clock_ms());
    if (!r)
      return r.error();
    // The device's time passes in real time, scaled.
    std::this_thread::sleep_for(
      std::chrono::duration<double, std::milli>((r->end_ms - r->start_ms) / std::max(1.0e-9, opts_.speedup)));
    if (opts_.on_run)
      opts_.on_run(sim_run_note{*r, device_.resident_bytes()});
    int64_t rows = inputs.empty() || inputs.front().spec.shape.empty() ? 1 : inputs.front().spec.shape.front();
    std::vector<tensor_buffer> out;
    for (const auto& o : m.outputs) {
      std::byte* bytes = nullptr; // allocate() zeroes them
      out.push_back(tensor_buffer::allocate(with_batch(o.spec, rows), &bytes));
    }
    return out;
  }

  void unload(const std::shared_ptr<backend::loaded_model>& model) override {
    held_.erase(model->manifest().name);
  }

private:
  sim_device device_;
  sim_backend_options opts_;
  std::map<std::string, const schedule_model*> held_;
};

} // namespace

std::unique_ptr<backend::model_executor> make_sim_model_executor(std::vector<schedule_model> models,
                                                                 schedule_device device,
                                                                 sim_backend_options opts) {
  return std::make_unique<sim_model_executor>(std::move(models), device, std::move(opts));
}

} // namespace tessera::sim

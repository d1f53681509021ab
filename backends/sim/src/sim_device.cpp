#include "tessera/sim/sim_device.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>

namespace tessera::sim {

sim_device::sim_device(std::vector<schedule_model> models, schedule_device device) {
  inst_.models = std::move(models);
  inst_.device = device;
  for (size_t i = 0; i < inst_.models.size(); ++i)
    index_.emplace(inst_.models[i].name, i);
  state_ = initial_residency(inst_);
  for (const auto& m : inst_.models)
    for (const auto& b : m.blocks)
      block_bytes_[b.id] = b.bytes;
}

uint64_t sim_device::resident_bytes() const {
  uint64_t total = 0;
  for (const auto& id : state_.blocks) {
    auto b = block_bytes_.find(id);
    if (b != block_bytes_.end())
      total += b->second;
  }
  return total;
}

caf::expected<sim_run> sim_device::run(const std::string& name, double arrival_ms) {
  auto i = index_.find(name);
  if (i == index_.end())
    return make_error(ec::unknown_model, "the simulated device has no model \"" + name + "\"");
  sim_run r;
  r.start_ms = std::max(clock_ms_, arrival_ms);
  r.load_ms = load_ms(inst_, state_, i->second);
  r.loaded_bytes = missing_bytes(inst_, state_, i->second);
  auto before = state_.blocks;
  note_served(inst_, state_, i->second);
  for (const auto& id : before)
    if (std::find(state_.blocks.begin(), state_.blocks.end(), id) == state_.blocks.end())
      ++r.evicted_blocks;
  r.end_ms = r.start_ms + r.load_ms + model_exec_ms(inst_.models[i->second]);
  clock_ms_ = r.end_ms;
  return r;
}

schedule_model schedule_model_of(const model_manifest& m, double model_exec_ms) {
  schedule_model out;
  out.name = m.name;
  uint64_t total = 0;
  for (const auto& n : m.nodes)
    for (const auto& p : n.params)
      total += p.spec.bytes();
  for (const auto& n : m.nodes) {
    schedule_block b;
    b.id = block_id(n);
    for (const auto& p : n.params)
      b.bytes += p.spec.bytes();
    b.exec_ms = total == 0 ? model_exec_ms / static_cast<double>(m.nodes.size())
                           : model_exec_ms * static_cast<double>(b.bytes) / static_cast<double>(total);
    out.blocks.push_back(b);
  }
  return out;
}

} // namespace tessera::sim

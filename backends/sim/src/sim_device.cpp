#include "tessera/sim/sim_device.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>

namespace tessera::sim {

sim_device::sim_device(std::vector<schedule_model> models, schedule_device device, sim_device_options opts)
  : opts_(std::move(opts)) {
  inst_.models = std::move(models);
  for (auto& u : opts_.units)
    inst_.models.push_back(std::move(u));
  opts_.units.clear();
  inst_.device = device;
  for (size_t i = 0; i < inst_.models.size(); ++i)
    index_.emplace(inst_.models[i].name, i);
  for (const auto& [member, unit] : opts_.unit_of) {
    auto m = index_.find(member);
    auto u = index_.find(unit);
    if (m != index_.end() && u != index_.end())
      unit_index_[m->second] = u->second;
  }
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
  auto model = i->second;
  auto unit = unit_index_.count(model) > 0 ? unit_index_.at(model) : model;
  double start = std::max(clock_ms_, arrival_ms);
  auto before = state_.blocks;
  sim_run r;
  if (model_bytes(inst_.models[unit]) > inst_.device.capacity_bytes) {
    if (!opts_.swap)
      return make_error(ec::out_of_memory, "model \"" + name + "\" is larger than the simulated device's budget "
                                           "(swap is off)");
    r = run_streamed(model, unit, start);
  } else {
    r.start_ms = start;
    r.load_ms = load_ms(inst_, state_, unit);
    r.loaded_bytes = missing_bytes(inst_, state_, unit);
    r.end_ms = r.start_ms + r.load_ms + model_exec_ms(inst_.models[model]) * opts_.compute_scale;
  }
  note_served(inst_, state_, unit);
  for (const auto& id : before)
    if (std::find(state_.blocks.begin(), state_.blocks.end(), id) == state_.blocks.end())
      ++r.evicted_blocks;
  clock_ms_ = r.end_ms;
  return r;
}

sim_run sim_device::run_streamed(size_t model, size_t unit, double start_ms) {
  // Loads run back to back at the device's bandwidth; block k computes once
  // it is loaded and block k-1 has computed. Resident blocks load at once.
  const auto& member = inst_.models[model];
  double loaded_at = 0.0, computed_at = 0.0, compute = 0.0;
  sim_run r;
  r.start_ms = start_ms;
  for (const auto& b : inst_.models[unit].blocks) {
    if (std::find(state_.blocks.begin(), state_.blocks.end(), b.id) == state_.blocks.end()) {
      loaded_at += static_cast<double>(b.bytes) / inst_.device.load_bytes_per_ms;
      r.loaded_bytes += b.bytes;
    }
    bool own = std::any_of(member.blocks.begin(), member.blocks.end(), [&](const auto& x) { return x.id == b.id; });
    double c = own ? b.exec_ms * opts_.compute_scale : 0.0;
    computed_at = std::max(computed_at, loaded_at) + c;
    compute += c;
  }
  r.load_ms = computed_at - compute; // time the compute waited for loads
  r.end_ms = start_ms + computed_at;
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

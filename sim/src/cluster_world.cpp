#include "tessera/sim/cluster_world.hpp"

#include "tessera/sim/model_catalog.hpp"
#include "tessera/sim/workload.hpp"

namespace tessera::sim {

schedule_device slot_device(const scenario& s) {
  schedule_device dev;
  dev.load_bytes_per_ms = s.nodes.load_mb_per_s * 1.0e3;
  dev.capacity_bytes = static_cast<uint64_t>(s.nodes.budget_mb * 1.0e6 / s.nodes.executors);
  dev.residency = s.nodes.residency;
  return dev;
}

sim_device_options slot_device_options(const scenario& s, const std::vector<schedule_model>& models) {
  sim_device_options opts;
  opts.swap = s.nodes.swap;
  if (s.nodes.executors > 1)
    opts.compute_scale = 1.0 / s.nodes.executor_speed;
  if (s.models.source == model_source::synthetic && s.models.synthetic.fused)
    opts.units = family_units(models, opts.unit_of);
  return opts;
}

cluster_world make_world(const scenario& s, const std::vector<schedule_model>& models,
                         const std::vector<sim_request>& requests) {
  cluster_world world;
  auto dev = slot_device(s);
  auto opts = slot_device_options(s, models);
  for (uint32_t n = 0; n < s.nodes.count; ++n)
    for (uint32_t e = 0; e < s.nodes.executors; ++e)
      world.slots.emplace_back(n, sim_device{models, dev, opts});
  for (size_t i = 0; i < requests.size(); ++i) {
    request_record r;
    r.id = i + 1;
    r.model = requests[i].model;
    r.arrival_ms = requests[i].arrival_ms;
    r.deadline_ms = requests[i].deadline_ms;
    world.records.push_back(std::move(r));
  }
  return world;
}

} // namespace tessera::sim

#include "serve_sim.hpp"

#include "tessera/core/error.hpp"
#include "tessera/sim/model_catalog.hpp"
#include "tessera/sim/sim_device.hpp"
#include "tessera/sim/virtual_cluster.hpp"

#include <algorithm>

namespace tessera::bench {

namespace {

// The unit a frame item runs as: its members' blocks, once each.
schedule_model frame_unit(std::string name, const std::vector<schedule_model>& models,
                          const std::vector<size_t>& item, double pass_ms) {
  schedule_model u;
  u.name = std::move(name);
  for (auto m : item)
    for (const auto& b : models[m].blocks)
      if (std::none_of(u.blocks.begin(), u.blocks.end(),
                       [&](const schedule_block& x) { return x.id == b.id; }))
        u.blocks.push_back(b);
  sim::set_exec_ms(u, pass_ms);
  return u;
}

} // namespace

caf::expected<double> simulated_met_fraction(const serve_workload& w, const sim_calibration& cal,
                                             const std::vector<planned_arrival>& plan) {
  std::vector<schedule_model> models;
  for (size_t i = 0; i < w.models.size(); ++i)
    models.push_back(sim::schedule_model_of(w.models[i], cal.service_ms.at(i)));
  // Frame items, each its own unit (the bench has one).
  std::vector<std::string> unit_of_item(w.items.size());
  for (size_t k = 0; k < w.items.size(); ++k) {
    if (w.items[k].size() == 1) {
      unit_of_item[k] = w.models[w.items[k].front()].name;
    } else if (cal.frame_pass_ms > 0.0) {
      unit_of_item[k] = "frame-" + std::to_string(k);
      models.push_back(frame_unit(unit_of_item[k], models, w.items[k], cal.frame_pass_ms));
    }
  }
  sim::scenario s;
  s.name = "serve";
  s.nodes.count = cal.workers;
  s.nodes.executors = 1;
  s.nodes.budget_mb = static_cast<double>(cal.budget_bytes) / 1.0e6;
  s.nodes.load_mb_per_s = cal.load_mb_per_s;
  s.models.source = sim::model_source::zoo;
  // The requests, and for each the deadlines it stands for (a frame's job
  // answers all its members).
  std::vector<sim::sim_request> requests;
  std::vector<std::vector<double>> deadlines;
  for (const auto& a : plan) {
    const auto& item = w.items[a.item];
    auto add = [&](const std::string& unit, std::vector<double> due) {
      sim::sim_request r;
      r.model = unit;
      r.arrival_ms = a.at_ms;
      r.ready_ms = a.at_ms;
      r.deadline_ms = a.at_ms + *std::min_element(due.begin(), due.end());
      requests.push_back(r);
      deadlines.push_back(std::move(due));
    };
    if (item.size() == 1 || cal.frame_pass_ms <= 0.0) {
      for (size_t k = 0; k < item.size(); ++k)
        add(w.models[item[k]].name, {a.deadline_ms[k]});
    } else {
      add(unit_of_item[a.item], a.deadline_ms);
    }
  }
  if (requests.empty())
    return 0.0;
  auto run = sim::run_cluster(s, models, requests, actors::queue_order::reuse_aware, 1.0);
  if (!run)
    return run.error();
  uint64_t sent = 0, met = 0;
  const auto& records = run->world.records;
  for (size_t i = 0; i < requests.size() && i < records.size(); ++i) {
    const auto& rec = records[i];
    if (rec.model != requests[i].model)
      return make_error(ec::invalid_argument, "the simulator's records are not in request order");
    for (auto due : deadlines[i]) {
      ++sent;
      if (rec.status != sim::request_status::failed && rec.end_ms >= 0.0 &&
          rec.end_ms <= requests[i].arrival_ms + due)
        ++met;
    }
  }
  return sent == 0 ? 0.0 : static_cast<double>(met) / static_cast<double>(sent);
}

caf::expected<rate_sweep> simulated_sweep(const serve_workload& w, const sim_calibration& cal,
                                          double first_rate, double step, int levels,
                                          double (*span_s)(double rate, bool quick), bool quick) {
  rate_sweep out;
  double rate = first_rate;
  for (int level = 0; level < levels && !out.stopped; ++level, rate *= step) {
    auto plan = plan_arrivals(w, rate, span_s(rate, quick), 100 + static_cast<uint64_t>(level));
    auto met = simulated_met_fraction(w, cal, plan);
    if (!met)
      return met.error();
    out.points.emplace_back(rate, *met);
    out.stopped = *met < 0.8;
  }
  return out;
}

} // namespace tessera::bench

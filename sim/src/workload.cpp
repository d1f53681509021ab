#include "tessera/sim/workload.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

namespace tessera::sim {

namespace {

constexpr double pi = 3.14159265358979323846;

// The rate (per ms) at time t; `peak` bounds it, for thinning.
double rate_at(const workload_spec& w, double level, double t_ms) {
  double base = w.rate_per_s * level / 1000.0;
  switch (w.kind) {
    case arrival_kind::bursty:
      return std::fmod(t_ms, w.on_ms + w.off_ms) < w.on_ms ? base : 0.0;
    case arrival_kind::diurnal:
      return base * (1.0 + w.amplitude * std::sin(2.0 * pi * t_ms / w.period_ms));
    default:
      return base;
  }
}

double peak_rate(const workload_spec& w, double level) {
  double base = w.rate_per_s * level / 1000.0;
  return w.kind == arrival_kind::diurnal ? base * (1.0 + w.amplitude) : base;
}

} // namespace

std::vector<size_t> ready_order(const std::vector<sim_request>& requests) {
  std::vector<size_t> order(requests.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].ready_ms < requests[b].ready_ms; });
  return order;
}

void apply_uplink(std::vector<sim_request>& requests, const workload_spec& w) {
  for (auto& r : requests)
    r.ready_ms = r.arrival_ms;
  if (w.uplink_mb_per_s <= 0.0 || w.input_kb <= 0.0)
    return;
  const double bytes_per_ms = w.uplink_mb_per_s * 1.0e3;
  const double size = w.input_kb * 1.0e3;
  std::vector<double> left(requests.size(), size);
  std::vector<size_t> active;
  double t = 0.0;
  size_t next = 0;
  while (next < requests.size() || !active.empty()) {
    if (active.empty()) {
      t = std::max(t, requests[next].arrival_ms);
      active.push_back(next++);
      continue;
    }
    // The uploads served now and the rate each gets.
    std::vector<size_t> served = active;
    if (w.uplink_edf) {
      auto first = std::min_element(active.begin(), active.end(), [&](size_t a, size_t b) {
        return requests[a].deadline_ms != requests[b].deadline_ms ? requests[a].deadline_ms < requests[b].deadline_ms
                                                                  : a < b;
      });
      served = {*first};
    }
    double rate = bytes_per_ms / static_cast<double>(served.size());
    double finish = INFINITY;
    for (auto i : served)
      finish = std::min(finish, t + left[i] / rate);
    double arrive = next < requests.size() ? requests[next].arrival_ms : INFINITY;
    double until = std::min(finish, arrive);
    for (auto i : served)
      left[i] -= (until - t) * rate;
    t = until;
    for (auto i : served)
      if (left[i] <= 1.0e-6) {
        requests[i].ready_ms = t;
        active.erase(std::find(active.begin(), active.end(), i));
      }
    while (next < requests.size() && requests[next].arrival_ms <= t)
      active.push_back(next++);
  }
}

caf::expected<std::vector<sim_request>> read_trace(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return make_error(ec::io_error, "scenario field workload.trace: cannot read " + path);
  std::vector<sim_request> out;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#')
      continue;
    if (number == 1 && !std::isdigit(static_cast<unsigned char>(line[0])))
      continue; // header
    std::stringstream fields{line};
    std::string time, model, deadline;
    std::getline(fields, time, ',');
    std::getline(fields, model, ',');
    std::getline(fields, deadline, ',');
    auto where = path + ":" + std::to_string(number);
    try {
      sim_request r;
      r.arrival_ms = std::stod(time);
      r.model = model;
      r.deadline_ms = r.arrival_ms + std::stod(deadline);
      if (model.empty() || r.arrival_ms < 0.0 || r.deadline_ms < r.arrival_ms)
        return make_error(ec::bad_config, where + ": expected time_ms,model,deadline_ms with times >= 0");
      out.push_back(std::move(r));
    } catch (const std::exception&) {
      return make_error(ec::bad_config, where + ": expected time_ms,model,deadline_ms");
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const sim_request& a, const sim_request& b) { return a.arrival_ms < b.arrival_ms; });
  return out;
}

caf::expected<std::vector<sim_request>> make_workload(const scenario& s, const std::vector<schedule_model>& models,
                                                      double level) {
  const auto& w = s.workload;
  if (w.kind == arrival_kind::trace) {
    auto trace = read_trace(w.trace_path);
    if (!trace)
      return trace.error();
    std::vector<sim_request> out;
    for (auto& r : *trace) {
      if (std::none_of(models.begin(), models.end(), [&](const auto& m) { return m.name == r.model; }))
        return make_error(ec::unknown_model, "workload.trace: unknown model \"" + r.model + "\"");
      double budget = r.deadline_ms - r.arrival_ms;
      r.arrival_ms /= level; // a higher level replays the trace faster
      r.deadline_ms = r.arrival_ms + budget;
      if (w.duration_ms > 0.0 && r.arrival_ms > w.duration_ms)
        break;
      out.push_back(std::move(r));
      if (out.size() >= w.requests)
        break;
    }
    apply_uplink(out, w);
    return out;
  }
  if (models.empty())
    return make_error(ec::bad_config, "scenario field models: no models to request");
  std::mt19937_64 rng{s.seed};
  // Popularity: Zipf over a seeded permutation of the models.
  std::vector<size_t> perm(models.size());
  for (size_t i = 0; i < perm.size(); ++i)
    perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<double> weights;
  for (size_t i = 0; i < models.size(); ++i)
    weights.push_back(1.0 / std::pow(static_cast<double>(i + 1), w.zipf));
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  std::uniform_real_distribution<double> slack(w.slack_min, w.slack_max);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  double peak = peak_rate(w, level);
  std::exponential_distribution<double> gap(peak);
  double load_bytes_per_ms = s.nodes.load_mb_per_s * 1.0e3;
  std::vector<sim_request> out;
  double t = 0.0;
  while (out.size() < w.requests) {
    t += gap(rng);
    if (w.duration_ms > 0.0 && t > w.duration_ms)
      break;
    // Thinning: keep an arrival with probability rate(t) / peak.
    if (unit(rng) * peak > rate_at(w, level, t))
      continue;
    const auto& m = models[perm[pick(rng)]];
    double cold = model_exec_ms(m) + static_cast<double>(model_bytes(m)) / load_bytes_per_ms;
    double upload = w.uplink_mb_per_s > 0.0 ? w.input_kb / w.uplink_mb_per_s : 0.0;
    out.push_back({m.name, t, t + upload + slack(rng) * cold, t});
  }
  apply_uplink(out, w);
  return out;
}

} // namespace tessera::sim

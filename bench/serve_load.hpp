// The load of `tessera bench serve`: open-loop Poisson arrivals of items,
// Zipf(1.0) popularity over them with the ranks reshuffled every period (the
// hot set moves), and deadlines 3-8 times each model's isolated service
// time. An item is one model, or a frame that every member of one family
// gets at once (the same bytes in each request), which a fused group can
// serve in one pass.
#pragma once

#include "serve_cluster.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tessera::bench {

struct serve_workload {
  std::vector<model_manifest> models;
  std::vector<double> service_ms; ///< per model, isolated
  /// What an arrival asks for: indices into models (one, or a family's members).
  std::vector<std::vector<size_t>> items;
  double shuffle_s = 10.0; ///< the popularity ranks change this often
};

/// Where an ok answer's time went, as the serving node reported it (the
/// infer reply's queue_ms, load_ms and run_ms parameters; 0 where absent).
struct answer_stages {
  double total_ms = 0.0; ///< as the client saw it
  double queue_ms = 0.0;
  double load_ms = 0.0;
  double run_ms = 0.0;
};

struct probe_result {
  std::string system;
  std::string phase;        ///< "sweep", "at_0.7"
  double offered_rps = 0.0; ///< requests sent per second of the probe
  double span_s = 0.0;
  uint64_t sent = 0;
  uint64_t met = 0;     ///< ok within the deadline, as the client saw it
  uint64_t late_ok = 0; ///< ok, after the deadline
  uint64_t errors = 0;  ///< an error code (overloaded, deadline_exceeded, ...)
  std::map<std::string, uint64_t> error_codes; ///< errors by code
  std::map<std::string, uint64_t> missed_by_model; ///< requests not met, by model
  uint64_t lost = 0;                           ///< no answer 10 s after the probe
  std::vector<double> ok_ms;                   ///< latency of every ok answer
  std::vector<answer_stages> ok_stages;        ///< the same answers, by stage
  double loaded_bytes = 0.0;                   ///< parameter bytes the workers read for it
  /// CPU time this process spent during the probe (every node, the client),
  /// and the time the workers' executors spent running its requests.
  double cpu_ms = 0.0;
  double executor_run_ms = 0.0;
  /// Placement changes during the probe: replicas added, units moved, replicas dropped.
  uint64_t added = 0, moved = 0, dropped = 0;

  double met_fraction() const {
    return sent == 0 ? 0.0 : static_cast<double>(met) / static_cast<double>(sent);
  }
};

/// A system's probes, rate by rate, and its capacity at a target.
struct rate_sweep {
  std::vector<std::pair<double, double>> points; ///< (offered rate, met fraction), in order
  bool stopped = false;

  double capacity(double target) const {
    double cap = 0.0;
    for (const auto& [rate, met] : points) {
      if (met < target)
        break;
      cap = rate;
    }
    return cap;
  }

  /// Where the met fraction crosses `target`, interpolated linearly between
  /// the capacity's probe and the first probe below target (the capacity
  /// itself where no probe fell below; 0 where the first did). Finer than
  /// the sweep's steps, for comparing two curves of the same probes.
  double crossing(double target) const {
    for (size_t i = 0; i < points.size(); ++i) {
      if (points[i].second >= target)
        continue;
      if (i == 0)
        return 0.0;
      const auto& [r0, m0] = points[i - 1];
      const auto& [r1, m1] = points[i];
      return r0 + (r1 - r0) * (m0 - target) / (m0 - m1);
    }
    return points.empty() ? 0.0 : points.back().first;
  }
};

/// One arrival of a probe: an item, its time from the probe's start, and the
/// deadline of each of its members' requests (in the item's order).
struct planned_arrival {
  double at_ms = 0.0;
  size_t item = 0;
  std::vector<double> deadline_ms;
};

/// The arrivals of a probe of `w` at `request_rate` requests per second for
/// `span_s` seconds from `seed`: Poisson gaps, Zipf(1.0) ranks reshuffled
/// every `w.shuffle_s` (from the probe's seed), the rate of items set per
/// epoch so that requests come at `request_rate`, deadlines 3-8 times each
/// member's service time. The real probe sends these, and the simulator runs
/// them, so both see the same requests.
std::vector<planned_arrival> plan_arrivals(const serve_workload& w, double request_rate,
                                           double span_s, uint64_t seed);

/// The mean stages of the slowest `fraction` of a probe's ok answers (at
/// least one answer); all zero when there is none.
answer_stages tail_stages(const probe_result& r, double fraction);

/// Offers `w` to `c` at `request_rate` requests per second for `span_s`
/// seconds, then waits for the answers.
caf::expected<probe_result> run_probe(const serve_cluster& c, const serve_workload& w,
                                      double request_rate, double span_s, uint64_t seed);

} // namespace tessera::bench

// The grouping policy: counts which models are requested together (within a
// time window) and proposes fused groups of models that are both co-requested
// and share parameter bytes. Pure; the scheduler feeds it request times.
// The rule is documented in docs/fusion.md.
#pragma once

#include "tessera/core/fusion_plan.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tessera {

/// Counts requests per model and pairs of models requested within
/// `window_ms` of each other. Times must not decrease between calls.
class co_request_counter {
public:
  explicit co_request_counter(double window_ms) : window_ms_(window_ms) {
    // nop
  }

  /// Records a request for `model` ("name:version") at `at_ms`. It pairs once
  /// with every other model requested in (at_ms - window, at_ms].
  void record(const std::string& model, double at_ms);

  uint64_t requests(const std::string& model) const;

  /// Requests of `a` or `b` that found the other within the window.
  uint64_t together(const std::string& a, const std::string& b) const;

  /// together(a, b) / min(requests(a), requests(b)), in [0, 1].
  double affinity(const std::string& a, const std::string& b) const;

  /// Every pair seen together, keyed with the smaller name first.
  const std::map<std::pair<std::string, std::string>, uint64_t>& pairs() const {
    return pairs_;
  }

private:
  double window_ms_;
  std::deque<std::pair<double, std::string>> recent_;
  std::map<std::string, uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, uint64_t> pairs_;
};

struct grouping_options {
  /// A pair needs at least this many co-requests before it counts.
  uint64_t min_together = 20;
  /// ... and this affinity (share of the rarer model's requests).
  double min_affinity = 0.5;
  /// ... and this share of the smaller model's parameter bytes in common;
  /// fusing models that share nothing saves nothing.
  double min_shared_fraction = 0.25;
  /// Largest group proposed (a group is swapped as one unit).
  size_t max_members = 4;
};

struct proposed_group {
  std::string name;
  /// "name:version" of the members, sorted.
  std::vector<std::string> models;
  /// The weakest qualifying pair score that joined the group.
  double score = 0.0;
  fusion_savings savings;
};

/// Proposes disjoint groups from a catalogue (latest manifests) and the counts.
/// Qualifying pairs are joined strongest first (score = affinity x shared
/// fraction, ties by names) as long as the group stays within max_members and
/// its models can be fused (inputs bindable). Groups come sorted by bytes saved.
std::vector<proposed_group> propose_groups(const std::vector<model_manifest>& catalogue,
                                           const co_request_counter& counts,
                                           const grouping_options& opts = {});

} // namespace tessera

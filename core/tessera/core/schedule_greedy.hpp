// The sharing-aware greedy for the general case, where shared blocks sit at any
// depth and residency is block-level LRU: whenever the device is free, run the
// request after which an EDF roll-out meets the most deadlines, the cheapest load
// given what is resident breaking ties. docs/scheduling.md gives its measured gap.
#pragma once

#include "tessera/core/schedule_dispatch.hpp"
#include "tessera/core/schedule_model.hpp"

namespace tessera {

struct greedy_options {
  /// Waiting for a request that has not arrived is allowed: it may reuse what
  /// is resident where an arrived one would evict it.
  dispatch_options dispatch{false, true};
  /// Consider only the candidates of the highest priority present (the caller
  /// passes priorities already aged by effective_priority()).
  bool honour_priority = false;
  /// Value a candidate by rolling EDF out after it (O(n^2) loads per candidate,
  /// and never fewer deadlines met than EDF). Off: by how many candidates can
  /// still finish in time after it (O(n) loads per candidate).
  bool rollout = true;
};

/// Runs the greedy over the whole queue and returns the simulated plan.
schedule_plan schedule_sharing_greedy(const schedule_instance& inst, greedy_options opts = {});

} // namespace tessera

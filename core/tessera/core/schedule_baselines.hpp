// The baselines every scheduling comparison reports (issue 6): FIFO and EDF over the
// same sharing-aware device, and EDF on a device that ignores sharing altogether
// (whole models loaded and evicted LRU), which is what a plain model server does.
#pragma once

#include "tessera/core/schedule_dispatch.hpp"
#include "tessera/core/schedule_model.hpp"

namespace tessera {

/// The EDF rule alone, for look-ahead policies that roll EDF out.
dispatch_rule edf_rule();

/// First come, first served: the earliest arrival runs next (ties by request id).
schedule_plan schedule_fifo(const schedule_instance& inst, dispatch_options opts = {});

/// Earliest deadline first among the requests that have arrived (non-preemptive;
/// ties by arrival, then id). Loads still reuse resident blocks; the order does
/// not look at them.
schedule_plan schedule_edf(const schedule_instance& inst, dispatch_options opts = {});

/// EDF on a device that ignores sharing: the plan is simulated with
/// `residency_policy::lru_models` and the instance's capacity, so a model is
/// loaded whole unless it is itself resident, and whole models are evicted LRU.
schedule_plan schedule_edf_lru(const schedule_instance& inst, dispatch_options opts = {});

} // namespace tessera

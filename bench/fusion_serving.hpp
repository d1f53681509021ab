// The serving side of `tessera bench fusion`: one request per member for each
// frame, all sent at once through the real scheduler and executor actors,
// served from a defined group (members that queue on one frame run in one
// pass) against the same requests with no group defined (each model on its
// own, all resident in the same residency manager). Both in the same run.
#pragma once

#include "bench_store.hpp"

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace tessera::bench {

struct serving_result {
  double separate_ms = 0; ///< median time to answer every request, no group
  double fused_ms = 0;    ///< the same with the group defined
  double speedup = 0;     ///< median over rounds of separate / fused
  double members_per_pass = 0; ///< requests answered per executor job, with the group
};

/// Sends `frames` frames to every model in `models` (one family) per round,
/// `rounds` rounds after one warm-up, alternating which side goes first. With
/// `own_inputs` each member gets an input of its own (nothing to share).
caf::expected<serving_result> measure_serving(const bench_store& bs,
                                              const std::vector<std::string>& models,
                                              unsigned frames, unsigned rounds,
                                              bool own_inputs = false);

} // namespace tessera::bench

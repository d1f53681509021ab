// The optimal schedule when models share only bottom layers within clusters
// (PartialLoading's special case): a dynamic program over clusters in deadline
// order that picks how many queued requests of each model to serve. The problem
// class, the algorithm and the proof of optimality are in docs/scheduling.md.
#pragma once

#include "tessera/core/schedule_model.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <vector>

namespace tessera {

/// Models partitioned into clusters: the models of a cluster share their first
/// blocks (the trunk) and no other block is shared by two models.
struct bottom_sharing {
  std::vector<size_t> cluster_of;      ///< per model
  std::vector<uint64_t> trunk_bytes;   ///< per cluster
  std::vector<uint64_t> private_bytes; ///< per model: the blocks after its trunk
};

/// Finds the clusters (models with the same first block) and their trunks (the
/// longest common prefix). Fails with `ec::unsupported` where a block is shared
/// in any other way, naming the block.
caf::expected<bottom_sharing> detect_bottom_sharing(const std::vector<schedule_model>& models);

/// The schedule that meets the most deadlines, in O(n^3) for n requests. The
/// instance must be in the class the proof covers, else `ec::unsupported` says
/// why: bottom-layer sharing, `residency_policy::last_model`, every request
/// arrived by `start_ms`, and one deadline per cluster (all queued requests of
/// a cluster's models share it).
caf::expected<schedule_plan> schedule_bottom_sharing_dp(const schedule_instance& inst);

} // namespace tessera

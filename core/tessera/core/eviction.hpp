// Eviction policies: which resident, unreferenced blocks to drop when a load needs
// room. Pure functions over plain data, so the residency manager, the simulator and
// the benchmarks share them. LRU is the baseline; the cost-aware policy is
// Greedy-Dual-Size-Frequency: keep what is expensive to reload per byte and likely
// to be used again.
#pragma once

#include "tessera/core/content_id.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tessera {

enum class eviction_policy : uint8_t {
  lru,        ///< least recently used first
  cost_aware, ///< lowest reload-cost-per-byte times reuse likelihood first (GDSF)
};

const char* to_string(eviction_policy p);
caf::expected<eviction_policy> parse_eviction_policy(const std::string& text);

/// What it costs to bring a blob back: a fixed cost per blob (open, header,
/// page-table work) plus its bytes over the measured load bandwidth.
struct reload_cost_model {
  double per_blob_ms = 0.05;
  double bytes_per_ms = 2.0e6;

  double cost_ms(uint64_t bytes) const {
    return per_blob_ms + static_cast<double>(bytes) / bytes_per_ms;
  }
};

/// The GDSF priority a blob gets when it is used: the current inflation (the
/// priority of the last victim, so that old entries age) plus its reuse weight
/// times its reload cost per MiB. `reuse_weight` grows with how often the blob
/// was used and with how many known models share it.
double cost_aware_priority(double inflation, double reuse_weight, double reload_cost_ms,
                           uint64_t bytes);

/// The reuse weight of a blob: its uses so far plus the models that bind it
/// (a backbone shared by five models is likely to be needed again).
double reuse_weight(uint32_t uses, uint32_t sharing_degree);

struct eviction_candidate {
  content_id id;
  uint64_t bytes = 0;
  uint64_t last_use_tick = 0; ///< a logical clock; larger is more recent
  double priority = 0.0;      ///< cost_aware_priority() at its last use
};

struct eviction_plan {
  std::vector<content_id> victims; ///< in eviction order
  uint64_t bytes = 0;              ///< bytes the victims free
  bool enough = false;             ///< whether `bytes` reaches the request
  double inflation = 0.0;          ///< the new inflation (cost_aware only)
};

/// Picks victims, in order, until `bytes_needed` would be freed. When the
/// candidates cannot free that much, `enough` is false and every candidate is
/// listed, so the caller can refuse without evicting anything.
eviction_plan plan_eviction(std::vector<eviction_candidate> candidates,
                            uint64_t bytes_needed, eviction_policy policy,
                            double inflation);

} // namespace tessera

// Helpers for the residency suites: a manager over the small zoo with a chosen
// budget and mode, and the checks that every state of the manager must pass.
#pragma once

#include "tessera/residency/cpu_arena.hpp"
#include "tessera/residency/residency_manager.hpp"
#include "zoo_fixture.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <memory>
#include <string>

namespace tessera::test {

struct residency_rig {
  residency::cpu_arena arena;
  std::unique_ptr<residency::residency_manager> mgr;

  residency_rig(const store::block_store& st, uint64_t budget, load_mode mode,
                bool keep_unloaded = true, uint64_t arena_limit = 0,
                eviction_policy policy = eviction_policy::cost_aware, bool staged = false)
    : arena(arena_limit) {
    residency::residency_options opts;
    opts.device_budget_bytes = budget;
    opts.mode = mode;
    opts.keep_unloaded = keep_unloaded;
    opts.policy = policy;
    opts.force_staging = staged;
    mgr = std::make_unique<residency::residency_manager>(st, arena, opts);
  }
};

inline uint64_t model_bytes(const model_manifest& m) {
  return parameter_bytes(m);
}

/// The resident set size of this process, from /proc.
inline uint64_t rss_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  uint64_t pages = 0;
  uint64_t resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

/// The invariants of the device tier, checked against the per-blob listing.
inline void check_accounting(const residency::residency_manager& mgr,
                             const residency::cpu_arena& arena) {
  auto s = mgr.stats();
  const auto& d = s.device;
  CHECK(d.used_bytes + d.reserved_bytes <= d.budget_bytes);
  CHECK(d.used_bytes == d.referenced_bytes + d.cached_bytes + d.detached_bytes);
  CHECK(d.detached_bytes == 0);
  CHECK(d.pinned_bytes <= d.referenced_bytes);
  uint64_t listed = 0;
  size_t refs_mismatch = 0;
  for (const auto& b : mgr.blobs()) {
    if (b.loading)
      continue;
    listed += b.bytes;
    refs_mismatch += b.refs == b.holders.size() ? 0 : 1;
  }
  CHECK(listed == d.used_bytes);
  CHECK(refs_mismatch == 0);
  if (mgr.options().mode == load_mode::copy)
    CHECK(arena.allocated_bytes() == d.used_bytes);
}

} // namespace tessera::test

// Measures one benchmark takes from another, for models the caller names from
// any store: `bench import` runs imported models through the measures of
// `bench swap` and `bench fusion`.
#pragma once

#include "bench_report.hpp"
#include "tessera/core/manifest.hpp"
#include "tessera/store/block_store.hpp"

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace tessera::bench {

/// `bench swap`'s measure of `m`: streamed at a third of its bytes over fully
/// resident, the median over rounds of paired ratios. Prints bench swap's table.
caf::expected<double> stream_latency_ratio_1_3(const store::block_store& st,
                                               const model_manifest& m, const bench_options& opts);

/// `bench fusion`'s measure: `members` given one frame, run one after another
/// over run as one fused group, the median over rounds. Prints its row.
caf::expected<double> fused_speedup(const store::block_store& st, const std::string& label,
                                    const std::vector<model_manifest>& members, uint32_t repeat);

} // namespace tessera::bench

// What a simulator run reports: per-policy summaries (deadline hit rate,
// throughput, latency percentiles, bytes loaded, switches, evictions), the
// per-request and per-node time-series CSVs, and the terminal table. Numbers
// are printed with fixed precision, so equal runs give byte-identical files.
#pragma once

#include "tessera/sim/virtual_cluster.hpp"

#include <string>
#include <vector>

namespace tessera::sim {

struct run_summary {
  std::string config; ///< "-" without [[configs]]
  std::string policy;
  double level = 1.0;
  uint64_t requests = 0;
  uint64_t met = 0;
  uint64_t missed = 0;
  uint64_t failed = 0;
  uint64_t lost = 0; ///< requests not answered exactly once (0 when sound)
  double hit_rate = 0.0;
  double makespan_ms = 0.0;
  double completed_per_s = 0.0; ///< met + missed over the makespan
  double met_per_s = 0.0;       ///< deadline throughput
  double p50_ms = 0.0;          ///< latency (end - arrival) of completed requests
  double p99_ms = 0.0;
  double mean_ms = 0.0;
  /// Most bytes one node held resident at once (its executors together).
  uint64_t peak_resident_bytes = 0;
  uint64_t loaded_bytes = 0;
  uint64_t switches = 0;
  uint64_t evictions = 0;
  uint64_t events = 0;
};

run_summary summarize(const cluster_run& run);

/// id,model,arrival_ms,deadline_ms,start_ms,end_ms,status,met,node,load_ms
caf::error write_requests_csv(const cluster_run& run, const std::string& path);

/// bucket_ms,node,busy_fraction,jobs_started,resident_bytes,queued (cluster-wide)
caf::error write_nodes_csv(const cluster_run& run, uint32_t nodes, double bucket_ms, const std::string& path);

/// One row per run, the columns of run_summary.
caf::error write_summary_csv(const std::vector<run_summary>& rows, const std::string& path);

/// The table printed on the terminal.
std::string summary_table(const std::vector<run_summary>& rows);

/// "reuse_aware_x1.00", or "fused_reuse_aware_x1.00" in a config: a run's file name stem.
std::string run_stem(const cluster_run& run);

} // namespace tessera::sim

// How benchmarks report: a readable table for people and, with --json, one last
// line `{"bench": NAME, "metrics": {...}}` for tools. Metrics are ratios measured
// against a baseline in the same run.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tessera::bench {

struct bench_options {
  bool json = false;
  double scale = 1.0;
  uint32_t repeat = 5;
  /// Folder for the benchmark's own store and files.
  std::string work_dir = "bench-out";
  /// Models to measure instead of the built-in choice (bench load, fusion and
  /// swap): zoo models of the bench's store, or models of `models_store`.
  std::vector<std::string> models;
  /// The store given with -s/--store, where a user imported the models.
  std::string models_store;
  /// A short run that only checks the benchmark works (`--quick`): benches
  /// with fixed durations shorten them.
  bool quick = false;
  /// bench serve: draw the met-deadline curve as a PNG into this folder.
  std::string plot_dir;
  /// bench serve: also sweep Tessera with one idea off at a time.
  bool ablations = false;
};

class bench_report {
public:
  explicit bench_report(std::string name) : name_(std::move(name)) {
    // nop
  }

  void metric(const std::string& key, double value) {
    metrics_[key] = value;
  }

  /// Prints the metrics, then the JSON line when asked.
  void finish(const bench_options& opts) const;

private:
  std::string name_;
  std::map<std::string, double> metrics_;
};

/// Median of a non-empty sample.
double median(std::vector<double> xs);

/// The q-quantile of a sample, the element at floor(q * n) once sorted (0
/// when empty).
double quantile(std::vector<double> xs, double q);

/// Runs `tessera bench load`; returns the exit code.
int run_load_bench(const bench_options& opts);

/// `tessera bench import`: zoo models saved whole and imported with automatic blocks.
int run_import_bench(const bench_options& opts);

/// Runs `tessera bench sharing`; returns the exit code.
int run_sharing_bench(const bench_options& opts);

/// Runs `tessera bench rpc`; returns the exit code.
int run_rpc_bench(const bench_options& opts);

/// Runs `tessera bench schedule`; returns the exit code.
int run_schedule_bench(const bench_options& opts);

/// Runs `tessera bench overload`; returns the exit code.
int run_overload_bench(const bench_options& opts);

/// Runs `tessera bench tenancy`; returns the exit code.
int run_tenancy_bench(const bench_options& opts);

/// Runs `tessera bench tiers`; returns the exit code.
int run_tiers_bench(const bench_options& opts);

/// Runs `tessera bench fusion`; returns the exit code.
int run_fusion_bench(const bench_options& opts);

/// Runs `tessera bench cuda`; returns the exit code (0 with a skip note without a GPU).
int run_cuda_bench(const bench_options& opts);

/// Runs `tessera bench swap`; returns the exit code.
int run_swap_bench(const bench_options& opts);

/// `tessera bench serve`: many models in one budget, against whole-model serving.
int run_serve_bench(const bench_options& opts);

/// Runs `tessera bench sim`; returns the exit code.
int run_sim_bench(const bench_options& opts);

} // namespace tessera::bench

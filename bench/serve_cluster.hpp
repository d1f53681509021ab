// The nodes of `tessera bench serve`: a coordinator (no executors of its own)
// and two workers on loopback, real actors, LibTorch and files, in one of two
// serving modes over one store: Tessera (serving = "blocks", as shipped) or
// whole-model serving (serving = "whole_model", docs/whole-model-serving.md).
#pragma once

#include "tessera/actors/node.hpp"
#include "tessera/core/manifest.hpp"

#include <caf/expected.hpp>

#include <memory>
#include <string>
#include <vector>

namespace tessera::bench {

/// A server process the bench started (the Python baseline); stopped with
/// SIGTERM, then waited for, when it goes.
class child_process {
public:
  explicit child_process(int pid) : pid_(pid) {
    // nop
  }
  child_process(child_process&& other) noexcept : pid_(other.pid_) {
    other.pid_ = -1;
  }
  child_process& operator=(child_process&&) = delete;
  ~child_process();

private:
  int pid_;
};

struct serve_cluster {
  std::string label;
  std::vector<std::unique_ptr<actors::node>> workers;
  std::unique_ptr<actors::node> coordinator;
  /// Where requests go: the coordinator, or (the Python baseline, which has
  /// none) one server per worker, each model always to the same one.
  std::vector<std::string> entries;
  std::vector<child_process> processes;

  /// The entry that serves model `m` (an index into the workload's models).
  size_t entry_of(size_t m) const {
    return m % entries.size();
  }

  /// The device bytes both workers hold now, the larger of the two.
  uint64_t max_device_bytes() const;

  /// Parameter bytes the workers' executors read to load models (unshared),
  /// from their metrics.
  double loaded_bytes() const;

  /// Seconds the workers' executors spent loading models (reading what they
  /// lacked, then binding), from their metrics.
  double load_seconds() const;

  /// Seconds the workers' executors spent running requests, from their metrics.
  double run_seconds() const;

  /// The coordinator's placement counts so far (none without a coordinator).
  actors::placement_status placement() const;
};

/// Node settings a mode changes, beside the shared ones; `tweak` is applied last
/// (an ablation turns one idea off there).
struct cluster_spec {
  std::string label;
  std::string serving = "blocks";
  uint64_t budget_bytes = 0; ///< each worker's device budget
  std::string store_path;
  void (*tweak)(node_config&) = nullptr;
};

/// Starts the workers, then the coordinator, and waits until it is ready.
caf::expected<serve_cluster> start_serve_cluster(const cluster_spec& spec);

/// Writes each model's whole TorchScript file into STORE/whole where it is
/// missing (whole-model serving reads them); returns how many were written.
caf::expected<size_t> export_whole_models(const store::block_store& st,
                                          const std::vector<model_manifest>& models);

/// The isolated service time of each model on `c`: one request at a time,
/// the model resident (a first request loads it), median of `n`.
caf::expected<std::vector<double>>
isolated_service_ms(const serve_cluster& c, const std::vector<model_manifest>& models, int n);

/// Starts the Python baseline (deploy/baselines/python_server.py): two
/// servers, one LibTorch thread and `budget_bytes` each, serving the whole
/// files in STORE/whole, with the models split between them by index.
/// ec::unsupported when /usr/bin/python3 lacks torch, zmq or msgpack.
caf::expected<serve_cluster> start_python_servers(const std::string& store_path,
                                                  uint64_t budget_bytes);

/// The time from sending one frame to each member of `members` (indices
/// into `models`) at once until the last answer: median of `n`, after one
/// that loads them.
caf::expected<double> isolated_frame_ms(const serve_cluster& c,
                                        const std::vector<model_manifest>& models,
                                        const std::vector<size_t>& members, int n);

/// Defines fused group `name` of `members` through the coordinator, as `tessera fuse` does.
caf::error define_group(const serve_cluster& c, const std::string& name,
                        const std::vector<std::string>& members);

} // namespace tessera::bench

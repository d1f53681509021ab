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

struct serve_cluster {
  std::string label;
  std::vector<std::unique_ptr<actors::node>> workers;
  std::unique_ptr<actors::node> coordinator;

  const std::string& endpoint() const {
    return coordinator->endpoint();
  }

  /// The device bytes both workers hold now, the larger of the two.
  uint64_t max_device_bytes() const;

  /// Parameter bytes the workers' executors read to load models (unshared),
  /// from their metrics.
  double loaded_bytes() const;
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

/// Defines fused group `name` of `members` through the coordinator, as `tessera fuse` does.
caf::error define_group(const serve_cluster& c, const std::string& name,
                        const std::vector<std::string>& members);

} // namespace tessera::bench

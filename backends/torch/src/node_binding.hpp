// A block bound to its parameters: the compiled skeleton plus the tensors that
// view resident blobs (no copy on the CPU). The resident executor binds every
// node once at load; the streaming executor binds a block when it runs, and
// keeps the binding for the next runs while its blobs stay where they are.
// Private to backends/torch (it includes LibTorch).
#pragma once

#include "skeleton_cache.hpp"
#include "tessera/core/manifest.hpp"
#include "tessera/residency/lease.hpp"

#include <caf/expected.hpp>
#include <torch/script.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tessera::torch_backend {

struct bound_node {
  std::shared_ptr<const compiled_skeleton> skeleton;
  /// script kind: parameters in the order of the function's arguments.
  std::vector<c10::IValue> params;
  /// module kind: a clone of the template with the parameters bound.
  std::optional<torch::jit::Module> module;
};

/// Binds `node`'s parameters, taken from `lease`, into `skeleton`. On a device
/// other than the CPU each parameter is copied there, unless
/// `params_on_device` says the lease's blobs already lie in that device's
/// memory (a GPU device tier); then they are viewed in place. Views keep the
/// blobs' memory alive unless `unowned_views`: then the caller must keep it
/// (a pinned lease) whenever the node runs. Errors name the node.
caf::expected<bound_node> bind_node(std::shared_ptr<const compiled_skeleton> skeleton,
                                    const node_spec& node, const residency::lease& lease,
                                    const torch::Device& device, const std::string& where,
                                    bool params_on_device = false, bool unowned_views = false);

/// Runs a bound node on its inputs (LibTorch may throw).
c10::IValue call_node(const bound_node& bound, std::vector<c10::IValue> args);

/// A streamed model's bindings, one per node, kept across runs. Binding a
/// block per run cost 20-40 us (a view, a deleter and a map entry per
/// parameter); a kept binding is used again when every parameter's blob lies
/// at the address its view points to, which the lease of the run tells. Its
/// views do not own the blobs' memory, so keeping them holds no bytes once a
/// lease is released; and a blob evicted and read back elsewhere, or another
/// blob now at that address, fails the check and the node is bound again. Blobs
/// are content-addressed: the same blob at the same address is the same bytes.
/// Only for CPU memory: a copy to another device would stay allocated.
class kept_bindings {
public:
  explicit kept_bindings(size_t nodes) : entries_(nodes) {
    // nop
  }

  /// The node's binding to `lease`'s blobs, which must stay pinned while it runs.
  caf::expected<std::shared_ptr<const bound_node>>
  bind(uint32_t index, const std::shared_ptr<const compiled_skeleton>& skeleton,
       const node_spec& node, const residency::lease& lease, const std::string& model);

private:
  struct entry {
    std::vector<const std::byte*> data; ///< per parameter, its blob's address
    std::shared_ptr<const bound_node> bound;
  };

  std::mutex mtx_;
  std::vector<entry> entries_;
};

} // namespace tessera::torch_backend

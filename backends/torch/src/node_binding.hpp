// A block bound to its parameters: the compiled skeleton plus the tensors that
// view resident blobs (no copy on the CPU). The resident executor binds every
// node once at load; the streaming executor binds each block just before it runs.
// Private to backends/torch (it includes LibTorch).
#pragma once

#include "skeleton_cache.hpp"
#include "tessera/core/manifest.hpp"
#include "tessera/residency/lease.hpp"

#include <caf/expected.hpp>
#include <torch/script.h>

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
/// memory (a GPU device tier); then they are viewed in place. Errors name the
/// node.
caf::expected<bound_node> bind_node(std::shared_ptr<const compiled_skeleton> skeleton,
                                    const node_spec& node, const residency::lease& lease,
                                    const torch::Device& device, const std::string& where,
                                    bool params_on_device = false);

/// Runs a bound node on its inputs (LibTorch may throw).
c10::IValue call_node(const bound_node& bound, std::vector<c10::IValue> args);

} // namespace tessera::torch_backend

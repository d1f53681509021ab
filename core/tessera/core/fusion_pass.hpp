// One pass of a fused group over several requests: which group inputs the
// requests' tensors become, whether two requests can share a pass, and which
// outputs of a pass belong to which member. Pure; the executor and the
// scheduler use it to serve member requests from a loaded group
// (docs/fusion.md, "Serving").
#pragma once

#include "tessera/core/fusion_plan.hpp"
#include "tessera/core/tensor_buffer.hpp"

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace tessera {

/// One request's part in a pass: the member it asks and its inputs, in the
/// order of that member's manifest.
struct member_request {
  const fusion_member* member = nullptr;
  const std::vector<tensor_buffer>* inputs = nullptr;
};

/// True when both tensors have the same spec and the same bytes.
bool same_tensor(const tensor_buffer& a, const tensor_buffer& b);

/// The group inputs, in the order of plan.dag.inputs, for one pass over
/// `requests`. A group input that no request reads gets zeros of its spec
/// (dynamic dimensions set to the batch of the first tensor given): the pass
/// runs only the requested members' sub-DAGs, which never read it.
/// Errors: ec::invalid_argument when two requests give different tensors for
/// one group input (they cannot share a pass), or a request's input count
/// differs from its member's.
caf::expected<std::vector<tensor_buffer>> group_inputs_for(const fused_plan& plan,
                                                           const std::vector<member_request>& requests);

/// True when `other` can join a pass over `current` (the group inputs given
/// so far, empty buffers where none is): it gives no group input a different
/// tensor, and shares at least one with the pass.
bool shares_pass(const fused_plan& plan, const std::vector<tensor_buffer>& current,
                 const member_request& other);

/// Places a request's inputs into `current` (see shares_pass()).
void add_to_pass(const fused_plan& plan, std::vector<tensor_buffer>& current,
                 const member_request& request);

/// A member's outputs from a pass's named outputs ("label/output", as the
/// fused DAG names them): the member's own output names with the label
/// stripped, in the member's order, kept when `wanted` is empty or lists it.
void member_outputs_of(const fusion_member& member, const std::vector<std::string>& names,
                       const std::vector<tensor_buffer>& tensors, const std::vector<std::string>& wanted,
                       std::vector<std::string>& out_names, std::vector<tensor_buffer>& out_tensors);

} // namespace tessera

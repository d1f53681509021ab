// The fusion planner: merges several models into one DAG in which identical
// (block, inputs) nodes appear once, so shared layers are loaded and computed
// once. Pure data and functions; backends load `fused_plan::dag` like a model.
// The rules are documented in docs/fusion.md.
#pragma once

#include "tessera/core/manifest.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tessera {

/// Binds one member input to a named group input. Inputs without a binding
/// are bound by position (see plan_fusion()).
struct input_binding {
  /// "name" or "name:version" of the member.
  std::string model;
  /// The member's input name.
  std::string input;
  /// The group input it reads.
  std::string group_input;
};

/// One model of a group, and where its parts went in the fused DAG.
struct fusion_member {
  /// "name:version".
  std::string model;
  /// The prefix of this member's nodes and outputs in the DAG ("name", or
  /// "name@version" when two members share a name).
  std::string label;
  /// For each of the member's inputs, the index of the group input it reads.
  std::vector<uint32_t> input_of;
  /// For each of the member's outputs, the index of the DAG output holding it.
  std::vector<uint32_t> output_of;
  /// For each of the member's nodes, the DAG node computing it.
  std::vector<uint32_t> node_of;
};

/// A DAG node that two or more member nodes merged into.
struct merged_node {
  std::string node;
  /// "label/node" of every member node it stands for.
  std::vector<std::string> sources;
};

/// What fusing saves, against loading and running each member on its own.
struct fusion_savings {
  uint64_t separate_nodes = 0;
  uint64_t fused_nodes = 0;
  /// Sum of each member's distinct parameter bytes, against the union.
  uint64_t separate_bytes = 0;
  uint64_t fused_bytes = 0;
  /// Compute proxy (multiply-accumulates per sample): for each node, its
  /// parameter elements times the positions of its declared output (H*W of
  /// [-1,C,H,W], T of [-1,T,D], 1 otherwise).
  double separate_macs = 0.0;
  double fused_macs = 0.0;

  uint64_t nodes_saved() const {
    return separate_nodes - fused_nodes;
  }
  uint64_t bytes_saved() const {
    return separate_bytes - fused_bytes;
  }
  /// Fraction of the compute proxy that fusion removes, in [0, 1].
  double macs_saved_fraction() const {
    return separate_macs > 0 ? 1.0 - fused_macs / separate_macs : 0.0;
  }
};

struct fused_plan {
  /// The group's name; also the DAG's name and its residency owner.
  std::string name;
  /// The fused DAG, a valid manifest: inputs are the group inputs, outputs are
  /// "label/output" per member, node names are "label/node" of the first
  /// member (in canonical order) that introduced them.
  model_manifest dag;
  /// Members in canonical order (sorted by "name:version"), duplicates removed.
  std::vector<fusion_member> members;
  std::vector<merged_node> merged;
  fusion_savings savings;

  /// The member named "name" or "name:version", or null.
  const fusion_member* find(const std::string& model) const;

  /// DAG output indices of the named members' outputs, member by member in the
  /// order given (all members in canonical order when `models` is empty).
  /// Errors: ec::unknown_model naming the model that is not a member.
  caf::expected<std::vector<uint32_t>> outputs_of(const std::vector<std::string>& models) const;

  /// DAG nodes the named members need (their sub-DAG), ascending.
  caf::expected<std::vector<uint32_t>> nodes_of(const std::vector<std::string>& models) const;
};

/// Fuses `models` into one DAG named `name`.
///
/// Merge rule: two nodes merge when they have the same skeleton, the same
/// parameters (names and blob ids, in binding order) and the same inputs,
/// where inputs are compared after merging (from the group inputs up).
///
/// Input binding: a member input with an explicit binding reads the group
/// input of that name; any other member input at position k reads the group
/// input named after input k of the first member (canonical order) that has
/// one. All member inputs bound to a group input must have equal specs.
///
/// The result does not depend on the order of `models`, and a model listed
/// twice counts once. Errors: ec::invalid_argument (no models, a binding that
/// names no member input), ec::dtype_mismatch / ec::shape_mismatch (inputs
/// bound together with different types; both models and inputs named), and the
/// manifests' own validation errors.
caf::expected<fused_plan> plan_fusion(const std::string& name,
                                      const std::vector<model_manifest>& models,
                                      const std::vector<input_binding>& bindings = {});

/// Picks the manifests named by "name" or "name:version" refs from a catalogue
/// (a bare name picks the highest version). Errors: ec::unknown_model.
caf::expected<std::vector<model_manifest>>
select_models(const std::vector<std::string>& refs, const std::vector<model_manifest>& catalogue);

/// The compute proxy of one node (see fusion_savings::separate_macs).
double node_macs(const node_spec& node);

/// "3 of 45 nodes merged, 44.7 MB of 178.8 MB parameters saved, ..." for logs.
std::string summary_of(const fused_plan& plan);

} // namespace tessera

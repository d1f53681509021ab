// The models a scenario runs, as schedule models (blocks with bytes and compute
// times): synthetic families with a chosen sharing structure, or zoo manifests
// read from a store, with compute times measured or estimated per MB.
#pragma once

#include "tessera/core/manifest.hpp"
#include "tessera/sim/scenario.hpp"

#include <map>
#include <vector>

namespace tessera::sim {

/// Families of `variants` models; with a shared trunk, the variants of one
/// family have equal trunk block ids (loaded once, reused across variants).
std::vector<schedule_model> synthetic_models(const model_spec& spec);

/// Scales the compute time of every block of `m` so that the model's adds up
/// to `total_ms`, keeping how it is spread over the blocks.
void set_exec_ms(schedule_model& m, double total_ms);

/// Schedule models of the zoo manifests that `spec.zoo_names` selects (all
/// when empty); names the spec asks for but `manifests` lacks are an error.
caf::expected<std::vector<schedule_model>> zoo_models(const model_spec& spec,
                                                      const std::vector<model_manifest>& manifests);

/// Synthetic families as fused groups: one unit per family ("f<k>") whose
/// blocks are the union of its variants' ("f<k>v<j>"); `unit_of` maps each
/// variant to its family's unit.
std::vector<schedule_model> family_units(const std::vector<schedule_model>& models,
                                         std::map<std::string, std::string>& unit_of);

/// A manifest for a synthetic model, for real-time runs: one node per block
/// (a parameter of the block's bytes), input "x" and output "y" of float32
/// [batch, 4]. Nothing executes it; the simulated backend runs the model by name.
model_manifest manifest_of(const schedule_model& m);

} // namespace tessera::sim

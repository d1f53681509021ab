// The models a scenario runs, as schedule models (blocks with bytes and compute
// times): synthetic families with a chosen sharing structure, or zoo manifests
// read from a store, with compute times measured or estimated per MB.
#pragma once

#include "tessera/core/manifest.hpp"
#include "tessera/sim/scenario.hpp"

#include <vector>

namespace tessera::sim {

/// Families of `variants` models; with a shared trunk, the variants of one
/// family have equal trunk block ids (loaded once, reused across variants).
std::vector<schedule_model> synthetic_models(const model_spec& spec);

/// Schedule models of the zoo manifests that `spec.zoo_names` selects (all
/// when empty); names the spec asks for but `manifests` lacks are an error.
caf::expected<std::vector<schedule_model>> zoo_models(const model_spec& spec,
                                                      const std::vector<model_manifest>& manifests);

} // namespace tessera::sim

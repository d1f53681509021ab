// The exact reference: every order of every subset of the queue, searched depth
// first with a simple bound. Exponential, so it serves tests and small benchmark
// instances only; the dynamic program and the greedy are measured against it.
#pragma once

#include "tessera/core/schedule_model.hpp"

#include <caf/expected.hpp>

namespace tessera {

/// The most requests any schedule can run by their deadlines, and a schedule
/// that does. Refuses (`ec::unsupported`) queues of more than `max_requests`.
caf::expected<schedule_plan> schedule_exhaustive(const schedule_instance& inst,
                                                 size_t max_requests = 10);

} // namespace tessera

// How an executor's state reads in the wire's server_status reply
// (docs/protocol.md): the jobs it served, the models it holds and what its
// streamed runs did. The gateway builds the reply from these; kept apart so
// that a test can check every figure travels.
#pragma once

#include "tessera/actors/messages.hpp"
#include "tessera/residency/residency_stats.hpp"
#include "tessera/transport/responses.hpp"

namespace tessera::actors {

/// The stream figures of one executor, times in whole microseconds.
transport::stream_entry stream_entry_of(const stream_totals& totals);

/// The node's host memory figures (host_memory_budget).
transport::host_memory_entry host_memory_entry_of(const residency::host_memory_stats& stats);

/// One executor's entry. A peer's executor (`remote`) and one that neither
/// prepared nor ran a streamed unit carry no stream figures.
transport::executor_entry executor_entry_of(const executor_state& state);

} // namespace tessera::actors

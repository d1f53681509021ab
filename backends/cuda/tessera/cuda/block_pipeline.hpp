// Runs a model block by block with block k+1's copies in flight while block k
// computes (SwapNet's pipeline on a discrete GPU). Copies go on the copy
// stream, compute on the compute stream; the compute stream waits on an event
// behind each block's copies, so the host never blocks for a copy. At most
// `window` blocks are resident: before block k+window is brought in, the host
// waits for block k's compute to finish and releases its memory.
#pragma once

#include "tessera/cuda/copy_engine.hpp"

#include <functional>

namespace tessera::cuda {

/// What the pipeline asks of its caller, per block index.
struct block_steps {
  /// Enqueues block k's copies on the engine's copy stream (a staged_copier
  /// does). Called for 0, 1, 2, ... in order.
  std::function<caf::error(size_t k)> transfer;

  /// Enqueues block k's compute on the compute stream. The compute stream has
  /// already been made to wait for block k's copies.
  std::function<caf::error(size_t k)> compute;

  /// Block k's compute has completed: its device memory may be reused. Optional.
  std::function<void(size_t k)> release;
};

/// What a run did, for tests and benchmarks.
struct block_pipeline_figures {
  size_t max_resident_blocks = 0; ///< most blocks transferred and not yet released
  uint64_t compute_waits = 0;     ///< times the host waited for a compute to finish
};

/// Runs `blocks` blocks with at most `window` (>= 1) resident at a time.
/// With window 1 nothing overlaps; with 2, one block transfers while one
/// computes. Returns once every compute has completed and every block was
/// released, also on error (then with the first error).
caf::expected<block_pipeline_figures> run_block_pipeline(copy_engine& engine, size_t blocks,
                                                         size_t window, const block_steps& steps);

} // namespace tessera::cuda

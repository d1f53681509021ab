// How several models that stream block by block (docs/swapping.md) share one
// byte budget. A pure function over plain data, so the streaming executor, the
// scheduler and the simulator apply the same policy.
#pragma once

#include <cstdint>
#include <vector>

namespace tessera {

/// What one streamed model asks of the shared budget.
struct swap_demand {
  /// The largest block the model runs: below this it cannot run at all.
  uint64_t largest_block_bytes = 0;
  /// Bytes of the whole model: more than this would never be used.
  uint64_t model_bytes = 0;
  /// The model's own cap (its configured streaming budget); 0 for none.
  uint64_t cap_bytes = 0;
};

/// Splits `total_bytes` among `demands`, in the order given (arrival order).
///
/// 1. Admission: each model in turn is admitted when its floor (its largest
///    block) still fits beside the floors already admitted. A model that is
///    not admitted gets 0 and waits; a model whose floor exceeds its own cap
///    is never admitted.
/// 2. Every admitted model gets its floor.
/// 3. The rest is shared in proportion to the largest-block sizes: the
///    prefetch window a model needs to hide loads is counted in blocks, so a
///    model with twice as large blocks needs twice the bytes for the same depth.
///    No model gets more than min(model_bytes, cap); what a capped model
///    cannot use goes to the others (water filling).
///
/// Shares never sum to more than `total_bytes`.
std::vector<uint64_t> split_swap_budget(uint64_t total_bytes,
                                        const std::vector<swap_demand>& demands);

} // namespace tessera

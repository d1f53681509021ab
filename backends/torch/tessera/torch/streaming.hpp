// Block swapping (SwapNet-style, docs/swapping.md): a model or fused DAG whose
// parameters exceed its byte budget runs block by block, leasing each block from
// the residency manager just before it runs, prefetching the next ones while it
// computes, and releasing blocks once their consumers ran. Torch-free header.
#pragma once

#include "tessera/backend/model_executor.hpp"
#include "tessera/core/memory_pressure.hpp"
#include "tessera/residency/residency_manager.hpp"
#include "tessera/store/skeleton_store.hpp"
#include "tessera/torch/torch_executor.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tessera::torch_backend {

struct stream_options {
  /// Bytes the model's blocks may hold resident at once during a run; 0 takes
  /// the executor's whole streaming budget. Concurrent streams share that
  /// budget (split_swap_budget), so a run may get less than this.
  uint64_t budget_bytes = 0;
  /// Load the next blocks on a helper thread while the current one computes.
  bool prefetch = true;
  /// The most blocks loaded ahead of the running one; below it, the window
  /// follows the measured load and compute times of the blocks.
  uint32_t max_depth = 4;
  /// Free a finished block's blobs at once when nobody else holds them, rather
  /// than leave them cached for the residency manager's eviction policy.
  bool free_finished = false;
  /// Unless free_finished: keep the blocks that the budget holds beside the
  /// window the other blocks need cached after a run, so the next run finds
  /// them resident; the other blocks are freed when finished, so they do not
  /// push the kept ones out. The kept blocks count against the run's budget.
  bool retain = true;
};

/// What streaming one block did. Copy mode reads each blob once into device
/// memory (copies = 0), or through staging with one copy per blob; in place the
/// blob is mapped and nothing is copied.
struct stream_block_stats {
  std::string node;
  uint64_t bytes = 0;        ///< the block's parameter bytes
  uint64_t blobs_read = 0;   ///< blobs read from the store for it (0: all resident)
  uint64_t bytes_read = 0;
  uint64_t copies = 0;       ///< copies after the read (staging to device)
  uint64_t bytes_copied = 0;
  bool prefetched = false;   ///< loaded by the helper thread before it was needed
  bool retained = false;     ///< one of the blocks kept cached between runs
  double load_ms = 0.0;      ///< leasing it (reads included)
  double wait_ms = 0.0;      ///< how long the run waited for it
  double compute_ms = 0.0;
  uint64_t held_bytes = 0;   ///< the run's resident bytes when the block started
  uint64_t budget_bytes = 0; ///< the run's budget when the block started
  uint32_t ahead = 0;        ///< blocks already loaded beyond this one when it started
};

struct stream_stats {
  std::vector<stream_block_stats> blocks; ///< in run order
  uint64_t bytes_read = 0;
  uint64_t copies = 0;
  uint64_t bytes_copied = 0;
  uint64_t peak_held_bytes = 0;
  /// Blocks loaded although they did not fit the budget: the run was waiting
  /// for them and held nothing else it could let go (a budget under pressure).
  uint32_t forced_blocks = 0;
  /// Prefetched blocks given back unrun because the budget shrank.
  uint32_t trimmed_blocks = 0;
  /// Bytes of the blocks the run keeps cached for the next one (0 once the
  /// budget shrank below what keeping them needs).
  uint64_t retained_bytes = 0;
  double wait_ms = 0.0;
  double elapsed_ms = 0.0;
  backend::run_stats run;
};

/// A model prepared for streaming: validated, skeletons compiled, no blob
/// resident. Its budget may change at any time, also while it runs.
class streamed_model {
public:
  virtual ~streamed_model() = default;
  virtual const model_manifest& manifest() const = 0;
  /// Distinct parameter bytes of the whole model.
  virtual uint64_t model_bytes() const = 0;
  /// The largest block, by name and bytes: the least budget it runs in.
  virtual const std::string& largest_block() const = 0;
  virtual uint64_t largest_block_bytes() const = 0;
  /// Sets the model's own budget (stream_options::budget_bytes). Running
  /// streams adopt it before their next block: a lower one trims prefetched
  /// blocks and shrinks the window. Fails for a budget below the largest block.
  virtual caf::error set_budget(uint64_t bytes) = 0;
  virtual uint64_t budget() const = 0;
  /// Bytes the model's running streams hold or are reading right now.
  virtual uint64_t held_bytes() const = 0;
};

/// Called on the running thread after each block: its position and the count.
using stream_step_callback = std::function<void(uint32_t step, uint32_t steps)>;

class streaming_executor {
public:
  virtual ~streaming_executor() = default;

  /// Validates the manifest and compiles its skeletons; reads no blob. Refuses
  /// a model whose largest block does not fit its budget, the executor's, or
  /// the residency manager's (ec::out_of_memory naming the block and its bytes).
  virtual caf::expected<std::shared_ptr<streamed_model>>
  prepare(const model_manifest& m, const stream_options& opts = {}) = 0;

  /// Runs the nodes that the chosen outputs need, block by block; outputs come
  /// in the order asked. Waits while concurrent streams leave too little
  /// budget for this model's largest block.
  virtual caf::expected<std::vector<tensor_buffer>>
  run_outputs(streamed_model& model, const std::vector<tensor_buffer>& inputs,
              const std::vector<uint32_t>& outputs, stream_stats* stats = nullptr,
              stream_step_callback on_step = {}) = 0;

  /// Runs every output.
  caf::expected<std::vector<tensor_buffer>> run(streamed_model& model,
                                                const std::vector<tensor_buffer>& inputs,
                                                stream_stats* stats = nullptr,
                                                stream_step_callback on_step = {}) {
    std::vector<uint32_t> all(model.manifest().outputs.size());
    for (uint32_t i = 0; i < all.size(); ++i)
      all[i] = i;
    return run_outputs(model, inputs, all, stats, std::move(on_step));
  }

  /// The budget that all streams of this executor share.
  virtual uint64_t budget_bytes() const = 0;
  virtual void set_budget_bytes(uint64_t bytes) = 0;

  /// What the device's other users (models held resident) leave to streams
  /// right now; shares are split from the lower of it and budget_bytes().
  /// Unlimited until set. Unlike the budget, it does not make prepare()
  /// refuse a model: a run that cannot get its largest block fails instead.
  virtual void set_room_bytes(uint64_t bytes) = 0;

  /// Bytes that every stream of this executor has leased or is reading right
  /// now (blocks kept for the next run count once they are leased again).
  virtual uint64_t leased_bytes() const = 0;

  /// A memory-pressure signal (the executor actor forwards the monitor's):
  /// running streams shrink their windows at once, to half their share at
  /// `high` and to one block at a time at `critical`; `normal` and `low`
  /// restore them. Requests keep running.
  virtual void on_memory_pressure(pressure_level level) = 0;
};

/// Makes a streaming executor whose runs lease blocks from `residency`;
/// `budget_bytes` (0: the residency manager's device budget) is shared by its
/// concurrent streams. `residency` and `skeletons` must outlive it.
caf::expected<std::unique_ptr<streaming_executor>>
make_streaming_executor(const torch_options& opts, residency::residency_manager& residency,
                        const store::skeleton_store& skeletons, uint64_t budget_bytes = 0);

} // namespace tessera::torch_backend

#include "tessera/cuda/block_pipeline.hpp"

#include "tessera/core/error.hpp"

#include <optional>
#include <vector>

namespace tessera::cuda {

namespace {

/// The pipeline's bookkeeping: which blocks are resident and which events
/// stand behind their copies and their compute.
class pipeline_run {
public:
  pipeline_run(copy_engine& engine, size_t blocks, const block_steps& steps)
      : engine_(engine), steps_(steps), copied_(blocks), computed_(blocks) {
    // nop
  }

  /// Brings in block `next_`, first retiring the block whose memory it takes.
  caf::error admit(size_t window) {
    if (next_ >= window)
      if (auto err = retire(next_ - window))
        return err;
    auto failed = steps_.transfer(next_);
    // Recorded even after a failure: copies enqueued before it may still run,
    // and drain() must wait for them before the block's memory is released.
    auto e = engine_.record_copy_event();
    if (e)
      copied_[next_] = *e;
    ++next_;
    if (failed)
      return wrap(failed, "block " + std::to_string(next_ - 1) + ": transfer");
    if (!e)
      return e.error();
    figures_.max_resident_blocks = std::max(figures_.max_resident_blocks, next_ - retired_);
    return {};
  }

  caf::error compute(size_t k) {
    if (auto err = engine_.compute_waits_for(*copied_[k]))
      return err;
    // The compute stream captured the event's state; the id can go back now.
    engine_.release(*copied_[k]);
    copied_[k].reset();
    auto failed = steps_.compute(k);
    // As for transfers: work enqueued before a failure is waited for on retire.
    auto e = engine_.record_compute_event();
    if (e)
      computed_[k] = *e;
    if (failed)
      return wrap(failed, "block " + std::to_string(k) + ": compute");
    if (!e)
      return e.error();
    return {};
  }

  /// Waits for block k's compute (if it was enqueued) and releases the block.
  caf::error retire(size_t k) {
    caf::error err;
    if (computed_[k]) {
      auto done = engine_.completed(*computed_[k]);
      if (done && !*done) {
        ++figures_.compute_waits;
        err = engine_.host_wait(*computed_[k]);
      } else if (!done) {
        err = done.error();
      }
      engine_.release(*computed_[k]);
      computed_[k].reset();
    } else if (copied_[k]) {
      // Transferred but never computed (an error stopped the run): its copies
      // may still be writing the block's memory.
      err = engine_.host_wait(*copied_[k]);
      engine_.release(*copied_[k]);
      copied_[k].reset();
    }
    if (steps_.release)
      steps_.release(k);
    retired_ = k + 1;
    return err;
  }

  /// Retires every block still resident, keeping the first error.
  caf::error drain(caf::error first) {
    for (size_t k = retired_; k < next_; ++k)
      if (auto err = retire(k); err && !first)
        first = std::move(err);
    return first;
  }

  size_t next() const {
    return next_;
  }

  const block_pipeline_figures& figures() const {
    return figures_;
  }

private:
  copy_engine& engine_;
  const block_steps& steps_;
  std::vector<std::optional<copy_event>> copied_;
  std::vector<std::optional<copy_event>> computed_;
  size_t next_ = 0;    ///< the next block to transfer
  size_t retired_ = 0; ///< blocks below this one are released
  block_pipeline_figures figures_;
};

} // namespace

caf::expected<block_pipeline_figures> run_block_pipeline(copy_engine& engine, size_t blocks,
                                                         size_t window, const block_steps& steps) {
  if (window == 0 || !steps.transfer || !steps.compute)
    return make_error(ec::invalid_argument,
                      "block pipeline: needs window >= 1, transfer and compute");
  pipeline_run run{engine, blocks, steps};
  for (size_t k = 0; k < blocks; ++k) {
    // On demand: block k must be in flight before it can compute.
    while (run.next() <= k)
      if (auto err = run.admit(window))
        return run.drain(std::move(err));
    if (auto err = run.compute(k))
      return run.drain(std::move(err));
    // Prefetch: the next blocks transfer while block k computes.
    while (run.next() < blocks && run.next() < k + window)
      if (auto err = run.admit(window))
        return run.drain(std::move(err));
  }
  if (auto err = run.drain({}))
    return err;
  return run.figures();
}

} // namespace tessera::cuda

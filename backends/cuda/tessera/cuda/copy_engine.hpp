// The two queues that overlapped host-to-device copies are ordered on: a copy
// stream and a compute stream, joined by events. The CUDA engine maps them to a
// cudaStream_t pair and cudaEvent_t; tests use a fake that records the order and
// runs queued work lazily, so the pipelines' ordering logic runs on a CPU.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace tessera::cuda {

/// An event recorded on one of the engine's streams. It completes when every
/// operation enqueued on that stream before it has completed.
using copy_event = uint64_t;

class copy_engine {
public:
  virtual ~copy_engine() = default;

  /// Names the engine in errors and reports ("cuda:0 copy stream", "fake").
  virtual std::string name() const = 0;

  /// Enqueues an asynchronous copy of `bytes` from host `src` to device `dst`
  /// on the copy stream. `src` must stay untouched until an event recorded
  /// after this copy has completed.
  virtual caf::error enqueue_copy(std::byte* dst, const std::byte* src, size_t bytes) = 0;

  /// Records an event on the copy stream, after every copy enqueued so far.
  virtual caf::expected<copy_event> record_copy_event() = 0;

  /// Records an event on the compute stream, after the work enqueued so far.
  virtual caf::expected<copy_event> record_compute_event() = 0;

  /// Makes the compute stream wait for `e` without blocking the host: work
  /// enqueued on the compute stream afterwards runs only once `e` completed.
  virtual caf::error compute_waits_for(copy_event e) = 0;

  /// Blocks the host until `e` has completed.
  virtual caf::error host_wait(copy_event e) = 0;

  /// True when `e` has completed; never blocks.
  virtual caf::expected<bool> completed(copy_event e) = 0;

  /// Gives the event back for reuse; `e` must not be used afterwards.
  virtual void release(copy_event e) = 0;

  /// The compute stream as the runtime knows it (a cudaStream_t), so a CUDA
  /// LibTorch can launch a block's kernels on it; nullptr where there is none.
  virtual void* native_compute_stream() const {
    return nullptr;
  }
};

/// A copy engine on GPU `device`: a non-blocking copy stream and a compute
/// stream of its own, and a pool of timing-free events. Not thread-safe: one
/// pipeline drives it. Fails with ec::unsupported in a build without CUDA and
/// where there is no driver or no such GPU.
caf::expected<std::unique_ptr<copy_engine>> make_cuda_copy_engine(int device);

} // namespace tessera::cuda

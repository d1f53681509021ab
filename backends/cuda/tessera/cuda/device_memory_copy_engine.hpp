// The copy engine where there is no CUDA stream to drive: copies go through a
// backend::device_memory (copy_from_host, then synchronize), so the staged copy
// path runs unchanged on the CPU arena and on any device that only offers that
// interface. Events are sequence numbers; waiting on one synchronizes the
// device, which covers every copy this thread enqueued. There is no compute
// stream: compute runs on the host, in order, so compute events are complete
// when recorded.
#pragma once

#include "tessera/backend/device_memory.hpp"
#include "tessera/cuda/copy_engine.hpp"

#include <memory>

namespace tessera::cuda {

/// A copy engine over `device`, which must outlive it. Like every engine, one
/// pipeline (one thread) drives it.
std::unique_ptr<copy_engine> make_device_memory_copy_engine(backend::device_memory& device);

} // namespace tessera::cuda

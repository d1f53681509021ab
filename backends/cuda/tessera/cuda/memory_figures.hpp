// Device memory as three parties count it: Tessera (the bytes its blobs hold),
// the caching allocator under it (what it keeps from the driver), and the
// driver (cudaMemGetInfo, all processes). The monitor actor samples these at
// watermarks and `tessera status` prints them; on a CPU the arena is the device
// and only Tessera's count exists.
#pragma once

#include "tessera/backend/device_memory.hpp"
#include "tessera/cuda/caching_device_memory.hpp"

#include <functional>
#include <optional>
#include <string>

namespace tessera::cuda {

/// LibTorch's CUDA caching allocator, where a CUDA LibTorch is linked:
/// c10::cuda::CUDACachingAllocator's "allocated" and "reserved" bytes.
struct framework_allocator_figures {
  uint64_t allocated_bytes = 0;
  uint64_t reserved_bytes = 0;
};

/// Reads the framework's allocator, or nothing where there is none. backends/torch
/// provides one when it is built against a CUDA LibTorch.
using framework_probe = std::function<std::optional<framework_allocator_figures>()>;

struct device_memory_figures {
  std::string device;                         ///< "cpu", "cuda:0"
  uint64_t tessera_live_bytes = 0;            ///< device_memory::allocated_bytes()
  std::optional<allocator_figures> allocator; ///< the caching allocator (GPU only)
  std::optional<driver_memory> driver;        ///< cudaMemGetInfo (GPU only)
  std::optional<framework_allocator_figures> framework;
  /// Why a view is missing ("CPU arena: no driver"), or a driver error.
  std::string note;
};

/// Samples `device`: its own count always; the allocator's and the driver's
/// where it is caching GPU memory; the framework's where `framework` answers.
device_memory_figures sample_device_memory(backend::device_memory& device,
                                           const framework_probe& framework = {});

/// The figures as `key value` lines for people, one view per line.
std::string describe(const device_memory_figures& f);

} // namespace tessera::cuda

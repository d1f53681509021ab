// What the CUDA runtime says about this machine's GPUs, and the choices that
// follow from it. A machine with the toolkit but no driver or no GPU (CI) gets
// an empty list and the runtime's reason, never a crash. On a unified-memory
// GPU (Jetson: `integrated`), blobs are used in place by default, as on a CPU.
#pragma once

#include "tessera/core/node_config.hpp"
#include "tessera/cuda/device_runtime.hpp"

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace tessera::cuda {

/// One GPU, from cudaGetDeviceProperties.
struct gpu_info {
  int index = 0;
  std::string name;
  uint64_t total_bytes = 0;
  int compute_major = 0;
  int compute_minor = 0;
  /// The GPU shares the host's DRAM (Jetson, other SoCs): cudaDevAttrIntegrated.
  bool integrated = false;
  /// Kernels can read pageable host memory (an mmap'd blob) without registering
  /// it: cudaDevAttrPageableMemoryAccess.
  bool pageable_memory_access = false;
  /// ... through the host's page tables (ATS, coherent links): no migration.
  bool pageable_uses_host_page_tables = false;
  /// cudaHostRegister'ed host memory can be mapped into the device's space.
  bool can_map_host_memory = false;
  /// Copy engines that run beside compute (0: copies and kernels serialize).
  int async_engines = 0;
};

/// The runtime's answer, whatever it was.
struct cuda_inventory {
  bool built_with_cuda = false;
  int runtime_version = 0; ///< 13000 for CUDA 13.0; 0 when unknown
  int driver_version = 0;  ///< 0 when no driver is loaded
  std::vector<gpu_info> gpus;
  /// Why `gpus` is empty ("no CUDA driver", "built without CUDA"); empty otherwise.
  std::string reason;
};

/// True when this build compiled the CUDA runtime parts (TESSERA_CUDA).
bool built_with_cuda();

/// Asks the runtime for its GPUs. Never fails: no driver, no GPU and a build
/// without CUDA all give an empty list with a reason.
cuda_inventory probe_cuda();

/// The driver's free and total bytes of GPU `device` (cudaMemGetInfo; creates
/// the device's context if this process has none).
caf::expected<driver_memory> read_driver_memory(int device);

/// True when the GPU shares physical memory with the host, so copying a blob
/// into "device" memory would only duplicate it (SwapNet's advice on Jetson).
bool unified_memory(const gpu_info& gpu);

/// The load mode a node on this GPU uses unless configured otherwise:
/// in place on unified memory, copy (through pinned staging) on a discrete GPU.
load_mode default_load_mode(const gpu_info& gpu);

/// The GPU index of a device string: "cuda" is 0, "cuda:N" is N. Fails with
/// ec::bad_config for anything else ("cpu" included).
caf::expected<int> cuda_device_index(const std::string& device);

} // namespace tessera::cuda

// The runtime half of cuda_devices.hpp: device count, properties and the
// driver's memory figures, each failure turned into a reason.
#include "tessera/cuda/cuda_devices.hpp"

#include "cuda_status.hpp"

namespace tessera::cuda {

bool built_with_cuda() {
  return true;
}

cuda_inventory probe_cuda() {
  cuda_inventory inv;
  inv.built_with_cuda = true;
  (void)cudaRuntimeGetVersion(&inv.runtime_version);
  // 0 when no driver is installed; the call itself succeeds then.
  (void)cudaDriverGetVersion(&inv.driver_version);
  int count = 0;
  if (auto err = cuda_error(cudaGetDeviceCount(&count), "cudaGetDeviceCount")) {
    inv.reason = tessera::describe(err);
    return inv;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (auto err = cuda_error(cudaGetDeviceProperties(&prop, i), "cudaGetDeviceProperties")) {
      inv.reason = tessera::describe(err);
      continue;
    }
    gpu_info g;
    g.index = i;
    g.name = prop.name;
    g.total_bytes = prop.totalGlobalMem;
    g.compute_major = prop.major;
    g.compute_minor = prop.minor;
    g.integrated = prop.integrated != 0;
    g.pageable_memory_access = prop.pageableMemoryAccess != 0;
    g.pageable_uses_host_page_tables = prop.pageableMemoryAccessUsesHostPageTables != 0;
    g.can_map_host_memory = prop.canMapHostMemory != 0;
    g.async_engines = prop.asyncEngineCount;
    inv.gpus.push_back(std::move(g));
  }
  if (inv.gpus.empty() && inv.reason.empty())
    inv.reason = "the CUDA runtime reports no GPU";
  return inv;
}

caf::expected<driver_memory> read_driver_memory(int device) {
  if (auto err = use_cuda_device(device))
    return err;
  size_t free_bytes = 0;
  size_t total_bytes = 0;
  if (auto err = cuda_error(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo"))
    return err;
  return driver_memory{free_bytes, total_bytes};
}

} // namespace tessera::cuda

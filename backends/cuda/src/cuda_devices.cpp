// The CUDA-free half of cuda_devices.hpp: decisions on a gpu_info and device
// strings. The runtime queries live in src/runtime (or runtime_absent.cpp).
#include "tessera/cuda/cuda_devices.hpp"

#include "tessera/core/error.hpp"

#include <cctype>

namespace tessera::cuda {

bool unified_memory(const gpu_info& gpu) {
  // Integrated GPUs use the host's DRAM; in-place use needs kernels to reach a
  // mapped file, either directly or after cudaHostRegister maps it.
  return gpu.integrated && (gpu.pageable_memory_access || gpu.can_map_host_memory);
}

load_mode default_load_mode(const gpu_info& gpu) {
  // A discrete GPU that can read pageable memory (HMM, ATS) still reads it over
  // the bus at a fraction of its own memory's bandwidth: copy there.
  return unified_memory(gpu) ? load_mode::in_place : load_mode::copy;
}

caf::expected<int> cuda_device_index(const std::string& device) {
  if (device == "cuda")
    return 0;
  const std::string prefix = "cuda:";
  auto bad = [&] {
    return make_error(ec::bad_config, "device \"" + device + "\": expected cuda or cuda:N");
  };
  if (device.compare(0, prefix.size(), prefix) != 0 || device.size() == prefix.size() ||
      device.size() > prefix.size() + 4)
    return bad();
  int index = 0;
  for (size_t i = prefix.size(); i < device.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(device[i])))
      return bad();
    index = index * 10 + (device[i] - '0');
  }
  return index;
}

} // namespace tessera::cuda

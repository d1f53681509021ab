// A build without the CUDA toolkit (TESSERA_CUDA=OFF, or AUTO where none was
// found): every runtime entry point answers that this build has no CUDA, so
// callers need no #ifdefs and a configured `device = "cuda:0"` fails clearly.
#include "tessera/core/error.hpp"
#include "tessera/cuda/copy_engine.hpp"
#include "tessera/cuda/cuda_devices.hpp"
#include "tessera/cuda/device_runtime.hpp"
#include "tessera/cuda/h2d_baseline.hpp"
#include "tessera/cuda/host_allocator.hpp"

namespace tessera::cuda {

namespace {

constexpr const char* no_cuda = "this build has no CUDA (configured with TESSERA_CUDA=OFF, or no "
                                "CUDA toolkit was found; see docs/cuda.md)";

caf::error not_built(const std::string& what) {
  return make_error(ec::unsupported, what + ": " + no_cuda);
}

} // namespace

bool built_with_cuda() {
  return false;
}

cuda_inventory probe_cuda() {
  cuda_inventory inv;
  inv.reason = no_cuda;
  return inv;
}

caf::expected<driver_memory> read_driver_memory(int device) {
  return not_built("cuda:" + std::to_string(device));
}

caf::expected<std::unique_ptr<host_allocator>> make_pinned_host_allocator() {
  return not_built("pinned host memory");
}

caf::expected<std::unique_ptr<device_runtime>> make_cuda_device_runtime(int device) {
  return not_built("cuda:" + std::to_string(device));
}

caf::expected<std::unique_ptr<copy_engine>> make_cuda_copy_engine(int device) {
  return not_built("cuda:" + std::to_string(device) + " copy engine");
}

caf::expected<double> pinned_memcpy_bytes_per_s(int device, size_t, uint32_t) {
  return not_built("cuda:" + std::to_string(device) + " memcpy");
}

} // namespace tessera::cuda

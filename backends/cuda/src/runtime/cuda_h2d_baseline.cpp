#include "tessera/cuda/h2d_baseline.hpp"

#include "cuda_status.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

namespace tessera::cuda {

caf::expected<double> pinned_memcpy_bytes_per_s(int device, size_t bytes, uint32_t repeat) {
  if (auto err = use_cuda_device(device))
    return err;
  void* host = nullptr;
  void* dev = nullptr;
  if (auto err = cuda_error(cudaHostAlloc(&host, bytes, cudaHostAllocDefault), "cudaHostAlloc"))
    return err;
  if (auto err = cuda_error(cudaMalloc(&dev, bytes), "cudaMalloc")) {
    cudaFreeHost(host);
    return err;
  }
  std::memset(host, 0x5a, bytes);
  std::vector<double> rates;
  caf::error failed;
  for (uint32_t i = 0; i <= std::max<uint32_t>(repeat, 1) && !failed; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    failed = cuda_error(cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
    std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    if (i > 0 && dt.count() > 0) // run 0 warms the path up
      rates.push_back(static_cast<double>(bytes) / dt.count());
  }
  cudaFree(dev);
  cudaFreeHost(host);
  if (failed)
    return failed;
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

} // namespace tessera::cuda

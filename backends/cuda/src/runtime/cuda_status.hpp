// Turns CUDA runtime status codes into Tessera errors, in one place: a missing
// driver or GPU is `unsupported` (the build or machine lacks it), an allocation
// failure `out_of_memory`, anything else `backend_error`. Private to backends/cuda.
#pragma once

#include "tessera/core/error.hpp"

#include <cuda_runtime_api.h>

#include <string>

namespace tessera::cuda {

inline caf::error cuda_error(cudaError_t status, const std::string& what) {
  if (status == cudaSuccess)
    return {};
  // Clear the sticky "last error" so later calls do not report it again.
  (void)cudaGetLastError();
  ec code = ec::backend_error;
  switch (status) {
  case cudaErrorMemoryAllocation:
    code = ec::out_of_memory;
    break;
  case cudaErrorNoDevice:
  case cudaErrorInsufficientDriver:
  case cudaErrorInvalidDevice:
  case cudaErrorDevicesUnavailable:
    code = ec::unsupported;
    break;
  default:
    break;
  }
  return make_error(code, what + ": " + cudaGetErrorName(status) + " (" +
                              cudaGetErrorString(status) + ")");
}

/// Makes `device` current on this thread, after checking that it exists.
inline caf::error use_cuda_device(int device) {
  int count = 0;
  if (auto err = cuda_error(cudaGetDeviceCount(&count), "cudaGetDeviceCount"))
    return err;
  if (device < 0 || device >= count)
    return make_error(ec::unsupported, "cuda:" + std::to_string(device) + ": this machine has " +
                                           std::to_string(count) + " GPU(s)");
  return cuda_error(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
}

} // namespace tessera::cuda

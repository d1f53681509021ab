// device_runtime on the CUDA runtime: cudaMalloc (managed memory on unified
// memory) and cudaFree, copies on the calling thread's default stream
// (cudaStreamPerThread, so synchronize() waits for this thread's copies only,
// as device_memory promises), and cudaMemGetInfo.
#include "tessera/cuda/cuda_devices.hpp"
#include "tessera/cuda/device_runtime.hpp"

#include "cuda_status.hpp"

namespace tessera::cuda {

namespace {

class cuda_device_runtime final : public device_runtime {
public:
  cuda_device_runtime(int device, bool host_accessible)
      : device_(device), host_accessible_(host_accessible) {
    // nop
  }

  std::string name() const override {
    return "cuda:" + std::to_string(device_);
  }

  bool host_accessible() const override {
    return host_accessible_;
  }

  caf::expected<std::byte*> allocate(size_t bytes) override {
    if (auto err = current())
      return err;
    void* p = nullptr;
    // On unified memory the host writes blobs straight into "device" memory
    // (host_accessible), so it must be managed memory, not cudaMalloc's.
    auto status = host_accessible_ ? cudaMallocManaged(&p, bytes, cudaMemAttachGlobal)
                                   : cudaMalloc(&p, bytes);
    if (auto err = cuda_error(
            status, name() + (host_accessible_ ? ": cudaMallocManaged(" : ": cudaMalloc(") +
                        std::to_string(bytes) + ")"))
      return err;
    return static_cast<std::byte*>(p);
  }

  void deallocate(std::byte* data) override {
    if (!current())
      (void)cuda_error(cudaFree(data), name() + ": cudaFree");
  }

  caf::error copy_from_host(std::byte* dst, const std::byte* src, size_t bytes) override {
    if (auto err = current())
      return err;
    return cuda_error(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cudaStreamPerThread),
                      name() + ": cudaMemcpyAsync");
  }

  caf::error copy_to_host(std::byte* dst, const std::byte* src, size_t bytes) override {
    if (auto err = current())
      return err;
    return cuda_error(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), name() + ": cudaMemcpy");
  }

  caf::error synchronize() override {
    if (auto err = current())
      return err;
    return cuda_error(cudaStreamSynchronize(cudaStreamPerThread),
                      name() + ": cudaStreamSynchronize");
  }

  caf::expected<driver_memory> memory_info() override {
    return read_driver_memory(device_);
  }

private:
  /// The current device is per thread; I/O threads may never have set it.
  caf::error current() const {
    return cuda_error(cudaSetDevice(device_), name() + ": cudaSetDevice");
  }

  int device_;
  bool host_accessible_;
};

} // namespace

caf::expected<std::unique_ptr<device_runtime>> make_cuda_device_runtime(int device) {
  auto inv = probe_cuda();
  for (const auto& g : inv.gpus)
    if (g.index == device)
      return std::unique_ptr<device_runtime>{
          std::make_unique<cuda_device_runtime>(device, unified_memory(g))};
  return make_error(ec::unsupported, "cuda:" + std::to_string(device) + ": " +
                                         (inv.reason.empty() ? "no such GPU" : inv.reason));
}

} // namespace tessera::cuda

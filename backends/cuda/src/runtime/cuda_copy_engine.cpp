// copy_engine on CUDA: a non-blocking copy stream for host-to-device copies, a
// compute stream, and a free list of events created with timing disabled (the
// cheapest kind to record and wait on). Event ids index the pool.
#include "tessera/cuda/copy_engine.hpp"

#include "cuda_status.hpp"

#include <vector>

namespace tessera::cuda {

namespace {

class cuda_copy_engine final : public copy_engine {
public:
  explicit cuda_copy_engine(int device) : device_(device) {
    // nop
  }

  ~cuda_copy_engine() override {
    (void)cudaSetDevice(device_);
    for (auto e : events_)
      (void)cudaEventDestroy(e);
    if (copy_stream_ != nullptr)
      (void)cudaStreamDestroy(copy_stream_);
    if (compute_stream_ != nullptr)
      (void)cudaStreamDestroy(compute_stream_);
  }

  caf::error start() {
    if (auto err = use_cuda_device(device_))
      return err;
    // Non-blocking: neither stream syncs with the legacy default stream.
    if (auto err = cuda_error(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking),
                              name() + ": cudaStreamCreateWithFlags"))
      return err;
    return cuda_error(cudaStreamCreateWithFlags(&compute_stream_, cudaStreamNonBlocking),
                      name() + ": cudaStreamCreateWithFlags");
  }

  std::string name() const override {
    return "cuda:" + std::to_string(device_) + " copy engine";
  }

  caf::error enqueue_copy(std::byte* dst, const std::byte* src, size_t bytes) override {
    if (auto err = current())
      return err;
    return cuda_error(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, copy_stream_),
                      name() + ": cudaMemcpyAsync");
  }

  caf::expected<copy_event> record_copy_event() override {
    return record_on(copy_stream_);
  }

  caf::expected<copy_event> record_compute_event() override {
    return record_on(compute_stream_);
  }

  caf::error compute_waits_for(copy_event e) override {
    if (auto err = check(e))
      return err;
    return cuda_error(cudaStreamWaitEvent(compute_stream_, events_[e], 0),
                      name() + ": cudaStreamWaitEvent");
  }

  caf::error host_wait(copy_event e) override {
    if (auto err = check(e))
      return err;
    return cuda_error(cudaEventSynchronize(events_[e]), name() + ": cudaEventSynchronize");
  }

  caf::expected<bool> completed(copy_event e) override {
    if (auto err = check(e))
      return err;
    auto status = cudaEventQuery(events_[e]);
    if (status == cudaErrorNotReady)
      return false;
    if (auto err = cuda_error(status, name() + ": cudaEventQuery"))
      return err;
    return true;
  }

  void release(copy_event e) override {
    if (e < events_.size())
      free_.push_back(e);
  }

  void* native_compute_stream() const override {
    return compute_stream_;
  }

private:
  caf::error current() const {
    return cuda_error(cudaSetDevice(device_), name() + ": cudaSetDevice");
  }

  caf::error check(copy_event e) const {
    if (e >= events_.size())
      return make_error(ec::invalid_argument, name() + ": unknown event " + std::to_string(e));
    return current();
  }

  caf::expected<copy_event> record_on(cudaStream_t stream) {
    if (auto err = current())
      return err;
    copy_event id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
    } else {
      cudaEvent_t ev = nullptr;
      if (auto err = cuda_error(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming),
                                name() + ": cudaEventCreateWithFlags"))
        return err;
      id = events_.size();
      events_.push_back(ev);
    }
    if (auto err = cuda_error(cudaEventRecord(events_[id], stream), name() + ": cudaEventRecord")) {
      free_.push_back(id);
      return err;
    }
    return id;
  }

  int device_;
  cudaStream_t copy_stream_ = nullptr;
  cudaStream_t compute_stream_ = nullptr;
  std::vector<cudaEvent_t> events_;
  std::vector<copy_event> free_;
};

} // namespace

caf::expected<std::unique_ptr<copy_engine>> make_cuda_copy_engine(int device) {
  auto engine = std::make_unique<cuda_copy_engine>(device);
  if (auto err = engine->start())
    return err;
  return std::unique_ptr<copy_engine>{std::move(engine)};
}

} // namespace tessera::cuda

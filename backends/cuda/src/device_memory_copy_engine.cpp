#include "tessera/cuda/device_memory_copy_engine.hpp"

#include "tessera/core/error.hpp"

namespace tessera::cuda {

namespace {

// Compute events carry this bit: host compute has run when it is recorded.
constexpr copy_event compute_bit = copy_event{1} << 63;

class device_memory_copy_engine final : public copy_engine {
public:
  explicit device_memory_copy_engine(backend::device_memory& device) : device_(device) {
    // nop
  }

  std::string name() const override {
    return device_.name() + " copies";
  }

  caf::error enqueue_copy(std::byte* dst, const std::byte* src, size_t bytes) override {
    return device_.copy_from_host(dst, src, bytes);
  }

  caf::expected<copy_event> record_copy_event() override {
    return ++recorded_;
  }

  caf::expected<copy_event> record_compute_event() override {
    return compute_bit | ++computes_;
  }

  caf::error compute_waits_for(copy_event e) override {
    // Host compute runs after the host waited; make it so.
    return host_wait(e);
  }

  caf::error host_wait(copy_event e) override {
    if (completed_now(e))
      return {};
    // One synchronize covers every copy enqueued so far, so every event
    // recorded so far is complete afterwards.
    auto upto = recorded_;
    if (auto err = device_.synchronize())
      return err;
    synchronized_ = upto;
    return {};
  }

  caf::expected<bool> completed(copy_event e) override {
    return completed_now(e);
  }

  void release(copy_event) override {
    // nop: events are plain numbers
  }

private:
  bool completed_now(copy_event e) const {
    return (e & compute_bit) != 0 || e <= synchronized_;
  }

  backend::device_memory& device_;
  copy_event recorded_ = 0;
  copy_event synchronized_ = 0;
  copy_event computes_ = 0;
};

} // namespace

std::unique_ptr<copy_engine> make_device_memory_copy_engine(backend::device_memory& device) {
  return std::make_unique<device_memory_copy_engine>(device);
}

} // namespace tessera::cuda

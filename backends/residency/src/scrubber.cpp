#include "tessera/residency/scrubber.hpp"

#include <algorithm>
#include <chrono>

namespace tessera::residency {

scrubber::scrubber(residency_manager& mgr, uint64_t bytes_per_s)
    : mgr_(mgr), bytes_per_s_(bytes_per_s) {
  if (bytes_per_s_ > 0)
    thread_ = std::thread{[this] { loop(); }};
}

scrubber::~scrubber() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void scrubber::loop() {
  using namespace std::chrono;
  constexpr auto step = milliseconds(100);
  auto budget = std::max<uint64_t>(1, bytes_per_s_ / 10);
  std::unique_lock<std::mutex> lock{mtx_};
  while (!stop_) {
    lock.unlock();
    auto start = steady_clock::now();
    auto hashed = mgr_.scrub(budget);
    lock.lock();
    // A step that hashed more than its share (one large blob) waits longer,
    // so the rate holds on average.
    auto wait = hashed > budget
                    ? duration_cast<milliseconds>(step * (static_cast<double>(hashed) / budget))
                    : duration_cast<milliseconds>(step);
    cv_.wait_until(lock, start + wait, [this] { return stop_; });
  }
}

} // namespace tessera::residency

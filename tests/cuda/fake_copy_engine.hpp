// A copy engine for tests on a CPU: two in-order queues (copy and compute)
// that run only when something waits on them, or at random when asked to. A
// copy's bytes are taken when it *runs*, not when it is enqueued, and compared
// with a snapshot taken at enqueue: a staging buffer written again before its
// copy ran is caught there, and its wrong bytes also reach the destination.
#pragma once

#include "tessera/core/error.hpp"
#include "tessera/cuda/copy_engine.hpp"

#include <cstring>
#include <deque>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace tessera::test {

class fake_copy_engine final : public cuda::copy_engine {
public:
  /// `progress` is the chance that, after any call, queued work runs a step by
  /// itself (the device making progress behind the host's back). 0: fully lazy.
  explicit fake_copy_engine(double progress = 0.0, uint32_t seed = 1)
      : progress_(progress), rng_(seed) {
    // nop
  }

  std::string name() const override {
    return "fake";
  }

  caf::error enqueue_copy(std::byte* dst, const std::byte* src, size_t bytes) override {
    op o;
    o.kind = op::copy;
    o.dst = dst;
    o.src = src;
    o.snapshot.assign(src, src + bytes);
    copy_.push_back(std::move(o));
    ++pending_copies_;
    max_pending_copies_ = std::max(max_pending_copies_, pending_copies_);
    log_.push_back("copy");
    wander();
    return {};
  }

  caf::expected<cuda::copy_event> record_copy_event() override {
    return record(copy_, "record copy");
  }

  caf::expected<cuda::copy_event> record_compute_event() override {
    return record(compute_, "record compute");
  }

  caf::error compute_waits_for(cuda::copy_event e) override {
    op o;
    o.kind = op::wait;
    o.event = e;
    compute_.push_back(std::move(o));
    log_.push_back("compute waits " + std::to_string(e));
    wander();
    return {};
  }

  caf::error host_wait(cuda::copy_event e) override {
    log_.push_back("host waits " + std::to_string(e));
    ++host_waits_;
    while (done_.count(e) == 0)
      if (!step(copy_) && !step(compute_))
        return make_error(ec::backend_error,
                          "fake: event " + std::to_string(e) + " can never complete");
    return {};
  }

  caf::expected<bool> completed(cuda::copy_event e) override {
    return done_.count(e) > 0;
  }

  void release(cuda::copy_event e) override {
    released_.insert(e);
  }

  /// Enqueues compute work on the compute stream (what LibTorch would launch).
  void enqueue_compute(std::string label, std::function<void()> work) {
    op o;
    o.kind = op::compute;
    o.work = std::move(work);
    compute_.push_back(std::move(o));
    log_.push_back("compute " + label);
    wander();
  }

  /// Copies that ran after their source bytes had changed since enqueue.
  size_t clobbered_sources() const {
    return clobbered_;
  }

  size_t max_pending_copies() const {
    return max_pending_copies_;
  }

  size_t host_waits() const {
    return host_waits_;
  }

  size_t events_recorded() const {
    return next_event_;
  }

  size_t events_released() const {
    return released_.size();
  }

  /// Calls in the order the host made them ("copy", "record copy", ...).
  const std::vector<std::string>& log() const {
    return log_;
  }

  /// Runs everything queued; false if the queues deadlock.
  bool drain() {
    while (!copy_.empty() || !compute_.empty())
      if (!step(copy_) && !step(compute_))
        return false;
    return true;
  }

private:
  struct op {
    enum kind_t { copy, record, wait, compute } kind = copy;
    std::byte* dst = nullptr;
    const std::byte* src = nullptr;
    std::vector<std::byte> snapshot;
    cuda::copy_event event = 0;
    std::function<void()> work;
  };

  caf::expected<cuda::copy_event> record(std::deque<op>& q, const char* what) {
    op o;
    o.kind = op::record;
    o.event = next_event_++;
    q.push_back(o);
    log_.push_back(std::string{what} + " " + std::to_string(o.event));
    wander();
    return o.event;
  }

  /// Runs the head of `q` if it can run; false when it is empty or waiting.
  bool step(std::deque<op>& q) {
    if (q.empty())
      return false;
    auto& o = q.front();
    switch (o.kind) {
    case op::copy:
      if (std::memcmp(o.src, o.snapshot.data(), o.snapshot.size()) != 0)
        ++clobbered_;
      std::memcpy(o.dst, o.src, o.snapshot.size());
      --pending_copies_;
      break;
    case op::record:
      done_.insert(o.event);
      break;
    case op::wait:
      if (done_.count(o.event) == 0)
        return false;
      break;
    case op::compute:
      o.work();
      break;
    }
    q.pop_front();
    return true;
  }

  /// Lets the device run a step now and then, if the test asked for that.
  void wander() {
    if (progress_ >= 1.0) { // a device that keeps up: everything runnable runs
      while (step(copy_) || step(compute_))
        continue;
      return;
    }
    std::uniform_real_distribution<double> coin{0.0, 1.0};
    while (progress_ > 0 && coin(rng_) < progress_)
      if (!step(coin(rng_) < 0.5 ? copy_ : compute_))
        break;
  }

  double progress_;
  std::mt19937 rng_;
  std::deque<op> copy_;
  std::deque<op> compute_;
  std::set<cuda::copy_event> done_;
  std::set<cuda::copy_event> released_;
  std::vector<std::string> log_;
  cuda::copy_event next_event_ = 0;
  size_t pending_copies_ = 0;
  size_t max_pending_copies_ = 0;
  size_t host_waits_ = 0;
  size_t clobbered_ = 0;
};

} // namespace tessera::test

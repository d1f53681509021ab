#include "tessera/residency/io_pool.hpp"

#include <pthread.h>

namespace tessera::residency {

const char* to_string(io_priority p) {
  return p == io_priority::demand ? "demand" : "prefetch";
}

io_pool::io_pool(unsigned threads) {
  if (threads == 0)
    threads = 1;
  for (unsigned i = 0; i < threads; ++i)
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "tsr-io"); // shows in top -H and perf
      run();
    });
}

io_pool::~io_pool() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    t.join();
}

void io_pool::submit(io_priority priority, std::function<void()> task) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    (priority == io_priority::demand ? demand_ : prefetch_).push_back(std::move(task));
  }
  cv_.notify_one();
}

size_t io_pool::queued(io_priority priority) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return priority == io_priority::demand ? demand_.size() : prefetch_.size();
}

void io_pool::run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock{mtx_};
      cv_.wait(lock, [this] { return stopping_ || !demand_.empty() || !prefetch_.empty(); });
      auto& queue = !demand_.empty() ? demand_ : prefetch_;
      if (queue.empty())
        return; // stopping, and nothing is left
      task = std::move(queue.front());
      queue.pop_front();
    }
    task();
  }
}

} // namespace tessera::residency

// The threads that read blobs from the store. Work comes in two priorities:
// demand loads (a request is waiting) always run before prefetches. The pool is
// what keeps disk reads off actor threads, and its size bounds the reads that
// compete for the disk and memory bandwidth at once.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tessera::residency {

enum class io_priority : uint8_t {
  demand,   ///< someone waits for the result
  prefetch, ///< wanted soon; runs only when no demand work is queued
};

const char* to_string(io_priority p);

class io_pool {
public:
  explicit io_pool(unsigned threads);

  /// Finishes the queued work, then joins the threads.
  ~io_pool();

  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  void submit(io_priority priority, std::function<void()> task);

  /// Tasks queued and not yet started, per priority.
  size_t queued(io_priority priority) const;

  unsigned threads() const {
    return static_cast<unsigned>(threads_.size());
  }

private:
  void run();

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> demand_;
  std::deque<std::function<void()>> prefetch_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

} // namespace tessera::residency

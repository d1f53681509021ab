// The background scrub (decision 43): a thread that re-hashes a manager's
// resident blobs at a bounded rate, so rot that no file event reports (a
// disk's, or memory's) is found before it serves a wrong answer.
#pragma once

#include "tessera/residency/residency_manager.hpp"

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace tessera::residency {

class scrubber {
public:
  /// Hashes up to `bytes_per_s` each second, in steps of a tenth of it
  /// (at least one blob a step); 0 starts no thread.
  scrubber(residency_manager& mgr, uint64_t bytes_per_s);
  ~scrubber();

  scrubber(const scrubber&) = delete;
  scrubber& operator=(const scrubber&) = delete;

private:
  void loop();

  residency_manager& mgr_;
  uint64_t bytes_per_s_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

} // namespace tessera::residency

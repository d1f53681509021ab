#include "readahead_plan.hpp"

#include <algorithm>

#include <sys/resource.h>

namespace tessera::residency {

uint64_t thread_blocks_read() {
  rusage usage{};
  if (::getrusage(RUSAGE_THREAD, &usage) != 0)
    return 0;
  return static_cast<uint64_t>(usage.ru_inblock);
}

readahead_plan::readahead_plan(std::vector<content_id> ids, const std::vector<uint64_t>& bytes,
                               uint64_t window_bytes)
    : ids_(std::move(ids)), window_bytes_(window_bytes) {
  end_.reserve(bytes.size());
  uint64_t sum = 0;
  for (auto b : bytes)
    end_.push_back(sum += b);
}

size_t readahead_plan::advance(size_t first, const store::blob_store& store) {
  std::vector<std::pair<content_id, uint64_t>> todo; // a file, and its bytes to advise
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!cold_ || first >= ids_.size())
      return 0;
    uint64_t base = first == 0 ? 0 : end_[first - 1];
    size_t i = std::max(advised_, first);
    // A file that crosses the window's end is advised up to it; its own
    // reads' readahead takes the rest.
    for (; i < ids_.size(); ++i) {
      uint64_t start = (i == 0 ? 0 : end_[i - 1]) - base;
      if (start >= window_bytes_)
        break;
      todo.emplace_back(ids_[i], std::min(end_[i] - base, window_bytes_) - start);
    }
    advised_ = std::max(advised_, i);
    advised_files_ += todo.size();
  }
  // Outside the lock: each is an open, an fadvise and a close.
  for (const auto& [id, bytes] : todo)
    store.advise_reading(id, bytes);
  return todo.size();
}

void readahead_plan::saw_disk() {
  std::lock_guard<std::mutex> guard{mtx_};
  cold_ = true;
}

bool readahead_plan::cold() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return cold_;
}

size_t readahead_plan::advised_files() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return advised_files_;
}

} // namespace tessera::residency

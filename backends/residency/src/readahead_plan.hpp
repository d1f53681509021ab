// Asking the kernel to read a load's blob files ahead of the I/O threads
// (decision 41). Each I/O thread reads one file at a time: on a cold page
// cache the disk then waits while a thread copies and hashes what it read,
// and serves small files one request at a time. A plan knows the load's
// files in the order their reads were queued. Once one of its reads has gone
// to the disk, every task that starts asks the kernel (POSIX_FADV_WILLNEED,
// which queues the reads and returns) for the files from that task's on, up
// to `window_bytes` ahead, each file once. Reads served from the page cache
// never turn it on, so warm loads make no extra system calls.
#pragma once

#include "tessera/core/content_id.hpp"
#include "tessera/store/blob_store.hpp"

#include <cstdint>
#include <mutex>
#include <vector>

namespace tessera::residency {

/// Blocks this thread has had read from storage so far (its task I/O
/// accounting; 0 where the kernel keeps none, and then no plan advises).
uint64_t thread_blocks_read();

class readahead_plan {
public:
  /// `ids` and `bytes` in the order their reads were queued.
  readahead_plan(std::vector<content_id> ids, const std::vector<uint64_t>& bytes,
                 uint64_t window_bytes);

  /// Once the plan has seen the disk: advises the files from entry `first`
  /// up to the window, skipping those advised before; returns how many.
  size_t advance(size_t first, const store::blob_store& store);

  /// A read of the plan went to the disk: from now on, tasks advise.
  void saw_disk();
  bool cold() const;

  /// Files advised so far (those a kept mapping holds included).
  size_t advised_files() const;

private:
  mutable std::mutex mtx_;
  std::vector<content_id> ids_;
  std::vector<uint64_t> end_; ///< bytes of the entries up to and including each
  uint64_t window_bytes_;
  size_t advised_ = 0; ///< entries before this one have been advised or passed
  size_t advised_files_ = 0;
  bool cold_ = false;
};

} // namespace tessera::residency

// The device tier of a machine without a GPU: CPU memory under a byte budget.
// Each block is its own anonymous mapping, so freeing it returns the pages to the
// operating system at once (unload must give memory back, not keep it in a
// free list), and large blocks ask for transparent huge pages to cut page faults.
#pragma once

#include "tessera/backend/device_memory.hpp"

#include <atomic>

namespace tessera::residency {

class cpu_arena final : public backend::device_memory {
public:
  /// `limit_bytes` is a hard cap on live allocations (0: no cap); the residency
  /// manager keeps its own, usually smaller, budget below it.
  explicit cpu_arena(uint64_t limit_bytes = 0);

  std::string name() const override;
  bool host_accessible() const override;
  caf::expected<backend::device_block> allocate(size_t bytes) override;
  caf::error copy_from_host(std::byte* dst, const std::byte* src, size_t bytes) override;
  caf::error synchronize() override;
  uint64_t allocated_bytes() const override;

  /// Bytes mapped, rounded up to pages: what the process's RSS holds for the arena.
  uint64_t mapped_bytes() const;

private:
  uint64_t limit_bytes_;
  std::shared_ptr<std::atomic<uint64_t>> allocated_;
  std::shared_ptr<std::atomic<uint64_t>> mapped_;
};

} // namespace tessera::residency

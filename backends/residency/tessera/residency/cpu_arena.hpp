// The device tier of a machine without a GPU: CPU memory under a byte budget.
// Blocks are carved from large regions that start on huge-page boundaries, so
// transparent huge pages back them and a first touch faults once per 2 MiB, not
// once per 4 KiB (4-5x faster to fill here). Freeing a block gives its pages
// back to the operating system at once (madvise), and an empty region is
// unmapped: unload returns memory rather than keeping it in a free list.
#pragma once

#include "tessera/backend/device_memory.hpp"

#include <memory>

namespace tessera::residency {

class cpu_arena final : public backend::device_memory {
public:
  /// `limit_bytes` is a hard cap on live allocations (0: no cap); the residency
  /// manager keeps its own, usually smaller, budget below it.
  explicit cpu_arena(uint64_t limit_bytes = 0, size_t region_bytes = 64u << 20);
  ~cpu_arena() override;

  std::string name() const override;
  bool host_accessible() const override;
  caf::expected<backend::device_block> allocate(size_t bytes) override;
  caf::error copy_from_host(std::byte* dst, const std::byte* src, size_t bytes) override;
  caf::error synchronize() override;
  uint64_t allocated_bytes() const override;

  /// Bytes of address space the arena's regions span (not all of it resident).
  uint64_t mapped_bytes() const;

  /// Regions currently mapped.
  size_t regions() const;

  struct state;

private:
  uint64_t limit_bytes_;
  std::shared_ptr<state> state_;
};

} // namespace tessera::residency

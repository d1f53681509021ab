// The device tier of a machine without a GPU: CPU memory under a byte budget.
// Blocks are carved from large regions that start on huge-page boundaries, so
// transparent huge pages back them and a first touch faults once per 2 MiB, not
// once per 4 KiB (4-5x faster to fill here). Freed blocks keep their pages up
// to `retain_limit_bytes`, as a GPU's caching allocator keeps freed blocks, so
// the next load writes into memory that is already there; past that limit, or
// on trim(), pages go back to the operating system (madvise) and an empty
// region is unmapped: unload returns memory rather than keeping it hidden.
#pragma once

#include "tessera/backend/device_memory.hpp"

#include <memory>

namespace tessera::residency {

class cpu_arena final : public backend::device_memory {
public:
  /// `limit_bytes` is a hard cap on live allocations (0: no cap); the residency
  /// manager keeps its own, usually smaller, budget below it.
  /// `retain_limit_bytes` of freed memory keep their pages for the next
  /// allocations (0: every free gives its pages back at once).
  explicit cpu_arena(uint64_t limit_bytes = 0, size_t region_bytes = 64u << 20,
                     uint64_t retain_limit_bytes = 0);
  ~cpu_arena() override;

  std::string name() const override;
  bool host_accessible() const override;
  caf::expected<backend::device_block> allocate(size_t bytes) override;
  caf::error copy_from_host(std::byte* dst, const std::byte* src, size_t bytes) override;
  caf::error synchronize() override;
  uint64_t allocated_bytes() const override;

  /// Freed bytes whose pages are kept (at most `retain_limit_bytes`).
  uint64_t cached_bytes() const override;

  /// Gives the kept pages back and unmaps empty regions; returns the bytes.
  uint64_t trim() override;

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

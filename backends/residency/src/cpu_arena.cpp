#include "tessera/residency/cpu_arena.hpp"

#include "tessera/core/error.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

namespace tessera::residency {

namespace {

constexpr size_t huge_page_bytes = 2u << 20;
constexpr size_t block_alignment = 256; // what GPU allocators promise, too

size_t page_bytes() {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

size_t round_up(size_t x, size_t to) {
  return (x + to - 1) / to * to;
}

size_t round_down(size_t x, size_t to) {
  return x / to * to;
}

} // namespace

using range_map = std::map<size_t, size_t>; // offset -> length, coalesced

struct region {
  std::byte* base = nullptr;
  size_t bytes = 0;
  size_t live_bytes = 0;
  range_map free; ///< free, its whole pages given back to the operating system
  range_map kept; ///< free, its pages kept for the next allocations
};

namespace {

// Inserts [offset, offset + n) into `ranges`, joined with the ranges it touches.
range_map::iterator insert_joined(range_map& ranges, size_t offset, size_t n) {
  auto [i, inserted] = ranges.emplace(offset, n);
  if (auto next = std::next(i); next != ranges.end() && offset + n == next->first) {
    i->second += next->second;
    ranges.erase(next);
  }
  if (i != ranges.begin()) {
    auto prev = std::prev(i);
    if (prev->first + prev->second == i->first) {
      prev->second += i->second;
      ranges.erase(i);
      i = prev;
    }
  }
  return i;
}

// Takes `n` bytes from the first range of `ranges` that holds them.
std::optional<size_t> take_first_fit(range_map& ranges, size_t n) {
  for (auto i = ranges.begin(); i != ranges.end(); ++i)
    if (i->second >= n) {
      auto [offset, length] = *i;
      ranges.erase(i);
      if (length > n)
        ranges.emplace(offset + n, length - n);
      return offset;
    }
  return std::nullopt;
}

} // namespace

struct cpu_arena::state {
  size_t region_bytes;
  uint64_t retain_limit;
  std::mutex mtx;
  std::vector<std::unique_ptr<region>> regions;
  uint64_t allocated = 0;
  uint64_t mapped = 0;
  uint64_t kept = 0; ///< over all regions

  // Takes `n` bytes, from memory whose pages are kept if any fits (no faults,
  // no zeroing), else from the first free range that fits, in any region.
  std::pair<region*, size_t> take(size_t n) {
    for (auto& r : regions)
      if (auto offset = take_first_fit(r->kept, n)) {
        kept -= n;
        r->live_bytes += n;
        return {r.get(), *offset};
      }
    for (auto& r : regions)
      if (auto offset = take_first_fit(r->free, n)) {
        r->live_bytes += n;
        return {r.get(), *offset};
      }
    return {nullptr, 0};
  }

  caf::error grow(size_t n) {
    size_t len = round_up(std::max(n, region_bytes), huge_page_bytes);
    // Over-map by one huge page and trim, so the region starts on a boundary.
    void* raw = ::mmap(nullptr, len + huge_page_bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
      return make_error(ec::out_of_memory, "CPU arena: cannot map a region of "
                                             + std::to_string(len) + " bytes: " + std::strerror(errno));
    auto addr = reinterpret_cast<uintptr_t>(raw);
    size_t head = (huge_page_bytes - addr % huge_page_bytes) % huge_page_bytes;
    auto* base = static_cast<std::byte*>(raw) + head;
    if (head > 0)
      ::munmap(raw, head);
    if (huge_page_bytes - head > 0)
      ::munmap(base + len, huge_page_bytes - head);
    ::madvise(base, len, MADV_HUGEPAGE); // a hint; without it only faults cost more
    auto r = std::make_unique<region>();
    r->base = base;
    r->bytes = len;
    r->free.emplace(0, len);
    regions.push_back(std::move(r));
    mapped += len;
    return {};
  }

  // Makes [offset, offset + n) of `r` free and gives its whole pages back
  // (with those of the free neighbours it joined, whose edge pages it held).
  void release(region& r, size_t offset, size_t n) {
    auto i = insert_joined(r.free, offset, n);
    auto page = page_bytes();
    size_t lo = std::max(round_up(i->first, page), round_down(offset, page));
    size_t hi = std::min(round_down(i->first + i->second, page), round_up(offset + n, page));
    if (hi > lo)
      ::madvise(r.base + lo, hi - lo, MADV_DONTNEED);
  }

  // Unmaps `r` if nothing in it is live or kept; true if it did.
  bool unmap_if_empty(region* r) {
    if (r->live_bytes > 0 || !r->kept.empty())
      return false;
    ::munmap(r->base, r->bytes);
    mapped -= r->bytes;
    for (auto j = regions.begin(); j != regions.end(); ++j)
      if (j->get() == r) {
        regions.erase(j);
        break;
      }
    return true;
  }

  void give_back(region* r, size_t offset, size_t n, size_t bytes) {
    std::lock_guard<std::mutex> guard{mtx};
    allocated -= bytes;
    r->live_bytes -= n;
    if (kept + n <= retain_limit) {
      insert_joined(r->kept, offset, n);
      kept += n;
      return;
    }
    if (!unmap_if_empty(r))
      release(*r, offset, n);
  }

  uint64_t trim_locked() {
    uint64_t out = kept;
    for (auto& r : regions) {
      for (const auto& [offset, n] : r->kept)
        release(*r, offset, n);
      r->kept.clear();
    }
    kept = 0;
    for (size_t i = regions.size(); i-- > 0;)
      unmap_if_empty(regions[i].get());
    return out;
  }
};

cpu_arena::cpu_arena(uint64_t limit_bytes, size_t region_bytes, uint64_t retain_limit_bytes)
    : limit_bytes_(limit_bytes), state_(std::make_shared<state>()) {
  state_->region_bytes = region_bytes;
  state_->retain_limit = retain_limit_bytes;
}

cpu_arena::~cpu_arena() = default;

std::string cpu_arena::name() const {
  return "cpu";
}

bool cpu_arena::host_accessible() const {
  return true;
}

caf::expected<backend::device_block> cpu_arena::allocate(size_t bytes) {
  size_t n = round_up(std::max<size_t>(bytes, 1), block_alignment);
  std::lock_guard<std::mutex> guard{state_->mtx};
  if (limit_bytes_ > 0 && state_->allocated + bytes > limit_bytes_)
    return make_error(ec::out_of_memory, "CPU arena: " + std::to_string(bytes)
                                           + " bytes do not fit its limit of "
                                           + std::to_string(limit_bytes_));
  auto [r, offset] = state_->take(n);
  if (r == nullptr && state_->kept > 0) {
    // Kept ranges may split free space that would fit once joined.
    state_->trim_locked();
    std::tie(r, offset) = state_->take(n);
  }
  if (r == nullptr) {
    if (auto err = state_->grow(n))
      return err;
    std::tie(r, offset) = state_->take(n);
  }
  state_->allocated += bytes;
  backend::device_block block;
  block.bytes = bytes;
  block.data = r->base + offset;
  block.owner = std::shared_ptr<void>(block.data, [s = state_, r = r, offset = offset, n,
                                                   bytes](void*) {
    s->give_back(r, offset, n, bytes);
  });
  return block;
}

caf::error cpu_arena::copy_from_host(std::byte* dst, const std::byte* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
  return {};
}

caf::error cpu_arena::synchronize() {
  return {};
}

uint64_t cpu_arena::allocated_bytes() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->allocated;
}

uint64_t cpu_arena::cached_bytes() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->kept;
}

uint64_t cpu_arena::trim() {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->trim_locked();
}

uint64_t cpu_arena::mapped_bytes() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->mapped;
}

size_t cpu_arena::regions() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->regions.size();
}

} // namespace tessera::residency

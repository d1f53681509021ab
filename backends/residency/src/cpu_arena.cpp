#include "tessera/residency/cpu_arena.hpp"

#include "tessera/core/error.hpp"

#include <cerrno>
#include <cstring>

#include <sys/mman.h>
#include <unistd.h>

namespace tessera::residency {

namespace {

constexpr size_t huge_page_bytes = 2u << 20;

size_t page_bytes() {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

} // namespace

cpu_arena::cpu_arena(uint64_t limit_bytes)
  : limit_bytes_(limit_bytes),
    allocated_(std::make_shared<std::atomic<uint64_t>>(0)),
    mapped_(std::make_shared<std::atomic<uint64_t>>(0)) {
  // nop
}

std::string cpu_arena::name() const {
  return "cpu";
}

bool cpu_arena::host_accessible() const {
  return true;
}

caf::expected<backend::device_block> cpu_arena::allocate(size_t bytes) {
  auto page = page_bytes();
  size_t len = std::max<size_t>(page, (bytes + page - 1) / page * page);
  if (limit_bytes_ > 0 && allocated_->load() + bytes > limit_bytes_)
    return make_error(ec::out_of_memory, "CPU arena: " + std::to_string(bytes)
                                           + " bytes do not fit its limit of "
                                           + std::to_string(limit_bytes_));
  void* base = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED)
    return make_error(ec::out_of_memory, "CPU arena: cannot map " + std::to_string(len)
                                           + " bytes: " + std::strerror(errno));
  if (len >= huge_page_bytes)
    ::madvise(base, len, MADV_HUGEPAGE); // a hint; failure only costs page faults
  *allocated_ += bytes;
  *mapped_ += len;
  backend::device_block block;
  block.data = static_cast<std::byte*>(base);
  block.bytes = bytes;
  block.owner = std::shared_ptr<void>(base, [bytes, len, allocated = allocated_,
                                             mapped = mapped_](void* p) {
    ::munmap(p, len);
    *allocated -= bytes;
    *mapped -= len;
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
  return allocated_->load();
}

uint64_t cpu_arena::mapped_bytes() const {
  return mapped_->load();
}

} // namespace tessera::residency

#include "tessera/cuda/staged_copier.hpp"

#include "tessera/core/error.hpp"

namespace tessera::cuda {

staged_copier::staged_copier(copy_engine& engine, pinned_staging_pool& pool, size_t depth)
    : engine_(engine) {
  auto buffers = pool.acquire_many(std::max<size_t>(depth, 1));
  slots_.resize(buffers.size());
  for (size_t i = 0; i < buffers.size(); ++i)
    slots_[i].buffer = std::move(buffers[i]);
}

staged_copier::~staged_copier() {
  // An error here cannot be returned; the buffers must not go back while a
  // copy may still read them, so wait as long as the engine answers at all.
  (void)flush();
}

size_t staged_copier::in_flight() const {
  size_t n = 0;
  for (const auto& s : slots_)
    n += s.pending ? 1 : 0;
  return n;
}

caf::error staged_copier::settle(slot& s, bool count_wait) {
  if (!s.pending)
    return {};
  auto done = engine_.completed(*s.pending);
  if (!done)
    return done.error();
  if (!*done) {
    if (count_wait)
      ++figures_.reuse_waits;
    if (auto err = engine_.host_wait(*s.pending))
      return err;
  }
  engine_.release(*s.pending);
  s.pending.reset();
  return {};
}

caf::error staged_copier::copy(std::byte* dst, uint64_t bytes, const fill_fn& fill) {
  const size_t chunk = slots_.front().buffer.bytes();
  for (uint64_t offset = 0; offset < bytes;) {
    auto& s = slots_[next_];
    next_ = (next_ + 1) % slots_.size();
    if (auto err = settle(s, true))
      return err;
    auto n = static_cast<size_t>(std::min<uint64_t>(chunk, bytes - offset));
    if (auto err = fill(s.buffer.data(), offset, n))
      return err;
    if (auto err = engine_.enqueue_copy(dst + offset, s.buffer.data(), n))
      return wrap(err, engine_.name() + ": copy of " + std::to_string(n) + " bytes");
    auto e = engine_.record_copy_event();
    if (!e) {
      // The copy is enqueued but unmarked: only a full wait makes the buffer safe.
      (void)flush();
      return e.error();
    }
    s.pending = *e;
    figures_.max_in_flight = std::max(figures_.max_in_flight, in_flight());
    ++figures_.chunks;
    figures_.bytes += n;
    offset += n;
  }
  return {};
}

caf::expected<copy_event> staged_copier::mark() {
  return engine_.record_copy_event();
}

caf::error staged_copier::flush() {
  caf::error first;
  // Oldest first: the slot after the last one written holds the oldest copy.
  for (size_t i = 0; i < slots_.size(); ++i)
    if (auto err = settle(slots_[(next_ + i) % slots_.size()], false); err && !first)
      first = std::move(err);
  return first;
}

} // namespace tessera::cuda

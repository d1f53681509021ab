// The lease side of the core: pins, draining and unloading.
#include "residency_core.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>

namespace tessera::residency {

pin_guard& pin_guard::operator=(pin_guard&& other) noexcept {
  if (this != &other) {
    release();
    lease_ = std::move(other.lease_);
  }
  return *this;
}

pin_guard::~pin_guard() {
  release();
}

caf::error pin_guard::check_unchanged() const {
  if (lease_ == nullptr)
    return {};
  return lease_->core_->check_unchanged(*lease_, epoch_);
}

void pin_guard::release() {
  if (lease_ == nullptr)
    return;
  lease_->core_->unpin(*lease_);
  lease_.reset();
}

lease::lease(std::shared_ptr<residency_core> core, std::string owner, std::vector<blob_ref> blobs)
  : core_(std::move(core)), owner_(std::move(owner)), blobs_(std::move(blobs)) {
  // nop
}

lease::~lease() {
  core_->unload(*this, false);
}

caf::expected<tensor_buffer> lease::tensor(const content_id& id) const {
  return core_->tensor(*this, id);
}

caf::expected<pin_guard> lease::pin() {
  return core_->pin(*this);
}

void lease::drain() {
  core_->drain(*this);
}

uint32_t lease::pins() const {
  return core_->pins(*this);
}

bool lease::released() const {
  return core_->released(*this);
}

caf::expected<pin_guard> residency_core::pin(lease& l) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (l.draining_ || l.released_)
    return make_error(ec::unloading, "\"" + l.owner_ + "\" is being unloaded");
  poll_changes();
  if (change_epoch_ > 0) {
    // A blob whose file changed, or that the scrub found bad, is re-hashed
    // before any work uses it: it serves again only once its bytes match its
    // id (the file restored).
    for (const auto& b : l.blobs_) {
      auto& e = table_.at(b.id);
      if (e.suspect)
        if (auto err = rehash(b.id, e))
          return wrap(err, "\"" + l.owner_ + "\"");
    }
  }
  ++l.pins_;
  for (const auto& b : l.blobs_)
    ++table_.at(b.id).pins;
  return pin_guard{l.shared_from_this(), change_epoch_};
}

void residency_core::unpin(lease& l) {
  bool last = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    last = --l.pins_ == 0;
    for (const auto& b : l.blobs_)
      --table_.at(b.id).pins;
  }
  if (last) // only a drain waits, and only for the last pin
    cv_.notify_all();
}

void residency_core::drain(lease& l) {
  std::unique_lock<std::mutex> lock{mtx_};
  l.draining_ = true;
  cv_.wait(lock, [&] { return l.pins_ == 0; });
}

uint32_t residency_core::pins(const lease& l) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return l.pins_;
}

bool residency_core::released(const lease& l) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return l.released_;
}

caf::expected<tensor_buffer> residency_core::tensor(const lease& l, const content_id& id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (l.released_)
    return make_error(ec::unloading, "\"" + l.owner_ + "\" was unloaded");
  auto i = l.tensors_.find(id);
  if (i == l.tensors_.end())
    return make_error(ec::unknown_blob, "\"" + l.owner_ + "\" holds no blob " + id.to_hex());
  return i->second;
}

void residency_core::unload(lease& l, bool free_now) {
  {
    std::unique_lock<std::mutex> lock{mtx_};
    l.draining_ = true;
    cv_.wait(lock, [&] { return l.pins_ == 0; });
    if (l.released_)
      return;
    l.released_ = true;
    // The lease's own views go first, so that erasing an entry frees its memory.
    l.tensors_.clear();
    bool free_blobs = free_now || !opts_.keep_unloaded;
    for (const auto& b : l.blobs_) {
      auto i = table_.find(b.id);
      if (i == table_.end())
        continue;
      --i->second.refs;
      if (free_blobs && i->second.refs == 0 && i->second.pins == 0)
        erase(i);
    }
    leases_.erase(std::remove(leases_.begin(), leases_.end(), &l), leases_.end());
    ++counters_.unloads;
  }
  publish_pressure();
}

uint64_t residency_core::drop_cached(uint64_t at_least) {
  uint64_t freed = 0;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<eviction_candidate> candidates;
    for (const auto& [id, e] : table_)
      if (e.resident && e.refs == 0 && e.pins == 0)
        candidates.push_back({id, e.bytes, e.last_use, e.priority});
    // Every candidate when the plan cannot free `at_least`; otherwise the
    // policy's victims, in its order, as a load's eviction would pick them.
    auto plan = plan_eviction(std::move(candidates), at_least, opts_.policy, inflation_);
    for (const auto& id : plan.victims) {
      auto i = table_.find(id);
      freed += i->second.bytes;
      ++counters_.evictions;
      ++counters_.evictions_dropped;
      counters_.bytes_evicted += i->second.bytes;
      erase(i);
    }
  }
  publish_pressure();
  return freed;
}

} // namespace tessera::residency

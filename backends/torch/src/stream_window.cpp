#include "stream_window.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <unordered_set>

namespace tessera::torch_backend {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

// Weight of the newest sample in the moving averages of load and compute time.
constexpr double sample_weight = 0.3;

double averaged(double avg, double sample) {
  return avg <= 0.0 ? sample : (1.0 - sample_weight) * avg + sample_weight * sample;
}

} // namespace

stream_window::stream_window(residency::residency_manager& residency, std::string owner,
                             stream_plan plan, const stream_options& opts, budget_source budget,
                             std::shared_ptr<std::atomic<uint64_t>> held,
                             std::shared_ptr<std::atomic<uint64_t>> all_leased)
    : residency_(residency), owner_(std::move(owner)), plan_(std::move(plan)), opts_(opts),
      budget_(std::move(budget)), held_total_(std::move(held)), all_leased_(std::move(all_leased)) {
  // Until the first measurements, keep two blocks ahead.
  depth_ = std::clamp<uint32_t>(2, 1, std::max<uint32_t>(opts_.max_depth, 1));
}

stream_window::~stream_window() {
  stop();
  if (helper_.joinable())
    helper_.join();
  lock_type lock{mtx_};
  std::vector<running> rest = std::move(running_);
  running_.clear();
  for (auto& [s, l] : ready_)
    if (l.lease != nullptr)
      rest.push_back({s, std::move(l.lease)});
  ready_.clear();
  release(lock, std::move(rest));
  drop_retention();
}

void stream_window::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  run_cv_.notify_all();
  helper_cv_.notify_all();
}

void stream_window::start() {
  // With every block resident there is nothing to hide: the run leases each
  // block itself, and no helper thread starts, wakes or competes for a core
  // with LibTorch's. The helper starts at the first block that is read.
  bool all_resident = false;
  if (opts_.prefetch && !plan_.steps.empty()) {
    std::vector<residency::blob_ref> all;
    for (const auto& step : plan_.steps)
      all.insert(all.end(), step.blobs.begin(), step.blobs.end());
    all_resident = residency_.missing_bytes(all) == 0;
  }
  std::lock_guard<std::mutex> guard{mtx_};
  retain();
  if (!opts_.prefetch || plan_.steps.empty())
    return;
  if (all_resident)
    helper_deferred_ = true;
  else
    start_helper();
}

void stream_window::start_helper() {
  helper_deferred_ = false;
  helper_ = std::thread{[this] { prefetch_loop(); }};
}

void stream_window::retain() {
  retained_.assign(plan_.steps.size(), false);
  if (!opts_.retain || opts_.free_finished || plan_.steps.empty())
    return;
  // Candidates: the first step (no run can load it ahead of time: it waits
  // for it), then the largest blocks, whose loads are the hardest to hide.
  std::vector<uint32_t> order(plan_.steps.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin() + 1, order.end(), [&](uint32_t a, uint32_t b) {
    return plan_.steps[a].bytes > plan_.steps[b].bytes;
  });
  // The blocks left out need a window: the largest of them running, and,
  // when prefetching, the next largest loading beside it.
  auto window_without = [&](uint32_t candidate) {
    uint64_t first = 0;
    uint64_t second = 0;
    for (uint32_t s = 0; s < plan_.steps.size(); ++s) {
      if (retained_[s] || s == candidate)
        continue;
      auto bytes = plan_.steps[s].bytes;
      if (bytes > first) {
        second = first;
        first = bytes;
      } else {
        second = std::max(second, bytes);
      }
    }
    return first + (opts_.prefetch ? second : 0);
  };
  auto budget = budget_();
  std::unordered_set<content_id> kept;
  uint64_t kept_bytes = 0;
  for (auto s : order) {
    uint64_t adds = 0;
    for (const auto& b : plan_.steps[s].blobs)
      adds += kept.count(b.id) == 0 ? b.bytes : 0;
    if (kept_bytes + adds + window_without(s) > budget)
      continue;
    retained_[s] = true;
    kept_bytes += adds;
    for (const auto& b : plan_.steps[s].blobs)
      if (kept.insert(b.id).second)
        retained_blobs_.push_back(b);
  }
  // Held from the start: the kept bytes are the run's whether or not it has
  // leased them yet, and whether or not they are still cached from the last run.
  for (const auto& b : retained_blobs_)
    if (counts_[b.id]++ == 0)
      held_ += b.bytes;
  retained_bytes_ = kept_bytes;
  *held_total_ += kept_bytes;
  peak_ = std::max(peak_, held_);
}

void stream_window::drop_retention() {
  for (const auto& b : retained_blobs_) {
    auto i = counts_.find(b.id);
    if (--i->second == 0) {
      counts_.erase(i);
      held_ -= b.bytes;
      *held_total_ -= b.bytes;
    }
  }
  retained_blobs_.clear();
  retained_.assign(plan_.steps.size(), false);
  retained_bytes_ = 0;
}

uint64_t stream_window::new_bytes(uint32_t s) const {
  uint64_t bytes = 0;
  for (const auto& b : plan_.steps[s].blobs)
    if (auto i = counts_.find(b.id); i == counts_.end() || i->second == 0)
      bytes += b.bytes;
  return bytes;
}

bool stream_window::admissible(uint32_t s, bool& forced) const {
  forced = false;
  if (s >= next_run_ + depth_)
    return false;
  if (held_ + new_bytes(s) <= budget_())
    return true;
  // The run waits for this block and holds nothing it could let go: load it
  // anyway, alone. Only a budget lowered below the block gets here.
  if (s == next_run_ && waiting_) {
    forced = true;
    return true;
  }
  return false;
}

namespace {

using blob_counts = std::unordered_map<content_id, uint32_t>;

// Counts a step's blobs in; returns the bytes of those counted for the first time.
uint64_t count_in(blob_counts& counts, const std::vector<residency::blob_ref>& blobs) {
  uint64_t added = 0;
  for (const auto& b : blobs)
    if (counts[b.id]++ == 0)
      added += b.bytes;
  return added;
}

// Counts a step's blobs out; returns the bytes of those no longer counted.
uint64_t count_out(blob_counts& counts, const std::vector<residency::blob_ref>& blobs) {
  uint64_t dropped = 0;
  for (const auto& b : blobs) {
    auto i = counts.find(b.id);
    if (--i->second == 0) {
      dropped += b.bytes;
      counts.erase(i);
    }
  }
  return dropped;
}

} // namespace

void stream_window::hold(uint32_t s) {
  auto added = count_in(counts_, plan_.steps[s].blobs);
  held_ += added;
  *held_total_ += added;
  peak_ = std::max(peak_, held_);
}

void stream_window::unhold(uint32_t s) {
  auto dropped = count_out(counts_, plan_.steps[s].blobs);
  held_ -= dropped;
  *held_total_ -= dropped;
}

// The executor-wide count of leased bytes: a block counts from before its load
// is admitted until before its lease is unloaded, so that whenever the manager
// reports a change of its own (from inside that load or unload), its leased
// and reserved bytes less this count are exactly what others hold.
void stream_window::count_lease(uint32_t s) {
  auto added = count_in(leased_, plan_.steps[s].blobs);
  if (all_leased_)
    *all_leased_ += added;
}

void stream_window::uncount_lease(uint32_t s) {
  auto dropped = count_out(leased_, plan_.steps[s].blobs);
  if (all_leased_)
    *all_leased_ -= dropped;
}

void stream_window::load(lock_type& lock, uint32_t s, bool forced) {
  hold(s);
  count_lease(s);
  ++next_load_;
  ++in_flight_;
  forced_ += forced ? 1 : 0;
  lock.unlock();
  auto start = clock_type::now();
  auto got = residency_.load(owner_, plan_.steps[s].blobs);
  auto elapsed = ms_since(start);
  lock.lock();
  --in_flight_;
  loaded entry;
  entry.load_ms = elapsed;
  if (got) {
    entry.lease = std::move(*got);
    if (entry.lease->report().bytes_read > 0) {
      load_ms_ = averaged(load_ms_, elapsed);
      adapt();
      if (helper_deferred_ && !stop_)
        start_helper(); // a block was not resident after all: prefetch the rest
    }
  } else {
    unhold(s);
    uncount_lease(s);
    entry.error = wrap(got.error(), "block \"" + plan_.steps[s].name + "\"");
    failed_ = true;
  }
  ready_.emplace(s, std::move(entry));
  run_cv_.notify_all();
}

bool stream_window::trim(lock_type& lock) {
  auto budget = budget_();
  // Under a lower budget, keeping blocks for the next run goes first.
  if (held_ > budget && retained_bytes_ > 0)
    drop_retention(); // the helper runs this, or wakes after (budget_changed)
  std::vector<running> back;
  while (held_ > budget && next_load_ > next_run_ && in_flight_ == 0) {
    // The block the run already waits for stays: it would only be loaded again.
    if (next_load_ - 1 == next_run_ && waiting_)
      break;
    auto i = ready_.find(next_load_ - 1);
    if (i == ready_.end() || i->second.lease == nullptr)
      break;
    back.push_back({i->first, std::move(i->second.lease)});
    ready_.erase(i);
    --next_load_;
    ++trimmed_;
    // Count it as released now, so the loop sees what is left.
    unhold(back.back().step);
  }
  if (back.empty())
    return false;
  // Re-hold for the release below, which unholds after the leases are gone;
  // the budget check above already used the reduced figure.
  for (const auto& r : back)
    hold(r.step);
  release(lock, std::move(back));
  return true;
}

void stream_window::prefetch_loop() {
  lock_type lock{mtx_};
  // Runs until the window stops, not until the last block has loaded: a
  // lower budget (budget_changed, from another stream's thread) may trim
  // loaded blocks after that, and the run would wait for them forever.
  while (!stop_ && !failed_) {
    if (trim(lock))
      continue;
    bool forced = false;
    if (next_load_ >= plan_.steps.size() || !admissible(next_load_, forced)) {
      helper_idle_ = true;
      helper_cv_.wait(lock);
      helper_idle_ = false;
      continue;
    }
    load(lock, next_load_, forced);
  }
}

caf::expected<residency::lease_ptr> stream_window::take(uint32_t s, stream_block_stats& st) {
  lock_type lock{mtx_};
  auto stopped = [&] {
    return make_error(ec::unavailable,
                      "the stream stopped before block \"" + plan_.steps[s].name + "\" was loaded");
  };
  if (stop_)
    return stopped();
  next_run_ = s;
  waiting_ = true;
  bool early = ready_.count(s) != 0;
  auto start = clock_type::now();
  if (!early && next_load_ == s) {
    // Not leased, and the helper has not started on it (it is late, or
    // waits for room): lease it here. Handing it to the helper would cost two
    // thread wake-ups, each of which waits for a core that LibTorch keeps busy
    // (~150 us a block when every block is cached, more than the lease itself).
    bool forced = false;
    admissible(s, forced); // with nothing loaded ahead it fits, or is forced
    load(lock, s, forced);
  } else {
    run_cv_.wait(lock, [&] { return ready_.count(s) != 0 || stop_; });
  }
  st.wait_ms = ms_since(start);
  waiting_ = false;
  auto i = ready_.find(s);
  if (i == ready_.end())
    return stopped();
  auto entry = std::move(i->second);
  ready_.erase(i);
  next_run_ = s + 1;
  if (entry.error)
    return entry.error;
  const auto& r = entry.lease->report();
  st.node = plan_.steps[s].name;
  st.bytes = plan_.steps[s].bytes;
  st.blobs_read = r.blobs_read;
  st.bytes_read = r.bytes_read;
  st.copies = r.copies;
  st.bytes_copied = r.bytes_copied;
  st.prefetched = opts_.prefetch && early;
  st.retained = retained_[s];
  st.load_ms = entry.load_ms;
  st.held_bytes = held_;
  st.budget_bytes = budget_();
  st.ahead = next_load_ - next_run_;
  running_.push_back({s, entry.lease});
  wake_helper(); // the window moved on by one step
  return entry.lease;
}

void stream_window::finish(uint32_t s, double compute_ms) {
  lock_type lock{mtx_};
  compute_ms_ = averaged(compute_ms_, compute_ms);
  adapt();
  std::vector<running> done;
  for (auto i = running_.begin(); i != running_.end();) {
    if (plan_.steps[i->step].release_after <= s) {
      done.push_back(std::move(*i));
      i = running_.erase(i);
    } else {
      ++i;
    }
  }
  release(lock, std::move(done));
}

void stream_window::release(lock_type& lock, std::vector<running> leases) {
  if (leases.empty())
    return;
  // Unload first, then stop counting: the manager's referenced bytes never
  // exceed what the window counts.
  // While retaining, the blocks not kept are freed, so that they do not push
  // the kept ones out of the device when the next blocks need room.
  bool retaining = opts_.retain && !opts_.free_finished;
  std::vector<bool> free_now;
  for (const auto& r : leases)
    free_now.push_back(opts_.free_finished || (retaining && !retained_[r.step]));
  for (const auto& r : leases)
    uncount_lease(r.step);
  lock.unlock();
  for (size_t i = 0; i < leases.size(); ++i)
    residency_.unload(leases[i].lease, free_now[i]);
  lock.lock();
  for (const auto& r : leases)
    unhold(r.step);
  wake_helper();
}

void stream_window::budget_changed() {
  // Give back what no longer fits at once, rather than when the helper wakes.
  lock_type lock{mtx_};
  trim(lock);
  helper_cv_.notify_all();
}

void stream_window::wake_helper() {
  // Only when the helper sleeps and the next step now fits: otherwise it would
  // wake, find nothing to do and sleep again, twice a block.
  if (!helper_idle_ || next_load_ >= plan_.steps.size())
    return;
  bool forced = false;
  if (admissible(next_load_, forced))
    helper_cv_.notify_one();
}

void stream_window::adapt() {
  if (load_ms_ <= 0.0 || compute_ms_ <= 0.0)
    return;
  // Enough blocks ahead to cover one load with computing, and one to spare.
  auto blocks = static_cast<uint32_t>(std::ceil(load_ms_ / compute_ms_)) + 1;
  depth_ = std::clamp<uint32_t>(blocks, 1, std::max<uint32_t>(opts_.max_depth, 1));
}

uint32_t stream_window::loaded_ahead() const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (in_flight_ > 0)
    return 0;
  uint32_t n = 0;
  for (const auto& [s, l] : ready_)
    n += l.lease != nullptr ? 1 : 0;
  return n;
}

uint64_t stream_window::peak_held_bytes() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return peak_;
}

uint32_t stream_window::forced_blocks() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return forced_;
}

uint32_t stream_window::trimmed_blocks() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return trimmed_;
}

uint64_t stream_window::retained_bytes() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return retained_bytes_;
}

} // namespace tessera::torch_backend

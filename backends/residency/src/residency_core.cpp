#include "residency_core.hpp"

#include "tessera/core/bytes_text.hpp"
#include "tessera/core/error.hpp"
#include "tessera/cuda/device_memory_copy_engine.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>

namespace tessera::residency {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

// Blobs below this size are read together, one task per group, so a model with
// many small tensors (norm scales, biases) costs few wake-ups.
constexpr uint64_t grouped_blob_bytes = 256u << 10;
constexpr uint64_t small_group_bytes = 2u << 20;

} // namespace

residency_core::residency_core(const store::block_store& store, backend::device_memory& device,
                               residency_options opts)
  : store_(store), device_(device), opts_(std::move(opts)),
    used_(std::make_shared<std::atomic<uint64_t>>(0)) {
  auto threads = std::max(1u, opts_.io_threads);
  if (opts_.mode == load_mode::in_place) {
    // In place, models compute on the store's files: only where changes to
    // them can be seen (decision 43). On a network or FUSE file system,
    // blobs are copied; options().mode tells the node, which warns.
    auto dir = store_.blobs().root() + "/blobs";
    watch_ = std::make_unique<store::blob_watch>(dir);
    std::error_code ec;
    if (std::filesystem::is_directory(dir, ec) && !watch_->usable()) {
      watch_.reset();
      opts_.mode = load_mode::copy;
    }
  }
  // Staging only where copies go through it: a host-accessible device (the
  // CPU arena) is read into directly.
  if (opts_.mode == load_mode::copy && (!device_.host_accessible() || opts_.force_staging))
    open_staging();
  io_ = std::make_unique<io_pool>(threads);
  bytes_per_ms_ = opts_.reload_cost.bytes_per_ms;
}

void residency_core::open_staging() {
  auto threads = std::max(1u, opts_.io_threads);
  auto depth = std::max<size_t>(1, opts_.staging_depth);
  auto allocator = opts_.staging_allocator
                     ? opts_.staging_allocator()
                     : caf::expected<std::unique_ptr<cuda::host_allocator>>{
                       cuda::make_locked_heap_host_allocator()};
  if (!allocator) {
    staging_error_ = wrap(allocator.error(), "staging buffers");
    return;
  }
  // Each I/O thread cycles through `depth` buffers of its own.
  auto pool = cuda::pinned_staging_pool::make(std::move(*allocator), threads * depth,
                                              opts_.staging_buffer_bytes);
  if (!pool) {
    staging_error_ = pool.error();
    return;
  }
  staging_ = std::move(*pool);
  for (unsigned i = 0; i < threads; ++i) {
    auto engine = opts_.copy_engines ? opts_.copy_engines()
                                     : caf::expected<std::unique_ptr<cuda::copy_engine>>{
                                       cuda::make_device_memory_copy_engine(device_)};
    if (!engine) {
      staging_error_ = wrap(engine.error(), "copy engine");
      return;
    }
    idle_engines_.push_back(std::move(*engine));
  }
}

caf::expected<transferred_blob> residency_core::stage(const content_id& id) {
  if (staging_error_)
    return staging_error_;
  std::unique_ptr<cuda::copy_engine> engine;
  {
    // One engine per I/O thread, so one is always idle for the asking thread.
    std::lock_guard<std::mutex> guard{engines_mtx_};
    if (idle_engines_.empty())
      return make_error(ec::backend_error, "no idle copy engine for blob " + id.to_hex());
    engine = std::move(idle_engines_.back());
    idle_engines_.pop_back();
  }
  auto got = stage_blob_to_device(store_.blobs(), id, device_,
                                  {*engine, *staging_, std::max<size_t>(1, opts_.staging_depth)},
                                  opts_.verify);
  std::lock_guard<std::mutex> guard{engines_mtx_};
  idle_engines_.push_back(std::move(engine));
  return got;
}

void residency_core::stop_io() {
  io_.reset();
}

uint64_t residency_core::free_bytes() const {
  auto committed = used_->load() + reserved_;
  return committed >= opts_.device_budget_bytes ? 0 : opts_.device_budget_bytes - committed;
}

std::string residency_core::holders_text() const {
  std::vector<std::string> owners;
  for (const auto* l : leases_)
    owners.push_back(l->owner());
  std::sort(owners.begin(), owners.end());
  owners.erase(std::unique(owners.begin(), owners.end()), owners.end());
  std::string out;
  for (const auto& o : owners)
    out += (out.empty() ? "" : ", ") + o;
  return out.empty() ? "no model" : out;
}

caf::error residency_core::make_room(const std::string& owner, uint64_t total, uint64_t missing,
                                     const std::unordered_map<content_id, uint64_t>& request,
                                     uint64_t& evicted) {
  if (missing <= free_bytes())
    return {};
  uint64_t need = missing - free_bytes();
  std::vector<eviction_candidate> candidates;
  for (const auto& [id, e] : table_)
    if (e.resident && e.refs == 0 && e.pins == 0 && request.count(id) == 0)
      candidates.push_back({id, e.bytes, e.last_use, e.priority});
  auto plan = plan_eviction(std::move(candidates), need, opts_.policy, inflation_);
  if (!plan.enough) {
    ++counters_.refused_loads;
    return make_error(ec::out_of_memory,
                      "\"" + owner + "\" needs " + format_mib(total) + " (" + format_mib(missing) +
                          " not resident) but only " + format_mib(free_bytes() + plan.bytes) +
                          " of the device budget of " + format_mib(opts_.device_budget_bytes) +
                          " can be freed; the rest is held by " + holders_text() +
                          (reserved_ > 0 ? " or loading (" + format_mib(reserved_) + ")" : ""));
  }
  inflation_ = plan.inflation;
  for (const auto& id : plan.victims) {
    auto i = table_.find(id);
    evicted += i->second.bytes;
    ++counters_.evictions;
    counters_.bytes_evicted += i->second.bytes;
    erase(i);
  }
  if (missing > free_bytes()) // something outside still holds evicted memory
    return make_error(ec::out_of_memory, "\"" + owner + "\" needs " + format_mib(missing) +
                                             " more; evicted blobs are still held elsewhere");
  return {};
}

caf::expected<lease_ptr> residency_core::load(const std::string& owner,
                                              const std::vector<blob_ref>& blobs) {
  auto start = clock_type::now();
  std::unordered_map<content_id, uint64_t> request;
  std::vector<blob_ref> unique;
  uint64_t total = 0;
  for (const auto& b : blobs)
    if (request.emplace(b.id, b.bytes).second) {
      unique.push_back(b);
      total += b.bytes;
    }
  if (total > opts_.device_budget_bytes) {
    std::lock_guard<std::mutex> guard{mtx_};
    ++counters_.refused_loads;
    return make_error(ec::out_of_memory, "\"" + owner + "\" needs " + format_mib(total) +
                                             ", more than the whole device budget of " +
                                             format_mib(opts_.device_budget_bytes) +
                                             ": it can never be resident at once");
  }
  lease_report report;
  report.blobs = unique.size();
  report.bytes = total;
  std::vector<std::pair<content_id, uint64_t>> seen; // id and the serial this load saw
  std::vector<read_order> to_read;
  std::vector<read_order> to_bump;
  auto waiter = std::make_shared<load_waiter>();
  lock_type lock{mtx_};
  drop_suspect_unheld(request);
  uint64_t missing = 0;
  for (const auto& b : unique)
    if (table_.count(b.id) == 0)
      missing += b.bytes;
  if (auto err = make_room(owner, total, missing, request, report.bytes_evicted))
    return err;
  reserved_ += missing;
  for (const auto& b : unique) {
    auto [i, created] = table_.try_emplace(b.id);
    auto& e = i->second;
    if (created) {
      e.serial = next_serial_++;
      e.bytes = b.bytes;
      e.pending = std::make_shared<load_state>();
      to_read.push_back({b.id, e.serial, b.bytes});
    } else if (!e.resident) {
      ++report.blobs_joined;
      if (!e.claimed) // queued as a prefetch: read it now, at demand priority
        to_bump.push_back({b.id, e.serial, e.bytes});
    } else {
      ++report.blobs_hit;
    }
    ++e.refs;
    if (!e.resident) {
      e.pending->waiters.push_back(waiter);
      ++waiter->remaining;
    }
    seen.emplace_back(b.id, e.serial);
  }
  lock.unlock();
  submit_reads(to_read, io_priority::demand);
  submit_reads(to_bump, io_priority::demand);
  publish_pressure();
  lock.lock();
  cv_.wait(lock, [&] { return waiter->remaining == 0; });
  if (auto failure = waiter->error) {
    // Roll back: drop this load's references, and free what it alone brought in.
    for (const auto& [id, serial] : seen) {
      auto i = table_.find(id);
      if (i == table_.end() || i->second.serial != serial)
        continue; // the blob failed and left the table
      --i->second.refs;
      bool ours = std::any_of(to_read.begin(), to_read.end(),
                              [&](const auto& r) { return r.id == id; });
      if (ours && i->second.refs == 0 && i->second.pins == 0)
        erase(i);
    }
    ++counters_.failed_loads;
    lock.unlock();
    publish_pressure();
    return failure;
  }
  auto granted = lease_ptr{new lease(shared_from_this(), owner, unique)};
  for (const auto& b : unique) {
    auto& e = table_.at(b.id);
    touch(b.id, e);
    granted->tensors_.emplace(
      b.id, tensor_buffer{e.spec, e.data, e.bytes, std::shared_ptr<const void>(e.memory, e.data)});
  }
  leases_.push_back(granted.get());
  ++counters_.loads;
  counters_.blob_hits += report.blobs_hit;
  counters_.blob_joins += report.blobs_joined;
  report.blobs_read = to_read.size();
  for (const auto& r : to_read) {
    report.bytes_read += r.bytes;
    const auto& e = table_.at(r.id);
    report.copies += e.copies;
    report.bytes_copied += e.copies * e.bytes;
  }
  report.elapsed_ms = ms_since(start);
  granted->report_ = report;
  lock.unlock();
  publish_pressure();
  return granted;
}

size_t residency_core::prefetch(const std::vector<blob_ref>& blobs) {
  std::vector<read_order> to_read;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    // Prefetch never pushes usage past the low watermark and never evicts.
    auto limit = static_cast<uint64_t>(static_cast<double>(opts_.device_budget_bytes)
                                       * opts_.marks.low);
    for (const auto& b : blobs) {
      if (table_.count(b.id) != 0 || used_->load() + reserved_ + b.bytes > limit)
        continue;
      auto& e = table_[b.id];
      e.serial = next_serial_++;
      e.bytes = b.bytes;
      e.prefetched = true;
      e.pending = std::make_shared<load_state>();
      reserved_ += b.bytes;
      to_read.push_back({b.id, e.serial, b.bytes});
    }
  }
  submit_reads(to_read, io_priority::prefetch);
  publish_pressure();
  return to_read.size();
}

void residency_core::submit_reads(std::vector<read_order> work, io_priority p) {
  // In the manifest's order. Queuing the costliest reads first would even out
  // the two threads at the end of a warm load, but on a cold page cache it has
  // both threads stream large files from the disk at once, and cold loads ran
  // 3-5x slower (docs/residency.md).
  std::shared_ptr<readahead_plan> plan;
  if (opts_.readahead_bytes > 0 && work.size() > 1) {
    std::vector<content_id> ids;
    std::vector<uint64_t> bytes;
    for (const auto& w : work) {
      ids.push_back(w.id);
      bytes.push_back(w.bytes);
    }
    plan = std::make_shared<readahead_plan>(std::move(ids), bytes, opts_.readahead_bytes);
  }
  std::vector<read_order> small;
  uint64_t small_bytes = 0;
  size_t small_first = 0; // the plan's entry of the group's first blob
  auto flush = [&] {
    if (!small.empty())
      io_->submit(p, [this, group = std::move(small), plan, small_first] {
        read_group(group, plan, small_first);
      });
    small.clear();
    small_bytes = 0;
  };
  for (size_t i = 0; i < work.size(); ++i) {
    auto& w = work[i];
    if (w.bytes >= grouped_blob_bytes) {
      io_->submit(p,
                  [this, one = std::vector<read_order>{w}, plan, i] { read_group(one, plan, i); });
      continue;
    }
    if (small.empty())
      small_first = i;
    small_bytes += w.bytes;
    small.push_back(std::move(w));
    if (small_bytes >= small_group_bytes)
      flush();
  }
  flush();
}

void residency_core::read_group(const std::vector<read_order>& group,
                                const std::shared_ptr<readahead_plan>& plan, size_t first) {
  // One lock to claim the group's blobs and one to publish them: a group of
  // small blobs reads hundreds in a millisecond, and two locks per blob,
  // contended by the other I/O thread and the waiting loads, cost more.
  struct claimed {
    const content_id* id = nullptr;
    uint64_t declared = 0;
    bool mapped = false; ///< used in place: its folder is watched (decision 43)
    caf::expected<transferred_blob> got{caf::error{}};
    caf::error err; ///< the read's error, naming the models that use the blob
    double elapsed_ms = 0.0;
  };
  std::vector<claimed> work;
  work.reserve(group.size());
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (const auto& order : group) {
      auto i = table_.find(order.id);
      if (i == table_.end() || i->second.serial != order.serial || i->second.claimed)
        continue; // another task read it, or it is gone
      i->second.claimed = true;
      auto& w = work.emplace_back();
      w.id = &order.id;
      w.declared = i->second.bytes;
      // Watched before it is read and hashed, so no change after the hash
      // goes unseen; a blob whose folder cannot be watched is copied.
      w.mapped = watch_ != nullptr && watch_->watch(order.id);
    }
  }
  size_t advised = plan ? plan->advance(first, store_.blobs()) : 0;
  bool in_place = opts_.mode == load_mode::in_place;
  bool direct = device_.host_accessible() && !opts_.force_staging;
  // Whether this task's reads go to the disk, told by the thread's I/O
  // accounting: the first read tells at once (a group of small files then
  // has the rest advised while it reads them), the whole task at the end.
  bool telling = plan && !plan->cold();
  uint64_t blocks_before = telling ? thread_blocks_read() : 0;
  for (auto& w : work) {
    const auto& id = *w.id;
    auto start = clock_type::now();
    bool small = w.declared < small_blob_bytes && (in_place || device_.host_accessible()) &&
                 !opts_.force_staging;
    // Small blobs are read whole even in place: a mapping of their own costs more.
    w.got = small      ? read_blob(store_.blobs(), id, w.declared, device_, in_place, opts_.verify)
            : w.mapped ? map_blob_in_place(store_.blobs(), id, opts_.verify)
            : in_place ? read_blob(store_.blobs(), id, w.declared, device_, true, opts_.verify)
            : direct   ? read_blob(store_.blobs(), id, w.declared, device_, false, opts_.verify)
                       : stage(id);
    w.elapsed_ms = ms_since(start);
    if (!w.got)
      w.err = name_users(w.got.error(), id);
    if (telling && &w == &work.front() && thread_blocks_read() > blocks_before) {
      plan->saw_disk();
      advised += plan->advance(first + 1, store_.blobs());
      telling = false;
    }
  }
  if (telling && thread_blocks_read() > blocks_before)
    plan->saw_disk();
  bool wake = false;
  std::lock_guard<std::mutex> guard{mtx_};
  counters_.readahead_blobs += advised;
  for (auto& w : work) {
    const auto& id = *w.id;
    auto& got = w.got;
    auto elapsed = w.elapsed_ms;
    auto& err = w.err;
    auto i = table_.find(id);
    auto& e = i->second;
    reserved_ -= e.bytes;
    if (!err && got->bytes != e.bytes)
      err = make_error(ec::bad_manifest, "blob " + id.to_hex() + " holds "
                                           + std::to_string(got->bytes) + " bytes, the model declares "
                                           + std::to_string(e.bytes));
    for (const auto& waiter : e.pending->waiters) {
      if (err && !waiter->error)
        waiter->error = err;
      wake = --waiter->remaining == 0 || wake;
    }
    if (err) {
      ++counters_.failed_blob_reads;
      if (code_of(err) == ec::corrupt_blob && on_corrupt_)
        on_corrupt_(id);
      table_.erase(i);
    } else {
      auto mem = std::make_shared<resident_memory>();
      mem->storage = std::move(got->memory);
      mem->bytes = got->bytes;
      mem->account = used_;
      *used_ += got->bytes;
      e.memory = std::move(mem);
      e.spec = std::move(got->spec);
      e.data = got->data;
      e.resident = true;
      e.pending.reset();
      ++counters_.blobs_read;
      counters_.bytes_read += got->bytes_read;
      counters_.copies += got->copies;
      counters_.bytes_copied += got->copies * got->bytes;
      e.copies = got->copies;
      counters_.prefetched_blobs += e.prefetched ? 1 : 0;
      if (elapsed > 0.05 && got->bytes > grouped_blob_bytes) // a running estimate for reload costs
        bytes_per_ms_ = 0.8 * bytes_per_ms_ + 0.2 * (static_cast<double>(got->bytes) / elapsed);
      touch(id, e);
    }
  }
  if (wake)
    cv_.notify_all();
}

caf::error residency_core::name_users(const caf::error& err, const content_id& id) const {
  auto users = store_.models_using(id);
  std::string text;
  for (const auto& u : users)
    text += (text.empty() ? "" : ", ") + u;
  return wrap(err, "blob " + id.short_hex() + " (used by "
                     + (text.empty() ? std::string{"no stored model"} : "models " + text) + ")");
}

void residency_core::touch(const content_id& id, entry& e) {
  e.last_use = ++tick_;
  ++e.uses;
  uint32_t degree = 0;
  if (auto s = sharing_.find(id); s != sharing_.end())
    degree = s->second;
  reload_cost_model cost = opts_.reload_cost;
  cost.bytes_per_ms = bytes_per_ms_;
  e.priority = cost_aware_priority(inflation_, reuse_weight(e.uses, degree), cost.cost_ms(e.bytes),
                                   e.bytes);
}

void residency_core::erase(table::iterator i) {
  // Dropping the table's reference frees the memory unless a view still holds it.
  table_.erase(i);
}

} // namespace tessera::residency

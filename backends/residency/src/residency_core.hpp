// The shared state behind a residency manager and its leases: the table of
// resident and in-flight blobs, the byte accounts, and the I/O threads. One
// mutex guards the table; blob reads run on the I/O threads outside it.
// Leases keep the core alive, so a lease may outlive its manager.
#pragma once

#include "tessera/cuda/pinned_staging_pool.hpp"
#include "tessera/residency/io_pool.hpp"
#include "tessera/residency/residency_manager.hpp"

#include "tessera/residency/blob_transfer.hpp"

#include "readahead_plan.hpp"
#include "tessera/store/blob_watch.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace tessera::residency {

class residency_core : public std::enable_shared_from_this<residency_core> {
public:
  residency_core(const store::block_store& store, backend::device_memory& device,
                 residency_options opts);

  /// Lets the queued reads finish and joins the I/O threads.
  void stop_io();

  caf::expected<lease_ptr> load(const std::string& owner, const std::vector<blob_ref>& blobs);
  size_t prefetch(const std::vector<blob_ref>& blobs);
  uint64_t missing_bytes(const std::vector<blob_ref>& blobs) const;
  /// Re-hashes resident blobs, least recently scrubbed first, up to
  /// `max_bytes` (at least one blob); a blob that does not match turns
  /// suspect and bad, as after a change. Returns the bytes hashed.
  uint64_t scrub(uint64_t max_bytes);
  void unload(lease& l, bool free_now);
  uint64_t drop_cached(uint64_t at_least = UINT64_MAX);

  residency_stats stats() const;
  std::vector<blob_residency> blobs() const;
  pressure_level pressure() const;
  void on_pressure(residency_manager::pressure_callback cb);
  void on_corrupt(residency_manager::corrupt_callback cb);
  void set_sharing_degrees(std::unordered_map<content_id, uint32_t> degrees);
  void reset_counters();
  const residency_options& options() const {
    return opts_;
  }

  // The lease's side.
  caf::expected<pin_guard> pin(lease& l);
  caf::error check_unchanged(const lease& l, uint64_t epoch);
  void unpin(lease& l);
  void drain(lease& l);
  uint32_t pins(const lease& l) const;
  bool released(const lease& l) const;
  caf::expected<tensor_buffer> tensor(const lease& l, const content_id& id) const;

private:
  /// Blob memory that returns its bytes to the account when it is freed,
  /// whoever drops it last: the table, a lease, or a tensor view.
  struct resident_memory {
    std::shared_ptr<void> storage;
    uint64_t bytes = 0;
    std::shared_ptr<std::atomic<uint64_t>> account;
    ~resident_memory() {
      *account -= bytes;
    }
  };

  /// One load waiting for blobs in flight. It is woken once, when the last
  /// of them is done, not once per blob: wake-ups cost more than small reads.
  struct load_waiter {
    size_t remaining = 0;
    caf::error error;
  };

  struct load_state {
    std::vector<std::shared_ptr<load_waiter>> waiters;
  };

  struct entry {
    uint64_t serial = 0; ///< tells a re-created entry from the one a load saw
    uint64_t bytes = 0;
    bool resident = false;
    bool claimed = false; ///< an I/O thread is reading it (or has)
    bool prefetched = false;
    uint32_t copies = 0; ///< copies its read made after reading (through staging)
    tensor_spec spec;
    std::byte* data = nullptr;
    std::shared_ptr<resident_memory> memory;
    std::shared_ptr<load_state> pending;
    uint32_t refs = 0;
    uint32_t pins = 0;
    uint32_t uses = 0;
    uint64_t last_use = 0;
    double priority = 0.0;
    /// In place, a large blob's tensor is a mapping of the store's file, so
    /// a write to the file changes it (integrity.cpp).
    bool suspect = false;       ///< its file changed since its bytes were last hashed
    uint64_t changed_epoch = 0; ///< the change count at its file's latest change
    caf::error bad;             ///< its last hash did not match; no change since
    uint64_t scrubbed = 0;      ///< the scrub pass that last hashed it
  };

  using table = std::unordered_map<content_id, entry>;
  using lock_type = std::unique_lock<std::mutex>;

  /// Makes room for `missing` more bytes by evicting cached blobs outside
  /// `request`, or explains why it cannot.
  caf::error make_room(const std::string& owner, uint64_t total, uint64_t missing,
                       const std::unordered_map<content_id, uint64_t>& request,
                       uint64_t& evicted);
  /// A blob to read: the entry (by id and serial) and its declared bytes.
  struct read_order {
    content_id id;
    uint64_t serial = 0;
    uint64_t bytes = 0;
  };

  void submit_reads(std::vector<read_order> work, io_priority p);
  /// Reads a task's blobs; `plan` (may be null) has them from entry `first`.
  void read_group(const std::vector<read_order>& group, const std::shared_ptr<readahead_plan>& plan,
                  size_t first);
  /// Copy mode: the staging buffers, and one copy engine per I/O thread.
  void open_staging();
  /// Copies a blob through staging on a copy engine borrowed for the copy.
  caf::expected<transferred_blob> stage(const content_id& id);
  caf::error name_users(const caf::error& err, const content_id& id) const;
  void touch(const content_id& id, entry& e);
  // Integrity of blobs mapped in place (integrity.cpp), with mtx_ held.
  /// Reads the watch's events: the entries whose files changed turn suspect.
  void poll_changes();
  void mark_changed(entry& e);
  /// Refuses the entry to every pin with ec::corrupt_blob, saying `why`,
  /// until its file changes again.
  void mark_bad(const content_id& id, entry& e, const std::string& why);
  /// Re-hashes a suspect entry's bytes; an error when they do not match its id.
  caf::error rehash(const content_id& id, entry& e);
  /// Before a load: suspect entries no lease holds leave the table, so that
  /// the load reads (and verifies) them again.
  void drop_suspect_unheld(const std::unordered_map<content_id, uint64_t>& request);
  void erase(table::iterator i);
  uint64_t free_bytes() const;
  std::string holders_text() const;
  /// Calls the pressure callbacks if the level changed; never under the lock.
  void publish_pressure();

  const store::block_store& store_;
  backend::device_memory& device_;
  residency_options opts_;
  std::unique_ptr<cuda::pinned_staging_pool> staging_;
  caf::error staging_error_; ///< why staging could not be set up, if it could not
  std::mutex engines_mtx_;
  std::vector<std::unique_ptr<cuda::copy_engine>> idle_engines_;
  std::unique_ptr<io_pool> io_;

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  table table_;
  std::shared_ptr<std::atomic<uint64_t>> used_;
  uint64_t reserved_ = 0;
  uint64_t tick_ = 0;
  uint64_t next_serial_ = 1;
  double inflation_ = 0.0;
  double bytes_per_ms_ = 0.0;
  residency_counters counters_;
  std::vector<lease*> leases_;
  /// In place only: the folders of mapped blobs, watched for changes to
  /// their files; null in copy mode, or where nothing can be watched.
  std::unique_ptr<store::blob_watch> watch_;
  uint64_t change_epoch_ = 0; ///< changes seen to mapped blobs' files
  scrub_stats scrub_;
  std::unordered_map<content_id, uint32_t> sharing_;
  /// Told of each blob found corrupt (under mtx_, which guards it).
  residency_manager::corrupt_callback on_corrupt_;

  std::mutex pressure_mtx_;
  std::vector<residency_manager::pressure_callback> callbacks_;
  pressure_level last_level_ = pressure_level::normal;
};

} // namespace tessera::residency

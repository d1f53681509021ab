// A lease is a model's (or a fused group's) hold on its blobs in the device
// tier: while it lives, none of them is evicted. Running work pins the lease;
// unloading waits for the pins to be released, then lets the blobs go. The
// lifecycle is: granted -> (pinned <-> idle)* -> draining -> released.
#pragma once

#include "tessera/core/tensor_buffer.hpp"
#include "tessera/residency/residency_stats.hpp"

#include <caf/expected.hpp>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace tessera::residency {

class residency_core;
class lease;
using lease_ptr = std::shared_ptr<lease>;

/// What granting a lease did.
struct lease_report {
  uint64_t blobs = 0;
  uint64_t bytes = 0;
  uint64_t blobs_read = 0; ///< read from the store by this load
  uint64_t bytes_read = 0;
  uint64_t blobs_hit = 0;  ///< already resident
  uint64_t blobs_joined = 0; ///< in flight for someone else; waited for
  uint64_t bytes_evicted = 0;
  uint64_t copies = 0;       ///< copies after the read (through staging), for blobs it read
  uint64_t bytes_copied = 0; ///< bytes those copies moved
  double elapsed_ms = 0.0;
};

/// Running work's hold on a lease; releases the pin on destruction.
class pin_guard {
public:
  pin_guard() = default;
  pin_guard(lease_ptr l, uint64_t epoch) : lease_(std::move(l)), epoch_(epoch) {
    // nop
  }
  pin_guard(pin_guard&&) noexcept = default;
  pin_guard& operator=(pin_guard&& other) noexcept;
  ~pin_guard();

  /// In place, where the lease's tensors are the mapped store files: an
  /// ec::corrupt_blob error when a file of one of its blobs changed since the
  /// pin was taken, so that work computed meanwhile is discarded, never served.
  /// Call it after the work, before its results leave; nothing in copy mode.
  caf::error check_unchanged() const;

  void release();

private:
  lease_ptr lease_;
  uint64_t epoch_ = 0; ///< the core's change count when the pin was taken
};

class lease : public std::enable_shared_from_this<lease> {
public:
  /// Releases the blobs if the lease was never unloaded.
  ~lease();

  lease(const lease&) = delete;
  lease& operator=(const lease&) = delete;

  const std::string& owner() const {
    return owner_;
  }

  const std::vector<blob_ref>& blobs() const {
    return blobs_;
  }

  const lease_report& report() const {
    return report_;
  }

  /// The device-resident tensor of one of the lease's blobs.
  caf::expected<tensor_buffer> tensor(const content_id& id) const;

  /// Pins the lease for running work; fails with ec::unloading once draining began.
  caf::expected<pin_guard> pin();

  /// Refuses new pins and waits until the current ones are released.
  void drain();

  /// Pins held right now.
  uint32_t pins() const;

  /// True once the lease has let go of its blobs.
  bool released() const;

private:
  friend class residency_core;
  friend class pin_guard;

  lease(std::shared_ptr<residency_core> core, std::string owner, std::vector<blob_ref> blobs);

  std::shared_ptr<residency_core> core_;
  std::string owner_;
  std::vector<blob_ref> blobs_;
  lease_report report_;
  // Guarded by the core's mutex.
  std::unordered_map<content_id, tensor_buffer> tensors_;
  uint32_t pins_ = 0;
  bool draining_ = false;
  bool released_ = false;
};

} // namespace tessera::residency

// Paces a client's uploads to the uplink share its gateway last gave it (the
// `uplink_share_bytes_per_s` of each reply, docs/protocol.md). Plain data with
// the clock passed in, so the client and its tests drive it the same way.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace tessera::transport {

/// A token bucket that holds no more than one message: a message may leave
/// once the bucket is back at zero and then puts it `bytes` in debt, repaid at
/// the share's rate. So k messages of n bytes take at least (k - 1)·n / share,
/// and a message larger than a second of share still goes. A share of 0 (the
/// gateway reserved nothing: the client's deadlines cannot be met at the
/// current load) holds uploads for `zero_share_hold` after it was given, and
/// then lets one go, whose reply brings a new share.
class upload_pacer {
public:
  using clock = std::chrono::steady_clock;

  static constexpr auto zero_share_hold = std::chrono::milliseconds(1000);

  /// Takes the share of a reply; none turns pacing off.
  void set_share(std::optional<uint64_t> bytes_per_s, clock::time_point now);

  /// The share in force, if any.
  std::optional<uint64_t> share() const {
    return share_;
  }

  /// When a message may leave that is ready at `now` (`now` when unpaced).
  clock::time_point next_start(clock::time_point now) const;

  /// Books a message of `bytes` that left at `at`.
  void sent(uint64_t bytes, clock::time_point at);

private:
  std::optional<uint64_t> share_;
  clock::time_point debt_until_{}; ///< when the bucket is back at zero
  clock::time_point hold_until_{}; ///< with a share of 0
};

} // namespace tessera::transport

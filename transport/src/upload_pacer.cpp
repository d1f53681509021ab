#include "tessera/transport/upload_pacer.hpp"

#include <algorithm>

namespace tessera::transport {

void upload_pacer::set_share(std::optional<uint64_t> bytes_per_s, clock::time_point now) {
  // A 0 renews the hold only once the last one has run out, so a client that
  // keeps hearing 0 sends about once per hold instead of never.
  if (bytes_per_s && *bytes_per_s == 0 && (share_ != bytes_per_s || now >= hold_until_))
    hold_until_ = now + zero_share_hold;
  share_ = bytes_per_s;
}

upload_pacer::clock::time_point upload_pacer::next_start(clock::time_point now) const {
  if (!share_)
    return now;
  if (*share_ == 0)
    return std::max(now, hold_until_);
  return std::max(now, debt_until_);
}

void upload_pacer::sent(uint64_t bytes, clock::time_point at) {
  if (!share_ || *share_ == 0)
    return;
  auto repay =
      std::chrono::duration<double>(static_cast<double>(bytes) / static_cast<double>(*share_));
  debt_until_ = std::max(at, debt_until_) + std::chrono::duration_cast<clock::duration>(repay);
}

} // namespace tessera::transport

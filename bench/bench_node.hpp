// What the benchmarks that drive a real node share: a one-image request for a
// model, and a node started with its models loaded (warm), so that a
// measurement sees serving, not loading.
#pragma once

#include "tessera/actors/node.hpp"
#include "tessera/core/manifest.hpp"
#include "tessera/transport/requests.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace tessera::bench {

/// An inference request for `m`: one random image (batch 1) on its first input.
transport::infer_request image_request(const model_manifest& m, uint64_t seed);

/// Starts a node and runs `rounds` requests of each model through it.
caf::expected<std::unique_ptr<actors::node>>
start_warm_node(const node_config& cfg, const std::vector<model_manifest>& models, int rounds);

/// Milliseconds from `a` to `b`.
inline double ms_between(std::chrono::steady_clock::time_point a,
                         std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

/// An open-loop sender's wait: until `next`, taking replies with `drain(wait)`
/// as they come; true once `next` has come (time to send), false when the
/// caller should check its end and call again.
template <class Drain>
bool until_next_send(std::chrono::steady_clock::time_point next, Drain&& drain) {
  auto now = std::chrono::steady_clock::now();
  if (now >= next)
    return true;
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now);
  if (wait.count() >= 1)
    drain(wait); // replies as they come, until the next send
  else
    std::this_thread::sleep_until(next);
  return false;
}

} // namespace tessera::bench

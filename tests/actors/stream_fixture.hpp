// What the stream suites share: a node of the small zoo whose device tier is
// sampled from another thread (the most it used), a client of it, and the
// executors' states as the scheduler reports them.
#pragma once

#include "node_fixture.hpp"
#include "why.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <atomic>
#include <thread>

namespace tessera::test {

// The most the device tier used (used + reserved) while it ran.
struct device_sampler {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> peak{0};
  std::thread thread;

  explicit device_sampler(const residency::residency_manager& mgr) {
    thread = std::thread{[this, &mgr] {
      while (!stop.load()) {
        auto d = mgr.stats().device;
        peak = std::max<uint64_t>(peak, d.used_bytes + d.reserved_bytes);
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }};
  }

  uint64_t finish() {
    stop = true;
    thread.join();
    return peak.load();
  }
};

// A node of the small zoo, a client of it, and the device sampled from the start.
struct sampled_node {
  std::unique_ptr<actors::node> node;
  zmq::context_t ctx{1};
  caf::expected<transport::client> cl;
  device_sampler sampler;

  explicit sampled_node(const node_config& cfg)
      : node(start_node(cfg)), cl(transport::client::connect(ctx, node->endpoint())),
        sampler(node->residency()) {
    REQUIRE_MESSAGE(cl, test::why(cl));
  }
};

// A node of the small zoo in `mode` whose device budget is half of `m`'s
// parameter bytes, so `m` cannot be held and streams.
inline node_config half_budget_config(const small_zoo& zoo, const model_manifest& m,
                                      load_mode mode) {
  auto cfg = node_config_for(zoo);
  cfg.mode = mode;
  cfg.device_budget_bytes = parameter_bytes(m) / 2;
  return cfg;
}

inline std::vector<actors::executor_state> executor_states(actors::node& n) {
  caf::scoped_actor self{n.system()};
  std::vector<actors::executor_state> out;
  self->request(n.scheduler(), std::chrono::seconds(30), actors::status_atom::value)
      .receive([&](std::vector<actors::executor_state>& s) { out = std::move(s); },
               [&](caf::error& err) { FAIL(describe(err)); });
  return out;
}

} // namespace tessera::test

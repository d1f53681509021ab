// What the swap suites share (swap, swap_window): a residency manager with its
// own device budget and a streaming executor over it, the fully resident run
// to compare with, and a sampler of the device and the model's held bytes.
#pragma once

#include "residency_fixture.hpp"
#include "tessera/core/error.hpp"
#include "tessera/torch/streaming.hpp"
#include "tessera/torch/torch_executor.hpp"
#include "why.hpp"
#include "zoo_fixture.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

namespace tessera::test {

using torch_backend::stream_options;
using torch_backend::stream_stats;

// A residency manager with its own device budget and a streaming executor over it.
struct stream_rig {
  test::residency_rig rig;
  std::unique_ptr<torch_backend::streaming_executor> exec;

  stream_rig(const store::block_store& st, uint64_t device_budget, load_mode mode,
             uint64_t stream_budget = 0, bool staged = false)
      : rig(st, device_budget, mode, true, 0, eviction_policy::cost_aware, staged) {
    auto e = torch_backend::make_streaming_executor({}, *rig.mgr, st.skeletons(), stream_budget);
    REQUIRE_MESSAGE(e, test::why(e));
    exec = std::move(*e);
  }

  std::shared_ptr<torch_backend::streamed_model> prepare(const model_manifest& m,
                                                         const stream_options& opts) {
    auto p = exec->prepare(m, opts);
    REQUIRE_MESSAGE(p, test::why(p));
    return *p;
  }

  std::vector<tensor_buffer> run(torch_backend::streamed_model& m,
                                 const std::vector<tensor_buffer>& in, stream_stats* st = nullptr,
                                 torch_backend::stream_step_callback cb = {}) {
    auto out = exec->run(m, in, st, std::move(cb));
    REQUIRE_MESSAGE(out, test::why(out));
    return *out;
  }
};

// The reference: the whole model resident, run by the ordinary executor.
inline std::vector<tensor_buffer> resident_run(const model_manifest& m,
                                               const std::vector<tensor_buffer>& in,
                                               load_mode mode = load_mode::copy) {
  auto& zoo = test::small_zoo::get();
  test::residency_rig rig{*zoo.store, 1ull << 30, mode};
  auto exec = torch_backend::make_torch_executor({}, *rig.mgr, zoo.store->skeletons());
  REQUIRE(exec);
  auto loaded = (*exec)->load(m);
  REQUIRE_MESSAGE(loaded, test::why(loaded));
  auto out = (*exec)->run(**loaded, in);
  REQUIRE_MESSAGE(out, test::why(out));
  (*exec)->unload(*loaded);
  return *out;
}

inline std::vector<tensor_buffer> image(const model_manifest& m, int64_t batch, uint64_t seed) {
  return {random_tensor(with_batch(m.inputs[0].spec, batch), seed)};
}

inline bool same_bytes(const tensor_buffer& a, const tensor_buffer& b) {
  return a.spec == b.spec && std::memcmp(a.data, b.data, a.bytes) == 0;
}

// Samples the manager and the model from another thread while `work` runs.
struct sampler {
  std::atomic<bool> stop{false};
  uint64_t samples = 0;
  uint64_t max_held = 0;
  uint64_t max_referenced = 0; ///< referenced + reserved
  uint64_t max_used = 0;       ///< used + reserved
  std::thread thread;

  sampler(const residency::residency_manager& mgr, const torch_backend::streamed_model& m) {
    thread = std::thread{[this, &mgr, &m] {
      while (!stop.load()) {
        auto d = mgr.stats().device;
        max_held = std::max(max_held, m.held_bytes());
        max_referenced = std::max(max_referenced, d.referenced_bytes + d.reserved_bytes);
        max_used = std::max(max_used, d.used_bytes + d.reserved_bytes);
        ++samples;
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    }};
  }

  void finish() {
    stop = true;
    thread.join();
  }
};

} // namespace tessera::test

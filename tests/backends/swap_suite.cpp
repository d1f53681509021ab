// Block swapping: streamed runs against fully resident runs (bit for bit: the
// same kernels run on the same bytes in the same order), the budget held at
// every moment, pressure during a run, concurrent streams and refusal.
#include "residency_fixture.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/fusion_plan.hpp"
#include "tessera/core/swap_budget.hpp"
#include "tessera/torch/streaming.hpp"
#include "tessera/torch/torch_executor.hpp"
#include "zoo_fixture.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

using namespace tessera;
using test::largest_block_bytes;
using torch_backend::stream_options;
using torch_backend::stream_stats;

namespace {

// A residency manager with its own device budget and a streaming executor over it.
struct stream_rig {
  test::residency_rig rig;
  std::unique_ptr<torch_backend::streaming_executor> exec;

  stream_rig(const store::block_store& st, uint64_t device_budget, load_mode mode,
             uint64_t stream_budget = 0, bool staged = false)
    : rig(st, device_budget, mode, true, 0, eviction_policy::cost_aware, staged) {
    auto e = torch_backend::make_streaming_executor({}, *rig.mgr, st.skeletons(), stream_budget);
    REQUIRE_MESSAGE(e, describe(e.error()));
    exec = std::move(*e);
  }

  std::shared_ptr<torch_backend::streamed_model> prepare(const model_manifest& m,
                                                         const stream_options& opts) {
    auto p = exec->prepare(m, opts);
    REQUIRE_MESSAGE(p, describe(p.error()));
    return *p;
  }

  std::vector<tensor_buffer> run(torch_backend::streamed_model& m,
                                 const std::vector<tensor_buffer>& in, stream_stats* st = nullptr,
                                 torch_backend::stream_step_callback cb = {}) {
    auto out = exec->run(m, in, st, std::move(cb));
    REQUIRE_MESSAGE(out, describe(out.error()));
    return *out;
  }
};

// The reference: the whole model resident, run by the ordinary executor.
std::vector<tensor_buffer> resident_run(const model_manifest& m, const std::vector<tensor_buffer>& in,
                                        load_mode mode = load_mode::copy) {
  auto& zoo = test::small_zoo::get();
  test::residency_rig rig{*zoo.store, 1ull << 30, mode};
  auto exec = torch_backend::make_torch_executor({}, *rig.mgr, zoo.store->skeletons());
  REQUIRE(exec);
  auto loaded = (*exec)->load(m);
  REQUIRE_MESSAGE(loaded, describe(loaded.error()));
  auto out = (*exec)->run(**loaded, in);
  REQUIRE_MESSAGE(out, describe(out.error()));
  (*exec)->unload(*loaded);
  return *out;
}

std::vector<tensor_buffer> image(const model_manifest& m, int64_t batch, uint64_t seed) {
  return {random_tensor(with_batch(m.inputs[0].spec, batch), seed)};
}

bool same_bytes(const tensor_buffer& a, const tensor_buffer& b) {
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

} // namespace

TEST_SUITE("swap") {
  TEST_CASE("streamed outputs equal fully resident outputs, bit for bit, at 1/2, 1/3 and 1/5") {
    // Bit-exact is expected: the streamed run calls the same compiled skeletons
    // on the same parameter bytes in the same order; only when they are resident differs.
    // Every model of the zoo, not only each family's base: the zoo cuts its
    // modules so that no block holds more than 18% of a family's smallest model.
    auto& zoo = test::small_zoo::get();
    REQUIRE(zoo.models.size() == 15);
    for (const auto& e : zoo.models) {
      const auto& m = e.manifest;
      auto in = image(m, 2, 17);
      auto expected = resident_run(m, in);
      auto bytes = test::model_bytes(m);
      REQUIRE(largest_block_bytes(m) <= bytes / 5);
      // 1/2, 1/3, 1/5, and the least budget the model streams in (its largest block).
      for (uint64_t budget : {bytes / 2, bytes / 3, bytes / 5, largest_block_bytes(m)}) {
        CAPTURE(m.name);
        CAPTURE(budget);
        stream_rig r{*zoo.store, budget, load_mode::copy};
        auto prepared = r.exec->prepare(m, {budget});
        REQUIRE_MESSAGE(prepared, describe(prepared.error()));
        stream_stats st;
        auto out = r.run(**prepared, in, &st);
        REQUIRE(out.size() == 1);
        CHECK(same_bytes(out[0], expected[0]));
        CHECK(st.blocks.size() == m.nodes.size());
        CHECK(st.peak_held_bytes <= budget);
        CHECK(st.bytes_read >= bytes - budget); // at most the budget was still resident
        CHECK(st.forced_blocks == 0);
        test::check_accounting(*r.rig.mgr, r.rig.arena);
      }
      // One byte under the largest block is refused, naming the block's bytes.
      stream_rig r{*zoo.store, bytes, load_mode::copy};
      auto refused = r.exec->prepare(m, {largest_block_bytes(m) - 1});
      REQUIRE_FALSE(refused);
      CHECK(code_of(refused.error()) == ec::out_of_memory);
      CHECK(describe(refused.error()).find(std::to_string(largest_block_bytes(m)))
            != std::string::npos);
    }
  }

  TEST_CASE("in place, blocks are used from the mapped store and nothing is copied") {
    auto& zoo = test::small_zoo::get();
    const auto& m = zoo.manifest("vit-tiny");
    auto in = image(m, 1, 3);
    auto budget = test::model_bytes(m) / 3;
    stream_rig r{*zoo.store, budget, load_mode::in_place};
    auto model = r.prepare(m, {budget});
    stream_stats st;
    auto out = r.run(*model, in, &st);
    CHECK(same_bytes(out[0], resident_run(m, in, load_mode::in_place)[0]));
    CHECK(st.copies == 0);
    CHECK(st.bytes_copied == 0);
    CHECK(st.bytes_read == test::model_bytes(m));
  }

  TEST_CASE("copy mode reads each blob once; through staging it copies each once") {
    auto& zoo = test::small_zoo::get();
    const auto& m = zoo.manifest("vit-tiny");
    auto in = image(m, 1, 4);
    auto budget = test::model_bytes(m) / 2;
    for (bool staged : {false, true}) {
      CAPTURE(staged);
      stream_rig r{*zoo.store, budget, load_mode::copy, 0, staged};
      auto model = r.prepare(m, {budget, true, 4, true});
      stream_stats st;
      r.run(*model, in, &st);
      uint64_t blobs = 0;
      for (const auto& b : st.blocks) {
        CHECK(b.bytes_read == b.bytes); // freed after use: every block is read, once
        CHECK(b.copies == (staged ? b.blobs_read : 0));
        CHECK(b.bytes_copied == (staged ? b.bytes_read : 0));
        blobs += b.blobs_read;
      }
      auto c = r.rig.mgr->stats().counters;
      CHECK(c.blobs_read == blobs);
      CHECK(c.copies == (staged ? blobs : 0));
    }
  }

  TEST_CASE("resident bytes never exceed the budget during a streamed run") {
    auto& zoo = test::small_zoo::get();
    for (const char* name : {"vit-tiny", "resnet18"}) {
      const auto& m = zoo.manifest(name);
      auto in = image(m, 2, 9);
      auto budget = test::model_bytes(m) / 2;
      for (bool free_finished : {true, false}) {
        CAPTURE(name);
        CAPTURE(free_finished);
        // The device could hold the whole model; the stream must keep to its own budget.
        stream_rig r{*zoo.store, 2 * test::model_bytes(m), load_mode::copy};
        auto model = r.prepare(m, {budget, true, 8, free_finished});
        sampler s{*r.rig.mgr, *model};
        stream_stats st;
        for (int i = 0; i < 3; ++i)
          r.run(*model, in, &st);
        s.finish();
        CHECK(s.samples > 10);
        CHECK(s.max_held > 0);
        CHECK(s.max_held <= budget);
        CHECK(s.max_referenced <= budget);
        if (free_finished)
          CHECK(s.max_used <= budget); // nothing stays cached either
        CHECK(model->held_bytes() == 0);
        CHECK(r.rig.mgr->stats().device.referenced_bytes == 0);
      }
    }
  }

  TEST_CASE("blocks kept between runs are found resident by the next run, within the budget") {
    auto& zoo = test::small_zoo::get();
    const auto& m = zoo.manifest("resnet18");
    auto in = image(m, 1, 13);
    auto bytes = test::model_bytes(m);
    auto budget = bytes / 2;
    // A device of exactly the budget: kept blocks and the window share it.
    stream_rig r{*zoo.store, budget, load_mode::copy};
    auto model = r.prepare(m, {budget});
    sampler s{*r.rig.mgr, *model};
    stream_stats first, second;
    auto a = r.run(*model, in, &first);
    auto b = r.run(*model, in, &second);
    s.finish();
    CHECK(same_bytes(a[0], b[0]));
    CHECK(first.bytes_read == bytes); // nothing was resident before
    REQUIRE(second.retained_bytes > 0);
    CHECK(second.retained_bytes == first.retained_bytes);
    CHECK(second.bytes_read == bytes - second.retained_bytes);
    uint32_t kept = 0;
    for (const auto& blk : second.blocks) {
      CAPTURE(blk.node);
      if (blk.retained) {
        CHECK(blk.bytes_read == 0);
        ++kept;
      } else {
        CHECK(blk.bytes_read == blk.bytes);
      }
    }
    CHECK(kept > 0);
    CHECK(second.blocks.front().retained); // the block every run starts by waiting for
    CHECK(second.peak_held_bytes <= budget);
    CHECK(s.max_held <= budget);
    CHECK(s.max_used <= budget);
    // What stays between runs is exactly the kept blocks, cached (evictable).
    auto d = r.rig.mgr->stats().device;
    CHECK(d.referenced_bytes == 0);
    CHECK(d.cached_bytes == second.retained_bytes);
    CHECK(model->held_bytes() == 0);
    // Without retention the same device reads (almost) the whole model again.
    stream_rig plain{*zoo.store, budget, load_mode::copy};
    stream_options no_keep{budget};
    no_keep.retain = false;
    auto again = plain.prepare(m, no_keep);
    stream_stats p1, p2;
    plain.run(*again, in, &p1);
    plain.run(*again, in, &p2);
    CHECK(p2.retained_bytes == 0);
    CHECK(p2.bytes_read > second.bytes_read);
  }

  TEST_CASE("prefetching loads blocks ahead; without it the run waits for every block") {
    auto& zoo = test::small_zoo::get();
    const auto& m = zoo.manifest("vit-tiny");
    auto in = image(m, 1, 5);
    auto budget = test::model_bytes(m) / 2;
    stream_rig r{*zoo.store, budget, load_mode::copy};
    auto ahead = r.prepare(m, {budget, true, 4, true});
    auto serial = r.prepare(m, {budget, false, 4, true});
    stream_stats with, without;
    auto a = r.run(*ahead, in, &with);
    auto b = r.run(*serial, in, &without);
    CHECK(same_bytes(a[0], b[0]));
    uint32_t prefetched = 0;
    uint32_t max_ahead = 0;
    for (const auto& blk : with.blocks) {
      prefetched += blk.prefetched ? 1 : 0;
      max_ahead = std::max(max_ahead, blk.ahead);
    }
    CHECK(prefetched > 0);
    CHECK(max_ahead >= 1);
    for (const auto& blk : without.blocks) {
      CHECK_FALSE(blk.prefetched);
      CHECK(blk.ahead == 0);
    }
  }

  TEST_CASE("memory pressure during a run shrinks its window and the request succeeds") {
    auto& zoo = test::small_zoo::get();
    const auto& m = zoo.manifest("vit-tiny");
    auto in = image(m, 2, 21);
    auto expected = resident_run(m, in);
    auto bytes = test::model_bytes(m);
    stream_rig r{*zoo.store, bytes, load_mode::copy};
    // At most 3 blocks ahead: a load admitted before a signal lands within 3 blocks.
    auto model = r.prepare(m, {bytes / 2, true, 3, false});

    SUBCASE("a critical pressure signal: one block at a time from then on") {
      stream_stats st;
      uint32_t signalled = 0;
      auto out = r.run(*model, in, &st, [&](uint32_t step, uint32_t steps) {
        if (step == steps / 2) {
          r.exec->on_memory_pressure(pressure_level::critical);
          signalled = step;
        }
      });
      CHECK(same_bytes(out[0], expected[0]));
      REQUIRE(signalled > 0);
      uint32_t before_ahead = 0;
      for (uint32_t i = 0; i <= signalled; ++i)
        before_ahead = std::max(before_ahead, st.blocks[i].ahead);
      CHECK(before_ahead >= 1); // it did prefetch before the signal
      // Slack: a load admitted before the signal may still land.
      for (uint32_t i = signalled + 4; i < st.blocks.size(); ++i) {
        CAPTURE(i);
        CHECK(st.blocks[i].budget_bytes == 0);
        CHECK(st.blocks[i].ahead == 0);
        CHECK(st.blocks[i].held_bytes == st.blocks[i].bytes);
      }
      CHECK(st.forced_blocks > 0);
      // Back to normal: the next run prefetches again.
      r.exec->on_memory_pressure(pressure_level::normal);
      stream_stats again;
      CHECK(same_bytes(r.run(*model, in, &again)[0], expected[0]));
      CHECK(again.forced_blocks == 0);
      CHECK(again.peak_held_bytes > largest_block_bytes(m));
    }

    SUBCASE("a lower budget mid-run: prefetched blocks are given back, the window shrinks") {
      auto low = largest_block_bytes(m) + largest_block_bytes(m) / 2;
      stream_stats st;
      uint32_t signalled = 0;
      auto out = r.run(*model, in, &st, [&](uint32_t step, uint32_t steps) {
        if (step == steps / 3) {
          REQUIRE_FALSE(model->set_budget(low));
          signalled = step;
        }
      });
      CHECK(same_bytes(out[0], expected[0]));
      REQUIRE(signalled > 0);
      CHECK(st.blocks[signalled].budget_bytes == bytes / 2);
      for (uint32_t i = signalled + 4; i < st.blocks.size(); ++i) {
        CAPTURE(i);
        CHECK(st.blocks[i].budget_bytes == low);
        CHECK(st.blocks[i].held_bytes <= low);
      }
      CHECK(model->budget() == low);
      // A budget below the largest block is refused, and the old one stays.
      auto err = model->set_budget(largest_block_bytes(m) - 1);
      CHECK(code_of(err) == ec::out_of_memory);
      CHECK(model->budget() == low);
    }
  }

  TEST_CASE("concurrent streams split the executor's budget") {
    auto& zoo = test::small_zoo::get();
    const auto& a = zoo.manifest("vit-tiny");
    const auto& b = zoo.manifest("resnet18");
    // Room for both largest blocks and a little more: neither can have its fill.
    auto total = largest_block_bytes(a) + largest_block_bytes(b)
                 + (test::model_bytes(a) + test::model_bytes(b)) / 10;
    REQUIRE(total < test::model_bytes(a) + test::model_bytes(b));
    stream_rig r{*zoo.store, 1ull << 30, load_mode::copy, total};
    auto ma = r.prepare(a, {});
    auto mb = r.prepare(b, {});
    auto in_a = image(a, 1, 1);
    auto in_b = image(b, 1, 2);
    // After blocks 0 and 1 each run waits for the other, so that both took
    // block 1 while the other was running.
    std::mutex mtx;
    std::condition_variable cv;
    int reached[2] = {0, 0};
    auto meet = [&](uint32_t step, uint32_t) {
      if (step > 1)
        return;
      std::unique_lock<std::mutex> lock{mtx};
      ++reached[step];
      cv.notify_all();
      cv.wait(lock, [&] { return reached[step] == 2; });
    };
    stream_stats sa, sb;
    std::vector<tensor_buffer> oa, ob;
    std::atomic<uint64_t> max_sum{0};
    std::atomic<bool> done{false};
    std::thread watch{[&] {
      while (!done.load()) {
        max_sum = std::max<uint64_t>(max_sum.load(), ma->held_bytes() + mb->held_bytes());
        std::this_thread::yield();
      }
    }};
    std::thread other{[&] { oa = r.run(*ma, in_a, &sa, meet); }};
    ob = r.run(*mb, in_b, &sb, meet);
    other.join();
    done = true;
    watch.join();
    CHECK(same_bytes(oa[0], resident_run(a, in_a)[0]));
    CHECK(same_bytes(ob[0], resident_run(b, in_b)[0]));
    CHECK(max_sum.load() <= total);
    auto expected = split_swap_budget(total, {{largest_block_bytes(a), test::model_bytes(a), 0},
                                              {largest_block_bytes(b), test::model_bytes(b), 0}});
    // While both ran, each kept to a share below the whole budget.
    CHECK(sa.blocks[1].budget_bytes < total);
    CHECK(sb.blocks[1].budget_bytes < total);
    CHECK(sa.blocks[1].budget_bytes + sb.blocks[1].budget_bytes <= total);
    // The split does not depend on who came first, but for rounding.
    CHECK(sa.blocks[1].budget_bytes + 16 >= expected[0]);
    CHECK(sa.blocks[1].budget_bytes <= expected[0] + 16);
  }

  TEST_CASE("a block larger than the budget is refused with its name and size") {
    auto& zoo = test::small_zoo::get();
    const auto& m = zoo.manifest("resnet18");
    auto largest = largest_block_bytes(m);
    std::string block;
    for (const auto& n : m.nodes) {
      uint64_t bytes = 0;
      for (const auto& p : n.params)
        bytes += p.spec.bytes();
      if (bytes == largest)
        block = n.name;
    }
    stream_rig r{*zoo.store, 1ull << 30, load_mode::copy};
    auto refused = r.exec->prepare(m, {largest - 1});
    REQUIRE_FALSE(refused);
    CHECK(code_of(refused.error()) == ec::out_of_memory);
    auto text = describe(refused.error());
    CHECK(text.find("\"" + block + "\"") != std::string::npos);
    CHECK(text.find(std::to_string(largest) + " bytes") != std::string::npos);
    // The device budget is the hard cap: a smaller device refuses the block too.
    stream_rig small{*zoo.store, largest - 1, load_mode::copy};
    auto on_small = small.exec->prepare(m, {});
    REQUIRE_FALSE(on_small);
    CHECK(code_of(on_small.error()) == ec::out_of_memory);
    CHECK(describe(on_small.error()).find("\"" + block + "\"") != std::string::npos);
    // At exactly its largest block it streams, one block at a time.
    auto tight = r.prepare(m, {largest, true, 4, true});
    auto in = image(m, 1, 8);
    stream_stats st;
    CHECK(same_bytes(r.run(*tight, in, &st)[0], resident_run(m, in)[0]));
    CHECK(st.peak_held_bytes <= largest);
  }

  TEST_CASE("blocks shared with a resident model stay resident and are not read again") {
    auto& zoo = test::small_zoo::get();
    const auto& base = zoo.manifest("vit-tiny");
    const model_manifest* variant = nullptr;
    for (const auto& e : zoo.models)
      if (e.derived_from == "vit-tiny" && e.sharing == zoo::sharing_kind::head)
        variant = &e.manifest;
    REQUIRE(variant != nullptr);
    auto budget = test::model_bytes(base) / 2;
    stream_rig r{*zoo.store, 4 * test::model_bytes(base), load_mode::copy};
    auto resident_exec = torch_backend::make_torch_executor({}, *r.rig.mgr, zoo.store->skeletons());
    REQUIRE(resident_exec);
    auto held = (*resident_exec)->load(*variant);
    REQUIRE(held);
    auto model = r.prepare(base, {budget, true, 4, true});
    auto in = image(base, 1, 6);
    stream_stats st;
    CHECK(same_bytes(r.run(*model, in, &st)[0], resident_run(base, in)[0]));
    auto shared = shared_bytes(base, *variant);
    REQUIRE(shared > 0);
    CHECK(st.bytes_read == test::model_bytes(base) - shared);
    // free_finished freed the stream's own blocks; the shared ones are still held.
    auto d = r.rig.mgr->stats().device;
    CHECK(d.used_bytes == test::model_bytes(*variant));
    (*resident_exec)->unload(*held);
  }

  TEST_CASE("a fused group's DAG streams, one member's sub-DAG at a time") {
    auto& zoo = test::small_zoo::get();
    std::vector<model_manifest> members;
    for (const auto& e : zoo.models)
      if (e.manifest.family == "vit" && members.size() < 2)
        members.push_back(e.manifest);
    auto plan = plan_fusion("vit-pair", members);
    REQUIRE_MESSAGE(plan, describe(plan.error()));
    auto budget = test::model_bytes(plan->dag) / 3;
    stream_rig r{*zoo.store, budget, load_mode::copy};
    auto model = r.prepare(plan->dag, {budget});
    auto in = image(members[0], 1, 12);
    auto wanted = plan->outputs_of({members[1].name});
    REQUIRE(wanted);
    stream_stats st;
    auto out = r.exec->run_outputs(*model, in, *wanted, &st);
    REQUIRE_MESSAGE(out, describe(out.error()));
    CHECK(same_bytes((*out)[0], resident_run(members[1], in)[0]));
    CHECK(st.blocks.size() == members[1].nodes.size());
  }
}

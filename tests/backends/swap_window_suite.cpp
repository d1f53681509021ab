// Block swapping, the window a streamed run keeps: the budget held at every
// moment, blocks kept between runs, prefetching ahead, memory pressure and a
// lower budget during a run, and concurrent streams splitting one budget.
#include "src/stream_window.hpp" // the window alone, driven step by step
#include "swap_fixture.hpp"
#include "tessera/core/swap_budget.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

using namespace tessera;
using namespace tessera::test;

TEST_SUITE("swap_window") {
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

  TEST_CASE("with every block resident the run leases them itself; a block read starts prefetching") {
    auto& zoo = test::small_zoo::get();
    const auto& m = zoo.manifest("vit-tiny");
    auto in = image(m, 1, 3);
    auto bytes = test::model_bytes(m);
    // A budget of the whole model keeps every block cached between runs.
    stream_rig r{*zoo.store, bytes, load_mode::copy};
    auto model = r.prepare(m, {bytes});
    stream_stats first, cached, after_drop;
    auto a = r.run(*model, in, &first);
    auto b = r.run(*model, in, &cached);
    CHECK(first.bytes_read == bytes);
    CHECK(cached.bytes_read == 0);
    // No helper: nothing was leased ahead of the run, and it never waited on one.
    for (const auto& blk : cached.blocks) {
      CAPTURE(blk.node);
      CHECK_FALSE(blk.prefetched);
      CHECK(blk.ahead == 0);
    }
    // Evicted between runs: the first block read starts the helper, which
    // leases the next blocks ahead of the run.
    CHECK(r.rig.mgr->drop_cached() > 0);
    auto c = r.run(*model, in, &after_drop);
    CHECK(after_drop.bytes_read == bytes);
    uint32_t prefetched = 0;
    for (const auto& blk : after_drop.blocks)
      prefetched += blk.prefetched ? 1 : 0;
    CHECK(prefetched > 0);
    CHECK(same_bytes(a[0], b[0]));
    CHECK(same_bytes(a[0], c[0]));
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
    auto total = largest_block_bytes(a) + largest_block_bytes(b) +
                 (test::model_bytes(a) + test::model_bytes(b)) / 10;
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
  TEST_CASE("blocks trimmed after the last one loaded are loaded again once they fit") {
    // The hang fixed in c6b15c7: the prefetch helper stopped once it had
    // loaded the last block; a budget lowered after that (another stream
    // starting) trimmed loaded blocks, nothing loaded them again, and the run
    // waited for its next block forever.
    auto& zoo = test::small_zoo::get();
    const auto& m = zoo.manifest("resnet18");
    test::residency_rig rig{*zoo.store, 2 * test::model_bytes(m), load_mode::copy};
    auto refs = residency::blob_refs_of(m);
    REQUIRE(refs.size() >= 8);
    torch_backend::stream_plan plan; // two blocks of four blobs each
    for (uint32_t s = 0; s < 2; ++s) {
      torch_backend::stream_step step;
      step.node = s;
      step.name = "block" + std::to_string(s);
      step.blobs.assign(refs.begin() + 4 * s, refs.begin() + 4 * (s + 1));
      for (const auto& b : step.blobs)
        step.bytes += b.bytes;
      step.release_after = s;
      plan.model_bytes += step.bytes;
      plan.steps.push_back(step);
    }
    std::atomic<uint64_t> budget{plan.model_bytes};
    stream_options opts;
    opts.retain = false;
    auto window = std::make_unique<torch_backend::stream_window>(
        *rig.mgr, "trimmed", plan, opts, [&] { return budget.load(); },
        std::make_shared<std::atomic<uint64_t>>(0));
    window->start();
    auto wait_for = [](auto done) {
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!done() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return done();
    };
    // The window starts two blocks deep: both load ahead of the run.
    REQUIRE(wait_for([&] { return window->loaded_ahead() == 2; }));
    budget = 0; // as when another stream takes the budget
    window->budget_changed();
    CHECK(window->trimmed_blocks() == 2);
    CHECK(window->loaded_ahead() == 0);
    budget = plan.model_bytes; // and ends
    window->budget_changed();
    auto run = std::async(std::launch::async, [&] {
      bool ok = true;
      for (uint32_t s = 0; s < 2; ++s) {
        torch_backend::stream_block_stats st;
        auto lease = window->take(s, st);
        ok = ok && static_cast<bool>(lease);
        window->finish(s, 1.0);
      }
      return ok;
    });
    bool answered = run.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
    CHECK_MESSAGE(answered, "the run still waits for a trimmed block");
    window->stop(); // a take still waiting returns an error
    CHECK(run.get() == answered);
    window.reset();
    CHECK(rig.mgr->stats().device.referenced_bytes == 0);
  }
}

// Block swapping, what a streamed run computes and moves: outputs equal fully
// resident runs bit for bit (the same kernels on the same bytes in the same
// order), blobs are read and copied no more than needed, blocks shared with a
// resident model are not read again, a block above the budget is refused by
// name, and a fused group's DAG streams one member at a time.
#include "swap_fixture.hpp"
#include "tessera/core/fusion_plan.hpp"
#include "why.hpp"

#include <doctest/doctest.h>

using namespace tessera;
using namespace tessera::test;

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
        REQUIRE_MESSAGE(prepared, test::why(prepared));
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

  TEST_CASE("bindings kept between runs follow their blobs when another model took their memory") {
    // A streamed model keeps each block's binding for its next runs while the
    // blobs stay where the views point. Here another model fills the device in
    // between, so the blobs are evicted, their memory holds other blobs, and
    // they are read back, likely elsewhere: a stale binding would read the
    // other model's bytes.
    auto& zoo = test::small_zoo::get();
    const auto& vit = zoo.manifest("vit-tiny");
    const auto& resnet = zoo.manifest("resnet18");
    auto device = test::model_bytes(vit);
    REQUIRE(largest_block_bytes(resnet) <= device);
    auto in = image(vit, 1, 5);
    auto expected = resident_run(vit, in);
    auto in_resnet = image(resnet, 1, 6);
    auto expected_resnet = resident_run(resnet, in_resnet);
    stream_rig r{*zoo.store, device, load_mode::copy};
    auto streamed = r.prepare(vit, {device});
    auto other = r.prepare(resnet, {device});
    for (int round = 0; round < 3; ++round) {
      CAPTURE(round);
      stream_stats cold;
      CHECK(same_bytes(r.run(*streamed, in, &cold)[0], expected[0]));
      if (round > 0)
        CHECK(cold.bytes_read > 0); // resnet18 had pushed blobs out
      stream_stats cached;
      CHECK(same_bytes(r.run(*streamed, in, &cached)[0], expected[0]));
      CHECK(cached.bytes_read < cold.bytes_read); // blocks cached: their kept bindings are used
      CHECK(same_bytes(r.run(*other, in_resnet)[0], expected_resnet[0]));
    }
    test::check_accounting(*r.rig.mgr, r.rig.arena);
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
    REQUIRE_MESSAGE(plan, test::why(plan));
    auto budget = test::model_bytes(plan->dag) / 3;
    stream_rig r{*zoo.store, budget, load_mode::copy};
    auto model = r.prepare(plan->dag, {budget});
    auto in = image(members[0], 1, 12);
    auto wanted = plan->outputs_of({members[1].name});
    REQUIRE(wanted);
    stream_stats st;
    auto out = r.exec->run_outputs(*model, in, *wanted, &st);
    REQUIRE_MESSAGE(out, test::why(out));
    CHECK(same_bytes((*out)[0], resident_run(members[1], in)[0]));
    CHECK(st.blocks.size() == members[1].nodes.size());
  }
}

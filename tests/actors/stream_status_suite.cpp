// The stream figures of a node's server_status reply (docs/protocol.md,
// "server_status"): what the executors' streamed runs read and copied, per
// block and in total, as `tessera status --endpoint` prints them. A real node
// streams a model twice its device budget; the reply must agree with the
// executors' own counts and with the residency manager's.
#include "backends/residency_fixture.hpp"
#include "src/streamed_units.hpp"
#include "stream_fixture.hpp"
#include "tessera/actors/server_status.hpp"
#include "tessera/transport/codec.hpp"
#include "why.hpp"

#include <doctest/doctest.h>

using namespace tessera;
using namespace tessera::test;
using namespace tessera::transport;

namespace {

server_status_response status_of(client& cl) {
  auto r = cl.call_as<server_status_response>({"", server_status_request{}}, reply_timeout);
  REQUIRE_MESSAGE(r, test::why(r));
  return *r;
}

// Streams resnet18 twice on a node of half its size in `mode`, then checks
// the node's server_status against the executor's and the manager's counts.
void check_status_after_streams(load_mode mode) {
  const auto& zoo = small_zoo::get();
  const auto& m = zoo.manifest("resnet18");
  auto cfg = half_budget_config(zoo, m, mode);
  sampled_node sn{cfg};
  // Before any streamed unit: no figures at all, not zeros.
  auto before = status_of(*sn.cl);
  REQUIRE(before.executors.size() == 1);
  CHECK_FALSE(before.executors[0].stream);
  for (uint64_t seed = 0; seed < 2; ++seed) {
    auto r = sn.cl->call_as<infer_response>({"", infer_for(m, 1, seed)}, reply_timeout);
    REQUIRE_MESSAGE(r, test::why(r));
  }
  sn.sampler.finish();
  auto status = status_of(*sn.cl);
  REQUIRE(status.executors.size() == 1);
  const auto& e = status.executors[0];
  CHECK(e.streamed == std::vector<std::string>{"resnet18:" + std::to_string(m.version)});
  REQUIRE(e.stream);
  const auto& s = *e.stream;
  CHECK(s.runs == 2);
  CHECK(s.failed_runs == 0);
  CHECK(s.blocks == 2 * m.nodes.size());
  // A run keeps at most the budget, so each read at least the rest.
  CHECK(s.bytes_read >= parameter_bytes(m) - cfg.device_budget_bytes);
  CHECK(s.blobs_read > 0);
  CHECK(s.compute_us > 0);
  CHECK(s.waited_blocks <= s.blocks);
  CHECK(s.peak_held_bytes > 0);
  CHECK(s.peak_held_bytes <= cfg.device_budget_bytes);
  CHECK(s.budget_bytes > 0);
  CHECK(s.budget_bytes < cfg.device_budget_bytes); // just below the high watermark
  CHECK(s.last_share_bytes > 0);
  CHECK(s.last_share_bytes <= s.budget_bytes);
  // A CPU device is host-accessible: in place the blocks view the mapped
  // store and in copy mode blobs are read straight into the arena; neither
  // copies after the read (a discrete GPU's staging would: one per blob).
  CHECK(s.copies == 0);
  CHECK(s.bytes_copied == 0);
  // The reply carries exactly what the executor summed from its blocks' stats.
  auto states = executor_states(*sn.node);
  REQUIRE(states.size() == 1);
  const auto& t = states[0].streams;
  CHECK(s.blocks == t.blocks);
  CHECK(s.blobs_read == t.blobs_read);
  CHECK(s.bytes_read == t.bytes_read);
  CHECK(s.copies == t.copies);
  CHECK(s.bytes_copied == t.bytes_copied);
  CHECK(s.waited_blocks == t.waited_blocks);
  CHECK(s.peak_held_bytes == t.peak_held_bytes);
  CHECK(s.last_share_bytes == t.last_share_bytes);
  CHECK(s.last_window_blocks == t.last_window_blocks);
  // Only the streams loaded on this node: the manager read the same bytes.
  auto c = sn.node->residency().stats().counters;
  CHECK(s.blobs_read == c.blobs_read);
  CHECK(s.bytes_read == c.bytes_read);
  CHECK(s.copies == c.copies);
  CHECK(s.bytes_copied == c.bytes_copied);
}

// An executor's entry after a trip through the codec, as a client reads it.
executor_entry over_the_wire(const executor_entry& e) {
  server_status_response r;
  r.executors.push_back(e);
  auto frames = encode_response("s1", response_body{r});
  REQUIRE(frames);
  auto back = decode_response(std::move(*frames));
  REQUIRE_MESSAGE(back.value, test::why(back.value));
  auto* status = std::get_if<server_status_response>(&*back.value);
  REQUIRE(status != nullptr);
  REQUIRE(status->executors.size() == 1);
  return status->executors[0];
}

} // namespace

TEST_SUITE("stream_status") {
  TEST_CASE("server_status reports what streamed runs read and copied, as the executors and the "
            "residency manager counted it") {
    SUBCASE("in place") {
      check_status_after_streams(load_mode::in_place);
    }
    SUBCASE("copy mode") {
      check_status_after_streams(load_mode::copy);
    }
  }

  TEST_CASE("through staging, the reported copies are one per blob read, as the blocks' stats "
            "count them") {
    // The discrete-GPU path on the CPU: copy mode through pinned staging, with
    // the node's streaming executor and the executor actor's streamed units.
    const auto& zoo = small_zoo::get();
    const auto& m = zoo.manifest("resnet18");
    residency_rig rig{
        *zoo.store, parameter_bytes(m) / 2, load_mode::copy, true, 0, eviction_policy::cost_aware,
        true};
    auto stream = actors::start_node_stream({}, *rig.mgr, zoo.store->skeletons());
    REQUIRE_MESSAGE(stream, test::why(stream));
    actors::streamed_units units{*stream, *rig.mgr};
    auto unit = units.prepare(model_ref(m), m);
    REQUIRE_MESSAGE(unit, test::why(unit));
    std::vector<uint32_t> wanted(m.outputs.size());
    for (uint32_t i = 0; i < wanted.size(); ++i)
      wanted[i] = i;
    for (uint64_t seed = 0; seed < 2; ++seed) {
      std::vector<tensor_buffer> in;
      for (const auto& p : infer_for(m, 1, seed).inputs)
        in.push_back(p.tensor);
      auto out = units.run(**unit, in, wanted, [] { return false; });
      REQUIRE_MESSAGE(out, test::why(out));
    }
    actors::executor_state st;
    st.name = "staged/cpu/0";
    st.streamed = units.prepared();
    st.streams = units.totals();
    auto e = over_the_wire(actors::executor_entry_of(st));
    REQUIRE(e.stream);
    const auto& s = *e.stream;
    CHECK(s.runs == 2);
    CHECK(s.blocks == 2 * m.nodes.size());
    CHECK(s.bytes_read > 0);
    CHECK(s.copies == s.blobs_read);
    CHECK(s.bytes_copied == s.bytes_read);
    auto c = rig.mgr->stats().counters;
    CHECK(s.copies == c.copies);
    CHECK(s.bytes_copied == c.bytes_copied);
    CHECK(s.budget_bytes == (*stream)->budget_bytes());
  }

  TEST_CASE("a run refused for room, then served once room is made, counts as one run, not a "
            "failure; one that finds no room counts one failure") {
    const auto& zoo = small_zoo::get();
    const auto& m = zoo.manifest("resnet18");
    const auto& other = zoo.manifest("vit-tiny");
    residency_rig rig{*zoo.store, parameter_bytes(m) / 2, load_mode::in_place};
    auto stream = actors::start_node_stream({}, *rig.mgr, zoo.store->skeletons());
    REQUIRE_MESSAGE(stream, test::why(stream));
    actors::streamed_units units{*stream, *rig.mgr};
    auto unit = units.prepare(model_ref(m), m);
    REQUIRE_MESSAGE(unit, test::why(unit));
    // Another user holds so much of the device that the stream's room is less
    // than resnet18's largest block.
    std::vector<residency::blob_ref> taken;
    uint64_t bytes = 0;
    auto room_left = (*stream)->budget_bytes() - largest_block_bytes(m) / 2;
    for (const auto& b : residency::blob_refs_of(other))
      if (bytes + b.bytes <= room_left) {
        taken.push_back(b);
        bytes += b.bytes;
      }
    REQUIRE(bytes + largest_block_bytes(m) > (*stream)->budget_bytes());
    std::vector<uint32_t> wanted(m.outputs.size());
    for (uint32_t i = 0; i < wanted.size(); ++i)
      wanted[i] = i;
    std::vector<tensor_buffer> in;
    for (const auto& p : infer_for(m, 1, 0).inputs)
      in.push_back(p.tensor);

    auto held = rig.mgr->load(other.name, taken);
    REQUIRE_MESSAGE(held, test::why(held));
    int asked = 0;
    auto out = units.run(**unit, in, wanted, [&] {
      ++asked;
      rig.mgr->unload(*held, true);
      return true;
    });
    REQUIRE_MESSAGE(out, test::why(out));
    CHECK(asked == 1);
    CHECK(units.totals().runs == 1);
    CHECK(units.totals().failed_runs == 0);

    held = rig.mgr->load(other.name, taken);
    REQUIRE_MESSAGE(held, test::why(held));
    out = units.run(**unit, in, wanted, [] { return false; });
    REQUIRE_FALSE(out);
    CHECK(code_of(out.error()) == ec::out_of_memory);
    CHECK(units.totals().runs == 1);
    CHECK(units.totals().failed_runs == 1);
  }

  TEST_CASE("every stream figure of an executor's state reaches its status entry") {
    actors::executor_state st;
    st.name = "box/cpu/0";
    st.loaded = {"vgg:1"};
    st.served = 7;
    st.streamed = {"resnet18:1"};
    auto& t = st.streams;
    t.runs = 2;
    t.failed_runs = 3;
    t.blocks = 4;
    t.blobs_read = 5;
    t.bytes_read = 6;
    t.copies = 7;
    t.bytes_copied = 8;
    t.waited_blocks = 9;
    t.wait_ms = 1.5;
    t.compute_ms = 2.25;
    t.forced_blocks = 10;
    t.trimmed_blocks = 11;
    t.peak_held_bytes = 12;
    t.budget_bytes = 13;
    t.last_share_bytes = 14;
    t.last_window_blocks = 15;
    auto e = actors::executor_entry_of(st);
    CHECK(e.name == st.name);
    CHECK(e.models == st.loaded);
    CHECK(e.served == 7);
    CHECK(e.streamed == st.streamed);
    REQUIRE(e.stream);
    const auto& s = *e.stream;
    CHECK(s.runs == 2);
    CHECK(s.failed_runs == 3);
    CHECK(s.blocks == 4);
    CHECK(s.blobs_read == 5);
    CHECK(s.bytes_read == 6);
    CHECK(s.copies == 7);
    CHECK(s.bytes_copied == 8);
    CHECK(s.waited_blocks == 9);
    CHECK(s.wait_us == 1500);
    CHECK(s.compute_us == 2250);
    CHECK(s.forced_blocks == 10);
    CHECK(s.trimmed_blocks == 11);
    CHECK(s.peak_held_bytes == 12);
    CHECK(s.budget_bytes == 13);
    CHECK(s.last_share_bytes == 14);
    CHECK(s.last_window_blocks == 15);
    // A peer's executor carries none: its streams are counted on its own node.
    st.remote = true;
    auto remote = actors::executor_entry_of(st);
    CHECK_FALSE(remote.stream);
    CHECK(remote.streamed.empty());
  }
}

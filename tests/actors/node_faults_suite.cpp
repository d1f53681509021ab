// Bad input and deadlines at the gateway: each kind of bad request gets its
// specific error code, and the node keeps serving afterwards.
#include "blob_damage.hpp"
#include "node_fixture.hpp"
#include "tessera/cuda/cuda_devices.hpp"
#include "why.hpp"

#include <zmq_addon.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <thread>

using namespace tessera;
using namespace tessera::test;
using namespace tessera::transport;

namespace {

// The largest blob that only `m` binds.
std::pair<content_id, uint64_t> private_blob(const small_zoo& zoo, const model_manifest& m) {
  std::pair<content_id, uint64_t> best{{}, 0};
  for (const auto& [id, bytes] : unique_blobs(m))
    if (zoo.store->models_using(id).size() == 1 && bytes > best.second)
      best = {id, bytes};
  return best;
}

ec code_of_reply(client& cl, request req) {
  auto r = cl.call(std::move(req), reply_timeout);
  if (r)
    return ec::none;
  return code_of(r.error());
}

} // namespace

TEST_SUITE("node_faults") {
  TEST_CASE("each kind of bad request gets its specific error, and the node still serves") {
    const auto& zoo = small_zoo::get();
    auto n = start_node(node_config_for(zoo));
    zmq::context_t ctx{1};
    auto cl = client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    const auto& m = zoo.manifest("mobilenetv2");
    CHECK(code_of_reply(*cl, {"", infer_for(zoo.manifest("mobilenetv2"), 1, 1)}) == ec::none);
    auto unknown = infer_for(m, 1, 1);
    unknown.model_name = "no-such-model";
    CHECK(code_of_reply(*cl, {"", unknown}) == ec::unknown_model);
    auto shape = infer_for(m, 1, 1);
    shape.inputs[0].tensor = random_tensor({dtype::float32, {1, 3, 225, 224}}, 1);
    CHECK(code_of_reply(*cl, {"", shape}) == ec::shape_mismatch);
    auto type = infer_for(m, 1, 1);
    type.inputs[0].tensor = random_tensor({dtype::float64, {1, 3, 224, 224}}, 1);
    CHECK(code_of_reply(*cl, {"", type}) == ec::dtype_mismatch);
    auto renamed = infer_for(m, 1, 1);
    renamed.inputs[0].name = "picture";
    CHECK(code_of_reply(*cl, {"", renamed}) == ec::missing_input);
    auto extra = infer_for(m, 1, 1);
    extra.inputs.push_back({"extra", random_tensor({dtype::float32, {1}}, 2)});
    CHECK(code_of_reply(*cl, {"", extra}) == ec::invalid_argument);
    auto output = infer_for(m, 1, 1);
    output.outputs = {"no-such-output"};
    CHECK(code_of_reply(*cl, {"", output}) == ec::invalid_argument);
    auto late = infer_for(m, 1, 1);
    late.deadline_ms = 0;
    CHECK(code_of_reply(*cl, {"", late}) == ec::deadline_exceeded);
    // Budgets past the clock's range are no deadline, not one in the past.
    for (int64_t far : {int64_t{9'223'372'036'854}, int64_t{1} << 62, INT64_MAX}) {
      CAPTURE(far);
      auto patient = infer_for(m, 1, 1);
      patient.deadline_ms = far;
      CHECK(code_of_reply(*cl, {"", patient}) == ec::none);
    }
    CHECK(code_of_reply(*cl, {"", model_load_request{"no-such-model", {}, {}}}) == ec::unknown_model);
    CHECK(code_of_reply(*cl, {"", fuse_request{"g", {"a", "b"}}}) == ec::unknown_model);
    CHECK(code_of_reply(*cl, {"", fuse_request{"bad name!", {"resnet18", "resnet-cars"}}}) ==
          ec::invalid_argument);

    // Raw garbage on a DEALER socket: answered with malformed_request.
    zmq::socket_t raw{ctx, zmq::socket_type::dealer};
    raw.set(zmq::sockopt::linger, 0);
    raw.set(zmq::sockopt::rcvtimeo, 30000);
    raw.connect(n->endpoint());
    raw.send(zmq::str_buffer("\xc1\xc1 not messagepack"), zmq::send_flags::none);
    std::vector<zmq::message_t> reply;
    REQUIRE(zmq::recv_multipart(raw, std::back_inserter(reply)));
    auto decoded = decode_response(std::move(reply));
    REQUIRE_FALSE(decoded.value);
    CHECK(code_of(decoded.value.error()) == ec::malformed_request);

    // Still serving.
    auto ok = cl->call_as<infer_response>({"", infer_for(m, 2, 9)}, reply_timeout);
    REQUIRE_MESSAGE(ok, test::why(ok));
    CHECK(ok->outputs.size() == 1);
    CHECK(n->counters().errors.load() >= 10);
  }

  TEST_CASE("a coordinator is ready only once one of its peers is up") {
    const auto& zoo = small_zoo::get();
    auto worker = start_node(node_config_for(zoo));
    zmq::context_t ctx{1};
    auto ready = [&](const std::string& endpoint) {
      auto cl = client::connect(ctx, endpoint);
      REQUIRE(cl);
      auto h = cl->call_as<health_response>({"", health_request{}}, reply_timeout);
      REQUIRE_MESSAGE(h, test::why(h));
      CHECK(h->live);
      return h->ready;
    };
    auto coordinator_of = [&](const std::string& peer) {
      auto cfg = node_config_for(zoo);
      cfg.node_name = "coordinator";
      cfg.executors = 0;
      cfg.peers = {peer};
      return start_node(cfg);
    };
    {
      // Its only peer is down (nothing listens there): not ready.
      auto lonely = coordinator_of("tcp://127.0.0.1:1");
      CHECK_FALSE(ready(lonely->endpoint()));
    }
    auto coordinator = coordinator_of(worker->endpoint());
    bool seen = false;
    for (int i = 0; i < 100 && !seen; ++i) {
      seen = ready(coordinator->endpoint());
      if (!seen)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(seen);
  }

  TEST_CASE("a request that cannot finish by its deadline is answered with deadline_exceeded once") {
    const auto& zoo = small_zoo::get();
    auto n = start_node(node_config_for(zoo));
    zmq::context_t ctx{1};
    auto cl = client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    // A large batch of a model not yet loaded cannot finish within 1 ms.
    auto req = infer_for(zoo.manifest("vit-tiny"), 8, 3);
    req.deadline_ms = 1;
    auto start = std::chrono::steady_clock::now();
    auto id = cl->send({"", req}, reply_timeout);
    REQUIRE(id);
    auto r = cl->wait_for(*id, reply_timeout);
    auto waited = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == ec::deadline_exceeded);
    CHECK(waited < std::chrono::milliseconds(500)); // answered at the deadline, not after the run
    // The late result is dropped: the next reply belongs to the next request.
    auto next = cl->call_as<health_response>({"", health_request{}}, reply_timeout);
    CHECK(next);
    auto after = cl->call_as<infer_response>({"", infer_for(zoo.manifest("vit-tiny"), 1, 4)}, reply_timeout);
    CHECK(after);
    // Best effort: the same impossible deadline, but the request runs to the end.
    auto patient = infer_for(zoo.manifest("resnet18"), 8, 5);
    patient.deadline_ms = 1;
    patient.parameters["best_effort"] = true;
    auto done = cl->call_as<infer_response>({"", patient}, reply_timeout);
    REQUIRE_MESSAGE(done, test::why(done));
    CHECK(done->outputs.at(0).tensor.spec.shape.at(0) == 8);
  }
}

TEST_SUITE("node_backlog") {
  // A node on an in-process endpoint (so that no TCP buffer holds replies
  // beside ZeroMQ's queues, about 1,000 messages on each side of the
  // connection), its configuration changed by `tune`, and a client that has
  // sent it `sent` health requests without reading a reply.
  struct unread_flood {
    zmq::context_t ctx{1};
    std::unique_ptr<actors::node> n;
    std::optional<client> cl;
    std::set<std::string> ids;

    unread_flood(const std::string& endpoint, uint64_t sent,
                 const std::function<void(node_config&)>& tune = {}) {
      auto cfg = node_config_for(small_zoo::get());
      cfg.listen = endpoint;
      if (tune)
        tune(cfg);
      auto started = actors::node::start(cfg, &ctx);
      REQUIRE_MESSAGE(started, test::why(started));
      n = std::move(*started);
      auto connected = client::connect(ctx, n->endpoint());
      REQUIRE(connected);
      cl.emplace(std::move(*connected));
      for (uint64_t i = 0; i < sent; ++i) {
        auto id = cl->send({"", health_request{}}, reply_timeout);
        REQUIRE_MESSAGE(id, test::why(id));
        ids.insert(*id);
      }
    }

    const actors::gateway_counters& counters() const {
      return n->counters();
    }

    // Waits, at most 20 s, until `done` holds.
    void wait_until(const std::function<bool()>& done) const {
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!done() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };

  TEST_CASE("a client that stops reading gets every reply once it reads again") {
    // Five times what the queues hold, none of it read yet.
    constexpr int sent = 10000;
    unread_flood f{"inproc://backlog-reading", sent};
    const auto& c = f.counters();
    f.wait_until([&] { return c.answered.load() >= sent; });
    CHECK(c.backlog_replies.load() > 0); // what the queues could not take waits
    int got = 0;
    while (got < sent) {
      auto r = f.cl->receive(std::chrono::milliseconds(20000));
      REQUIRE_MESSAGE(r, test::why(r)); // a reply comes, or the test fails here
      CHECK(f.ids.erase(r->id) == 1);   // each once
      ++got;
    }
    CHECK(f.ids.empty());
    CHECK(c.replies_dropped.client_gone.load() == 0);
    CHECK(c.replies_dropped.client_not_reading.load() == 0);
    CHECK(c.replies_dropped.backlog_full.load() == 0);
    CHECK(c.backlog_replies.load() == 0);
  }

  TEST_CASE("replies past a client's backlog bound are dropped and counted; the rest arrive") {
    constexpr uint64_t sent = 5000;
    unread_flood f{"inproc://backlog-bound", sent,
                   [](node_config& cfg) { cfg.reply_backlog_bytes = 4096; }}; // a few dozen replies
    const auto& c = f.counters();
    f.wait_until([&] { return c.answered.load() >= sent; });
    uint64_t got = 0;
    while (f.cl->receive(std::chrono::milliseconds(1000)))
      ++got;
    CHECK(c.replies_dropped.backlog_full.load() > 0);
    CHECK(got + c.replies_dropped.backlog_full.load() == sent); // each reply arrives or is counted
    CHECK(c.replies_dropped.client_not_reading.load() == 0);
  }

  TEST_CASE("a client that never reads again has its replies dropped and counted after the stall "
            "timeout") {
    constexpr uint64_t sent = 5000;
    unread_flood f{"inproc://backlog-stalled", sent,
                   [](node_config& cfg) { cfg.reply_stall_timeout_ms = 300; }};
    const auto& c = f.counters();
    // Every request answered, and what waited for the client dropped: replies
    // the node makes after a first drop start a backlog of their own, which
    // stalls in its turn.
    f.wait_until([&] {
      return c.answered.load() >= sent && c.backlog_replies.load() == 0 &&
             c.replies_dropped.client_not_reading.load() > 0;
    });
    CHECK(c.replies_dropped.client_not_reading.load() > 0);
    CHECK(c.backlog_replies.load() == 0);
    // Another client is served meanwhile.
    auto other = client::connect(f.ctx, f.n->endpoint());
    REQUIRE(other);
    CHECK(other->call_as<health_response>({"", health_request{}}, reply_timeout));
  }
}

TEST_SUITE("node_integrity") {
  TEST_CASE("a blob file changed on a running node never gives a wrong answer, in either mode") {
    for (auto mode : {load_mode::in_place, load_mode::copy}) {
      CAPTURE(static_cast<int>(mode));
      auto zoo = small_zoo::build(0.125);
      // Three models with a blob of their own large enough to be used in
      // place: one loaded, one unloaded with its blocks kept, one never loaded.
      std::vector<const model_manifest*> models;
      std::vector<std::string> victims; // their blob files
      for (const char* name : {"resnet-scratch", "mobilenetv2", "resnet18"}) {
        auto [id, bytes] = private_blob(zoo, zoo.manifest(name));
        REQUIRE(bytes >= (64u << 10));
        models.push_back(&zoo.manifest(name));
        victims.push_back(zoo.store->blobs().path_of(id));
      }
      auto cfg = node_config_for(zoo);
      cfg.mode = mode;
      auto n = start_node(cfg);
      zmq::context_t ctx{1};
      auto cl = client::connect(ctx, n->endpoint());
      REQUIRE(cl);
      std::vector<infer_request> reqs;
      std::vector<std::vector<tensor_buffer>> expected;
      for (const auto* m : models) {
        reqs.push_back(infer_for(*m, 1, 21));
        expected.push_back(local_outputs(zoo, *m, reqs.back().inputs, load_mode::copy));
      }
      auto ask = [&](size_t i) -> caf::expected<bool> { // ok and correct, or the error
        auto r = cl->call_as<infer_response>({"", reqs[i]}, reply_timeout);
        if (!r)
          return r.error();
        REQUIRE(r->outputs.size() == expected[i].size());
        for (size_t o = 0; o < expected[i].size(); ++o)
          if (!same_bytes(r->outputs[o].tensor, expected[i][o]))
            return false;
        return true;
      };
      for (size_t i = 0; i < 2; ++i) {
        auto first = ask(i);
        REQUIRE_MESSAGE(first, test::why(first));
        REQUIRE(*first);
      }
      auto unloaded = cl->call({"", model_unload_request{models[1]->name, {}}}, reply_timeout);
      REQUIRE_MESSAGE(unloaded, test::why(unloaded));
      for (const auto& path : victims)
        flip_data_byte(path);
      for (size_t i = 0; i < models.size(); ++i) {
        CAPTURE(models[i]->name);
        for (int k = 0; k < 3; ++k) {
          auto got = ask(i);
          if (got) {
            CHECK(*got); // never a wrong answer
            // Only a verified copy in memory may still serve.
            CHECK(mode == load_mode::copy);
            CHECK(i < 2);
          } else {
            CHECK(code_of(got.error()) == ec::corrupt_blob);
            CHECK(describe(got.error()).find(models[i]->name) != std::string::npos);
          }
        }
      }
      // Restored: every model serves again, correctly.
      for (const auto& path : victims)
        flip_data_byte(path);
      for (size_t i = 0; i < models.size(); ++i) {
        CAPTURE(models[i]->name);
        auto got = ask(i);
        REQUIRE_MESSAGE(got, test::why(got));
        CHECK(*got);
      }
    }
  }
}

TEST_SUITE("node_device") {
  TEST_CASE("a node's device tier: cpu serves; cuda:N without a GPU, or a bad device, is refused by name") {
    const auto& zoo = small_zoo::get();
    auto cfg = node_config_for(zoo);
    cfg.device = "tpu:0";
    auto bad = actors::node::start(cfg);
    REQUIRE_FALSE(bad);
    CHECK(describe(bad.error()).find("tpu:0") != std::string::npos);
    cfg.device = "cuda:0";
    cfg.mode = load_mode::copy;
    auto gpu = actors::node::start(cfg);
    auto inventory = cuda::probe_cuda();
    if (inventory.gpus.empty()) {
      MESSAGE("no GPU here (" << inventory.reason << "): checking the refusal");
      REQUIRE_FALSE(gpu);
      CHECK(code_of(gpu.error()) == ec::unsupported);
      CHECK(describe(gpu.error()).find("cuda:0") != std::string::npos);
    } else {
      // On a GPU the node serves from GPU memory, with outputs like the CPU's.
      REQUIRE(gpu);
      zmq::context_t ctx{1};
      auto cl = client::connect(ctx, (*gpu)->endpoint());
      REQUIRE(cl);
      auto r = cl->call({"", infer_for(zoo.manifest("mobilenetv2"), 1, 1)}, reply_timeout);
      CHECK(r);
    }
  }
}

#include "node_fixture.hpp"
#include "skip.hpp"
#include "tessera/residency/cpu_arena.hpp"
#include "tessera/torch/torch_executor.hpp"
#include "why.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <thread>

using namespace tessera;
using namespace tessera::test;
using namespace tessera::transport;

TEST_SUITE("node") {
  TEST_CASE("the Python client's example classifies an image through a node") {
    std::string python;
    for (std::string p : {"python3", "/usr/bin/python3"})
      if (std::system((p + " -c 'import zmq, msgpack' >/dev/null 2>&1").c_str()) == 0) {
        python = p;
        break;
      }
    if (python.empty()) {
      TESSERA_SKIP("no python3 with python3-zmq and python3-msgpack");
    }
    const auto& zoo = small_zoo::get();
    auto n = start_node(node_config_for(zoo));
    auto run = [&](const std::string& model) {
      auto command = python + " " + TESSERA_SOURCE_DIR + "/deploy/clients/python/example.py "
                     + n->endpoint() + " " + model + " 2>&1";
      std::string out;
      if (FILE* p = ::popen(command.c_str(), "r")) {
        char buf[512];
        while (std::fgets(buf, sizeof buf, p) != nullptr)
          out += buf;
        ::pclose(p);
      }
      return out;
    };
    auto good = run("resnet18");
    INFO("python said: " << good);
    CHECK(good.find("logits: FP32 [1, 1000]") != std::string::npos);
    CHECK(good.find("top classes:") != std::string::npos);
    auto bad = run("no-such-model");
    CHECK(bad.find("error 3 (unknown_model)") != std::string::npos);
  }

  TEST_CASE("concurrent clients get every answer, equal to local execution") {
    const auto& zoo = small_zoo::get();
    auto n = start_node(node_config_for(zoo));
    const char* models[] = {"resnet18", "resnet-cars", "mobilenetv2", "vit-tiny"};
    constexpr int clients = 3;
    constexpr int per_client = 6;
    std::atomic<int> answered{0};
    std::atomic<int> mismatched{0};
    std::vector<std::string> failures(clients);
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
      threads.emplace_back([&, c] {
        zmq::context_t ctx{1};
        auto cl = client::connect(ctx, n->endpoint());
        if (!cl) {
          failures[c] = describe(cl.error());
          return;
        }
        // Several requests in flight per client, then collect the replies.
        std::map<std::string, infer_request> sent;
        for (int i = 0; i < per_client; ++i) {
          const auto& m = zoo.manifest(models[(c + i) % 4]);
          auto req = infer_for(m, 1 + i % 2, 100 * c + i);
          auto id = cl->send({"", req}, reply_timeout);
          if (!id) {
            failures[c] = describe(id.error());
            return;
          }
          sent.emplace(*id, std::move(req));
        }
        for (auto& [id, req] : sent) {
          auto r = cl->wait_for(id, reply_timeout);
          if (!r) {
            failures[c] = describe(r.error());
            continue;
          }
          auto* inf = std::get_if<infer_response>(&*r);
          if (inf == nullptr || inf->outputs.size() != 1) {
            failures[c] = "unexpected reply";
            continue;
          }
          ++answered;
          auto local = local_outputs(zoo, zoo.manifest(req.model_name), req.inputs);
          if (max_relative_difference(inf->outputs[0].tensor, local[0]) > 1e-6)
            ++mismatched;
        }
      });
    for (auto& t : threads)
      t.join();
    for (const auto& f : failures)
      CHECK_MESSAGE(f.empty(), f);
    CHECK(answered == clients * per_client);
    CHECK(mismatched == 0);
    CHECK(n->counters().answered.load() == static_cast<uint64_t>(clients * per_client));
  }

  TEST_CASE("with dynamic batching on, concurrent requests share batches and get their own rows") {
    const auto& zoo = small_zoo::get();
    auto cfg = node_config_for(zoo);
    cfg.max_batch_rows = 8;
    cfg.max_queue_delay_us = 20000;
    auto n = start_node(cfg);
    const auto& m = zoo.manifest("mobilenetv2");
    zmq::context_t ctx{1};
    auto cl = client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    std::map<std::string, infer_request> sent;
    for (int i = 0; i < 6; ++i) {
      auto req = infer_for(m, 1, 500 + i);
      auto id = cl->send({"", req}, reply_timeout);
      REQUIRE(id);
      sent.emplace(*id, std::move(req));
    }
    double worst = 0.0;
    for (auto& [id, req] : sent) {
      auto r = cl->wait_for(id, reply_timeout);
      REQUIRE_MESSAGE(r, test::why(r));
      auto& out = std::get<infer_response>(*r).outputs.at(0).tensor;
      CHECK(out.spec.shape.at(0) == 1);
      // Batched GEMMs may block differently from single rows, so compare to
      // float precision: the largest difference against the largest value.
      auto ref = local_outputs(zoo, m, req.inputs)[0];
      const auto* a = reinterpret_cast<const float*>(out.data);
      const auto* b = reinterpret_cast<const float*>(ref.data);
      double diff = 0.0, scale = 0.0;
      for (size_t k = 0; k < ref.bytes / sizeof(float); ++k) {
        diff = std::max(diff, static_cast<double>(std::fabs(a[k] - b[k])));
        scale = std::max(scale, static_cast<double>(std::fabs(b[k])));
      }
      worst = std::max(worst, diff / scale);
    }
    MESSAGE("largest difference to single runs, relative to the largest logit: " << worst);
    CHECK(worst <= 1e-5);
    CHECK(n->residency().stats().counters.loads == 1);
    // Fewer runs than requests: some shared a batch.
    caf::scoped_actor self{n->system()};
    uint64_t runs = 0;
    self->request(n->scheduler(), reply_timeout, actors::status_atom::value)
      .receive([&](const std::vector<actors::executor_state>& states) {
                 for (const auto& st : states)
                   runs += st.served;
               },
               [&](const caf::error& err) { FAIL(describe(err)); });
    MESSAGE("6 requests ran in " << runs << " batches");
    CHECK(runs < 6);
  }

  TEST_CASE("each answered request is logged as JSON with its id and trace") {
    const auto& zoo = small_zoo::get();
    test::scratch_dir dir{"log"};
    auto cfg = node_config_for(zoo);
    cfg.log_format = "json";
    cfg.log_file = dir.path() + "/node.log";
    {
      auto n = start_node(cfg);
      zmq::context_t ctx{1};
      auto cl = client::connect(ctx, n->endpoint());
      REQUIRE(cl);
      CHECK(cl->call({"first", infer_for(zoo.manifest("mobilenetv2"), 1, 1)}, reply_timeout));
      auto upstream = infer_for(zoo.manifest("mobilenetv2"), 1, 2);
      upstream.parameters["trace_id"] = std::string{"from-another-node"};
      CHECK(cl->call({"second", upstream}, reply_timeout));
      CHECK_FALSE(cl->call({"third", model_load_request{"no-such-model", {}, {}}}, reply_timeout));
    }
    std::ifstream in{cfg.log_file};
    std::map<std::string, nlohmann::json> by_id;
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      REQUIRE_FALSE(j.is_discarded()); // every line is one JSON object
      if (j.value("event", "") == "request")
        by_id[j.at("id").get<std::string>()] = j;
    }
    REQUIRE(by_id.count("first") == 1);
    // A trace of the gateway's own (clients' ids repeat across clients)...
    auto first_trace = by_id["first"]["trace"].get<std::string>();
    CHECK(first_trace.rfind(cfg.node_name + "-", 0) == 0);
    CHECK(first_trace != by_id["third"]["trace"].get<std::string>());
    CHECK(by_id["first"]["code"] == "ok");
    CHECK(by_id["first"]["model"] == "mobilenetv2");
    CHECK(by_id["second"]["trace"] == "from-another-node"); // ...unless a peer passed one on
    CHECK(by_id["third"]["code"] == "unknown_model");
    CHECK(by_id["third"]["level"] == "warning");
  }

  TEST_CASE("a node that listens beyond loopback without CURVE says so in its log; on loopback it "
            "does not") {
    const auto& zoo = small_zoo::get();
    test::scratch_dir dir{"open-bind"};
    auto logged = [&](const std::string& listen) {
      auto cfg = node_config_for(zoo);
      cfg.listen = listen;
      cfg.log_file = dir.path() + "/" + std::to_string(std::hash<std::string>{}(listen)) + ".log";
      { auto n = start_node(cfg); }
      std::ifstream in{cfg.log_file};
      std::string all{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
      return all;
    };
    auto open = logged("tcp://0.0.0.0:*");
    CHECK(open.find("without CURVE") != std::string::npos);
    CHECK(open.find("curve_secret_key_file") != std::string::npos);
    CHECK(logged("tcp://127.0.0.1:*").find("without CURVE") == std::string::npos);
  }

  TEST_CASE("model operations: load, ready, index, status, metadata, unload") {
    const auto& zoo = small_zoo::get();
    auto n = start_node(node_config_for(zoo));
    zmq::context_t ctx{1};
    auto cl = client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    auto health = cl->call_as<health_response>({"", health_request{}}, reply_timeout);
    REQUIRE(health);
    CHECK(health->live);
    CHECK(health->ready);
    auto load = cl->call_as<model_load_response>({"", model_load_request{"resnet18", {}, {}}}, reply_timeout);
    REQUIRE_MESSAGE(load, test::why(load));
    CHECK(load->loaded_bytes == parameter_bytes(zoo.manifest("resnet18")));
    auto cars = cl->call_as<model_load_response>({"", model_load_request{"resnet-cars", {}, {}}}, reply_timeout);
    REQUIRE(cars);
    CHECK(cars->reused_bytes == shared_bytes(zoo.manifest("resnet18"), zoo.manifest("resnet-cars")));
    auto ready = cl->call_as<model_ready_response>({"", model_ready_request{"resnet18", {}}}, reply_timeout);
    REQUIRE(ready);
    CHECK(ready->ready);
    auto index = cl->call_as<repository_index_response>({"", repository_index_request{true}}, reply_timeout);
    REQUIRE(index);
    CHECK(index->models.size() == 2);
    auto meta = cl->call_as<metadata_response>({"", metadata_request{"vit-tiny", {}}}, reply_timeout);
    REQUIRE(meta);
    REQUIRE(meta->inputs.size() == 1);
    CHECK(meta->inputs[0].spec == zoo.manifest("vit-tiny").inputs[0].spec);
    auto status = cl->call_as<server_status_response>({"", server_status_request{}}, reply_timeout);
    REQUIRE(status);
    CHECK(status->node_name == "test-node");
    REQUIRE(status->devices.size() == 1);
    CHECK(status->devices[0].used_bytes == n->residency().stats().device.used_bytes);
    auto fused = cl->call_as<fuse_response>({"", fuse_request{"heads", {"resnet18", "resnet-cars"}}}, reply_timeout);
    REQUIRE_MESSAGE(fused, test::why(fused));
    CHECK(fused->models == std::vector<std::string>{"resnet-cars:1", "resnet18:1"});
    CHECK(fused->shared_blocks > 0); // the backbone merges
    auto unload = cl->call_as<model_unload_response>({"", model_unload_request{"resnet18", {}}}, reply_timeout);
    REQUIRE(unload);
    auto after = cl->call_as<model_ready_response>({"", model_ready_request{"resnet18", {}}}, reply_timeout);
    REQUIRE(after);
    CHECK_FALSE(after->ready);
  }

  TEST_CASE("two models that cannot both stay swap, every request succeeds, the budget holds") {
    const auto& zoo = small_zoo::get();
    const auto& a = zoo.manifest("resnet18");
    const auto& b = zoo.manifest("vit-tiny");
    auto cfg = node_config_for(zoo);
    cfg.device_budget_bytes = std::max(parameter_bytes(a), parameter_bytes(b)) * 5 / 4;
    auto n = start_node(cfg);
    std::atomic<bool> sampling{true};
    std::atomic<uint64_t> peak{0};
    std::thread sampler{[&] {
      while (sampling) {
        auto s = n->residency().stats();
        peak = std::max<uint64_t>(peak, s.device.used_bytes + s.device.reserved_bytes);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }};
    zmq::context_t ctx{1};
    auto cl = client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    int ok = 0;
    for (int i = 0; i < 6; ++i) {
      const auto& m = i % 2 == 0 ? a : b;
      auto r = cl->call_as<infer_response>({"", infer_for(m, 1, i)}, reply_timeout);
      CHECK_MESSAGE(r, (r ? "" : describe(r.error())));
      ok += r ? 1 : 0;
    }
    sampling = false;
    sampler.join();
    CHECK(ok == 6);
    CHECK(peak.load() <= cfg.device_budget_bytes);
    auto s = n->residency().stats();
    CHECK(s.counters.loads >= 6); // each alternation loaded the other model again
    CHECK(s.device.used_bytes <= cfg.device_budget_bytes);
  }
}

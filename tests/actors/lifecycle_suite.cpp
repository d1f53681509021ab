// Lifecycle states: model_ready and repository_index say whether a model is
// unavailable, loading, ready, unloading or failed (with the reason), as the
// executors publish it, without asking an executor that is busy loading.
#include "blob_damage.hpp"
#include "node_fixture.hpp"

#include <caf/all.hpp>

#include <doctest/doctest.h>

#include <future>
#include <thread>

using namespace tessera;
using namespace tessera::test;
using namespace tessera::transport;

namespace {

// A zoo of this suite's own: its blobs are damaged and restored.
small_zoo& lifecycle_zoo() {
  static small_zoo z = small_zoo::build(0.1);
  return z;
}

// LibTorch's executor, whose loads wait at a gate the test opens.
struct gated_executor : backend::model_executor {
  std::unique_ptr<backend::model_executor> inner;
  std::shared_future<void> gate;
  std::promise<void>* entered = nullptr;

  std::string device() const override {
    return inner->device();
  }
  caf::expected<std::shared_ptr<backend::loaded_model>>
  load(const model_manifest& m, backend::load_report* report) override {
    if (entered != nullptr)
      std::exchange(entered, nullptr)->set_value();
    gate.wait();
    return inner->load(m, report);
  }
  caf::expected<std::vector<tensor_buffer>> run(const backend::loaded_model& model,
                                                const std::vector<tensor_buffer>& in) override {
    return inner->run(model, in);
  }
  caf::expected<std::vector<tensor_buffer>> run_outputs(const backend::loaded_model& model,
                                                        const std::vector<tensor_buffer>& in,
                                                        const std::vector<uint32_t>& outputs,
                                                        backend::run_stats* stats) override {
    return inner->run_outputs(model, in, outputs, stats);
  }
  void unload(const std::shared_ptr<backend::loaded_model>& model) override {
    inner->unload(model);
  }
};

model_ready_response ready_of(client& cl, const std::string& model) {
  auto r = cl.call_as<model_ready_response>({"", model_ready_request{model, {}}}, reply_timeout);
  REQUIRE_MESSAGE(r, test::why(r));
  return *r;
}

std::string index_state(client& cl, const std::string& model) {
  auto index =
      cl.call_as<repository_index_response>({"", repository_index_request{}}, reply_timeout);
  REQUIRE_MESSAGE(index, test::why(index));
  for (const auto& e : index->models)
    if (e.name == model)
      return e.state;
  return "absent";
}

} // namespace

TEST_SUITE("lifecycle") {
  TEST_CASE("a model being loaded answers loading, then ready; unloaded, unavailable") {
    auto& zoo = lifecycle_zoo();
    std::promise<void> open;
    std::promise<void> entered;
    auto entered_once = entered.get_future();
    auto gate = open.get_future().share();
    auto cfg = node_config_for(zoo);
    cfg.executors = 1;
    auto started = actors::node::start(
        cfg, nullptr,
        [&](uint32_t, residency::residency_manager& mgr)
            -> caf::expected<std::unique_ptr<backend::model_executor>> {
          auto e = torch_backend::make_torch_executor({}, mgr, zoo.store->skeletons());
          if (!e)
            return e.error();
          auto g = std::make_unique<gated_executor>();
          g->inner = std::move(*e);
          g->gate = gate;
          g->entered = &entered;
          return std::unique_ptr<backend::model_executor>{std::move(g)};
        });
    REQUIRE_MESSAGE(started, test::why(started));
    auto n = std::move(*started);
    zmq::context_t ctx{1};
    auto cl = client::connect(ctx, n->endpoint());
    auto loader = client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    REQUIRE(loader);
    auto before = ready_of(*cl, "resnet18");
    CHECK_FALSE(before.ready);
    CHECK(before.state == "unavailable");
    auto load = std::async(std::launch::async, [&] {
      return loader->call_as<model_load_response>({"", model_load_request{"resnet18", {}, {}}},
                                                  reply_timeout);
    });
    REQUIRE(entered_once.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    // The executor is inside its load: the gateway answers without it.
    auto during = ready_of(*cl, "resnet18");
    CHECK_FALSE(during.ready);
    CHECK(during.state == "loading");
    CHECK(index_state(*cl, "resnet18") == "loading");
    // Nor does a scrape, and the busy executor's series stay in it.
    auto text = n->metrics_text();
    CHECK(text.find(R"(tessera_executor_served_total{executor="test-node/cpu/0"})") !=
          std::string::npos);
    CHECK(text.find(R"(tessera_model_state{unit="resnet18:1",state="loading"} 1)") !=
          std::string::npos);
    auto status = cl->call_as<server_status_response>({"", server_status_request{}}, reply_timeout);
    REQUIRE_MESSAGE(status, test::why(status));
    CHECK(status->executors.size() == 1);
    open.set_value();
    auto loaded = load.get();
    REQUIRE_MESSAGE(loaded, test::why(loaded));
    auto after = ready_of(*cl, "resnet18");
    CHECK(after.ready);
    CHECK(after.state == "ready");
    CHECK(index_state(*cl, "resnet18") == "ready");
    auto unloaded = cl->call({"", model_unload_request{"resnet18", {}}}, reply_timeout);
    REQUIRE_MESSAGE(unloaded, test::why(unloaded));
    CHECK(ready_of(*cl, "resnet18").state == "unavailable");
  }

  TEST_CASE("a model whose blob is corrupt is failed, the blob named; repaired, it is ready") {
    auto& zoo = lifecycle_zoo();
    const auto& m = zoo.manifest("mobilenet-scratch");
    const auto& blob = m.nodes.front().params.front().blob;
    auto path = zoo.store->blobs().path_of(blob);
    flip_data_byte(path);
    struct restore {
      std::string path;
      ~restore() {
        if (!path.empty())
          flip_data_byte(path);
      }
    } restored{path};
    auto cfg = node_config_for(zoo);
    cfg.executors = 1;
    auto n = start_node(cfg);
    zmq::context_t ctx{1};
    auto cl = client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    auto bad = cl->call_as<infer_response>({"", infer_for(m, 1, 5)}, reply_timeout);
    REQUIRE_FALSE(bad);
    CHECK(code_of(bad.error()) == ec::corrupt_blob);
    auto failed = ready_of(*cl, m.name);
    CHECK_FALSE(failed.ready);
    CHECK(failed.state == "failed");
    CHECK(failed.reason.find("corrupt_blob") != std::string::npos);
    CHECK(failed.reason.find(blob.short_hex()) != std::string::npos);
    CHECK(index_state(*cl, m.name) == "failed");
    // Repaired on disk: the next request loads it, and the failure is gone.
    flip_data_byte(path);
    restored.path.clear();
    auto good = cl->call_as<infer_response>({"", infer_for(m, 1, 5)}, reply_timeout);
    REQUIRE_MESSAGE(good, test::why(good));
    auto ready = ready_of(*cl, m.name);
    CHECK(ready.ready);
    CHECK(ready.state == "ready");
    CHECK(ready.reason.empty());
  }
}

#include "error_of.hpp"
#include "residency_fixture.hpp"
#include "tessera/backend/fused_group.hpp"
#include "tessera/core/error.hpp"
#include "tessera/store/group_store.hpp"
#include "tessera/torch/torch_executor.hpp"
#include "whole_import.hpp"
#include "why.hpp"
#include "zoo_fixture.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <random>

using namespace tessera;

namespace {

struct group_runner {
  test::residency_rig rig;
  std::unique_ptr<backend::model_executor> exec;

  explicit group_runner(const store::block_store& st, bool keep_unloaded = true)
      : rig(st, 1ull << 30, load_mode::in_place, keep_unloaded) {
    auto e = torch_backend::make_torch_executor({}, *rig.mgr, st.skeletons());
    REQUIRE(e);
    exec = std::move(*e);
  }

  std::shared_ptr<backend::loaded_group> load(const fused_plan& plan,
                                              backend::load_report* r = nullptr) {
    auto g = backend::load_group(*exec, plan, r);
    REQUIRE_MESSAGE(g, test::why(g));
    return *g;
  }

  std::vector<backend::member_outputs> run(const backend::loaded_group& g,
                                           const std::vector<tensor_buffer>& in,
                                           const std::vector<std::string>& members = {},
                                           backend::run_stats* stats = nullptr) {
    auto out = backend::run_group(*exec, g, in, members, stats);
    REQUIRE_MESSAGE(out, test::why(out));
    return *out;
  }

  std::vector<tensor_buffer> run_alone(const model_manifest& m,
                                       const std::vector<tensor_buffer>& in) {
    auto loaded = exec->load(m);
    REQUIRE_MESSAGE(loaded, test::why(loaded));
    auto out = exec->run(**loaded, in);
    REQUIRE_MESSAGE(out, test::why(out));
    return *out;
  }
};

std::vector<model_manifest> family_of(const std::string& family) {
  std::vector<model_manifest> out;
  for (const auto& e : test::small_zoo::get().models)
    if (e.manifest.family == family)
      out.push_back(e.manifest);
  return out;
}

fused_plan plan_of(const std::string& name, const std::vector<model_manifest>& models) {
  auto p = plan_fusion(name, models);
  REQUIRE_MESSAGE(p, test::why(p));
  return std::move(*p);
}

bool same_bytes(const tensor_buffer& a, const tensor_buffer& b) {
  return a.spec == b.spec && std::memcmp(a.data, b.data, a.bytes) == 0;
}

tensor_buffer image(int64_t batch, uint64_t seed) {
  return random_tensor(with_batch(test::small_zoo::get().models[0].manifest.inputs[0].spec, batch),
                       seed);
}

bool resident(const residency::residency_manager& mgr, const content_id& blob) {
  auto blobs = mgr.blobs();
  return std::any_of(blobs.begin(), blobs.end(), [&](const auto& b) { return b.id == blob; });
}

} // namespace

TEST_SUITE("fusion") {
  TEST_CASE("fused outputs equal separate outputs bit for bit, for every family and batch size") {
    auto& zoo = test::small_zoo::get();
    std::random_device fresh;
    for (const auto& family : zoo::zoo_families()) {
      CAPTURE(family);
      auto members = family_of(family);
      REQUIRE(members.size() == 5);
      auto plan = plan_of(family + "-all", members);
      CHECK(plan.merged.size() > 0);
      group_runner fused{*zoo.store};
      group_runner separate{*zoo.store};
      auto group = fused.load(plan);
      for (int64_t batch : {1, 3}) {
        auto seed = (static_cast<uint64_t>(fresh()) << 32) | fresh();
        CAPTURE(batch);
        CAPTURE(seed);
        std::vector<tensor_buffer> in{image(batch, seed)};
        auto answers = fused.run(*group, in);
        REQUIRE(answers.size() == members.size());
        for (const auto& answer : answers) {
          CAPTURE(answer.model);
          auto m = std::find_if(members.begin(), members.end(), [&](const model_manifest& x) {
            return model_ref(x) == answer.model;
          });
          REQUIRE(m != members.end());
          auto alone = separate.run_alone(*m, in);
          REQUIRE(answer.outputs.size() == alone.size());
          CHECK(answer.outputs[0].spec.shape[0] == batch);
          CHECK(max_relative_difference(answer.outputs[0], alone[0]) == 0.0);
          CHECK(same_bytes(answer.outputs[0], alone[0]));
        }
      }
    }
  }

  TEST_CASE("a request for some members runs only the sub-DAG they need") {
    auto& zoo = test::small_zoo::get();
    auto members = family_of("resnet");
    auto plan = plan_of("resnet-all", members);
    group_runner r{*zoo.store};
    auto group = r.load(plan);
    std::vector<tensor_buffer> in{image(2, 77)};
    backend::run_stats all;
    r.run(*group, in, {}, &all);
    CHECK(all.nodes_run == plan.dag.nodes.size());
    CHECK(all.nodes_run < plan.savings.separate_nodes);
    CHECK(all.peak_value_bytes > 0);
    const auto& cars = zoo.manifest("resnet-cars");
    backend::run_stats one;
    auto answer = r.run(*group, in, {"resnet-cars"}, &one);
    REQUIRE(answer.size() == 1);
    CHECK(answer[0].model == model_ref(cars));
    CHECK(one.nodes_run == cars.nodes.size());
    CHECK(one.nodes_run == plan.nodes_of({"resnet-cars"})->size());
    CHECK(same_bytes(answer[0].outputs[0], r.run_alone(cars, in)[0]));
    backend::run_stats two;
    auto pair = r.run(*group, in, {"resnet-birds", "resnet18:1"}, &two);
    REQUIRE(pair.size() == 2);
    CHECK(pair[0].model == "resnet-birds:1");
    CHECK(pair[1].model == "resnet18:1");
    CHECK(two.nodes_run == cars.nodes.size() + 1); // a shared backbone and two heads
  }

  TEST_CASE("two imported models of one family fuse: their shared blocks run once") {
    // Saved whole and imported with automatic blocks, as a user's models
    // arrive; the two cut identically up to the head, which differs.
    test::scratch_dir dir{"fusion-imported"};
    auto base = test::import_whole(dir, "resnet18", "imported-base");
    auto cars = test::import_whole(dir, "resnet-cars", "imported-cars");
    auto plan = plan_of("imported-pair", {base.model, cars.model});
    CHECK(plan.dag.nodes.size() == base.model.nodes.size() + 1); // one backbone, two heads
    group_runner r{*test::small_zoo::get().store};
    auto group = r.load(plan);
    std::vector<tensor_buffer> in{image(2, 93)};
    backend::run_stats stats;
    auto answers = r.run(*group, in, {}, &stats);
    CHECK(stats.nodes_run == base.model.nodes.size() + 1);
    REQUIRE(answers.size() == 2);
    CHECK(same_bytes(answers[0].outputs[0], r.run_alone(base.model, in)[0]));
    CHECK(same_bytes(answers[1].outputs[0], r.run_alone(cars.model, in)[0]));
  }

  TEST_CASE("a group loads as one unit: one lease over the union of its blobs") {
    auto& zoo = test::small_zoo::get();
    auto plan = plan_of("resnet-heads", {zoo.manifest("resnet18"), zoo.manifest("resnet-cars"),
                                         zoo.manifest("resnet-birds")});
    group_runner r{*zoo.store};
    backend::load_report report;
    auto group = r.load(plan, &report);
    CHECK(report.bytes == plan.savings.fused_bytes);
    CHECK(report.bytes_read == plan.savings.fused_bytes);
    CHECK(plan.savings.fused_bytes < plan.savings.separate_bytes);
    auto stats = r.rig.mgr->stats();
    CHECK(stats.device.referenced_bytes == plan.savings.fused_bytes);
    CHECK(stats.resident_models == std::vector<std::string>{"resnet-heads"});
    CHECK(stats.counters.loads == 1);
    auto backbone_blob = plan.dag.nodes[0].params[0].blob;
    for (const auto& b : r.rig.mgr->blobs())
      if (b.id == backbone_blob)
        CHECK(b.holders == std::vector<std::string>{"resnet-heads"});
    test::check_accounting(*r.rig.mgr, r.rig.arena);
  }

  TEST_CASE("unloading a group keeps the blocks another resident group still uses") {
    auto& zoo = test::small_zoo::get();
    const auto& base = zoo.manifest("resnet18");
    const auto& cars = zoo.manifest("resnet-cars");
    const auto& birds = zoo.manifest("resnet-birds");
    auto plan1 = plan_of("g-cars", {base, cars});
    auto plan2 = plan_of("g-birds", {base, birds});
    group_runner r{*zoo.store, /*keep_unloaded=*/false};
    auto g1 = r.load(plan1);
    auto g2 = r.load(plan2);
    std::vector<tensor_buffer> in{image(2, 5)};
    auto before = r.run(*g2, in);
    auto backbone_blob = base.nodes[0].params[0].blob;
    auto cars_head_blob = cars.nodes.back().params[0].blob;
    backend::unload_group(*r.exec, g1);
    CHECK(resident(*r.rig.mgr, backbone_blob));
    CHECK_FALSE(resident(*r.rig.mgr, cars_head_blob));
    CHECK(r.rig.mgr->stats().device.used_bytes == parameter_bytes(plan2.dag));
    auto after = r.run(*g2, in);
    for (size_t i = 0; i < after.size(); ++i)
      CHECK(same_bytes(before[i].outputs[0], after[i].outputs[0]));
    auto stale = backend::run_group(*r.exec, *g1, in);
    REQUIRE_FALSE(stale);
    CHECK(code_of(stale.error()) == ec::unloading);
    backend::unload_group(*r.exec, g2);
    CHECK(r.rig.mgr->stats().device.used_bytes == 0);
    test::check_accounting(*r.rig.mgr, r.rig.arena);
  }

  TEST_CASE("bad group requests get specific errors and the group keeps working") {
    auto& zoo = test::small_zoo::get();
    auto plan = plan_of("mixed", {zoo.manifest("mobilenetv2"), zoo.manifest("vit-tiny")});
    CHECK(plan.merged.empty());
    group_runner r{*zoo.store};
    auto group = r.load(plan);
    auto unknown = backend::run_group(*r.exec, *group, {image(1, 1)}, {"resnet18"});
    REQUIRE_FALSE(unknown);
    CHECK(code_of(unknown.error()) == ec::unknown_model);
    auto wrong = random_tensor({dtype::float32, {1, 3, 225, 224}}, 1);
    CHECK(code_of(test::error_of(backend::run_group(*r.exec, *group, {wrong}))) ==
          ec::shape_mismatch);
    CHECK(code_of(test::error_of(backend::run_group(*r.exec, *group, {}))) == ec::missing_input);
    CHECK(r.run(*group, {image(1, 1)}).size() == 2);
  }

  TEST_CASE("group definitions are stored, listed, planned from the store and removed") {
    auto& zoo = test::small_zoo::get();
    store::group_store groups{zoo.store->root()};
    group_definition def{"store-test", {"resnet18:1", "resnet-cars"}, {}};
    REQUIRE_FALSE(groups.put(def));
    auto back = groups.get("store-test");
    REQUIRE(back);
    CHECK(back->models == def.models);
    auto listed = groups.list();
    CHECK(std::any_of(listed.begin(), listed.end(),
                      [](const auto& g) { return g.name == "store-test"; }));
    auto plan = store::plan_group(*zoo.store, *back);
    REQUIRE(plan);
    CHECK(plan->name == "store-test");
    CHECK(plan->savings.bytes_saved() ==
          shared_bytes(zoo.manifest("resnet18"), zoo.manifest("resnet-cars")));
    def.models.push_back("resnet-trucks");
    auto missing = store::plan_group(*zoo.store, def);
    REQUIRE_FALSE(missing);
    CHECK(code_of(missing.error()) == ec::unknown_model);
    CHECK(describe(missing.error()).find("resnet-trucks") != std::string::npos);
    CHECK(code_of(groups.put(group_definition{"bad/name", {"resnet18"}, {}})) ==
          ec::invalid_argument);
    REQUIRE_FALSE(groups.remove("store-test"));
    CHECK(code_of(test::error_of(groups.get("store-test"))) == ec::unknown_model);
    CHECK(code_of(groups.remove("store-test")) == ec::unknown_model);
  }

  TEST_CASE("a client's fuse never redefines a group silently, nor takes a model's name") {
    auto& zoo = test::small_zoo::get();
    store::group_store groups{zoo.store->root()};
    group_definition def{"define-test", {"resnet18:1", "resnet-cars:1"}, {}};
    REQUIRE_FALSE(groups.define(def));
    CHECK_FALSE(groups.define(def)); // the same definition again: a no-op
    auto other = def;
    other.models = {"resnet18:1", "resnet-birds:1"};
    auto taken = groups.define(other);
    CHECK(code_of(taken) == ec::already_exists);
    CHECK(describe(taken).find("resnet-cars:1") != std::string::npos); // says what holds it
    CHECK(groups.get("define-test")->models == def.models);
    auto model_name = groups.define(group_definition{"resnet18", {"resnet-cars:1"}, {}});
    CHECK(code_of(model_name) == ec::already_exists);
    CHECK(describe(model_name).find("model's name") != std::string::npos);
    CHECK(code_of(test::error_of(groups.get("resnet18"))) == ec::unknown_model);
    REQUIRE_FALSE(groups.remove("define-test"));
  }
}

// Fused groups as the executor actor's unit (docs/fusion.md, "Serving"): the
// real executor (LibTorch on the small zoo, in a store of these suites' own)
// loads a defined group as one unit, serves its members' sub-DAGs and the
// group's name, swaps the group out under memory pressure or when memory is
// full and back in when work arrives, and unloads it keeping the blocks others
// still use. Outputs are compared, bit for bit, with each model run on its own.
#include "group_fixture.hpp"
#include "why.hpp"

#include <caf/all.hpp>

#include <doctest/doctest.h>

#include <map>
#include <set>

using namespace tessera;
using namespace tessera::actors;
using namespace tessera::test;

TEST_SUITE("group") {
  TEST_CASE("a defined group is loaded as one unit and serves its members and its own name") {
    defined_groups groups;
    groups.define("cams", {"resnet18", "resnet-cars", "resnet-birds"});
    executor_rig rig;
    auto x = image(2, 11);
    auto cars = rig.run(job_for("resnet-cars", x));
    CHECK(cars.model == "resnet-cars");
    check_equal_to_alone(cars, "resnet-cars", x);
    auto s = rig.status();
    CHECK(s.groups == std::vector<std::string>{"cams"});
    for (const auto& m : {"resnet18", "resnet-cars", "resnet-birds"})
      CHECK(contains(s.loaded, model_ref(group_zoo().manifest(m))));
    // One unit: one lease, owned by the group, over every member's blobs.
    CHECK(rig.holders() == std::set<std::string>{"cams"});
    CHECK(rig.res.mgr->stats().device.used_bytes == group_bytes({"resnet18", "resnet-cars", "resnet-birds"}));
    CHECK(rig.leases() == 1);
    // The other members are served from the loaded group, with no load.
    auto base = rig.run(job_for("resnet18", x));
    check_equal_to_alone(base, "resnet18", x);
    auto birds = rig.run(job_for("resnet-birds", x));
    check_equal_to_alone(birds, "resnet-birds", x);
    CHECK(rig.leases() == 1);
    CHECK(rig.status().fused_passes == 0); // each ran its own sub-DAG
    // The group's own name: every member's outputs, named "member/output".
    auto whole = job_for("resnet18", x);
    whole.model = "cams";
    auto all = rig.run(whole);
    CHECK(all.model == "cams");
    size_t k = 0;
    for (const auto& m : {"resnet-birds", "resnet-cars", "resnet18"}) { // canonical order
      const auto& mm = group_zoo().manifest(m);
      auto expected = alone(m, {x});
      for (size_t i = 0; i < mm.outputs.size(); ++i, ++k) {
        REQUIRE(k < all.names.size());
        CHECK(all.names[k] == std::string{m} + "/" + mm.outputs[i].name);
        CHECK(same_bytes(all.tensors[k], expected[i]));
      }
    }
    CHECK(k == all.names.size());
    CHECK(rig.status().fused_passes == 1);
    // A member the group lacks is refused by name.
    whole.group = true;
    whole.members = {"vit-tiny:1"};
    auto bad = rig.ask<infer_outcome>(rig.exec, run_atom::value, whole);
    REQUIRE_FALSE(bad);
    CHECK(code_of(bad.error()) == ec::unknown_model);
    // Removing the definition unloads the group; the model then runs alone.
    groups.groups.remove("cams");
    rig.publish_catalog();
    auto after = rig.run(job_for("resnet-cars", x));
    check_equal_to_alone(after, "resnet-cars", x);
    s = rig.status();
    CHECK(s.groups.empty());
    CHECK(rig.holders() == std::set<std::string>{"resnet-cars"});
  }

  TEST_CASE("memory pressure swaps a group out as one unit, and work swaps it back in") {
    defined_groups groups;
    groups.define("cams", {"resnet18", "resnet-cars", "resnet-birds"});
    auto bytes = group_bytes({"resnet18", "resnet-cars", "resnet-birds"});
    executor_rig rig{bytes * 11 / 10};
    auto x = image(1, 21);
    rig.run(job_for("resnet-birds", x));
    REQUIRE(rig.status().groups.size() == 1);
    CHECK(rig.res.mgr->stats().device.used_bytes == bytes);
    // What the monitor sends when usage crosses the high watermark.
    caf::anon_send(rig.exec, pressure_atom::value, pressure_level::high);
    auto s = rig.status(); // answered after the pressure message
    CHECK(s.groups.empty());
    CHECK(s.swaps_out == 1);
    CHECK(s.loaded.empty());
    CHECK(rig.res.mgr->stats().device.used_bytes == 0); // the whole group went
    // Work for any member brings the whole group back.
    auto cars = rig.run(job_for("resnet-cars", x));
    check_equal_to_alone(cars, "resnet-cars", x);
    s = rig.status();
    CHECK(s.groups == std::vector<std::string>{"cams"});
    CHECK(rig.leases() == 2);
    CHECK(rig.res.mgr->stats().device.used_bytes == bytes);
    CHECK(s.served == 2);
  }

  TEST_CASE("two groups that cannot both stay swap each other out, and every request is answered") {
    defined_groups groups;
    std::vector<std::string> a{"resnet18", "resnet-cars"};
    std::vector<std::string> b{"mobilenetv2", "mobilenet-cars"};
    groups.define("resnets", a);
    groups.define("mobiles", b);
    auto budget = std::max(group_bytes(a), group_bytes(b)) * 5 / 4;
    REQUIRE(group_bytes(a) + group_bytes(b) > budget);
    executor_rig rig{budget};
    auto sched = spawn_scheduler(*rig.sys, {rig.exec});
    std::vector<infer_job> jobs;
    std::vector<std::string> models{"resnet18", "mobilenetv2", "resnet-cars", "mobilenet-cars",
                                    "resnet18", "mobilenet-cars"};
    for (size_t i = 0; i < models.size(); ++i)
      jobs.push_back(job_for(models[i], image(1, 30 + i)));
    // All at once through the scheduler: each is answered, with its own outputs.
    auto replies = rig.run_all(sched, jobs);
    std::map<std::string, int> answered;
    for (size_t i = 0; i < jobs.size(); ++i) {
      REQUIRE_MESSAGE(replies[i], test::why(replies[i]));
      CHECK(replies[i]->model == models[i]);
      check_equal_to_alone(*replies[i], models[i], jobs[i].inputs.front());
      ++answered[replies[i]->model];
    }
    CHECK(answered["resnet18"] == 2);
    CHECK(answered["mobilenet-cars"] == 2);
    CHECK(answered["resnet-cars"] == 1);
    CHECK(answered["mobilenetv2"] == 1);
    auto s = rig.status();
    CHECK(s.groups.size() == 1); // never both
    CHECK(s.swaps_out >= 1);     // full memory made room by swapping a group out
    CHECK(rig.leases() == s.swaps_out + 1);
    CHECK(rig.res.mgr->stats().device.used_bytes <= budget);
    caf::anon_send_exit(sched, caf::exit_reason::user_shutdown);
  }

  TEST_CASE("unloading a group keeps the blocks that another resident group or model still uses") {
    defined_groups groups;
    groups.define("cars", {"resnet18", "resnet-cars"});
    groups.define("birds", {"resnet-birds", "resnet-ft"});
    executor_rig rig{1ull << 30, false}; // unloaded blocks are freed at once
    REQUIRE(rig.load("cars"));
    REQUIRE(rig.load("birds"));
    // A plain model (in no group) that shares the backbone as well.
    REQUIRE(rig.load("resnet-scratch"));
    CHECK(rig.holders() == std::set<std::string>{"cars", "birds", "resnet-scratch"});
    auto unloaded = rig.unload("cars");
    REQUIRE(unloaded);
    CHECK(*unloaded);
    CHECK(rig.status().groups == std::vector<std::string>{"birds"});
    // The cars head went; what the birds group uses stayed.
    std::set<content_id> resident;
    for (const auto& blob : rig.res.mgr->blobs())
      resident.insert(blob.id);
    for (const auto& blob : unique_blobs(group_zoo().manifest("resnet-birds")))
      CHECK(resident.count(blob.first) == 1);
    for (const auto& blob : unique_blobs(group_zoo().manifest("resnet-ft")))
      CHECK(resident.count(blob.first) == 1);
    size_t cars_only = 0;
    for (const auto& blob : unique_blobs(group_zoo().manifest("resnet-cars"))) {
      bool shared = false;
      for (const auto& other : {"resnet-birds", "resnet-ft", "resnet-scratch"})
        for (const auto& o : unique_blobs(group_zoo().manifest(other)))
          shared = shared || o.first == blob.first;
      if (!shared) {
        ++cars_only;
        CHECK(resident.count(blob.first) == 0);
      }
    }
    CHECK(cars_only > 0);
    // Unloading the other group keeps the blocks the plain model holds.
    REQUIRE(rig.unload("birds"));
    resident.clear();
    for (const auto& blob : rig.res.mgr->blobs())
      resident.insert(blob.id);
    for (const auto& blob : unique_blobs(group_zoo().manifest("resnet-scratch")))
      CHECK(resident.count(blob.first) == 1);
    CHECK(rig.holders() == std::set<std::string>{"resnet-scratch"});
    // The groups still serve, unchanged, when work brings them back.
    auto x = image(1, 41);
    check_equal_to_alone(rig.run(job_for("resnet-ft", x)), "resnet-ft", x);
  }
}

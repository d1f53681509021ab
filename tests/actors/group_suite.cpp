// Fused groups in the serving path: the real executor actor (LibTorch on the
// small zoo, in a store of this suite's own, since group definitions change
// what executors load) loads a defined group as one unit, serves its members'
// sub-DAGs and the group's name, swaps the group out under memory pressure or
// when memory is full and back in when work arrives, and runs co-requested
// members that share an input in one pass. Outputs are compared, bit for bit,
// with each model run on its own.
#include "backends/residency_fixture.hpp"
#include "node_fixture.hpp"
#include "tessera/actors/executor.hpp"
#include "tessera/actors/scheduler.hpp"
#include "tessera/store/group_store.hpp"
#include "tessera/torch/torch_executor.hpp"

#include <caf/all.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <thread>

using namespace tessera;
using namespace tessera::actors;
using namespace tessera::test;

namespace {

// A zoo of this suite's own: defining groups in the shared one would change
// what the other suites' nodes load.
small_zoo& group_zoo() {
  static small_zoo z = small_zoo::build(0.25);
  return z;
}

// Defines groups for one test case and removes every definition afterwards.
struct defined_groups {
  store::group_store groups{group_zoo().store->root()};

  void define(const std::string& name, const std::vector<std::string>& models) {
    group_definition def{name, {}, {}};
    for (const auto& m : models)
      def.models.push_back(model_ref(group_zoo().manifest(m)));
    REQUIRE_FALSE(groups.put(def));
  }

  ~defined_groups() {
    for (const auto& d : groups.list())
      groups.remove(d.name);
  }
};

bool same_bytes(const tensor_buffer& a, const tensor_buffer& b) {
  return a.spec == b.spec && a.bytes == b.bytes && std::memcmp(a.data, b.data, a.bytes) == 0;
}

// The outputs of a model run on its own, outside any actor or group.
std::vector<tensor_buffer> alone(const std::string& model, const std::vector<tensor_buffer>& in) {
  const auto& zoo = group_zoo();
  residency::cpu_arena arena;
  residency::residency_manager mgr{*zoo.store, arena, residency::residency_options{}};
  auto exec = torch_backend::make_torch_executor({}, mgr, zoo.store->skeletons());
  REQUIRE(exec);
  auto loaded = (*exec)->load(zoo.manifest(model));
  REQUIRE(loaded);
  auto out = (*exec)->run(**loaded, in);
  REQUIRE(out);
  return *out;
}

tensor_buffer image(int64_t batch, uint64_t seed) {
  return random_tensor(with_batch(group_zoo().manifest("resnet18").inputs[0].spec, batch), seed);
}

infer_job job_for(const std::string& model, const tensor_buffer& input) {
  const auto& m = group_zoo().manifest(model);
  infer_job j;
  j.model = m.name;
  j.version = m.version;
  j.input_names = {m.inputs[0].name};
  j.inputs = {input};
  j.arrival = std::chrono::steady_clock::now();
  return j;
}

uint64_t group_bytes(const std::vector<std::string>& models) {
  std::vector<model_manifest> ms;
  for (const auto& m : models)
    ms.push_back(group_zoo().manifest(m));
  auto plan = plan_fusion("g", ms);
  REQUIRE(plan);
  return plan->savings.fused_bytes;
}

// One executor actor over a residency manager of its own.
struct executor_rig {
  residency_rig res;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  executor_actor exec;

  explicit executor_rig(uint64_t budget = 1ull << 30, bool keep_unloaded = true)
      : res(*group_zoo().store, budget, load_mode::in_place, keep_unloaded) {
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    auto deps = std::make_shared<executor_deps>();
    deps->name = "group-test/cpu/0";
    torch_backend::torch_options topts;
    topts.threads = 1;
    auto e = torch_backend::make_torch_executor(topts, *res.mgr, group_zoo().store->skeletons());
    REQUIRE(e);
    deps->exec = std::move(*e);
    deps->residency = res.mgr.get();
    deps->store = &*group_zoo().store;
    exec = spawn_executor(*sys, deps);
  }

  ~executor_rig() {
    caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
    sys->await_all_actors_done();
  }

  template <class T, class Handle, class... Ts>
  caf::expected<T> ask(const Handle& to, Ts&&... xs) {
    caf::scoped_actor self{*sys};
    caf::expected<T> out = make_error(ec::none);
    self->request(to, std::chrono::seconds(120), std::forward<Ts>(xs)...)
      .receive([&](T& r) { out = std::move(r); }, [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  infer_outcome run(const infer_job& j) {
    auto out = ask<infer_outcome>(exec, run_atom::value, j);
    REQUIRE_MESSAGE(out, describe(out.error()));
    return std::move(*out);
  }

  executor_state status() {
    auto s = ask<executor_state>(exec, status_atom::value);
    REQUIRE(s);
    return *s;
  }

  caf::expected<load_outcome> load(const std::string& name) {
    return ask<load_outcome>(exec, load_atom::value, name, uint32_t{0});
  }

  caf::expected<bool> unload(const std::string& name) {
    return ask<bool>(exec, unload_atom::value, name, uint32_t{0});
  }

  /// Sends every job to `to` at once, then collects each one's answer.
  std::vector<caf::expected<infer_outcome>> run_all(const scheduler_actor& to, const std::vector<infer_job>& jobs) {
    caf::scoped_actor self{*sys};
    std::vector<decltype(self->request(to, std::chrono::seconds(120), run_atom::value, jobs.front()))> handles;
    for (const auto& j : jobs)
      handles.push_back(self->request(to, std::chrono::seconds(120), run_atom::value, j));
    std::vector<caf::expected<infer_outcome>> out;
    for (auto& h : handles) {
      out.emplace_back(make_error(ec::none));
      h.receive([&](infer_outcome& r) { out.back() = std::move(r); },
                [&](caf::error& err) { out.back() = std::move(err); });
    }
    return out;
  }

  /// Leases the residency manager granted: one per unit loaded.
  uint64_t leases() const {
    return res.mgr->stats().counters.loads;
  }

  std::set<std::string> holders() const {
    std::set<std::string> out;
    for (const auto& b : res.mgr->blobs())
      out.insert(b.holders.begin(), b.holders.end());
    return out;
  }
};

// Checks an outcome for one model: its own output names and the outputs of
// the model run on its own, bit for bit.
void check_equal_to_alone(const infer_outcome& out, const std::string& model, const tensor_buffer& in) {
  const auto& m = group_zoo().manifest(model);
  auto expected = alone(model, {in});
  REQUIRE(out.names.size() == m.outputs.size());
  REQUIRE(out.tensors.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CHECK(out.names[i] == m.outputs[i].name);
    CHECK_MESSAGE(same_bytes(out.tensors[i], expected[i]), model << " output " << i);
  }
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

} // namespace

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
      REQUIRE_MESSAGE(replies[i], describe(replies[i].error()));
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

  TEST_CASE("queued requests for several members that share an input run in one fused pass") {
    defined_groups groups;
    groups.define("cams", {"resnet18", "resnet-cars", "resnet-birds", "resnet-ft"});
    executor_rig rig;
    auto sched = spawn_scheduler(*rig.sys, {rig.exec});
    auto frame = image(1, 51);
    auto copy = tensor_buffer::copy_of(frame.spec, frame.data); // same bytes, other buffer
    auto other = image(1, 52);
    // The first keeps the executor busy (and brings the group in) while the
    // others queue behind it.
    std::vector<infer_job> jobs{job_for("resnet-ft", image(4, 50)), job_for("resnet18", frame),
                                job_for("resnet-cars", copy), job_for("resnet-birds", frame),
                                job_for("resnet-cars", other)};
    auto replies = rig.run_all(sched, jobs);
    for (size_t i = 0; i < jobs.size(); ++i) {
      REQUIRE_MESSAGE(replies[i], describe(replies[i].error()));
      CHECK(replies[i]->model == jobs[i].model);
      check_equal_to_alone(*replies[i], jobs[i].model, jobs[i].inputs.front());
    }
    auto s = rig.status();
    CHECK(s.fused_passes == 1); // resnet18, -cars and -birds on one frame
    CHECK(s.served == 3);       // the first job, the pass, and -cars on the other frame
    CHECK(rig.leases() == 1);
    caf::anon_send_exit(sched, caf::exit_reason::user_shutdown);
  }

  TEST_CASE("with a queue delay, member requests that reach an idle executor together run in one pass") {
    defined_groups groups;
    groups.define("cams", {"resnet18", "resnet-cars", "resnet-birds"});
    executor_rig rig;
    scheduler_options opts;
    opts.max_queue_delay = std::chrono::milliseconds(300);
    auto sched = spawn_scheduler(*rig.sys, {rig.exec}, {}, opts);
    // The executor holds the group, and is idle, when the frame's requests come.
    auto warm = rig.run_all(sched, {job_for("resnet-birds", image(1, 70))});
    REQUIRE_MESSAGE(warm.front(), describe(warm.front().error()));
    auto frame = image(1, 71);
    std::vector<infer_job> jobs{job_for("resnet18", frame), job_for("resnet-cars", frame),
                                job_for("resnet-birds", frame)};
    auto replies = rig.run_all(sched, jobs);
    for (size_t i = 0; i < jobs.size(); ++i) {
      REQUIRE_MESSAGE(replies[i], describe(replies[i].error()));
      check_equal_to_alone(*replies[i], jobs[i].model, frame);
    }
    auto s = rig.status();
    CHECK(s.fused_passes == 1);
    CHECK(s.served == 2); // the warm-up, then the three in one pass
    caf::anon_send_exit(sched, caf::exit_reason::user_shutdown);
  }

  TEST_CASE("through a node, a client defines a group and asks for it by name or by member") {
    defined_groups groups; // removes what the client defines
    auto n = start_node(node_config_for(group_zoo()));
    zmq::context_t ctx{1};
    auto cl = transport::client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    auto fused = cl->call_as<transport::fuse_response>(
      {"", transport::fuse_request{"pair", {"resnet18", "resnet-cars"}}}, reply_timeout);
    REQUIRE_MESSAGE(fused, describe(fused.error()));
    auto x = image(1, 61);
    const auto& cars = group_zoo().manifest("resnet-cars");
    // By name: one pass, every member's outputs as "member/output".
    transport::infer_request whole;
    whole.model_name = "pair";
    whole.inputs.push_back({cars.inputs[0].name, x}); // the group input is named after the first member's
    auto r = cl->call_as<transport::infer_response>({"", whole}, reply_timeout);
    REQUIRE_MESSAGE(r, describe(r.error()));
    CHECK(r->model_name == "pair");
    std::vector<std::string> names;
    for (const auto& o : r->outputs)
      names.push_back(o.name);
    std::vector<std::string> expected_names;
    std::vector<tensor_buffer> expected;
    for (const auto& m : {"resnet-cars", "resnet18"}) {
      auto out = alone(m, {x});
      for (size_t i = 0; i < out.size(); ++i) {
        expected_names.push_back(std::string{m} + "/" + group_zoo().manifest(m).outputs[i].name);
        expected.push_back(out[i]);
      }
    }
    CHECK(names == expected_names);
    for (size_t i = 0; i < expected.size() && i < r->outputs.size(); ++i)
      CHECK(same_bytes(r->outputs[i].tensor, expected[i]));
    // One output of one member, by its group name.
    whole.outputs = {expected_names.back()};
    auto one = cl->call_as<transport::infer_response>({"", whole}, reply_timeout);
    REQUIRE_MESSAGE(one, describe(one.error()));
    REQUIRE(one->outputs.size() == 1);
    CHECK(one->outputs[0].name == expected_names.back());
    // By member: the member's own outputs, from the loaded group.
    auto member = cl->call_as<transport::infer_response>({"", infer_for(cars, 1, 0)}, reply_timeout);
    REQUIRE_MESSAGE(member, describe(member.error()));
    CHECK(member->model_name == "resnet-cars");
    CHECK(member->outputs.at(0).name == cars.outputs[0].name);
    auto ready = cl->call_as<transport::model_ready_response>({"", transport::model_ready_request{"pair", {}}},
                                                               reply_timeout);
    REQUIRE(ready);
    CHECK(ready->ready);
    // A name that is neither a model nor a group.
    whole.model_name = "no-such-group";
    auto missing = cl->call_as<transport::infer_response>({"", whole}, reply_timeout);
    REQUIRE_FALSE(missing);
    CHECK(code_of(missing.error()) == ec::unknown_model);
  }

  TEST_CASE(
      "a group defined through a coordinator is defined on its peers, and served through them") {
    defined_groups groups; // removes what the client defines on the coordinator
    // The worker has a store of its own: a copy of the zoo, without groups.
    test::scratch_dir worker_store{"group-peer-store"};
    std::filesystem::copy(group_zoo().dir->path(), worker_store.path(),
                          std::filesystem::copy_options::recursive);
    std::filesystem::remove_all(worker_store.path() + "/groups");
    auto worker_cfg = node_config_for(group_zoo());
    worker_cfg.store_path = worker_store.path();
    auto worker = start_node(worker_cfg);
    auto cfg = node_config_for(group_zoo());
    cfg.executors = 0;                                     // everything runs on the worker
    cfg.peers = {worker->endpoint(), "tcp://127.0.0.1:1"}; // the second never answers
    auto coordinator = start_node(cfg);
    for (int i = 0; i < 500 && !coordinator->peers()[0].up; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(coordinator->peers()[0].up);
    zmq::context_t ctx{1};
    auto cl = transport::client::connect(ctx, coordinator->endpoint());
    REQUIRE(cl);
    auto fused = cl->call_as<transport::fuse_response>(
        {"", transport::fuse_request{"pair", {"resnet18", "resnet-cars"}}}, reply_timeout);
    REQUIRE_MESSAGE(fused, describe(fused.error()));
    // Defined on the worker, pinned to the same versions; the dead peer is named.
    auto on_worker = store::group_store{worker_store.path()}.get("pair");
    REQUIRE_MESSAGE(on_worker, describe(on_worker.error()));
    CHECK(on_worker->models == fused->models);
    REQUIRE(fused->not_defined_on.size() == 1);
    CHECK_MESSAGE(fused->not_defined_on[0].rfind("tcp://127.0.0.1:1: ", 0) == 0,
                  fused->not_defined_on[0]);
    // The coordinator executes nothing: the group's name is served by the worker.
    const auto& cars = group_zoo().manifest("resnet-cars");
    transport::infer_request whole;
    whole.model_name = "pair";
    whole.inputs.push_back({cars.inputs[0].name, image(1, 62)});
    auto r = cl->call_as<transport::infer_response>({"", whole}, reply_timeout);
    REQUIRE_MESSAGE(r, describe(r.error()));
    CHECK(r->outputs.size() ==
          cars.outputs.size() + group_zoo().manifest("resnet18").outputs.size());
    // A peer does not pass a definition on: the forwarded request is local only.
    auto direct = transport::client::connect(ctx, worker->endpoint());
    REQUIRE(direct);
    auto local = direct->call_as<transport::fuse_response>(
        {"", transport::fuse_request{"pair2", {"resnet18", "resnet-birds"}, true}}, reply_timeout);
    REQUIRE_MESSAGE(local, describe(local.error()));
    CHECK(local->not_defined_on.empty());
    CHECK_FALSE(store::group_store{group_zoo().store->root()}.get("pair2"));
  }

  TEST_CASE("with auto_fuse, co-requested models that share blocks become a group that executors serve") {
    defined_groups groups;
    std::vector<infer_job> traffic;
    for (int i = 0; i < 8; ++i)
      traffic.push_back(job_for(i % 2 == 0 ? "resnet18" : "resnet-cars", image(1, 70 + i / 2)));
    {
      executor_rig rig;
      auto sched = spawn_scheduler(*rig.sys, {rig.exec}); // auto_fuse off: the default
      for (auto& r : rig.run_all(sched, traffic))
        CHECK(r);
      CHECK(groups.groups.list().empty());
      caf::anon_send_exit(sched, caf::exit_reason::user_shutdown);
    }
    executor_rig rig;
    scheduler_options opts;
    opts.auto_fuse.enabled = true;
    opts.auto_fuse.store = &*group_zoo().store;
    opts.auto_fuse.window_ms = 60000;
    opts.auto_fuse.every_requests = traffic.size();
    opts.auto_fuse.grouping.min_together = 3;
    auto sched = spawn_scheduler(*rig.sys, {rig.exec}, {}, opts);
    for (auto& r : rig.run_all(sched, traffic))
      CHECK(r);
    // The advisor defines the group after the last request; wait for it.
    caf::expected<group_definition> def = make_error(ec::none);
    for (int i = 0; i < 200 && !def; ++i) {
      def = groups.groups.get("group-resnet-cars");
      if (!def)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE_MESSAGE(def, describe(def.error()));
    CHECK(def->models == std::vector<std::string>{model_ref(group_zoo().manifest("resnet-cars")),
                                                  model_ref(group_zoo().manifest("resnet18"))});
    auto x = image(1, 79);
    auto out = rig.run_all(sched, {job_for("resnet18", x)});
    REQUIRE(out.front());
    check_equal_to_alone(*out.front(), "resnet18", x);
    CHECK(rig.status().groups == std::vector<std::string>{"group-resnet-cars"});
    caf::anon_send_exit(sched, caf::exit_reason::user_shutdown);
  }
}

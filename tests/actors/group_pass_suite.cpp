// Fused passes: requests for several members of a group that share an input
// run in one pass of the group's DAG, whether they queue behind a busy
// executor or reach an idle one within the queue delay; with auto_fuse, the
// scheduler defines the groups its co-request statistics propose. Real
// executor actor and scheduler; outputs equal each model run on its own.
#include "group_fixture.hpp"
#include "why.hpp"

#include <caf/all.hpp>

#include <doctest/doctest.h>

#include <thread>

using namespace tessera;
using namespace tessera::actors;
using namespace tessera::test;

TEST_SUITE("group_pass") {
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
      REQUIRE_MESSAGE(replies[i], test::why(replies[i]));
      CHECK(replies[i]->model == jobs[i].model);
      check_equal_to_alone(*replies[i], jobs[i].model, jobs[i].inputs.front());
    }
    auto s = rig.status();
    CHECK(s.fused_passes == 1); // resnet18, -cars and -birds on one frame
    CHECK(s.served == 3);       // the first job, the pass, and -cars on the other frame
    CHECK(rig.leases() == 1);
    caf::anon_send_exit(sched, caf::exit_reason::user_shutdown);
  }

  TEST_CASE(
      "with a queue delay, member requests that reach an idle executor together run in one pass") {
    defined_groups groups;
    groups.define("cams", {"resnet18", "resnet-cars", "resnet-birds"});
    executor_rig rig;
    scheduler_options opts;
    opts.max_queue_delay = std::chrono::milliseconds(300);
    auto sched = spawn_scheduler(*rig.sys, {rig.exec}, {}, opts);
    // The executor holds the group, and is idle, when the frame's requests come.
    auto warm = rig.run_all(sched, {job_for("resnet-birds", image(1, 70))});
    REQUIRE_MESSAGE(warm.front(), test::why(warm.front()));
    auto frame = image(1, 71);
    std::vector<infer_job> jobs{job_for("resnet18", frame), job_for("resnet-cars", frame),
                                job_for("resnet-birds", frame)};
    auto replies = rig.run_all(sched, jobs);
    for (size_t i = 0; i < jobs.size(); ++i) {
      REQUIRE_MESSAGE(replies[i], test::why(replies[i]));
      check_equal_to_alone(*replies[i], jobs[i].model, frame);
    }
    auto s = rig.status();
    CHECK(s.fused_passes == 1);
    CHECK(s.served == 2); // the warm-up, then the three in one pass
    caf::anon_send_exit(sched, caf::exit_reason::user_shutdown);
  }

  TEST_CASE(
      "with auto_fuse, co-requested models that share blocks become a group that executors serve") {
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
    REQUIRE_MESSAGE(def, test::why(def));
    CHECK(def->models == std::vector<std::string>{model_ref(group_zoo().manifest("resnet-cars")),
                                                  model_ref(group_zoo().manifest("resnet18"))});
    rig.publish_catalog(); // a node's registry sees the file written
    auto x = image(1, 79);
    auto out = rig.run_all(sched, {job_for("resnet18", x)});
    REQUIRE(out.front());
    check_equal_to_alone(*out.front(), "resnet18", x);
    CHECK(rig.status().groups == std::vector<std::string>{"group-resnet-cars"});
    caf::anon_send_exit(sched, caf::exit_reason::user_shutdown);
  }
}

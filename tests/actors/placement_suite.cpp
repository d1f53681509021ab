// Placement in the scheduler actor, under CAF's deterministic test
// coordinator: units go to the executor whose node holds their shared blobs and
// has free memory, a hot group gets a replica, replicas go when the load
// falls, and a unit is placed again when its node goes down. Each case is
// built so that placing by executor index alone would choose differently.
#include "scheduler_rig.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>

namespace {

constexpr uint64_t mb = 1000 * 1000;

// An executor that reports what it holds (every unit it ran), its node's free
// memory, and a run time, as the node's executors do.
struct reporting_device {
  std::string name;
  std::set<std::string> held;
  uint64_t free_bytes = std::numeric_limits<uint64_t>::max();
  double run_ms = 10.0;
  /// What each job reports its load read, and how long that took.
  uint64_t loaded_bytes = 0;
  double load_ms = 0.0;
  /// As a remote executor: no list of models held, but the blobs resident on
  /// its node (its peer's report).
  bool remote = false;
  std::shared_ptr<const std::vector<content_id>> resident;
  /// A fake clock that each job moves on by its run time: placement reviews
  /// run on a cadence of the scheduler's clock (review_interval_ms), so time
  /// must pass as jobs run for a review to see the queue they left.
  std::shared_ptr<steady_time> clock;
  uint32_t late = 0; ///< jobs that finished after their deadline (by `clock`)
};

executor_actor::behavior_type reporting_executor(executor_actor::pointer,
                                                 std::shared_ptr<reporting_device> dev,
                                                 std::shared_ptr<fake_log> log) {
  return {
      [=](run_atom, const infer_job& job) -> caf::result<infer_outcome> {
        log->ran.push_back(dev->name + ":" + job.model);
        if (dev->clock != nullptr) {
          *dev->clock += std::chrono::microseconds(static_cast<int64_t>(dev->run_ms * 1000.0));
          dev->late += *dev->clock > job.deadline ? 1 : 0;
        }
        dev->held.insert(job.model);
        infer_outcome out;
        out.model = job.model;
        out.executor = dev->name;
        if (!dev->remote)
          out.held.assign(dev->held.begin(), dev->held.end());
        out.resident_blobs = dev->resident;
        out.free_bytes = dev->free_bytes;
        out.run_ms = dev->run_ms;
        out.loaded_bytes = dev->loaded_bytes;
        out.load_ms = dev->load_ms;
        return out;
      },
      [=](load_atom, const std::string& model, uint32_t) -> caf::result<load_outcome> {
        log->ran.push_back(dev->name + ":load " + model);
        dev->held.insert(model);
        return load_outcome{model, 1, 0, 0};
      },
      [=](unload_atom, const std::string&, uint32_t) -> caf::result<bool> { return true; },
      [=](status_atom) -> caf::result<executor_state> { return idle_state(dev->name); },
      [=](pressure_atom, pressure_level) {},
      [=](catalog_atom, const catalog_ptr&) {},
  };
}

// Two models on one 40 MB trunk (blob 1) with their own 4 MB heads, and an
// unrelated 44 MB model; loads run at 1 MB per ms.
scheduler_options catalogue_options(size_t executors) {
  auto units = std::make_shared<std::map<std::string, placement_unit>>();
  (*units)["cars"] = {"cars", {{content_id{0, 1}, 40 * mb}, {content_id{0, 2}, 4 * mb}}};
  (*units)["birds"] = {"birds", {{content_id{0, 1}, 40 * mb}, {content_id{0, 3}, 4 * mb}}};
  (*units)["other"] = {"other", {{content_id{0, 9}, 44 * mb}}};
  scheduler_options opts;
  opts.placement.catalog = units;
  opts.placement.policy.load_bytes_per_ms = 1.0 * mb;
  for (uint32_t i = 0; i < executors; ++i)
    opts.placement.nodes.push_back(i); // one executor per node
  return opts;
}

struct placement_rig : rig {
  std::vector<std::shared_ptr<reporting_device>> devices;
  std::vector<executor_actor> executors;

  explicit placement_rig(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      devices.push_back(std::make_shared<reporting_device>());
      devices.back()->name = "e" + std::to_string(i);
      executors.push_back(sys->spawn(reporting_executor, devices.back(), log));
    }
  }

  placement_status placement(const scheduler_actor& s) {
    auto out = std::make_shared<placement_status>();
    sys->spawn([s, out](caf::event_based_actor* self) {
      self->request(s, caf::infinite, status_atom::value, place_atom::value)
          .then([out](const placement_status& st) { *out = st; });
    });
    sched->run();
    return *out;
  }

  /// A fake clock for the scheduler that each job moves on by its run time.
  std::shared_ptr<steady_time> fake_clock(scheduler_options& opts) {
    auto now = std::make_shared<steady_time>(std::chrono::steady_clock::now());
    opts.clock = [now] { return *now; };
    for (auto& d : devices)
      d->clock = now;
    return now;
  }

  /// Runs one job of cars, then one of other, one at a time: their run
  /// times are measured (10 ms) and both are placed on e0.
  void place_cars_and_other(const scheduler_actor& s) {
    submit(s, {job("cars")});
    sched->run();
    submit(s, {job("other")});
    sched->run();
    REQUIRE(placement(s).units["other"] == std::vector<uint32_t>{0});
  }

  size_t ran(const std::string& entry) const {
    return static_cast<size_t>(std::count(log->ran.begin(), log->ran.end(), entry));
  }
};

infer_job group_job(const std::string& name) {
  auto j = job(name);
  j.group = true;
  return j;
}

} // namespace

TEST_SUITE("scheduler_placement") {
  TEST_CASE("model_load goes where placement puts the unit, and its jobs follow") {
    placement_rig r{2};
    auto s = spawn_scheduler(*r.sys, r.executors, {}, catalogue_options(2));
    // other (44 MB) runs on e0; cars, arriving while e0 is busy, on e1.
    r.submit(s, {job("other"), job("cars")});
    r.sched->run();
    REQUIRE(r.log->ran == std::vector<std::string>{"e0:other", "e1:cars"});
    // birds shares cars's 40 MB trunk: placement loads it on e1 (4 MB to
    // read), not on the first executor (44 MB to evict, 44 MB to read).
    auto loaded = std::make_shared<caf::expected<load_outcome>>(make_error(ec::none));
    r.sys->spawn([s, loaded](caf::event_based_actor* self) {
      self->request(s, caf::infinite, load_atom::value, std::string{"birds"}, uint32_t{0})
          .then([loaded](load_outcome& o) { *loaded = std::move(o); },
                [loaded](caf::error& e) { *loaded = std::move(e); });
    });
    r.sched->run();
    REQUIRE(*loaded);
    CHECK(r.log->ran.back() == "e1:load birds");
    CHECK(r.placement(s).units["birds"] == std::vector<uint32_t>{1});
    r.submit(s, {job("birds")});
    r.sched->run();
    CHECK(r.log->ran.back() == "e1:birds");
  }

  TEST_CASE("a unit goes to the node that holds its shared blocks, not the first idle one") {
    placement_rig r{3};
    auto s = spawn_scheduler(*r.sys, r.executors, {true, false, true}, catalogue_options(3));
    // cars runs on e0; birds arrives while e0 is busy and goes to idle e2.
    r.submit(s, {job("cars"), job("birds")});
    r.sched->run();
    CHECK(r.log->ran == std::vector<std::string>{"e0:cars", "e2:birds"});
    caf::anon_send(s, peer_atom::value, uint32_t{1}, true);
    caf::anon_send(s, peer_atom::value, uint32_t{0}, false);
    r.sched->run();
    // e0 went down: cars is placed again. e1 is first and idle, but e2's node
    // holds the 40 MB trunk that cars shares with birds, so only its head loads.
    r.submit(s, {job("cars")});
    r.sched->run();
    CHECK(r.log->ran.back() == "e2:cars");
    auto st = r.placement(s);
    CHECK(st.units["cars"] == std::vector<uint32_t>{2});
    CHECK(st.placed >= 3);
    CHECK(r.replies->size() == 3);
  }

  TEST_CASE("a unit avoids a node without free memory") {
    placement_rig r{2};
    r.devices[0]->free_bytes = 0; // e0's node is full
    r.devices[1]->free_bytes = 500 * mb;
    auto s = spawn_scheduler(*r.sys, r.executors, {}, catalogue_options(2));
    // The first report of free memory comes back with cars' and birds' jobs.
    r.submit(s, {job("cars"), job("birds")});
    r.sched->run();
    REQUIRE(r.log->ran.size() == 2);
    // Both idle now: loading "other" on e0 would evict 44 MB that others read again.
    r.submit(s, {job("other")});
    r.sched->run();
    CHECK(r.log->ran.back() == "e1:other");
    CHECK(r.placement(s).units["other"] == std::vector<uint32_t>{1});
  }

  TEST_CASE("a hot group gets a replica on a second executor, and loses it when the load falls") {
    placement_rig r{2};
    auto opts = catalogue_options(2);
    auto now = r.fake_clock(opts);
    opts.placement.policy.replica_idle_ms = 1000.0;
    auto units = std::make_shared<std::map<std::string, placement_unit>>(*opts.placement.catalog);
    (*units)["cams"] = {
        "cams",
        {{content_id{0, 1}, 40 * mb}, {content_id{0, 2}, 4 * mb}, {content_id{0, 3}, 4 * mb}}};
    opts.placement.catalog = units;
    auto s = spawn_scheduler(*r.sys, r.executors, {}, opts);
    auto at_now = [now](infer_job j) {
      j.arrival = *now;
      return j;
    };
    // One pass alone: the group is placed on e0, and its run time is measured.
    r.submit(s, {at_now(group_job("cams"))});
    r.sched->run();
    CHECK(r.placement(s).units["cams"] == std::vector<uint32_t>{0});
    // Ten at once: the queue on e0 (10 x 10 ms) outweighs loading 48 MB on e1.
    std::vector<infer_job> burst(10, at_now(group_job("cams")));
    r.submit(s, burst);
    r.sched->run();
    CHECK(r.ran("e0:cams") >= 2);
    CHECK(r.ran("e1:cams") >= 2);
    auto st = r.placement(s);
    CHECK(st.added == 1);
    CHECK(st.units["cams"].size() == 2);
    // Quiet for longer than replica_idle_ms: the next job finds one replica dropped.
    *now += std::chrono::seconds(2);
    r.submit(s, {at_now(group_job("cams"))});
    r.sched->run();
    st = r.placement(s);
    CHECK(st.dropped == 1);
    CHECK(st.units["cams"].size() == 1);
    CHECK(r.replies->size() == 12);
  }

  TEST_CASE("a unit hotter than four executors can serve spreads over more of them") {
    // One Zipf model takes a quarter of a cluster's requests; a fixed cap of
    // four replicas (the default until 2026-12-07) left it starved on a large
    // cluster while other executors idled.
    placement_rig r{6};
    auto opts = catalogue_options(6);
    r.fake_clock(opts);
    auto s = spawn_scheduler(*r.sys, r.executors, {}, opts);
    r.submit(s, {job("cars")});
    r.sched->run();
    std::vector<infer_job> burst(30, job("cars"));
    r.submit(s, burst);
    r.sched->run();
    size_t used = 0;
    for (int i = 0; i < 6; ++i)
      used += r.ran("e" + std::to_string(i) + ":cars") > 0 ? 1 : 0;
    CHECK(used >= 5);
    CHECK(r.placement(s).units["cars"].size() >= 5);
    CHECK(r.replies->size() == 31);
  }

  TEST_CASE("a cold unit stays on one executor, where it is held") {
    placement_rig r{2};
    auto s = spawn_scheduler(*r.sys, r.executors, {}, catalogue_options(2));
    for (int i = 0; i < 4; ++i) { // one job at a time: never a queue
      r.submit(s, {job("cars")});
      r.sched->run();
    }
    CHECK(r.ran("e0:cars") == 4);
    auto st = r.placement(s);
    CHECK(st.added == 0);
    CHECK(st.units["cars"] == std::vector<uint32_t>{0});
  }

  TEST_CASE("a unit moves off an executor whose queue grew with other work") {
    placement_rig r{2};
    auto opts = catalogue_options(2);
    opts.placement.policy.max_replicas = 1; // cars, hot, cannot spread out
    r.fake_clock(opts);
    auto s = spawn_scheduler(*r.sys, r.executors, {}, opts);
    r.place_cars_and_other(s);
    // Eight jobs of cars queue on e0 (80 ms of work); one of other waits
    // behind them, less than loading it on e1 (44 ms): it moves there.
    std::vector<infer_job> jobs(8, job("cars"));
    jobs.push_back(job("other"));
    r.submit(s, jobs);
    r.sched->run();
    CHECK(r.ran("e1:other") == 1);
    CHECK(r.ran("e1:cars") == 0);
    CHECK(r.placement(s).moved >= 1);
    CHECK(r.replies->size() == 11);
  }

  TEST_CASE("placement prices a load at the bandwidth the executors' loads showed, not its guess") {
    // Three jobs of cars (30 ms) queue on e0 ahead of one of other. At the
    // configured 1 MB per ms, loading other (44 MB) on e1 costs 44 ms: it
    // waits. Once loads have shown 10 MB per ms, the load costs 4.4 ms, and
    // other moves to e1.
    for (bool learned : {false, true}) {
      CAPTURE(learned);
      placement_rig r{2};
      auto opts = catalogue_options(2);
      opts.placement.policy.max_replicas = 1;
      r.fake_clock(opts);
      if (learned)
        for (auto& d : r.devices) {
          d->loaded_bytes = 20 * mb;
          d->load_ms = 2.0;
        }
      auto s = spawn_scheduler(*r.sys, r.executors, {}, opts);
      r.place_cars_and_other(s);
      std::vector<infer_job> jobs(3, job("cars"));
      jobs.push_back(job("other"));
      r.submit(s, jobs);
      r.sched->run();
      CHECK(r.ran("e1:other") == (learned ? 1 : 0));
      CHECK(r.replies->size() == 6);
    }
  }

  TEST_CASE("remote executors' reports of resident blobs decide where a unit goes") {
    placement_rig r{2};
    for (auto& d : r.devices)
      d->remote = true;
    auto s = spawn_scheduler(*r.sys, r.executors, {}, catalogue_options(2));
    using blob_list = std::vector<content_id>;
    // e0 runs birds (trunk and its head); e1 runs other, and its node also
    // holds all of cars, loaded there behind the scheduler's back. Each
    // reports its node's resident blobs with its reply.
    r.devices[0]->resident = std::make_shared<const blob_list>(blob_list{{0, 1}, {0, 3}});
    r.devices[1]->resident = std::make_shared<const blob_list>(blob_list{{0, 9}, {0, 1}, {0, 2}});
    r.submit(s, {job("birds"), job("other")});
    r.sched->run();
    REQUIRE(r.log->ran == std::vector<std::string>{"e0:birds", "e1:other"});
    // cars: nothing to load on e1, its 4 MB head on e0. Without the reports
    // only the models they ran would count, and e0 (the trunk, from birds)
    // would win over e1 (other: nothing of cars).
    r.submit(s, {job("cars")});
    r.sched->run();
    CHECK(r.log->ran.back() == "e1:cars");
    CHECK(r.placement(s).units["cars"] == std::vector<uint32_t>{1});
    CHECK(r.replies->size() == 3);
  }

  TEST_CASE("with placement off, any idle executor takes any job") {
    placement_rig r{2};
    auto opts = catalogue_options(2);
    opts.placement.mode = placement_mode::any_idle;
    auto s = spawn_scheduler(*r.sys, r.executors, {}, opts);
    r.submit(s, {job("cars"), job("birds")});
    r.sched->run();
    CHECK(r.log->ran == std::vector<std::string>{"e0:cars", "e1:birds"});
    CHECK(r.placement(s).units.empty());
  }

  TEST_CASE("under overload, jobs that cannot meet their deadlines are answered, not run") {
    // One executor, 10 ms a job; twenty jobs arrive at once, each with 35 ms
    // to go: three can finish in time.
    auto run = [](bool shed) {
      placement_rig r(1);
      auto opts = catalogue_options(1);
      opts.shed_late = shed;
      auto now = r.fake_clock(opts);
      auto s = spawn_scheduler(*r.sys, r.executors, {}, opts);
      r.submit(s, {job("cars")}); // measures the run time
      r.sched->run();
      std::vector<infer_job> burst(20, job("cars", *now + std::chrono::milliseconds(35)));
      r.submit(s, burst);
      r.sched->run();
      CHECK(r.replies->size() == 21); // every job answered once
      return std::make_pair(*r.replies, r.devices[0]->late);
    };
    auto count = [](const std::vector<std::string>& replies, const std::string& what) {
      return std::count(replies.begin(), replies.end(), what);
    };
    {
      auto [replies, late] = run(true);
      CHECK(late == 0); // no executor time spent on a job that could not make it
      CHECK(count(replies, "e0:cars") == 1 + 3);
      CHECK(count(replies, "error:overloaded") + count(replies, "error:deadline_exceeded") == 17);
      CHECK(count(replies, "error:overloaded") > 0); // refused at arrival, most of them
    }
    {
      auto [replies, late] = run(false);
      CHECK(late > 0); // without shedding, a job runs that finishes too late
      CHECK(count(replies, "error:overloaded") == 0);
    }
  }
}

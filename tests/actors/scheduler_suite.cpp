// The scheduler actor under CAF's deterministic test coordinator: messages
// run one at a time, in a known order, with fake executors that record what
// they are given. This pins down placement, reuse-aware order, expiry, and
// rerouting when an executor turns out to be gone.
#include "scheduler_rig.hpp"

#include <doctest/doctest.h>

#include <map>
#include <optional>

using namespace tessera;
using namespace tessera::actors;

namespace {

// An executor on a virtual clock: a model not held costs `load_ms` to load
// (it holds one model at a time), every job `exec_ms`; a job meets its deadline
// when the virtual clock at its end is within the job's virtual deadline,
// looked up by ticket.
struct virtual_device {
  double clock_ms = 0.0;
  std::string held;
  std::map<uint64_t, double> deadline_ms;
  int met = 0;
};

executor_actor::behavior_type virtual_executor(executor_actor::pointer self,
                                               std::shared_ptr<virtual_device> dev,
                                               std::shared_ptr<fake_log> log) {
  return {
      [=](run_atom, const infer_job& job) -> caf::result<infer_outcome> {
        if (dev->held != job.model)
          dev->clock_ms += 50.0;
        dev->held = job.model;
        dev->clock_ms += 10.0;
        if (dev->clock_ms <= dev->deadline_ms[job.ticket])
          ++dev->met;
        log->ran.push_back(job.model);
        infer_outcome out;
        out.model = job.model;
        return out;
      },
      [=](load_atom, const std::string& model, uint32_t) -> caf::result<load_outcome> {
        return load_outcome{model, 1, 0, 0};
      },
      [=](unload_atom, const std::string&, uint32_t) -> caf::result<bool> { return true; },
      [=](status_atom) -> caf::result<executor_state> { return idle_state("v"); },
      [=](pressure_atom, pressure_level) {},
      [=](catalog_atom, const catalog_ptr&) {},
  };
}

// The executor interface beside `run`, for the dynamically typed fakes below:
// loads and unloads succeed, and the state is an idle executor's.
caf::message_handler rest_of_executor(const std::string& name) {
  return {
      [=](load_atom, const std::string& model, uint32_t) -> caf::result<load_outcome> {
        return load_outcome{model, 1, 0, 0};
      },
      [=](unload_atom, const std::string&, uint32_t) -> caf::result<bool> { return true; },
      [=](status_atom) -> caf::result<executor_state> { return idle_state(name); },
      [=](pressure_atom, pressure_level) {},
      [=](catalog_atom, const catalog_ptr&) {},
  };
}

// An executor whose first job fails as unavailable, as a busy peer's may: it
// fails when told to (`tick_atom`), or at once with `fail_at_once`; later
// jobs it runs. Dynamically typed, to take `tick_atom`, it answers the
// executor interface as the remote executor does.
executor_actor flaky_executor(caf::actor_system& sys, std::string name,
                              std::shared_ptr<fake_log> log, bool fail_at_once) {
  struct first_job {
    bool taken = false;
    std::optional<caf::response_promise> held; ///< released once answered: it holds the actor
  };
  auto first = std::make_shared<first_job>();
  auto impl = [=](caf::event_based_actor* self) -> caf::behavior {
    return caf::message_handler{
        [=](run_atom, const infer_job& job) -> caf::result<infer_outcome> {
          if (!first->taken) {
            first->taken = true;
            if (fail_at_once)
              return make_error(ec::unavailable, name + " is busy");
            first->held = self->make_response_promise();
            return *first->held;
          }
          log->ran.push_back(name + ":" + job.model);
          infer_outcome out;
          out.model = job.model;
          out.executor = name;
          return out;
        },
        [=](tick_atom) {
          if (first->held) {
            first->held->deliver(make_error(ec::unavailable, name + " was down"));
            first->held.reset();
          }
        },
    }
        .or_else(rest_of_executor(name));
  };
  return caf::actor_cast<executor_actor>(sys.spawn(impl));
}

// An executor that holds each job until it is told (`tick_atom`), then
// serves it: a busy executor whose end the test chooses.
executor_actor gated_executor(caf::actor_system& sys, std::string name,
                              std::shared_ptr<fake_log> log) {
  struct held_job {
    caf::response_promise promise;
    std::string model;
  };
  auto held = std::make_shared<std::optional<held_job>>();
  auto impl = [=](caf::event_based_actor* self) -> caf::behavior {
    return caf::message_handler{
        [=](run_atom, const infer_job& job) -> caf::result<infer_outcome> {
          *held = held_job{self->make_response_promise(), job.model};
          return (*held)->promise;
        },
        [=](tick_atom) {
          if (!*held)
            return;
          log->ran.push_back(name + ":" + (*held)->model);
          infer_outcome out;
          out.model = (*held)->model;
          out.executor = name;
          (*held)->promise.deliver(std::move(out));
          held->reset();
        },
    }
        .or_else(rest_of_executor(name));
  };
  return caf::actor_cast<executor_actor>(sys.spawn(impl));
}

} // namespace

TEST_SUITE("scheduler") {
  TEST_CASE("reuse-aware ordering meets more deadlines than FIFO on a crafted queue") {
    auto met_with = [](queue_order order) {
      rig r;
      auto dev = std::make_shared<virtual_device>();
      dev->held = "A"; // the device starts with A resident
      auto e = r.sys->spawn(virtual_executor, dev, r.log);
      scheduler_options opts;
      opts.order = order;
      auto s = spawn_scheduler(*r.sys, {e}, {}, opts);
      // A runs first; then B, A, B, A queue behind it with these virtual deadlines.
      std::vector<std::pair<std::string, double>> plan{
        {"A", 60}, {"B", 100}, {"A", 30}, {"B", 110}, {"A", 40}};
      std::vector<infer_job> jobs;
      for (size_t i = 0; i < plan.size(); ++i) {
        auto j = job(plan[i].first);
        j.ticket = i + 1;
        dev->deadline_ms[j.ticket] = plan[i].second;
        jobs.push_back(j);
      }
      r.submit(s, jobs);
      r.sched->run();
      CHECK(r.replies->size() == plan.size());
      return dev->met;
    };
    auto fifo = met_with(queue_order::fifo);
    auto reuse = met_with(queue_order::reuse_aware);
    CHECK(fifo == 2);  // A, B; then every switch costs a load and misses
    CHECK(reuse == 5); // A, A, A, then B, B: one switch
    CHECK(reuse > fifo);
  }

  TEST_CASE("queued jobs of one model run as one batch, and each gets its own rows") {
    rig r;
    auto seen_rows = std::make_shared<std::vector<int64_t>>();
    auto e = r.sys->spawn([seen_rows](executor_actor::pointer) -> executor_actor::behavior_type {
      return {
          [=](run_atom, const infer_job& j) -> caf::result<infer_outcome> {
            seen_rows->push_back(j.inputs[0].spec.shape[0]);
            infer_outcome out;
            out.model = j.model;
            out.names = {"y"};
            out.tensors = {j.inputs[0]}; // echo: each row comes back to its owner
            return out;
          },
          [=](load_atom, const std::string& m, uint32_t) -> caf::result<load_outcome> {
            return load_outcome{m, 1, 0, 0};
          },
          [=](unload_atom, const std::string&, uint32_t) -> caf::result<bool> { return true; },
          [=](status_atom) -> caf::result<executor_state> { return executor_state{}; },
          [=](pressure_atom, pressure_level) {},
          [=](catalog_atom, const catalog_ptr&) {},
      };
    });
    scheduler_options opts;
    opts.max_batch_rows = 4;
    auto s = spawn_scheduler(*r.sys, {e}, {}, opts);
    std::vector<infer_job> jobs;
    for (int i = 0; i < 5; ++i) {
      auto j = job("M");
      j.inputs = {random_tensor({dtype::float32, {1, 3}}, 100 + i)};
      jobs.push_back(j);
    }
    auto got = std::make_shared<std::vector<uint64_t>>();
    auto client_jobs = jobs;
    r.sys->spawn([s, client_jobs, got](caf::event_based_actor* self) {
      for (const auto& j : client_jobs)
        self->request(s, caf::infinite, run_atom::value, j)
          .then([got](const infer_outcome& out) { got->push_back(checksum(out.tensors.at(0))); },
                [](const caf::error&) {});
    });
    r.sched->run();
    // The first runs alone (the executor was idle); the other four share one batch.
    CHECK(*seen_rows == std::vector<int64_t>{1, 4});
    REQUIRE(got->size() == 5);
    std::vector<uint64_t> expected;
    for (const auto& j : jobs)
      expected.push_back(checksum(j.inputs[0]));
    std::sort(got->begin(), got->end());
    std::sort(expected.begin(), expected.end());
    CHECK(*got == expected);
  }

  TEST_CASE("an idle executor takes the queued job whose model it already holds first") {
    rig r;
    auto e = r.executor("e0");
    auto s = spawn_scheduler(*r.sys, {e});
    // B runs at once; while it runs, A, B, A, B queue. The executor then holds B.
    r.submit(s, {job("B"), job("A"), job("B"), job("A"), job("B")});
    r.sched->run();
    REQUIRE(r.log->ran.size() == 5);
    CHECK(r.log->ran == std::vector<std::string>{"e0:B", "e0:B", "e0:B", "e0:A", "e0:A"});
    CHECK(r.replies->size() == 5);
  }

  TEST_CASE("a job past its deadline is answered without reaching an executor") {
    rig r;
    auto e = r.executor("e0");
    auto s = spawn_scheduler(*r.sys, {e});
    auto past = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    r.submit(s, {job("A", past), job("B")});
    r.sched->run();
    CHECK(r.log->ran == std::vector<std::string>{"e0:B"});
    REQUIRE(r.replies->size() == 2);
    CHECK(std::count(r.replies->begin(), r.replies->end(), "error:deadline_exceeded") == 1);
  }

  TEST_CASE("a job whose executor is gone runs on another; a down executor gets no work") {
    rig r;
    auto gone = r.executor("gone", true);
    auto alive = r.executor("alive");
    auto s = spawn_scheduler(*r.sys, {gone, alive});
    r.submit(s, {job("A"), job("A"), job("A")});
    r.sched->run();
    CHECK(r.log->ran.size() == 3);
    for (const auto& x : *r.replies)
      CHECK(x == "alive:A");
    // Marked down explicitly (as the bridge does), an executor is skipped.
    rig r2;
    auto a = r2.executor("a");
    auto b = r2.executor("b");
    auto s2 = spawn_scheduler(*r2.sys, {a, b});
    caf::anon_send(s2, peer_atom::value, uint32_t{0}, false);
    r2.sched->run();
    r2.submit(s2, {job("X"), job("Y")});
    r2.sched->run();
    CHECK(r2.log->ran == std::vector<std::string>{"b:X", "b:Y"});
  }

  TEST_CASE("an executor that fails a job as unavailable is held off, then given work again") {
    rig r;
    auto flaky = flaky_executor(*r.sys, "flaky", r.log, true);
    auto steady = r.executor("steady");
    auto s = spawn_scheduler(*r.sys, {flaky, steady});
    r.submit(s, {job("X")});
    r.sched->run();
    SUBCASE("while the bridge calls it up") {
      // X failed on flaky and ran on steady; flaky is held off, so Y and Z
      // both wait for steady even while flaky is idle.
      r.submit(s, {job("Y"), job("Z")});
      r.sched->run();
      CHECK(r.log->ran == std::vector<std::string>{"steady:X", "steady:Y", "steady:Z"});
      // The bridge never said flaky was down: once the hold-off is over it takes work.
      r.sched->trigger_timeouts();
      r.sched->run();
      r.submit(s, {job("V"), job("W")});
      r.sched->run();
      CHECK(r.log->ran ==
            std::vector<std::string>{"steady:X", "steady:Y", "steady:Z", "flaky:V", "steady:W"});
      CHECK(r.replies->size() == 5);
    }
    SUBCASE("but not once the bridge has reported it down") {
      caf::anon_send(s, peer_atom::value, uint32_t{0}, false);
      r.sched->run();
      r.sched->trigger_timeouts();
      r.sched->run();
      r.submit(s, {job("Y"), job("Z")});
      r.sched->run();
      CHECK(r.log->ran == std::vector<std::string>{"steady:X", "steady:Y", "steady:Z"});
    }
  }

  TEST_CASE("a failure from before the bridge's last word does not take the executor down") {
    rig r;
    auto peer = flaky_executor(*r.sys, "peer", r.log, false);
    auto s = spawn_scheduler(*r.sys, {peer});
    r.submit(s, {job("X")});
    r.sched->run();
    // The bridge saw the peer go down and come back while X was out; X's
    // failure arrives after that.
    caf::anon_send(s, peer_atom::value, uint32_t{0}, false);
    caf::anon_send(s, peer_atom::value, uint32_t{0}, true);
    r.sched->run();
    caf::anon_send(caf::actor_cast<caf::actor>(peer), tick_atom::value);
    r.sched->run();
    CHECK(*r.replies == std::vector<std::string>{"error:unavailable"});
    // The peer is up, as the bridge last said: the next job runs there at once.
    r.submit(s, {job("Y")});
    r.sched->run();
    CHECK(r.log->ran == std::vector<std::string>{"peer:Y"});
    CHECK(*r.replies == std::vector<std::string>{"error:unavailable", "peer:Y"});
  }

  TEST_CASE("a job that failed on a corrupt copy runs once more on another idle executor") {
    // An executor whose store holds a corrupt copy of the model's blob.
    auto corrupt = [](executor_actor::pointer, std::string name,
                      std::shared_ptr<fake_log> log) -> executor_actor::behavior_type {
      return {
          [=](run_atom, const infer_job& job) -> caf::result<infer_outcome> {
            log->ran.push_back(name + ":" + job.model);
            return make_error(ec::corrupt_blob,
                              name + ": blob 1234 of \"" + job.model + "\" is corrupt");
          },
          [=](load_atom, const std::string& model, uint32_t) -> caf::result<load_outcome> {
            return load_outcome{model, 1, 0, 0};
          },
          [=](unload_atom, const std::string&, uint32_t) -> caf::result<bool> { return true; },
          [=](status_atom) -> caf::result<executor_state> { return idle_state(name); },
          [=](pressure_atom, pressure_level) {},
          [=](catalog_atom, const catalog_ptr&) {},
      };
    };
    SUBCASE("another executor has a good copy: the job is served") {
      rig r;
      auto bad = r.sys->spawn(corrupt, "bad", r.log);
      auto s = spawn_scheduler(*r.sys, {bad, r.executor("good")});
      r.submit(s, {job("X")});
      r.sched->run();
      CHECK(r.log->ran == std::vector<std::string>{"bad:X", "good:X"});
      CHECK(*r.replies == std::vector<std::string>{"good:X"});
    }
    // "good" (gated: busy until ticked) at index 0, "bad" and then `siblings`
    // with corrupt copies; jobs go, in order, to the first idle executor.
    struct busy_rig : rig {
      executor_actor good;
      scheduler_actor s;
      void tick() {
        caf::anon_send(caf::actor_cast<caf::actor>(good), tick_atom::value);
        sched->run();
      }
    };
    auto start = [&](busy_rig& r, std::vector<uint32_t> nodes, std::vector<std::string> siblings) {
      r.good = gated_executor(*r.sys, "good", r.log);
      std::vector<executor_actor> all{r.good, r.sys->spawn(corrupt, "bad", r.log)};
      for (const auto& name : siblings)
        all.push_back(r.sys->spawn(corrupt, name, r.log));
      scheduler_options opts;
      opts.order = queue_order::fifo;
      opts.placement.mode = placement_mode::any_idle;
      opts.placement.nodes = std::move(nodes);
      r.s = spawn_scheduler(*r.sys, all, {}, opts);
      // Y holds "good" until its tick; X fails on "bad" meanwhile.
      r.submit(r.s, {job("Y"), job("X")});
      r.sched->run();
      CHECK(r.log->ran == std::vector<std::string>{"bad:X"});
      CHECK(r.replies->empty());
    };
    SUBCASE("the executor with a good copy is busy: the job waits for it") {
      busy_rig r;
      start(r, {}, {});
      // Y ends; X runs on "good" and ends at the next tick.
      r.tick();
      r.tick();
      CHECK(r.log->ran == std::vector<std::string>{"bad:X", "good:Y", "good:X"});
      CHECK(*r.replies == std::vector<std::string>{"good:Y", "good:X"});
    }
    SUBCASE("another node's executor is preferred to an idle one of the same node") {
      busy_rig r;
      start(r, {1, 0, 0}, {"sibling"}); // "bad" and "sibling" read one store
      r.tick();
      r.tick();
      CHECK(r.log->ran == std::vector<std::string>{"bad:X", "good:Y", "good:X"});
      CHECK(*r.replies == std::vector<std::string>{"good:Y", "good:X"});
    }
    SUBCASE("the executor with a good copy goes down meanwhile: the first error") {
      busy_rig r;
      start(r, {}, {});
      caf::anon_send(r.s, peer_atom::value, uint32_t{0}, false);
      r.sched->run();
      CHECK(*r.replies == std::vector<std::string>{"error:corrupt_blob"});
      r.tick();
    }
    SUBCASE("every copy is corrupt: one retry, then the error") {
      rig r;
      auto s = spawn_scheduler(
          *r.sys, {r.sys->spawn(corrupt, "a", r.log), r.sys->spawn(corrupt, "b", r.log)});
      r.submit(s, {job("X")});
      r.sched->run();
      CHECK(r.log->ran.size() == 2);
      CHECK(*r.replies == std::vector<std::string>{"error:corrupt_blob"});
    }
  }

  TEST_CASE("when every executor turns out to be gone, every job is still answered") {
    rig r;
    auto a = r.executor("a", true);
    auto b = r.executor("b", true);
    auto s = spawn_scheduler(*r.sys, {a, b});
    r.submit(s, {job("X"), job("Y"), job("Z")});
    r.sched->run();
    REQUIRE(r.replies->size() == 3);
    for (const auto& x : *r.replies)
      CHECK(x == "error:unavailable");
  }

  TEST_CASE("with no executor up, a job waits for one within wait_for_executor, then is refused") {
    auto start = [](rig& r, std::chrono::milliseconds wait) {
      auto now = std::make_shared<steady_time>(std::chrono::steady_clock::now());
      scheduler_options opts;
      opts.clock = [now] { return *now; };
      opts.wait_for_executor = wait;
      auto s = spawn_scheduler(*r.sys, {r.executor("a")}, {false}, opts);
      r.submit(s, {job("X")});
      r.sched->run();
      return std::make_pair(s, now);
    };
    SUBCASE("the executor comes up (a coordinator's first peer answers): the job runs") {
      rig r;
      auto [s, now] = start(r, std::chrono::milliseconds(5000));
      CHECK(r.replies->empty()); // waiting, not refused
      caf::anon_send(s, peer_atom::value, uint32_t{0}, true);
      r.sched->run();
      CHECK(*r.replies == std::vector<std::string>{"a:X"});
    }
    SUBCASE("none comes up in time: unavailable") {
      rig r;
      auto [s, now] = start(r, std::chrono::milliseconds(5000));
      CHECK(r.replies->empty());
      *now += std::chrono::milliseconds(5001);
      r.sched->trigger_timeouts();
      r.sched->run();
      CHECK(r.log->ran.empty());
      CHECK(*r.replies == std::vector<std::string>{"error:unavailable"});
    }
    SUBCASE("no wait: refused at once") {
      rig r;
      auto [s, now] = start(r, std::chrono::milliseconds(0));
      CHECK(r.log->ran.empty());
      CHECK(*r.replies == std::vector<std::string>{"error:unavailable"});
    }
  }
}

// Metrics: the exposition builder on its own (format rules a Prometheus parser
// relies on), then a real node: /metrics, /healthz and /readyz over HTTP, two
// scrapes parsed by Python's prometheus_client (Debian's python3-prometheus-
// client, which deploy/setup.sh installs), and the counters that must have
// moved between them as requests were served.
#include "node_fixture.hpp"
#include "scratch_dir.hpp"
#include "tessera/actors/metrics_text.hpp"
#include "why.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

using namespace tessera;
using namespace tessera::actors;
using namespace tessera::test;
using namespace tessera::transport;

namespace {

// "name{labels}" -> value, for every sample line of an exposition.
std::map<std::string, double> samples_of(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    auto space = line.rfind(' ');
    out[line.substr(0, space)] =
        line.substr(space + 1) == "+Inf" ? INFINITY : std::stod(line.substr(space + 1));
  }
  return out;
}

std::string scrape(int port, const std::string& path, int* status = nullptr) {
  httplib::Client http{"127.0.0.1", port};
  auto res = http.Get(path.c_str());
  REQUIRE(res);
  if (status != nullptr)
    *status = res->status;
  return res->body;
}

} // namespace

TEST_SUITE("metrics") {
  TEST_CASE("the exposition: HELP and TYPE first, cumulative buckets, escaped labels") {
    node_metrics_input in;
    in.node_name = "box \"1\"\\a";
    latency_histogram h;
    for (double ms : {0.2, 3.0, 3.0, 40.0, 99999.0})
      h.observe(ms);
    in.requests.answered[{"infer", "resnet18", "ok"}] = 4;
    in.requests.answered[{"infer", "resnet18", "deadline_exceeded"}] = 1;
    in.requests.latency[{"infer", "resnet18", "ok"}] = h;
    in.requests.deadline_missed = 1;
    in.residency.device.budget_bytes = 1000;
    in.residency.device.used_bytes = 600;
    in.residency.pressure = pressure_level::high;
    in.peers.push_back({"tcp://10.0.0.2:5555", true, 7, 1});
    in.peers.push_back({"tcp://10.0.0.3:5555", false, 0, 0});
    in.residency.counters.evictions = 5;
    in.residency.counters.evictions_dropped = 2;
    in.queued = 4;
    executor_state local;
    local.name = "box/cpu/0";
    local.loaded = {"resnet18:1", "vgg:1"};
    local.served = 9;
    local.swaps_out = 3;
    local.swaps_out_pressure = 1;
    local.loads.loaded = 2;
    local.loads.held = 7;
    local.loads.shared_bytes = 100;
    local.loads.read_bytes = 300;
    local.loads.duration.observe(30.0);
    local.loads.duration.observe(700.0);
    executor_state peer;
    peer.name = "tcp://10.0.0.2:5555";
    peer.loaded = {"vgg:1"};
    peer.served = 4;
    peer.remote = true;
    in.executors = std::vector<executor_state>{local, peer};
    in.units = {{"resnet18:1", {model_state::ready, ""}},
                {"vit-tiny:1", {model_state::failed, "box/cpu/0: corrupt_blob: ..."}}};
    auto families = collect_node_metrics(in);
    auto text = render_exposition(families);
    // Every family is named tessera_*, declared before its samples, and counters end in _total.
    for (const auto& f : families) {
      CHECK(f.name.rfind("tessera_", 0) == 0);
      if (f.type == "counter")
        CHECK(f.name.size() > 6);
      if (f.type == "counter")
        CHECK(f.name.substr(f.name.size() - 6) == "_total");
      auto type_at = text.find("# TYPE " + f.name + " " + f.type + "\n");
      REQUIRE(type_at != std::string::npos);
      if (!f.samples.empty())
        CHECK(text.find("\n" + f.name + f.samples.front().suffix) > type_at);
    }
    auto s = samples_of(text);
    CHECK(s.at(R"(tessera_node_info{node="box \"1\"\\a"})") == 1);
    CHECK(s.at(R"(tessera_requests_total{operation="infer",model="resnet18",code="ok"})") == 4);
    // Buckets are cumulative, in seconds, and +Inf equals the count.
    CHECK(
        s.at(
            R"(tessera_request_duration_seconds_bucket{operation="infer",model="resnet18",code="ok",le="0.0005"})") ==
        1);
    CHECK(
        s.at(
            R"(tessera_request_duration_seconds_bucket{operation="infer",model="resnet18",code="ok",le="0.005"})") ==
        3);
    CHECK(
        s.at(
            R"(tessera_request_duration_seconds_bucket{operation="infer",model="resnet18",code="ok",le="10"})") ==
        4);
    CHECK(
        s.at(
            R"(tessera_request_duration_seconds_bucket{operation="infer",model="resnet18",code="ok",le="+Inf"})") ==
        5);
    CHECK(
        s.at(
            R"(tessera_request_duration_seconds_count{operation="infer",model="resnet18",code="ok"})") ==
        5);
    CHECK(
        s.at(
            R"(tessera_request_duration_seconds_sum{operation="infer",model="resnet18",code="ok"})") ==
        doctest::Approx(100.0462));
    CHECK(s.at(R"(tessera_deadlines_total{outcome="missed"})") == 1);
    CHECK(s.at(R"(tessera_device_bytes{state="used"})") == 600);
    CHECK(s.at(R"(tessera_memory_pressure_level{level="high"})") == 2);
    CHECK(s.at(R"(tessera_peer_up{peer="tcp://10.0.0.3:5555"})") == 0);
    CHECK(s.at(R"(tessera_peer_requests_total{peer="tcp://10.0.0.2:5555",outcome="failed"})") == 1);
    CHECK(s.at(R"(tessera_executor_loaded_models{executor="box/cpu/0"})") == 2);
    CHECK(s.at(R"(tessera_executor_swaps_total{executor="box/cpu/0",reason="memory_pressure"})") ==
          1);
    CHECK(s.at(R"(tessera_executor_swaps_total{executor="box/cpu/0",reason="load"})") == 2);
    CHECK(s.at(R"(tessera_evictions_total{reason="load"})") == 3);
    CHECK(s.at(R"(tessera_evictions_total{reason="drop_cached"})") == 2);
    CHECK(s.at("tessera_scheduler_queued_jobs") == 4);
    CHECK(s.at(R"(tessera_model_state{unit="resnet18:1",state="ready"})") == 1);
    CHECK(s.at(R"(tessera_model_state{unit="resnet18:1",state="loading"})") == 0);
    CHECK(s.at(R"(tessera_model_state{unit="vit-tiny:1",state="failed"})") == 1);
    CHECK(s.at(R"(tessera_model_state{unit="vit-tiny:1",state="ready"})") == 0);
    CHECK(s.at(R"(tessera_executor_model_lookups_total{executor="box/cpu/0",result="hit"})") == 7);
    CHECK(s.at(R"(tessera_executor_model_lookups_total{executor="box/cpu/0",result="miss"})") == 2);
    CHECK(s.at(R"(tessera_model_load_bytes_total{executor="box/cpu/0",sharing="shared"})") == 100);
    CHECK(s.at(R"(tessera_model_load_bytes_total{executor="box/cpu/0",sharing="unshared"})") ==
          300);
    CHECK(s.at(R"(tessera_model_load_duration_seconds_bucket{executor="box/cpu/0",le="0.05"})") ==
          1);
    CHECK(s.at(R"(tessera_model_load_duration_seconds_count{executor="box/cpu/0"})") == 2);
    // A peer's executor: its models and the jobs sent to it, but its loads and
    // swaps are counted on the peer.
    CHECK(s.at(R"(tessera_executor_served_total{executor="tcp://10.0.0.2:5555"})") == 4);
    CHECK(s.count(R"(tessera_model_load_duration_seconds_count{executor="tcp://10.0.0.2:5555"})") ==
          0);
    CHECK(
        s.count(R"(tessera_executor_swaps_total{executor="tcp://10.0.0.2:5555",reason="load"})") ==
        0);
    // Without the scheduler's answer, its families are left out, not zeroed.
    in.executors.reset();
    in.queued.reset();
    auto without = render_exposition(collect_node_metrics(in));
    CHECK(without.find("tessera_executor_") == std::string::npos);
    CHECK(without.find("tessera_scheduler_queued_jobs") == std::string::npos);
  }

  TEST_CASE("request metrics cap the model labels") {
    request_metrics m;
    for (size_t i = 0; i < request_metrics::max_models + 10; ++i)
      m.record("infer", "model" + std::to_string(i), "unknown_model", 1.0);
    auto snap = m.snapshot();
    CHECK(snap.answered.size() == request_metrics::max_models + 1);
    CHECK(snap.answered.at({"infer", "other", "unknown_model"}) == 10);
  }

  TEST_CASE("a node serves /metrics, /healthz and /readyz, and its counters move") {
    // A zoo of its own: other suites define fused groups in the shared one,
    // which would change what loads (a group loads as one unit).
    auto zoo = small_zoo::build(0.25);
    auto cfg = node_config_for(zoo);
    cfg.metrics_listen = "127.0.0.1:0";
    auto n = start_node(cfg);
    REQUIRE(n->metrics() != nullptr);
    auto port = n->metrics()->port();
    int status = 0;
    CHECK(scrape(port, "/healthz", &status) == "ok\n");
    CHECK(status == 200);
    scrape(port, "/readyz", &status);
    CHECK(status == 200);
    auto before = scrape(port, "/metrics");
    CHECK(samples_of(before).count(
              R"(tessera_requests_total{operation="infer",model="resnet18",code="ok"})") == 0);

    // Three requests for resnet18 (one load, then two hits; one with a
    // deadline it meets), one for resnet-cars (a load that shares resnet18's
    // backbone) and one for a model that does not exist.
    const auto& r18 = zoo.manifest("resnet18");
    const auto& cars = zoo.manifest("resnet-cars");
    zmq::context_t ctx{1};
    auto cl = client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    for (int i = 0; i < 3; ++i) {
      auto req = infer_for(r18, 1, i);
      if (i == 2)
        req.deadline_ms = 60000;
      auto r = cl->call({"", req}, reply_timeout);
      REQUIRE_MESSAGE(r, test::why(r));
    }
    auto rc = cl->call({"", infer_for(cars, 1, 7)}, reply_timeout);
    REQUIRE_MESSAGE(rc, test::why(rc));
    auto unknown = infer_for(r18, 1, 9);
    unknown.model_name = "no-such-model";
    CHECK_FALSE(cl->call({"", unknown}, reply_timeout));
    auto after = scrape(port, "/metrics");
    // What `tessera top` shows of the node: its queue, and each executor with
    // its resident models and the jobs it served.
    auto st = cl->call_as<server_status_response>({"", server_status_request{}}, reply_timeout);
    REQUIRE_MESSAGE(st, test::why(st));
    CHECK(st->requests_queued == 0);
    REQUIRE(st->executors.size() == 1);
    CHECK(st->executors[0].name == "test-node/cpu/0");
    CHECK(st->executors[0].served == 4);
    CHECK(st->executors[0].models == std::vector<std::string>{"resnet-cars:1", "resnet18:1"});

    const uint64_t shared = shared_bytes(r18, cars);
    REQUIRE(shared > 0);
    const uint64_t unshared = parameter_bytes(r18) + parameter_bytes(cars) - shared;
    const std::string exec = "test-node/cpu/0";
    using labels = std::map<std::string, std::string>;
    auto expect = nlohmann::json::array();
    auto want = [&](const std::string& sample, const labels& l, const std::string& op, double v) {
      expect.push_back({{"sample", sample}, {"labels", l}, {"op", op}, {"value", v}});
    };
    want("tessera_requests_total", {{"operation", "infer"}, {"model", "resnet18"}, {"code", "ok"}},
         "delta", 3);
    want("tessera_requests_total",
         {{"operation", "infer"}, {"model", "resnet-cars"}, {"code", "ok"}}, "delta", 1);
    want("tessera_requests_total",
         {{"operation", "infer"}, {"model", "no-such-model"}, {"code", "unknown_model"}}, "delta",
         1);
    want("tessera_requests_received_total", {}, "delta", 5);
    want("tessera_request_duration_seconds_count",
         {{"operation", "infer"}, {"model", "resnet18"}, {"code", "ok"}}, "delta", 3);
    want("tessera_infer_stage_seconds_count", {{"stage", "queue"}, {"model", "resnet18"}}, "delta",
         3);
    want("tessera_infer_stage_seconds_count", {{"stage", "load"}, {"model", "resnet-cars"}},
         "delta", 1);
    want("tessera_deadlines_total", {{"outcome", "met"}}, "delta", 1);
    want("tessera_deadlines_total", {{"outcome", "missed"}}, "delta", 0);
    want("tessera_executor_served_total", {{"executor", exec}}, "delta", 4);
    want("tessera_executor_model_lookups_total", {{"executor", exec}, {"result", "hit"}}, "delta",
         2);
    want("tessera_executor_model_lookups_total", {{"executor", exec}, {"result", "miss"}}, "delta",
         2);
    want("tessera_model_load_duration_seconds_count", {{"executor", exec}}, "delta", 2);
    want("tessera_model_load_duration_seconds_bucket", {{"executor", exec}, {"le", "+Inf"}},
         "delta", 2);
    want("tessera_model_load_bytes_total", {{"executor", exec}, {"sharing", "shared"}}, "delta",
         static_cast<double>(shared));
    want("tessera_model_load_bytes_total", {{"executor", exec}, {"sharing", "unshared"}}, "delta",
         static_cast<double>(unshared));
    want("tessera_loads_total", {{"outcome", "granted"}}, "delta", 2);
    want("tessera_blob_lookups_total", {{"tier", "device"}, {"result", "hit"}}, ">=", 1);
    want("tessera_store_read_bytes_total", {}, ">=", static_cast<double>(unshared));
    want("tessera_device_bytes", {{"state", "referenced"}}, "==", static_cast<double>(unshared));
    want("tessera_evictions_total", {{"reason", "load"}}, "delta", 0);
    want("tessera_executor_swaps_total", {{"executor", exec}, {"reason", "memory_pressure"}},
         "delta", 0);
    want("tessera_memory_pressure_level", {{"level", "normal"}}, "==", 0);
    want("tessera_scheduler_queued_jobs", {}, "==", 0);
    want("tessera_store_bytes", {}, ">=", static_cast<double>(unshared));

    // Debian's python3 (another python3 on PATH may lack Debian's packages).
    std::string python;
    for (std::string p : {"/usr/bin/python3", "python3"})
      if (std::system((p + " -c 'import prometheus_client' >/dev/null 2>&1").c_str()) == 0) {
        python = p;
        break;
      }
    REQUIRE_MESSAGE(!python.empty(),
                    "python3-prometheus-client is not installed (deploy/setup.sh installs it)");
    scratch_dir dir{"metrics"};
    std::ofstream{dir.path() + "/before.txt"} << before;
    std::ofstream{dir.path() + "/after.txt"} << after;
    std::ofstream{dir.path() + "/expect.json"} << expect.dump();
    auto command = python + " " + TESSERA_SOURCE_DIR + "/tests/actors/check_metrics.py " +
                   dir.path() + "/before.txt " + dir.path() + "/after.txt " + dir.path() +
                   "/expect.json 2>&1";
    std::string out;
    int rc_python = -1;
    if (FILE* p = ::popen(command.c_str(), "r")) {
      char buf[512];
      while (std::fgets(buf, sizeof buf, p) != nullptr)
        out += buf;
      rc_python = ::pclose(p);
    }
    CHECK_MESSAGE(rc_python == 0, out);
    CHECK(out.find(std::to_string(expect.size()) + " expectations, 0 problem(s)") !=
          std::string::npos);
  }

  TEST_CASE("under a budget that holds one model at a time, swaps and evictions count") {
    auto zoo = small_zoo::build(0.25);
    const auto& a = zoo.manifest("resnet18");
    const auto& b = zoo.manifest("mobilenetv2");
    REQUIRE(shared_bytes(a, b) == 0);
    auto cfg = node_config_for(zoo);
    cfg.metrics_listen = "127.0.0.1:0";
    // Room for either model, never for both.
    auto big = std::max(parameter_bytes(a), parameter_bytes(b));
    auto small = std::min(parameter_bytes(a), parameter_bytes(b));
    cfg.device_budget_bytes = big + small / 2;
    auto n = start_node(cfg);
    auto port = n->metrics()->port();
    zmq::context_t ctx{1};
    auto cl = client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    for (int i = 0; i < 4; ++i) {
      auto r = cl->call({"", infer_for(i % 2 == 0 ? a : b, 1, i)}, reply_timeout);
      REQUIRE_MESSAGE(r, test::why(r));
    }
    auto s = samples_of(scrape(port, "/metrics"));
    const std::string exec = R"(executor="test-node/cpu/0")";
    // Each model arrives when the other is held or was just swapped out, so all
    // four are loads, and each of the last three needed a swap (for the load, or
    // under the memory pressure the first load caused) and evictions.
    CHECK(s.at("tessera_model_load_duration_seconds_count{" + exec + "}") == 4);
    CHECK(s.at("tessera_executor_model_lookups_total{" + exec + R"(,result="hit"})") == 0);
    auto swaps = s.at("tessera_executor_swaps_total{" + exec + R"(,reason="load"})") +
                 s.at("tessera_executor_swaps_total{" + exec + R"(,reason="memory_pressure"})");
    CHECK(swaps >= 3);
    auto evictions = s.at(R"(tessera_evictions_total{reason="load"})") +
                     s.at(R"(tessera_evictions_total{reason="drop_cached"})");
    CHECK(evictions >= 1);
    CHECK(s.at("tessera_evicted_bytes_total") > 0);
    CHECK(s.at(R"(tessera_device_bytes{state="used"})") <=
          static_cast<double>(cfg.device_budget_bytes));
  }
  TEST_CASE(
      "a host memory budget trims what unloaded models left, and status and /metrics show it") {
    auto zoo = small_zoo::build(0.25);
    const auto& a = zoo.manifest("resnet18");
    const auto& b = zoo.manifest("vit-tiny");
    // Copy mode keeps three of the four parts: mapped files, kept device
    // memory and kept blocks.
    auto kept_after_unload = [&](uint64_t budget) {
      auto cfg = node_config_for(zoo);
      cfg.mode = load_mode::copy;
      cfg.metrics_listen = "127.0.0.1:0";
      cfg.host_memory_budget = budget;
      auto n = start_node(cfg);
      zmq::context_t ctx{1};
      auto cl = client::connect(ctx, n->endpoint());
      REQUIRE(cl);
      for (const auto* m : {&a, &b}) {
        auto r = cl->call({"", infer_for(*m, 1, 7)}, reply_timeout);
        REQUIRE_MESSAGE(r, test::why(r));
        auto u = cl->call({"", model_unload_request{m->name, {}}}, reply_timeout);
        REQUIRE_MESSAGE(u, test::why(u));
      }
      // The keeper looks every half second.
      std::optional<host_memory_entry> seen;
      for (int i = 0; i < 50; ++i) {
        auto st = cl->call_as<server_status_response>({"", server_status_request{}}, reply_timeout);
        REQUIRE_MESSAGE(st, test::why(st));
        REQUIRE(st->host_memory);
        seen = st->host_memory;
        if (budget == 0 || (seen->total_bytes <= budget && seen->trimmed_bytes > 0))
          break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      auto s = samples_of(scrape(n->metrics()->port(), "/metrics"));
      CHECK(s.at("tessera_host_memory_budget_bytes") == static_cast<double>(budget));
      double parts = 0;
      for (const char* part : {"mapped_files", "kept_device", "kept_blocks", "request_buffers"})
        parts += s.at(std::string{R"(tessera_host_memory_bytes{part=")"} + part + "\"}");
      CHECK(parts == static_cast<double>(seen->total_bytes));
      return *seen;
    };
    SUBCASE("without a budget, the unloaded models' blocks and files stay kept") {
      auto kept = kept_after_unload(0);
      CHECK(kept.budget_bytes == 0);
      CHECK(kept.kept_blocks_bytes == parameter_bytes(a) + parameter_bytes(b));
      CHECK(kept.mapped_files_bytes > 0);
      CHECK(kept.trimmed_bytes == 0);
    }
    SUBCASE("with one, what is kept comes down within it") {
      uint64_t budget = parameter_bytes(a) / 2;
      auto kept = kept_after_unload(budget);
      CHECK(kept.budget_bytes == budget);
      CHECK(kept.total_bytes <= budget);
      CHECK(kept.mapped_files_bytes == 0);
      CHECK(kept.trimmed_bytes > 0);
    }
  }
}

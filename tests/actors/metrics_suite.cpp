// Metrics: the exposition builder on its own (format rules a Prometheus parser
// relies on), then a real node: /metrics, /healthz and /readyz over HTTP, with
// counters that move as requests are served, parsed by Python's
// prometheus_client where it is installed.
#include "node_fixture.hpp"
#include "scratch_dir.hpp"
#include "tessera/actors/metrics_text.hpp"

#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

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
    in.requests.latency[{"infer", "resnet18"}] = h;
    in.requests.deadline_missed = 1;
    in.residency.device.budget_bytes = 1000;
    in.residency.device.used_bytes = 600;
    in.residency.pressure = pressure_level::high;
    in.peers.push_back({"tcp://10.0.0.2:5555", true, 7, 1});
    in.peers.push_back({"tcp://10.0.0.3:5555", false, 0, 0});
    in.executors = std::vector<executor_state>{{"box/cpu/0", {"resnet18:1", "vgg:1"}, 9, 2}};
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
            R"(tessera_request_duration_seconds_bucket{operation="infer",model="resnet18",le="0.0005"})") ==
        1);
    CHECK(
        s.at(
            R"(tessera_request_duration_seconds_bucket{operation="infer",model="resnet18",le="0.005"})") ==
        3);
    CHECK(
        s.at(
            R"(tessera_request_duration_seconds_bucket{operation="infer",model="resnet18",le="10"})") ==
        4);
    CHECK(
        s.at(
            R"(tessera_request_duration_seconds_bucket{operation="infer",model="resnet18",le="+Inf"})") ==
        5);
    CHECK(s.at(R"(tessera_request_duration_seconds_count{operation="infer",model="resnet18"})") ==
          5);
    CHECK(s.at(R"(tessera_request_duration_seconds_sum{operation="infer",model="resnet18"})") ==
          doctest::Approx(100.0462));
    CHECK(s.at(R"(tessera_deadlines_total{outcome="missed"})") == 1);
    CHECK(s.at(R"(tessera_device_bytes{state="used"})") == 600);
    CHECK(s.at(R"(tessera_memory_pressure_level{level="high"})") == 2);
    CHECK(s.at(R"(tessera_peer_up{peer="tcp://10.0.0.3:5555"})") == 0);
    CHECK(s.at(R"(tessera_peer_requests_total{peer="tcp://10.0.0.2:5555",outcome="failed"})") == 1);
    CHECK(s.at(R"(tessera_executor_loaded_models{executor="box/cpu/0"})") == 2);
    CHECK(s.at(R"(tessera_executor_swaps_total{executor="box/cpu/0",reason="memory_pressure"})") ==
          2);
    // Without the scheduler's answer, the executor families are left out, not zeroed.
    in.executors.reset();
    CHECK(render_exposition(collect_node_metrics(in)).find("tessera_executor_") ==
          std::string::npos);
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
    const auto& zoo = small_zoo::get();
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
    const auto& m = zoo.manifest("resnet18");
    const std::string ok_key =
        R"(tessera_requests_total{operation="infer",model="resnet18",code="ok"})";
    auto before = samples_of(scrape(port, "/metrics"));
    CHECK(before.count(ok_key) == 0);
    zmq::context_t ctx{1};
    auto cl = client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    for (int i = 0; i < 3; ++i) {
      auto r = cl->call({"", infer_for(m, 1, i)}, reply_timeout);
      REQUIRE_MESSAGE(r, describe(r.error()));
    }
    auto unknown = infer_for(m, 1, 9);
    unknown.model_name = "no-such-model";
    auto bad = cl->call({"", unknown}, reply_timeout);
    CHECK_FALSE(bad);
    auto text = scrape(port, "/metrics");
    auto after = samples_of(text);
    CHECK(after.at(ok_key) == 3);
    CHECK(
        after.at(
            R"(tessera_requests_total{operation="infer",model="no-such-model",code="unknown_model"})") ==
        1);
    CHECK(
        after.at(R"(tessera_request_duration_seconds_count{operation="infer",model="resnet18"})") ==
        3);
    CHECK(after.at(R"(tessera_infer_stage_seconds_count{stage="load",model="resnet18"})") == 3);
    CHECK(after.at("tessera_requests_received_total") == 4);
    CHECK(after.at(R"(tessera_device_bytes{state="referenced"})") > 0);
    CHECK(after.at(R"(tessera_loads_total{outcome="granted"})") >= 1);
    CHECK(after.at(R"(tessera_executor_served_total{executor="test-node/cpu/0"})") == 3);

    // The same text through a real Prometheus parser, where Debian's package is installed.
    std::string python;
    for (std::string p : {"python3", "/usr/bin/python3"})
      if (std::system((p + " -c 'import prometheus_client' >/dev/null 2>&1").c_str()) == 0) {
        python = p;
        break;
      }
    if (python.empty()) {
      MESSAGE("prometheus_client parse skipped: python3-prometheus-client is not installed");
      return;
    }
    scratch_dir dir{"metrics"};
    auto path = dir.path() + "/metrics.txt";
    std::ofstream{path} << text;
    auto command = python +
                   " -c 'import sys\n"
                   "from prometheus_client.parser import text_string_to_metric_families as parse\n"
                   "fams = {f.name: f for f in parse(open(sys.argv[1]).read())}\n"
                   "ok = [s.value for s in fams[\"tessera_requests\"].samples if "
                   "s.labels.get(\"code\") == \"ok\"]\n"
                   "assert fams[\"tessera_request_duration_seconds\"].type == \"histogram\"\n"
                   "assert fams[\"tessera_requests\"].type == \"counter\"\n"
                   "print(int(sum(ok)))' " +
                   path;
    std::string out;
    if (FILE* p = ::popen(command.c_str(), "r")) {
      char buf[256];
      while (std::fgets(buf, sizeof buf, p) != nullptr)
        out += buf;
      CHECK(::pclose(p) == 0);
    }
    CHECK(out == "3\n");
  }
}

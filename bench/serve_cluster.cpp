#include "serve_cluster.hpp"
#include "tessera/core/run_program.hpp"

#include "bench_node.hpp"
#include "bench_report.hpp"

#include "tessera/core/error.hpp"

#include <caf/all.hpp>

#include "tessera/torch/torchscript_files.hpp"
#include "tessera/torch/whole_model_executor.hpp"
#include "tessera/transport/client.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tessera::bench {

namespace {

using clock_type = std::chrono::steady_clock;

node_config node_for(const cluster_spec& spec, const std::string& name) {
  node_config cfg;
  cfg.store_path = spec.store_path;
  cfg.listen = "tcp://127.0.0.1:*";
  cfg.node_name = name;
  cfg.log_level = "error"; // a line per request would cost the nodes more than the bench
  cfg.serving = spec.serving;
  cfg.device_budget_bytes = spec.budget_bytes;
  // Copy into device memory, as a GPU would need (in_place would view the
  // page cache for free, which no device but the CPU can do).
  cfg.mode = load_mode::copy;
  // Two workers on two cores: one intra-op thread each, so they do not
  // oversubscribe the cores.
  cfg.torch_threads = 1;
  return cfg;
}

} // namespace

uint64_t serve_cluster::max_device_bytes() const {
  uint64_t most = 0;
  for (const auto& w : workers)
    most = std::max(most, w->device_bytes_in_use());
  return most;
}

namespace {

// The sum over the workers' metrics of the series `series` (its name and
// the opening brace) whose labels contain `label` (empty: any).
double metric_sum(const std::vector<std::unique_ptr<actors::node>>& workers,
                  const std::string& series, const std::string& label) {
  double total = 0.0;
  for (const auto& w : workers) {
    std::istringstream text{w->metrics_text()};
    for (std::string line; std::getline(text, line);)
      if (line.rfind(series, 0) == 0 && line.find(label) != std::string::npos)
        total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

} // namespace

double serve_cluster::loaded_bytes() const {
  return metric_sum(workers, "tessera_model_load_bytes_total{", "sharing=\"unshared\"");
}

double serve_cluster::run_seconds() const {
  return metric_sum(workers, "tessera_infer_stage_seconds_sum{", "stage=\"run\"");
}

double serve_cluster::load_seconds() const {
  return metric_sum(workers, "tessera_model_load_duration_seconds_sum{", "");
}

actors::placement_status serve_cluster::placement() const {
  actors::placement_status out;
  if (!coordinator)
    return out;
  caf::scoped_actor self{coordinator->system()};
  self->request(coordinator->scheduler(), std::chrono::seconds(5), actors::status_atom::value,
                actors::place_atom::value)
      .receive([&](actors::placement_status& s) { out = std::move(s); }, [](caf::error&) {});
  return out;
}

caf::expected<serve_cluster> start_serve_cluster(const cluster_spec& spec) {
  serve_cluster c;
  c.label = spec.label;
  std::vector<std::string> peers;
  for (int i = 0; i < 2; ++i) {
    auto cfg = node_for(spec, spec.label + "-worker" + std::to_string(i));
    if (spec.tweak != nullptr)
      spec.tweak(cfg);
    auto n = actors::node::start(cfg);
    if (!n)
      return wrap(n.error(), spec.label + " worker");
    peers.push_back((*n)->endpoint());
    c.workers.push_back(std::move(*n));
  }
  auto cfg = node_for(spec, spec.label + "-coordinator");
  cfg.executors = 0;
  cfg.peers = peers;
  if (spec.tweak != nullptr)
    spec.tweak(cfg);
  auto n = actors::node::start(cfg);
  if (!n)
    return wrap(n.error(), spec.label + " coordinator");
  c.coordinator = std::move(*n);
  c.entries.push_back(c.coordinator->endpoint());
  // Ready once both peers answered a heartbeat.
  auto until = clock_type::now() + std::chrono::seconds(20);
  for (;;) {
    auto ps = c.coordinator->peers();
    if (std::all_of(ps.begin(), ps.end(), [](const auto& p) { return p.up; }))
      break;
    if (clock_type::now() > until)
      return make_error(ec::unavailable, spec.label + ": the workers did not come up within 20 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return c;
}

child_process::~child_process() {
  if (pid_ <= 0)
    return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

caf::expected<serve_cluster> start_python_servers(const std::string& store_path,
                                                  uint64_t budget_bytes) {
  const char* python = "/usr/bin/python3";
  if (auto rc = run_program({python, "-c", "import torch, zmq, msgpack"}); !rc || *rc != 0)
    return make_error(ec::unsupported, "/usr/bin/python3 lacks torch, zmq or msgpack");
  const char* env = std::getenv("TESSERA_PYTHON_SERVER");
  std::string script =
      env != nullptr ? env : TESSERA_SOURCE_DIR "/deploy/baselines/python_server.py";
  if (!std::filesystem::exists(script))
    return make_error(ec::unsupported, "no " + script + " (TESSERA_PYTHON_SERVER names another)");
  serve_cluster c;
  c.label = "python";
  for (int i = 0; i < 2; ++i) {
    auto ready =
        store_path + "/tmp/python-server-" + std::to_string(::getpid()) + "-" + std::to_string(i);
    std::filesystem::remove(ready);
    auto budget = std::to_string(budget_bytes);
    std::vector<std::string> args{
        python,           script,     "--listen",     "tcp://127.0.0.1:0",
        "--store",        store_path, "--models-dir", store_path + "/whole",
        "--budget-bytes", budget,     "--threads",    "1",
        "--ready-file",   ready};
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (::posix_spawn(&pid, python, nullptr, nullptr, argv.data(), environ) != 0)
      return make_error(ec::io_error, "cannot start " + script);
    c.processes.emplace_back(pid);
    auto until = clock_type::now() + std::chrono::seconds(30);
    while (!std::filesystem::exists(ready)) {
      if (clock_type::now() > until)
        return make_error(ec::unavailable,
                          "the Python server did not say where it listens within 30 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::ifstream f{ready};
    std::string endpoint;
    std::getline(f, endpoint);
    std::filesystem::remove(ready);
    c.entries.push_back(endpoint);
  }
  return c;
}

caf::expected<size_t> export_whole_models(const store::block_store& st,
                                          const std::vector<model_manifest>& models) {
  auto dir = st.root() + "/whole";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return make_error(ec::io_error, "cannot create " + dir + ": " + ec.message());
  size_t written = 0;
  for (const auto& m : models) {
    auto path = torch_backend::whole_model_file(dir, m.name, m.version);
    if (std::filesystem::exists(path))
      continue;
    auto tmp = path + ".tmp";
    if (auto err = torch_backend::export_torchscript(st, m, tmp))
      return err;
    std::filesystem::rename(tmp, path, ec);
    if (ec)
      return make_error(ec::io_error, "cannot rename " + tmp + ": " + ec.message());
    ++written;
  }
  return written;
}

namespace {

// Sends one request to each of `members` (indices into `models`) at once
// and waits for every answer, `n` + 1 times; the median time of all but the
// first (which loads them). `what` names them in errors.
caf::expected<double> median_round_ms(transport::client& cl, const std::string& what,
                                      const std::vector<model_manifest>& models,
                                      const std::vector<size_t>& members, int n, uint64_t seed) {
  std::vector<double> ms;
  for (int i = 0; i <= n; ++i) {
    auto t0 = clock_type::now();
    for (auto m : members)
      if (auto id = cl.send({"", image_request(models[m], seed + static_cast<uint64_t>(i))},
                            std::chrono::seconds(5));
          !id)
        return wrap(id.error(), what);
    for (size_t k = 0; k < members.size(); ++k) {
      auto got = cl.receive(std::chrono::seconds(60));
      if (!got)
        return wrap(got.error(), what);
      if (!got->value)
        return wrap(got->value.error(), what);
    }
    if (i > 0)
      ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
  }
  return median(ms);
}

} // namespace

caf::expected<std::vector<double>>
isolated_service_ms(const serve_cluster& c, const std::vector<model_manifest>& models, int n) {
  zmq::context_t ctx{1};
  auto cl = transport::client::connect(ctx, c.entries.front());
  if (!cl)
    return cl.error();
  std::vector<double> out;
  for (size_t m = 0; m < models.size(); ++m) {
    auto ms =
        median_round_ms(*cl, c.label + ", model \"" + models[m].name + "\"", models, {m}, n, 100);
    if (!ms)
      return ms.error();
    out.push_back(*ms);
  }
  return out;
}

caf::expected<double> isolated_frame_ms(const serve_cluster& c,
                                        const std::vector<model_manifest>& models,
                                        const std::vector<size_t>& members, int n) {
  zmq::context_t ctx{1};
  auto cl = transport::client::connect(ctx, c.entries.front());
  if (!cl)
    return cl.error();
  return median_round_ms(*cl, c.label + ", a frame", models, members, n, 200);
}

caf::error define_group(const serve_cluster& c, const std::string& name,
                        const std::vector<std::string>& members) {
  zmq::context_t ctx{1};
  auto cl = transport::client::connect(ctx, c.entries.front());
  if (!cl)
    return cl.error();
  transport::fuse_request req;
  req.group_name = name;
  req.models = members;
  auto got = cl->call_as<transport::fuse_response>({"", req}, std::chrono::seconds(60));
  if (!got)
    return wrap(got.error(), "fuse " + name);
  return {};
}

} // namespace tessera::bench

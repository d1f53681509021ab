// `tessera bench rpc`: what the middleware adds to a request. A tiny model
// (one 64x16 linear layer) is called in the same run: directly in process
// through the executor; through the full path of one node, a coordinator that
// answers from its own executor (client -> gateway -> scheduler -> executor
// -> client: the request never reaches its peer, so the figures are named
// one_node_*); through a peer alone (client -> coordinator gateway -> scheduler
// -> bridge -> worker gateway -> scheduler -> executor -> back); and as a raw
// ZeroMQ echo of the same bytes, the floor any ZeroMQ service pays. Several
// clients then measure throughput on both paths.
#include "bench_report.hpp"
#include "load_rig.hpp"

#include "tessera/actors/node.hpp"
#include "tessera/core/error.hpp"
#include "tessera/transport/client.hpp"

#include <zmq_addon.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include <sys/resource.h>

namespace tessera::bench {

namespace {

using clock_type = std::chrono::steady_clock;

double us_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - t).count();
}

/// Whole-process CPU time and context switches: with every thread of both
/// nodes in this process, they say what a request costs even when other work
/// on the machine makes wall-clock figures noisy.
struct process_usage {
  double cpu_us = 0;   ///< user + system time of every thread in the process
  double switches = 0; ///< voluntary + involuntary context switches

  static process_usage now() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto us = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec); };
    return {us(ru.ru_utime) + us(ru.ru_stime), static_cast<double>(ru.ru_nvcsw + ru.ru_nivcsw)};
  }
  process_usage operator-(const process_usage& o) const { return {cpu_us - o.cpu_us, switches - o.switches}; }
  /// The same figures per request, over `n` requests.
  process_usage per(uint64_t n) const {
    return {cpu_us / static_cast<double>(n), switches / static_cast<double>(n)};
  }
};

double percentile(std::vector<double> xs, double p) {
  std::sort(xs.begin(), xs.end());
  auto i = static_cast<size_t>(p * static_cast<double>(xs.size() - 1));
  return xs[i];
}

// Stores the tiny model: y = x W + b, x float32[-1,64].
caf::expected<model_manifest> write_tiny_model(const store::block_store& st) {
  auto skel = st.skeletons().put(store::skeleton_kind::script,
                                 "def forward(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:\n"
                                 "    return torch.addmm(bias, x, weight)\n");
  if (!skel)
    return skel.error();
  tensor_spec wspec{dtype::float32, {64, 16}};
  tensor_spec bspec{dtype::float32, {16}};
  auto w = random_tensor(wspec, 1);
  auto b = random_tensor(bspec, 2);
  auto wid = st.blobs().put(wspec, w.data);
  auto bid = st.blobs().put(bspec, b.data);
  if (!wid || !bid)
    return !wid ? wid.error() : bid.error();
  model_manifest m;
  m.name = "tiny-linear";
  m.family = "bench";
  m.inputs = {io_spec{"x", tensor_spec{dtype::float32, {-1, 64}}, ""}};
  node_spec fc;
  fc.name = "fc";
  fc.skeleton = *skel;
  fc.inputs = {"x"};
  fc.params = {param_binding{"weight", *wid, wspec}, param_binding{"bias", *bid, bspec}};
  fc.output = tensor_spec{dtype::float32, {-1, 16}};
  m.nodes = {fc};
  m.outputs = {io_spec{"y", tensor_spec{dtype::float32, {-1, 16}}, "fc"}};
  if (auto err = st.add_model(m))
    return err;
  return m;
}

// A ROUTER that sends every message straight back, on its own thread.
struct echo_server {
  zmq::socket_t socket;
  std::string endpoint;
  std::atomic<bool> stop{false};
  std::thread thread;

  explicit echo_server(zmq::context_t& ctx) : socket(ctx, zmq::socket_type::router) {
    socket.bind("tcp://127.0.0.1:*");
    endpoint = socket.get(zmq::sockopt::last_endpoint);
    thread = std::thread{[this] {
      while (!stop) {
        zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds(20));
        if ((item.revents & ZMQ_POLLIN) == 0)
          continue;
        std::vector<zmq::message_t> frames;
        if (zmq::recv_multipart(socket, std::back_inserter(frames)))
          zmq::send_multipart(socket, frames);
      }
    }};
  }

  ~echo_server() {
    stop = true;
    thread.join();
  }
};

transport::request tiny_request(const model_manifest& m) {
  transport::infer_request r;
  r.model_name = m.name;
  r.inputs.push_back({"x", random_tensor(tensor_spec{dtype::float32, {1, 64}}, 3)});
  return {"", std::move(r)};
}

} // namespace

int run_rpc_bench(const bench_options& opts) {
  auto dir = opts.work_dir + "/rpc-store";
  auto st = store::block_store::open(dir, true);
  if (!st)
    return std::fprintf(stderr, "bench rpc: %s\n", describe(st.error()).c_str()), 1;
  auto m = write_tiny_model(*st);
  if (!m)
    return std::fprintf(stderr, "bench rpc: %s\n", describe(m.error()).c_str()), 1;
  const int samples =
      opts.quick ? 60 : 400 * static_cast<int>(std::max<uint32_t>(1, opts.repeat / 5));
  auto req = tiny_request(*m);
  const auto& input = std::get<transport::infer_request>(req.body).inputs[0].tensor;

  // 1. Direct: the executor, in process.
  std::vector<double> direct;
  {
    auto rig = load_rig::make(*st);
    if (!rig)
      return 1;
    auto loaded = (*rig)->exec->load(*m);
    if (!loaded)
      return std::fprintf(stderr, "bench rpc: %s\n", describe(loaded.error()).c_str()), 1;
    for (int i = 0; i < samples + 50; ++i) {
      auto t = clock_type::now();
      auto out = (*rig)->exec->run(**loaded, {input});
      if (i >= 50)
        direct.push_back(us_since(t));
      if (!out)
        return 1;
    }
  }

  // 2. The full path on a 2-node cluster (all nodes in this process, real
  // tcp): the coordinator also runs an executor, and its scheduler places a
  // request there when it is free (client -> gateway -> scheduler -> executor
  // -> client), or on the worker through the bridge. A second coordinator
  // without executors of its own measures the path through the peer alone.
  zmq::context_t ctx{1};
  node_config worker_cfg;
  worker_cfg.store_path = dir;
  worker_cfg.listen = "tcp://127.0.0.1:*";
  worker_cfg.node_name = "worker";
  worker_cfg.torch_threads = 1;
  auto worker = actors::node::start(worker_cfg, &ctx);
  if (!worker)
    return std::fprintf(stderr, "bench rpc: %s\n", describe(worker.error()).c_str()), 1;
  auto start_coordinator = [&](const char* name, uint32_t executors) {
    auto cfg = worker_cfg;
    cfg.node_name = name;
    cfg.executors = executors;
    cfg.peers = {(*worker)->endpoint()};
    auto n = actors::node::start(cfg, &ctx);
    if (n)
      while ((*n)->peers().empty() || !(*n)->peers()[0].up)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return n;
  };
  auto coordinator = start_coordinator("coordinator", 1);
  auto relay = start_coordinator("relay", 0);
  if (!coordinator || !relay)
    return std::fprintf(stderr, "bench rpc: %s\n",
                        describe(!coordinator ? coordinator.error() : relay.error()).c_str()),
           1;
  // 3. Sequential calls, interleaved: rounds of a few calls on each path (the
  // full path, through a peer, and a raw ZeroMQ echo of the same bytes, the
  // floor), in an order that turns each round, so that every path sees the
  // same machine. On two noisy cores the echo's own p50 swings by a factor of
  // two within the hour; measured apart, the ratio swung with it.
  echo_server server{ctx};
  zmq::socket_t dealer{ctx, zmq::socket_type::dealer};
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(server.endpoint);
  auto full_client = transport::client::connect(ctx, (*coordinator)->endpoint());
  auto peer_client = transport::client::connect(ctx, (*relay)->endpoint());
  if (!full_client || !peer_client)
    return std::fprintf(stderr, "bench rpc: cannot connect a client\n"), 1;
  std::vector<double> full, via_peer, echo;
  process_usage full_cost, via_peer_cost, echo_cost;
  // One call on a path: its latency, or a negative number on failure.
  auto call = [&](int path) -> double {
    auto t = clock_type::now();
    if (path == 2) {
      auto frames = transport::encode_request(req);
      if (!frames)
        return -1;
      t = clock_type::now();
      zmq::send_multipart(dealer, *frames);
      std::vector<zmq::message_t> back;
      if (!zmq::recv_multipart(dealer, std::back_inserter(back)))
        return -1;
      return us_since(t);
    }
    auto r = (path == 0 ? *full_client : *peer_client).call(req, std::chrono::seconds(10));
    if (!r)
      return std::fprintf(stderr, "bench rpc: %s\n", describe(r.error()).c_str()), -1;
    return us_since(t);
  };
  constexpr int per_round = 20;
  const int rounds = samples / per_round;
  std::vector<double>* latencies[3] = {&full, &via_peer, &echo};
  process_usage* costs[3] = {&full_cost, &via_peer_cost, &echo_cost};
  for (int path = 0; path < 3; ++path) // warm-up
    for (int i = 0; i < 50; ++i)
      if (call(path) < 0)
        return 1;
  for (int round = 0; round < rounds; ++round)
    for (int k = 0; k < 3; ++k) {
      int path = (round + k) % 3;
      auto before = process_usage::now();
      for (int i = 0; i < per_round; ++i) {
        auto us = call(path);
        if (us < 0)
          return std::fprintf(stderr, "bench rpc: a call failed\n"), 1;
        latencies[path]->push_back(us);
      }
      auto used = process_usage::now() - before;
      costs[path]->cpu_us += used.cpu_us;
      costs[path]->switches += used.switches;
    }
  for (auto* c : costs)
    *c = c->per(static_cast<uint64_t>(rounds * per_round));

  // 4. Throughput: several clients, each keeping a window of requests in flight.
  constexpr int clients = 4;
  constexpr int window = 8;
  const auto span =
      std::chrono::milliseconds(opts.quick ? 300 : 1500 * std::max<uint32_t>(1, opts.repeat / 5));
  struct throughput {
    double rps = 0;
    uint64_t errors = 0;
    process_usage cost;
  };
  auto measure_throughput = [&](actors::node& through) {
    std::atomic<uint64_t> done{0};
    std::atomic<uint64_t> errors{0};
    std::vector<std::thread> threads;
    auto t0 = clock_type::now();
    auto before = process_usage::now();
    for (int c = 0; c < clients; ++c)
      threads.emplace_back([&] {
        zmq::context_t cctx{1};
        auto tc = transport::client::connect(cctx, through.endpoint());
        if (!tc)
          return;
        int in_flight = 0;
        while (clock_type::now() - t0 < span || in_flight > 0) {
          while (in_flight < window && clock_type::now() - t0 < span) {
            if (!tc->send(req, std::chrono::seconds(5)))
              break;
            ++in_flight;
          }
          auto r = tc->receive(std::chrono::seconds(10));
          if (!r)
            break;
          --in_flight;
          (r->value ? done : errors) += 1;
        }
      });
    for (auto& t : threads)
      t.join();
    double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    return throughput{static_cast<double>(done.load()) / seconds, errors.load(),
                      (process_usage::now() - before).per(std::max<uint64_t>(1, done.load()))};
  };
  auto busy = measure_throughput(**coordinator);
  auto busy_via_peer = measure_throughput(**relay);

  double d50 = percentile(direct, 0.5), d99 = percentile(direct, 0.99);
  double f50 = percentile(full, 0.5), f99 = percentile(full, 0.99);
  double p50 = percentile(via_peer, 0.5), p99 = percentile(via_peer, 0.99);
  double e50 = percentile(echo, 0.5), e99 = percentile(echo, 0.99);
  std::printf("Tiny model (64x16 linear), %d sequential calls each, in interleaved rounds of %d; "
              "microseconds\n",
              rounds * per_round, per_round);
  std::printf("  %-52s %9s %9s\n", "", "p50", "p99");
  std::printf("  %-52s %9.1f %9.1f\n", "direct executor call (in process)", d50, d99);
  std::printf("  %-52s %9.1f %9.1f\n", "full path, one node (the coordinator's executor)", f50,
              f99);
  std::printf("  %-52s %9.1f %9.1f\n", "full path through a peer (2 gateways, bridge)", p50, p99);
  std::printf("  %-52s %9.1f %9.1f\n", "raw ZeroMQ echo of the same bytes (floor)", e50, e99);
  std::printf("Throughput, %d clients x %d in flight (requests/s):\n", clients, window);
  std::printf("  %-52s %9.0f (%llu errors)\n", "coordinator and worker executing", busy.rps,
              static_cast<unsigned long long>(busy.errors));
  std::printf("  %-52s %9.0f (%llu errors)\n", "through a peer only", busy_via_peer.rps,
              static_cast<unsigned long long>(busy_via_peer.errors));
  std::printf("Cost per request, whole process (CPU microseconds, context switches):\n");
  std::printf("  %-52s %9.1f %9.1f\n", "full path, sequential", full_cost.cpu_us, full_cost.switches);
  std::printf("  %-52s %9.1f %9.1f\n", "through a peer, sequential", via_peer_cost.cpu_us,
              via_peer_cost.switches);
  std::printf("  %-52s %9.1f %9.1f\n", "full path, 4 clients", busy.cost.cpu_us,
              busy.cost.switches);
  std::printf("  %-52s %9.1f %9.1f\n", "ZeroMQ echo, sequential", echo_cost.cpu_us, echo_cost.switches);
  bench_report report{"rpc"};
  // The coordinator's own executor answers these: a one-node figure.
  report.metric("one_node_overhead_p50_us", f50 - d50);
  report.metric("one_node_overhead_p99_us", f99 - d99);
  report.metric("one_node_full_over_echo_p50", f50 / e50);
  report.metric("throughput_rps", busy.rps);
  report.metric("cpu_us_per_request", busy.cost.cpu_us);
  report.metric("context_switches_per_request", busy.cost.switches);
  report.metric("via_peer_overhead_p50_us", p50 - d50);
  report.metric("via_peer_overhead_p99_us", p99 - d99);
  report.metric("via_peer_full_over_echo_p50", p50 / e50);
  report.metric("via_peer_throughput_rps", busy_via_peer.rps);
  report.finish(opts);
  return 0;
}

} // namespace tessera::bench

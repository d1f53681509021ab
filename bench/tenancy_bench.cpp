// `tessera bench tenancy`: real CPU execution on one node, in the same run:
// two concurrent executors (one LibTorch thread each) against one executor
// that uses every core through LibTorch's own threads (what a one-model
// server does: the fair baseline) and against one executor of one thread
// (the first figure, kept beside it), and dynamic batching on against off. Clients keep requests in
// flight for a fixed time over a mix of small zoo models; throughput is replies per second.
#include "bench_node.hpp"
#include "bench_report.hpp"
#include "bench_store.hpp"

#include "tessera/actors/node.hpp"
#include "tessera/core/error.hpp"
#include "tessera/transport/client.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

namespace tessera::bench {

namespace {

using clock_type = std::chrono::steady_clock;

// Replies per second from `clients` clients, each keeping `window` requests in
// flight for `span`, over the given models (batch 1).
caf::expected<double> measure(const node_config& cfg, const std::vector<model_manifest>& models,
                              int clients, int window, std::chrono::milliseconds span) {
  // Warm: every model loaded, so both sides measure serving, not loading.
  auto n = start_warm_node(cfg, models, 2);
  if (!n)
    return n.error();
  std::atomic<uint64_t> done{0};
  std::vector<std::thread> threads;
  auto t0 = clock_type::now();
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      zmq::context_t ctx{1};
      auto cl = transport::client::connect(ctx, (*n)->endpoint());
      if (!cl)
        return;
      int in_flight = 0;
      uint64_t k = 0;
      while (clock_type::now() - t0 < span || in_flight > 0) {
        while (in_flight < window && clock_type::now() - t0 < span) {
          const auto& m = models[(c + k++) % models.size()];
          if (!cl->send({"", image_request(m, k)}, std::chrono::seconds(5)))
            return;
          ++in_flight;
        }
        auto got = cl->receive(std::chrono::seconds(60));
        if (!got)
          return;
        --in_flight;
        if (got->value)
          ++done;
      }
    });
  for (auto& t : threads)
    t.join();
  return static_cast<double>(done.load()) / std::chrono::duration<double>(clock_type::now() - t0).count();
}

} // namespace

int run_tenancy_bench(const bench_options& opts) {
  auto bs = open_bench_store(opts, "tenancy");
  if (!bs)
    return std::fprintf(stderr, "bench tenancy: %s\n", describe(bs.error()).c_str()), 1;
  std::vector<model_manifest> models;
  for (const char* name : {"mobilenetv2", "mobilenet-cars", "resnet18", "vit-tiny"})
    if (const auto* e = bs->find(name))
      models.push_back(e->manifest);
  node_config base;
  base.store_path = bs->store->root();
  base.listen = "tcp://127.0.0.1:*";
  base.torch_threads = 1;
  base.executors = 1;
  auto all_cores = base; // one executor, LibTorch's intra-op threads on every core
  all_cores.torch_threads = std::max(1u, std::thread::hardware_concurrency());
  auto two = base;
  two.executors = 2;
  auto two_any = two; // the same two executors, any idle one taking any job
  two_any.placement = "any_idle";
  auto batched = base;
  batched.max_batch_rows = 8;
  batched.max_queue_delay_us = 0; // batch what is queued; never wait
  const auto span = std::chrono::milliseconds(2000);
  std::vector<double> ratio_concurrent, ratio_all_cores, ratio_batching, ratio_placement;
  std::printf("Throughput, 4 clients x 2 requests in flight, models %s... (requests/s)\n",
              models.front().name.c_str());
  std::printf("%-5s %14s %14s %14s %14s %14s %14s\n", "run", "1 exec, 1 thr", "1 exec, all",
              "2 executors", "2, any idle", "batching off", "batching on");
  for (uint32_t r = 0; r < opts.repeat; ++r) {
    auto one = measure(base, models, 4, 2, span);
    auto all = measure(all_cores, models, 4, 2, span);
    auto conc = measure(two, models, 4, 2, span);
    auto any = measure(two_any, models, 4, 2, span);
    // Batching gathers requests for one model: send a single model there.
    std::vector<model_manifest> single{models.front()};
    auto off = measure(base, single, 4, 2, span);
    auto on = measure(batched, single, 4, 2, span);
    if (!one || !all || !conc || !any || !off || !on) {
      auto err = !one    ? one.error()
                 : !all  ? all.error()
                 : !conc ? conc.error()
                 : !any  ? any.error()
                 : !off  ? off.error()
                         : on.error();
      return std::fprintf(stderr, "bench tenancy: %s\n", describe(err).c_str()), 1;
    }
    std::printf("%-5u %14.1f %14.1f %14.1f %14.1f %14.1f %14.1f\n", r + 1, *one, *all, *conc, *any,
                *off, *on);
    ratio_concurrent.push_back(*conc / *one);
    ratio_all_cores.push_back(*conc / *all);
    ratio_batching.push_back(*on / *off);
    ratio_placement.push_back(*conc / *any);
  }
  bench_report report{"tenancy"};
  // Against one executor of one thread: mostly the second core's work.
  report.metric("concurrent_throughput_ratio", median(ratio_concurrent));
  // Against one executor on every core: what concurrency itself adds.
  report.metric("concurrent_throughput_vs_one_executor_all_cores", median(ratio_all_cores));
  report.metric("batching_throughput_ratio", median(ratio_batching));
  // Placement (scored, the default) against any idle executor taking any job.
  report.metric("placement_throughput_ratio", median(ratio_placement));
  report.finish(opts);
  return 0;
}

} // namespace tessera::bench

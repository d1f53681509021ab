// `tessera bench overload`: one node offered 2x, 5x and 10x its capacity,
// open loop (Poisson arrivals), deadlines 3-8 times each model's isolated
// service time. Capacity is found in the same run: the highest offered rate
// at which 95% of deadlines are met. The metric at each level is goodput
// (answers that were ok and within their deadline, per second) over that
// capacity. The same node with shedding off (`shed_late = false`: every job
// runs until its deadline expires it, the behaviour before decision 44) runs
// each level beside it, for comparison. docs/benchmarks.md.
#include "bench_node.hpp"
#include "bench_report.hpp"
#include "bench_store.hpp"

#include "tessera/actors/node.hpp"
#include "tessera/core/error.hpp"
#include "tessera/transport/client.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <thread>

namespace tessera::bench {

namespace {

using clock_type = std::chrono::steady_clock;

struct served_model {
  model_manifest manifest;
  double service_ms = 0.0; ///< isolated: one request at a time, median
};

struct level_result {
  double offered_rps = 0.0;
  double span_s = 0.0;
  uint64_t sent = 0;
  uint64_t met = 0;     ///< ok within its deadline, as the client saw it
  uint64_t late_ok = 0; ///< ok, but after its deadline
  uint64_t overloaded = 0;
  uint64_t deadline_exceeded = 0;
  uint64_t other = 0;
  uint64_t lost = 0; ///< no reply within the wait after the level
  std::vector<double> ok_ms;
  double first_refusal_ms = -1.0; ///< from the level's start; -1: none

  double met_fraction() const {
    return sent == 0 ? 0.0 : static_cast<double>(met) / static_cast<double>(sent);
  }
  double goodput() const {
    return static_cast<double>(met) / span_s;
  }
};

// Poisson arrivals at `rate` for `span`, models alternating at random; then
// waits for every reply (each has a deadline, so each comes).
caf::expected<level_result> drive(const std::string& endpoint,
                                  const std::vector<served_model>& models, double rate,
                                  std::chrono::milliseconds span, uint64_t seed) {
  zmq::context_t ctx{1};
  auto cl = transport::client::connect(ctx, endpoint);
  if (!cl)
    return cl.error();
  std::mt19937_64 rng{seed};
  std::exponential_distribution<double> gap{rate / 1000.0}; // in ms
  std::uniform_real_distribution<double> factor{3.0, 8.0};
  std::uniform_int_distribution<size_t> pick{0, models.size() - 1};
  struct sent_request {
    clock_type::time_point at;
    double deadline_ms = 0.0;
  };
  std::map<std::string, sent_request> out;
  level_result r;
  r.offered_rps = rate;
  r.span_s = std::chrono::duration<double>(span).count();
  auto start = clock_type::now();
  auto end = start + span;
  auto next = start;
  auto take = [&](caf::expected<transport::decoded<transport::response_body>>& got) {
    auto now = clock_type::now();
    auto i = out.find(got->id);
    if (i == out.end())
      return;
    auto ms = ms_between(i->second.at, now);
    if (got->value) {
      if (ms <= i->second.deadline_ms) {
        ++r.met;
        r.ok_ms.push_back(ms);
      } else {
        ++r.late_ok;
      }
    } else {
      auto code = code_of(got->value.error());
      if (code == ec::overloaded)
        ++r.overloaded;
      else if (code == ec::deadline_exceeded)
        ++r.deadline_exceeded;
      else
        ++r.other;
      if (r.first_refusal_ms < 0 && (code == ec::overloaded || code == ec::deadline_exceeded))
        r.first_refusal_ms = ms_between(start, now);
    }
    out.erase(i);
  };
  auto drain = [&](std::chrono::milliseconds wait) {
    for (auto got = cl->receive(wait); got; got = cl->receive(std::chrono::milliseconds(0)))
      take(got);
  };
  uint64_t k = 0;
  while (clock_type::now() < end) {
    if (!until_next_send(next, drain))
      continue;
    const auto& m = models[pick(rng)];
    auto req = image_request(m.manifest, ++k);
    double deadline = factor(rng) * m.service_ms;
    req.deadline_ms = std::max<int64_t>(1, static_cast<int64_t>(deadline));
    auto id = cl->send({"", std::move(req)}, std::chrono::seconds(5));
    if (!id)
      return id.error();
    out[*id] = {clock_type::now(),
                static_cast<double>(std::max<int64_t>(1, static_cast<int64_t>(deadline)))};
    ++r.sent;
    next += std::chrono::duration_cast<clock_type::duration>(
        std::chrono::duration<double, std::milli>(gap(rng)));
    drain(std::chrono::milliseconds(0));
  }
  // Every request has a deadline of at most 8 service times: its answer
  // comes by then (a second of margin for the gateway's expiry walk).
  auto wait_end = clock_type::now() + std::chrono::seconds(10);
  while (!out.empty() && clock_type::now() < wait_end)
    drain(std::chrono::milliseconds(100));
  r.lost = out.size();
  return r;
}

// A node with every model loaded, and its service time measured by the scheduler.
caf::expected<std::unique_ptr<actors::node>> start(const node_config& cfg,
                                                   const std::vector<served_model>& models) {
  std::vector<model_manifest> manifests;
  for (const auto& m : models)
    manifests.push_back(m.manifest);
  return start_warm_node(cfg, manifests, 5);
}

// The isolated service time of each model: one request at a time, median.
caf::error measure_service(const std::string& endpoint, std::vector<served_model>& models) {
  zmq::context_t ctx{1};
  auto cl = transport::client::connect(ctx, endpoint);
  if (!cl)
    return cl.error();
  for (auto& m : models) {
    std::vector<double> ms;
    for (int i = 0; i < 15; ++i) {
      auto t0 = clock_type::now();
      if (auto got = cl->call({"", image_request(m.manifest, i + 100)}, std::chrono::seconds(60));
          !got)
        return got.error();
      ms.push_back(ms_between(t0, clock_type::now()));
    }
    m.service_ms = median(ms);
  }
  return {};
}

void print_level(const char* label, const level_result& r) {
  std::printf("  %-22s %8.1f %6llu %6llu %6llu %6llu %6llu %6llu %8.1f %9.1f %9.1f\n", label,
              r.offered_rps, static_cast<unsigned long long>(r.sent),
              static_cast<unsigned long long>(r.met), static_cast<unsigned long long>(r.late_ok),
              static_cast<unsigned long long>(r.overloaded),
              static_cast<unsigned long long>(r.deadline_exceeded),
              static_cast<unsigned long long>(r.other + r.lost), r.goodput(),
              quantile(r.ok_ms, 0.99), r.first_refusal_ms);
}

} // namespace

int run_overload_bench(const bench_options& opts) {
  auto fail = [](const caf::error& err) {
    std::fprintf(stderr, "bench overload: %s\n", describe(err).c_str());
    return 1;
  };
  auto bs = open_bench_store(opts, "overload");
  if (!bs)
    return fail(bs.error());
  std::vector<served_model> models;
  for (const char* name : {"mobilenetv2", "resnet18"})
    if (const auto* e = bs->find(name))
      models.push_back({e->manifest, 0.0});
  node_config shed;
  shed.store_path = bs->store->root();
  shed.listen = "tcp://127.0.0.1:*";
  shed.log_level = "error"; // a line per request would cost the node more than the bench
  auto plain = shed;
  plain.shed_late = false;
  auto with = start(shed, models);
  if (!with)
    return fail(with.error());
  if (auto err = measure_service((*with)->endpoint(), models))
    return fail(err);
  auto without = start(plain, models);
  if (!without)
    return fail(without.error());
  double mean_service = 0.0;
  for (const auto& m : models) {
    std::printf("%s: isolated service %.2f ms (median of 15)\n", m.manifest.name.c_str(),
                m.service_ms);
    mean_service += m.service_ms / static_cast<double>(models.size());
  }
  const auto span = std::chrono::milliseconds(opts.quick ? 1000 : 3000);
  uint64_t seed = 1;
  // Capacity: from half of one executor's rate (a fifth with --quick, whose
  // runs only check that the bench works) up by 1.25x while 95% of deadlines
  // are met, with shedding on (as shipped).
  std::printf("capacity search (shedding on), %lld ms per rate:\n",
              static_cast<long long>(span.count()));
  std::printf("  %-22s %8s %6s %6s %6s %6s %6s %6s %8s %9s %9s\n", "", "offered", "sent", "met",
              "late", "overld", "dl_exc", "other", "goodput", "p99 ok ms", "1st ref");
  double capacity = 0.0;
  const double lowest = (opts.quick ? 200.0 : 500.0) / mean_service;
  for (double rate = lowest; rate < 1e5; rate *= 1.25) {
    auto r = drive((*with)->endpoint(), models, rate, span, seed++);
    if (!r)
      return fail(r.error());
    print_level("search", *r);
    if (r->met_fraction() < 0.95)
      break;
    capacity = rate;
  }
  if (capacity <= 0.0 && opts.quick) {
    // A quick run checks that the bench works, on a machine other work may
    // share: the levels run from the lowest rate, and say so.
    std::printf("quick run: not even the lowest rate met 95%% of its deadlines; the levels "
                "below run from it\n");
    capacity = lowest;
  }
  if (capacity <= 0.0)
    return fail(make_error(ec::backend_error, "not even the lowest rate met 95% of its deadlines"));
  std::printf("capacity: %.1f requests/s (the highest rate with >= 95%% of deadlines met)\n",
              capacity);
  bench_report report{"overload"};
  report.metric("capacity_rps", capacity);
  std::printf("  %-22s %8s %6s %6s %6s %6s %6s %6s %8s %9s %9s\n", "level", "offered", "sent",
              "met", "late", "overld", "dl_exc", "other", "goodput", "p99 ok ms", "1st ref");
  for (int level : {2, 5, 10}) {
    auto on = drive((*with)->endpoint(), models, level * capacity, span, seed);
    auto off = drive((*without)->endpoint(), models, level * capacity, span, seed);
    ++seed;
    if (!on || !off)
      return fail(!on ? on.error() : off.error());
    auto name = std::to_string(level) + "x";
    print_level((name + ", shedding").c_str(), *on);
    print_level((name + ", no shedding").c_str(), *off);
    report.metric("goodput_fraction_at_" + name, on->goodput() / capacity);
    report.metric("goodput_fraction_at_" + name + "_no_shedding", off->goodput() / capacity);
    report.metric("p99_ok_ms_at_" + name, quantile(on->ok_ms, 0.99));
    report.metric("first_refusal_ms_at_" + name, on->first_refusal_ms);
  }
  std::printf("(goodput: ok answers within their deadline per second; the metrics divide it by\n"
              " the capacity; deadlines are 3-8x each model's isolated service time)\n");
  report.finish(opts);
  return 0;
}

} // namespace tessera::bench

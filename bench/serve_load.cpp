#include "serve_load.hpp"

#include "bench_node.hpp"

#include "tessera/core/error.hpp"
#include "tessera/transport/client.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <numeric>
#include <random>
#include <thread>

namespace tessera::bench {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::vector<double> zipf_weights(size_t n) {
  std::vector<double> w(n);
  for (size_t k = 0; k < n; ++k)
    w[k] = 1.0 / static_cast<double>(k + 1);
  return w;
}

} // namespace

double serve_workload::requests_per_item() const {
  // Every item takes every rank equally often over the reshuffles, so the
  // mean is over the items, unweighted.
  double mean_size = 0.0;
  for (const auto& item : items)
    mean_size += static_cast<double>(item.size()) / static_cast<double>(items.size());
  return mean_size;
}

double quantile(std::vector<double> xs, double q) {
  if (xs.empty())
    return 0.0;
  std::sort(xs.begin(), xs.end());
  auto i = static_cast<size_t>(q * static_cast<double>(xs.size()));
  return xs[std::min(xs.size() - 1, i)];
}

caf::expected<probe_result> run_probe(const serve_cluster& c, const serve_workload& w,
                                      double request_rate, double span_s, uint64_t seed) {
  zmq::context_t ctx{1};
  auto cl = transport::client::connect(ctx, c.endpoint());
  if (!cl)
    return cl.error();
  std::mt19937_64 rng{seed};
  double item_rate = request_rate / w.requests_per_item();
  std::exponential_distribution<double> gap{item_rate / 1000.0}; // in ms
  std::uniform_real_distribution<double> factor{3.0, 8.0};
  auto weights = zipf_weights(w.items.size());
  std::discrete_distribution<size_t> rank{weights.begin(), weights.end()};
  // The items in rank order, reshuffled each period from the probe's seed.
  std::vector<size_t> by_rank(w.items.size());
  std::iota(by_rank.begin(), by_rank.end(), size_t{0});
  int64_t epoch = -1;
  struct sent_request {
    clock_type::time_point at;
    double deadline_ms = 0.0;
  };
  std::map<std::string, sent_request> out;
  probe_result r;
  r.system = c.label;
  r.span_s = span_s;
  double loaded_before = c.loaded_bytes();
  auto take = [&](caf::expected<transport::decoded<transport::response_body>>& got) {
    auto now = clock_type::now();
    auto i = out.find(got->id);
    if (i == out.end())
      return;
    auto ms = ms_between(i->second.at, now);
    if (got->value) {
      r.ok_ms.push_back(ms);
      ++(ms <= i->second.deadline_ms ? r.met : r.late_ok);
    } else {
      ++r.errors;
      ++r.error_codes[to_string(code_of(got->value.error()))];
    }
    out.erase(i);
  };
  auto drain = [&](std::chrono::milliseconds wait) {
    for (auto got = cl->receive(wait); got; got = cl->receive(std::chrono::milliseconds(0)))
      take(got);
  };
  auto start = clock_type::now();
  auto end = start + std::chrono::duration_cast<clock_type::duration>(
                         std::chrono::duration<double>(span_s));
  auto next = start;
  uint64_t k = 0;
  while (clock_type::now() < end) {
    if (!until_next_send(next, drain))
      continue;
    auto now = clock_type::now();
    auto e = static_cast<int64_t>(ms_between(start, now) / (1000.0 * w.shuffle_s));
    if (e != epoch) {
      epoch = e;
      std::mt19937_64 shuffle{seed * 1000003u + static_cast<uint64_t>(e)};
      std::shuffle(by_rank.begin(), by_rank.end(), shuffle);
    }
    const auto& item = w.items[by_rank[rank(rng)]];
    uint64_t frame = ++k; // the members of a frame item get the same bytes
    for (auto m : item) {
      auto req = image_request(w.models[m], frame);
      double deadline = std::max(1.0, std::floor(factor(rng) * w.service_ms[m]));
      req.deadline_ms = static_cast<int64_t>(deadline);
      auto id = cl->send({"", std::move(req)}, std::chrono::seconds(5));
      if (!id)
        return id.error();
      out[*id] = {clock_type::now(), deadline};
      ++r.sent;
    }
    next += std::chrono::duration_cast<clock_type::duration>(
        std::chrono::duration<double, std::milli>(gap(rng)));
    drain(std::chrono::milliseconds(0));
  }
  r.offered_rps = static_cast<double>(r.sent) / span_s;
  // Every request has a deadline of at most 8 service times: its answer
  // comes by then (with room for the gateway's expiry walk).
  auto wait_end = clock_type::now() + std::chrono::seconds(10);
  while (!out.empty() && clock_type::now() < wait_end)
    drain(std::chrono::milliseconds(100));
  r.lost = out.size();
  r.loaded_bytes = c.loaded_bytes() - loaded_before;
  return r;
}

} // namespace tessera::bench

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

#include <sys/resource.h>

namespace tessera::bench {

namespace {

using clock_type = std::chrono::steady_clock;

std::vector<double> zipf_weights(size_t n) {
  std::vector<double> w(n);
  for (size_t k = 0; k < n; ++k)
    w[k] = 1.0 / static_cast<double>(k + 1);
  return w;
}

// User and system CPU time of this process so far.
double process_cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto ms = [](const timeval& t) {
    return 1000.0 * static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1000.0;
  };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

} // namespace

answer_stages tail_stages(const probe_result& r, double fraction) {
  answer_stages out;
  if (r.ok_stages.empty())
    return out;
  auto sorted = r.ok_stages;
  std::sort(sorted.begin(), sorted.end(),
            [](const answer_stages& a, const answer_stages& b) { return a.total_ms > b.total_ms; });
  auto n = std::max<size_t>(1, static_cast<size_t>(fraction * static_cast<double>(sorted.size())));
  for (size_t i = 0; i < n; ++i) {
    out.total_ms += sorted[i].total_ms / static_cast<double>(n);
    out.queue_ms += sorted[i].queue_ms / static_cast<double>(n);
    out.load_ms += sorted[i].load_ms / static_cast<double>(n);
    out.run_ms += sorted[i].run_ms / static_cast<double>(n);
  }
  return out;
}

std::vector<planned_arrival> plan_arrivals(const serve_workload& w, double request_rate,
                                           double span_s, uint64_t seed) {
  std::mt19937_64 rng{seed};
  // Arrivals of items at a rate that makes the requests come at
  // `request_rate`, for the current ranks (a frame item at the top rank
  // sends more requests than at the bottom).
  std::exponential_distribution<double> gap{1.0};
  double mean_gap_ms = 1000.0 / request_rate;
  std::uniform_real_distribution<double> factor{3.0, 8.0};
  auto weights = zipf_weights(w.items.size());
  std::discrete_distribution<size_t> rank{weights.begin(), weights.end()};
  // The items in rank order, reshuffled each period from the probe's seed.
  std::vector<size_t> by_rank(w.items.size());
  std::iota(by_rank.begin(), by_rank.end(), size_t{0});
  int64_t epoch = -1;
  std::vector<planned_arrival> out;
  for (double t = 0.0; t < 1000.0 * span_s;) {
    auto e = static_cast<int64_t>(t / (1000.0 * w.shuffle_s));
    if (e != epoch) {
      epoch = e;
      std::mt19937_64 shuffle{seed * 1000003u + static_cast<uint64_t>(e)};
      std::shuffle(by_rank.begin(), by_rank.end(), shuffle);
      double per_item = 0.0, total = 0.0;
      for (size_t k = 0; k < by_rank.size(); ++k) {
        per_item += weights[k] * static_cast<double>(w.items[by_rank[k]].size());
        total += weights[k];
      }
      mean_gap_ms = 1000.0 * (per_item / total) / request_rate;
    }
    planned_arrival a;
    a.at_ms = t;
    a.item = by_rank[rank(rng)];
    for (auto m : w.items[a.item])
      a.deadline_ms.push_back(std::max(1.0, std::floor(factor(rng) * w.service_ms[m])));
    out.push_back(std::move(a));
    t += mean_gap_ms * gap(rng);
  }
  return out;
}

caf::expected<probe_result> run_probe(const serve_cluster& c, const serve_workload& w,
                                      double request_rate, double span_s, uint64_t seed) {
  zmq::context_t ctx{1};
  std::vector<transport::client> clients;
  for (const auto& e : c.entries) {
    auto cl = transport::client::connect(ctx, e);
    if (!cl)
      return cl.error();
    clients.push_back(std::move(*cl));
  }
  struct sent_request {
    clock_type::time_point at;
    double deadline_ms = 0.0;
    size_t model = 0;
  };
  std::map<std::string, sent_request> out;
  probe_result r;
  r.system = c.label;
  r.span_s = span_s;
  double loaded_before = c.loaded_bytes();
  double run_before = c.run_seconds();
  double cpu_before = process_cpu_ms();
  auto placed_before = c.placement();
  auto take = [&](caf::expected<transport::decoded<transport::response_body>>& got) {
    auto now = clock_type::now();
    auto i = out.find(got->id);
    if (i == out.end())
      return;
    auto ms = ms_between(i->second.at, now);
    bool met = got->value && ms <= i->second.deadline_ms;
    if (!met)
      ++r.missed_by_model[w.models[i->second.model].name];
    if (got->value) {
      r.ok_ms.push_back(ms);
      answer_stages st{ms};
      if (auto* inf = std::get_if<transport::infer_response>(&*got->value)) {
        st.queue_ms = transport::number_parameter(inf->parameters, "queue_ms");
        st.load_ms = transport::number_parameter(inf->parameters, "load_ms");
        st.run_ms = transport::number_parameter(inf->parameters, "run_ms");
      }
      r.ok_stages.push_back(st);
      ++(met ? r.met : r.late_ok);
    } else {
      ++r.errors;
      ++r.error_codes[to_string(code_of(got->value.error()))];
    }
    out.erase(i);
  };
  // Replies from every entry: waits up to `wait` for the first, then takes
  // whatever else has come.
  auto drain = [&](std::chrono::milliseconds wait) {
    std::vector<zmq::pollitem_t> items;
    for (auto& cl : clients)
      items.push_back({static_cast<void*>(cl.socket()), 0, ZMQ_POLLIN, 0});
    zmq::poll(items.data(), items.size(), wait);
    for (auto& cl : clients)
      for (auto got = cl.receive(std::chrono::milliseconds(0)); got;
           got = cl.receive(std::chrono::milliseconds(0)))
        take(got);
  };

  auto plan = plan_arrivals(w, request_rate, span_s, seed);
  auto start = clock_type::now();
  uint64_t frame = 0; // the members of a frame item get the same bytes
  for (const auto& arrival : plan) {
    auto next = start + std::chrono::duration_cast<clock_type::duration>(
                            std::chrono::duration<double, std::milli>(arrival.at_ms));
    while (!until_next_send(next, drain)) {
      // replies are taken until it is time
    }
    ++frame;
    const auto& item = w.items[arrival.item];
    for (size_t k = 0; k < item.size(); ++k) {
      auto m = item[k];
      auto req = image_request(w.models[m], frame);
      req.deadline_ms = static_cast<int64_t>(arrival.deadline_ms[k]);
      auto id = clients[c.entry_of(m)].send({"", std::move(req)}, std::chrono::seconds(5));
      if (!id)
        return id.error();
      out[*id] = {clock_type::now(), arrival.deadline_ms[k], m};
      ++r.sent;
    }
    drain(std::chrono::milliseconds(0));
  }
  r.offered_rps = static_cast<double>(r.sent) / span_s;
  // Every request has a deadline of at most 8 service times: its answer
  // comes by then (with room for the gateway's expiry walk).
  auto wait_end = clock_type::now() + std::chrono::seconds(10);
  while (!out.empty() && clock_type::now() < wait_end)
    drain(std::chrono::milliseconds(100));
  r.lost = out.size();
  for (const auto& [id, s] : out)
    ++r.missed_by_model[w.models[s.model].name];
  r.loaded_bytes = c.loaded_bytes() - loaded_before;
  r.cpu_ms = process_cpu_ms() - cpu_before;
  r.executor_run_ms = 1000.0 * (c.run_seconds() - run_before);
  auto placed_after = c.placement();
  r.added = placed_after.added - placed_before.added;
  r.moved = placed_after.moved - placed_before.moved;
  r.dropped = placed_after.dropped - placed_before.dropped;
  return r;
}

} // namespace tessera::bench

#include "tessera/core/uplink_allocation.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tessera {

namespace {

constexpr double infinite = std::numeric_limits<double>::infinity();

/// Device time (load plus execution) of each request of `order`, run in that order.
std::vector<double> service_ms(const schedule_instance& inst, const std::vector<size_t>& order) {
  std::vector<double> out;
  auto state = initial_residency(inst);
  for (auto idx : order) {
    auto model = inst.requests[idx].model;
    out.push_back(load_ms(inst, state, model) + model_exec_ms(inst.models[model]));
    note_served(inst, state, model);
  }
  return out;
}

/// Position of the first request of `order` that misses its deadline even when
/// every upload is instant, or order.size() if none does.
size_t first_miss_without_uploads(const schedule_instance& inst, const std::vector<size_t>& order,
                                  const std::vector<double>& service) {
  double now = inst.start_ms;
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& r = inst.requests[order[i]];
    now = std::max(now, r.arrival_ms) + service[i];
    if (now > r.deadline_ms)
      return i;
  }
  return order.size();
}

/// The least share each request of `order` needs so that all of them meet their
/// deadlines: the latest start that keeps it and every later one on time, minus
/// its arrival, must cover its upload.
std::vector<double> least_shares(const schedule_instance& inst, const std::vector<size_t>& order,
                                 const std::vector<double>& service) {
  std::vector<double> need(order.size(), 0.0);
  double next_latest_start = infinite;
  for (size_t i = order.size(); i-- > 0;) {
    const auto& r = inst.requests[order[i]];
    double latest_start = std::min(r.deadline_ms, next_latest_start) - service[i];
    next_latest_start = latest_start;
    double window = latest_start - r.arrival_ms;
    if (r.input_bytes == 0)
      need[i] = 0.0;
    else
      // The margin keeps rounding from pushing an upload past its latest start.
      need[i] =
          window > 0.0 ? static_cast<double>(r.input_bytes) / window * (1.0 + 1e-9) : infinite;
  }
  return need;
}

} // namespace

caf::expected<uplink_allocation> allocate_uplink(const schedule_instance& inst,
                                                 const std::vector<size_t>& order,
                                                 double capacity_bytes_per_ms) {
  if (auto err = validate(inst))
    return err;
  if (!(capacity_bytes_per_ms >= 0.0) || !std::isfinite(capacity_bytes_per_ms))
    return make_error(ec::invalid_argument, "uplink capacity must be finite and >= 0");
  for (auto idx : order)
    if (idx >= inst.requests.size())
      return make_error(ec::invalid_argument, "order names a request that does not exist");
  // Drop requests one at a time in an order that does not depend on the
  // capacity, and stop at the first set that fits: that makes the number kept
  // monotone in the capacity.
  auto kept = order;
  std::vector<double> need;
  for (;;) {
    auto service = service_ms(inst, kept);
    auto miss = first_miss_without_uploads(inst, kept, service);
    if (miss < kept.size()) { // the device alone is too slow for it
      kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(miss));
      continue;
    }
    need = least_shares(inst, kept, service);
    double total = 0.0;
    for (auto n : need)
      total += n;
    if (total <= capacity_bytes_per_ms)
      break;
    // The request that needs the most bandwidth goes (the later one on ties).
    size_t worst = 0;
    for (size_t i = 1; i < need.size(); ++i)
      if (need[i] >= need[worst])
        worst = i;
    kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(worst));
  }
  uplink_allocation alloc;
  alloc.share_bytes_per_ms.assign(inst.requests.size(), 0.0);
  alloc.upload_done_ms.assign(inst.requests.size(), infinite);
  double used = 0.0;
  uint64_t kept_bytes = 0;
  for (size_t i = 0; i < kept.size(); ++i) {
    used += need[i];
    kept_bytes += inst.requests[kept[i]].input_bytes;
  }
  // What is left speeds every kept upload up, in proportion to its size, so no
  // kept request starts later than with its least share.
  double spare = std::max(0.0, capacity_bytes_per_ms - used);
  for (size_t i = 0; i < kept.size(); ++i) {
    const auto& r = inst.requests[kept[i]];
    double share = need[i];
    if (kept_bytes > 0)
      share += spare * static_cast<double>(r.input_bytes) / static_cast<double>(kept_bytes);
    alloc.share_bytes_per_ms[kept[i]] = r.input_bytes > 0 ? share : 0.0;
    alloc.upload_done_ms[kept[i]] = r.input_bytes > 0
                                        ? r.arrival_ms + static_cast<double>(r.input_bytes) / share
                                        : r.arrival_ms;
  }
  alloc.kept = std::move(kept);
  return alloc;
}

schedule_instance with_uploads(const schedule_instance& inst, const uplink_allocation& alloc) {
  auto out = inst;
  out.requests.clear();
  for (size_t i = 0; i < inst.requests.size(); ++i) {
    if (std::find(alloc.kept.begin(), alloc.kept.end(), i) == alloc.kept.end())
      continue;
    auto r = inst.requests[i];
    r.arrival_ms = alloc.upload_done_ms[i];
    out.requests.push_back(r);
  }
  return out;
}

caf::expected<uplink_plan> schedule_with_uplink(const schedule_instance& inst,
                                                double capacity_bytes_per_ms,
                                                const schedule_policy& policy) {
  if (auto err = validate(inst))
    return err;
  if (!(capacity_bytes_per_ms > 0.0) || !std::isfinite(capacity_bytes_per_ms))
    return make_error(ec::invalid_argument, "uplink capacity must be positive and finite");
  // (1) Orders that do not depend on the capacity: the policy's order as if
  // every upload were instant, and all requests by deadline. Each one's kept
  // set grows with the capacity, so the best of them does too.
  std::vector<std::vector<size_t>> orders{policy(inst).order, {}};
  for (size_t i = 0; i < inst.requests.size(); ++i)
    orders[1].push_back(i);
  std::stable_sort(orders[1].begin(), orders[1].end(), [&](size_t a, size_t b) {
    return inst.requests[a].deadline_ms < inst.requests[b].deadline_ms;
  });
  // (2) Bandwidth for each order; the one that keeps the most wins.
  caf::expected<uplink_allocation> best{make_error(ec::invalid_argument, "no order")};
  for (const auto& order : orders) {
    auto alloc = allocate_uplink(inst, order, capacity_bytes_per_ms);
    if (!alloc)
      return alloc.error();
    if (!best || alloc->kept.size() > best->kept.size())
      best = std::move(alloc);
  }
  uplink_plan out;
  out.uploaded = with_uploads(inst, *best);
  std::vector<size_t> kept_order; // best->kept, as indices of out.uploaded
  for (auto idx : best->kept)
    kept_order.push_back(static_cast<size_t>(
        std::count_if(best->kept.begin(), best->kept.end(), [idx](size_t k) { return k < idx; })));
  auto fixed = simulate(out.uploaded, std::move(kept_order));
  // (3) Order again, now that the arrivals are known.
  auto again = policy(out.uploaded);
  out.plan = again.met > fixed.met ? std::move(again) : std::move(fixed);
  out.allocation = std::move(*best);
  return out;
}

} // namespace tessera

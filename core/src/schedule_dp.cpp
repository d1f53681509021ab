#include "tessera/core/schedule_dp.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <limits>
#include <map>

namespace tessera {

namespace {

constexpr double never = std::numeric_limits<double>::infinity();

} // namespace

caf::expected<bottom_sharing> detect_bottom_sharing(const std::vector<schedule_model>& models) {
  bottom_sharing out;
  out.cluster_of.assign(models.size(), 0);
  out.private_bytes.assign(models.size(), 0);
  std::map<content_id, size_t> uses; // how many (model, position) pairs name a block
  for (const auto& m : models)
    for (const auto& b : m.blocks)
      ++uses[b.id];
  // Models whose first block is the same form a cluster; a model without blocks
  // is a cluster of its own.
  std::map<content_id, size_t> cluster_by_first;
  std::vector<std::vector<size_t>> members;
  for (size_t i = 0; i < models.size(); ++i) {
    size_t c = members.size();
    if (!models[i].blocks.empty()) {
      auto [it, fresh] = cluster_by_first.emplace(models[i].blocks.front().id, c);
      c = it->second;
      if (!fresh) {
        members[c].push_back(i);
        out.cluster_of[i] = c;
        continue;
      }
    }
    members.push_back({i});
    out.cluster_of[i] = c;
  }
  for (const auto& group : members) {
    const auto& first = models[group.front()].blocks;
    size_t trunk = first.size();
    for (auto i : group) {
      const auto& blocks = models[i].blocks;
      size_t k = 0;
      while (k < trunk && k < blocks.size() && blocks[k].id == first[k].id)
        ++k;
      trunk = k;
    }
    uint64_t trunk_bytes = 0;
    for (size_t k = 0; k < trunk; ++k) {
      if (uses[first[k].id] != group.size())
        return make_error(ec::unsupported,
                          "block " + first[k].id.short_hex() + " of the trunk of model " +
                              models[group.front()].name + " is used outside that trunk");
      trunk_bytes += first[k].bytes;
    }
    out.trunk_bytes.push_back(trunk_bytes);
    for (auto i : group)
      for (size_t k = trunk; k < models[i].blocks.size(); ++k) {
        const auto& b = models[i].blocks[k];
        if (uses[b.id] != 1)
          return make_error(ec::unsupported, "block " + b.id.short_hex() + " of model " +
                                                 models[i].name +
                                                 " is shared but not part of a common trunk");
        out.private_bytes[i] += b.bytes;
      }
  }
  return out;
}

namespace {

/// The queued requests of one model, best first (priority, then id).
struct model_queue {
  size_t model = 0;
  double private_ms = 0.0;
  double exec_ms = 0.0;
  std::vector<size_t> requests;
};

/// The queued requests of one cluster; they share one deadline.
struct cluster_queue {
  double trunk_ms = 0.0;
  double deadline_ms = 0.0;
  std::vector<model_queue> models;
};

/// Cheapest way to serve k requests of a cluster in one run, for every k: a
/// group knapsack over its models, each model paying its private load once.
struct run_table {
  std::vector<double> cost;              ///< by number of requests served
  std::vector<std::vector<size_t>> take; ///< take[i][k]: from model i, k over 0..i
};

run_table plan_run(const cluster_queue& c, const std::vector<size_t>& available,
                   size_t free_model) {
  size_t total = 0;
  for (auto n : available)
    total += n;
  run_table t;
  t.cost.assign(total + 1, never);
  t.cost[0] = 0.0;
  for (size_t i = 0; i < c.models.size(); ++i) {
    const auto& m = c.models[i];
    double private_ms = m.model == free_model ? 0.0 : m.private_ms;
    std::vector<double> next = t.cost;
    std::vector<size_t> take(total + 1, 0);
    for (size_t k = 0; k <= total; ++k) {
      if (t.cost[k] == never)
        continue;
      for (size_t j = 1; j <= available[i] && k + j <= total; ++j) {
        double cost = t.cost[k] + private_ms + static_cast<double>(j) * m.exec_ms;
        if (cost < next[k + j]) {
          next[k + j] = cost;
          take[k + j] = j;
        }
      }
    }
    t.cost = std::move(next);
    t.take.push_back(std::move(take));
  }
  return t;
}

/// How many requests of each model a run of k requests takes.
std::vector<size_t> counts_of(const run_table& t, size_t k) {
  std::vector<size_t> counts(t.take.size(), 0);
  for (size_t i = t.take.size(); i-- > 0;) {
    counts[i] = t.take[i][k];
    k -= counts[i];
  }
  return counts;
}

/// One way to start: what runs before the clusters in deadline order (nothing,
/// requests of the resident model, or a whole run of the resident cluster),
/// and which requests each later cluster still has.
struct variant {
  std::vector<size_t> prefix; ///< request indices served first
  double after_prefix_ms = 0.0;
  std::vector<std::vector<size_t>> skip; ///< per cluster, per model: taken by the prefix
  size_t excluded = SIZE_MAX;            ///< a cluster served in the prefix only
};

/// Appends to `order` the requests of a run taking `counts` from each model,
/// the model `first` (if in the run) leading so its resident blocks are reused.
void append_run(const cluster_queue& c, const std::vector<size_t>& counts,
                const std::vector<size_t>& skip, size_t first, std::vector<size_t>& order) {
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = 0; i < c.models.size(); ++i) {
      if ((c.models[i].model == first) != (pass == 0))
        continue;
      for (size_t j = 0; j < counts[i]; ++j)
        order.push_back(c.models[i].requests[skip[i] + j]);
    }
}

/// The outer dynamic program: clusters in deadline order, each skipped or run
/// once with the cheapest selection of each size. f[k] is the earliest time at
/// which k deadlines can have been met.
std::vector<size_t> solve(const std::vector<cluster_queue>& clusters, const variant& v) {
  size_t n = v.prefix.size();
  for (const auto& c : clusters)
    for (const auto& m : c.models)
      n += m.requests.size();
  std::vector<double> f(n + 1, never);
  f[v.prefix.size()] = v.after_prefix_ms;
  std::vector<run_table> runs;
  std::vector<std::vector<size_t>> chosen; // chosen[c][k]: run size giving f[k]
  for (size_t ci = 0; ci < clusters.size(); ++ci) {
    const auto& c = clusters[ci];
    std::vector<size_t> available;
    for (size_t i = 0; i < c.models.size(); ++i)
      available.push_back(ci == v.excluded ? 0 : c.models[i].requests.size() - v.skip[ci][i]);
    runs.push_back(plan_run(c, available, SIZE_MAX));
    const auto& run = runs.back();
    auto next = f;
    std::vector<size_t> pick(n + 1, 0);
    for (size_t k = 0; k <= n; ++k) {
      if (f[k] == never)
        continue;
      for (size_t j = 1; j < run.cost.size() && k + j <= n; ++j) {
        double done = f[k] + c.trunk_ms + run.cost[j];
        if (done <= c.deadline_ms && done < next[k + j]) {
          next[k + j] = done;
          pick[k + j] = j;
        }
      }
    }
    f = std::move(next);
    chosen.push_back(std::move(pick));
  }
  size_t k = n;
  while (f[k] == never)
    --k;
  std::vector<size_t> sizes(clusters.size(), 0);
  for (size_t ci = clusters.size(); ci-- > 0;) {
    sizes[ci] = chosen[ci][k];
    k -= sizes[ci];
  }
  std::vector<size_t> order = v.prefix;
  for (size_t ci = 0; ci < clusters.size(); ++ci)
    if (sizes[ci] > 0)
      append_run(clusters[ci], counts_of(runs[ci], sizes[ci]), v.skip[ci], SIZE_MAX, order);
  return order;
}

} // namespace

caf::expected<schedule_plan> schedule_bottom_sharing_dp(const schedule_instance& inst) {
  if (auto err = validate(inst))
    return err;
  if (inst.device.residency != residency_policy::last_model)
    return make_error(ec::unsupported, "the dynamic program needs last_model residency");
  auto sharing = detect_bottom_sharing(inst.models);
  if (!sharing)
    return sharing.error();
  const double bw = inst.device.load_bytes_per_ms;
  // Group the queue by cluster and model; check arrivals and shared deadlines.
  std::vector<int> cluster_slot(sharing->trunk_bytes.size(), -1);
  std::vector<size_t> cluster_id;
  std::vector<cluster_queue> clusters;
  for (size_t idx = 0; idx < inst.requests.size(); ++idx) {
    const auto& r = inst.requests[idx];
    if (r.arrival_ms > inst.start_ms)
      return make_error(ec::unsupported, "request " + std::to_string(r.id) +
                                             " arrives after start_ms; the dynamic program"
                                             " schedules queued requests only");
    auto c = sharing->cluster_of[r.model];
    if (cluster_slot[c] < 0) {
      cluster_slot[c] = static_cast<int>(clusters.size());
      cluster_id.push_back(c);
      clusters.push_back({static_cast<double>(sharing->trunk_bytes[c]) / bw, r.deadline_ms, {}});
    }
    auto& cq = clusters[static_cast<size_t>(cluster_slot[c])];
    if (cq.deadline_ms != r.deadline_ms)
      return make_error(ec::unsupported, "request " + std::to_string(r.id) +
                                             ": the requests of one cluster must share a"
                                             " deadline");
    auto it = std::find_if(cq.models.begin(), cq.models.end(),
                           [&](const model_queue& m) { return m.model == r.model; });
    if (it == cq.models.end()) {
      cq.models.push_back({r.model,
                           static_cast<double>(sharing->private_bytes[r.model]) / bw,
                           model_exec_ms(inst.models[r.model]),
                           {}});
      it = cq.models.end() - 1;
    }
    it->requests.push_back(idx);
  }
  // Clusters in deadline order; within a model, the best requests first.
  std::vector<size_t> by_deadline(clusters.size());
  for (size_t i = 0; i < by_deadline.size(); ++i)
    by_deadline[i] = i;
  std::stable_sort(by_deadline.begin(), by_deadline.end(), [&](size_t a, size_t b) {
    return clusters[a].deadline_ms < clusters[b].deadline_ms;
  });
  std::vector<cluster_queue> sorted;
  for (auto i : by_deadline)
    sorted.push_back(clusters[i]);
  for (auto& c : sorted)
    for (auto& m : c.models)
      std::stable_sort(m.requests.begin(), m.requests.end(), [&](size_t a, size_t b) {
        const auto& ra = inst.requests[a];
        const auto& rb = inst.requests[b];
        return ra.priority != rb.priority ? ra.priority > rb.priority : ra.id < rb.id;
      });
  // The variants of docs/scheduling.md: no prefix; a requests of the resident
  // model first (its blocks are all resident); or the resident cluster's whole
  // share of the schedule first, with its trunk free.
  std::vector<variant> variants;
  variant plain;
  plain.after_prefix_ms = inst.start_ms;
  for (const auto& c : sorted)
    plain.skip.emplace_back(c.models.size(), 0);
  variants.push_back(plain);
  const size_t m0 = inst.resident_model >= 0 ? static_cast<size_t>(inst.resident_model) : SIZE_MAX;
  for (size_t ci = 0; m0 != SIZE_MAX && ci < sorted.size(); ++ci) {
    const auto& c = sorted[ci];
    if (cluster_id[by_deadline[ci]] != sharing->cluster_of[m0])
      continue;
    for (size_t i = 0; i < c.models.size(); ++i) {
      if (c.models[i].model != m0)
        continue;
      double t = inst.start_ms;
      for (size_t a = 1; a <= c.models[i].requests.size(); ++a) {
        t += c.models[i].exec_ms;
        if (t > c.deadline_ms)
          break;
        variant v = plain;
        v.prefix.assign(c.models[i].requests.begin(), c.models[i].requests.begin() + a);
        v.after_prefix_ms = t;
        v.skip[ci][i] = a;
        variants.push_back(std::move(v));
      }
    }
    std::vector<size_t> available;
    for (const auto& m : c.models)
      available.push_back(m.requests.size());
    auto run = plan_run(c, available, m0);
    for (size_t k = 1; k < run.cost.size(); ++k) {
      double done = inst.start_ms + run.cost[k];
      if (done > c.deadline_ms)
        continue;
      variant v = plain;
      append_run(c, counts_of(run, k), v.skip[ci], m0, v.prefix);
      v.after_prefix_ms = done;
      v.excluded = ci;
      variants.push_back(std::move(v));
    }
  }
  schedule_plan best;
  for (const auto& v : variants) {
    auto plan = simulate(inst, solve(sorted, v));
    if (plan.met > best.met || best.order.empty())
      best = std::move(plan);
  }
  return best;
}

} // namespace tessera

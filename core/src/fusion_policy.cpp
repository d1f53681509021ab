#include "tessera/core/fusion_policy.hpp"

#include <algorithm>
#include <set>

namespace tessera {

namespace {

std::pair<std::string, std::string> ordered(const std::string& a, const std::string& b) {
  return a < b ? std::make_pair(a, b) : std::make_pair(b, a);
}

struct candidate_pair {
  double score;
  std::string a;
  std::string b;
};

} // namespace

void co_request_counter::record(const std::string& model, double at_ms) {
  while (!recent_.empty() && recent_.front().first <= at_ms - window_ms_)
    recent_.pop_front();
  std::set<std::string> partners;
  for (const auto& [t, other] : recent_)
    if (other != model)
      partners.insert(other);
  for (const auto& other : partners)
    ++pairs_[ordered(model, other)];
  ++requests_[model];
  recent_.emplace_back(at_ms, model);
}

uint64_t co_request_counter::requests(const std::string& model) const {
  auto i = requests_.find(model);
  return i == requests_.end() ? 0 : i->second;
}

uint64_t co_request_counter::together(const std::string& a, const std::string& b) const {
  auto i = pairs_.find(ordered(a, b));
  return i == pairs_.end() ? 0 : i->second;
}

double co_request_counter::affinity(const std::string& a, const std::string& b) const {
  auto rarer = std::min(requests(a), requests(b));
  return rarer == 0 ? 0.0 : std::min(1.0, static_cast<double>(together(a, b)) / rarer);
}

std::vector<proposed_group> propose_groups(const std::vector<model_manifest>& catalogue,
                                           const co_request_counter& counts,
                                           const grouping_options& opts) {
  std::map<std::string, const model_manifest*> by_ref;
  for (const auto& m : catalogue)
    by_ref[model_ref(m)] = &m;
  std::vector<candidate_pair> candidates;
  for (const auto& [pair, n] : counts.pairs()) {
    auto a = by_ref.find(pair.first);
    auto b = by_ref.find(pair.second);
    if (a == by_ref.end() || b == by_ref.end() || n < opts.min_together)
      continue;
    double affinity = counts.affinity(pair.first, pair.second);
    auto smaller = std::min(parameter_bytes(*a->second), parameter_bytes(*b->second));
    double shared =
        smaller == 0 ? 0.0 : static_cast<double>(shared_bytes(*a->second, *b->second)) / smaller;
    if (affinity < opts.min_affinity || shared < opts.min_shared_fraction)
      continue;
    candidates.push_back({affinity * shared, pair.first, pair.second});
  }
  std::sort(candidates.begin(), candidates.end(), [](const auto& x, const auto& y) {
    return x.score != y.score ? x.score > y.score : std::tie(x.a, x.b) < std::tie(y.a, y.b);
  });
  // Union of groups, strongest pairs first; each model joins at most one group.
  std::map<std::string, size_t> group_of;
  std::vector<proposed_group> groups;
  for (const auto& c : candidates) {
    auto ga = group_of.find(c.a);
    auto gb = group_of.find(c.b);
    if (ga != group_of.end() && gb != group_of.end() && ga->second == gb->second)
      continue;
    std::vector<std::string> members;
    for (auto* g : {ga == group_of.end() ? nullptr : &groups[ga->second],
                    gb == group_of.end() ? nullptr : &groups[gb->second]})
      if (g != nullptr)
        members.insert(members.end(), g->models.begin(), g->models.end());
    for (const auto& x : {c.a, c.b})
      if (group_of.count(x) == 0)
        members.push_back(x);
    if (members.size() > opts.max_members)
      continue;
    std::sort(members.begin(), members.end());
    std::vector<model_manifest> manifests;
    for (const auto& ref : members)
      manifests.push_back(*by_ref[ref]);
    auto plan = plan_fusion("group-" + members.front(), manifests);
    if (!plan)
      continue; // inputs that cannot be bound together: not a group
    size_t target = ga != group_of.end()   ? ga->second
                    : gb != group_of.end() ? gb->second
                                           : groups.size();
    if (target == groups.size())
      groups.emplace_back();
    if (ga != group_of.end() && gb != group_of.end())
      groups[gb->second].models.clear(); // absorbed into the group of `a`
    auto& g = groups[target];
    g.models = members;
    g.score = c.score;
    g.savings = plan->savings;
    for (const auto& ref : members)
      group_of[ref] = target;
  }
  groups.erase(std::remove_if(groups.begin(), groups.end(),
                              [](const proposed_group& g) { return g.models.size() < 2; }),
               groups.end());
  for (auto& g : groups) {
    auto at = g.models.front().rfind(':');
    g.name = "group-" + g.models.front().substr(0, at);
  }
  std::sort(groups.begin(), groups.end(), [](const auto& x, const auto& y) {
    return x.savings.bytes_saved() != y.savings.bytes_saved()
               ? x.savings.bytes_saved() > y.savings.bytes_saved()
               : x.models < y.models;
  });
  return groups;
}

} // namespace tessera

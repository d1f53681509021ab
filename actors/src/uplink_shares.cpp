#include "tessera/actors/uplink_shares.hpp"

#include "tessera/core/uplink_allocation.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tessera::actors {

bool uplink_shares::arrived(const std::string& client, uint64_t input_bytes,
                            std::optional<double> budget_ms, const std::string& model,
                            steady_time now) {
  if (!enabled() || input_bytes == 0)
    return false; // a request without inputs uploads nothing worth a share
  auto i = clients_.find(client);
  if (i == clients_.end()) {
    if (clients_.size() >= opts_.max_clients) {
      auto oldest =
          std::min_element(clients_.begin(), clients_.end(), [](const auto& a, const auto& b) {
            return a.second.last_seen < b.second.last_seen;
          });
      clients_.erase(oldest);
    }
    i = clients_.emplace(client, client_figures{}).first;
    dirty_ = true;
  }
  auto& c = i->second;
  double budget = budget_ms.value_or(opts_.no_deadline_ms);
  if (c.input_bytes != input_bytes || c.budget_ms != budget || c.model != model)
    dirty_ = true;
  c.input_bytes = input_bytes;
  c.budget_ms = budget;
  c.model = model;
  c.last_seen = now;
  ++c.in_flight;
  return true;
}

void uplink_shares::finished(const std::string& client, steady_time now) {
  if (auto i = clients_.find(client); i != clients_.end() && i->second.in_flight > 0) {
    --i->second.in_flight;
    i->second.last_seen = now;
  }
}

void uplink_shares::served(const std::string& model, double service_ms) {
  if (!enabled() || !(service_ms >= 0.0) || !std::isfinite(service_ms))
    return;
  // A running mean that follows changes (a model swapped out loads again)
  // without jumping on one slow run; it changes no share until the next
  // computation.
  auto [i, fresh] = service_ms_.emplace(model, service_ms);
  if (!fresh)
    i->second += 0.2 * (service_ms - i->second);
}

std::optional<uint64_t> uplink_shares::share_of(const std::string& client, steady_time now) {
  if (!enabled())
    return std::nullopt;
  refresh(now);
  if (clients_.count(client) == 0)
    return std::nullopt;
  auto i = shares_.find(client);
  // A client that joined since the last computation has no share yet.
  return i == shares_.end() ? std::nullopt : std::optional<uint64_t>{i->second};
}

void uplink_shares::refresh(steady_time now) {
  if (now - last_refresh_ < opts_.min_recompute_interval)
    return;
  last_refresh_ = now;
  for (auto i = clients_.begin(); i != clients_.end();) {
    if (i->second.in_flight == 0 && now - i->second.last_seen > opts_.active_window) {
      i = clients_.erase(i);
      dirty_ = true;
    } else {
      ++i;
    }
  }
  if (dirty_)
    compute();
}

void uplink_shares::compute() {
  dirty_ = false;
  uplink_snapshot s;
  s.capacity_bytes_per_ms = opts_.capacity_bytes_per_s / 1000.0;
  s.computations = last_.computations + 1;
  std::map<std::string, size_t> model_index;
  auto divisor = static_cast<double>(std::max<size_t>(1, opts_.executors));
  for (const auto& [name, c] : clients_) {
    auto [m, fresh] = model_index.emplace(c.model, s.instance.models.size());
    if (fresh) {
      auto known = service_ms_.find(c.model);
      double exec_ms = known == service_ms_.end() ? 0.0 : known->second / divisor;
      schedule_block only{content_id{0, s.instance.models.size() + 1}, 0, exec_ms};
      s.instance.models.push_back(schedule_model{c.model, {only}});
    }
    schedule_request r;
    r.id = s.clients.size();
    r.model = m->second;
    r.deadline_ms = c.budget_ms;
    r.input_bytes = c.input_bytes;
    s.instance.requests.push_back(r);
    s.clients.push_back(name);
  }
  s.order.resize(s.clients.size());
  std::iota(s.order.begin(), s.order.end(), size_t{0});
  std::stable_sort(s.order.begin(), s.order.end(), [&](size_t a, size_t b) {
    return s.instance.requests[a].deadline_ms < s.instance.requests[b].deadline_ms;
  });
  shares_.clear();
  s.share_bytes_per_s.assign(s.clients.size(), 0);
  if (auto alloc = allocate_uplink(s.instance, s.order, s.capacity_bytes_per_ms)) {
    for (size_t i = 0; i < s.clients.size(); ++i) {
      // Rounded down, so that the shares never add up to more than the capacity.
      s.share_bytes_per_s[i] =
          static_cast<uint64_t>(std::floor(alloc->share_bytes_per_ms[i] * 1000.0));
      shares_[s.clients[i]] = s.share_bytes_per_s[i];
    }
  }
  last_ = std::move(s);
}

} // namespace tessera::actors

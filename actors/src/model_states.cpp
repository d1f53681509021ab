#include "tessera/actors/model_states.hpp"

namespace tessera::actors {

const char* to_string(model_state s) {
  switch (s) {
  case model_state::unavailable:
    return "unavailable";
  case model_state::loading:
    return "loading";
  case model_state::ready:
    return "ready";
  case model_state::unloading:
    return "unloading";
  case model_state::failed:
    return "failed";
  }
  return "unavailable";
}

void model_states::begin(const std::string& who, const std::string& ref, model_state s) {
  std::lock_guard<std::mutex> guard{mtx_};
  parts_[who].busy[ref] = s;
}

void model_states::failed(const std::string& who, const std::string& ref, std::string reason) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& part = parts_[who];
  part.busy.erase(ref);
  part.failed[ref] = std::move(reason);
}

void model_states::holds(const std::string& who, const std::vector<std::string>& refs) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& part = parts_[who];
  part.busy.clear();
  part.ready = std::set<std::string>(refs.begin(), refs.end());
  for (const auto& r : refs)
    part.failed.erase(r);
}

unit_state model_states::of_locked(const std::string& ref) const {
  auto any = [&](auto has) {
    for (const auto& [who, part] : parts_)
      if (has(part))
        return true;
    return false;
  };
  if (any([&](const executor_part& p) { return p.ready.count(ref) != 0; }))
    return {model_state::ready, {}};
  for (auto s : {model_state::loading, model_state::unloading})
    if (any([&](const executor_part& p) {
          auto i = p.busy.find(ref);
          return i != p.busy.end() && i->second == s;
        }))
      return {s, {}};
  for (const auto& [who, part] : parts_)
    if (auto i = part.failed.find(ref); i != part.failed.end())
      return {model_state::failed, who + ": " + i->second};
  return {};
}

unit_state model_states::of(const std::string& ref) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return of_locked(ref);
}

std::map<std::string, unit_state> model_states::all() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::set<std::string> refs;
  for (const auto& [who, part] : parts_) {
    refs.insert(part.ready.begin(), part.ready.end());
    for (const auto& [r, s] : part.busy)
      refs.insert(r);
    for (const auto& [r, why] : part.failed)
      refs.insert(r);
  }
  std::map<std::string, unit_state> out;
  for (const auto& r : refs)
    out.emplace(r, of_locked(r));
  return out;
}

} // namespace tessera::actors

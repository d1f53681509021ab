// Each of this node's executors' last published state (holdings and
// counters), as it left it after its last message. /metrics and status
// replies read it without asking the executors: one that is loading or
// running answers nothing until it is done, so its series would vanish
// exactly when it is busy (docs/deploy.md, "Metrics").
#pragma once

#include "tessera/actors/messages.hpp"

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tessera::actors {

/// Thread-safe: each executor writes its own entry, anyone reads.
class executor_board {
public:
  /// Keeps `s` as executor `s.name`'s state.
  void publish(executor_state s) {
    std::lock_guard<std::mutex> guard{mtx_};
    states_[s.name] = std::move(s);
  }

  /// Every executor's last state, by name.
  std::vector<executor_state> all() const {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<executor_state> out;
    for (const auto& [name, s] : states_)
      out.push_back(s);
    return out;
  }

private:
  mutable std::mutex mtx_;
  std::map<std::string, executor_state> states_;
};

} // namespace tessera::actors

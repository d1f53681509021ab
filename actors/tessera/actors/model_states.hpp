// The lifecycle state of each unit (a model version, a fused group) on this
// node's executors: unavailable, loading, ready, unloading or failed, with
// the reason of a failure. Executors publish it as they work, and the gateway
// and /metrics read it without asking them: an executor that is loading
// answers no message until its load ends, so asking it could never say
// "loading" (docs/protocol.md, "model_ready").
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace tessera::actors {

enum class model_state { unavailable, loading, ready, unloading, failed };

/// The state's name on the wire and in /metrics: "unavailable", "loading",
/// "ready", "unloading", "failed".
const char* to_string(model_state s);

/// Every state, in order (for /metrics' one series per state).
inline constexpr model_state all_model_states[] = {model_state::unavailable, model_state::loading,
                                                   model_state::ready, model_state::unloading,
                                                   model_state::failed};

struct unit_state {
  model_state state = model_state::unavailable;
  std::string reason; ///< why it failed; empty otherwise
};

/// Thread-safe: each executor writes its own part, anyone reads.
class model_states {
public:
  /// Executor `who` starts loading (or unloading) `ref` ("name:version", or
  /// a group's name).
  void begin(const std::string& who, const std::string& ref, model_state s);

  /// `who` could not load `ref`, for `reason` (the error, naming the part).
  void failed(const std::string& who, const std::string& ref, std::string reason);

  /// `who` now holds exactly `refs`, ready; its loads and unloads have ended.
  /// A failure of a unit it now holds is forgotten.
  void holds(const std::string& who, const std::vector<std::string>& refs);

  /// The node's state of `ref`: ready when an executor holds it; else
  /// loading, else unloading, when one is at it; else failed, with the
  /// latest reason; else unavailable.
  unit_state of(const std::string& ref) const;

  /// Every unit some executor holds, works on, or failed on, with its state.
  std::map<std::string, unit_state> all() const;

private:
  struct executor_part {
    std::set<std::string> ready;
    std::map<std::string, model_state> busy; ///< loading or unloading
    std::map<std::string, std::string> failed;
  };
  unit_state of_locked(const std::string& ref) const;

  mutable std::mutex mtx_;
  std::map<std::string, executor_part> parts_; ///< by executor name
};

} // namespace tessera::actors

// The node's structured log: one line per answered request, as text or JSON,
// through spdlog. Each line carries the client's request id and a trace id that
// travels with the request to other nodes, so one request can be followed
// across the cluster. spdlog stays out of this header.
#pragma once

#include <memory>
#include <string>

namespace tessera::actors {

struct log_options {
  std::string node;
  std::string level = "info"; ///< trace, debug, info, warn, error or off
  bool json = false;
  std::string file; ///< empty: standard error
};

struct request_log_entry {
  std::string id;    ///< the client's request id
  std::string trace; ///< the id of the request that started it all (the same on every node)
  std::string operation;
  std::string model;
  std::string code; ///< "ok" or the error's name
  std::string message;
  double ms = 0.0;
};

class request_log {
public:
  /// Fails only when the log file cannot be opened (then it logs to stderr).
  explicit request_log(log_options opts);
  ~request_log();

  /// Logs one answered request: at info when it succeeded, warn otherwise.
  void answered(const request_log_entry& e);

  /// Logs a line about the node itself (start, stop, peers).
  void event(const std::string& what);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace tessera::actors

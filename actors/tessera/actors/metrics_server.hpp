// The node's HTTP endpoint for operators: /metrics (Prometheus text), /healthz
// (the process answers) and /readyz (it can serve). cpp-httplib runs it on its
// own threads; each scrape calls back into the node for a fresh snapshot.
#pragma once

#include <caf/expected.hpp>

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
} // namespace httplib

namespace tessera::actors {

class metrics_server {
public:
  /// Returns the exposition text of one scrape.
  using scrape_fn = std::function<std::string()>;
  /// Whether the node can serve requests now (for /readyz).
  using ready_fn = std::function<bool()>;

  /// Binds `listen` ("HOST:PORT"; port 0 picks a free one) and starts serving.
  static caf::expected<std::unique_ptr<metrics_server>> start(const std::string& listen,
                                                              scrape_fn scrape, ready_fn ready);

  /// Stops serving and joins the server thread.
  ~metrics_server();

  /// The bound port.
  int port() const {
    return port_;
  }

  /// "http://HOST:PORT".
  const std::string& url() const {
    return url_;
  }

private:
  metrics_server() = default;

  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
  std::string url_;
};

} // namespace tessera::actors

#include "tessera/actors/metrics_server.hpp"

#include "tessera/core/error.hpp"

#include <httplib.h>

namespace tessera::actors {

caf::expected<std::unique_ptr<metrics_server>>
metrics_server::start(const std::string& listen, scrape_fn scrape, ready_fn ready) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    return make_error(ec::bad_config, "metrics_listen: \"" + listen + "\" is not HOST:PORT");
  auto host = listen.substr(0, colon);
  int port = 0;
  try {
    size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port < 0 || port > 65535)
      throw std::out_of_range{"port"};
  } catch (const std::exception&) {
    return make_error(ec::bad_config, "metrics_listen: \"" + listen + "\" has no port in 0-65535");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::unique_ptr<metrics_server> m{new metrics_server};
  m->http_ = std::make_unique<httplib::Server>();
  auto& http = *m->http_;
  http.set_keep_alive_max_count(2);
  http.Get("/metrics", [scrape](const httplib::Request&, httplib::Response& res) {
    res.set_content(scrape(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  http.Get("/readyz", [ready](const httplib::Request&, httplib::Response& res) {
    bool ok = !ready || ready();
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ready\n" : "not ready\n", "text/plain");
  });
  if (port == 0)
    port = http.bind_to_any_port(host);
  else if (!http.bind_to_port(host, port))
    port = -1;
  if (port <= 0)
    return make_error(ec::io_error, "metrics_listen: cannot bind " + listen);
  m->port_ = port;
  m->url_ = "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
            std::to_string(port);
  m->thread_ = std::thread{[&http] { http.listen_after_bind(); }};
  // stop() is a no-op until the server runs; wait, so a quick stop is not lost.
  for (int i = 0; i < 2000 && !http.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return m;
}

metrics_server::~metrics_server() {
  if (http_)
    http_->stop();
  if (thread_.joinable())
    thread_.join();
}

} // namespace tessera::actors

// Test fixture: a ROUTER server on its own thread built on router_socket. It answers
// health, echoes infer inputs as outputs, replies unknown_model for model "missing",
// stays silent for model "silent", and records every decoded request it saw.
#pragma once

#include "tessera/core/error.hpp"
#include "tessera/transport/router_socket.hpp"

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace tessera::test {

class echo_server {
public:
  echo_server(zmq::context_t& ctx, std::string endpoint) {
    std::promise<std::string> bound;
    auto ready = bound.get_future();
    thread_ = std::thread{[this, &ctx, endpoint, &bound] {
      auto socket = transport::router_socket::bind(ctx, endpoint);
      if (!socket) {
        bound.set_value("");
        return;
      }
      bound.set_value(socket->endpoint());
      serve(*socket);
    }};
    endpoint_ = ready.get();
  }

  ~echo_server() {
    stop_ = true;
    thread_.join();
  }

  /// The bound endpoint, or empty when binding failed.
  const std::string& endpoint() const {
    return endpoint_;
  }

  /// Ids and error codes of every request received so far.
  std::vector<std::pair<std::string, ec>> seen() {
    std::lock_guard<std::mutex> guard{mtx_};
    return seen_;
  }

  /// Whether the last request came with an empty delimiter frame (REQ client).
  bool last_had_delimiter() const {
    return last_delimiter_;
  }

private:
  void serve(transport::router_socket& socket) {
    using namespace transport;
    while (!stop_) {
      auto in = socket.receive(std::chrono::milliseconds{20});
      if (!in)
        continue;
      last_delimiter_ = in->from.delimiter;
      auto& req = in->request;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        seen_.emplace_back(req.id, req.value ? ec::none : code_of(req.value.error()));
      }
      if (!req.value) {
        socket.reply_error(in->from, req.id, req.value.error());
      } else if (std::holds_alternative<health_request>(*req.value)) {
        socket.reply(in->from, req.id, health_response{true, true});
      } else if (auto* infer = std::get_if<infer_request>(&*req.value)) {
        if (infer->model_name == "silent")
          continue;
        if (infer->model_name == "missing") {
          socket.reply_error(in->from, req.id, make_error(ec::unknown_model, "no model missing"));
          continue;
        }
        socket.reply(in->from, req.id,
                     infer_response{infer->model_name, 1, infer->inputs, {}, std::nullopt});
      } else {
        socket.reply_error(in->from, req.id, make_error(ec::unsupported, "echo server"));
      }
    }
  }

  std::thread thread_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> last_delimiter_{false};
  std::mutex mtx_;
  std::vector<std::pair<std::string, ec>> seen_;
};

} // namespace tessera::test

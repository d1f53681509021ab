// Test fixture: a ROUTER server that dies and comes back on the same tcp endpoint,
// as a coordinator does when it is killed and restarted. Each life binds anew; a
// life takes some requests and closes without answering them, or serves until the
// fixture stops. It records every request it saw, with the life that saw it.
#pragma once

#include "tessera/core/error.hpp"
#include "tessera/transport/router_socket.hpp"

#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace tessera::test {

/// One life of a restarting_server.
struct server_life {
  /// Requests it takes without answering, and then it closes; 0: it serves until
  /// the fixture stops (echoing infer inputs, answering health and model_unload).
  size_t swallow = 0;
  /// How long after the life before it this one binds.
  std::chrono::milliseconds bind_delay{0};
  /// How many replies it sends to each request it serves: 2 stands for a duplicate.
  int answers = 1;
};

/// A request the server took, decoded or not.
struct seen_request {
  size_t life = 0;
  std::string id;
  std::optional<transport::operation> op; ///< none when the request did not decode
  std::optional<int64_t> deadline_ms;
};

class restarting_server {
public:
  restarting_server(zmq::context_t& ctx, std::vector<server_life> lives,
                    transport::curve_server_keys curve = {})
      : lives_(std::move(lives)), curve_(std::move(curve)) {
    std::promise<std::string> bound;
    auto ready = bound.get_future();
    thread_ = std::thread{[this, &ctx, &bound] { run(ctx, bound); }};
    endpoint_ = ready.get();
  }

  ~restarting_server() {
    stop_ = true;
    thread_.join();
  }

  /// The endpoint every life binds (its port picked by the first), or empty.
  const std::string& endpoint() const {
    return endpoint_;
  }

  /// Every request taken so far, in order.
  std::vector<seen_request> seen() {
    std::lock_guard<std::mutex> guard{mtx_};
    return seen_;
  }

  /// The ids that life `life` took.
  std::vector<std::string> ids_seen_by(size_t life) {
    std::vector<std::string> out;
    for (const auto& s : seen())
      if (s.life == life)
        out.push_back(s.id);
    return out;
  }

  /// Why a later life could not bind; empty when all could.
  std::string bind_failure() {
    std::lock_guard<std::mutex> guard{mtx_};
    return bind_failure_;
  }

private:
  void run(zmq::context_t& ctx, std::promise<std::string>& bound) {
    using namespace std::chrono_literals;
    for (size_t i = 0; i < lives_.size() && !stop_; ++i) {
      for (auto until = std::chrono::steady_clock::now() + lives_[i].bind_delay;
           !stop_ && std::chrono::steady_clock::now() < until;)
        std::this_thread::sleep_for(5ms);
      auto socket = bind(ctx, i == 0 ? "tcp://127.0.0.1:*" : endpoint_);
      if (!socket) {
        if (i == 0) {
          bound.set_value("");
        } else {
          std::lock_guard<std::mutex> guard{mtx_};
          bind_failure_ = describe(socket.error());
        }
        return;
      }
      if (i == 0)
        bound.set_value(socket->endpoint());
      live(i, *socket);
    } // the socket closes here, with whatever it took unanswered
  }

  /// Binds `endpoint`. ZeroMQ closes a socket's listener on its I/O thread after
  /// zmq_close returns, so the port of the life before may still be taken a while.
  caf::expected<transport::router_socket> bind(zmq::context_t& ctx, const std::string& endpoint) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds{2};
    for (;;) {
      auto socket = transport::router_socket::bind(ctx, endpoint, {}, curve_);
      if (socket || stop_ || std::chrono::steady_clock::now() >= until)
        return socket;
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
  }

  void live(size_t life, transport::router_socket& socket) {
    using namespace transport;
    size_t taken = 0;
    while (!stop_ && (lives_[life].swallow == 0 || taken < lives_[life].swallow)) {
      auto in = socket.receive(std::chrono::milliseconds{20});
      if (!in)
        continue;
      ++taken;
      seen_request s{life, in->request.id, std::nullopt, std::nullopt};
      if (in->request.value) {
        s.op = operation_of(*in->request.value);
        if (const auto* infer = std::get_if<infer_request>(&*in->request.value))
          s.deadline_ms = infer->deadline_ms;
      }
      {
        std::lock_guard<std::mutex> guard{mtx_};
        seen_.push_back(s);
      }
      if (lives_[life].swallow > 0)
        continue;
      for (int k = 0; k < lives_[life].answers; ++k)
        answer(socket, *in);
    }
  }

  static void answer(transport::router_socket& socket, const transport::incoming_request& in) {
    using namespace transport;
    const auto& id = in.request.id;
    if (!in.request.value) {
      socket.reply_error(in.from, id, in.request.value.error());
      return;
    }
    const auto& body = *in.request.value;
    if (const auto* infer = std::get_if<infer_request>(&body))
      socket.reply(in.from, id, infer_response{infer->model_name, 1, infer->inputs, {}, {}});
    else if (std::holds_alternative<health_request>(body))
      socket.reply(in.from, id, health_response{true, true});
    else if (const auto* unload = std::get_if<model_unload_request>(&body))
      socket.reply(in.from, id, model_unload_response{unload->model_name, std::nullopt});
    else
      socket.reply_error(in.from, id, make_error(ec::unsupported, "restarting server"));
  }

  std::vector<server_life> lives_;
  transport::curve_server_keys curve_;
  std::thread thread_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::mutex mtx_;
  std::vector<seen_request> seen_;
  std::string bind_failure_;
};

} // namespace tessera::test

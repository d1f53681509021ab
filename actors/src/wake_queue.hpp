// A queue that any thread fills and one socket thread drains. Posting also
// sends a byte on an inproc PUSH socket, so the thread, blocked in zmq_poll on
// the PULL end, wakes at once. The gateway's replies and the bridge's outgoing
// requests both travel this way.
#pragma once

#include "tessera/core/error.hpp"

#include <zmq.hpp>

#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace tessera::actors {

template <class T>
class wake_queue {
public:
  /// Binds the thread's PULL end, then connects the posting PUSH end.
  caf::error open(zmq::context_t& ctx, const std::string& endpoint) {
    try {
      pull_.emplace(ctx, zmq::socket_type::pull);
      pull_->bind(endpoint);
      push_.emplace(ctx, zmq::socket_type::push);
      push_->set(zmq::sockopt::linger, 0);
      push_->connect(endpoint);
    } catch (const zmq::error_t& e) {
      return make_error(ec::io_error, "cannot make wake-up socket " + endpoint + ": " + e.what());
    }
    return {};
  }

  /// Queues an item and wakes the thread if it was idle. Thread-safe: the PUSH socket is used
  /// under a lock (a ZeroMQ socket may change threads when access is serialized).
  void post(T item) {
    {
      std::lock_guard<std::mutex> guard{items_mtx_};
      bool was_empty = items_.empty();
      items_.push_back(std::move(item));
      // The thread takes everything at once, so only the first item since its
      // last take needs a wake-up; the rest ride along.
      if (!was_empty)
        return;
    }
    try {
      std::lock_guard<std::mutex> guard{push_mtx_};
      if (push_)
        push_->send(zmq::const_buffer{"w", 1}, zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      // The thread drains the queue on its poll timeout anyway.
    }
  }

  /// The PULL end, for the thread's poll set.
  zmq::socket_t& pull() {
    return *pull_;
  }

  /// Consumes the wake-up bytes (when the PULL end was readable) and takes
  /// everything posted so far. Called by the thread only.
  std::deque<T> take(bool readable) {
    if (readable) {
      zmq::message_t drain;
      while (pull_->recv(drain, zmq::recv_flags::dontwait)) {
      }
    }
    std::deque<T> out;
    std::lock_guard<std::mutex> guard{items_mtx_};
    out.swap(items_);
    return out;
  }

  /// Closes both sockets, before their context may be closed.
  void close() {
    std::lock_guard<std::mutex> guard{push_mtx_};
    push_.reset();
    pull_.reset();
  }

private:
  std::mutex items_mtx_;
  std::deque<T> items_;
  std::mutex push_mtx_;
  std::optional<zmq::socket_t> push_;
  std::optional<zmq::socket_t> pull_;
};

} // namespace tessera::actors

#include "tessera/actors/gateway.hpp"

#include "gateway_shared.hpp"
#include "tessera/actors/request_log.hpp"
#include "tessera/core/error.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <map>

#include <pthread.h>

namespace tessera::actors {

namespace {

struct in_flight {
  transport::peer from;
  std::string id;
  steady_time deadline;
  std::string operation; ///< labels for request_metrics
  std::string model;
  steady_time arrival{};
  std::string trace;
  bool uplink = false; ///< counted by uplink_shares until answered
  uint64_t bytes = 0;  ///< its inputs' bytes, counted against max_in_flight_bytes
};

uint64_t input_bytes(const transport::infer_request& r) {
  uint64_t sum = 0;
  for (const auto& t : r.inputs)
    sum += t.tensor.bytes;
  return sum;
}

double ms_since(steady_time t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// What request_metrics needs from a reply: its code, and an inference's stages.
void log_answer(request_log* log, const in_flight& p, const caf::error& err) {
  if (log == nullptr)
    return;
  request_log_entry e{p.id, p.trace, p.operation, p.model, err ? to_string(code_of(err)) : "ok", {},
                      ms_since(p.arrival)};
  if (err)
    e.message = describe(err);
  log->answered(e);
}

void record_answer(gateway_counters& counters, const in_flight& p,
                   const caf::expected<transport::response_body>& body, request_log* log) {
  log_answer(log, p, body ? caf::error{} : body.error());
  auto code = body ? std::string{"ok"} : std::string{to_string(code_of(body.error()))};
  counters.requests.record(p.operation, p.model, code, ms_since(p.arrival));
  if (p.deadline != steady_time::max())
    counters.requests.record_deadline(static_cast<bool>(body) || code_of(body.error()) != ec::deadline_exceeded);
  if (body)
    if (auto* r = std::get_if<transport::infer_response>(&*body))
      counters.requests.record_stages(p.model,
                                      transport::number_parameter(r->parameters, "queue_ms"),
                                      transport::number_parameter(r->parameters, "load_ms"),
                                      transport::number_parameter(r->parameters, "run_ms"));
}

// The model a request names, for its label (empty for operations without one).
std::string model_of(const transport::request_body& body) {
  return std::visit(
    [](const auto& r) -> std::string {
      using T = std::decay_t<decltype(r)>;
      if constexpr (std::is_same_v<T, transport::infer_request> || std::is_same_v<T, transport::model_load_request>
                    || std::is_same_v<T, transport::model_unload_request>
                    || std::is_same_v<T, transport::model_ready_request>)
        return r.model_name;
      else
        return {};
    },
    body);
}

// A little slack past a request's deadline before the gateway answers it
// itself, so that a result that is just in time still wins.
constexpr auto deadline_grace = std::chrono::milliseconds(5);

// How long the socket thread may sleep: new requests and replies wake it, so
// it only needs to wake by itself for the earliest deadline in flight (and now
// and then to see that it should stop). An idle node does not spin.
std::chrono::milliseconds poll_timeout(steady_time earliest_deadline) {
  constexpr auto longest = std::chrono::milliseconds(50);
  if (earliest_deadline == steady_time::max())
    return longest;
  auto left = earliest_deadline + deadline_grace - std::chrono::steady_clock::now();
  return std::clamp(std::chrono::ceil<std::chrono::milliseconds>(left), std::chrono::milliseconds(0), longest);
}

} // namespace

steady_time deadline_after(steady_time arrival, int64_t ms) {
  using std::chrono::milliseconds;
  if (ms <= 0)
    return arrival;
  auto room = std::chrono::duration_cast<milliseconds>(steady_time::max() - arrival);
  return ms >= room.count() ? steady_time::max() : arrival + milliseconds(ms);
}

bool best_effort(const transport::infer_request& req) {
  auto i = req.parameters.find("best_effort");
  if (i == req.parameters.end())
    return false;
  if (auto* b = std::get_if<bool>(&i->second))
    return *b;
  if (auto* n = std::get_if<int64_t>(&i->second))
    return *n != 0;
  return false;
}

caf::expected<std::unique_ptr<gateway>> gateway::start(caf::actor_system& sys, zmq::context_t& ctx,
                                                       gateway_options opts, gateway_deps deps) {
  std::unique_ptr<gateway> g{new gateway};
  g->shared_ = std::make_shared<gateway_shared>();
  auto& sh = *g->shared_;
  sh.opts = std::move(opts);
  sh.deps = std::move(deps);
  sh.ctx = &ctx;
  if (!sh.opts.curve.secret_key.empty()) {
    auto zap = transport::zap_handler::start(ctx, sh.opts.curve_allow);
    if (!zap)
      return zap.error();
    g->zap_ = std::move(*zap);
  }
  auto router = transport::router_socket::bind(ctx, sh.opts.endpoint, sh.opts.limits, sh.opts.curve,
                                               sh.opts.handshake_timeout);
  if (!router)
    return router.error();
  g->endpoint_ = router->endpoint();
  if (auto err = sh.outbox.open(ctx, "inproc://tessera-gateway-wake-"
                                         + std::to_string(reinterpret_cast<uintptr_t>(g.get()))))
    return wrap(err, "gateway");
  auto actor = spawn_gateway_actor(sys, g->shared_);
  g->actor_ = actor;
  router->set_backlog(sh.opts.backlog);
  auto router_ptr = std::make_shared<transport::router_socket>(std::move(*router));
  g->thread_ = std::thread{[shared = g->shared_, router_ptr, actor]() mutable {
    pthread_setname_np(pthread_self(), "tsr-gateway"); // shows in top -H and perf
    auto& sh = *shared;
    std::map<uint64_t, in_flight> pending;
    uint64_t pending_bytes = 0; ///< the inputs of the requests in `pending`
    uint64_t next_ticket = 1;
    auto earliest_deadline = steady_time::max(); ///< of the requests in `pending`
    uplink_shares uplink{sh.opts.uplink};
    uint64_t uplink_published = 0; ///< the computation gateway::uplink() shows
    // Every reply to a client that the uplink split counts carries its share.
    auto advice_for = [&](const transport::peer& to) {
      transport::reply_advice advice;
      if (!uplink.enabled())
        return advice;
      advice.uplink_share_bytes_per_s =
          uplink.share_of(to.routing_id, std::chrono::steady_clock::now());
      if (uplink.snapshot().computations != uplink_published) {
        uplink_published = uplink.snapshot().computations;
        std::lock_guard<std::mutex> guard{sh.uplink_mtx};
        sh.uplink_last = uplink.snapshot();
      }
      return advice;
    };
    // A reply the client's queue cannot take waits in its backlog; one that
    // cannot be delivered at all is counted and logged as dropped (decision 45).
    auto dropped = [&](const std::string& id, const std::string& reason) {
      sh.counters.replies_dropped.record(reason);
      if (sh.opts.log)
        sh.opts.log->event("warning: reply to request " + id + " dropped: " + reason);
    };
    auto sent = [&](const std::string& id, const caf::error& err) {
      if (code_of(err) == ec::unavailable)
        dropped(id, "client_gone");
      else if (code_of(err) == ec::overloaded)
        dropped(id, "backlog_full");
    };
    auto answer_error = [&](const transport::peer& to, const std::string& id,
                            const caf::error& err) {
      sent(id, router_ptr->reply_error(to, id, err, advice_for(to)));
      ++sh.counters.answered;
      ++sh.counters.errors;
    };
    // A request leaves the uplink's count before its reply takes the share.
    auto leave_uplink = [&](const in_flight& p) {
      if (p.uplink)
        uplink.finished(p.from.routing_id, std::chrono::steady_clock::now());
    };
    while (!sh.stopping.load()) {
      zmq::pollitem_t items[] = {{router_ptr->socket().handle(), 0, ZMQ_POLLIN, 0},
                                 {sh.outbox.pull().handle(), 0, ZMQ_POLLIN, 0}};
      try {
        // Replies waiting for a slow client are retried every few milliseconds.
        auto timeout = poll_timeout(earliest_deadline);
        if (router_ptr->backlogged())
          timeout = std::min(timeout, std::chrono::milliseconds(2));
        zmq::poll(items, 2, timeout);
      } catch (const zmq::error_t&) {
        continue; // EINTR
      }
      // New requests.
      for (int burst = 0; burst < 256 && (items[0].revents & ZMQ_POLLIN) != 0; ++burst) {
        auto in = router_ptr->receive(std::chrono::milliseconds(0));
        if (!in)
          break; // nothing more queued
        ++sh.counters.received;
        auto arrival = std::chrono::steady_clock::now();
        if (!in->request.value) {
          answer_error(in->from, in->request.id, in->request.value.error());
          log_answer(sh.opts.log.get(), in_flight{in->from, in->request.id, {}, "invalid", "", arrival, in->request.id},
                     in->request.value.error());
          sh.counters.requests.record("invalid", "", to_string(code_of(in->request.value.error())), 0.0);
          continue;
        }
        auto* infer = std::get_if<transport::infer_request>(&*in->request.value);
        uint64_t bytes = infer != nullptr ? input_bytes(*infer) : 0;
        if (pending.size() >= sh.opts.max_in_flight ||
            (bytes > 0 && pending_bytes + bytes > sh.opts.max_in_flight_bytes)) {
          auto refused =
              make_error(ec::overloaded, "the node has " + std::to_string(pending.size()) +
                                             " requests (" + std::to_string(pending_bytes >> 20) +
                                             " MiB of inputs) in flight, "
                                             "its limits are " +
                                             std::to_string(sh.opts.max_in_flight) + " and " +
                                             std::to_string(sh.opts.max_in_flight_bytes >> 20) +
                                             " MiB; retry later");
          in_flight p{in->from,
                      in->request.id,
                      steady_time::max(),
                      transport::to_string(transport::operation_of(*in->request.value)),
                      model_of(*in->request.value),
                      arrival,
                      in->request.id};
          answer_error(in->from, in->request.id, refused);
          record_answer(sh.counters, p, refused, sh.opts.log.get());
          continue;
        }
        auto deadline = steady_time::max();
        // A trace id unique to this gateway's life (clients number their own
        // ids from 1, so theirs repeat across clients); one a peer passed on
        // is kept, so a request keeps one trace across nodes.
        auto ticket = next_ticket++;
        std::string trace = sh.opts.node_name + "-" + std::to_string(ticket);
        bool counted = false;
        if (auto* inf = std::get_if<transport::infer_request>(&*in->request.value)) {
          auto budget = inf->deadline_ms
                            ? std::optional<double>(static_cast<double>(*inf->deadline_ms))
                            : std::nullopt;
          counted = uplink.arrived(in->from.routing_id, input_bytes(*inf), budget, inf->model_name,
                                   arrival);
          if (inf->deadline_ms && !best_effort(*inf))
            deadline = deadline_after(arrival, *inf->deadline_ms);
          // The trace id follows the request to other nodes (see remote_executor).
          auto t = inf->parameters.find("trace_id");
          if (t != inf->parameters.end() && std::holds_alternative<std::string>(t->second))
            trace = std::get<std::string>(t->second);
          else
            inf->parameters["trace_id"] = trace;
        }
        pending.emplace(ticket,
                        in_flight{in->from, in->request.id, deadline,
                                  transport::to_string(transport::operation_of(*in->request.value)),
                                  model_of(*in->request.value), arrival, trace, counted, bytes});
        pending_bytes += bytes;
        caf::anon_send(actor, run_atom::value, ticket, std::move(*in->request.value), arrival, deadline);
      }
      // Replies the actor posted.
      for (auto& r : sh.outbox.take((items[1].revents & ZMQ_POLLIN) != 0)) {
        auto p = pending.find(r.ticket);
        if (p == pending.end())
          continue; // already answered (deadline): exactly once
        // Counted before the reply leaves: a client that reads /metrics after
        // its reply finds its request there.
        record_answer(sh.counters, p->second, r.body, sh.opts.log.get());
        leave_uplink(p->second);
        if (r.body)
          if (auto* done = std::get_if<transport::infer_response>(&*r.body))
            uplink.served(p->second.model,
                          transport::number_parameter(done->parameters, "load_ms") +
                              transport::number_parameter(done->parameters, "run_ms"));
        if (r.body)
          sent(p->second.id, router_ptr->reply(p->second.from, p->second.id, *r.body,
                                               advice_for(p->second.from)));
        else
          answer_error(p->second.from, p->second.id, r.body.error());
        if (r.body)
          ++sh.counters.answered;
        pending_bytes -= p->second.bytes;
        pending.erase(p);
      }
      // Deadlines: whatever is still running is answered now; a late result is dropped.
      // The same walk finds the earliest deadline left, for the next poll.
      auto now = std::chrono::steady_clock::now();
      earliest_deadline = steady_time::max();
      for (auto p = pending.begin(); p != pending.end();) {
        if (p->second.deadline != steady_time::max() && now > p->second.deadline + deadline_grace) {
          auto expired = make_error(ec::deadline_exceeded, "the request did not finish by its deadline");
          leave_uplink(p->second);
          answer_error(p->second.from, p->second.id, expired);
          record_answer(sh.counters, p->second, expired, sh.opts.log.get());
          ++sh.counters.expired;
          pending_bytes -= p->second.bytes;
          p = pending.erase(p);
        } else {
          earliest_deadline = std::min(earliest_deadline, p->second.deadline);
          ++p;
        }
      }
      sh.counters.in_flight = pending.size();
      sh.counters.in_flight_bytes = pending_bytes;
      if (router_ptr->backlogged())
        for (const auto& d : router_ptr->flush())
          dropped(d.id, d.reason);
      sh.counters.backlog_replies = router_ptr->backlog_replies();
    }
    for (auto& [ticket, p] : pending)
      answer_error(p.from, p.id, make_error(ec::unavailable, "the node is shutting down"));
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    sh.outbox.close(); // the actor's late posts are dropped; no reader is left
  }};
  return g;
}

gateway::~gateway() {
  stop();
}

void gateway::stop() {
  if (!shared_)
    return;
  shared_->stopping = true;
  if (thread_.joinable())
    thread_.join();
}

const gateway_counters& gateway::counters() const {
  return shared_->counters;
}

uplink_snapshot gateway::uplink() const {
  std::lock_guard<std::mutex> guard{shared_->uplink_mtx};
  return shared_->uplink_last;
}

} // namespace tessera::actors

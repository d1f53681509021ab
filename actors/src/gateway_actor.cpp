// The gateway actor: validates decoded requests against the model's manifest
// and turns each operation into messages to the scheduler and executors. Every
// path ends in exactly one post() of a reply for the request's ticket.
#include "gateway_state.hpp"
#include "holdings_report.hpp"
#include "tessera/actors/bridge.hpp"
#include "tessera/actors/request_log.hpp"
#include "tessera/actors/server_status.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/input_check.hpp"
#include "tessera/core/version.hpp"
#include "tessera/store/group_store.hpp"
#include "tessera/store/store_catalog.hpp"

#include <caf/all.hpp>

#include <map>

namespace tessera::actors {

namespace {

using namespace transport;

// A peer's fetch_*: the loader answers it from the store.
template <class Reply, class Request>
void forward_fetch(self_ptr self, uint64_t ticket, const Request& req) {
  auto shared = self->state.shared;
  self->request(shared->deps.loader, ask_timeout, fetch_atom::value, req)
      .then(
          [shared, ticket](Reply& reply) { shared->post(ticket, response_body{std::move(reply)}); },
          [shared, ticket](caf::error& err) { shared->post(ticket, std::move(err)); });
}

void handle_infer(self_ptr self, uint64_t ticket, infer_request& req, steady_time arrival,
                  steady_time deadline) {
  auto& st = self->state;
  auto m = st.manifest(req.model_name, req.model_version);
  if (!m)
    return st.shared->post(ticket, m.error());
  for (const auto& name : req.outputs)
    if (std::none_of(m->outputs.begin(), m->outputs.end(), [&](const auto& o) { return o.name == name; }))
      return st.shared->post(ticket, make_error(ec::invalid_argument, "model \"" + m->name
                                                                          + "\" has no output \"" + name + "\""));
  auto inputs = st.bind_inputs(*m, req.inputs);
  if (!inputs)
    return st.shared->post(ticket, inputs.error());
  if (req.deadline_ms && *req.deadline_ms == 0)
    return st.shared->post(ticket, make_error(ec::deadline_exceeded, "deadline_ms is 0"));
  infer_job job;
  job.ticket = ticket;
  job.model = m->name;
  job.version = m->version;
  job.inputs = std::move(*inputs);
  for (const auto& in : m->inputs)
    job.input_names.push_back(in.name);
  job.outputs = req.outputs;
  job.priority = req.priority;
  job.arrival = arrival;
  job.deadline = deadline;
  job.best_effort = best_effort(req);
  if (auto t = req.parameters.find("trace_id"); t != req.parameters.end())
    if (auto* s = std::get_if<std::string>(&t->second))
      job.trace_id = *s;
  if (job.best_effort && req.deadline_ms) // it orders the queue, nothing expires it
    job.deadline = deadline_after(arrival, *req.deadline_ms);
  parameter_map report; // a coordinator's ask for this node's holdings (decision 31)
  if (auto h = req.parameters.find(holdings_parameter); h != req.parameters.end())
    report.insert(*h);
  auto shared = st.shared;
  self->request(st.shared->deps.scheduler, caf::infinite, run_atom::value, std::move(job))
      .then(
          [shared, ticket, report](infer_outcome& out) {
            infer_response r;
            r.model_name = out.model;
            r.model_version = out.version;
            for (size_t i = 0; i < out.names.size(); ++i)
              r.outputs.push_back(tensor_payload{out.names[i], std::move(out.tensors[i])});
            r.parameters["executor"] = out.executor;
            r.parameters["queue_ms"] = out.queue_ms;
            r.parameters["load_ms"] = out.load_ms;
            r.parameters["run_ms"] = out.run_ms;
            r.parameters["loaded_bytes"] = static_cast<int64_t>(out.loaded_bytes);
            if (!report.empty() && shared->deps.residency != nullptr)
              r.holdings = holdings_for(report, *shared->deps.residency);
            shared->post(ticket, response_body{std::move(r)});
          },
          [shared, ticket](caf::error& err) { shared->post(ticket, std::move(err)); });
}

// Loads where placement puts the unit: its executor, or the one placement
// picks for it now (the scheduler keeps that choice for its jobs).
void handle_load(self_ptr self, uint64_t ticket, const model_load_request& req) {
  auto& st = self->state;
  auto m = st.manifest(req.model_name, req.model_version);
  if (!m)
    return st.shared->post(ticket, m.error());
  if (st.shared->deps.executors.empty())
    return st.shared->post(ticket, make_error(ec::unavailable, "this node has no executor"));
  auto shared = st.shared;
  self->request(st.shared->deps.scheduler, ask_timeout, load_atom::value, m->name, m->version)
      .then(
          [shared, ticket](load_outcome& out) {
            model_load_response r;
            r.model_name = out.model;
            r.model_version = out.version;
            r.loaded_bytes = out.loaded_bytes;
            r.reused_bytes = out.reused_bytes;
            shared->post(ticket, response_body{std::move(r)});
          },
          [shared, ticket](caf::error& err) { shared->post(ticket, std::move(err)); });
}

void handle_unload(self_ptr self, uint64_t ticket, const model_unload_request& req) {
  auto& st = self->state;
  auto m = st.manifest(req.model_name, req.model_version);
  if (!m)
    return st.shared->post(ticket, m.error());
  auto shared = st.shared;
  auto left = std::make_shared<size_t>(st.shared->deps.executors.size());
  model_unload_response r{m->name, m->version};
  if (*left == 0)
    return shared->post(ticket, response_body{r});
  for (auto& e : st.shared->deps.executors)
    self->request(e, ask_timeout, unload_atom::value, m->name, m->version)
      .then([shared, ticket, left, r](bool) {
              if (--*left == 0)
                shared->post(ticket, response_body{r});
            },
            [shared, ticket, left, r](caf::error& err) {
              if (*left == 0)
                return;
              // A peer that is down holds nothing to unload.
              if (code_of(err) == ec::unavailable) {
                if (--*left == 0)
                  shared->post(ticket, response_body{r});
                return;
              }
              *left = 0;
              shared->post(ticket, std::move(err));
            });
}

bool is_loaded(const std::vector<executor_state>& states, const std::string& key) {
  for (const auto& s : states)
    if (std::find(s.loaded.begin(), s.loaded.end(), key) != s.loaded.end())
      return true;
  return false;
}

// Runs `then` with what the peers' executors hold: each remote executor is
// asked (a peer that does not answer holds nothing). This node's own
// executors are never asked: they publish their states (one that is loading
// answers nothing until its load ends).
template <class Then>
void with_remote_states(self_ptr self, Then then) {
  const auto& deps = self->state.shared->deps;
  auto first_remote = std::min(deps.local_executors, deps.executors.size());
  std::vector<executor_actor> remote(
      deps.executors.begin() + static_cast<std::ptrdiff_t>(first_remote), deps.executors.end());
  if (remote.empty())
    return then(std::vector<executor_state>{});
  struct gathering {
    std::vector<executor_state> states;
    size_t left = 0;
  };
  auto g = std::make_shared<gathering>();
  g->left = remote.size();
  auto done = [g, then] {
    if (--g->left == 0)
      then(std::move(g->states));
  };
  for (const auto& e : remote)
    self->request(e, ask_timeout, status_atom::value)
        .then(
            [g, done](executor_state& s) {
              g->states.push_back(std::move(s));
              done();
            },
            [done](caf::error&) { done(); });
}

// Operations answered from every executor's state (status): this node's as
// they published them, then the peers'.
template <class Respond>
void with_executor_states(self_ptr self, uint64_t ticket, Respond respond) {
  auto shared = self->state.shared;
  with_remote_states(self, [shared, ticket, respond](std::vector<executor_state> remote) {
    auto all =
        shared->deps.board != nullptr ? shared->deps.board->all() : std::vector<executor_state>{};
    all.insert(all.end(), remote.begin(), remote.end());
    shared->post(ticket, respond(all));
  });
}

// Operations answered from the units' lifecycle states (ready, index): this
// node's as its executors publish them, and ready where a peer holds the unit.
template <class Respond>
void with_unit_states(self_ptr self, uint64_t ticket, Respond respond) {
  auto shared = self->state.shared;
  with_remote_states(self, [shared, ticket, respond](std::vector<executor_state> remote) {
    const auto* states = shared->deps.states;
    shared->post(ticket, respond([&](const std::string& key) {
                   auto s = states != nullptr ? states->of(key) : unit_state{};
                   if (s.state != model_state::ready && is_loaded(remote, key))
                     s = unit_state{model_state::ready, {}};
                   return s;
                 }));
  });
}

void handle_other(self_ptr self, uint64_t ticket, request_body& body) {
  auto& st = self->state;
  auto shared = st.shared;
  if (auto* ready = std::get_if<model_ready_request>(&body)) {
    auto m = st.manifest(ready->model_name, ready->model_version);
    if (!m)
      return shared->post(ticket, m.error());
    auto key = model_ref(*m);
    auto r = model_ready_response{m->name, m->version, false};
    return with_unit_states(self, ticket, [r, key](auto state_of) {
      auto out = r;
      auto s = state_of(key);
      out.ready = s.state == model_state::ready;
      out.state = to_string(s.state);
      out.reason = s.reason;
      return caf::expected<response_body>{response_body{out}};
    });
  }
  if (auto* index = std::get_if<repository_index_request>(&body)) {
    auto models = st.catalog->list_latest();
    bool ready_only = index->ready_only;
    return with_unit_states(self, ticket, [models, ready_only](auto state_of) {
      repository_index_response r;
      for (const auto& m : models) {
        auto s = state_of(model_ref(m));
        if (ready_only && s.state != model_state::ready)
          continue;
        r.models.push_back(model_index_entry{m.name, m.version, to_string(s.state), s.reason});
      }
      return caf::expected<response_body>{response_body{std::move(r)}};
    });
  }
  if (std::holds_alternative<server_status_request>(body)) {
    auto respond = [shared](uint64_t queued, const std::vector<executor_state>& states) {
      server_status_response r;
      r.node_name = shared->opts.node_name;
      r.uptime_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - shared->started)
                                            .count());
      r.requests_in_flight = shared->counters.in_flight.load();
      r.requests_served = shared->counters.answered.load();
      r.requests_queued = queued;
      r.nodes.push_back(node_entry{shared->opts.node_name, "up"});
      if (shared->deps.peers != nullptr)
        for (const auto& p : shared->deps.peers->peers())
          r.nodes.push_back(node_entry{p.endpoint, p.up ? "up" : "down"});
      auto s = shared->deps.residency->stats();
      r.devices.push_back(device_entry{shared->opts.node_name + "/" + shared->opts.device,
                                       s.device.used_bytes, s.device.budget_bytes});
      for (const auto& e : states)
        r.executors.push_back(executor_entry_of(e));
      if (shared->deps.host_memory != nullptr)
        r.host_memory = host_memory_entry_of(shared->deps.host_memory->stats());
      return caf::expected<response_body>{response_body{std::move(r)}};
    };
    // The queue's length first, then the executors' states (for `tessera top`).
    self->request(shared->deps.scheduler, ask_timeout, status_atom::value, queue_atom::value)
      .then(
        [self, ticket, respond](uint64_t queued) {
          with_executor_states(self, ticket,
                               [respond, queued](const auto& states) { return respond(queued, states); });
        },
        [shared, ticket](caf::error& err) { shared->post(ticket, std::move(err)); });
    return;
  }
  if (auto* health = std::get_if<health_request>(&body)) {
    (void) health;
    // Ready: an executor of its own, or a peer that is up. A coordinator's
    // remote executors are listed whether their peers are up or not.
    auto peers =
        shared->deps.peers != nullptr ? shared->deps.peers->peers() : std::vector<peer_status>{};
    bool ready = shared->deps.executors.size() > peers.size() ||
                 std::any_of(peers.begin(), peers.end(), [](const peer_status& p) { return p.up; });
    return shared->post(ticket, response_body{health_response{true, ready}});
  }
  if (auto* meta = std::get_if<metadata_request>(&body)) {
    metadata_response r;
    if (!meta->model_name) {
      r.name = "tessera";
      r.version = tessera::version();
      r.extensions = {"model_repository", "fused_groups", "deadlines"};
      return shared->post(ticket, response_body{std::move(r)});
    }
    auto m = st.manifest(*meta->model_name, meta->model_version);
    if (!m)
      return shared->post(ticket, m.error());
    r.name = m->name;
    for (auto v : st.catalog->versions(m->name))
      r.versions.push_back(std::to_string(v));
    r.platform = "tessera_blocks";
    for (const auto& in : m->inputs)
      r.inputs.push_back(tensor_metadata{in.name, in.spec});
    for (const auto& out : m->outputs)
      r.outputs.push_back(tensor_metadata{out.name, out.spec});
    return shared->post(ticket, response_body{std::move(r)});
  }
  shared->post(ticket, make_error(ec::unsupported, std::string{"operation \""}
                                                     + to_string(operation_of(body))
                                                     + "\" is not served by this node yet"));
}

caf::behavior gateway_impl(self_ptr self, std::shared_ptr<gateway_shared> shared) {
  self->state.shared = std::move(shared);
  const auto& deps = self->state.shared->deps;
  self->state.catalog = deps.catalog ? deps.catalog : store::read_catalog(*deps.store);
  if (deps.registry)
    self->send(deps.registry, subscribe_atom::value, caf::actor_cast<caf::actor>(self));
  return {
      [self](run_atom, uint64_t ticket, request_body& body, steady_time arrival,
             steady_time deadline) {
        if (auto* inf = std::get_if<infer_request>(&body)) {
          auto req = std::make_shared<infer_request>(std::move(*inf));
          return with_model_complete(self, ticket, req->model_name, req->model_version, [=] {
            with_known(self, ticket, req->model_name, req->model_version,
                       [=] { handle_infer(self, ticket, *req, arrival, deadline); });
          });
        }
        if (auto* load = std::get_if<model_load_request>(&body))
          return with_model_complete(
              self, ticket, load->model_name, load->model_version, [self, ticket, req = *load] {
                with_known(self, ticket, req.model_name, req.model_version,
                           [self, ticket, req] { handle_load(self, ticket, req); });
              });
        if (auto* fetch = std::get_if<fetch_blob_request>(&body))
          return forward_fetch<fetch_blob_response>(self, ticket, *fetch);
        if (auto* fetch = std::get_if<fetch_skeleton_request>(&body))
          return forward_fetch<fetch_skeleton_response>(self, ticket, *fetch);
        if (auto* fetch = std::get_if<fetch_manifest_request>(&body))
          return forward_fetch<fetch_manifest_response>(self, ticket, *fetch);
        if (auto* unload = std::get_if<model_unload_request>(&body))
          return with_known(self, ticket, unload->model_name, unload->model_version,
                            [self, ticket, req = *unload] { handle_unload(self, ticket, req); });
        if (auto* fuse = std::get_if<fuse_request>(&body)) {
          std::vector<std::pair<std::string, std::optional<int64_t>>> refs;
          for (const auto& ref : fuse->models)
            if (auto r = parse_ref(ref))
              refs.push_back(*r);
          return with_known(self, ticket, std::move(refs),
                            [self, ticket, req = *fuse] { handle_fuse(self, ticket, req); });
        }
        // ready and metadata name a model: the rest of the request waits with it.
        auto known_then_other = [self, ticket, &body](std::string model,
                                                      std::optional<int64_t> version) {
          auto b = std::make_shared<request_body>(std::move(body));
          with_known(self, ticket, model, version,
                     [self, ticket, b] { handle_other(self, ticket, *b); });
        };
        if (auto* ready = std::get_if<model_ready_request>(&body))
          return known_then_other(ready->model_name, ready->model_version);
        if (auto* meta = std::get_if<metadata_request>(&body); meta && meta->model_name)
          return known_then_other(*meta->model_name, meta->model_version);
        handle_other(self, ticket, body);
      },
      [self](catalog_atom, catalog_ptr& c) { self->state.catalog = std::move(c); },
      [self](peer_atom, uint32_t peer, bool up) {
        if (up)
          define_on_returning_peer(self, peer);
      },
  };
}

} // namespace

caf::actor spawn_gateway_actor(caf::actor_system& sys, std::shared_ptr<gateway_shared> shared) {
  return sys.spawn(gateway_impl, std::move(shared));
}

} // namespace tessera::actors

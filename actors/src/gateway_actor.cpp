// The gateway actor: validates decoded requests against the model's manifest
// and turns each operation into messages to the scheduler and executors. Every
// path ends in exactly one post() of a reply for the request's ticket.
#include "gateway_shared.hpp"
#include "holdings_report.hpp"
#include "tessera/actors/bridge.hpp"
#include "tessera/actors/request_log.hpp"
#include "tessera/actors/server_status.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/input_check.hpp"
#include "tessera/store/group_store.hpp"

#include <caf/all.hpp>

#include <map>
#include <mutex>

namespace tessera::actors {

namespace {

using namespace transport;

constexpr auto manifest_ttl = std::chrono::seconds(2);
constexpr auto ask_timeout = std::chrono::seconds(60);

struct gateway_data {
  std::shared_ptr<gateway_shared> shared;
  struct cached {
    model_manifest manifest;
    steady_time fetched;
  };
  std::map<std::pair<std::string, uint32_t>, cached> manifests;
  /// When the loader last found each model complete in the store.
  std::map<std::pair<std::string, uint32_t>, steady_time> complete;

  static inline const char* name = "gateway";

  caf::expected<model_manifest> manifest(const std::string& model, std::optional<int64_t> version) {
    if (version && (*version < 0 || *version > UINT32_MAX))
      return make_error(ec::invalid_argument, "model_version " + std::to_string(*version) + " is out of range");
    auto key = std::make_pair(model, static_cast<uint32_t>(version.value_or(0)));
    auto now = std::chrono::steady_clock::now();
    if (auto i = manifests.find(key); i != manifests.end() && now - i->second.fetched < manifest_ttl)
      return i->second.manifest;
    auto m = shared->deps.store->manifests().get(key.first, key.second);
    if (!m && code_of(m.error()) == ec::unknown_model)
      m = group_dag(m.error(), model); // a fused group answers as its DAG
    if (!m)
      return m.error();
    manifests[key] = cached{*m, now};
    return m;
  }

  // A fused group is addressed like a model: its fused DAG has the group
  // inputs and "member/output" outputs (docs/fusion.md, "Serving").
  caf::expected<model_manifest> group_dag(caf::error not_model, const std::string& name) {
    const auto& store = *shared->deps.store;
    auto def = store::group_store{store.root()}.get(name);
    if (!def)
      return not_model;
    auto plan = store::plan_group(store, *def);
    if (!plan)
      return plan.error();
    return std::move(plan->dag);
  }

  // Puts the request's named inputs in manifest order and checks them.
  caf::expected<std::vector<tensor_buffer>> bind_inputs(const model_manifest& m,
                                                        std::vector<tensor_payload>& given) {
    std::vector<tensor_buffer> out;
    for (const auto& in : m.inputs) {
      auto i = std::find_if(given.begin(), given.end(), [&](const auto& t) { return t.name == in.name; });
      if (i == given.end())
        return make_error(ec::missing_input, "model \"" + m.name + "\" needs input \"" + in.name + "\"");
      out.push_back(std::move(i->tensor));
    }
    for (const auto& t : given)
      if (std::none_of(m.inputs.begin(), m.inputs.end(), [&](const auto& in) { return in.name == t.name; }))
        return make_error(ec::invalid_argument, "model \"" + m.name + "\" has no input \"" + t.name + "\"");
    if (auto err = check_model_inputs(m, out))
      return err;
    return out;
  }
};

using self_ptr = caf::stateful_actor<gateway_data>*;

// Runs `then` once the model's parts are in the store: at once when the node
// fetches from no peers or the loader found it complete lately, else after
// the loader fetched what was missing (docs/cluster.md, "Peer fetch").
template <class Then>
void with_model_complete(self_ptr self, uint64_t ticket, const std::string& model,
                         std::optional<int64_t> version, Then then) {
  auto& st = self->state;
  if (!st.shared->deps.fetch_from_peers || (version && (*version < 0 || *version > UINT32_MAX)))
    return then(); // the manifest lookup answers a bad version
  auto key = std::make_pair(model, static_cast<uint32_t>(version.value_or(0)));
  auto now = std::chrono::steady_clock::now();
  if (auto i = st.complete.find(key); i != st.complete.end() && now - i->second < manifest_ttl)
    return then();
  auto shared = st.shared;
  self->request(shared->deps.loader, ask_timeout, ensure_atom::value, key.first, key.second)
      .then(
          [self, key, then](bool) {
            self->state.complete[key] = std::chrono::steady_clock::now();
            then();
          },
          [shared, ticket](caf::error& err) { shared->post(ticket, std::move(err)); });
}

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

void handle_load(self_ptr self, uint64_t ticket, const model_load_request& req) {
  auto& st = self->state;
  auto m = st.manifest(req.model_name, req.model_version);
  if (!m)
    return st.shared->post(ticket, m.error());
  if (st.shared->deps.executors.empty())
    return st.shared->post(ticket, make_error(ec::unavailable, "this node has no executor"));
  auto shared = st.shared;
  self->request(st.shared->deps.executors.front(), ask_timeout, load_atom::value, m->name, m->version)
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

// Each node reads group definitions from its own store, so a group defined
// through one node is defined on its peers too, pinned to the same versions,
// before the client hears back (decision 25). The reply waits for every peer
// and names those that could not define it (down, or lacking a member at that
// version); the definitions made stay, and defining again is idempotent.
void define_on_peers(bridge& net, const group_definition& def, fuse_response done, uint64_t ticket,
                     std::shared_ptr<gateway_shared> shared) {
  struct gathering {
    std::mutex mtx;
    fuse_response reply;
    size_t left = 0;
  };
  auto peers = net.peers();
  if (peers.empty())
    return shared->post(ticket, response_body{std::move(done)});
  auto g = std::make_shared<gathering>();
  g->reply = std::move(done);
  g->left = peers.size();
  for (size_t p = 0; p < peers.size(); ++p) {
    fuse_request forward{def.name, def.models, true};
    net.send(p, std::move(forward),
             [g, shared, ticket, peer = peers[p].endpoint](caf::expected<response_body> r) {
               std::lock_guard<std::mutex> guard{g->mtx};
               if (!r)
                 g->reply.not_defined_on.push_back(peer + ": " + describe(r.error()));
               else if (!std::holds_alternative<fuse_response>(*r))
                 g->reply.not_defined_on.push_back(peer + ": an unexpected reply");
               if (--g->left == 0)
                 shared->post(ticket, response_body{std::move(g->reply)});
             });
  }
}

// A peer that came up (for the first time, or back after being down) missed
// the groups defined while it was away: define every stored group on it again,
// local only (decision 25). Defining again is idempotent; a peer that cannot
// (it lacks a member, say) is named in the log.
void define_on_returning_peer(self_ptr self, uint32_t peer) {
  auto shared = self->state.shared;
  auto* net = shared->deps.peers;
  if (net == nullptr || peer >= net->peers().size())
    return;
  auto endpoint = net->peers()[peer].endpoint;
  for (const auto& def : store::group_store{shared->deps.store->root()}.list())
    net->send(peer, fuse_request{def.name, def.models, true},
              [shared, endpoint, name = def.name](caf::expected<response_body> r) {
                if (r && std::holds_alternative<fuse_response>(*r))
                  return;
                if (auto& log = shared->opts.log)
                  log->event("group \"" + name + "\" is not defined on peer " + endpoint + ": " +
                             (r ? std::string{"an unexpected reply"} : describe(r.error())));
              });
}

// Defines a fused group: members pinned at their current versions, the plan
// checked (inputs that cannot be bound together are refused), then stored,
// here and on the peers.
void handle_fuse(self_ptr self, uint64_t ticket, const fuse_request& req) {
  auto& st = self->state;
  const auto& store = *st.shared->deps.store;
  if (auto err = store::check_model_name(req.group_name))
    return st.shared->post(ticket, wrap(err, "group_name"));
  group_definition def;
  def.name = req.group_name;
  for (const auto& ref : req.models) {
    auto colon = ref.rfind(':');
    std::optional<int64_t> version;
    std::string name = ref;
    if (colon != std::string::npos) {
      name = ref.substr(0, colon);
      try {
        version = std::stoll(ref.substr(colon + 1));
      } catch (const std::exception&) {
        return st.shared->post(ticket, make_error(ec::invalid_argument, "models: \"" + ref
                                                                          + "\" has no valid version"));
      }
    }
    auto m = st.manifest(name, version);
    if (!m)
      return st.shared->post(ticket, wrap(m.error(), "group \"" + req.group_name + "\""));
    def.models.push_back(model_ref(*m));
  }
  auto plan = store::plan_group(store, def);
  if (!plan)
    return st.shared->post(ticket, plan.error());
  def.models.clear();
  for (const auto& member : plan->members)
    def.models.push_back(member.model);
  store::group_store groups{store.root()};
  // A taken name is refused for that before the count is: it is the cause.
  if (auto err = groups.check_definable(def))
    return st.shared->post(ticket, err);
  auto defined = groups.list();
  bool taken = std::any_of(defined.begin(), defined.end(),
                           [&](const auto& g) { return g.name == def.name; });
  if (!taken && defined.size() >= st.shared->opts.max_groups)
    return st.shared->post(
        ticket,
        make_error(ec::out_of_memory, "the store defines " + std::to_string(defined.size()) +
                                          " groups, the most max_groups allows; remove one first "
                                          "(tessera fuse --remove NAME)"));
  if (auto err = groups.define(def))
    return st.shared->post(ticket, err);
  fuse_response done{def.name, def.models, plan->merged.size(), {}};
  auto* net = st.shared->deps.peers;
  if (req.local_only || net == nullptr)
    return st.shared->post(ticket, response_body{std::move(done)});
  define_on_peers(*net, def, std::move(done), ticket, st.shared);
}

// Operations answered from the executors' states: ready, index and status.
template <class Respond>
void with_executor_states(self_ptr self, uint64_t ticket, Respond respond) {
  auto shared = self->state.shared;
  self->request(shared->deps.scheduler, ask_timeout, status_atom::value)
    .then([shared, ticket, respond](std::vector<executor_state>& states) {
            shared->post(ticket, respond(states));
          },
          [shared, ticket](caf::error& err) { shared->post(ticket, std::move(err)); });
}

bool is_loaded(const std::vector<executor_state>& states, const std::string& key) {
  for (const auto& s : states)
    if (std::find(s.loaded.begin(), s.loaded.end(), key) != s.loaded.end())
      return true;
  return false;
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
    return with_executor_states(self, ticket, [r, key](const auto& states) {
      auto out = r;
      out.ready = is_loaded(states, key);
      return caf::expected<response_body>{response_body{out}};
    });
  }
  if (auto* index = std::get_if<repository_index_request>(&body)) {
    auto models = shared->deps.store->manifests().list_latest();
    bool ready_only = index->ready_only;
    return with_executor_states(self, ticket, [models, ready_only](const auto& states) {
      repository_index_response r;
      for (const auto& m : models) {
        bool ready = is_loaded(states, model_ref(m));
        if (ready_only && !ready)
          continue;
        r.models.push_back(model_index_entry{m.name, m.version, ready ? "ready" : "unloaded", ""});
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
      r.devices.push_back(device_entry{shared->opts.node_name + "/cpu", s.device.used_bytes,
                                       s.device.budget_bytes});
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
      r.version = "0.1.0";
      r.extensions = {"model_repository", "fused_groups", "deadlines"};
      return shared->post(ticket, response_body{std::move(r)});
    }
    auto m = st.manifest(*meta->model_name, meta->model_version);
    if (!m)
      return shared->post(ticket, m.error());
    r.name = m->name;
    for (auto v : shared->deps.store->manifests().versions(m->name))
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
  return {
      [self](run_atom, uint64_t ticket, request_body& body, steady_time arrival,
             steady_time deadline) {
        if (auto* inf = std::get_if<infer_request>(&body)) {
          auto req = std::make_shared<infer_request>(std::move(*inf));
          return with_model_complete(self, ticket, req->model_name, req->model_version,
                                     [=] { handle_infer(self, ticket, *req, arrival, deadline); });
        }
        if (auto* load = std::get_if<model_load_request>(&body))
          return with_model_complete(
              self, ticket, load->model_name, load->model_version,
              [self, ticket, req = *load] { handle_load(self, ticket, req); });
        if (auto* fetch = std::get_if<fetch_blob_request>(&body))
          return forward_fetch<fetch_blob_response>(self, ticket, *fetch);
        if (auto* fetch = std::get_if<fetch_skeleton_request>(&body))
          return forward_fetch<fetch_skeleton_response>(self, ticket, *fetch);
        if (auto* fetch = std::get_if<fetch_manifest_request>(&body))
          return forward_fetch<fetch_manifest_response>(self, ticket, *fetch);
        if (auto* unload = std::get_if<model_unload_request>(&body))
          return handle_unload(self, ticket, *unload);
        if (auto* fuse = std::get_if<fuse_request>(&body))
          return handle_fuse(self, ticket, *fuse);
        handle_other(self, ticket, body);
      },
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

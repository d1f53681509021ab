// Fused groups through the gateway: a client's fuse, planned over the
// catalogue and stored by the registry, then defined on the peers
// (decision 25); a peer that comes back gets every group again.
#include "gateway_state.hpp"
#include "tessera/actors/bridge.hpp"
#include "tessera/actors/request_log.hpp"
#include "tessera/store/group_store.hpp"

#include <mutex>

namespace tessera::actors {

using namespace transport;

namespace {

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

} // namespace

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
  for (const auto& def : self->state.catalog->group_list())
    net->send(peer, fuse_request{def.name, def.models, true},
              [shared, endpoint, name = def.name](caf::expected<response_body> r) {
                if (r && std::holds_alternative<fuse_response>(*r))
                  return;
                if (auto& log = shared->opts.log)
                  log->event("group \"" + name + "\" is not defined on peer " + endpoint + ": " +
                             (r ? std::string{"an unexpected reply"} : describe(r.error())));
              });
}

// A fuse request's member: "name" or "name:version".
caf::expected<std::pair<std::string, std::optional<int64_t>>> parse_ref(const std::string& ref) {
  auto colon = ref.rfind(':');
  if (colon == std::string::npos)
    return std::make_pair(ref, std::optional<int64_t>{});
  try {
    return std::make_pair(ref.substr(0, colon),
                          std::optional<int64_t>{std::stoll(ref.substr(colon + 1))});
  } catch (const std::exception&) {
    return make_error(ec::invalid_argument, "models: \"" + ref + "\" has no valid version");
  }
}

// Defines a fused group: members pinned at their current versions, the plan
// checked (inputs that cannot be bound together are refused), then stored,
// here and on the peers.
void handle_fuse(self_ptr self, uint64_t ticket, const fuse_request& req) {
  auto& st = self->state;
  if (auto err = store::check_model_name(req.group_name))
    return st.shared->post(ticket, wrap(err, "group_name"));
  group_definition def;
  def.name = req.group_name;
  for (const auto& ref : req.models) {
    auto parsed = parse_ref(ref);
    if (!parsed)
      return st.shared->post(ticket, parsed.error());
    const auto& [name, version] = *parsed;
    auto m = st.manifest(name, version);
    if (!m)
      return st.shared->post(ticket, wrap(m.error(), "group \"" + req.group_name + "\""));
    def.models.push_back(model_ref(*m));
  }
  auto plan = store::plan_group(*st.catalog, def);
  if (!plan)
    return st.shared->post(ticket, plan.error());
  def.models.clear();
  for (const auto& member : plan->members)
    def.models.push_back(member.model);
  fuse_response done{def.name, def.models, plan->merged.size(), {}};
  auto shared = st.shared;
  bool local_only = req.local_only;
  // The registry stores it and sends it to the executors before it answers.
  self->request(shared->deps.registry, ask_timeout, define_atom::value, def)
      .then(
          [self, shared, ticket, def, done, local_only](catalog_ptr& c) mutable {
            self->state.catalog = std::move(c);
            auto* net = shared->deps.peers;
            if (local_only || net == nullptr)
              return shared->post(ticket, response_body{std::move(done)});
            define_on_peers(*net, def, std::move(done), ticket, shared);
          },
          [shared, ticket](caf::error& err) { shared->post(ticket, std::move(err)); });
}

} // namespace tessera::actors

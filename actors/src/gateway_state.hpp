// The gateway actor's state and the steps its handlers share: the
// catalogue it looks models up in, and waiting for a model to be complete in
// the store, or known to the catalogue, before a handler runs.
// gateway_actor.cpp handles requests; gateway_groups.cpp defines groups.
#pragma once

#include "gateway_shared.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/input_check.hpp"
#include "tessera/store/store_catalog.hpp"

#include <caf/all.hpp>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tessera::actors {

constexpr auto ask_timeout = std::chrono::seconds(60);
/// How long the loader's word that a model is complete in the store holds.
constexpr auto complete_ttl = std::chrono::seconds(2);

struct gateway_data {
  std::shared_ptr<gateway_shared> shared;
  /// The registry's newest catalogue: every lookup is in memory.
  catalog_ptr catalog;
  /// When the loader last found each model complete in the store.
  std::map<std::pair<std::string, uint32_t>, steady_time> complete;

  static inline const char* name = "gateway";

  caf::expected<model_manifest> manifest(const std::string& model, std::optional<int64_t> version) {
    if (version && (*version < 0 || *version > UINT32_MAX))
      return make_error(ec::invalid_argument,
                        "model_version " + std::to_string(*version) + " is out of range");
    auto m = catalog->get(model, static_cast<uint32_t>(version.value_or(0)));
    if (!m && code_of(m.error()) == ec::unknown_model)
      return group_dag(m.error(), model); // a fused group answers as its DAG
    return m;
  }

  // A fused group is addressed like a model: its fused DAG has the group
  // inputs and "member/output" outputs (docs/fusion.md, "Serving").
  caf::expected<model_manifest> group_dag(caf::error not_model, const std::string& name) {
    if (catalog->group(name) == nullptr)
      return not_model;
    auto plan = catalog->plan(name);
    if (!plan)
      return plan.error();
    return (*plan)->dag;
  }

  // Whether the catalogue knows `model` at `version` (a model, or a group):
  // the version the catalogue's lookup would find.
  bool knows(const std::string& model, std::optional<int64_t> version) const {
    if (catalog->group(model) != nullptr)
      return true;
    if (version && (*version < 0 || *version > UINT32_MAX))
      return true; // nothing to look for: manifest() answers the bad version
    return bool(store::pick_version(model, catalog->versions(model),
                                    static_cast<uint32_t>(version.value_or(0))));
  }

  // Puts the request's named inputs in manifest order and checks them.
  caf::expected<std::vector<tensor_buffer>>
  bind_inputs(const model_manifest& m, std::vector<transport::tensor_payload>& given) {
    std::vector<tensor_buffer> out;
    for (const auto& in : m.inputs) {
      auto i = std::find_if(given.begin(), given.end(),
                            [&](const auto& t) { return t.name == in.name; });
      if (i == given.end())
        return make_error(ec::missing_input,
                          "model \"" + m.name + "\" needs input \"" + in.name + "\"");
      out.push_back(std::move(i->tensor));
    }
    for (const auto& t : given)
      if (std::none_of(m.inputs.begin(), m.inputs.end(),
                       [&](const auto& in) { return in.name == t.name; }))
        return make_error(ec::invalid_argument,
                          "model \"" + m.name + "\" has no input \"" + t.name + "\"");
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
  if (auto i = st.complete.find(key); i != st.complete.end() && now - i->second < complete_ttl)
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

// Runs `then` once the catalogue knows every name of `refs` (model, version),
// or the registry, asked to read each name it lacks again, found it absent:
// a model imported a moment ago is served, not refused while the store's
// event is on its way. `then` then answers an unknown name.
template <class Then>
void with_known(self_ptr self, uint64_t ticket,
                std::vector<std::pair<std::string, std::optional<int64_t>>> refs, Then then) {
  auto& st = self->state;
  auto missing = std::find_if(refs.begin(), refs.end(),
                              [&](const auto& r) { return !st.knows(r.first, r.second); });
  if (missing == refs.end() || !st.shared->deps.registry)
    return then();
  auto name = missing->first;
  refs.erase(refs.begin(), missing + 1);
  auto shared = st.shared;
  self->request(shared->deps.registry, ask_timeout, lookup_atom::value, name)
      .then(
          [self, ticket, refs, then](catalog_ptr& c) {
            self->state.catalog = std::move(c);
            with_known(self, ticket, refs, then);
          },
          [shared, ticket](caf::error& err) { shared->post(ticket, std::move(err)); });
}

// with_known() of one model.
template <class Then>
void with_known(self_ptr self, uint64_t ticket, const std::string& model,
                std::optional<int64_t> version, Then then) {
  with_known(self, ticket, {{model, version}}, std::move(then));
}

/// Defines a fused group a client asked for (gateway_groups.cpp).
void handle_fuse(self_ptr self, uint64_t ticket, const transport::fuse_request& req);

/// Defines every group of the catalogue again on a peer that came up.
void define_on_returning_peer(self_ptr self, uint32_t peer);

/// A fuse request's member: "name" or "name:version".
caf::expected<std::pair<std::string, std::optional<int64_t>>> parse_ref(const std::string& ref);

} // namespace tessera::actors

#include "tessera/actors/registry.hpp"

#include "tessera/core/error.hpp"
#include "tessera/store/catalog_watch.hpp"
#include "tessera/store/group_store.hpp"

#include <caf/all.hpp>

#include <algorithm>

namespace tessera::actors {

namespace {

struct registry_state {
  const store::block_store* store = nullptr;
  registry_options opts;
  catalog_ptr catalog;
  std::vector<caf::actor_addr> subscribers;
  std::unique_ptr<store::catalog_watch> watch;

  static inline const char* name = "registry";

  // Keeps `next` and sends it to every subscriber, when it differs.
  void publish(std::shared_ptr<store::store_catalog> next) {
    if (next->same_as(*catalog))
      return;
    catalog = std::move(next);
    subscribers.erase(std::remove_if(subscribers.begin(), subscribers.end(),
                                     [this](const caf::actor_addr& a) {
                                       auto to = caf::actor_cast<caf::actor>(a);
                                       if (!to)
                                         return true;
                                       caf::anon_send(to, catalog_atom::value, catalog);
                                       return false;
                                     }),
                      subscribers.end());
  }

  // Whether the store or the catalogue knows anything by `name`: otherwise
  // a lookup (of a name a client made up, say) copies nothing.
  bool anything_named(const std::string& name) const {
    if (store::check_model_name(name))
      return false;
    if (catalog->models.count(name) != 0 || catalog->groups.count(name) != 0 ||
        !store->manifests().versions(name).empty())
      return true;
    auto group = store::group_store{store->root()}.get(name);
    return group || code_of(group.error()) != ec::unknown_model;
  }

  caf::error define(const group_definition& def) {
    store::group_store groups{store->root()};
    // A taken name is refused for that before the count is: it is the cause.
    if (auto err = groups.check_definable(def))
      return err;
    auto defined = groups.list();
    bool taken = std::any_of(defined.begin(), defined.end(),
                             [&](const auto& g) { return g.name == def.name; });
    if (!taken && defined.size() >= opts.max_groups)
      return make_error(ec::out_of_memory,
                        "the store defines " + std::to_string(defined.size()) +
                            " groups, the most max_groups allows; remove one first "
                            "(tessera fuse --remove NAME)");
    if (auto err = groups.define(def))
      return err;
    publish(store::reread_groups(*catalog, *store));
    return {};
  }
};

caf::behavior registry_impl(caf::stateful_actor<registry_state>* self,
                            const store::block_store* store, catalog_ptr first,
                            registry_options opts) {
  auto& st = self->state;
  st.store = store;
  st.opts = opts;
  st.catalog = first ? std::move(first) : store::read_catalog(*store);
  auto addr = caf::actor_cast<caf::actor_addr>(self);
  st.watch = std::make_unique<store::catalog_watch>(store->root(), [addr] {
    if (auto to = caf::actor_cast<caf::actor>(addr))
      caf::anon_send(to, refresh_atom::value);
  });
  if (!st.watch->watching())
    self->delayed_send(self, opts.rescan, refresh_atom::value);
  return {
      [self](subscribe_atom, caf::actor who) {
        auto& st = self->state;
        st.subscribers.push_back(caf::actor_cast<caf::actor_addr>(who));
        self->send(who, catalog_atom::value, st.catalog);
      },
      [self](catalog_atom) { return self->state.catalog; },
      [self](lookup_atom, const std::string& name) {
        auto& st = self->state;
        if (st.anything_named(name))
          st.publish(store::reread_name(*st.catalog, *st.store, name));
        return st.catalog;
      },
      [self](define_atom, const group_definition& def) -> caf::result<catalog_ptr> {
        auto& st = self->state;
        if (auto err = st.define(def))
          return err;
        return st.catalog;
      },
      [self](refresh_atom) {
        auto& st = self->state;
        st.publish(store::read_catalog(*st.store));
        if (!st.watch->watching())
          self->delayed_send(self, st.opts.rescan, refresh_atom::value);
      },
  };
}

} // namespace

caf::actor spawn_registry(caf::actor_system& sys, const store::block_store& store,
                          catalog_ptr first, registry_options opts) {
  return sys.spawn<caf::detached>(registry_impl, &store, std::move(first), opts);
}

} // namespace tessera::actors

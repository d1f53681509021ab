// `tessera models rm NAME[:VERSION]`: removes a model's manifests (every
// version, or one) and then the blobs and skeletons that only it used. It
// refuses while a fused group names the model, or while a node serving from
// this store holds it (or does not answer), and says which.
#include "commands.hpp"

#include "client_options.hpp"
#include "tessera/core/error.hpp"
#include "tessera/store/group_store.hpp"
#include "tessera/store/serving_record.hpp"
#include "tessera/store/store_gc.hpp"

#include <cstdio>
#include <set>

namespace tessera::cli {

namespace {

bool matches(const std::string& ref, const std::string& name, const std::set<uint32_t>& versions) {
  std::string n;
  uint32_t v = 0;
  if (parse_model_ref(ref, n, v) || n != name)
    return false;
  return v == 0 || versions.count(v) > 0;
}

// Refuses while a node serving from the store holds the model, or cannot say.
caf::error check_nodes(const store::block_store& st, const client_options& co,
                       const std::string& name, const std::set<uint32_t>& versions) {
  for (const auto& node : store::serving_nodes(st)) {
    auto who =
        "node " + node.name + " at " + node.endpoint + " (pid " + std::to_string(node.pid) + ")";
    zmq::context_t zctx{1};
    auto c = connect_client(zctx, co, node.endpoint);
    auto index = c ? c->call({"", transport::repository_index_request{}},
                             std::chrono::milliseconds(co.timeout_ms))
                   : caf::expected<transport::response_body>{c.error()};
    const auto* models =
        index ? std::get_if<transport::repository_index_response>(&*index) : nullptr;
    if (models == nullptr)
      return make_error(ec::unavailable,
                        who + " serves from this store and did not say what it holds (" +
                            (index ? std::string{"an unexpected reply"} : describe(index.error())) +
                            "); stop it, or give --curve-server-key if it uses CURVE, and retry");
    for (const auto& m : models->models) {
      bool version = !m.version || versions.count(static_cast<uint32_t>(*m.version)) > 0;
      if (m.name == name && version && m.state != "unavailable" && m.state != "failed")
        return make_error(ec::invalid_argument,
                          name + " is " + m.state + " on " + who +
                              "; unload it first: tessera call unload --endpoint " + node.endpoint +
                              " --model " + name);
    }
  }
  return {};
}

} // namespace

void add_models_remove(CLI::App& models, cli_context& ctx, command_action& action) {
  auto* rm = models.add_subcommand(
      "rm", "remove a model (every version, or NAME:VERSION) and the blobs only it used");
  auto target = std::make_shared<std::string>();
  auto co = std::make_shared<client_options>();
  co->timeout_ms = 3000;
  rm->add_option("model", *target, "NAME or NAME:VERSION")->required();
  rm->add_option("--timeout-ms", co->timeout_ms, "how long a serving node may take to answer");
  rm->add_option("--curve-server-key", co->curve_server_key,
                 "the serving nodes' public key, where they use CURVE");
  rm->add_option("--curve-key", co->curve_key, "this client's secret key file (CURVE)");
  rm->callback([&ctx, &action, target, co] {
    action = [&ctx, target, co]() -> int {
      auto st = ctx.open_store(false);
      if (!st)
        return fail(st.error());
      std::string name;
      uint32_t version = 0;
      if (auto err = parse_model_ref(*target, name, version))
        return fail(err);
      auto stored = st->manifests().versions(name);
      if (stored.empty())
        return fail(
            make_error(ec::unknown_model, "no model named \"" + name + "\" in " + st->root()));
      std::set<uint32_t> versions{stored.begin(), stored.end()};
      if (version != 0) {
        if (versions.count(version) == 0)
          return fail(make_error(ec::unknown_model, "model \"" + name + "\" has no version " +
                                                        std::to_string(version)));
        versions = {version};
      }
      for (const auto& g : store::group_store{st->root()}.list())
        for (const auto& ref : g.models)
          if (matches(ref, name, versions))
            return fail(make_error(ec::invalid_argument,
                                   "fused group " + g.name + " uses " + ref +
                                       "; remove the group first: tessera fuse --remove " +
                                       g.name));
      if (auto err = check_nodes(*st, *co, name, versions))
        return fail(err);
      auto lock = store::store_lock::take(*st, store::store_lock::mode::collect, false);
      if (!lock)
        return fail(lock.error());
      store::gc_scope scope;
      scope.blobs.emplace();
      scope.skeletons.emplace();
      for (auto v : versions) {
        auto m = st->manifests().get(name, v);
        if (!m)
          return fail(m.error());
        for (const auto& n : m->nodes) {
          scope.skeletons->push_back(n.skeleton);
          for (const auto& p : n.params)
            scope.blobs->push_back(p.blob);
        }
      }
      for (auto v : versions)
        if (auto err = st->manifests().remove(name, v))
          return fail(err);
      auto gc = store::collect_garbage(*st, scope);
      if (!gc)
        return fail(gc.error());
      for (auto v : versions)
        std::printf("removed %s:%u\n", name.c_str(), v);
      std::printf("removed %zu blobs (%s) and %zu skeletons that no other model uses\n", gc->blobs,
                  format_mib(gc->bytes).c_str(), gc->skeletons);
      return 0;
    };
  });
}

} // namespace tessera::cli

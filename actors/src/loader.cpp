// The loader actor. Serving is a store read per request. Ensuring a model is a
// small state machine: find the models to complete, fetch the manifests the
// store lacks, then the skeletons and blobs their manifests name, and write a
// fetched manifest last, so a manifest in the store never names parts that a
// fetch left out. Each part has at most one fetch in flight; everyone who
// needs it waits on that one. A fetch tries the peers that are up, in order,
// then the others, moving on when one fails, sends bytes that do not hash to
// the id, or does not answer in time.
#include "tessera/actors/loader.hpp"

#include "loader_parts.hpp"

#include "tessera/core/error.hpp"

#include <caf/all.hpp>

#include <deque>
#include <map>

namespace tessera::actors {

namespace {

using namespace detail;

using timeout_atom = caf::atom_constant<caf::atom("timeout")>;
using reply_value = caf::expected<transport::response_body>;
using manifest_ptr = std::shared_ptr<const model_manifest>;
/// Called once a part's fetch ends; `manifest` is set for a fetched manifest.
using part_done = std::function<void(const caf::error& err, const manifest_ptr& manifest)>;

/// One part being fetched, and who waits for it.
struct part_fetch {
  model_part part;
  std::vector<part_done> waiters;
  std::vector<size_t> order; ///< peers to try, up ones first
  size_t next = 0;
  std::vector<std::string> reasons; ///< why each peer tried failed
  ec code = ec::unavailable;        ///< the code of the final error
};

/// One ensure request: answered once, when every model is complete or at the
/// first error.
struct ensure_job {
  caf::typed_response_promise<bool> promise;
  size_t models_left = 0;
  bool answered = false;

  void fail(const caf::error& err) {
    if (!answered)
      promise.deliver(err);
    answered = true;
  }
  void model_done() {
    if (--models_left == 0 && !answered) {
      answered = true;
      promise.deliver(true);
    }
  }
};
using job_ptr = std::shared_ptr<ensure_job>;

struct loader_data {
  const store::block_store* store = nullptr;
  loader_options opts;
  std::map<std::string, part_fetch> fetching; ///< by part label
  std::deque<std::string> queued;             ///< labels waiting for a slot
  size_t active = 0;
  uint64_t next_request = 1;
  std::map<uint64_t, std::function<void(reply_value&)>> waiting; ///< by request number

  static inline const char* name = "loader";
};

using self_ptr = caf::stateful_actor<loader_data>*;

// Which code wins when every peer failed: bad bytes matter most, then a peer
// saying it lacks the part, then a peer that could not be reached.
int weight(ec code) {
  if (code == ec::corrupt_blob || code == ec::bad_manifest)
    return 3;
  if (code == ec::unknown_blob || code == ec::unknown_skeleton || code == ec::unknown_model)
    return 2;
  return 1;
}

std::string join_reasons(const std::vector<std::string>& reasons) {
  std::string out;
  for (const auto& r : reasons)
    out += (out.empty() ? "" : "; ") + r;
  return out;
}

void start_next(self_ptr self);
void try_next_peer(self_ptr self, const std::string& label);

void finish(self_ptr self, const std::string& label, const caf::error& err, const manifest_ptr& m) {
  auto& st = self->state;
  auto i = st.fetching.find(label);
  if (i == st.fetching.end())
    return;
  auto waiters = std::move(i->second.waiters);
  st.fetching.erase(i);
  --st.active;
  for (auto& w : waiters)
    w(err, m);
  start_next(self);
}

void peer_failed(self_ptr self, const std::string& label, size_t peer, const caf::error& err) {
  auto& st = self->state;
  auto i = st.fetching.find(label);
  if (i == st.fetching.end())
    return;
  auto& f = i->second;
  ++st.opts.counters->fetch_failures;
  auto code = code_of(err) == ec::unknown_blob || code_of(err) == ec::unknown_skeleton ||
                      code_of(err) == ec::unknown_model
                  ? f.part.missing_code()
                  : code_of(err);
  if (f.reasons.empty() || weight(code) > weight(f.code))
    f.code = code;
  f.reasons.push_back(st.opts.peers->peers()[peer].endpoint + ": " + describe(err));
  try_next_peer(self, label);
}

// Checks and stores what a peer sent; true when the part is now local.
bool accept(self_ptr self, const model_part& part, reply_value& reply, caf::error& err,
            manifest_ptr& m) {
  auto& st = self->state;
  auto& c = *st.opts.counters;
  if (!reply) {
    err = reply.error();
    return false;
  }
  auto unexpected =
      make_error(ec::malformed_request, part.label() + ": the peer answered another operation");
  if (part.kind == part_kind::blob || part.kind == part_kind::damaged_blob) {
    auto* r = std::get_if<transport::fetch_blob_response>(&*reply);
    bool restore = part.kind == part_kind::damaged_blob;
    auto bytes = r != nullptr ? accept_blob(*st.store, part.id, *r, restore)
                              : caf::expected<uint64_t>{unexpected};
    if (!bytes)
      return err = bytes.error(), false;
    ++c.fetched_blobs;
    c.fetched_bytes += *bytes;
    c.restored_blobs += restore ? 1 : 0;
    return true;
  }
  if (part.kind == part_kind::skeleton) {
    auto* r = std::get_if<transport::fetch_skeleton_response>(&*reply);
    err = r != nullptr ? accept_skeleton(*st.store, part.id, *r) : unexpected;
    c.fetched_skeletons += err ? 0 : 1;
    return !err;
  }
  auto* r = std::get_if<transport::fetch_manifest_response>(&*reply);
  auto manifest =
      r != nullptr ? accept_manifest(part, *r) : caf::expected<model_manifest>{unexpected};
  if (!manifest)
    return err = manifest.error(), false;
  m = std::make_shared<const model_manifest>(std::move(*manifest));
  return true;
}

void try_next_peer(self_ptr self, const std::string& label) {
  auto& st = self->state;
  auto& f = st.fetching.at(label);
  if (f.next >= f.order.size()) {
    auto why = f.reasons.empty() ? std::string{"no peer to fetch it from"}
                                 : "no peer could provide it (" + join_reasons(f.reasons) + ")";
    return finish(self, label, make_error(f.code, f.part.label() + ": " + why), nullptr);
  }
  auto peer = f.order[f.next++];
  auto n = st.next_request++;
  auto part = f.part;
  st.waiting.emplace(n, [self, label, peer, part](reply_value& reply) {
    caf::error err;
    manifest_ptr m;
    if (accept(self, part, reply, err, m))
      finish(self, label, {}, m);
    else
      peer_failed(self, label, peer, err);
  });
  auto me = caf::actor_cast<caf::actor>(self);
  st.opts.peers->send(peer, part.request(), [me, n](reply_value r) {
    caf::anon_send(me, reply_atom::value, n, std::make_shared<reply_value>(std::move(r)));
  });
  self->delayed_send(self, st.opts.fetch_timeout, timeout_atom::value, n);
}

void start_next(self_ptr self) {
  auto& st = self->state;
  while (st.active < st.opts.max_fetches && !st.queued.empty()) {
    auto label = std::move(st.queued.front());
    st.queued.pop_front();
    auto i = st.fetching.find(label);
    if (i == st.fetching.end())
      continue;
    ++st.active;
    auto peers = st.opts.peers->peers();
    for (int up = 1; up >= 0; --up)
      for (size_t p = 0; p < peers.size(); ++p)
        if (peers[p].up == (up == 1))
          i->second.order.push_back(p);
    try_next_peer(self, label);
  }
}

// Fetches `part`, or joins the fetch in flight for it.
void want(self_ptr self, const model_part& part, part_done done) {
  auto& st = self->state;
  auto label = part.label();
  if (auto i = st.fetching.find(label); i != st.fetching.end())
    return i->second.waiters.push_back(std::move(done));
  if (st.opts.peers == nullptr)
    return done(make_error(part.missing_code(),
                           part.label() + " is not in the store and this node has no peers "
                                          "to fetch it from"),
                nullptr);
  st.fetching.emplace(label, part_fetch{part, {std::move(done)}, {}, 0, {}, ec::unavailable});
  st.queued.push_back(label);
  start_next(self);
}

// Writes a fetched manifest once its parts are local, then counts the model done.
void model_complete(self_ptr self, const job_ptr& job, const model_manifest& m, bool fetched) {
  auto& st = self->state;
  if (fetched) {
    auto err = st.opts.fetch_parts ? st.store->add_model(m) : st.store->manifests().put(m);
    if (err)
      return job->fail(wrap(err, "model " + model_ref(m)));
    ++st.opts.counters->fetched_manifests;
  }
  job->model_done();
}

void complete_model(self_ptr self, const job_ptr& job, const model_manifest& m, bool fetched) {
  auto& st = self->state;
  auto parts = st.opts.fetch_parts ? missing_parts(*st.store, m) : std::vector<model_part>{};
  if (parts.empty())
    return model_complete(self, job, m, fetched);
  auto left = std::make_shared<size_t>(parts.size());
  auto manifest = std::make_shared<const model_manifest>(m);
  for (const auto& part : parts)
    want(self, part,
         [self, job, left, manifest, fetched](const caf::error& err, const manifest_ptr&) {
           if (err)
             return job->fail(wrap(err, "model " + model_ref(*manifest)));
           if (--*left == 0)
             model_complete(self, job, *manifest, fetched);
         });
}

void ensure(self_ptr self, caf::typed_response_promise<bool> promise, const std::string& name,
            uint32_t version) {
  auto& st = self->state;
  auto job = std::make_shared<ensure_job>();
  job->promise = std::move(promise);
  auto models = models_to_complete(*st.store, name, version);
  job->models_left = models.size();
  if (models.empty())
    return job->fail(make_error(ec::bad_manifest, "group \"" + name + "\" lists no model"));
  for (const auto& [model, v] : models) {
    if (auto local = st.store->manifests().get(model, v)) {
      complete_model(self, job, *local, false);
      continue;
    }
    model_part part{part_kind::manifest, {}, model, v};
    want(self, part, [self, job](const caf::error& err, const manifest_ptr& m) {
      if (err)
        return job->fail(err);
      complete_model(self, job, *m, true);
    });
  }
}

// A peer's fetch: answered from the store, errors naming this node.
template <class Reply>
caf::result<Reply> served(self_ptr self, caf::expected<Reply> reply) {
  if (!reply)
    return wrap(reply.error(), "node " + self->state.opts.node_name);
  return std::move(*reply);
}

} // namespace

} // namespace tessera::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<tessera::actors::reply_value>)

namespace tessera::actors {

loader_actor spawn_loader(caf::actor_system& sys, const store::block_store& store,
                          loader_options opts) {
  // Dynamically typed, because it also takes the bridge's replies and its own
  // timers; it answers the loader interface exactly.
  auto impl = [&store, opts](self_ptr self) -> caf::behavior {
    self->state.store = &store;
    self->state.opts = opts;
    return {
        [self](repair_atom, const std::string& blob_hex) {
          // A blob found damaged here: a good copy from a peer is written
          // over its file (one fetch at a time per blob; with no peers,
          // nothing to do). What came of it is counted.
          auto id = parse_content_id(blob_hex);
          if (!id || self->state.opts.peers == nullptr)
            return;
          auto counters = self->state.opts.counters;
          want(self, model_part{part_kind::damaged_blob, *id, {}, 0},
               [counters](const caf::error& err, const manifest_ptr&) {
                 if (err)
                   ++counters->restore_failures;
               });
        },
        [self](ensure_atom, const std::string& name,
               uint32_t version) -> caf::typed_response_promise<bool> {
          auto rp = self->make_response_promise<bool>();
          ensure(self, rp, name, version);
          return rp;
        },
        [self](fetch_atom, const transport::fetch_blob_request& req)
            -> caf::result<transport::fetch_blob_response> {
          auto reply = serve_blob(*self->state.store, req);
          if (reply) {
            ++self->state.opts.counters->served_blobs;
            self->state.opts.counters->served_bytes += reply->blob.tensor.bytes;
          }
          return served(self, std::move(reply));
        },
        [self](fetch_atom, const transport::fetch_skeleton_request& req)
            -> caf::result<transport::fetch_skeleton_response> {
          return served(self, serve_skeleton(*self->state.store, req));
        },
        [self](fetch_atom, const transport::fetch_manifest_request& req)
            -> caf::result<transport::fetch_manifest_response> {
          return served(self, serve_manifest(*self->state.store, req));
        },
        [self](reply_atom, uint64_t n, std::shared_ptr<reply_value>& reply) {
          auto i = self->state.waiting.find(n);
          if (i == self->state.waiting.end())
            return; // it timed out before
          auto handler = std::move(i->second);
          self->state.waiting.erase(i);
          handler(*reply);
        },
        [self](timeout_atom, uint64_t n) {
          auto i = self->state.waiting.find(n);
          if (i == self->state.waiting.end())
            return; // answered in time
          auto handler = std::move(i->second);
          self->state.waiting.erase(i);
          reply_value late = make_error(
              ec::unavailable,
              "no answer within " + std::to_string(self->state.opts.fetch_timeout.count()) + " ms");
          handler(late);
        },
    };
  };
  return caf::actor_cast<loader_actor>(sys.spawn<caf::detached>(impl));
}

} // namespace tessera::actors

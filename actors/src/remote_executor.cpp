#include "tessera/actors/remote_executor.hpp"

#include "holdings_report.hpp"
#include "tessera/core/error.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <variant>

namespace tessera::actors {

namespace {

using reply_value = caf::expected<transport::response_body>;

struct remote_data {
  bridge* net = nullptr;
  size_t peer = 0;
  std::string who;
  uint64_t next = 1;
  std::map<uint64_t, std::function<void(reply_value&)>> waiting;
  uint64_t served = 0;
  /// The peer's device as its last reply reported it (decision 31): free
  /// memory (the maximum: unknown), resident blobs (null: never reported)
  /// and their digest, which asks the peer to send the list only on change.
  uint64_t free_bytes = std::numeric_limits<uint64_t>::max();
  std::shared_ptr<const std::vector<content_id>> blobs;
  uint64_t digest = 0;

  /// Takes a reply's report, and puts what is known of the peer in `out`.
  void note(std::optional<transport::node_holdings>& report, infer_outcome& out) {
    if (report) {
      free_bytes = report->free_bytes;
      if (report->blob_ids) {
        blobs = std::make_shared<const std::vector<content_id>>(std::move(*report->blob_ids));
        digest = report->digest;
      } else if (blobs == nullptr) { // it matched our digest of nothing: it holds nothing
        blobs = std::make_shared<const std::vector<content_id>>();
      }
    }
    out.free_bytes = free_bytes;
    out.resident_blobs = blobs;
  }

  static inline const char* name = "remote_executor";
};

using self_ptr = caf::stateful_actor<remote_data>*;

// Sends `body` to the peer; `on_reply` later runs in this actor's context.
void forward(self_ptr self, transport::request_body body, std::function<void(reply_value&)> on_reply) {
  auto& st = self->state;
  auto n = st.next++;
  st.waiting.emplace(n, std::move(on_reply));
  auto me = caf::actor_cast<caf::actor>(self);
  st.net->send(st.peer, std::move(body), [me, n](reply_value r) {
    caf::anon_send(me, reply_atom::value, n, std::make_shared<reply_value>(std::move(r)));
  });
}

template <class T>
caf::expected<T> as(reply_value& r) {
  if (!r)
    return r.error();
  if (auto* v = std::get_if<T>(&*r))
    return std::move(*v);
  return make_error(ec::malformed_request, "peer answered with an unexpected reply");
}

} // namespace

} // namespace tessera::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<tessera::actors::reply_value>)

namespace tessera::actors {

executor_actor spawn_remote_executor(caf::actor_system& sys, bridge* net, size_t peer, std::string name) {
  // Dynamically typed, because it also takes the bridge's replies; it answers
  // the executor interface exactly, so the scheduler holds it as an executor.
  auto impl = [net, peer, name](self_ptr self) -> caf::behavior {
    self->state.net = net;
    self->state.peer = peer;
    self->state.who = name;
    return {
        [self](reply_atom, uint64_t n, std::shared_ptr<reply_value>& r) {
          auto i = self->state.waiting.find(n);
          if (i == self->state.waiting.end())
            return;
          auto handler = std::move(i->second);
          self->state.waiting.erase(i);
          handler(*r);
        },
        [self](run_atom, infer_job& job) -> caf::response_promise {
          auto rp = self->make_response_promise();
          transport::infer_request req;
          req.model_name = job.model;
          if (job.version != 0)
            req.model_version = job.version;
          for (size_t i = 0; i < job.inputs.size(); ++i)
            req.inputs.push_back(
                {i < job.input_names.size() ? job.input_names[i] : "input" + std::to_string(i),
                 job.inputs[i]});
          req.outputs = job.outputs;
          req.priority = job.priority;
          if (!job.trace_id.empty())
            req.parameters["trace_id"] = job.trace_id;
          int64_t since = 0; // the digest travels as its bits
          std::memcpy(&since, &self->state.digest, sizeof since);
          req.parameters[holdings_parameter] = since;
          if (job.best_effort)
            req.parameters["best_effort"] = true;
          if (job.deadline != steady_time::max()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                job.deadline - std::chrono::steady_clock::now());
            req.deadline_ms = std::max<int64_t>(1, left.count());
          }
          auto start = std::chrono::steady_clock::now();
          auto arrival = job.arrival;
          auto who = self->state.who;
          forward(self, std::move(req), [self, rp, start, arrival, who](reply_value& r) mutable {
            auto resp = as<transport::infer_response>(r);
            if (!resp)
              return rp.deliver(resp.error());
            infer_outcome out;
            out.model = resp->model_name;
            out.version = static_cast<uint32_t>(resp->model_version.value_or(0));
            for (auto& o : resp->outputs) {
              out.names.push_back(o.name);
              out.tensors.push_back(std::move(o.tensor));
            }
            out.executor = who;
            if (auto e = resp->parameters.find("executor"); e != resp->parameters.end())
              if (auto* s = std::get_if<std::string>(&e->second))
                out.executor = who + " " + *s;
            // Queue time here, then the worker's own figures; the rest of the
            // round trip (network, the worker's queue) counts as run time.
            out.queue_ms = std::chrono::duration<double, std::milli>(start - arrival).count();
            out.load_ms = transport::number_parameter(resp->parameters, "load_ms");
            out.loaded_bytes = static_cast<uint64_t>(
                std::max(0.0, transport::number_parameter(resp->parameters, "loaded_bytes")));
            out.run_ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count() -
                out.load_ms;
            self->state.note(resp->holdings, out);
            ++self->state.served;
            rp.deliver(std::move(out));
          });
          return rp;
        },
        [self](load_atom, const std::string& model, uint32_t version) -> caf::response_promise {
          auto rp = self->make_response_promise();
          std::optional<int64_t> v = version == 0 ? std::nullopt : std::optional<int64_t>{version};
          forward(self, transport::model_load_request{model, v, {}}, [rp](reply_value& r) mutable {
            auto resp = as<transport::model_load_response>(r);
            if (!resp)
              return rp.deliver(resp.error());
            rp.deliver(load_outcome{resp->model_name,
                                    static_cast<uint32_t>(resp->model_version.value_or(0)),
                                    resp->loaded_bytes, resp->reused_bytes});
          });
          return rp;
        },
        [self](unload_atom, const std::string& model, uint32_t version) -> caf::response_promise {
          auto rp = self->make_response_promise();
          std::optional<int64_t> v = version == 0 ? std::nullopt : std::optional<int64_t>{version};
          forward(self, transport::model_unload_request{model, v}, [rp](reply_value& r) mutable {
            auto resp = as<transport::model_unload_response>(r);
            if (!resp)
              return rp.deliver(resp.error());
            rp.deliver(true);
          });
          return rp;
        },
        [self](status_atom) -> caf::response_promise {
          auto rp = self->make_response_promise();
          auto who = self->state.who;
          auto served = self->state.served;
          forward(self, transport::repository_index_request{true},
                  [rp, who, served](reply_value& r) mutable {
                    executor_state s;
                    s.name = who;
                    s.served = served;
                    s.remote = true;
                    if (auto resp = as<transport::repository_index_response>(r))
                      for (const auto& m : resp->models)
                        s.loaded.push_back(m.name + ":" + std::to_string(m.version.value_or(0)));
                    rp.deliver(std::move(s)); // a peer that is down simply holds nothing
                  });
          return rp;
        },
        [](pressure_atom, pressure_level) {
          // A peer watches its own memory.
        },
        [](catalog_atom, const catalog_ptr&) {
          // A peer's registry reads its own store.
        },
    };
  };
  return caf::actor_cast<executor_actor>(sys.spawn(impl));
}

} // namespace tessera::actors

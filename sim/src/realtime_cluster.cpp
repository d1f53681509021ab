#include "tessera/sim/realtime_cluster.hpp"

#include "tessera/actors/node.hpp"
#include "tessera/core/error.hpp"
#include "tessera/sim/model_catalog.hpp"
#include "tessera/sim/sim_model_executor.hpp"
#include "tessera/store/block_store.hpp"
#include "tessera/transport/client.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <thread>

namespace tessera::sim {

namespace {

using clock_type = std::chrono::steady_clock;

// What the executors' threads and the client thread share: the run's records
// and slots, under one lock.
struct shared_world {
  std::mutex lock;
  cluster_world world;
  clock_type::time_point start;
  double speedup = 1.0;

  double now_ms() const {
    return std::chrono::duration<double, std::milli>(clock_type::now() - start).count() * speedup;
  }
};

std::string endpoint_of(uint32_t node) {
  return "inproc://tessera-sim-" + std::to_string(node);
}

using input_map = std::map<std::string, std::vector<transport::tensor_payload>>;

// One batch-1 input set per model, from its manifest in the store.
caf::expected<input_map> inputs_from(const std::string& store_root, const std::vector<schedule_model>& models) {
  auto st = store::block_store::open(store_root, false);
  if (!st)
    return st.error();
  input_map out;
  for (const auto& m : models) {
    auto manifest = st->manifests().get(m.name, 0);
    if (!manifest)
      return manifest.error();
    for (size_t i = 0; i < manifest->inputs.size(); ++i)
      out[m.name].push_back({manifest->inputs[i].name, random_tensor(with_batch(manifest->inputs[i].spec, 1), i + 1)});
  }
  return out;
}

transport::request request_for(const sim_request& r, size_t index, double speedup, const input_map& inputs) {
  transport::infer_request req;
  req.model_name = r.model;
  req.inputs = inputs.at(r.model);
  // The gateway judges the deadline in real time, from when the input is on the node.
  req.deadline_ms = static_cast<int64_t>(std::ceil((r.deadline_ms - r.ready_ms) / speedup));
  return transport::request{"r" + std::to_string(index + 1), std::move(req)};
}

// Sends `copies` requests for `model` at once and waits for every answer;
// their latencies in milliseconds. Their ids start with 'c', so note_reply()
// leaves the run's records alone.
caf::expected<std::vector<double>> send_and_wait(transport::client& client,
                                                 const std::string& model, const input_map& inputs,
                                                 size_t copies, uint64_t& serial) {
  constexpr auto timeout = std::chrono::seconds(30);
  std::map<std::string, clock_type::time_point> sent;
  for (size_t i = 0; i < copies; ++i) {
    transport::infer_request req;
    req.model_name = model;
    req.inputs = inputs.at(model);
    auto id =
        client.send(transport::request{"c" + std::to_string(++serial), std::move(req)}, timeout);
    if (!id)
      return id.error();
    sent.emplace(*id, clock_type::now());
  }
  std::vector<double> out;
  for (const auto& [id, at] : sent) {
    auto reply = client.wait_for(id, timeout);
    if (!reply)
      return wrap(reply.error(), "calibrating model \"" + model + "\"");
    out.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - at).count());
  }
  return out;
}

// Warms every model up on every executor (loads, TorchScript compilation),
// then times requests sent one at a time. Nothing else runs meanwhile.
caf::error measure_service_times(transport::client& client,
                                 const std::vector<schedule_model>& models, const input_map& inputs,
                                 size_t executors, service_times& out) {
  constexpr int warm_rounds = 3;
  constexpr int timed_requests = 15;
  uint64_t serial = 0;
  for (int round = 0; round < warm_rounds; ++round)
    for (const auto& m : models)
      if (auto got = send_and_wait(client, m.name, inputs, executors, serial); !got)
        return got.error();
  for (const auto& m : models) {
    std::vector<double> times;
    for (int i = 0; i < timed_requests; ++i) {
      auto got = send_and_wait(client, m.name, inputs, 1, serial);
      if (!got)
        return got.error();
      times.push_back(got->front());
    }
    std::nth_element(times.begin(), times.begin() + timed_requests / 2, times.end());
    out[m.name] = times[timed_requests / 2];
  }
  return {};
}

void note_reply(shared_world& w, const std::string& id, const caf::expected<transport::response_body>& body) {
  if (id.size() < 2 || id[0] != 'r')
    return;
  auto index = std::stoull(id.substr(1));
  std::lock_guard<std::mutex> guard{w.lock};
  if (index == 0 || index > w.world.records.size())
    return;
  auto& r = w.world.records[index - 1];
  ++r.answers;
  if (body) {
    r.end_ms = w.now_ms();
    r.status = r.end_ms <= r.deadline_ms ? request_status::met : request_status::missed;
  } else {
    r.status = code_of(body.error()) == ec::deadline_exceeded ? request_status::missed : request_status::failed;
  }
}

} // namespace

caf::error write_synthetic_store(const std::vector<schedule_model>& models, const std::string& root) {
  auto st = store::block_store::open(root, true);
  if (!st)
    return st.error();
  for (const auto& m : models)
    if (auto err = st->manifests().put(manifest_of(m)))
      return err;
  return {};
}

caf::expected<cluster_run>
run_cluster_realtime(const scenario& s, const std::vector<schedule_model>& models,
                     const std::vector<sim_request>& requests, actors::queue_order policy,
                     double level, const std::string& store_root, const progress_fn& progress,
                     realtime_backend backend, service_times* calibrate) {
  for (const auto& f : s.faults)
    if (f.node == 0)
      return make_error(ec::bad_config, "scenario field faults: node 0 faces the clients in real-time mode and "
                                        "cannot fail");
  if (s.nodes.placement == placement_kind::fixed)
    return make_error(ec::unsupported, "scenario field nodes.placement: real-time mode places dynamically "
                                       "(node 0 schedules onto its peers)");
  if (backend == realtime_backend::torch && s.speedup != 1.0)
    return make_error(ec::bad_config, "scenario field speedup: real execution runs at speed 1");
  auto inputs = inputs_from(store_root, models);
  if (!inputs)
    return inputs.error();
  auto shared = std::make_shared<shared_world>();
  shared->speedup = s.speedup;
  shared->world = make_world(s, models, requests);
  auto dev = slot_device(s);
  auto dev_opts = slot_device_options(s, models);
  auto by_ready = ready_order(requests);
  zmq::context_t ctx{1};
  // Workers first, so the coordinator (node 0) finds its peers listening.
  std::vector<std::unique_ptr<actors::node>> nodes(s.nodes.count);
  for (uint32_t k = s.nodes.count; k-- > 0;) {
    node_config cfg;
    cfg.store_path = store_root;
    cfg.listen = endpoint_of(k);
    cfg.node_name = "sim-" + std::to_string(k);
    cfg.executors = s.nodes.executors;
    cfg.queue_order = to_string(policy);
    cfg.log_level = "error";
    if (k == 0)
      for (uint32_t p = 1; p < s.nodes.count; ++p)
        cfg.peers.push_back(endpoint_of(p));
    auto factory = [shared, models, dev, dev_opts, k, &s](uint32_t e, residency::residency_manager&)
        -> caf::expected<std::unique_ptr<backend::model_executor>> {
      sim_backend_options opts;
      opts.speedup = s.speedup;
      opts.budget_bytes = dev.capacity_bytes;
      opts.device = dev_opts;
      size_t slot = static_cast<size_t>(k) * s.nodes.executors + e;
      opts.on_run = [shared, slot](const sim_run_note& note) {
        std::lock_guard<std::mutex> guard{shared->lock};
        auto& sl = shared->world.slots[slot];
        double end = shared->now_ms();
        sl.spans.push_back({std::max(0.0, end - (note.run.end_ms - note.run.start_ms)), end, note.resident_bytes});
        sl.loaded_bytes += note.run.loaded_bytes;
        sl.evictions += note.run.evicted_blocks;
        if (note.run.loaded_bytes > 0)
          ++sl.switches;
      };
      return make_sim_model_executor(models, dev, std::move(opts));
    };
    if (backend == realtime_backend::torch)
      cfg.torch_threads = 1;
    auto n = actors::node::start(cfg, &ctx, backend == realtime_backend::torch ? actors::node::backend_factory{}
                                                                                : factory);
    if (!n)
      return make_error(code_of(n.error()), "real-time node " + std::to_string(k) + ": " + describe(n.error()));
    nodes[k] = std::move(*n);
  }
  // The coordinator schedules onto a peer only after its first heartbeat.
  auto ready_by = clock_type::now() + std::chrono::seconds(10);
  for (;;) {
    auto peers = nodes[0]->peers();
    if (std::all_of(peers.begin(), peers.end(), [](const auto& p) { return p.up; }))
      break;
    if (clock_type::now() > ready_by)
      return make_error(ec::unavailable, "real-time mode: the peers of node 0 did not come up within 10 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto client = transport::client::connect(ctx, endpoint_of(0));
  if (!client)
    return client.error();
  if (calibrate) {
    if (auto err = measure_service_times(*client, models, *inputs,
                                         size_t{s.nodes.count} * s.nodes.executors, *calibrate))
      return err;
    // The timed run's slots start clean: the calibration's runs are not its own.
    std::lock_guard<std::mutex> guard{shared->lock};
    shared->world = make_world(s, models, requests);
  }
  auto faults = s.faults;
  std::stable_sort(faults.begin(), faults.end(), [](const auto& a, const auto& b) { return a.at_ms < b.at_ms; });
  cluster_run out;
  out.policy = policy;
  out.level = level;
  size_t next = 0, next_fault = 0, answered = 0;
  auto real_at = [&](double scenario_ms) {
    return shared->start + std::chrono::duration_cast<clock_type::duration>(
                             std::chrono::duration<double, std::milli>(scenario_ms / s.speedup));
  };
  // Whatever is not answered this long after the last deadline is lost.
  double last_deadline = 0.0;
  for (const auto& r : requests)
    last_deadline = std::max(last_deadline, r.deadline_ms);
  shared->start = clock_type::now();
  auto give_up = real_at(last_deadline) + std::chrono::seconds(30);
  while (answered < requests.size() && clock_type::now() < give_up) {
    double t_arrival = next < requests.size() ? requests[by_ready[next]].ready_ms : INFINITY;
    double t_fault = next_fault < faults.size() ? faults[next_fault].at_ms : INFINITY;
    double t_next = std::min(t_arrival, t_fault);
    if (std::isfinite(t_next) && clock_type::now() >= real_at(t_next)) {
      if (t_fault <= t_arrival) {
        auto node = faults[next_fault++].node;
        {
          std::lock_guard<std::mutex> guard{shared->lock};
          for (auto& sl : shared->world.slots)
            if (sl.node == node)
              sl.failed = true;
        }
        nodes[node].reset(); // its gateway stops; the coordinator's bridge sees it go
        std::lock_guard<std::mutex> guard{shared->lock};
        double stopped = shared->now_ms();
        for (auto& sl : shared->world.slots)
          if (sl.node == node)
            sl.stopped_ms = stopped;
      } else {
        auto index = by_ready[next];
        auto sent = client->send(request_for(requests[index], index, s.speedup, *inputs), std::chrono::milliseconds(5000));
        if (!sent) {
          note_reply(*shared, "r" + std::to_string(index + 1), sent.error());
          ++answered;
        }
        ++next;
      }
      ++out.events;
      continue;
    }
    auto wait_until = std::isfinite(t_next) ? std::min(real_at(t_next), give_up) : give_up;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wait_until - clock_type::now());
    auto reply = client->receive(std::max(std::chrono::milliseconds(0), wait));
    if (!reply)
      continue; // nothing arrived in time
    note_reply(*shared, reply->id, reply->value);
    ++answered;
    ++out.events;
    if (progress && answered % 1000 == 0)
      progress(answered, requests.size());
  }
  nodes.clear();
  std::lock_guard<std::mutex> guard{shared->lock};
  out.world = shared->world;
  return out;
}

} // namespace tessera::sim

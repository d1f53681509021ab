#include "tessera/torch/torch_executor.hpp"

#include "skeleton_cache.hpp"
#include "tensor_convert.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/fusion_subgraph.hpp"
#include "tessera/core/input_check.hpp"
#include "tessera/core/model_graph.hpp"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <chrono>

namespace tessera::torch_backend {

namespace {

struct bound_node {
  std::shared_ptr<const compiled_skeleton> skeleton;
  /// script kind: parameters in the order of the function's arguments.
  std::vector<c10::IValue> params;
  /// module kind: a clone of the template with the parameters bound.
  std::optional<torch::jit::Module> module;
};

class torch_model final : public backend::loaded_model {
public:
  torch_model(model_manifest m, model_graph g) : manifest_(std::move(m)), graph_(std::move(g)) {
    // nop
  }

  const model_manifest& manifest() const override {
    return manifest_;
  }

  model_manifest manifest_;
  model_graph graph_;
  /// Keeps the blobs resident for as long as the model lives; declared before
  /// the nodes so that their tensor views are gone when it is released.
  residency::lease_ptr lease_;
  std::vector<bound_node> nodes_;
};

// Picks element `i` of a node's value: a tuple element, or the value itself.
c10::IValue element_of(const c10::IValue& v, uint32_t i, const std::string& node) {
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    if (i >= elems.size())
      throw std::runtime_error("node \"" + node + "\" returned "
                               + std::to_string(elems.size()) + " values, element "
                               + std::to_string(i) + " was requested");
    return elems[i];
  }
  if (i != 0)
    throw std::runtime_error("node \"" + node + "\" returned one value, element "
                             + std::to_string(i) + " was requested");
  return v;
}

// Bytes of the tensors a node's value holds (a tensor or a tuple of them).
uint64_t value_bytes(const c10::IValue& v) {
  if (v.isTensor())
    return v.toTensor().nbytes();
  uint64_t total = 0;
  if (v.isTuple())
    for (const auto& e : v.toTupleRef().elements())
      total += value_bytes(e);
  return total;
}

caf::error bind_module_path(torch::jit::Module& root, const std::string& path,
                            const at::Tensor& value) {
  torch::jit::Module owner = root;
  size_t start = 0;
  for (size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', start)) {
    auto part = path.substr(start, dot - start);
    if (!owner.hasattr(part))
      return make_error(ec::bad_manifest, "module has no submodule \"" + part + "\"");
    owner = owner.attr(part).toModule();
    start = dot + 1;
  }
  auto leaf = path.substr(start);
  if (!owner.hasattr(leaf))
    return make_error(ec::bad_manifest, "module has no attribute \"" + path + "\"");
  owner.setattr(leaf, value);
  return {};
}

class torch_executor final : public backend::model_executor {
public:
  torch_executor(torch::Device device, residency::residency_manager& residency,
                 const store::skeleton_store& skeletons)
    : device_(device), residency_(residency), skeletons_(skeletons) {
    // nop
  }

  std::string device() const override {
    return device_.str();
  }

  caf::expected<std::shared_ptr<backend::loaded_model>>
  load(const model_manifest& m, backend::load_report* report) override {
    auto start = std::chrono::steady_clock::now();
    auto graph = validate_manifest(m);
    if (!graph)
      return graph.error();
    auto model = std::make_shared<torch_model>(m, std::move(*graph));
    backend::load_report local;
    auto& r = report != nullptr ? *report : local;
    r = {};
    auto lease = residency_.load(m.name, residency::blob_refs_of(m));
    if (!lease)
      return wrap(lease.error(), "model \"" + m.name + "\"");
    model->lease_ = *lease;
    auto& cache = skeleton_cache::process_wide();
    model->nodes_.resize(m.nodes.size());
    for (size_t i = 0; i < m.nodes.size(); ++i) {
      const auto& node = m.nodes[i];
      auto where = "model \"" + m.name + "\": node \"" + node.name + "\"";
      bool compiled = false;
      auto sk = cache.get(node.skeleton, skeletons_, &compiled);
      if (!sk)
        return wrap(sk.error(), where);
      r.skeletons_compiled += compiled ? 1 : 0;
      auto& bound = model->nodes_[i];
      bound.skeleton = *sk;
      std::unordered_map<std::string, at::Tensor> tensors;
      for (const auto& p : node.params) {
        auto blob = model->lease_->tensor(p.blob);
        if (!blob)
          return wrap(blob.error(), where + ", parameter \"" + p.name + "\"");
        if (blob->spec != p.spec)
          return make_error(ec::shape_mismatch, where + ", parameter \"" + p.name
                                                  + "\": blob holds " + to_string(blob->spec)
                                                  + ", manifest declares " + to_string(p.spec));
        try {
          auto t = view_of(*blob);
          tensors.emplace(p.name, device_.is_cpu() ? t : t.to(device_));
        } catch (const std::exception& e) {
          return make_error(ec::out_of_memory, where + ": cannot place parameter \"" + p.name
                                                 + "\" on " + device_.str() + ": " + torch_message(e));
        }
      }
      if (auto err = bind(bound, node, tensors))
        return wrap(err, where);
    }
    const auto& lr = model->lease_->report();
    r.blobs = lr.blobs;
    r.bytes = lr.bytes;
    r.blobs_read = lr.blobs_read;
    r.bytes_read = lr.bytes_read;
    r.blobs_joined = lr.blobs_joined;
    r.bytes_evicted = lr.bytes_evicted;
    r.residency_ms = lr.elapsed_ms;
    r.elapsed_ms = std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - start)
                     .count();
    return std::shared_ptr<backend::loaded_model>{std::move(model)};
  }

  caf::expected<std::vector<tensor_buffer>>
  run(const backend::loaded_model& base, const std::vector<tensor_buffer>& inputs) override {
    std::vector<uint32_t> all(base.manifest().outputs.size());
    for (uint32_t i = 0; i < all.size(); ++i)
      all[i] = i;
    return run_outputs(base, inputs, all, nullptr);
  }

  caf::expected<std::vector<tensor_buffer>>
  run_outputs(const backend::loaded_model& base, const std::vector<tensor_buffer>& inputs,
              const std::vector<uint32_t>& wanted, backend::run_stats* stats) override {
    const auto* model = dynamic_cast<const torch_model*>(&base);
    if (model == nullptr)
      return make_error(ec::invalid_argument, "model was loaded by another executor");
    const auto& m = model->manifest_;
    for (auto o : wanted)
      if (o >= m.outputs.size())
        return make_error(ec::invalid_argument, "model \"" + m.name + "\" has no output " + std::to_string(o));
    if (auto err = check_model_inputs(m, inputs))
      return err;
    auto pin = model->lease_->pin();
    if (!pin)
      return pin.error();
    const auto& g = model->graph_;
    auto steps = plan_steps(g, wanted);
    backend::run_stats local;
    auto& st = stats != nullptr ? *stats : local;
    st = {};
    uint64_t live_bytes = 0;
    std::string current = "(inputs)";
    try {
      c10::InferenceMode inference;
      std::vector<c10::IValue> in_values;
      for (const auto& buf : inputs) {
        auto t = view_of(buf);
        in_values.emplace_back(device_.is_cpu() ? t : t.to(device_));
      }
      std::vector<c10::IValue> values(m.nodes.size());
      for (uint32_t pos = 0; pos < g.order.size(); ++pos) {
        auto idx = g.order[pos];
        if (!steps.needed[idx])
          continue;
        const auto& node = m.nodes[idx];
        current = node.name;
        std::vector<c10::IValue> args;
        for (const auto& ref : g.node_inputs[idx])
          args.push_back(ref.from_input
                           ? in_values[ref.index]
                           : element_of(values[ref.index], ref.element, m.nodes[ref.index].name));
        const auto& bound = model->nodes_[idx];
        if (bound.module) {
          torch::jit::Module module = *bound.module; // a handle; shares the object
          values[idx] = module.forward(std::move(args));
        } else {
          args.insert(args.end(), bound.params.begin(), bound.params.end());
          values[idx] = (*bound.skeleton->function)(std::move(args));
        }
        ++st.nodes_run;
        live_bytes += value_bytes(values[idx]);
        st.peak_value_bytes = std::max(st.peak_value_bytes, live_bytes);
        // Release intermediate values as soon as their last consumer ran.
        for (const auto& ref : g.node_inputs[idx])
          if (!ref.from_input && steps.last_use[ref.index] == pos && !values[ref.index].isNone()) {
            live_bytes -= value_bytes(values[ref.index]);
            values[ref.index] = c10::IValue{};
          }
      }
      std::vector<tensor_buffer> out;
      for (auto i : wanted) {
        const auto& ref = g.outputs[i];
        current = m.nodes[ref.index].name;
        auto v = element_of(values[ref.index], ref.element, current);
        if (!v.isTensor())
          return make_error(ec::backend_error, "model \"" + m.name + "\": output \""
                                                 + m.outputs[i].name + "\" is not a tensor");
        auto buf = buffer_of(v.toTensor());
        if (!buf)
          return buf.error();
        if (!m.outputs[i].spec.accepts(buf->spec))
          return make_error(buf->spec.type != m.outputs[i].spec.type ? ec::dtype_mismatch
                                                                     : ec::shape_mismatch,
                            "model \"" + m.name + "\": output \"" + m.outputs[i].name
                              + "\" is " + to_string(buf->spec) + ", manifest declares "
                              + to_string(m.outputs[i].spec));
        out.push_back(std::move(*buf));
      }
      return out;
    } catch (const std::exception& e) {
      return make_error(ec::backend_error, "model \"" + m.name + "\": node \"" + current
                                             + "\" failed: " + torch_message(e));
    }
  }

  void unload(const std::shared_ptr<backend::loaded_model>& base) override {
    auto* model = dynamic_cast<torch_model*>(base.get());
    if (model == nullptr || model->lease_ == nullptr)
      return;
    // Running batches finish first; then the tensors that view the blobs go,
    // so that releasing the lease really frees their memory.
    model->lease_->drain();
    model->nodes_.clear();
    residency_.unload(model->lease_);
  }

private:
  caf::error bind(bound_node& bound, const node_spec& node,
                  std::unordered_map<std::string, at::Tensor>& tensors) {
    const auto& sk = *bound.skeleton;
    if (sk.kind == store::skeleton_kind::script) {
      const auto& names = sk.argument_names;
      if (names.size() != node.inputs.size() + node.params.size())
        return make_error(ec::bad_manifest,
                          "skeleton takes " + std::to_string(names.size()) + " arguments, node gives "
                            + std::to_string(node.inputs.size()) + " input(s) and "
                            + std::to_string(node.params.size()) + " parameter(s)");
      for (size_t a = node.inputs.size(); a < names.size(); ++a) {
        auto t = tensors.find(names[a]);
        if (t == tensors.end())
          return make_error(ec::bad_manifest, "skeleton argument \"" + names[a]
                                                + "\" has no parameter binding");
        bound.params.emplace_back(t->second);
      }
      return {};
    }
    if (sk.module_arity != node.inputs.size())
      return make_error(ec::bad_manifest, "module takes " + std::to_string(sk.module_arity)
                                            + " input(s), node gives "
                                            + std::to_string(node.inputs.size()));
    try {
      bound.module = sk.module_template->clone();
      for (const auto& [path, t] : tensors)
        if (auto err = bind_module_path(*bound.module, path, t))
          return err;
    } catch (const std::exception& e) {
      return make_error(ec::backend_error, "cannot bind module: " + torch_message(e));
    }
    return {};
  }

  torch::Device device_;
  residency::residency_manager& residency_;
  const store::skeleton_store& skeletons_;
};

} // namespace

bool cuda_available() {
  return torch::cuda::is_available();
}

void clear_compiled_skeletons() {
  skeleton_cache::process_wide().clear();
}

size_t compiled_skeleton_count() {
  return skeleton_cache::process_wide().size();
}

caf::expected<std::unique_ptr<backend::model_executor>>
make_torch_executor(const torch_options& opts, residency::residency_manager& residency,
                    const store::skeleton_store& skeletons) {
  torch::Device device{at::kCPU};
  try {
    device = torch::Device{opts.device};
  } catch (const std::exception& e) {
    return make_error(ec::bad_config, "device \"" + opts.device + "\": " + torch_message(e));
  }
  if (device.is_cuda() && !cuda_available())
    return make_error(ec::unsupported, "device \"" + opts.device
                                         + "\": this LibTorch build has no CUDA or no GPU is present");
  if (opts.threads > 0)
    at::set_num_threads(static_cast<int>(opts.threads));
  torch::jit::getProfilingMode() = opts.profiling_executor;
  torch::jit::getExecutorMode() = opts.profiling_executor;
  return std::unique_ptr<backend::model_executor>{
    std::make_unique<torch_executor>(device, residency, skeletons)};
}

} // namespace tessera::torch_backend

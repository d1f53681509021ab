#include "tessera/torch/whole_model_executor.hpp"

#include "tensor_convert.hpp"
#include "tessera/core/error.hpp"
#include "tessera/torch/torch_executor.hpp"

#include <chrono>
#include <filesystem>
#include <optional>

namespace tessera::torch_backend {

namespace {

// A loaded whole model: its module, and the bytes it holds of the budget
// until it is unloaded.
class whole_model final : public backend::loaded_model {
public:
  whole_model(model_manifest m, torch::jit::Module mod, uint64_t bytes)
      : manifest_(std::move(m)), module(std::move(mod)), bytes(bytes) {
    // nop
  }

  const model_manifest& manifest() const override {
    return manifest_;
  }

  model_manifest manifest_;
  /// Empty once unloaded. Mutable: running a Module is a non-const call,
  /// while executors run a model through a const reference.
  mutable std::optional<torch::jit::Module> module;
  uint64_t bytes;
};

class whole_model_executor final : public backend::model_executor {
public:
  whole_model_executor(torch::Device device, std::string dir,
                       std::shared_ptr<backend::whole_model_memory> memory)
      : device_(device), dir_(std::move(dir)), memory_(std::move(memory)) {
    // nop
  }

  std::string device() const override {
    return device_.str();
  }

  caf::expected<std::shared_ptr<backend::loaded_model>>
  load(const model_manifest& m, backend::load_report* report) override {
    auto start = std::chrono::steady_clock::now();
    auto path = whole_model_file(dir_, m.name, m.version);
    std::error_code ec;
    auto file_bytes = std::filesystem::file_size(path, ec);
    if (ec)
      return make_error(ec::io_error,
                        "whole-model serving: no file " + path + " for model \"" + m.name +
                            "\" (tessera models --show NAME --export FILE writes one)");
    // The parameters' bytes, as in the store: the file holds each once, and
    // it is what the model takes of the device once loaded.
    auto bytes = static_cast<uint64_t>(parameter_bytes(m));
    if (!memory_->reserve(bytes))
      return make_error(ec::out_of_memory, "model \"" + m.name + "\" needs " +
                                               std::to_string(bytes) + " bytes; " +
                                               std::to_string(memory_->used()) + " of " +
                                               std::to_string(memory_->budget()) + " are in use");
    try {
      auto mod = torch::jit::load(path, device_);
      mod.eval();
      auto out = std::make_shared<whole_model>(m, std::move(mod), bytes);
      if (report != nullptr) {
        *report = {};
        report->blobs = report->blobs_read = 1;
        report->bytes = report->bytes_read = static_cast<size_t>(file_bytes);
        report->elapsed_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        report->residency_ms = report->elapsed_ms;
      }
      return std::shared_ptr<backend::loaded_model>{std::move(out)};
    } catch (const std::exception& e) {
      memory_->release(bytes);
      return make_error(ec::backend_error, path + ": " + torch_message(e));
    }
  }

  caf::expected<std::vector<tensor_buffer>> run(const backend::loaded_model& model,
                                                const std::vector<tensor_buffer>& inputs) override {
    const auto& w = static_cast<const whole_model&>(model);
    const auto& m = w.manifest();
    if (!w.module)
      return make_error(ec::unloading, "model \"" + m.name + "\" was unloaded");
    if (inputs.size() != m.inputs.size())
      return make_error(ec::invalid_argument, "model \"" + m.name + "\" takes " +
                                                  std::to_string(m.inputs.size()) +
                                                  " inputs, got " + std::to_string(inputs.size()));
    try {
      c10::InferenceMode inference;
      std::vector<c10::IValue> args;
      for (const auto& in : inputs)
        args.emplace_back(device_.is_cpu() ? view_of(in) : view_of(in).to(device_));
      auto tensors = tensors_of(w.module->forward(args));
      if (tensors.size() != m.outputs.size())
        return make_error(ec::backend_error,
                          "model \"" + m.name + "\"'s file gave " + std::to_string(tensors.size()) +
                              " outputs; its manifest has " + std::to_string(m.outputs.size()));
      std::vector<tensor_buffer> out;
      for (size_t i = 0; i < tensors.size(); ++i) {
        auto buf = buffer_of(tensors[i]);
        if (!buf)
          return buf.error();
        if (!m.outputs[i].spec.accepts(buf->spec))
          return make_error(ec::backend_error, "model \"" + m.name + "\"'s file gave output " +
                                                   std::to_string(i) +
                                                   " of another type or shape than its manifest's");
        out.push_back(std::move(*buf));
      }
      return out;
    } catch (const std::exception& e) {
      return make_error(ec::backend_error, "model \"" + m.name + "\": " + torch_message(e));
    }
  }

  void unload(const std::shared_ptr<backend::loaded_model>& model) override {
    auto& w = static_cast<whole_model&>(*model);
    if (!w.module)
      return;
    w.module.reset();
    memory_->release(w.bytes);
  }

private:
  torch::Device device_;
  std::string dir_;
  std::shared_ptr<backend::whole_model_memory> memory_;
};

} // namespace

std::string whole_model_file(const std::string& dir, const std::string& name, uint32_t version) {
  return dir + "/" + name + "-v" + std::to_string(version) + ".pt";
}

caf::expected<std::unique_ptr<backend::model_executor>>
make_whole_model_executor(const whole_model_options& opts,
                          std::shared_ptr<backend::whole_model_memory> memory) {
  torch_options topts;
  topts.device = opts.device;
  topts.threads = opts.threads;
  auto device = apply_torch_options(topts);
  if (!device)
    return device.error();
  if (opts.dir.empty())
    return make_error(ec::bad_config, "whole-model serving needs the folder of its model files");
  return std::unique_ptr<backend::model_executor>{
      new whole_model_executor(*device, opts.dir, std::move(memory))};
}

} // namespace tessera::torch_backend

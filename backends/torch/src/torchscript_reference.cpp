#include "tessera/torch/torchscript_files.hpp"

#include "tensor_convert.hpp"
#include "tessera/core/error.hpp"

#include <chrono>

namespace tessera::torch_backend {

caf::expected<std::vector<tensor_buffer>>
run_torchscript_file(const std::string& path, const std::vector<tensor_buffer>& inputs) {
  try {
    auto mod = torch::jit::load(path, at::kCPU);
    mod.eval();
    std::vector<c10::IValue> args;
    for (const auto& in : inputs)
      args.emplace_back(view_of(in));
    c10::InferenceMode inference;
    auto tensors = tensors_of(mod.forward(args));
    std::vector<tensor_buffer> out;
    for (const auto& t : tensors) {
      auto buf = buffer_of(t);
      if (!buf)
        return buf.error();
      out.push_back(std::move(*buf));
    }
    return out;
  } catch (const std::exception& e) {
    return make_error(ec::backend_error, path + ": " + torch_message(e));
  }
}

caf::expected<double> time_torchscript_load(const std::string& path) {
  try {
    auto start = std::chrono::steady_clock::now();
    auto mod = torch::jit::load(path, at::kCPU);
    auto end = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::milli>(end - start).count();
  } catch (const std::exception& e) {
    return make_error(ec::backend_error, path + ": " + torch_message(e));
  }
}

} // namespace tessera::torch_backend

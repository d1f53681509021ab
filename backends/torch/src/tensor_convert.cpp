#include "tensor_convert.hpp"

#include "tessera/core/error.hpp"

#include <dlfcn.h>

#include <ATen/Parallel.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

namespace tessera::torch_backend {

caf::expected<at::ScalarType> to_scalar_type(dtype t) {
  switch (t) {
    case dtype::float32: return at::kFloat;
    case dtype::float64: return at::kDouble;
    case dtype::float16: return at::kHalf;
    case dtype::bfloat16: return at::kBFloat16;
    case dtype::int8: return at::kChar;
    case dtype::int16: return at::kShort;
    case dtype::int32: return at::kInt;
    case dtype::int64: return at::kLong;
    case dtype::uint8: return at::kByte;
    case dtype::boolean: return at::kBool;
  }
  return make_error(ec::unsupported, "dtype has no LibTorch equivalent");
}

caf::expected<dtype> from_scalar_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return dtype::float32;
    case at::kDouble: return dtype::float64;
    case at::kHalf: return dtype::float16;
    case at::kBFloat16: return dtype::bfloat16;
    case at::kChar: return dtype::int8;
    case at::kShort: return dtype::int16;
    case at::kInt: return dtype::int32;
    case at::kLong: return dtype::int64;
    case at::kByte: return dtype::uint8;
    case at::kBool: return dtype::boolean;
    default: break;
  }
  return make_error(ec::unsupported, std::string{"LibTorch dtype "} + c10::toString(t)
                                       + " is not supported by Tessera");
}

at::Tensor view_of(const tensor_buffer& buf) {
  return view_of(buf, at::kCPU);
}

at::Tensor view_of(const tensor_buffer& buf, const c10::Device& device) {
  auto owner = buf.owner;
  auto type = to_scalar_type(buf.spec.type);
  return torch::from_blob(const_cast<std::byte*>(buf.data), buf.spec.shape,
                          [owner](void*) mutable { owner.reset(); },
                          torch::TensorOptions().dtype(type ? *type : at::kFloat).device(device));
}

caf::expected<tensor_buffer> buffer_of(const at::Tensor& tensor) {
  auto t = tensor;
  if (!t.device().is_cpu())
    t = t.to(at::kCPU);
  t = t.contiguous();
  auto type = from_scalar_type(t.scalar_type());
  if (!type)
    return type.error();
  tensor_buffer out;
  out.spec.type = *type;
  out.spec.shape.assign(t.sizes().begin(), t.sizes().end());
  out.bytes = t.numel() * t.element_size();
  out.data = static_cast<const std::byte*>(t.data_ptr());
  auto holder = std::make_shared<at::Tensor>(std::move(t));
  out.owner = std::shared_ptr<const void>(holder, holder.get());
  return out;
}

std::vector<at::Tensor> tensors_of(const c10::IValue& result) {
  std::vector<at::Tensor> tensors;
  if (result.isTuple()) {
    for (const auto& e : result.toTupleRef().elements())
      tensors.push_back(e.toTensor());
  } else {
    tensors.push_back(result.toTensor());
  }
  return tensors;
}

std::string torch_message(const std::exception& e) {
  if (const auto* ce = dynamic_cast<const c10::Error*>(&e))
    return ce->what_without_backtrace();
  return e.what();
}

caf::expected<torch::Device> apply_torch_options(const torch_options& opts) {
  const auto& name = opts.device;
  torch::Device device{at::kCPU};
  try {
    device = torch::Device{name};
  } catch (const std::exception& e) {
    return make_error(ec::bad_config, "device \"" + name + "\": " + torch_message(e));
  }
  if (device.is_cuda() && !cuda_available())
    return make_error(ec::unsupported, "device \"" + name
                                         + "\": this LibTorch build has no CUDA or no GPU is present");
  if (opts.threads > 0) {
    at::set_num_threads(static_cast<int>(opts.threads));
    // Debian's LibTorch does its GEMMs in OpenBLAS, whose own thread pool
    // ignores LibTorch's setting: concurrent executors would each start one
    // thread per core and spin against each other. LibTorch's intra-op
    // threads already split a model's work, so OpenBLAS runs one thread
    // inside each: nested, two pools on two cores ran mobilenetv2 at 46 ms a
    // batch against 18 with OpenBLAS at one (2026-12-07, Debian's 1.13).
    using set_threads_fn = void (*)(int);
    if (auto* set = reinterpret_cast<set_threads_fn>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
      set(1);
  }
  torch::jit::getProfilingMode() = opts.profiling_executor;
  torch::jit::getExecutorMode() = opts.profiling_executor;
  return device;
}

} // namespace tessera::torch_backend

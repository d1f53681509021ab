#include "tessera/core/tensor_buffer.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace tessera {

tensor_buffer tensor_buffer::allocate(const tensor_spec& spec, std::byte** writable) {
  tensor_buffer t;
  t.spec = spec;
  t.bytes = spec.bytes();
  size_t rounded = (std::max<size_t>(t.bytes, 1) + 63) / 64 * 64;
  auto* mem = static_cast<std::byte*>(std::aligned_alloc(64, rounded));
  if (mem == nullptr)
    throw std::bad_alloc{};
  std::memset(mem, 0, rounded);
  t.owner = std::shared_ptr<const void>(mem, [](const void* p) {
    std::free(const_cast<void*>(p));
  });
  t.data = mem;
  if (writable != nullptr)
    *writable = mem;
  return t;
}

tensor_buffer tensor_buffer::copy_of(const tensor_spec& spec, const void* src) {
  std::byte* dst = nullptr;
  auto t = allocate(spec, &dst);
  std::memcpy(dst, src, t.bytes);
  return t;
}

tensor_buffer random_tensor(const tensor_spec& spec, uint64_t seed) {
  std::byte* dst = nullptr;
  auto t = tensor_buffer::allocate(spec, &dst);
  uint64_t state = seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
  auto next = [&state] { // splitmix64
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  auto n = static_cast<size_t>(spec.elements());
  switch (spec.type) {
    case dtype::float32: {
      auto* f = reinterpret_cast<float*>(dst);
      for (size_t i = 0; i < n; ++i)
        f[i] = static_cast<float>(static_cast<double>(next() >> 11) * 0x1.0p-52 - 1.0);
      break;
    }
    case dtype::float64: {
      auto* f = reinterpret_cast<double*>(dst);
      for (size_t i = 0; i < n; ++i)
        f[i] = static_cast<double>(next() >> 11) * 0x1.0p-52 - 1.0;
      break;
    }
    case dtype::int64: {
      auto* x = reinterpret_cast<int64_t*>(dst);
      for (size_t i = 0; i < n; ++i)
        x[i] = static_cast<int64_t>(next() % 10);
      break;
    }
    case dtype::int32: {
      auto* x = reinterpret_cast<int32_t*>(dst);
      for (size_t i = 0; i < n; ++i)
        x[i] = static_cast<int32_t>(next() % 10);
      break;
    }
    case dtype::boolean:
      for (size_t i = 0; i < n; ++i)
        dst[i] = static_cast<std::byte>(i % 2);
      break;
    default: // remaining types: small random bytes are valid values for all of them
      for (size_t i = 0; i < t.bytes; ++i)
        dst[i] = static_cast<std::byte>(next() % 10);
      break;
  }
  return t;
}

tensor_spec with_batch(const tensor_spec& spec, int64_t batch) {
  auto out = spec;
  for (auto& d : out.shape)
    if (d == dynamic_dim)
      d = batch;
  return out;
}

uint64_t checksum(const tensor_buffer& t) {
  return XXH3_64bits(t.data, t.bytes);
}

double max_relative_difference(const tensor_buffer& a, const tensor_buffer& b) {
  if (a.spec != b.spec || a.spec.type != dtype::float32)
    return -1.0;
  const auto* x = reinterpret_cast<const float*>(a.data);
  const auto* y = reinterpret_cast<const float*>(b.data);
  double worst = 0.0;
  for (size_t i = 0, n = a.bytes / sizeof(float); i < n; ++i) {
    double scale = std::max({std::fabs(double(x[i])), std::fabs(double(y[i])), 1e-30});
    double rel = std::fabs(double(x[i]) - double(y[i])) / scale;
    if (std::isnan(rel))
      return INFINITY;
    worst = std::max(worst, rel);
  }
  return worst;
}

} // namespace tessera

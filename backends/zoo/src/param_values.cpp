#include "tessera/zoo/param_values.hpp"

#include <cmath>
#include <utility>

namespace tessera::zoo {

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

// FNV-1a over one part, with a separator so ("ab", "c") and ("a", "bc") differ.
uint64_t absorb(uint64_t h, std::string_view part) {
  for (unsigned char c : part) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= 0xff;
  return h * 0x100000001b3ULL;
}

std::pair<float, float> range_of(const param_plan& p) {
  switch (p.init) {
    case init_kind::fan_in_uniform: {
      auto b = static_cast<float>(std::sqrt(6.0 / static_cast<double>(fan_in_of(p.shape))));
      return {-b, b};
    }
    case init_kind::bias:
      return {-0.01f, 0.01f};
    case init_kind::bn_weight:
    case init_kind::bn_var:
      return {0.9f, 1.1f};
    case init_kind::bn_bias:
    case init_kind::bn_mean:
      return {-0.1f, 0.1f};
    case init_kind::ln_weight:
      return {0.95f, 1.05f};
    case init_kind::ln_bias:
      return {-0.02f, 0.02f};
    case init_kind::embedding:
      return {-0.035f, 0.035f};
  }
  return {0.0f, 0.0f};
}

} // namespace

uint64_t stream_key(uint64_t seed, std::string_view family, std::string_view lineage,
                    std::string_view node, std::string_view param) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (auto part : {family, lineage, node, param})
    h = absorb(h, part);
  uint64_t state = seed ^ h;
  return splitmix64(state) ^ rotl(h, 17);
}

uint64_t derived_seed(uint64_t seed, std::string_view purpose) {
  uint64_t state = absorb(0xcbf29ce484222325ULL, purpose) ^ seed;
  return splitmix64(state);
}

param_stream::param_stream(uint64_t key) {
  for (auto& word : s_)
    word = splitmix64(key);
}

uint64_t param_stream::next() {
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

void fill_param(const param_plan& p, uint64_t key, std::vector<float>& out) {
  size_t n = 1;
  for (auto d : p.shape)
    n *= static_cast<size_t>(d);
  out.resize(n);
  auto [lo, hi] = range_of(p);
  param_stream stream{key};
  for (auto& v : out)
    v = stream.uniform(lo, hi);
}

} // namespace tessera::zoo

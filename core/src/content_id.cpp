#include "tessera/core/content_id.hpp"

#include "tessera/core/error.hpp"

#define XXH_STATIC_LINKING_ONLY // XXH3_state_t's layout, for blob_hasher's inline state
#include <xxhash.h>

#include <new>
#if defined(__x86_64__)
// The library's plain XXH3 entry points are SSE2 only; its _dispatch variants
// pick AVX2 or AVX-512 at run time (4-5x faster here). This header maps the
// plain names onto them; the hashes are the same.
#include <xxh_x86dispatch.h>
#endif

namespace tessera {

namespace {

content_id from_xxh(XXH128_hash_t h) {
  return content_id{h.high64, h.low64};
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// The header that precedes a blob's bytes in its hash: the id covers the type,
// so a reshaped or reinterpreted tensor never collides with the original.
void hash_spec(XXH3_state_t* st, const tensor_spec& spec) {
  uint8_t head[2] = {static_cast<uint8_t>(spec.type),
                     static_cast<uint8_t>(spec.shape.size())};
  XXH3_128bits_update(st, head, sizeof head);
  for (int64_t d : spec.shape) {
    uint8_t le[8];
    for (int i = 0; i < 8; ++i)
      le[i] = static_cast<uint8_t>(static_cast<uint64_t>(d) >> (8 * i));
    XXH3_128bits_update(st, le, sizeof le);
  }
}

} // namespace

void content_id::write_hex(char* out) const {
  static constexpr char digits[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    out[i] = digits[(hi >> (60 - 4 * i)) & 0xf];
    out[16 + i] = digits[(lo >> (60 - 4 * i)) & 0xf];
  }
}

std::string content_id::to_hex() const {
  std::string out(32, '0');
  write_hex(out.data());
  return out;
}

std::string content_id::short_hex(size_t n) const {
  return to_hex().substr(0, n);
}

caf::expected<content_id> parse_content_id(std::string_view hex) {
  if (hex.size() != 32)
    return make_error(ec::invalid_argument,
                      "content id \"" + std::string{hex}
                        + "\" must be 32 hex digits");
  content_id id;
  for (size_t i = 0; i < 32; ++i) {
    int v = hex_value(hex[i]);
    if (v < 0)
      return make_error(ec::invalid_argument, "content id \"" + std::string{hex}
                                                + "\" is not hexadecimal");
    auto& half = i < 16 ? id.hi : id.lo;
    half = (half << 4) | static_cast<uint64_t>(v);
  }
  return id;
}

namespace {

XXH3_state_t* state_in(unsigned char* storage) {
  return reinterpret_cast<XXH3_state_t*>(storage);
}

} // namespace

blob_hasher::blob_hasher(const tensor_spec& spec) {
  static_assert(sizeof(XXH3_state_t) <= sizeof(state_), "XXH3_state_t outgrew blob_hasher");
  static_assert(alignof(XXH3_state_t) <= 64, "XXH3_state_t needs a stricter alignment");
  auto* st = new (state_) XXH3_state_t;
  XXH3_INITSTATE(st);
  XXH3_128bits_reset(st);
  hash_spec(st, spec);
}

blob_hasher::~blob_hasher() = default;

void blob_hasher::update(const void* data, size_t bytes) {
  XXH3_128bits_update(state_in(state_), data, bytes);
}

content_id blob_hasher::digest() const {
  return from_xxh(XXH3_128bits_digest(state_in(const_cast<unsigned char*>(state_))));
}

content_id blob_id_of(const tensor_spec& spec, const void* data, size_t bytes) {
  blob_hasher h{spec};
  h.update(data, bytes);
  return h.digest();
}

content_id block_id_of(const std::vector<content_id>& blob_ids) {
  std::vector<uint64_t> words;
  words.reserve(blob_ids.size() * 2);
  for (const auto& id : blob_ids) {
    words.push_back(id.hi);
    words.push_back(id.lo);
  }
  return from_xxh(XXH3_128bits(words.data(), words.size() * sizeof(uint64_t)));
}

content_id skeleton_id_of(std::string_view kind, std::string_view bytes) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_128bits_reset(st);
  XXH3_128bits_update(st, kind.data(), kind.size());
  XXH3_128bits_update(st, "\0", 1);
  XXH3_128bits_update(st, bytes.data(), bytes.size());
  auto id = from_xxh(XXH3_128bits_digest(st));
  XXH3_freeState(st);
  return id;
}

} // namespace tessera

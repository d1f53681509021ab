#include "tessera/store/stream_copy.hpp"

#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace tessera::store {

#if defined(__x86_64__)

namespace {

constexpr size_t vector_bytes = 16; // SSE2, which every x86-64 has
constexpr size_t line_bytes = 64;

} // namespace

void stream_copy(std::byte* dst, const std::byte* src, size_t bytes) {
  if (bytes < stream_copy_min_bytes) {
    std::memcpy(dst, src, bytes);
    return;
  }
  // Streaming stores need an aligned destination: the bytes before the
  // first 16-byte boundary go through memcpy, as does the tail.
  auto misaligned = reinterpret_cast<uintptr_t>(dst) % vector_bytes;
  size_t head = misaligned == 0 ? 0 : vector_bytes - misaligned;
  std::memcpy(dst, src, head);
  size_t i = head;
  for (; i + line_bytes <= bytes; i += line_bytes) {
    auto a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    auto b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 16));
    auto c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 32));
    auto d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 48));
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i), a);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 16), b);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 32), c);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 48), d);
  }
  std::memcpy(dst + i, src + i, bytes - i);
  // Non-temporal stores are weakly ordered: without the fence, a thread
  // that takes the block after a release could still read old bytes.
  _mm_sfence();
}

#else

void stream_copy(std::byte* dst, const std::byte* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
}

#endif

} // namespace tessera::store

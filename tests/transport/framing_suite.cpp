// Framing: small tensors inline, large ones in frames of their own that are sent and
// received without copies, and whose memory stays alive as long as a tensor needs it.
#include "tessera/core/error.hpp"
#include "tessera/transport/codec.hpp"
#include "why.hpp"

#include <doctest/doctest.h>

#include <cstring>

using namespace tessera;
using namespace tessera::transport;

namespace {

request infer_with(std::vector<tensor_payload> inputs) {
  infer_request r;
  r.model_name = "m";
  r.inputs = std::move(inputs);
  return request{"f1", std::move(r)};
}

const infer_request& as_infer(const decoded<request_body>& d) {
  REQUIRE_MESSAGE(d.value, test::why(d.value));
  return std::get<infer_request>(*d.value);
}

bool inside(const std::byte* p, const void* frame, size_t size) {
  auto* begin = static_cast<const std::byte*>(frame);
  return p >= begin && p < begin + size;
}

} // namespace

TEST_SUITE("framing") {

  TEST_CASE("small tensors travel inline in the header frame") {
    auto frames = encode_request(infer_with({{"x", random_tensor({dtype::float32, {16}}, 1)}}));
    REQUIRE(frames);
    CHECK(frames->size() == 1);
  }

  TEST_CASE("tensors at the threshold get a frame of their own, shared not copied") {
    auto big = random_tensor({dtype::float32, {16384}}, 2); // 64 KiB exactly
    auto owners_before = big.owner.use_count();
    auto frames = encode_request(infer_with({{"x", big}}));
    REQUIRE(frames);
    REQUIRE(frames->size() == 2);
    CHECK((*frames)[1].data() == static_cast<const void*>(big.data));
    CHECK((*frames)[1].size() == big.bytes);
    CHECK(big.owner.use_count() == owners_before + 1);
    frames->clear(); // ZeroMQ releases its reference when the frame is gone
    CHECK(big.owner.use_count() == owners_before);
  }

  TEST_CASE("frames keep the tensor alive after the caller dropped it") {
    frame_list frames;
    std::vector<std::byte> expected;
    {
      auto big = random_tensor({dtype::int32, {40000}}, 3);
      expected.assign(big.data, big.data + big.bytes);
      auto encoded = encode_request(infer_with({{"x", big}}));
      REQUIRE(encoded);
      frames = std::move(*encoded);
    }
    REQUIRE(frames.size() == 2);
    CHECK(std::memcmp(frames[1].data(), expected.data(), expected.size()) == 0);
  }

  TEST_CASE("decoded large tensors view the received frame") {
    auto big = random_tensor({dtype::float32, {1, 128, 256}}, 4);
    auto frames = encode_request(infer_with({{"x", big}}));
    REQUIRE(frames);
    // What a receiver holds: a copy of each frame, as a socket would deliver it.
    frame_list received;
    for (auto& f : *frames)
      received.emplace_back(f.data(), f.size());
    const void* frame_data = received[1].data();
    size_t frame_size = received[1].size();
    auto decoded_msg = decode_request(std::move(received));
    const auto& in = as_infer(decoded_msg).inputs.at(0).tensor;
    CHECK(inside(in.data, frame_data, frame_size));
    CHECK(in.data != big.data);
    CHECK(std::memcmp(in.data, big.data, big.bytes) == 0);
  }

  TEST_CASE("a decoded tensor outlives the decode result and keeps its bytes") {
    auto big = random_tensor({dtype::float32, {70000}}, 5);
    tensor_buffer kept;
    {
      auto frames = encode_request(infer_with({{"x", big}}));
      REQUIRE(frames);
      frame_list received;
      for (auto& f : *frames)
        received.emplace_back(f.data(), f.size());
      auto d = decode_request(std::move(received));
      kept = as_infer(d).inputs.at(0).tensor;
    }
    REQUIRE(kept.owner);
    CHECK(checksum(kept) == checksum(big));
  }

  TEST_CASE("several large tensors are numbered in order and mixed with inline ones") {
    auto a = random_tensor({dtype::float32, {20000}}, 6);
    auto b = random_tensor({dtype::uint8, {10}}, 7);
    auto c = random_tensor({dtype::int64, {9000}}, 8);
    auto frames = encode_request(infer_with({{"a", a}, {"b", b}, {"c", c}}));
    REQUIRE(frames);
    REQUIRE(frames->size() == 3);
    CHECK((*frames)[1].data() == static_cast<const void*>(a.data));
    CHECK((*frames)[2].data() == static_cast<const void*>(c.data));
    auto d = decode_request(std::move(*frames));
    const auto& in = as_infer(d).inputs;
    REQUIRE(in.size() == 3);
    CHECK(checksum(in[0].tensor) == checksum(a));
    CHECK(checksum(in[1].tensor) == checksum(b));
    CHECK(checksum(in[2].tensor) == checksum(c));
  }

  TEST_CASE("over inproc a large tensor reaches the receiver without any copy") {
    zmq::context_t ctx;
    zmq::socket_t tx{ctx, zmq::socket_type::pair};
    zmq::socket_t rx{ctx, zmq::socket_type::pair};
    rx.bind("inproc://framing-zero-copy");
    tx.connect("inproc://framing-zero-copy");
    auto big = random_tensor({dtype::float32, {1, 3, 128, 128}}, 9);
    auto frames = encode_request(infer_with({{"x", big}}));
    REQUIRE(frames);
    REQUIRE(frames->size() == 2);
    for (size_t i = 0; i < frames->size(); ++i)
      REQUIRE(tx.send((*frames)[i],
                      i + 1 < frames->size() ? zmq::send_flags::sndmore : zmq::send_flags::none));
    frame_list received;
    do {
      zmq::message_t m;
      REQUIRE(rx.recv(m));
      received.push_back(std::move(m));
    } while (received.back().more());
    auto d = decode_request(std::move(received));
    CHECK(as_infer(d).inputs.at(0).tensor.data == big.data);
  }

  TEST_CASE("a lower threshold frames smaller tensors") {
    codec_limits limits;
    limits.frame_threshold_bytes = 16;
    auto frames = encode_request(infer_with({{"x", random_tensor({dtype::float32, {4}}, 1)},
                                             {"y", random_tensor({dtype::float32, {3}}, 2)}}),
                                 limits);
    REQUIRE(frames);
    CHECK(frames->size() == 2); // 16 bytes framed, 12 inline
  }

  TEST_CASE("misaligned inline data is copied to aligned memory") {
    // A 1-byte tensor before it shifts the next bin by one byte in the header.
    auto frames = encode_request(infer_with({{"p", random_tensor({dtype::uint8, {1}}, 1)},
                                             {"x", random_tensor({dtype::float64, {3}}, 2)}}));
    REQUIRE(frames);
    auto d = decode_request(std::move(*frames));
    for (const auto& in : as_infer(d).inputs)
      CHECK(reinterpret_cast<uintptr_t>(in.tensor.data) % element_bytes(in.tensor.spec.type) == 0);
  }

  TEST_CASE("messages above the size limit are refused on both sides") {
    codec_limits small;
    small.max_message_bytes = 100000;
    auto req = infer_with({{"x", random_tensor({dtype::float32, {30000}}, 1)}});
    auto refused = encode_request(req, small);
    REQUIRE_FALSE(refused);
    CHECK(code_of(refused.error()) == ec::message_too_large);
    auto frames = encode_request(req);
    REQUIRE(frames);
    auto d = decode_request(std::move(*frames), small);
    REQUIRE_FALSE(d.value);
    CHECK(code_of(d.value.error()) == ec::message_too_large);
    CHECK(d.id == "f1");
  }

} // TEST_SUITE

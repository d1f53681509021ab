// Turns requests and replies into ZeroMQ multipart messages and back. Frame 0 is a
// MessagePack map; tensors of frame_threshold_bytes or more follow as frames of their
// own, sent and received without copies. Decoding never throws.
#pragma once

#include "tessera/transport/codec_limits.hpp"
#include "tessera/transport/fwd.hpp"
#include "tessera/transport/requests.hpp"
#include "tessera/transport/responses.hpp"

#include <caf/expected.hpp>

#include <zmq.hpp>

#include <optional>
#include <string>
#include <vector>

namespace tessera::transport {

// frame_list (fwd.hpp): the frames of one message, header first, without routing id
// or delimiter.

/// What decoding a message yields: the value or a specific error, plus the message's
/// `id` whenever it could be read, so that even a failure can be answered.
template <class T>
struct decoded {
  std::string id;
  caf::expected<T> value{caf::error{}};
  /// Replies only: the uplink share the gateway gives the client, in bytes per
  /// second (`uplink_share_bytes_per_s`; absent when the node sets no shares).
  std::optional<uint64_t> uplink_share_bytes_per_s;
};

/// What a gateway adds to the envelope of any reply, success or error.
struct reply_advice {
  /// The client's share of the node's uplink, in bytes per second; none when
  /// the node has no uplink capacity configured (docs/protocol.md, "Envelope").
  std::optional<uint64_t> uplink_share_bytes_per_s;
};

/// Encodes a request. Large tensors become frames that share the tensor's owner.
/// Fails with invalid_argument (a tensor whose bytes do not match its spec) or
/// message_too_large (beyond `limits`).
caf::expected<frame_list> encode_request(const request& req, const codec_limits& limits = {});

/// Decodes and validates a request. Decoded tensors view the frames, which they keep
/// alive; the frames are consumed.
decoded<request_body> decode_request(frame_list frames, const codec_limits& limits = {});

/// Encodes a successful reply to the request `id`.
caf::expected<frame_list> encode_response(const std::string& id, const response_body& body,
                                          const codec_limits& limits = {},
                                          const reply_advice& advice = {});

/// Encodes a failure reply; the code is tessera::code_of(err), the message its context.
frame_list encode_error_response(const std::string& id, const caf::error& err,
                                 const reply_advice& advice = {});

/// Decodes a reply. An error reply from the server gives its code and message as a
/// caf::error; a reply that cannot be decoded gives malformed_request (or the
/// specific code) with a message starting "reply: ".
decoded<response_body> decode_response(frame_list frames, const codec_limits& limits = {});

} // namespace tessera::transport

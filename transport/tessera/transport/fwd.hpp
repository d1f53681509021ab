// Forward declarations of the transport layer, for headers that only name its types.
#pragma once

#include <vector>

namespace zmq {
class message_t;
} // namespace zmq

namespace tessera::transport {

struct codec_limits;
struct tensor_payload;
struct tensor_metadata;
struct request;
struct infer_request;
struct infer_response;
struct peer;
struct incoming_request;
class client;
class router_socket;

template <class T>
struct decoded;

using frame_list = std::vector<zmq::message_t>;

} // namespace tessera::transport

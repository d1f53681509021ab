// Connections that never finish ZeroMQ's handshake (a raw TCP connect that
// sends no greeting) are dropped after the node's handshake_timeout_ms, and
// the node raises its descriptor limit at start, so that idle connects do not
// lock clients out (issue 26, part 2).
#include "node_fixture.hpp"
#include "why.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

using namespace tessera;
using namespace tessera::test;

namespace {

// A TCP connection to "tcp://127.0.0.1:PORT" that sends nothing; -1 on failure.
int raw_connect(const std::string& endpoint) {
  auto colon = endpoint.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(endpoint.substr(colon + 1))));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    fd = -1;
  }
  return fd;
}

// Whether the peer closed `fd` within `ms`: the greeting ZeroMQ sent first is
// read past, then end of file (or a reset) must come.
bool closed_within(int fd, int ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  char buf[256];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return false;
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      return true; // end of file, or reset by the node
  }
}

} // namespace

TEST_SUITE("node_connections") {
  TEST_CASE("connections that never finish the handshake are dropped; clients are still served") {
    const auto& zoo = small_zoo::get();
    auto cfg = node_config_for(zoo);
    cfg.handshake_timeout_ms = 300;
    auto n = start_node(cfg);
    // The node raised this process's descriptor limit to its hard limit.
    rlimit lim{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
    CHECK(lim.rlim_cur == lim.rlim_max);
    std::vector<int> idle;
    for (int i = 0; i < 50; ++i) {
      int fd = raw_connect(n->endpoint());
      REQUIRE(fd >= 0);
      idle.push_back(fd);
    }
    // While they hang, a client is served.
    zmq::context_t ctx{1};
    auto cl = transport::client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    auto r = cl->call({"", infer_for(zoo.manifest("mobilenetv2"), 1, 3)}, reply_timeout);
    REQUIRE_MESSAGE(r, test::why(r));
    // Each is closed by the node once its handshake time is up (well within 5 s).
    size_t closed = 0;
    for (int fd : idle) {
      closed += closed_within(fd, 5000) ? 1 : 0;
      ::close(fd);
    }
    CHECK(closed == idle.size());
    // With the timeout off (0), one stays open past that time.
    cfg.handshake_timeout_ms = 0;
    cfg.node_name = "patient";
    auto patient = start_node(cfg);
    int fd = raw_connect(patient->endpoint());
    REQUIRE(fd >= 0);
    CHECK_FALSE(closed_within(fd, 1500));
    ::close(fd);
  }
}

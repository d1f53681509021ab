// The Python client (deploy/clients/python/tessera_client.py) against the C++ server
// side: its self-test sends health and infer requests, which C++ decodes and checks,
// and it checks the replies C++ sends back; its retry self-test runs against a C++
// server that dies and comes back. Skipped where python3-zmq is missing.
#include "restarting_server.hpp"

#include "skip.hpp"
#include "tessera/core/error.hpp"
#include "tessera/transport/router_socket.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>

using namespace std::chrono_literals;
using namespace tessera;
using namespace tessera::transport;

namespace {

const std::string client_script =
    std::string{TESSERA_SOURCE_DIR} + "/deploy/clients/python/tessera_client.py";

/// The first Python that can import zmq and msgpack (a pyenv python3 may shadow
/// Debian's, which has them), or empty.
std::string python_with_modules() {
  for (std::string python : {"python3", "/usr/bin/python3"})
    if (std::system((python + " -c 'import zmq, msgpack' >/dev/null 2>&1").c_str()) == 0)
      return python;
  return {};
}

struct python_run {
  int status = -1;
  std::string output;
};

/// Runs the client script with `args`, stderr with stdout.
python_run run_client_script(const std::string& python, const std::string& args) {
  python_run run;
  auto command = python + " " + client_script + " " + args + " 2>&1";
  if (auto* pipe = ::popen(command.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, pipe) != nullptr)
      run.output += buf;
    run.status = ::pclose(pipe);
  }
  return run;
}

/// Answers what the self-test sends, checking each request; returns what it saw.
std::string serve_selftest(router_socket& socket) {
  std::string log;
  for (int served = 0; served < 3; ++served) {
    auto in = socket.receive(10s);
    if (!in)
      return log + "timeout;";
    auto& req = in->request;
    if (!req.value) {
      log += "error:" + std::string{to_string(code_of(req.value.error()))} + ";";
      socket.reply_error(in->from, req.id, req.value.error());
      continue;
    }
    log += std::string{to_string(operation_of(*req.value))} + ":" + req.id + ";";
    if (std::holds_alternative<health_request>(*req.value)) {
      socket.reply(in->from, req.id, health_response{true, true});
    } else if (auto* infer = std::get_if<infer_request>(&*req.value)) {
      for (const auto& t : infer->inputs)
        log += t.name + "=" + to_string(t.tensor.spec) + "/" + std::to_string(checksum(t.tensor)) +
               ";";
      infer_response out{infer->model_name, 1, infer->inputs, {{"echo", true}}, std::nullopt};
      socket.reply(in->from, req.id, out);
    }
  }
  return log;
}

} // namespace

TEST_SUITE("interop") {

  TEST_CASE("the Python client talks to the C++ server side") {
    auto python = python_with_modules();
    if (python.empty()) {
      TESSERA_SKIP("python3-zmq or python3-msgpack is not installed");
    }
    zmq::context_t ctx;
    auto socket = router_socket::bind(ctx, "tcp://127.0.0.1:*");
    REQUIRE(socket);
    auto served = std::async(std::launch::async, [&] { return serve_selftest(*socket); });
    auto run = run_client_script(python, "--selftest " + socket->endpoint());
    auto log = served.get();
    INFO("python said: " << run.output);
    INFO("server saw: " << log);
    CHECK(run.status == 0);
    CHECK(log.find("health:py-health;") != std::string::npos);
    // The same bytes as the script sends: floats 0..5, and a 64 KiB ramp that is framed.
    float small[6] = {0, 1, 2, 3, 4, 5};
    auto x = tensor_buffer::copy_of({dtype::float32, {2, 3}}, small);
    std::string ramp(65536, '\0');
    for (size_t i = 0; i < ramp.size(); ++i)
      ramp[i] = static_cast<char>(i % 251);
    auto image = tensor_buffer::copy_of({dtype::uint8, {1, 256, 256}}, ramp.data());
    CHECK(log.find("infer:py-infer-small;x=float32[2,3]/" + std::to_string(checksum(x)) + ";") !=
          std::string::npos);
    CHECK(log.find("infer:py-infer-large;image=uint8[1,256,256]/" +
                   std::to_string(checksum(image)) + ";") != std::string::npos);
    CHECK(log.find("error:") == std::string::npos);
  }

  TEST_CASE("the Python client re-sends only its infer after its server comes back, if asked") {
    auto python = python_with_modules();
    if (python.empty()) {
      TESSERA_SKIP("python3-zmq or python3-msgpack is not installed");
    }
    for (std::string retry : {"on", "off"}) {
      CAPTURE(retry);
      zmq::context_t ctx;
      // The first life takes py-unload and py-retry and dies; the second answers twice.
      test::restarting_server server{ctx, {{2}, {0, 0ms, 2}}};
      REQUIRE_FALSE(server.endpoint().empty());
      auto run = run_client_script(python, "--selftest-retry " + retry + " " + server.endpoint());
      INFO("python said: " << run.output);
      CHECK(run.status == 0);
      CHECK(server.ids_seen_by(0) == std::vector<std::string>{"py-unload", "py-retry"});
      auto again = server.ids_seen_by(1);
      if (retry == "on")
        CHECK(again == std::vector<std::string>{"py-retry", "py-health"});
      else
        CHECK(again == std::vector<std::string>{"py-health"});
    }
  }

} // TEST_SUITE

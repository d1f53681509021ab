// Three `tessera node` processes on loopback: a coordinator and two workers.
// Requests from several clients are served across the workers; a worker killed
// with SIGKILL mid-traffic leaves every request answered and the rest served.
#include "node_fixture.hpp"
#include "why.hpp"

#include <atomic>
#include <csignal>
#include <thread>
#include <mutex>
#include <set>

#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

using namespace tessera;
using namespace tessera::test;
using namespace tessera::transport;

namespace {

// A free loopback port (bound once by the kernel's choice, then released).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

struct node_process {
  pid_t pid = -1;
  std::string endpoint;

  node_process(const std::string& store, const std::string& name, std::vector<std::string> settings) {
    endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
    std::vector<std::string> args{TESSERA_BINARY, "--store", store, "--set", "node_name=" + name,
                                  "--set", "torch_threads=1"};
    for (auto& s : settings) {
      args.push_back("--set");
      args.push_back(s);
    }
    args.push_back("node");
    args.push_back("--listen");
    args.push_back(endpoint);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    REQUIRE(posix_spawn(&pid, TESSERA_BINARY, &files, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&files);
  }

  void kill_hard() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      pid = -1;
    }
  }

  ~node_process() {
    if (pid > 0) {
      ::kill(pid, SIGINT);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

void wait_until_ready(zmq::context_t& ctx, const std::string& endpoint) {
  auto cl = client::connect(ctx, endpoint);
  REQUIRE(cl);
  for (int i = 0; i < 200; ++i) {
    auto h = cl->call_as<health_response>({"", health_request{}}, std::chrono::milliseconds(100));
    if (h && h->ready)
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("node at " << endpoint << " did not come up");
}

struct cluster {
  std::unique_ptr<node_process> w1, w2, coordinator;
  zmq::context_t ctx{1};

  explicit cluster(const small_zoo& zoo) {
    w1 = std::make_unique<node_process>(zoo.dir->path(), "worker1", std::vector<std::string>{});
    w2 = std::make_unique<node_process>(zoo.dir->path(), "worker2", std::vector<std::string>{});
    coordinator = std::make_unique<node_process>(
      zoo.dir->path(), "coordinator",
      std::vector<std::string>{"executors=0", "peers=" + w1->endpoint + "," + w2->endpoint});
    wait_until_ready(ctx, w1->endpoint);
    wait_until_ready(ctx, w2->endpoint);
    wait_until_ready(ctx, coordinator->endpoint);
    // The coordinator sees its workers once their first heartbeats return.
    auto cl = client::connect(ctx, coordinator->endpoint);
    REQUIRE(cl);
    for (int i = 0; i < 100; ++i) {
      auto s = cl->call_as<server_status_response>({"", server_status_request{}}, reply_timeout);
      REQUIRE(s);
      if (std::count_if(s->nodes.begin(), s->nodes.end(), [](const auto& n) { return n.state == "up"; }) == 3)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("the coordinator never saw both workers");
  }
};

std::string executor_of(const infer_response& r) {
  auto i = r.parameters.find("executor");
  return i == r.parameters.end() ? "" : std::get<std::string>(i->second);
}

} // namespace

TEST_SUITE("cluster") {
  TEST_CASE("three node processes serve concurrent clients across the workers") {
    const auto& zoo = small_zoo::get();
    cluster c{zoo};
    const char* models[] = {"resnet18", "mobilenetv2", "vit-tiny", "resnet-cars"};
    std::atomic<int> answered{0};
    std::mutex mtx;
    std::set<std::string> workers;
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
      threads.emplace_back([&, t] {
        zmq::context_t ctx{1};
        auto cl = client::connect(ctx, c.coordinator->endpoint);
        if (!cl)
          return;
        for (int i = 0; i < 5; ++i) {
          const auto& m = zoo.manifest(models[(t + i) % 4]);
          auto req = infer_for(m, 1, 10 * t + i);
          auto r = cl->call_as<infer_response>({"", req}, reply_timeout);
          if (!r)
            continue;
          ++answered;
          std::lock_guard<std::mutex> guard{mtx};
          auto who = executor_of(*r);
          workers.insert(who.find("worker1") != std::string::npos ? "worker1" : who.find("worker2") != std::string::npos ? "worker2" : who);
        }
      });
    for (auto& t : threads)
      t.join();
    CHECK(answered == 15);
    CHECK(workers == std::set<std::string>{"worker1", "worker2"});
  }

  TEST_CASE("a worker killed with SIGKILL mid-traffic leaves no request unanswered") {
    const auto& zoo = small_zoo::get();
    cluster c{zoo};
    constexpr int clients = 3;
    constexpr int per_client = 8;
    const auto deadline = std::chrono::milliseconds(20000);
    std::atomic<int> ok{0};
    std::atomic<int> failed{0};
    std::atomic<int> late{0};
    std::atomic<int> unanswered{0}; // the client gave up waiting: no reply at all
    std::atomic<int> not_connected{0};
    std::atomic<int> sent{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t)
      threads.emplace_back([&, t] {
        zmq::context_t ctx{1};
        auto cl = client::connect(ctx, c.coordinator->endpoint);
        if (!cl) {
          ++not_connected;
          sent += per_client; // the wait below for sends must not hang on it
          return;
        }
        for (int i = 0; i < per_client; ++i) {
          auto req = infer_for(zoo.manifest(i % 2 == 0 ? "mobilenetv2" : "vit-tiny"), 1, 100 * t + i);
          req.deadline_ms = deadline.count();
          auto start = std::chrono::steady_clock::now();
          ++sent;
          // The client waits longer than the deadline: the node must answer by then.
          auto r = cl->call({"", req}, deadline + std::chrono::milliseconds(5000));
          if (std::chrono::steady_clock::now() - start > deadline + std::chrono::milliseconds(1000))
            ++late;
          if (r)
            ++ok;
          else if (describe(r.error()).find("no reply in time") != std::string::npos)
            ++unanswered;
          else
            ++failed;
        }
      });
    while (sent < clients * 2)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    c.w1->kill_hard();
    for (auto& t : threads)
      t.join();
    REQUIRE(not_connected == 0);
    CHECK(unanswered == 0); // every request answered by the node, with a result or an error
    CHECK(ok + failed == clients * per_client);
    CHECK(late == 0);                          // none past its deadline
    CHECK(ok >= clients * per_client / 2);     // and the survivor kept serving
    zmq::context_t ctx{1};
    auto cl = client::connect(ctx, c.coordinator->endpoint);
    REQUIRE(cl);
    auto after = cl->call_as<infer_response>({"", infer_for(zoo.manifest("resnet18"), 1, 5)}, reply_timeout);
    REQUIRE_MESSAGE(after, test::why(after));
    CHECK(executor_of(*after).find("worker2") != std::string::npos);
  }
}

#include "tessera/actors/request_log.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>

namespace tessera::actors {

struct request_log::impl {
  log_options opts;
  std::shared_ptr<spdlog::logger> logger;
};

request_log::request_log(log_options opts) : impl_(std::make_unique<impl>()) {
  impl_->opts = std::move(opts);
  static std::atomic<int> instances{0};
  auto name = "tessera-" + impl_->opts.node + "-" + std::to_string(instances++);
  std::shared_ptr<spdlog::sinks::sink> sink;
  try {
    if (!impl_->opts.file.empty())
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(impl_->opts.file);
  } catch (const spdlog::spdlog_ex&) {
    sink = nullptr; // fall back to standard error
  }
  if (!sink)
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  impl_->logger = std::make_shared<spdlog::logger>(name, sink);
  // JSON lines are whole objects built here; text lines get a time and level.
  impl_->logger->set_pattern(impl_->opts.json ? "%v" : "%Y-%m-%dT%H:%M:%S.%e %l %v");
  impl_->logger->set_level(spdlog::level::from_str(impl_->opts.level));
  impl_->logger->flush_on(spdlog::level::warn);
}

request_log::~request_log() {
  impl_->logger->flush();
}

namespace {

std::string now_iso() {
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  char buf[40];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string{buf} + "." + std::to_string(1000 + ms).substr(1) + "Z";
}

} // namespace

void request_log::answered(const request_log_entry& e) {
  // Health probes (peers send one every 200 ms) are only worth a debug line.
  auto level = e.code != "ok"              ? spdlog::level::warn
               : e.operation == "health" ? spdlog::level::debug
                                         : spdlog::level::info;
  if (!impl_->logger->should_log(level))
    return;
  if (impl_->opts.json) {
    nlohmann::json line = {{"time", now_iso()},        {"level", spdlog::level::to_string_view(level).data()},
                           {"node", impl_->opts.node}, {"event", "request"},
                           {"id", e.id},               {"trace", e.trace},
                           {"operation", e.operation}, {"model", e.model},
                           {"code", e.code},           {"ms", e.ms}};
    if (!e.message.empty())
      line["message"] = e.message;
    impl_->logger->log(level, "{}", line.dump());
    return;
  }
  impl_->logger->log(level, "node={} request id={} trace={} op={} model={} code={} ms={:.2f}{}{}",
                     impl_->opts.node, e.id, e.trace, e.operation, e.model.empty() ? "-" : e.model, e.code,
                     e.ms, e.message.empty() ? "" : " message=", e.message);
}

void request_log::event(const std::string& what) {
  if (impl_->opts.json)
    impl_->logger->info("{}", nlohmann::json{{"time", now_iso()}, {"level", "info"}, {"node", impl_->opts.node},
                                             {"event", what}}
                                .dump());
  else
    impl_->logger->info("node={} {}", impl_->opts.node, what);
}

} // namespace tessera::actors

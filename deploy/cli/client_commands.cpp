// The client side of the CLI: `tessera infer` sends inference requests to a
// node (random inputs shaped from the model's metadata) and `tessera call`
// sends any other operation. Both print what came back, errors included.
#include "client_options.hpp"
#include "commands.hpp"
#include "node_status_view.hpp"

#include "tessera/core/error.hpp"
#include "tessera/transport/client.hpp"

#include <cinttypes>
#include <cstdio>

namespace tessera::cli {

namespace {

using namespace transport;

void print_response(const response_body& body) {
  std::visit(
    [](const auto& r) {
      using T = std::decay_t<decltype(r)>;
      if constexpr (std::is_same_v<T, infer_response>) {
        std::printf("model %s:%" PRId64 "\n", r.model_name.c_str(), r.model_version.value_or(0));
        for (const auto& o : r.outputs)
          std::printf("  %s: %s checksum %016" PRIx64 "\n", o.name.c_str(), to_string(o.tensor.spec).c_str(),
                      checksum(o.tensor));
        for (const auto& [k, v] : r.parameters)
          std::visit([&](const auto& x) {
            if constexpr (std::is_same_v<std::decay_t<decltype(x)>, std::string>)
              std::printf("  %s = %s\n", k.c_str(), x.c_str());
            else if constexpr (std::is_same_v<std::decay_t<decltype(x)>, double>)
              std::printf("  %s = %.2f\n", k.c_str(), x);
            else
              std::printf("  %s = %lld\n", k.c_str(), static_cast<long long>(x));
          }, v);
      } else if constexpr (std::is_same_v<T, model_load_response>) {
        std::printf("loaded %s: read %s, reused %s\n", r.model_name.c_str(),
                    format_mib(r.loaded_bytes).c_str(), format_mib(r.reused_bytes).c_str());
      } else if constexpr (std::is_same_v<T, model_unload_response>) {
        std::printf("unloaded %s\n", r.model_name.c_str());
      } else if constexpr (std::is_same_v<T, model_ready_response>) {
        auto state = r.state.empty() ? std::string{r.ready ? "ready" : "not ready"} : r.state;
        std::printf("%s: %s%s%s\n", r.model_name.c_str(), state.c_str(),
                    r.reason.empty() ? "" : ": ", r.reason.c_str());
      } else if constexpr (std::is_same_v<T, repository_index_response>) {
        for (const auto& m : r.models)
          std::printf("%-20s v%-3" PRId64 " %s%s%s\n", m.name.c_str(), m.version.value_or(0),
                      m.state.c_str(), m.reason.empty() ? "" : ": ", m.reason.c_str());
      } else if constexpr (std::is_same_v<T, server_status_response>) {
        print_node_status(r);
      } else if constexpr (std::is_same_v<T, health_response>) {
        std::printf("live %s, ready %s\n", r.live ? "yes" : "no", r.ready ? "yes" : "no");
      } else if constexpr (std::is_same_v<T, metadata_response>) {
        std::printf("%s %s %s\n", r.name.c_str(), r.version.c_str(), r.platform.c_str());
        for (const auto& t : r.inputs)
          std::printf("  input %s: %s\n", t.name.c_str(), to_string(t.spec).c_str());
        for (const auto& t : r.outputs)
          std::printf("  output %s: %s\n", t.name.c_str(), to_string(t.spec).c_str());
      } else {
        std::printf("ok\n");
      }
    },
    body);
}

} // namespace

void add_client_commands(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* infer = app.add_subcommand("infer", "send inference requests to a node (random inputs)");
  auto io = std::make_shared<client_options>();
  auto model = std::make_shared<std::string>();
  auto batch = std::make_shared<int64_t>(1);
  auto count = std::make_shared<int>(1);
  auto deadline = std::make_shared<int64_t>(0);
  auto priority = std::make_shared<int64_t>(0);
  add_client_options(infer, *io);
  infer->add_option("--model", *model, "model name (NAME or NAME:VERSION)")->required();
  infer->add_option("--batch", *batch, "batch size")->check(CLI::Range(1, 256));
  infer->add_option("--count", *count, "requests to send")->check(CLI::Range(1, 100000));
  infer->add_option("--deadline-ms", *deadline, "deadline budget per request (0: none)");
  infer->add_option("--priority", *priority, "priority (higher runs first)");
  infer->callback([&action, io, model, batch, count, deadline, priority] {
    action = [io, model, batch, count, deadline, priority]() -> int {
      zmq::context_t zctx{1};
      auto c = connect_client(zctx, *io);
      if (!c)
        return fail(c.error());
      std::string name;
      uint32_t version = 0;
      if (auto err = parse_model_ref(*model, name, version))
        return fail(err);
      auto timeout = std::chrono::milliseconds(io->timeout_ms);
      std::optional<int64_t> v = version == 0 ? std::nullopt : std::optional<int64_t>{version};
      auto meta = c->call_as<metadata_response>({"", metadata_request{name, v}}, timeout);
      if (!meta)
        return fail(meta.error());
      int failures = 0;
      for (int i = 0; i < *count; ++i) {
        infer_request req;
        req.model_name = name;
        req.model_version = v;
        for (size_t k = 0; k < meta->inputs.size(); ++k)
          req.inputs.push_back({meta->inputs[k].name,
                                random_tensor(with_batch(meta->inputs[k].spec, *batch), 1000 * i + k)});
        if (*deadline > 0)
          req.deadline_ms = *deadline;
        req.priority = *priority;
        auto start = std::chrono::steady_clock::now();
        auto r = c->call({"", std::move(req)}, timeout);
        auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        std::printf("request %d: %.1f ms\n", i + 1, ms);
        if (!r) {
          std::printf("  error: %s\n", describe(r.error()).c_str());
          ++failures;
          continue;
        }
        print_response(*r);
      }
      return failures == 0 ? 0 : 1;
    };
  });

  auto* call = app.add_subcommand("call", "send one operation to a node: health, status, models, "
                                          "load, unload, ready, metadata");
  auto co = std::make_shared<client_options>();
  auto op = std::make_shared<std::string>();
  auto target = std::make_shared<std::string>();
  add_client_options(call, *co);
  call->add_option("operation", *op, "the operation")
    ->required()
    ->check(CLI::IsMember({"health", "status", "models", "load", "unload", "ready", "metadata"}));
  call->add_option("--model", *target, "model for load, unload, ready and metadata");
  call->callback([&action, co, op, target] {
    action = [co, op, target]() -> int {
      zmq::context_t zctx{1};
      auto c = connect_client(zctx, *co);
      if (!c)
        return fail(c.error());
      std::string name;
      uint32_t version = 0;
      if (!target->empty())
        if (auto err = parse_model_ref(*target, name, version))
          return fail(err);
      std::optional<int64_t> v = version == 0 ? std::nullopt : std::optional<int64_t>{version};
      bool needs_model = *op == "load" || *op == "unload" || *op == "ready";
      if (needs_model && name.empty())
        return fail(make_error(ec::invalid_argument, *op + " needs --model"));
      request_body body;
      if (*op == "health")
        body = health_request{};
      else if (*op == "status")
        body = server_status_request{};
      else if (*op == "models")
        body = repository_index_request{};
      else if (*op == "load")
        body = model_load_request{name, v, {}};
      else if (*op == "unload")
        body = model_unload_request{name, v};
      else if (*op == "ready")
        body = model_ready_request{name, v};
      else
        body = metadata_request{name.empty() ? std::nullopt : std::optional<std::string>{name}, v};
      auto r = c->call({"", std::move(body)}, std::chrono::milliseconds(co->timeout_ms));
      if (!r)
        return fail(r.error());
      print_response(*r);
      return 0;
    };
  });
  (void) ctx;
}

} // namespace tessera::cli

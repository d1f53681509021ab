#include "executor_calibration.hpp"

#include "tessera/core/error.hpp"
#include "tessera/core/tensor_buffer.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

namespace tessera::actors {

namespace {

using clock_type = std::chrono::steady_clock;

struct calibration_model {
  const model_manifest* manifest = nullptr;
  std::vector<tensor_buffer> inputs;
};

// One executor with the models loaded and warmed up (the first runs of a
// LibTorch module are slower: profiling and optimisation).
struct calibration_executor {
  std::unique_ptr<backend::model_executor> exec;
  std::vector<std::shared_ptr<backend::loaded_model>> loaded;

  ~calibration_executor() {
    for (auto& m : loaded)
      exec->unload(m);
  }
};

caf::error prepare(calibration_executor& e, const std::vector<calibration_model>& models) {
  for (const auto& m : models) {
    auto loaded = e.exec->load(*m.manifest);
    if (!loaded)
      return wrap(loaded.error(), "executors = auto: model \"" + m.manifest->name + "\"");
    e.loaded.push_back(*loaded);
    for (int i = 0; i < 2; ++i)
      if (auto out = e.exec->run(**loaded, m.inputs); !out)
        return wrap(out.error(), "executors = auto: model \"" + m.manifest->name + "\"");
  }
  return {};
}

// Jobs per second of `n` executors running the models in turn for `span`.
caf::expected<double> measure(uint32_t n, const std::vector<calibration_model>& models,
                              const calibration_backend& make, const calibration_options& opts) {
  std::vector<calibration_executor> execs(n);
  auto threads = std::max(1u, opts.cores / n);
  for (uint32_t i = 0; i < n; ++i) {
    auto exec = make(i, threads);
    if (!exec)
      return exec.error();
    execs[i].exec = std::move(*exec);
    if (auto err = prepare(execs[i], models))
      return err;
  }
  std::atomic<uint64_t> done{0};
  std::atomic<bool> failed{false};
  std::vector<caf::error> errors(n); // each worker writes only its own
  std::vector<std::thread> workers;
  auto t0 = clock_type::now();
  for (uint32_t i = 0; i < n; ++i)
    workers.emplace_back([&, i] {
      for (size_t k = i; clock_type::now() - t0 < opts.span && !failed; ++k) {
        const auto& e = execs[i];
        const auto& m = models[k % models.size()];
        if (auto out = e.exec->run(*e.loaded[k % models.size()], m.inputs); !out) {
          errors[i] = wrap(out.error(), "executors = auto: model \"" + m.manifest->name + "\"");
          failed = true;
          return;
        }
        ++done;
      }
    });
  for (auto& w : workers)
    w.join();
  for (auto& err : errors)
    if (err)
      return err;
  return static_cast<double>(done.load()) /
         std::chrono::duration<double>(clock_type::now() - t0).count();
}

} // namespace

caf::expected<std::vector<double>>
measure_executor_throughput(const std::vector<model_manifest>& catalogue,
                            const calibration_backend& make, const calibration_options& opts) {
  // The smallest models: the measurement is of how executors share the
  // cores, and small models keep start-up short and the budget free.
  std::vector<const model_manifest*> by_size;
  for (const auto& m : catalogue)
    by_size.push_back(&m);
  std::sort(by_size.begin(), by_size.end(), [](const model_manifest* a, const model_manifest* b) {
    return parameter_bytes(*a) != parameter_bytes(*b) ? parameter_bytes(*a) < parameter_bytes(*b)
                                                      : a->name < b->name;
  });
  std::vector<calibration_model> models;
  for (size_t i = 0; i < by_size.size() && models.size() < opts.models; ++i) {
    calibration_model m{by_size[i], {}};
    for (const auto& in : by_size[i]->inputs)
      m.inputs.push_back(random_tensor(with_batch(in.spec, 1), 17 + i));
    models.push_back(std::move(m));
  }
  std::vector<double> rates;
  if (models.empty())
    return rates;
  for (uint32_t n = 1; n <= std::max(1u, opts.max_executors); ++n) {
    auto rate = measure(n, models, make, opts);
    if (!rate)
      return rate.error();
    rates.push_back(*rate);
  }
  return rates;
}

} // namespace tessera::actors

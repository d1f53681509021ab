#include "scheduler_admission.hpp"

#include "tessera/core/error.hpp"

#include <cstdio>

namespace tessera::actors {

namespace {

bool has_deadline(const infer_job& job) {
  return !job.best_effort && job.deadline != steady_time::max();
}

double ms_until(steady_time now, steady_time t) {
  return std::chrono::duration<double, std::milli>(t - now).count();
}

std::string ms_text(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", ms);
  return buf;
}

} // namespace

caf::error refuse_at_arrival(const infer_job& job, unit_index unit,
                             const placement_table& placement, const job_queue& queue,
                             size_t executors_up, uint32_t batch_rows, steady_time now) {
  if (!has_deadline(job))
    return {};
  auto service = placement.service_ms(placement.unit_of(job));
  if (service <= 0.0)
    return {}; // nothing measured yet: let it try
  // The most optimistic wait: every executor up on this unit's queue alone,
  // each batch full.
  auto lanes = static_cast<double>(std::max<size_t>(1, executors_up)) *
               static_cast<double>(std::max<uint32_t>(1, batch_rows));
  auto ahead = static_cast<double>(queue.queued(unit));
  auto wait = ahead * service / lanes;
  auto left = ms_until(now, job.deadline);
  if (wait + service <= left)
    return {};
  return make_error(ec::overloaded, "model \"" + job.model + "\" cannot finish by its deadline: " +
                                        std::to_string(queue.queued(unit)) +
                                        " jobs of it wait (at least " + ms_text(wait) + " ms on " +
                                        std::to_string(std::max<size_t>(1, executors_up)) +
                                        " executor(s)), then about " + ms_text(service) +
                                        " ms to run, and its " + "deadline is in " + ms_text(left) +
                                        " ms; retry later or with a later deadline");
}

size_t shed_late(taken& work, double service_ms, steady_time now) {
  if (service_ms <= 0.0)
    return 0;
  size_t shed = 0;
  auto& members = work.members;
  for (auto i = members.begin(); i != members.end();) {
    auto left = ms_until(now, i->job.deadline);
    if (has_deadline(i->job) && service_ms > left) {
      i->promise.deliver(make_error(
          ec::deadline_exceeded, "model \"" + i->job.model +
                                     "\" cannot finish by its deadline: it "
                                     "would take about " +
                                     ms_text(service_ms) + " ms to run, and " +
                                     (left > 0 ? ms_text(left) + " ms are left" : "none is left") +
                                     "; it was not run"));
      i = members.erase(i);
      ++shed;
    } else {
      ++i;
    }
  }
  return shed;
}

} // namespace tessera::actors

#include "tessera/cuda/memory_figures.hpp"

#include "tessera/core/error.hpp"

#include <cstdio>

namespace tessera::cuda {

namespace {

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1u << 20));
  return buf;
}

} // namespace

device_memory_figures sample_device_memory(backend::device_memory& device,
                                           const framework_probe& framework) {
  device_memory_figures f;
  f.device = device.name();
  f.tessera_live_bytes = device.allocated_bytes();
  if (auto* caching = dynamic_cast<caching_device_memory*>(&device)) {
    f.allocator = caching->figures();
    if (auto d = caching->driver_view())
      f.driver = *d;
    else
      f.note = "driver: " + tessera::describe(d.error());
  } else {
    f.note = "no driver view: " + f.device + " memory is counted by Tessera's allocator only";
  }
  if (framework)
    f.framework = framework();
  return f;
}

std::string describe(const device_memory_figures& f) {
  std::string out = f.device + ": tessera live " + mib(f.tessera_live_bytes) + "\n";
  if (f.allocator)
    out += f.device + ": allocator reserved " + mib(f.allocator->reserved_bytes) + " (cached " +
           mib(f.allocator->cached_bytes) + ", trimmed so far " + mib(f.allocator->trimmed_bytes) +
           ")\n";
  if (f.driver)
    out += f.device + ": driver free " + mib(f.driver->free_bytes) + " of " +
           mib(f.driver->total_bytes) + "\n";
  if (f.framework)
    out += f.device + ": libtorch allocated " + mib(f.framework->allocated_bytes) + ", reserved " +
           mib(f.framework->reserved_bytes) + "\n";
  if (!f.note.empty())
    out += f.device + ": " + f.note + "\n";
  return out;
}

} // namespace tessera::cuda

#include "tessera/cuda/memory_figures.hpp"

#include "tessera/core/bytes_text.hpp"
#include "tessera/core/error.hpp"

#include <cstdio>

namespace tessera::cuda {

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
  std::string out = f.device + ": tessera live " + format_mib(f.tessera_live_bytes) + "\n";
  if (f.allocator)
    out += f.device + ": allocator reserved " + format_mib(f.allocator->reserved_bytes) +
           " (cached " + format_mib(f.allocator->cached_bytes) + ", trimmed so far " +
           format_mib(f.allocator->trimmed_bytes) + ")\n";
  if (f.driver)
    out += f.device + ": driver free " + format_mib(f.driver->free_bytes) + " of " +
           format_mib(f.driver->total_bytes) + "\n";
  if (f.framework)
    out += f.device + ": libtorch allocated " + format_mib(f.framework->allocated_bytes) +
           ", reserved " + format_mib(f.framework->reserved_bytes) + "\n";
  if (!f.note.empty())
    out += f.device + ": " + f.note + "\n";
  return out;
}

} // namespace tessera::cuda

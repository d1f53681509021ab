// The page cache as tests see it: drop a file's pages, and count those cached.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tessera::test {

/// Writes a file's dirty pages back and asks the kernel to drop its cached
/// pages (pages that a mapping holds stay).
inline void drop_pages(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

/// A file's pages in the page cache, and all its pages (0, 0 when it cannot
/// be read).
inline std::pair<size_t, size_t> cached_pages(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return {0, 0};
  struct stat st {};
  std::pair<size_t, size_t> out{0, 0};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    auto bytes = static_cast<size_t>(st.st_size);
    auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    // Mapping a file reads nothing; mincore then tells which pages are cached.
    void* base = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (base != MAP_FAILED) {
      std::vector<unsigned char> in((bytes + page - 1) / page);
      if (::mincore(base, bytes, in.data()) == 0) {
        out.second = in.size();
        for (auto v : in)
          out.first += v & 1;
      }
      ::munmap(base, bytes);
    }
  }
  ::close(fd);
  return out;
}

} // namespace tessera::test

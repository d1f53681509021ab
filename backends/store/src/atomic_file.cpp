#include "tessera/store/atomic_file.hpp"

#include "blob_checks.hpp"

#include "tessera/core/error.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tessera::store {

namespace fs = std::filesystem;

namespace {

constexpr size_t chunk_bytes = 8u << 20;

// Temporary names carry the writer's pid so that stale files can be told apart
// from those of a live writer in another process.
std::string temporary_name(const std::string& tmp_dir, const std::string& final_path) {
  static std::atomic<uint64_t> counter{0};
  return tmp_dir + "/" + fs::path{final_path}.filename().string() + "."
         + std::to_string(::getpid()) + "." + std::to_string(counter++) + ".part";
}

// Writes in chunks from offset `written`, telling `progress` after each.
caf::error write_all(int fd, const std::string& path, const std::byte* data,
                     size_t bytes, size_t& written, size_t total,
                     const write_progress& progress) {
  while (bytes > 0) {
    size_t n = std::min(bytes, chunk_bytes);
    if (auto err = write_at(fd, path, data, n, static_cast<off_t>(written)))
      return err;
    data += n;
    bytes -= n;
    written += n;
    if (progress)
      progress(written, total);
  }
  return {};
}

} // namespace

caf::error write_at(int fd, const std::string& path, const std::byte* data, size_t bytes,
                    off_t offset) {
  while (bytes > 0) {
    ssize_t r = ::pwrite(fd, data, bytes, offset);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return os_error("cannot write", path);
    }
    data += r;
    bytes -= static_cast<size_t>(r);
    offset += r;
  }
  return {};
}

caf::error write_file_atomically(const std::string& tmp_dir,
                                 const std::string& final_path,
                                 const std::vector<write_piece>& pieces,
                                 const write_progress& progress) {
  auto tmp = temporary_name(tmp_dir, final_path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return os_error("cannot create", tmp);
  size_t total = 0;
  for (const auto& p : pieces)
    total += p.bytes;
  size_t written = 0;
  caf::error err;
  for (const auto& p : pieces) {
    err = write_all(fd, tmp, static_cast<const std::byte*>(p.data), p.bytes, written,
                    total, progress);
    if (err)
      break;
  }
  if (!err && ::fsync(fd) != 0)
    err = os_error("cannot flush", tmp);
  // Read-only once written: a store file is replaced whole, never changed in
  // place, and in place models compute on its bytes (decision 43).
  if (!err && ::fchmod(fd, 0444) != 0)
    err = os_error("cannot make read-only", tmp);
  ::close(fd);
  if (!err && ::rename(tmp.c_str(), final_path.c_str()) != 0)
    err = os_error("cannot rename onto", final_path);
  if (err) {
    ::unlink(tmp.c_str());
    return err;
  }
  // Make the rename itself durable.
  auto dir = fs::path{final_path}.parent_path().string();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

size_t remove_stale_temporaries(const std::string& tmp_dir) {
  size_t removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{tmp_dir, ec}) {
    auto name = entry.path().filename().string();
    if (name.size() < 5 || name.compare(name.size() - 5, 5, ".part") != 0)
      continue;
    // name: <final>.<pid>.<counter>.part
    auto stem = name.substr(0, name.size() - 5);
    auto dot_counter = stem.rfind('.');
    auto dot_pid = dot_counter == std::string::npos ? std::string::npos
                                                    : stem.rfind('.', dot_counter - 1);
    pid_t pid = 0;
    if (dot_pid != std::string::npos)
      pid = static_cast<pid_t>(std::atol(stem.substr(dot_pid + 1, dot_counter - dot_pid - 1).c_str()));
    bool alive = pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
    if (!alive && fs::remove(entry.path(), ec))
      ++removed;
  }
  return removed;
}

caf::error read_whole_file(const std::string& path, std::string& out) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(ec::io_error, "cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad())
    return make_error(ec::io_error, "cannot read " + path);
  out = buf.str();
  return {};
}

} // namespace tessera::store

// A fresh temporary folder per test, removed afterwards; tests never share files.
#pragma once

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <unistd.h>

namespace tessera::test {

class scratch_dir {
public:
  explicit scratch_dir(const std::string& tag) {
    static std::atomic<int> counter{0};
    const char* base = std::getenv("TESSERA_TEST_TMP");
    auto root = std::filesystem::path{base != nullptr ? base : "/tmp"};
    path_ = (root / (tag + "-" + std::to_string(::getpid()) + "-"
                     + std::to_string(counter++)))
              .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  const std::string& path() const {
    return path_;
  }

private:
  std::string path_;
};

} // namespace tessera::test

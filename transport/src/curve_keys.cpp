// CURVE keys: generation, Z85 checks, key files, and the socket options that
// turn CURVE on for a server or a client socket.
#include "tessera/transport/curve.hpp"

#include "tessera/core/error.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sys/stat.h>

#include <fcntl.h>
#include <unistd.h>

namespace tessera::transport {

namespace {

constexpr size_t z85_key_chars = 40;

caf::error write_file(const std::string& path, const std::string& text, mode_t mode, bool force) {
  int flags = O_WRONLY | O_CREAT | (force ? O_TRUNC : O_EXCL);
  int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0)
    return make_error(ec::io_error, path + ": " + std::strerror(errno));
  // A file that existed keeps its old mode through O_TRUNC; a secret must not.
  ::fchmod(fd, mode);
  auto left = text.size();
  const char* p = text.data();
  while (left > 0) {
    auto n = ::write(fd, p, left);
    if (n < 0) {
      ::close(fd);
      return make_error(ec::io_error, path + ": " + std::strerror(errno));
    }
    left -= static_cast<size_t>(n);
    p += n;
  }
  ::close(fd);
  return {};
}

} // namespace

bool curve_available() {
  return zmq_has("curve") != 0;
}

caf::expected<curve_keypair> generate_curve_keypair() {
  char pub[z85_key_chars + 1] = {};
  char sec[z85_key_chars + 1] = {};
  if (zmq_curve_keypair(pub, sec) != 0)
    return make_error(ec::unsupported,
                      std::string{"zmq_curve_keypair: "} + zmq_strerror(zmq_errno()));
  return curve_keypair{pub, sec};
}

caf::expected<std::string> curve_public_key(const std::string& secret_key) {
  if (auto err = validate_curve_key(secret_key, "secret key"))
    return err;
  char pub[z85_key_chars + 1] = {};
  if (zmq_curve_public(pub, secret_key.c_str()) != 0)
    return make_error(ec::unsupported,
                      std::string{"zmq_curve_public: "} + zmq_strerror(zmq_errno()));
  return std::string{pub};
}

caf::error validate_curve_key(const std::string& key, const std::string& what) {
  if (key.size() != z85_key_chars)
    return make_error(ec::invalid_argument,
                      what + ": a CURVE key is " + std::to_string(z85_key_chars) +
                          " Z85 characters, not " + std::to_string(key.size()));
  uint8_t bytes[32];
  if (zmq_z85_decode(bytes, key.c_str()) == nullptr)
    return make_error(ec::invalid_argument, what + ": not valid Z85");
  return {};
}

caf::expected<std::string> read_curve_key_file(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return make_error(ec::io_error, path + ": cannot read the key file");
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    if (line.empty() || line.front() == '#')
      continue;
    if (auto err = validate_curve_key(line, path))
      return err;
    return line;
  }
  return make_error(ec::invalid_argument, path + ": holds no key");
}

caf::expected<std::string> resolve_curve_key(const std::string& key_or_path) {
  struct stat st {};
  if (::stat(key_or_path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
    return read_curve_key_file(key_or_path);
  if (auto err =
          validate_curve_key(key_or_path, "\"" + key_or_path + "\" (neither a file nor a key)"))
    return err;
  return key_or_path;
}

caf::error write_curve_keypair(const curve_keypair& keys, const std::string& dir,
                               const std::string& name, bool force) {
  auto base = dir.empty() ? name : dir + "/" + name;
  const std::string header = "# CurveZMQ key (Z85), made by `tessera keys gen`\n";
  if (auto err = write_file(base + ".key", header + keys.secret_key + "\n", 0600, force))
    return err;
  return write_file(base + ".pub", header + keys.public_key + "\n", 0644, force);
}

caf::error apply_curve_server(zmq::socket_t& socket, const curve_server_keys& keys) {
  if (keys.secret_key.empty())
    return {};
  if (!curve_available())
    return make_error(ec::unsupported, "this libzmq has no CURVE support");
  if (auto err = validate_curve_key(keys.secret_key, "server secret key"))
    return err;
  try {
    socket.set(zmq::sockopt::curve_server, true);
    socket.set(zmq::sockopt::curve_secretkey, keys.secret_key);
  } catch (const zmq::error_t& e) {
    return make_error(ec::invalid_argument, std::string{"CURVE server: "} + e.what());
  }
  return {};
}

caf::error apply_curve_client(zmq::socket_t& socket, const curve_client_keys& keys) {
  if (keys.server_key.empty())
    return {};
  if (!curve_available())
    return make_error(ec::unsupported, "this libzmq has no CURVE support");
  if (auto err = validate_curve_key(keys.server_key, "server public key"))
    return err;
  auto own = keys.own;
  if (own.secret_key.empty()) {
    auto fresh = generate_curve_keypair();
    if (!fresh)
      return fresh.error();
    own = *fresh;
  } else if (own.public_key.empty()) {
    auto pub = curve_public_key(own.secret_key);
    if (!pub)
      return pub.error();
    own.public_key = *pub;
  }
  try {
    socket.set(zmq::sockopt::curve_serverkey, keys.server_key);
    socket.set(zmq::sockopt::curve_publickey, own.public_key);
    socket.set(zmq::sockopt::curve_secretkey, own.secret_key);
  } catch (const zmq::error_t& e) {
    return make_error(ec::invalid_argument, std::string{"CURVE client: "} + e.what());
  }
  return {};
}

} // namespace tessera::transport

// `tessera keys gen`: makes a CurveZMQ key pair as NAME.key (secret, 0600) and
// NAME.pub; `tessera keys public FILE` prints the public key of a secret key.
#include "commands.hpp"

#include "tessera/core/error.hpp"
#include "tessera/transport/curve.hpp"

#include <cstdio>
#include <sys/stat.h>

namespace tessera::cli {

void add_keys_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* keys = app.add_subcommand("keys", "CurveZMQ key pairs for nodes and clients");
  keys->require_subcommand(1);
  auto* gen = keys->add_subcommand(
      "gen", "make a key pair: DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub");
  auto dir = std::make_shared<std::string>(".");
  auto name = std::make_shared<std::string>("tessera");
  auto force = std::make_shared<bool>(false);
  gen->add_option("--out", *dir, "directory for the files (made if absent)")->capture_default_str();
  gen->add_option("--name", *name, "file name without extension")->capture_default_str();
  gen->add_flag("--force", *force, "overwrite existing files");
  gen->callback([&action, dir, name, force] {
    action = [dir, name, force]() -> int {
      if (!transport::curve_available())
        return fail(make_error(ec::unsupported, "this libzmq was built without CURVE"));
      ::mkdir(dir->c_str(), 0700);
      auto pair = transport::generate_curve_keypair();
      if (!pair)
        return fail(pair.error());
      if (auto err = transport::write_curve_keypair(*pair, *dir, *name, *force))
        return fail(err);
      std::printf("%s/%s.key (secret) and %s/%s.pub\npublic key: %s\n", dir->c_str(), name->c_str(),
                  dir->c_str(), name->c_str(), pair->public_key.c_str());
      return 0;
    };
  });
  auto* pub = keys->add_subcommand("public", "print the public key of a secret key file");
  auto file = std::make_shared<std::string>();
  pub->add_option("file", *file, "secret key file")->required();
  pub->callback([&action, file] {
    action = [file]() -> int {
      auto secret = transport::read_curve_key_file(*file);
      if (!secret)
        return fail(secret.error());
      auto key = transport::curve_public_key(*secret);
      if (!key)
        return fail(key.error());
      std::printf("%s\n", key->c_str());
      return 0;
    };
  });
  (void)ctx;
}

} // namespace tessera::cli

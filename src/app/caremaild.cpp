// caremaild: the Caremail service daemon.
//
// SECURITY: caremaild may be started as root so that it can bind privileged ports; it
// binds every listener first and then drops to [server] user (default "caremail", a user
// of its own: "nobody" is shared with other daemons) before it accepts a single
// connection or reads any client input. It trusts its configuration file, its data
// directory (which it keeps owner-only, refusing to start when a key or token file in it
// is readable by group or others) and nothing that arrives over the network:
// every front-end bounds and validates its input before calling the core services,
// which authorise every action. Secrets (passwords, tokens, keys) are never logged.
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "app/daemon.hpp"
#include "common/config.hpp"
#include "core/admin_service.hpp"
#include "crypto/crypto.hpp"
#include "http/admin_api.hpp"

namespace {

void usage() {
  std::cout << "usage: caremaild [--config FILE] [--check-config | --options | --fsck | --routes]\n"
               "  --config FILE    TOML configuration (see config/caremail.example.toml)\n"
               "  --check-config   validate the configuration and exit\n"
               "  --options        print every option with its value (the defaults, or FILE's) and exit\n"
               "  --fsck           verify every stored message, counter and the audit chain (daemon stopped)\n"
               "  --routes         list the admin API's route table (METHOD /pattern) and exit\n"
               "environment, read on first start only:\n"
               "  CAREMAIL_ADMIN_ADDRESS, CAREMAIL_ADMIN_PASSWORD  first national administrator\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_file;
  bool check_only = false;
  bool fsck = false;
  bool options = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config_file = argv[++i];
    else if (a == "--check-config") check_only = true;
    else if (a == "--fsck") fsck = true;
    else if (a == "--options") options = true;
    else if (a == "--routes") {
      // The table as it is compiled in: test_openapi.py compares it with docs/openapi.yaml.
      for (const auto& route : caremail::http::admin_route_list()) std::cout << route << "\n";
      return 0;
    }
    else if (a == "--help" || a == "-h") { usage(); return 0; }
    else {
      std::cerr << "caremaild: unknown argument '" << a << "'\n";
      usage();
      return 2;
    }
  }
  auto cfg = caremail::load_config(config_file);
  if (!cfg) {
    std::cerr << "caremaild: configuration error: " << cfg.error().message << "\n";
    return 2;
  }
  if (fsck) return caremail::run_fsck(cfg.value());
  if (options) {
    // From the one table of options (common/config.cpp), as TOML with its help as a comment.
    for (const auto& o : caremail::config_options())
      if (o.in_example)
        std::cout << o.name << " = " << caremail::config_value(cfg.value(), o.name).value_or("") << "  # " << o.help
                  << "\n";
    return 0;
  }
  if (check_only) {
    // The files the configuration names are part of it: the password lists.
    caremail::crypto::init();
    if (auto policy = caremail::AdminService::load_policy(cfg.value()); !policy) {
      std::cerr << "caremaild: configuration error: " << policy.error().message << "\n";
      return 2;
    }
    std::cout << "caremaild: configuration OK\n";
    return 0;
  }
  caremail::DaemonOptions opts;
  opts.config = std::move(cfg).value();
  if (const char* a = std::getenv("CAREMAIL_ADMIN_ADDRESS")) opts.admin_address = a;
  if (const char* p = std::getenv("CAREMAIL_ADMIN_PASSWORD")) opts.admin_password = p;
  return caremail::run_daemon(std::move(opts));
}

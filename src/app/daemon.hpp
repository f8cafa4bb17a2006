// Wiring of caremaild: configuration -> storage -> core services -> listeners.
#pragma once

#include "common/config.hpp"

namespace caremail {

struct DaemonOptions {
  Config config;
  std::string admin_address;   // bootstrap: CAREMAIL_ADMIN_ADDRESS
  std::string admin_password;  // bootstrap: CAREMAIL_ADMIN_PASSWORD
};

// Runs until SIGTERM/SIGINT. Returns the process exit code.
int run_daemon(DaemonOptions opts);

}  // namespace caremail

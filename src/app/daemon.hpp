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

// Offline consistency check of a data directory (caremaild --fsck): every stored message's
// blob is read and verified (AEAD tag, SHA-256, size), mailbox and quota counters are
// recomputed from the rows, and the audit hash chain is walked. Prints one line per
// problem and a summary; returns 0 when everything is consistent, 1 otherwise.
int run_fsck(const Config& config);

}  // namespace caremail

// The embedded storage of one data directory, wired the one way caremaild uses it: blob
// key (created on first start), SQLite metadata store, filesystem blob store, and the
// group-commit hook that syncs the blob store before each commit. Used by caremaild,
// `caremaild --fsck` and the tests that wire the core as the daemon does.
#pragma once

#include <memory>

#include "common/clock.hpp"
#include "common/config.hpp"
#include "store/blob/fs_blob_store.hpp"
#include "store/store.hpp"

namespace caremail {

struct Storage {
  std::unique_ptr<Store> store;
  std::unique_ptr<FsBlobStore> blobs;
};

// Errors name the file at fault (key, database, blob directory).
// `clock` dates what the store stamps itself (SqliteStoreOptions::clock).
Result<Storage> open_storage(const Config& cfg, Clock clock = {});

}  // namespace caremail

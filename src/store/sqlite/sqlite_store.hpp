// The embedded Store backend: SQLite in WAL mode.
//
// One writer thread (the group committer) owns the only write connection: writers hand it
// a job and block until the batch their job joined has committed (one fsync of the WAL for
// the whole batch). Readers take a connection from a pool and read the last committed
// snapshot. Thread-safe.
#pragma once

#include <filesystem>
#include <memory>

#include "common/clock.hpp"
#include "store/store.hpp"

namespace caremail {

struct SqliteStoreOptions {
  std::filesystem::path file;
  int max_batch = 512;  // jobs per commit; bounds the latency one batch can add
  Clock clock;          // dates what callers leave undated (tests: a TestClock)
};

// Opens (creating and migrating when needed) the database. Errc::corrupt when the file is
// not a database or was written by a newer schema than this binary knows.
Result<std::unique_ptr<Store>> open_sqlite_store(const SqliteStoreOptions& opts);

}  // namespace caremail

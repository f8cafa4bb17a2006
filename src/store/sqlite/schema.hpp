// The SQLite schema, one migration per version. PRAGMA user_version holds the version
// the file is at. docs/ARCHITECTURE.md ("On-disk formats") documents every table; a
// change of schema is a new migration appended here, never an edit of an old one.
#pragma once

#include <span>

namespace caremail::sqlite {

// kMigrations[i] upgrades a database from version i to version i+1.
std::span<const char* const> migrations();

}  // namespace caremail::sqlite

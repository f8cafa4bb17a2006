// Thin RAII wrapper over the SQLite C API: one connection, cached prepared statements.
// A Conn is used by one thread at a time (the store hands them out from a pool).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace caremail::sqlite {

// Maps an SQLite result code to our error kinds: SQLITE_FULL and SQLITE_BUSY are
// temporary, SQLITE_CORRUPT/NOTADB corrupt, constraint violations already_exists.
Error to_error(int rc, std::string_view what, sqlite3* db);

class Stmt {
 public:
  Stmt(sqlite3_stmt* s, sqlite3* db) : s_(s), db_(db) {}
  ~Stmt();  // resets (keeps the cached statement for reuse)
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, std::string_view v);
  // Bytes as a BLOB (any bytes, no text encoding); empty binds a zero-length blob, never NULL.
  Stmt& bind_blob(int i, std::string_view v);
  Stmt& bind_null(int i);

  // SQLITE_ROW -> true, SQLITE_DONE -> false; errors land in status().
  bool step();
  // Runs to completion (for statements without rows).
  Status exec();
  const Status& status() const { return status_; }

  int64_t i64(int col) const;
  std::string text(int col) const;
  std::string blob(int col) const;
  bool is_null(int col) const;

 private:
  sqlite3_stmt* s_;
  sqlite3* db_;
  Status status_;
};

class Conn {
 public:
  // Opens (creating when `create`) the database file with WAL and synchronous=FULL (the
  // group committer lowers it to NORMAL for the batches that may skip the fsync).
  static Result<std::unique_ptr<Conn>> open(const std::string& path, bool create);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // `sql` must be a string literal (the cache is keyed by its address).
  Stmt prepare(const char* sql);
  Status exec(const char* sql);  // multi-statement, no rows
  int64_t last_insert_rowid() const;
  int changes() const;
  sqlite3* raw() const { return db_; }

 private:
  explicit Conn(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

}  // namespace caremail::sqlite

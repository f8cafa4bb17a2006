#include "store/sqlite/db.hpp"

#include <cstdlib>
#include <cstdio>
#include <memory>

#include <sqlite3.h>

namespace caremail::sqlite {

Error to_error(int rc, std::string_view what, sqlite3* db) {
  std::string msg(what);
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return make_error(Errc::temporary, msg + " (disk full: free space and retry)");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
    case SQLITE_INTERRUPT:
      return make_error(Errc::temporary, msg);
    case SQLITE_IOERR:
      return make_error(Errc::temporary, msg + " (I/O error)");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return make_error(Errc::corrupt, msg);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return make_error(Errc::invalid_argument, msg);
      return make_error(Errc::already_exists, msg);
    default:
      return make_error(Errc::io, msg);
  }
}

Stmt::~Stmt() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

Stmt& Stmt::bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}

Stmt& Stmt::bind(int i, std::string_view v) {
  sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Stmt& Stmt::bind_blob(int i, std::string_view v) {
  if (v.empty()) sqlite3_bind_zeroblob(s_, i, 0);  // a null data pointer would bind NULL
  else sqlite3_bind_blob64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::bind_null(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}

bool Stmt::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) status_ = to_error(rc, sqlite3_sql(s_), db_);
  return false;
}

Status Stmt::exec() {
  while (step()) {
  }
  return status_;
}

int64_t Stmt::i64(int col) const { return sqlite3_column_int64(s_, col); }

std::string Stmt::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
  if (!p) return {};
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col)));
}

std::string Stmt::blob(int col) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
  if (!p) return {};
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col)));
}

bool Stmt::is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

Result<std::unique_ptr<Conn>> Conn::open(const std::string& path, bool create) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Error e = to_error(rc, "open " + path, db);
    sqlite3_close(db);
    return e;
  }
  std::unique_ptr<Conn> c(new Conn(db));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 10000);
  // WAL lets readers run beside the single writer; synchronous=FULL fsyncs the WAL at
  // every commit, which is what makes a returned write durable.
  if (Status s = c->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                         "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16000;");
      !s)
    return s.error();
  return c;
}

Conn::~Conn() {
  for (auto& [k, s] : cache_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

Stmt Conn::prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return Stmt(it->second, db_);
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) {
    // Our SQL is fixed text: failing to prepare it is a broken invariant (or a schema
    // that does not match the code, which the migration check prevents).
    std::fprintf(stderr, "caremail: cannot prepare SQL: %s\n  %s\n", sqlite3_errmsg(db_), sql);
    std::abort();
  }
  cache_.emplace(sql, s);
  return Stmt(s, db_);
}

Status Conn::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    Error e = to_error(rc, err ? err : "exec", db_);
    sqlite3_free(err);
    return e;
  }
  return {};
}

int64_t Conn::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
int Conn::changes() const { return sqlite3_changes(db_); }

}  // namespace caremail::sqlite

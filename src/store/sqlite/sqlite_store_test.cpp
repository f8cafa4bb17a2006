// SQLite backend: runs the Store conformance suite, then what only this backend has
// (a file that survives a restart, schema versions, the append-only audit table as SQL,
// group commit).
#include "store/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "crypto/crypto.hpp"
#include "store/sqlite/schema.hpp"
#include "store_conformance.hpp"

using namespace caremail;
using caremail::testing::code_of;
using caremail::testing::TempDir;

namespace {

std::unique_ptr<Store> make_sqlite(const std::filesystem::path& dir) {
  auto r = open_sqlite_store({dir / "meta.db"});
  if (!r) {
    ADD_FAILURE() << "open_sqlite_store: " << r.error().message;
    return nullptr;
  }
  return std::move(r).value();
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Values(StoreFactory{"sqlite", make_sqlite}),
                         caremail::testing::factory_name);

namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { crypto::init(); }
  std::filesystem::path file() const { return dir_.path() / "meta.db"; }
  std::unique_ptr<Store> open(int max_batch = 512) {
    return MUST(open_sqlite_store({file(), max_batch}));
  }
  // Runs SQL on the file through a separate, raw connection. Returns the SQLite result
  // code; the error message goes to `err`.
  int raw_exec(const std::string& sql, std::string* err = nullptr) {
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(file().c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc == SQLITE_OK) {
      sqlite3_busy_timeout(db, 10000);
      char* msg = nullptr;
      rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
      if (err) *err = msg ? msg : "";
      sqlite3_free(msg);
    }
    sqlite3_close(db);
    return rc;
  }

  // The first column of the first row of `sql`, or -1.
  int64_t raw_int(const std::string& sql) {
    sqlite3* db = nullptr;
    int64_t out = -1;
    if (sqlite3_open_v2(file().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        out = sqlite3_column_int64(st, 0);
      sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return out;
  }

  TempDir dir_;
};

// Organisation RXA and its account ward@a.nhs.uk, for the tests that only need somewhere
// to deliver.
Account ward_account(Store& s) {
  auto org = MUST(s.create_organisation({"RXA", "Alpha", "alpha", {}}));
  NewAccount na;
  na.address = "ward@a.nhs.uk";
  na.org_id = org.id;
  return MUST(s.create_account(na));
}

NewMessage msg(const std::string& content) {
  NewMessage m;
  m.blob_id = crypto::sha256_hex(content);
  m.size = content.size();
  m.internal_date = 1700000000;
  m.summary.subject = "About " + content;
  return m;
}

// DuckDB-style "restart": everything written before closing is there after reopening,
// and counters carry on from where they were.
TEST_F(SqliteStoreTest, ReopeningKeepsEverything) {
  OrgId org_id;
  AccountId acc_id;
  MailboxId inbox_id, work_id;
  uint32_t inbox_validity;
  ModSeq modseq;
  int64_t last_seq;
  std::string audit_hash;
  {
    auto s = open();
    org_id = MUST(s->create_organisation({"RXA", "Alpha", "alpha", {"a.nhs.uk"}})).id;
    NewAccount na;
    na.address = "alice@a.nhs.uk";
    na.org_id = org_id;
    na.quota_bytes = 1000;
    acc_id = MUST(s->create_account(na)).id;
    MUST(s->add_alias(acc_id, "a.smith@a.nhs.uk"));
    MUST(s->add_api_token(acc_id, "tokenhash", "ci", 4'000'000'000));
    auto work = MUST(s->create_mailbox(acc_id, "Work", ""));
    work_id = work.id;
    DeliveryTarget ts[] = {{acc_id, 0, 0, {"kw"}, true}, {acc_id, work.id, kSeen, {}, true}};
    auto d = MUST(s->deliver(msg("first"), ts));
    inbox_id = d[0].mailbox_id;
    inbox_validity = d[0].uidvalidity;
    MUST(s->deliver(msg("second"), std::span(ts, 1)));
    auto f = MUST(s->update_flags(inbox_id, std::vector<Uid>{1}, FlagUpdate{FlagOp::add, kFlagged, {}, {}}));
    modseq = f.updated[0].modseq;
    MUST(s->set_subscribed(acc_id, "Work", true));
    AuditEvent e;
    e.actor = "system";
    e.action = "account.create";
    e.target = "alice@a.nhs.uk";
    e.outcome = "ok";
    e.detail = "{}";
    audit_hash = MUST(s->append_audit(e)).hash;
    last_seq = MUST(s->last_change_seq());
  }
  auto s = open();
  EXPECT_EQ(MUST(s->organisation_by_ods("RXA")).id, org_id);
  EXPECT_EQ(MUST(s->organisation_for_domain("a.nhs.uk")), org_id);
  EXPECT_EQ(MUST(s->account_by_address("a.smith@a.nhs.uk")).id, acc_id);
  EXPECT_EQ(MUST(s->api_token("tokenhash")).account_id, acc_id);
  EXPECT_EQ(MUST(s->api_token("tokenhash")).expires_at, 4'000'000'000);
  auto inbox = MUST(s->mailbox_by_id(inbox_id));
  EXPECT_EQ(inbox.uidvalidity, inbox_validity);
  EXPECT_EQ(inbox.uidnext, 3u);
  EXPECT_EQ(inbox.highest_modseq, modseq);
  EXPECT_EQ(inbox.messages, 2u);
  EXPECT_EQ(inbox.unseen, 2u);
  EXPECT_TRUE(MUST(s->mailbox_by_id(work_id)).subscribed);
  auto e1 = MUST(s->entry(inbox_id, 1));
  EXPECT_EQ(e1.flags, static_cast<uint32_t>(kFlagged));
  EXPECT_EQ(e1.keywords, (std::vector<std::string>{"kw"}));
  EXPECT_EQ(e1.summary.subject, "About first");
  auto q = MUST(s->quota(acc_id));
  EXPECT_EQ(q.bytes, 5u + 5u + 6u);
  EXPECT_EQ(q.messages, 3u);
  EXPECT_EQ(q.limit_bytes, 1000u);
  EXPECT_EQ(MUST(s->last_change_seq()), last_seq);
  auto audit = MUST(s->audit_events(std::nullopt, 0, 10));
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].hash, audit_hash);
  EXPECT_EQ(MUST(s->verify_audit_chain()), 0);

  // Carries on where it stopped: the next UID and modseq follow, the chain continues.
  auto d = MUST(s->deliver(msg("third"), std::vector<DeliveryTarget>{{acc_id, 0, 0, {}, true}}));
  EXPECT_EQ(d[0].uid, 3u);
  EXPECT_EQ(d[0].modseq, modseq + 1);
  EXPECT_GT(MUST(s->last_change_seq()), last_seq);
  AuditEvent e;
  e.actor = "system";
  e.action = "x";
  MUST(s->append_audit(e));
  EXPECT_EQ(MUST(s->verify_audit_chain()), 0);
}

TEST_F(SqliteStoreTest, NewerSchemaVersionIsCorrupt) {
  ASSERT_EQ(raw_exec("PRAGMA user_version=999"), SQLITE_OK);
  auto r = open_sqlite_store({file()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::corrupt);
  EXPECT_NE(r.error().message.find("schema version 999"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("newer"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(file().string()), std::string::npos) << r.error().message;
  // The file is left as it was: not migrated, not "repaired".
  EXPECT_EQ(raw_int("PRAGMA user_version"), 999);
  EXPECT_EQ(raw_int("SELECT count(*) FROM sqlite_master"), 0);
}

// v15: API tokens from before had no expiry; they end 90 days after the upgrade and get
// an id (to list and revoke them).
TEST_F(SqliteStoreTest, TokensFromBeforeV15EndNinetyDaysAfterTheUpgrade) {
  auto migs = sqlite::migrations();
  ASSERT_GE(migs.size(), 15u);
  std::string sql = "BEGIN;";
  for (size_t i = 0; i < 14; ++i) sql += migs[i];
  sql +=
      "PRAGMA user_version=14;"
      "INSERT INTO organisations(id,ods_code,name,short_name,open,created_at) VALUES(1,'RXA','A','a',1,1);"
      "INSERT INTO accounts(id,address,display_name,org_id,kind,state,roles,quota_bytes,created_at) "
      "  VALUES(1,'old@a.nhs.uk','Old',1,'person','active','user',0,1);"
      "INSERT INTO api_tokens(token_hash,account_id,name,created_at) VALUES('oldhash',1,'ci',5);"
      "COMMIT;";
  std::string err;
  ASSERT_EQ(raw_exec(sql, &err), SQLITE_OK) << err;
  auto s = open();
  auto t = MUST(s->api_token("oldhash"));
  EXPECT_EQ(t.account_id, 1);
  EXPECT_EQ(t.name, "ci");
  EXPECT_EQ(t.created_at, 5);
  EXPECT_GT(t.id, 0);
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(static_cast<double>(t.expires_at), static_cast<double>(now + 90 * 86400), 120.0);
  EXPECT_EQ(MUST(s->api_tokens(1)).size(), 1u);
}

// v17: a database whose newest mailbox was deleted (its expunges still in the change log)
// never gives that id to a new mailbox; messages there before count as not recent.
TEST_F(SqliteStoreTest, V17MailboxIdsCarryOnAboveDeletedOnesAndOldMailIsNotRecent) {
  auto migs = sqlite::migrations();
  ASSERT_GE(migs.size(), 17u);
  std::string sql = "BEGIN;";
  for (size_t i = 0; i < 16; ++i) sql += migs[i];
  const std::string blob = crypto::sha256_hex("0123456789");
  sql +=
      "PRAGMA user_version=16;"
      "INSERT INTO organisations(id,ods_code,name,short_name,open,created_at) VALUES(1,'RXA','A','a',1,1);"
      "INSERT INTO accounts(id,address,display_name,org_id,kind,state,roles,quota_bytes,created_at) "
      "  VALUES(1,'old@a.nhs.uk','Old',1,'person','active','user',0,1);"
      "INSERT INTO addresses VALUES('old@a.nhs.uk',1,0);"
      "INSERT INTO quota_usage VALUES(1,10,1);"
      "INSERT INTO mailboxes(id,account_id,name,uidvalidity,uidnext,highest_modseq,messages,unseen,bytes) "
      "  VALUES(1,1,'INBOX',2000000000,2,2,1,1,10);"
      "INSERT INTO messages(id,blob_id,size,refcount) VALUES(1,'" + blob + "',10,1);"
      "INSERT INTO entries(mailbox_id,uid,message_id,internal_date,flags,keywords,modseq) VALUES(1,1,1,1,0,'',2);"
      // Mailbox 7 was deleted; its expunges are in the log.
      "INSERT INTO changes(account_id,mailbox_id,kind,uid,modseq,at) VALUES(1,7,'message_expunged',1,5,1);"
      "COMMIT;";
  std::string err;
  ASSERT_EQ(raw_exec(sql, &err), SQLITE_OK) << err;
  auto s = open();
  auto made = MUST(s->create_mailbox(1, "New", ""));
  EXPECT_GT(made.id, 7);
  EXPECT_TRUE(MUST(s->expunged_since(made.id, 0)).empty());
  auto inbox = MUST(s->mailbox_by_id(1));
  EXPECT_EQ(inbox.first_recent_uid, 2u);
  EXPECT_EQ(MUST(s->recent_count(1)), 0u);
}

// v18: subscriptions become names of their own; a mailbox subscribed before stays so, one
// unsubscribed stays not, and the subscription of a mailbox deleted afterwards remains.
TEST_F(SqliteStoreTest, SubscriptionsFromBeforeV18AreKept) {
  auto migs = sqlite::migrations();
  ASSERT_GE(migs.size(), 18u);
  std::string sql = "BEGIN;";
  for (size_t i = 0; i < 17; ++i) sql += migs[i];
  sql +=
      "PRAGMA user_version=17;"
      "INSERT INTO organisations(id,ods_code,name,short_name,open,created_at) VALUES(1,'RXA','A','a',1,1);"
      "INSERT INTO accounts(id,address,display_name,org_id,kind,state,roles,quota_bytes,created_at) "
      "  VALUES(1,'old@a.nhs.uk','Old',1,'person','active','user',0,1);"
      "INSERT INTO mailboxes(id,account_id,name,uidvalidity,subscribed) VALUES(1,1,'INBOX',5,1);"
      "INSERT INTO mailboxes(id,account_id,name,uidvalidity,subscribed) VALUES(2,1,'Work',6,1);"
      "INSERT INTO mailboxes(id,account_id,name,uidvalidity,subscribed) VALUES(3,1,'Old',7,0);"
      "COMMIT;";
  std::string err;
  ASSERT_EQ(raw_exec(sql, &err), SQLITE_OK) << err;
  auto s = open();
  EXPECT_TRUE(MUST(s->mailbox(1, "INBOX")).subscribed);
  EXPECT_TRUE(MUST(s->mailbox(1, "Work")).subscribed);
  EXPECT_FALSE(MUST(s->mailbox(1, "Old")).subscribed);
  MUST(s->delete_mailbox(2));
  EXPECT_EQ(MUST(s->subscriptions(1)), (std::vector<std::string>{"INBOX", "Work"}));
}

// A database written by the previous schema version is migrated on open, and keeps
// working: here, UIDVALIDITY carries on above the values already handed out.
TEST_F(SqliteStoreTest, MigratesVersionOneDatabase) {
  auto migs = sqlite::migrations();
  ASSERT_GE(migs.size(), 2u);
  std::string err;
  ASSERT_EQ(raw_exec(std::string("BEGIN;") + migs[0] + "PRAGMA user_version=1;"
                     "INSERT INTO organisations(id,ods_code,name,short_name,open,created_at) "
                     "  VALUES(1,'RXA','A','a',1,1);"
                     "INSERT INTO accounts(id,address,display_name,org_id,kind,state,roles,quota_bytes,created_at) "
                     "  VALUES(1,'old@a.nhs.uk','Old',1,'person','active','user',0,1);"
                     "INSERT INTO addresses VALUES('old@a.nhs.uk',1,0);"
                     "INSERT INTO quota_usage VALUES(1,0,0);"
                     "INSERT INTO mailboxes(id,account_id,name,uidvalidity) VALUES(1,1,'INBOX',2000000000);"
                     "COMMIT;",
                     &err),
            SQLITE_OK)
      << err;
  {
    auto s = open();
    EXPECT_EQ(MUST(s->account_by_address("old@a.nhs.uk")).id, 1);
    EXPECT_EQ(MUST(s->mailbox(1, "INBOX")).uidvalidity, 2000000000u);
    EXPECT_EQ(MUST(s->create_mailbox(1, "New", "")).uidvalidity, 2000000001u);
  }
  EXPECT_EQ(raw_int("PRAGMA user_version"), static_cast<int64_t>(migs.size()));
}

// Entries stored before schema v7 have no trace column value: after the migration they
// read as untraced, with the size they had, and the counters that counted them still agree.
TEST_F(SqliteStoreTest, MigratesVersionSixEntriesAsUntraced) {
  auto migs = sqlite::migrations();
  ASSERT_GE(migs.size(), 7u);
  std::string sql = "BEGIN;";
  for (size_t v = 0; v < 6; ++v) sql += migs[v];
  const std::string blob = crypto::sha256_hex("0123456789");
  sql += "PRAGMA user_version=6;"
         "INSERT INTO organisations(id,ods_code,name,short_name,open,created_at) VALUES(1,'RXA','A','a',1,1);"
         "INSERT INTO accounts(id,address,display_name,org_id,kind,state,roles,quota_bytes,created_at) "
         "  VALUES(1,'old@a.nhs.uk','Old',1,'person','active','user',0,1);"
         "INSERT INTO addresses VALUES('old@a.nhs.uk',1,0);"
         "INSERT INTO quota_usage VALUES(1,10,1);"
         "INSERT INTO mailboxes(id,account_id,name,uidvalidity,uidnext,highest_modseq,messages,unseen,bytes) "
         "  VALUES(1,1,'INBOX',2000000000,2,2,1,1,10);"
         "INSERT INTO messages(id,blob_id,size,refcount) VALUES(1,'" + blob + "',10,1);"
         "INSERT INTO message_headers VALUES(1,CAST('Subject: old' || char(13,10,13,10) AS BLOB));"
         "INSERT INTO entries(mailbox_id,uid,message_id,internal_date,flags,keywords,modseq) VALUES(1,1,1,1,0,'',2);"
         "COMMIT;";
  std::string err;
  ASSERT_EQ(raw_exec(sql, &err), SQLITE_OK) << err;
  auto s = open();
  EXPECT_EQ(raw_int("PRAGMA user_version"), static_cast<int64_t>(migs.size()));
  auto e = MUST(s->entry(1, 1));
  EXPECT_EQ(e.trace, "");
  EXPECT_EQ(e.size, 10u);
  EXPECT_EQ(MUST(s->headers(1, {})), (std::vector<std::pair<Uid, std::string>>{{1, "Subject: old\r\n\r\n"}}));
  // New deliveries next to it carry their trace; the counters stay exact.
  NewMessage m;
  m.blob_id = crypto::sha256_hex("new");
  m.size = 3;
  DeliveryTarget t;
  t.account_id = 1;
  t.trace = "Delivered-To: old@a.nhs.uk\r\n";
  auto out = MUST(s->deliver(m, std::span<const DeliveryTarget>(&t, 1)));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(MUST(s->entry(1, out[0].uid)).trace, t.trace);
  EXPECT_EQ(MUST(s->mailbox_by_id(1)).bytes, 10u + 3u + t.trace.size());
  for (const auto& q : MUST(s->verify_quota())) {
    EXPECT_EQ(q.counted.bytes, q.actual.bytes);
    EXPECT_EQ(q.actual.bytes, 10u + 3u + t.trace.size());
  }
}

TEST_F(SqliteStoreTest, GarbageFileIsCorrupt) {
  {
    std::ofstream out(file(), std::ios::binary);
    std::mt19937 rng(7);
    for (int i = 0; i < 8192; ++i) out.put(static_cast<char>(rng() & 0xff));
  }
  auto before = std::filesystem::file_size(file());
  auto r = open_sqlite_store({file()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::corrupt) << r.error().message;
  EXPECT_EQ(std::filesystem::file_size(file()), before) << "a garbage file is never overwritten";
}

TEST_F(SqliteStoreTest, AuditTableIsAppendOnlyInSql) {
  AuditEvent e;
  e.actor = "admin@a.nhs.uk";
  e.action = "account.create";
  e.target = "bob@a.nhs.uk";
  e.outcome = "ok";
  e.detail = "{}";
  {
    auto s = open();
    MUST(s->append_audit(e));
    MUST(s->append_audit(e));
    std::string err;
    EXPECT_EQ(raw_exec("UPDATE audit SET outcome='denied' WHERE id=1", &err) & 0xff, SQLITE_CONSTRAINT);
    EXPECT_NE(err.find("append-only"), std::string::npos) << err;
    EXPECT_EQ(raw_exec("DELETE FROM audit WHERE id=2", &err) & 0xff, SQLITE_CONSTRAINT);
    EXPECT_NE(err.find("append-only"), std::string::npos) << err;
    EXPECT_EQ(raw_exec("DELETE FROM audit", &err) & 0xff, SQLITE_CONSTRAINT);
    auto all = MUST(s->audit_events(std::nullopt, 0, 10));
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].outcome, "ok");
    EXPECT_EQ(MUST(s->verify_audit_chain()), 0);
  }
  // Someone with write access to the file who drops the trigger is still caught by the
  // hash chain: verify_audit_chain names the first altered event.
  std::string err;
  ASSERT_EQ(raw_exec("DROP TRIGGER audit_append_only_u; UPDATE audit SET outcome='denied' WHERE id=2", &err),
            SQLITE_OK)
      << err;
  auto s = open();
  EXPECT_EQ(MUST(s->verify_audit_chain()), 2);
}

// Group commit: concurrent writers share commits (and fsyncs). The hook runs once per
// commit batch, so counting its calls counts the commits.
TEST_F(SqliteStoreTest, GroupCommitBatchesConcurrentWriters) {
  constexpr int kThreads = 32, kPerThread = 10;
  auto s = open();
  auto acc = ward_account(*s);
  std::atomic<int> commits{0};
  s->set_pre_commit_hook([&]() -> Status {
    ++commits;
    // A real hook fsyncs the blob directories; take a moment like it would, so that the
    // other writers are queued behind this batch however fast the disk is.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return {};
  });
  std::atomic<int> ready{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        auto d = s->deliver(msg("t" + std::to_string(t) + "i" + std::to_string(i)),
                            std::vector<DeliveryTarget>{{acc.id, 0, 0, {}, true}});
        if (!d || (*d)[0].error) ++failures;
      }
    });
  for (auto& th : threads) th.join();
  s->set_pre_commit_hook(nullptr);
  ASSERT_EQ(failures.load(), 0);
  constexpr int kDeliveries = kThreads * kPerThread;
  EXPECT_EQ(MUST(s->mailbox(acc.id, "INBOX")).messages, static_cast<uint32_t>(kDeliveries));
  EXPECT_GE(commits.load(), kPerThread) << "each writer waits for its own commit";
  EXPECT_LT(commits.load(), kDeliveries / 4) << "commits: " << commits.load() << " for " << kDeliveries
                                             << " deliveries";
}

// The counterpart: with batches of one job, every delivery is its own commit (so the
// count above really measures batching).
TEST_F(SqliteStoreTest, MaxBatchOneCommitsEveryWriterAlone) {
  constexpr int kThreads = 8, kPerThread = 5;
  auto s = open(/*max_batch=*/1);
  auto acc = ward_account(*s);
  std::atomic<int> commits{0};
  s->set_pre_commit_hook([&]() -> Status {
    ++commits;
    return {};
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i)
        (void)s->deliver(msg("t" + std::to_string(t) + "i" + std::to_string(i)),
                         std::vector<DeliveryTarget>{{acc.id, 0, 0, {}, true}});
    });
  for (auto& th : threads) th.join();
  s->set_pre_commit_hook(nullptr);
  EXPECT_EQ(MUST(s->mailbox(acc.id, "INBOX")).messages, static_cast<uint32_t>(kThreads * kPerThread));
  EXPECT_EQ(commits.load(), kThreads * kPerThread);
}

// A VFS that forwards to the default one and counts xSync calls on WAL files, registered
// as the default while it lives (so that the store's connections use it).
class SyncCountingVfs {
 public:
  SyncCountingVfs() {
    real_ = sqlite3_vfs_find(nullptr);
    vfs_ = *real_;
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
    vfs_.zName = "cm-sync-counting";
    vfs_.pAppData = this;
    vfs_.xOpen = &open;
    self_ = this;
    sqlite3_vfs_register(&vfs_, /*makeDflt=*/1);
  }
  ~SyncCountingVfs() {
    sqlite3_vfs_unregister(&vfs_);
    self_ = nullptr;
  }
  SyncCountingVfs(const SyncCountingVfs&) = delete;
  SyncCountingVfs& operator=(const SyncCountingVfs&) = delete;
  int wal_syncs() const { return wal_syncs_.load(); }

 private:
  struct File {
    sqlite3_file base;
    sqlite3_file* real;  // points just past this struct
    bool wal;
  };
  static sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

  static int open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
    auto* self = static_cast<SyncCountingVfs*>(vfs->pAppData);
    auto* file = reinterpret_cast<File*>(f);
    file->real = reinterpret_cast<sqlite3_file*>(file + 1);
    file->wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = self->real_->xOpen(self->real_, name, file->real, flags, out_flags);
    if (file->real->pMethods == nullptr) {
      f->pMethods = nullptr;
      return rc;
    }
    if (self->methods_.iVersion == 0) {  // built once, from the real file's methods
      static std::mutex mu;
      std::lock_guard lk(mu);
      if (self->methods_.iVersion == 0) self->methods_ = make_methods(file->real->pMethods->iVersion);
    }
    f->pMethods = &self->methods_;
    return rc;
  }

  static sqlite3_io_methods make_methods(int version) {
    sqlite3_io_methods m{};
    m.iVersion = version;
    m.xClose = [](sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); };
    m.xRead = [](sqlite3_file* f, void* b, int n, sqlite3_int64 o) {
      return real(f)->pMethods->xRead(real(f), b, n, o);
    };
    m.xWrite = [](sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
      return real(f)->pMethods->xWrite(real(f), b, n, o);
    };
    m.xTruncate = [](sqlite3_file* f, sqlite3_int64 n) { return real(f)->pMethods->xTruncate(real(f), n); };
    m.xSync = [](sqlite3_file* f, int flags) {
      if (reinterpret_cast<File*>(f)->wal && self_ != nullptr) ++self_->wal_syncs_;
      return real(f)->pMethods->xSync(real(f), flags);
    };
    m.xFileSize = [](sqlite3_file* f, sqlite3_int64* n) { return real(f)->pMethods->xFileSize(real(f), n); };
    m.xLock = [](sqlite3_file* f, int l) { return real(f)->pMethods->xLock(real(f), l); };
    m.xUnlock = [](sqlite3_file* f, int l) { return real(f)->pMethods->xUnlock(real(f), l); };
    m.xCheckReservedLock = [](sqlite3_file* f, int* r) { return real(f)->pMethods->xCheckReservedLock(real(f), r); };
    m.xFileControl = [](sqlite3_file* f, int op, void* a) { return real(f)->pMethods->xFileControl(real(f), op, a); };
    m.xSectorSize = [](sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); };
    m.xDeviceCharacteristics = [](sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); };
    m.xShmMap = [](sqlite3_file* f, int pg, int sz, int ext, void volatile** p) {
      return real(f)->pMethods->xShmMap(real(f), pg, sz, ext, p);
    };
    m.xShmLock = [](sqlite3_file* f, int off, int n, int fl) {
      return real(f)->pMethods->xShmLock(real(f), off, n, fl);
    };
    m.xShmBarrier = [](sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); };
    m.xShmUnmap = [](sqlite3_file* f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); };
    m.xFetch = [](sqlite3_file* f, sqlite3_int64 o, int n, void** p) {
      return real(f)->pMethods->xFetch(real(f), o, n, p);
    };
    m.xUnfetch = [](sqlite3_file* f, sqlite3_int64 o, void* p) { return real(f)->pMethods->xUnfetch(real(f), o, p); };
    return m;
  }

  static inline SyncCountingVfs* self_ = nullptr;
  sqlite3_vfs* real_;
  sqlite3_vfs vfs_;
  sqlite3_io_methods methods_{};
  std::atomic<int> wal_syncs_{0};
};

// Flag changes are committed without an fsync of the WAL (Store::update_flags); every other
// write still fsyncs it, and in doing so makes the earlier flag changes durable too.
TEST_F(SqliteStoreTest, FlagUpdatesSkipTheWalFsyncOtherWritesDoNot) {
  SyncCountingVfs vfs;
  auto s = open();
  auto acc = ward_account(*s);
  ASSERT_GT(vfs.wal_syncs(), 0) << "the shim sees the store's syncs";
  std::vector<DeliveryTarget> to{{acc.id, 0, 0, {}, true}};
  auto d = MUST(s->deliver(msg("one"), to));
  MUST(s->deliver(msg("two"), to));
  const MailboxId inbox = d[0].mailbox_id;

  int before = vfs.wal_syncs();
  for (int i = 0; i < 10; ++i) {
    FlagUpdate u{i % 2 ? FlagOp::remove : FlagOp::add, kSeen, {}, {}};
    MUST(s->update_flags(inbox, std::vector<Uid>{1, 2}, u));
  }
  MUST(s->update_flags(inbox, std::vector<Uid>{2}, FlagUpdate{FlagOp::add, kFlagged, {"$Important"}, {}}));
  EXPECT_EQ(vfs.wal_syncs(), before) << "flag updates fsync'd the WAL";
  // Committed all the same: another connection sees them.
  // (the last round of the loop removed \Seen)
  EXPECT_EQ(raw_int("SELECT flags FROM entries WHERE uid=2"), static_cast<int64_t>(kFlagged));

  // The durable writes after them fsync (which syncs the WAL holding the flags too).
  before = vfs.wal_syncs();
  MUST(s->deliver(msg("three"), to));
  EXPECT_GT(vfs.wal_syncs(), before) << "a delivery after flag updates was not fsync'd";
  for (auto op : {0, 1, 2}) {
    before = vfs.wal_syncs();
    if (op == 0) MUST(s->copy(inbox, std::vector<Uid>{1}, MUST(s->mailbox(acc.id, "Archive")).id, false));
    if (op == 1) MUST(s->update_flags(inbox, std::vector<Uid>{3}, FlagUpdate{FlagOp::add, kDeleted, {}, {}}));
    if (op == 2) MUST(s->expunge(inbox, std::nullopt));
    if (op == 1) EXPECT_EQ(vfs.wal_syncs(), before);
    else EXPECT_GT(vfs.wal_syncs(), before) << "operation " << op << " was not fsync'd";
  }
  EXPECT_EQ(raw_int("SELECT count(*) FROM entries WHERE uid=3"), 0);
}

// Checkpoints run beside the commits, not inside them: writing well past SQLite's
// 1000-page threshold moves the pages into the database file without any caller asking,
// and the WAL stays bounded.
TEST_F(SqliteStoreTest, CheckpointsRunInTheBackground) {
  auto s = open();
  auto acc = ward_account(*s);
  const auto db_size = [&] { return std::filesystem::file_size(file()); };
  const auto before = db_size();
  constexpr int kMessages = 200;  // 200 x 100 KB inline bodies: 20 MB through the WAL
  for (int i = 0; i < kMessages; ++i) {
    NewMessage m = msg("body " + std::to_string(i));
    m.inline_blob = std::string(100 * 1024, static_cast<char>('a' + i % 26));
    auto d = MUST(s->deliver(m, std::vector<DeliveryTarget>{{acc.id, 0, 0, {}, true}}));
    ASSERT_FALSE(d[0].error.has_value());
  }
  // The background checkpointer catches up within moments.
  for (int i = 0; i < 100 && db_size() < before + 10 * 1024 * 1024; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GE(db_size(), before + 10 * 1024 * 1024) << "the WAL was not checkpointed into the database";
  std::filesystem::path wal = file();
  wal += "-wal";
  EXPECT_LE(std::filesystem::file_size(wal), 80ull * 1024 * 1024) << "the WAL is not bounded";
  EXPECT_EQ(MUST(s->quota(acc.id)).messages, static_cast<uint64_t>(kMessages));
}

// One writer's failure inside a batch rolls back only that writer.
TEST_F(SqliteStoreTest, FailedJobInBatchDoesNotSpoilOthers) {
  auto s = open();
  auto org = MUST(s->create_organisation({"RXA", "Alpha", "alpha", {}}));
  std::atomic<int> ok{0}, dup{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&, t] {
      NewAccount na;
      // Pairs of threads race for the same address: exactly one of each pair wins.
      na.address = "user" + std::to_string(t / 2) + "@a.nhs.uk";
      na.org_id = org.id;
      auto r = s->create_account(na);
      if (r) ++ok;
      else if (r.error().code == Errc::already_exists) ++dup;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(dup.load(), 8);
  auto all = MUST(s->list_accounts(std::nullopt));
  ASSERT_EQ(all.size(), 8u);
  for (const auto& a : all) EXPECT_EQ(MUST(s->list_mailboxes(a.id)).size(), 6u) << a.address;
}

}  // namespace

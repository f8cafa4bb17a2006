#include "store/sqlite/sqlite_store.hpp"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include <sqlite3.h>

#include "common/metrics.hpp"
#include "crypto/crypto.hpp"
#include "store/sqlite/db.hpp"
#include "store/sqlite/schema.hpp"

namespace caremail {

namespace {

using sqlite::Conn;
using sqlite::Stmt;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_inbox(std::string_view name) { return lower(name) == "inbox"; }

std::string join_roles(const std::vector<Role>& roles) {
  std::string out;
  for (Role r : roles) {
    if (!out.empty()) out += ',';
    out += to_string(r);
  }
  return out;
}

std::vector<Role> split_roles(std::string_view s) {
  std::vector<Role> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string_view::npos) comma = s.size();
    if (auto r = parse_role(s.substr(pos, comma - pos))) out.push_back(*r);
    pos = comma + 1;
  }
  return out;
}

std::string join_keywords(std::vector<std::string> kw) {
  std::sort(kw.begin(), kw.end());
  kw.erase(std::unique(kw.begin(), kw.end()), kw.end());
  std::string out;
  for (const auto& k : kw) {
    if (!out.empty()) out += ' ';
    out += k;
  }
  return out;
}

std::vector<std::string> split_keywords(std::string_view s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t sp = s.find(' ', pos);
    if (sp == std::string_view::npos) sp = s.size();
    if (sp > pos) out.emplace_back(s.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return out;
}

Error not_found(std::string what) { return make_error(Errc::not_found, std::move(what)); }

// ---------------------------------------------------------------------------
// Group commit.

// How a job must be committed. full: fsync'd (synchronous=FULL) before run() returns.
// relaxed: committed (visible, survives a process crash) but the fsync is left to the next
// full commit or checkpoint; see Store::update_flags for who may ask for this.
enum class Sync { full, relaxed };

// Checkpoints in the background. SQLite's automatic checkpoint runs inside the COMMIT that
// passes 1000 WAL pages: that commit's writers wait while it copies 4 MB into the database
// and fsyncs it (with 100 KB bodies stored inline, every 40th delivery waited 10-20 ms).
// Instead, the writer's WAL hook wakes this thread, which checkpoints on a connection of its
// own (PASSIVE: it never blocks the writer or readers) while commits go on. Should it fall
// far behind, the writer checkpoints in line again (kWalHardLimitPages), so the WAL stays
// bounded whatever the load.
class Checkpointer {
 public:
  static constexpr int kWalPages = 1000;            // SQLite's own default threshold
  static constexpr int kWalHardLimitPages = 16000;  // 64 MB of 4 KB pages

  explicit Checkpointer(std::unique_ptr<Conn> conn) : conn_(std::move(conn)) {
    if (conn_) thread_ = std::thread([this] { loop(); });
  }
  ~Checkpointer() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  bool running() const { return conn_ != nullptr; }
  void wake() {
    {
      std::lock_guard lk(mu_);
      wanted_ = true;
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    std::unique_lock lk(mu_);
    for (;;) {
      cv_.wait(lk, [this] { return stop_ || wanted_; });
      if (stop_) return;
      wanted_ = false;
      lk.unlock();
      int log = 0, done = 0;
      (void)sqlite3_wal_checkpoint_v2(conn_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
      lk.lock();
    }
  }

  std::unique_ptr<Conn> conn_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;  // guarded by mu_
  bool stop_ = false;    // guarded by mu_
  std::thread thread_;
};

// Writes handed to the committer (each waits for a commit): what a request costs in
// durable writes, which tests compare between paths that must look alike.
metrics::Counter& writes_total() {
  static auto& c = metrics::counter("caremail_store_writes_total", "Write transactions run by the store's committer");
  return c;
}

class Committer {
 public:
  using Fn = std::function<Status(Conn&)>;

  // `checkpoint_conn`: a second connection for background checkpoints; null: the writer
  // checkpoints in line, as SQLite does by default.
  Committer(std::unique_ptr<Conn> conn, int max_batch, std::unique_ptr<Conn> checkpoint_conn = nullptr)
      : conn_(std::move(conn)), max_batch_(max_batch), checkpointer_(std::move(checkpoint_conn)) {
    if (checkpointer_.running()) {
      // Replaces the automatic checkpoint (which is itself a WAL hook).
      sqlite3_wal_hook(conn_->raw(), &Committer::on_wal, this);
      // A WAL that grew under a burst is cut back once it restarts.
      (void)conn_->exec("PRAGMA journal_size_limit=67108864");
    }
    thread_ = std::thread([this] { loop(); });
  }
  ~Committer() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    // Relaxed commits since the last durable one are in the WAL but maybe not on disk: a
    // checkpoint syncs the WAL first, so a clean shutdown leaves nothing unsynced.
    if (relaxed_) (void)conn_->exec("PRAGMA wal_checkpoint(PASSIVE)");
  }

  void set_hook(std::function<Status()> h) {
    std::lock_guard lk(mu_);
    hook_ = std::move(h);
  }

  // Runs `fn` inside the next batch's transaction and returns once that batch has
  // committed (or failed). A job's own failure rolls back only that job.
  Status run(Fn fn, Sync sync = Sync::full) {
    writes_total().inc();
    Job job{std::move(fn), sync, {}};
    auto fut = job.done.get_future();
    {
      std::lock_guard lk(mu_);
      if (stop_) return make_error(Errc::temporary, "store is shutting down");
      queue_.push_back(std::move(job));
    }
    cv_.notify_one();
    return fut.get();
  }

 private:
  struct Job {
    Fn fn;
    Sync sync;
    std::promise<Status> done;
  };

  void loop() {
    std::vector<Job> batch;
    for (;;) {
      std::function<Status()> hook;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty() && stop_) return;
        while (!queue_.empty() && static_cast<int>(batch.size()) < max_batch_) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        hook = hook_;
      }
      commit(batch, hook);
      batch.clear();
    }
  }

  // A batch skips the fsync only when every job in it may: one durable job makes the
  // whole batch durable (and, the WAL being one file, every relaxed commit before it).
  // In WAL mode synchronous=NORMAL writes the commit to the WAL without fsync; FULL
  // fsyncs the WAL at commit. The setting is per connection and changed only here,
  // between transactions, by the committer thread, which owns conn_.
  Status set_sync(const std::vector<Job>& batch) {
    bool relaxed = std::all_of(batch.begin(), batch.end(), [](const Job& j) { return j.sync == Sync::relaxed; });
    if (relaxed == relaxed_) return {};
    Status s = conn_->exec(relaxed ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL");
    if (s) {
      relaxed_ = relaxed;
      return {};
    }
    if (relaxed) return {};  // still FULL: stricter than asked, which is fine
    return s;
  }

  void commit(std::vector<Job>& batch, const std::function<Status()>& hook) {
    std::vector<Status> results(batch.size());
    if (Status s = set_sync(batch); !s) {  // cannot promise durability: run nothing
      for (auto& j : batch) j.done.set_value(s);
      return;
    }
    Status begin = conn_->exec("BEGIN IMMEDIATE");
    if (!begin) {
      for (auto& j : batch) j.done.set_value(begin);
      return;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      Status sp = conn_->exec("SAVEPOINT job");
      if (!sp) { results[i] = sp; continue; }
      results[i] = batch[i].fn(*conn_);
      if (!results[i]) (void)conn_->exec("ROLLBACK TO job");
      (void)conn_->exec("RELEASE job");
    }
    Status fin;
    if (hook) fin = hook();
    if (fin) fin = conn_->exec("COMMIT");
    if (!fin) {
      (void)conn_->exec("ROLLBACK");
      for (auto& j : batch) j.done.set_value(fin);
      return;
    }
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done.set_value(std::move(results[i]));
  }

  // After every commit of the writer: how many pages the WAL holds.
  static int on_wal(void* self, sqlite3* db, const char* name, int pages) {
    auto* c = static_cast<Committer*>(self);
    if (pages >= Checkpointer::kWalHardLimitPages) {
      int log = 0, done = 0;
      (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    } else if (pages >= Checkpointer::kWalPages) {
      c->checkpointer_.wake();
    }
    return SQLITE_OK;
  }

  std::unique_ptr<Conn> conn_;
  const int max_batch_;
  Checkpointer checkpointer_;
  bool relaxed_ = false;            // conn_ is at synchronous=NORMAL; committer thread only
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;           // guarded by mu_
  std::function<Status()> hook_;    // guarded by mu_
  bool stop_ = false;               // guarded by mu_
  std::thread thread_;
};

// ---------------------------------------------------------------------------
class ReaderPool {
 public:
  explicit ReaderPool(std::string path) : path_(std::move(path)) {}

  class Lease {
   public:
    Lease(ReaderPool* p, std::unique_ptr<Conn> c) : p_(p), c_(std::move(c)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (c_) p_->give_back(std::move(c_));
    }
    Conn& operator*() { return *c_; }
    Conn* operator->() { return c_.get(); }

   private:
    ReaderPool* p_;
    std::unique_ptr<Conn> c_;
  };

  Result<Lease> take() {
    {
      std::lock_guard lk(mu_);
      if (!free_.empty()) {
        auto c = std::move(free_.back());
        free_.pop_back();
        return Lease(this, std::move(c));
      }
    }
    auto c = Conn::open(path_, false);
    if (!c) return c.error();
    return Lease(this, std::move(c).value());
  }

 private:
  void give_back(std::unique_ptr<Conn> c) {
    std::lock_guard lk(mu_);
    if (free_.size() < 64) free_.push_back(std::move(c));
  }
  std::string path_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> free_;
};

constexpr const char* kAccountCols =
    "SELECT id,address,display_name,org_id,kind,state,roles,password_hash,quota_bytes,created_at,sending_suspended,"
    "password_changed_at,must_change_password,expiry_reminder_sent,locked_until,failures_reset_at,aup_version,"
    "last_login_at,state_changed_at,leaver_from,legal_hold,external_id,unfamiliar_locked_until "
    "FROM accounts ";

constexpr const char* kOrgCols =
    "SELECT id,ods_code,name,short_name,open,created_at,mfa_required,trusted_networks,successor_id,closed_at,"
    "large_quota_allowance,sharing_agreement FROM organisations ";

constexpr const char* kMailboxCols =
    "SELECT id,account_id,name,special_use,uidvalidity,uidnext,highest_modseq,"
    "EXISTS(SELECT 1 FROM subscriptions s WHERE s.account_id=mailboxes.account_id AND s.name=mailboxes.name),"
    "messages,unseen,bytes,first_recent_uid FROM mailboxes ";

Mailbox read_mailbox(const Stmt& s) {
  Mailbox m;
  m.id = s.i64(0);
  m.account_id = s.i64(1);
  m.name = s.text(2);
  m.special_use = s.text(3);
  m.uidvalidity = static_cast<uint32_t>(s.i64(4));
  m.uidnext = static_cast<Uid>(s.i64(5));
  m.highest_modseq = static_cast<ModSeq>(s.i64(6));
  m.subscribed = s.i64(7) != 0;
  m.messages = static_cast<uint32_t>(s.i64(8));
  m.unseen = static_cast<uint32_t>(s.i64(9));
  m.bytes = static_cast<uint64_t>(s.i64(10));
  m.first_recent_uid = static_cast<Uid>(s.i64(11));
  return m;
}

// An entry's size (entries e JOIN messages m): the shared message plus the entry's own
// trace lines (schema v7), in octets (length() of TEXT would count characters).
#define CM_ENTRY_SIZE "(m.size+coalesce(length(CAST(e.trace AS BLOB)),0))"

// Entry columns, then optional summary columns from messages, then the entry's trace.
#define CM_ENTRY_SELECT                                                                                   \
  "SELECT e.mailbox_id,e.uid,e.message_id,m.blob_id," CM_ENTRY_SIZE ",e.internal_date,e.flags,e.keywords," \
  "e.modseq,m.subject,m.from_addr,m.to_addrs,m.cc_addrs,m.date_hdr,m.sent_at,m.message_id_hdr,"           \
  "m.in_reply_to,m.references_hdr,m.has_attachments,m.body_structure,e.trace "                            \
  "FROM entries e JOIN messages m ON m.id=e.message_id "

#define CM_OUTBOUND_SELECT                                                                                   \
  "SELECT o.id,o.queue_id,o.message_id,m.blob_id,m.size,o.sender,o.recipient,o.domain,o.notify,o.orcpt,o.envid," \
  "o.ret_hdrs,o.require_tls,o.created_at,o.next_attempt_at,o.attempts,o.last_error,o.delay_notified "              \
  "FROM outbound o JOIN messages m ON m.id=o.message_id "

MailboxEntry read_entry(const Stmt& s, bool summaries) {
  MailboxEntry e;
  e.mailbox_id = s.i64(0);
  e.uid = static_cast<Uid>(s.i64(1));
  e.message_id = s.i64(2);
  e.blob_id = s.text(3);
  e.size = static_cast<uint64_t>(s.i64(4));
  e.internal_date = s.i64(5);
  e.flags = static_cast<uint32_t>(s.i64(6));
  e.keywords = split_keywords(s.text(7));
  e.modseq = static_cast<ModSeq>(s.i64(8));
  e.trace = s.text(20);
  if (summaries) {
    auto& m = e.summary;
    m.subject = s.text(9);
    m.from = s.text(10);
    m.to = s.text(11);
    m.cc = s.text(12);
    m.date = s.text(13);
    m.sent_at = s.i64(14);
    m.message_id = s.text(15);
    m.in_reply_to = s.text(16);
    m.references = s.text(17);
    m.has_attachments = s.i64(18) != 0;
    m.body_structure = s.text(19);
  }
  return e;
}

const char* const kDefaultMailboxes[][2] = {
    {"INBOX", ""}, {"Drafts", "\\Drafts"}, {"Sent", "\\Sent"},
    {"Trash", "\\Trash"}, {"Junk", "\\Junk"}, {"Archive", "\\Archive"},
};

// ---------------------------------------------------------------------------
class SqliteStore final : public Store {
 public:
  SqliteStore(std::unique_ptr<Conn> writer, std::unique_ptr<Conn> checkpointer, std::string path, int max_batch,
              Clock clock)
      : clock_(std::move(clock)),
        committer_(std::move(writer), max_batch, std::move(checkpointer)),
        readers_(std::move(path)) {}

  // --- organisations -------------------------------------------------------
  Result<Organisation> create_organisation(const NewOrganisation& o) override {
    OrgId id = 0;
    UnixTime at = now_s();
    Status st = committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("INSERT INTO organisations(ods_code,name,short_name,open,created_at) VALUES(?,?,?,1,?)");
      s.bind(1, o.ods_code).bind(2, o.name).bind(3, o.short_name).bind(4, at);
      if (Status r = s.exec(); !r)
        return make_error(r.error().code, "organisation " + o.ods_code + " already exists");
      id = c.last_insert_rowid();
      for (const auto& d : o.domains) {
        auto sd = c.prepare("INSERT INTO org_domains(domain,org_id) VALUES(?,?)");
        sd.bind(1, lower(d)).bind(2, id);
        if (Status r = sd.exec(); !r)
          return make_error(r.error().code, "domain " + d + " already belongs to an organisation");
      }
      return {};
    });
    if (!st) return st.error();
    return organisation(id);
  }

  Result<Organisation> organisation(OrgId id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string(kOrgCols) + "WHERE id=?";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, id);
    if (!s.step()) return s.status() ? not_found("no organisation with id " + std::to_string(id)) : s.status().error();
    return read_org(**c, s);
  }

  Result<Organisation> organisation_by_ods(std::string_view ods) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string(kOrgCols) + "WHERE ods_code=?";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, ods);
    if (!s.step()) return s.status() ? not_found("no organisation " + std::string(ods)) : s.status().error();
    return read_org(**c, s);
  }

  Result<std::vector<Organisation>> list_organisations() override {
    auto c = readers_.take();
    if (!c) return c.error();
    std::vector<Organisation> out;
    static const std::string sql = std::string(kOrgCols) + "ORDER BY ods_code";
    auto s = (*c)->prepare(sql.c_str());
    while (s.step()) out.push_back(read_org(**c, s));
    if (!s.status()) return s.status().error();
    return out;
  }

  Result<OrgId> organisation_for_domain(std::string_view domain) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare("SELECT org_id FROM org_domains WHERE domain=?");
    s.bind(1, lower(domain));
    if (!s.step()) return s.status() ? not_found("no organisation owns " + std::string(domain)) : s.status().error();
    return s.i64(0);
  }

  // --- accounts ------------------------------------------------------------
  Result<Account> create_account(const NewAccount& a) override {
    AccountId id = 0;
    UnixTime at = now_s();
    std::string addr = lower(a.address);
    Status st = committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare(
          "INSERT INTO accounts(address,display_name,org_id,kind,state,roles,password_hash,quota_bytes,created_at,"
          "password_changed_at,must_change_password,state_changed_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
      s.bind(1, addr).bind(2, a.display_name).bind(3, a.org_id).bind(4, to_string(a.kind));
      s.bind(5, to_string(AccountState::active)).bind(6, join_roles(a.roles)).bind(7, a.password_hash);
      s.bind(8, static_cast<int64_t>(a.quota_bytes)).bind(9, at).bind(10, at).bind(11, a.must_change_password ? 1 : 0);
      s.bind(12, at);
      if (Status r = s.exec(); !r) {
        if (r.error().code == Errc::invalid_argument)
          return make_error(Errc::invalid_argument, "organisation " + std::to_string(a.org_id) + " does not exist");
        if (r.error().code == Errc::already_exists)
          return make_error(Errc::already_exists, "address " + addr + " is already taken");
        return r;
      }
      id = c.last_insert_rowid();
      if (Status r = check_not_retired(c, addr); !r) return r;
      if (Status r = check_not_list(c, addr); !r) return r;
      {
        auto u = c.prepare("INSERT INTO addresses(address,account_id,is_alias) VALUES(?,?,0)");
        u.bind(1, addr).bind(2, id);
        if (Status r = u.exec(); !r) return make_error(r.error().code, "address " + addr + " is already taken");
      }
      {
        auto q = c.prepare("INSERT INTO quota_usage(account_id,bytes,messages) VALUES(?,0,0)");
        q.bind(1, id);
        if (Status r = q.exec(); !r) return r;
      }
      if (!a.password_hash.empty()) {
        auto h = c.prepare("INSERT INTO password_history(account_id,set_at,phc) VALUES(?,?,?)");
        h.bind(1, id).bind(2, at).bind(3, a.password_hash);
        if (Status r = h.exec(); !r) return r;
      }
      for (const auto& mb : kDefaultMailboxes) {
        if (Status r = insert_mailbox(c, id, mb[0], mb[1]); !r) return r;
        // The defaults are subscribed: clients that show only subscribed folders show them.
        auto sub = c.prepare("INSERT INTO subscriptions(account_id,name) VALUES(?,?)");
        sub.bind(1, id).bind(2, std::string_view(mb[0]));
        if (Status r = sub.exec(); !r) return r;
      }
      return {};
    });
    if (!st) return st.error();
    return account(id);
  }

  Result<Account> account(AccountId id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string(kAccountCols) + "WHERE id=?";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, id);
    if (!s.step()) return s.status() ? not_found("no account with id " + std::to_string(id)) : s.status().error();
    return read_account(**c, s);
  }

  Result<Account> account_by_address(std::string_view address) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string(kAccountCols) +
                                   "WHERE id=(SELECT account_id FROM addresses WHERE address=?)";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, lower(address));
    if (!s.step()) return s.status() ? not_found("no account " + std::string(address)) : s.status().error();
    return read_account(**c, s);
  }

  Result<std::vector<Account>> list_accounts(std::optional<OrgId> org) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string all = std::string(kAccountCols) + "ORDER BY address";
    static const std::string by_org = std::string(kAccountCols) + "WHERE org_id=? ORDER BY address";
    auto s = (*c)->prepare(org ? by_org.c_str() : all.c_str());
    if (org) s.bind(1, *org);
    std::vector<Account> out;
    while (s.step()) out.push_back(read_account(**c, s));
    if (!s.status()) return s.status().error();
    return out;
  }

  using Store::set_password_hash;
  Status set_password_hash(AccountId id, std::string_view hash, UnixTime at, bool must_change,
                           size_t keep_history) override {
    if (at == 0) at = now_s();
    if (keep_history < 1) keep_history = 1;
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare(
          "UPDATE accounts SET password_hash=?,password_changed_at=?,must_change_password=?,"
          "expiry_reminder_sent=NULL WHERE id=?");
      s.bind(1, hash).bind(2, at).bind(3, must_change ? 1 : 0).bind(4, id);
      if (Status r = s.exec(); !r) return r;
      if (c.changes() == 0) return not_found("no account with id " + std::to_string(id));
      if (hash.empty()) return {};
      auto h = c.prepare("INSERT INTO password_history(account_id,set_at,phc) VALUES(?,?,?)");
      h.bind(1, id).bind(2, at).bind(3, hash);
      if (Status r = h.exec(); !r) return r;
      auto t = c.prepare(
          "DELETE FROM password_history WHERE account_id=?1 AND rowid NOT IN (SELECT rowid FROM password_history "
          "WHERE account_id=?1 ORDER BY set_at DESC, rowid DESC LIMIT ?2)");
      t.bind(1, id).bind(2, static_cast<int64_t>(keep_history));
      return t.exec();
    });
  }

  Result<std::vector<std::string>> password_history(AccountId id, size_t n) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT phc FROM password_history WHERE account_id=? ORDER BY set_at DESC, rowid DESC LIMIT ?");
    s.bind(1, id).bind(2, static_cast<int64_t>(n));
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.text(0));
    if (!s.status()) return s.status().error();
    return out;
  }

  Result<std::vector<Account>> accounts_with_password_set_before(UnixTime before, size_t limit) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string(kAccountCols) +
                                   "WHERE password_changed_at < ? AND password_hash != '' AND kind != 'shared' "
                                   "ORDER BY password_changed_at LIMIT ?";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, before).bind(2, static_cast<int64_t>(limit));
    std::vector<Account> out;
    while (s.step()) out.push_back(read_account(**c, s));
    if (!s.status()) return s.status().error();
    return out;
  }

  Status set_expiry_reminder_sent(AccountId id, std::optional<int> days) override {
    return update_account(id, [&](Conn& c) {
      auto s = c.prepare("UPDATE accounts SET expiry_reminder_sent=? WHERE id=?");
      if (days) s.bind(1, static_cast<int64_t>(*days)); else s.bind_null(1);
      s.bind(2, id);
      return s.exec();
    });
  }

  static Status insert_auth_failure(Conn& c, const AuthFailure& f, UnixTime at) {
    auto s = c.prepare(
        "INSERT INTO auth_failures(account_id,at,protocol,peer,client,reason,familiar) VALUES(?,?,?,?,?,?,?)");
    s.bind(1, f.account_id).bind(2, at).bind(3, f.protocol).bind(4, f.peer).bind(5, f.client).bind(6, f.reason);
    s.bind(7, int64_t{f.familiar ? 1 : 0});
    return s.exec();
  }

  Status record_auth_failure(const AuthFailure& f) override {
    UnixTime at = f.at ? f.at : now_s();
    return committer_.run([&](Conn& c) -> Status { return insert_auth_failure(c, f, at); });
  }

  Status record_auth_failure(const AuthFailure& f, AuditEvent e) override {
    UnixTime at = f.at ? f.at : now_s();
    if (e.at == 0) e.at = now_s();
    return committer_.run([&](Conn& c) -> Status {
      if (Status s = insert_auth_failure(c, f, at); !s) return s;
      return insert_audit(c, e);
    });
  }

  Result<std::vector<AuthFailure>> auth_failures(AccountId id, UnixTime since, size_t limit) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT id,account_id,at,protocol,peer,client,reason,familiar FROM auth_failures WHERE account_id=? AND at>=? "
        "ORDER BY at DESC, id DESC LIMIT ?");
    s.bind(1, id).bind(2, since).bind(3, static_cast<int64_t>(limit));
    std::vector<AuthFailure> out;
    while (s.step()) {
      AuthFailure f;
      f.id = s.i64(0);
      f.account_id = s.i64(1);
      f.at = s.i64(2);
      f.protocol = s.text(3);
      f.peer = s.text(4);
      f.client = s.text(5);
      f.reason = s.text(6);
      f.familiar = s.i64(7) != 0;
      out.push_back(std::move(f));
    }
    if (!s.status()) return s.status().error();
    return out;
  }

  Result<int64_t> count_auth_failures(AccountId id, UnixTime since) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT count(*) FROM auth_failures WHERE account_id=?1 AND familiar=1 AND at>=?2 "
        "AND protocol NOT IN ('reset','helpdesk') AND id>(SELECT failures_reset_id FROM accounts WHERE id=?1)");
    s.bind(1, id).bind(2, since);
    if (!s.step()) return s.status() ? int64_t{0} : Result<int64_t>(s.status().error());
    return s.i64(0);
  }

  Result<int64_t> count_unfamiliar_failures(AccountId id, UnixTime since) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT count(*) FROM auth_failures WHERE account_id=?1 AND familiar=0 AND at>=?2 "
        "AND protocol NOT IN ('reset','helpdesk') AND id>(SELECT unfamiliar_reset_id FROM accounts WHERE id=?1)");
    s.bind(1, id).bind(2, since);
    if (!s.step()) return s.status() ? int64_t{0} : Result<int64_t>(s.status().error());
    return s.i64(0);
  }

  Status set_unfamiliar_locked_until(AccountId id, UnixTime until) override {
    return update_account(id, [&](Conn& c) {
      auto s = c.prepare("UPDATE accounts SET unfamiliar_locked_until=? WHERE id=?");
      s.bind(1, until).bind(2, id);
      return s.exec();
    });
  }

  Result<std::vector<FamiliarSource>> familiar_sources(AccountId id, UnixTime since) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT source,last_success_at FROM familiar_sources WHERE account_id=? AND last_success_at>=? "
        "ORDER BY last_success_at DESC LIMIT 100");
    s.bind(1, id).bind(2, since);
    std::vector<FamiliarSource> out;
    while (s.step()) out.push_back(FamiliarSource{s.text(0), s.i64(1)});
    if (!s.status()) return s.status().error();
    return out;
  }

  Status note_familiar_source(AccountId id, std::string_view source, UnixTime at, UnixTime forget_before) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare(
          "INSERT INTO familiar_sources(account_id,source,last_success_at) VALUES(?1,?2,?3) "
          "ON CONFLICT(account_id,source) DO UPDATE SET last_success_at=max(last_success_at,?3)");
      s.bind(1, id).bind(2, source).bind(3, at);
      if (Status r = s.exec(); !r) return r;
      auto d = c.prepare(
          "DELETE FROM familiar_sources WHERE account_id=?1 AND (last_success_at<?2 OR source NOT IN "
          "(SELECT source FROM familiar_sources WHERE account_id=?1 ORDER BY last_success_at DESC LIMIT 100))");
      d.bind(1, id).bind(2, forget_before);
      return d.exec();
    });
  }

  Status set_locked_until(AccountId id, UnixTime until, bool reset_failures) override {
    UnixTime now = now_s();
    return update_account(id, [&](Conn& c) {
      auto s = reset_failures ? c.prepare(
                                    "UPDATE accounts SET locked_until=?1,failures_reset_at=?2,failures_reset_id="
                                    "(SELECT coalesce(max(id),0) FROM auth_failures WHERE account_id=?3),"
                                    "unfamiliar_locked_until=0,unfamiliar_reset_id="
                                    "(SELECT coalesce(max(id),0) FROM auth_failures WHERE account_id=?3) WHERE id=?3")
                              : c.prepare("UPDATE accounts SET locked_until=? WHERE id=?");
      s.bind(1, until);
      if (reset_failures) s.bind(2, now).bind(3, id); else s.bind(2, id);
      return s.exec();
    });
  }

  Status note_login(AccountId id, UnixTime at) override {
    return update_account(id, [&](Conn& c) {
      auto s = c.prepare(
          "UPDATE accounts SET last_login_at=?1,failures_reset_at=?1,failures_reset_id="
          "(SELECT coalesce(max(id),0) FROM auth_failures WHERE account_id=?2) WHERE id=?2");
      s.bind(1, at).bind(2, id);
      return s.exec();
    });
  }

  Result<AppPassword> add_app_password(AccountId id, std::string_view name, std::string_view secret_hash) override {
    AppPassword a;
    a.account_id = id;
    a.name = std::string(name);
    a.created_at = now_s();
    Status st = committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("INSERT INTO app_passwords(account_id,name,secret_hash,created_at) VALUES(?,?,?,?)");
      s.bind(1, id).bind(2, name).bind(3, secret_hash).bind(4, a.created_at);
      if (Status r = s.exec(); !r) return r;
      a.id = c.last_insert_rowid();
      return {};
    });
    if (!st) return st.error();
    return a;
  }

  static AppPassword read_app_password(const Stmt& s) {
    AppPassword a;
    a.id = s.i64(0);
    a.account_id = s.i64(1);
    a.name = s.text(2);
    a.created_at = s.i64(3);
    a.last_used_at = s.i64(4);
    a.last_used_protocol = s.text(5);
    a.last_used_peer = s.text(6);
    return a;
  }
  static constexpr const char* kAppCols =
      "SELECT id,account_id,name,created_at,last_used_at,last_used_protocol,last_used_peer FROM app_passwords ";

  Result<std::vector<AppPassword>> app_passwords(AccountId id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string(kAppCols) + "WHERE account_id=? ORDER BY id";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, id);
    std::vector<AppPassword> out;
    while (s.step()) out.push_back(read_app_password(s));
    if (!s.status()) return s.status().error();
    return out;
  }

  Result<AppPassword> app_password_by_hash(AccountId id, std::string_view secret_hash) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string(kAppCols) + "WHERE account_id=? AND secret_hash=?";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, id).bind(2, secret_hash);
    if (!s.step()) return s.status() ? not_found("no such app password") : s.status().error();
    return read_app_password(s);
  }

  Status touch_app_password(int64_t app_id, UnixTime at, std::string_view protocol, std::string_view peer) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare(
          "UPDATE app_passwords SET last_used_at=?,last_used_protocol=?,last_used_peer=? WHERE id=?");
      s.bind(1, at).bind(2, protocol).bind(3, peer).bind(4, app_id);
      return s.exec();
    });
  }

  Status delete_app_password(AccountId id, int64_t app_id) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("DELETE FROM app_passwords WHERE id=? AND account_id=?");
      s.bind(1, app_id).bind(2, id);
      if (Status r = s.exec(); !r) return r;
      if (c.changes() == 0) return not_found("no app password " + std::to_string(app_id));
      return {};
    });
  }

  Status set_org_mfa_policy(OrgId id, bool required, const std::vector<std::string>& nets) override {
    std::string joined;
    for (const auto& n : nets) joined += (joined.empty() ? "" : ",") + n;
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("UPDATE organisations SET mfa_required=?,trusted_networks=? WHERE id=?");
      s.bind(1, required ? 1 : 0).bind(2, joined).bind(3, id);
      if (Status r = s.exec(); !r) return r;
      if (c.changes() == 0) return not_found("no organisation with id " + std::to_string(id));
      return {};
    });
  }

  Result<MfaState> mfa(AccountId id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT totp_secret,enabled,last_step,created_at,pending_secret FROM mfa WHERE account_id=?");
    s.bind(1, id);
    if (!s.step()) return s.status() ? not_found("no second factor") : s.status().error();
    MfaState m;
    m.account_id = id;
    m.sealed_secret = s.blob(0);
    m.enabled = s.i64(1) != 0;
    m.last_step = s.i64(2);
    m.created_at = s.i64(3);
    if (!s.is_null(4)) m.sealed_pending = s.blob(4);
    return m;
  }

  Status begin_mfa(AccountId id, std::string_view sealed) override {
    UnixTime at = now_s();
    return committer_.run([&](Conn& c) -> Status {
      auto p = c.prepare("UPDATE mfa SET pending_secret=? WHERE account_id=? AND enabled=1");
      p.bind_blob(1, sealed).bind(2, id);
      if (Status r = p.exec(); !r) return r;
      if (c.changes() > 0) return {};  // a replacement: the current factor stays in force
      auto s = c.prepare(
          "INSERT INTO mfa(account_id,totp_secret,enabled,last_step,created_at) VALUES(?,?,0,0,?) "
          "ON CONFLICT(account_id) DO UPDATE SET totp_secret=excluded.totp_secret,pending_secret=NULL,enabled=0,"
          "last_step=0,created_at=excluded.created_at");
      s.bind(1, id).bind_blob(2, sealed).bind(3, at);
      if (Status r = s.exec(); !r) return r;
      auto d = c.prepare("DELETE FROM recovery_codes WHERE account_id=?");
      d.bind(1, id);
      return d.exec();
    });
  }

  Status enable_mfa(AccountId id, int64_t step, std::span<const std::string> hashes) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare(
          "UPDATE mfa SET totp_secret=coalesce(pending_secret,totp_secret),pending_secret=NULL,enabled=1,last_step=? "
          "WHERE account_id=?");
      s.bind(1, step).bind(2, id);
      if (Status r = s.exec(); !r) return r;
      if (c.changes() == 0) return not_found("no second factor being set up");
      auto d = c.prepare("DELETE FROM recovery_codes WHERE account_id=?");
      d.bind(1, id);
      if (Status r = d.exec(); !r) return r;
      for (const auto& h : hashes) {
        auto i = c.prepare("INSERT INTO recovery_codes(account_id,phc) VALUES(?,?)");
        i.bind(1, id).bind(2, h);
        if (Status r = i.exec(); !r) return r;
      }
      return {};
    });
  }

  Result<bool> advance_mfa_step(AccountId id, int64_t step) override {
    bool moved = false;
    Status st = committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("UPDATE mfa SET last_step=? WHERE account_id=? AND last_step<?");
      s.bind(1, step).bind(2, id).bind(3, step);
      if (Status r = s.exec(); !r) return r;
      moved = c.changes() > 0;
      return {};
    });
    if (!st) return st.error();
    return moved;
  }

  Status delete_mfa(AccountId id) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("DELETE FROM mfa WHERE account_id=?");
      s.bind(1, id);
      if (Status r = s.exec(); !r) return r;
      auto d = c.prepare("DELETE FROM recovery_codes WHERE account_id=?");
      d.bind(1, id);
      return d.exec();
    });
  }

  Result<std::vector<std::pair<int64_t, std::string>>> recovery_codes(AccountId id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare("SELECT id,phc FROM recovery_codes WHERE account_id=? ORDER BY id");
    s.bind(1, id);
    std::vector<std::pair<int64_t, std::string>> out;
    while (s.step()) out.emplace_back(s.i64(0), s.text(1));
    if (!s.status()) return s.status().error();
    return out;
  }

  Result<bool> use_recovery_code(AccountId id, int64_t code_id) override {
    bool used = false;
    Status st = committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("DELETE FROM recovery_codes WHERE id=? AND account_id=?");
      s.bind(1, code_id).bind(2, id);
      if (Status r = s.exec(); !r) return r;
      used = c.changes() > 0;
      return {};
    });
    if (!st) return st.error();
    return used;
  }

  Status create_session(const WebSession& w) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare(
          "INSERT INTO web_sessions(token_hash,account_id,csrf_hash,created_at,last_seen_at,idle_seconds,expires_at,"
          "public,mfa,peer,user_agent) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
      s.bind(1, w.token_hash).bind(2, w.account_id).bind(3, w.csrf_hash).bind(4, w.created_at);
      s.bind(5, w.last_seen_at).bind(6, static_cast<int64_t>(w.idle_seconds)).bind(7, w.expires_at);
      s.bind(8, w.public_computer ? 1 : 0).bind(9, w.mfa ? 1 : 0).bind(10, w.peer).bind(11, w.user_agent);
      return s.exec();
    });
  }

  Result<WebSession> session(std::string_view token_hash) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT token_hash,account_id,csrf_hash,created_at,last_seen_at,idle_seconds,expires_at,public,mfa,peer,"
        "user_agent FROM web_sessions WHERE token_hash=?");
    s.bind(1, token_hash);
    if (!s.step()) return s.status() ? not_found("no such session") : s.status().error();
    WebSession w;
    w.token_hash = s.text(0);
    w.account_id = s.i64(1);
    w.csrf_hash = s.text(2);
    w.created_at = s.i64(3);
    w.last_seen_at = s.i64(4);
    w.idle_seconds = static_cast<int>(s.i64(5));
    w.expires_at = s.i64(6);
    w.public_computer = s.i64(7) != 0;
    w.mfa = s.i64(8) != 0;
    w.peer = s.text(9);
    w.user_agent = s.text(10);
    return w;
  }

  Status touch_session(std::string_view token_hash, UnixTime at) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("UPDATE web_sessions SET last_seen_at=? WHERE token_hash=?");
      s.bind(1, at).bind(2, token_hash);
      return s.exec();
    });
  }

  Status delete_session(std::string_view token_hash) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("DELETE FROM web_sessions WHERE token_hash=?");
      s.bind(1, token_hash);
      return s.exec();
    });
  }

  Status delete_sessions(AccountId id, std::string_view except) override {
    return committer_.run([&](Conn& c) -> Status {
      // (An empty view may bind as NULL, which would match nothing: use a hash that
      // cannot occur instead.)
      auto s = c.prepare("DELETE FROM web_sessions WHERE account_id=? AND token_hash!=?");
      s.bind(1, id).bind(2, except.empty() ? std::string_view("-") : except);
      return s.exec();
    });
  }

  Result<AupVersion> publish_aup(std::string_view text, std::string_view by) override {
    AupVersion v;
    v.text = std::string(text);
    v.published_at = now_s();
    v.published_by = std::string(by);
    Status st = committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare(
          "INSERT INTO aup_versions(version,text,published_at,published_by) "
          "VALUES((SELECT coalesce(max(version),0)+1 FROM aup_versions),?,?,?)");
      s.bind(1, text).bind(2, v.published_at).bind(3, by);
      if (Status r = s.exec(); !r) return r;
      v.version = static_cast<int>(c.last_insert_rowid());
      return {};
    });
    if (!st) return st.error();
    return v;
  }

  Result<AupVersion> current_aup() override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT version,text,published_at,published_by FROM aup_versions ORDER BY version DESC LIMIT 1");
    if (!s.step()) return s.status() ? not_found("no Acceptable Use Policy has been published") : s.status().error();
    AupVersion v;
    v.version = static_cast<int>(s.i64(0));
    v.text = s.text(1);
    v.published_at = s.i64(2);
    v.published_by = s.text(3);
    return v;
  }

  Status set_aup_version(AccountId id, int version) override {
    return update_account(id, [&](Conn& c) {
      auto s = c.prepare("UPDATE accounts SET aup_version=? WHERE id=?");
      s.bind(1, static_cast<int64_t>(version)).bind(2, id);
      return s.exec();
    });
  }

  // One UPDATE of one account row (`run` binds and executes it); not_found when the
  // account does not exist.
  template <class Run>
  Status update_account(AccountId id, Run run) {
    return committer_.run([&](Conn& c) -> Status {
      if (Status r = run(c); !r) return r;
      if (c.changes() == 0) return not_found("no account with id " + std::to_string(id));
      return {};
    });
  }

  // An address a removed account held stays unusable until release_addresses frees it.
  // Lists share the address namespace of accounts and aliases (schema v14).
  static Status check_not_list(Conn& c, const std::string& address) {
    auto s = c.prepare("SELECT 1 FROM distribution_lists WHERE address=?");
    s.bind(1, address);
    if (s.step()) return make_error(Errc::already_exists, "address " + address + " is a distribution list's");
    return s.status();
  }

  static Status check_not_retired(Conn& c, const std::string& address) {
    auto s = c.prepare("SELECT reusable_at FROM retired_addresses WHERE address=?");
    s.bind(1, address);
    if (s.step())
      return make_error(Errc::already_exists, "address " + address + " belonged to a deleted account and cannot be "
                                              "reused yet");
    return s.status();
  }

  // --- life cycle --------------------------------------------------------------------
  Status set_account_state(AccountId id, AccountState state, UnixTime at) override {
    return update_account(id, [&](Conn& c) {
      auto s = c.prepare(
          "UPDATE accounts SET state=?1,state_changed_at=?2,"
          "leaver_from=CASE WHEN ?1='leaver' THEN leaver_from ELSE 0 END WHERE id=?3");
      s.bind(1, to_string(state)).bind(2, at).bind(3, id);
      return s.exec();
    });
  }

  Status set_roles(AccountId id, std::span<const Role> roles) override {
    std::vector<Role> v(roles.begin(), roles.end());
    return update_account(id, [&](Conn& c) {
      auto s = c.prepare("UPDATE accounts SET roles=? WHERE id=?");
      s.bind(1, join_roles(v)).bind(2, id);
      return s.exec();
    });
  }

  Status mark_leaver(AccountId id, uint64_t quota_bytes, UnixTime at) override {
    return update_account(id, [&](Conn& c) {
      auto s = c.prepare(
          "UPDATE accounts SET state='leaver',state_changed_at=?1,leaver_from=org_id,roles='user',quota_bytes=?2 "
          "WHERE id=?3");
      s.bind(1, at).bind(2, static_cast<int64_t>(quota_bytes)).bind(3, id);
      return s.exec();
    });
  }

  Status move_account(AccountId id, OrgId org, UnixTime at) override {
    return update_account(id, [&](Conn& c) {
      auto s = c.prepare(
          "UPDATE accounts SET org_id=?1,state='active',state_changed_at=?2,leaver_from=0 WHERE id=?3");
      s.bind(1, org).bind(2, at).bind(3, id);
      return s.exec();
    });
  }

  Status set_profile(AccountId id, const std::optional<std::string>& display_name,
                     const std::optional<std::string>& external_id) override {
    return update_account(id, [&](Conn& c) {
      auto s = c.prepare(
          "UPDATE accounts SET display_name=CASE WHEN ?1 THEN ?2 ELSE display_name END,"
          "external_id=CASE WHEN ?3 THEN ?4 ELSE external_id END WHERE id=?5");
      // A sentinel, not "": an empty string_view may bind as NULL (CONTRIBUTING.md).
      s.bind(1, display_name ? 1 : 0).bind(2, display_name ? std::string_view(*display_name) : std::string_view("-"));
      s.bind(3, external_id ? 1 : 0).bind(4, external_id ? std::string_view(*external_id) : std::string_view("-"));
      s.bind(5, id);
      return s.exec();
    });
  }

  Status remove_alias(AccountId id, std::string_view alias, UnixTime at, UnixTime reusable_at) override {
    std::string a = lower(alias);
    return committer_.run([&](Conn& c) -> Status {
      auto d = c.prepare("DELETE FROM addresses WHERE address=? AND account_id=? AND is_alias=1");
      d.bind(1, a).bind(2, id);
      if (Status r = d.exec(); !r) return r;
      if (c.changes() == 0) return not_found(a + " is not an alias of this account");
      auto r = c.prepare(
          "INSERT OR REPLACE INTO retired_addresses(address,account_id,retired_at,reusable_at) VALUES(?,?,?,?)");
      r.bind(1, a).bind(2, id).bind(3, at).bind(4, reusable_at);
      return r.exec();
    });
  }

  Status set_legal_hold(AccountId id, bool hold) override {
    return update_account(id, [&](Conn& c) {
      auto s = c.prepare("UPDATE accounts SET legal_hold=? WHERE id=?");
      s.bind(1, hold ? 1 : 0).bind(2, id);
      return s.exec();
    });
  }

  Result<std::vector<Account>> accounts_idle(AccountState state, UnixTime before, bool aup_published,
                                             size_t limit) override {
    auto c = readers_.take();
    if (!c) return c.error();
    // Shared mailboxes never sign in: they are not idle for that.
    static const std::string sql =
        std::string(kAccountCols) +
        "WHERE state=?1 AND kind<>'shared' AND "
        "(CASE WHEN ?2 AND aup_version=0 THEN state_changed_at ELSE max(last_login_at,state_changed_at) END)<?3 "
        "ORDER BY max(last_login_at,state_changed_at) LIMIT ?4";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, to_string(state)).bind(2, aup_published ? 1 : 0).bind(3, before).bind(4, static_cast<int64_t>(limit));
    std::vector<Account> out;
    while (s.step()) out.push_back(read_account(**c, s));
    if (!s.status()) return s.status().error();
    return out;
  }

  Result<std::vector<Account>> accounts_in_state_since(AccountState state, UnixTime before, size_t limit) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql =
        std::string(kAccountCols) +
        "WHERE state=? AND state_changed_at<? AND legal_hold=0 ORDER BY state_changed_at LIMIT ?";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, to_string(state)).bind(2, before).bind(3, static_cast<int64_t>(limit));
    std::vector<Account> out;
    while (s.step()) out.push_back(read_account(**c, s));
    if (!s.status()) return s.status().error();
    return out;
  }

  Status forget_account(AccountId id, UnixTime at, UnixTime reusable_at) override {
    return committer_.run([&](Conn& c) -> Status {
      {
        auto m = c.prepare("SELECT count(*) FROM mailboxes WHERE account_id=?");
        m.bind(1, id);
        if (!m.step()) return m.status();
        if (m.i64(0) != 0) return make_error(Errc::conflict, "the account still has mailboxes");
      }
      {
        auto r = c.prepare(
            "INSERT OR REPLACE INTO retired_addresses(address,account_id,retired_at,reusable_at) "
            "SELECT address,account_id,?1,?2 FROM addresses WHERE account_id=?3");
        r.bind(1, at).bind(2, reusable_at).bind(3, id);
        if (Status st = r.exec(); !st) return st;
      }
      for (const char* sql : {"DELETE FROM addresses WHERE account_id=?", "DELETE FROM api_tokens WHERE account_id=?",
                              "DELETE FROM quota_usage WHERE account_id=?", "DELETE FROM changes WHERE account_id=?",
                              "DELETE FROM password_history WHERE account_id=?",
                              "DELETE FROM auth_failures WHERE account_id=?",
                              "DELETE FROM familiar_sources WHERE account_id=?",
                              "DELETE FROM subscriptions WHERE account_id=?",
                              "DELETE FROM app_passwords WHERE account_id=?", "DELETE FROM mfa WHERE account_id=?",
                              "DELETE FROM recovery_codes WHERE account_id=?",
                              "DELETE FROM web_sessions WHERE account_id=?",
                              "DELETE FROM security_questions WHERE account_id=?",
                              "DELETE FROM account_secrets WHERE account_id=?", "DELETE FROM accounts WHERE id=?"}) {
        auto d = c.prepare(sql);
        d.bind(1, id);
        if (Status st = d.exec(); !st) return st;
      }
      if (c.changes() == 0) return not_found("no account with id " + std::to_string(id));
      return {};
    });
  }

  Result<UnixTime> address_reserved_until(std::string_view address) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare("SELECT reusable_at FROM retired_addresses WHERE address=?");
    s.bind(1, lower(address));
    if (!s.step()) return s.status() ? not_found("address is free") : s.status().error();
    return s.i64(0);
  }

  Result<int> release_addresses(UnixTime before) override {
    int n = 0;
    Status st = committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("DELETE FROM retired_addresses WHERE reusable_at<?");
      s.bind(1, before);
      if (Status r = s.exec(); !r) return r;
      n = static_cast<int>(c.changes());
      return {};
    });
    if (!st) return st.error();
    return n;
  }

  Status close_organisation(OrgId id, OrgId successor, UnixTime at) override {
    return committer_.run([&](Conn& c) -> Status {
      if (id == successor) return make_error(Errc::invalid_argument, "an organisation cannot succeed itself");
      {
        auto s = c.prepare("SELECT open FROM organisations WHERE id=?");
        s.bind(1, successor);
        if (!s.step()) return s.status() ? not_found("no successor organisation") : s.status();
        if (s.i64(0) == 0) return make_error(Errc::conflict, "the successor organisation is closed");
      }
      {
        auto s = c.prepare("UPDATE organisations SET open=0,successor_id=?1,closed_at=?2 WHERE id=?3 AND open=1");
        s.bind(1, successor).bind(2, at).bind(3, id);
        if (Status r = s.exec(); !r) return r;
        if (c.changes() == 0) return make_error(Errc::conflict, "the organisation does not exist or is closed");
      }
      // Roles scoped to the old organisation do not carry over (the successor appoints its
      // own administrators); national roles and user stay.
      std::vector<std::pair<AccountId, std::string>> moved;
      {
        auto s = c.prepare("SELECT id,roles FROM accounts WHERE org_id=?");
        s.bind(1, id);
        while (s.step()) moved.emplace_back(s.i64(0), s.text(1));
        if (!s.status()) return s.status();
      }
      for (auto& [acct, roles] : moved) {
        std::vector<Role> keep;
        for (Role r : split_roles(roles))
          if (r == Role::user || r == Role::national_admin || r == Role::national_helpdesk) keep.push_back(r);
        auto u = c.prepare("UPDATE accounts SET org_id=?,roles=?,leaver_from=CASE WHEN leaver_from=? THEN ? "
                           "ELSE leaver_from END WHERE id=?");
        u.bind(1, successor).bind(2, join_roles(keep)).bind(3, id).bind(4, successor).bind(5, acct);
        if (Status r = u.exec(); !r) return r;
      }
      auto d = c.prepare("UPDATE org_domains SET org_id=? WHERE org_id=?");
      d.bind(1, successor).bind(2, id);
      if (Status r = d.exec(); !r) return r;
      // Lists and directory contacts go with the domains. A contact the successor already
      // lists (same address) is not duplicated: the old organisation's copy goes.
      {
        auto ch = c.prepare(
            "INSERT INTO directory_changes(account_id,at) SELECT ?1+id,?3 FROM directory_contacts WHERE org_id=?2 "
            "UNION ALL SELECT ?4+id,?3 FROM distribution_lists WHERE org_id=?2");
        ch.bind(1, static_cast<int64_t>(kContactIdBase)).bind(2, id).bind(3, at);
        ch.bind(4, static_cast<int64_t>(kListIdBase));
        if (Status r = ch.exec(); !r) return r;
      }
      for (const char* sql : {"UPDATE distribution_lists SET org_id=?1 WHERE org_id=?2",
                              "UPDATE OR IGNORE directory_contacts SET org_id=?1 WHERE org_id=?2",
                              "DELETE FROM directory_contacts WHERE org_id=?2"}) {
        auto u = c.prepare(sql);
        u.bind(1, successor).bind(2, id);
        if (Status r = u.exec(); !r) return r;
      }
      return {};
    });
  }

  Status set_quota_allowance(OrgId id, int accounts) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("UPDATE organisations SET large_quota_allowance=? WHERE id=?");
      s.bind(1, accounts).bind(2, id);
      if (Status r = s.exec(); !r) return r;
      if (c.changes() == 0) return not_found("no organisation with id " + std::to_string(id));
      return {};
    });
  }

  Result<int> count_large_quotas(OrgId org, uint64_t person_default, uint64_t shared_default,
                                 AccountId except) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT count(*) FROM accounts WHERE org_id=?1 AND id<>?4 AND state<>'deleted' AND "
        "quota_bytes>(CASE WHEN kind='shared' THEN ?3 ELSE ?2 END)");
    s.bind(1, org).bind(2, static_cast<int64_t>(person_default)).bind(3, static_cast<int64_t>(shared_default));
    s.bind(4, except);
    if (!s.step()) return s.status().error();
    return static_cast<int>(s.i64(0));
  }

  // --- directory -----------------------------------------------------------------------
  static constexpr const char* kProfileCols =
      "title,given_name,surname,job_role,speciality,work_area,unit,site,telephone,mobile,pager,fax,notes,hidden,"
      "mobile_hidden";

  static DirectoryProfile read_profile(const Stmt& s, int base) {
    DirectoryProfile p;
    std::string* text[] = {&p.title, &p.given_name, &p.surname, &p.job_role, &p.speciality, &p.work_area, &p.unit,
                           &p.site, &p.telephone, &p.mobile, &p.pager, &p.fax, &p.notes};
    for (int i = 0; i < 13; ++i) *text[i] = s.text(base + i);
    p.hidden = s.i64(base + 13) != 0;
    p.mobile_hidden = s.i64(base + 14) != 0;
    return p;
  }

  Result<DirectoryProfile> directory_profile(AccountId id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string("SELECT ") + kProfileCols + " FROM directory_profiles WHERE account_id=?";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, id);
    if (!s.step()) return s.status() ? not_found("no directory profile") : s.status().error();
    return read_profile(s, 0);
  }

  Result<std::vector<std::pair<AccountId, DirectoryProfile>>> directory_profiles() override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string("SELECT account_id,") + kProfileCols + " FROM directory_profiles";
    auto s = (*c)->prepare(sql.c_str());
    std::vector<std::pair<AccountId, DirectoryProfile>> out;
    while (s.step()) out.emplace_back(s.i64(0), read_profile(s, 1));
    if (!s.status()) return s.status().error();
    return out;
  }

  Status set_directory_profile(AccountId id, const DirectoryProfile& p, UnixTime at) override {
    return committer_.run([&](Conn& c) -> Status {
      static const std::string sql = std::string("INSERT OR REPLACE INTO directory_profiles(account_id,") + kProfileCols +
                                     ",updated_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
      auto s = c.prepare(sql.c_str());
      s.bind(1, id);
      const std::string* text[] = {&p.title, &p.given_name, &p.surname, &p.job_role, &p.speciality, &p.work_area,
                                   &p.unit, &p.site, &p.telephone, &p.mobile, &p.pager, &p.fax, &p.notes};
      // A std::string's data() is never null, so "" binds as '' (not NULL, CONTRIBUTING.md).
      for (int i = 0; i < 13; ++i) s.bind(2 + i, std::string_view(*text[i]));
      s.bind(15, p.hidden ? 1 : 0).bind(16, p.mobile_hidden ? 1 : 0).bind(17, at);
      if (Status r = s.exec(); !r) return r;
      auto ch = c.prepare("INSERT INTO directory_changes(account_id,at) VALUES(?,?)");
      ch.bind(1, id).bind(2, at);
      return ch.exec();
    });
  }

  Result<int64_t> note_directory_change(AccountId id, UnixTime at) override {
    int64_t seq = 0;
    Status st = committer_.run([&](Conn& c) -> Status {
      auto ch = c.prepare("INSERT INTO directory_changes(account_id,at) VALUES(?,?)");
      ch.bind(1, id).bind(2, at);
      if (Status r = ch.exec(); !r) return r;
      seq = c.last_insert_rowid();
      return {};
    });
    if (!st) return st.error();
    return seq;
  }

  Result<std::vector<std::pair<int64_t, AccountId>>> directory_changes(int64_t after_seq, size_t limit) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT max(seq) AS m,account_id FROM directory_changes WHERE seq>? GROUP BY account_id ORDER BY m LIMIT ?");
    s.bind(1, after_seq).bind(2, static_cast<int64_t>(limit));
    std::vector<std::pair<int64_t, AccountId>> out;
    while (s.step()) out.emplace_back(s.i64(0), s.i64(1));
    if (!s.status()) return s.status().error();
    return out;
  }

  Result<int64_t> last_directory_change() override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare("SELECT coalesce(max(seq),0) FROM directory_changes");
    if (!s.step()) return s.status().error();
    return s.i64(0);
  }

  Result<std::vector<AccountId>> account_ids(AccountId after, size_t limit) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare("SELECT id FROM accounts WHERE id>? ORDER BY id LIMIT ?");
    s.bind(1, after).bind(2, static_cast<int64_t>(limit));
    std::vector<AccountId> out;
    while (s.step()) out.push_back(s.i64(0));
    if (!s.status()) return s.status().error();
    return out;
  }

  Status set_sharing_agreement(OrgId id, bool approved) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("UPDATE organisations SET sharing_agreement=? WHERE id=?");
      s.bind(1, approved ? 1 : 0).bind(2, id);
      if (Status r = s.exec(); !r) return r;
      if (c.changes() == 0) return not_found("no organisation with id " + std::to_string(id));
      return {};
    });
  }

  // --- directory contacts and distribution lists ----------------------------------------
  static constexpr const char* kContactCols =
      "id,org_id,address,display_name,title,given_name,surname,job_role,speciality,work_area,unit,site,telephone,"
      "mobile,pager,fax,notes,hidden,mobile_hidden,created_at,updated_at ";

  static DirectoryContact read_contact(const Stmt& s) {
    DirectoryContact c;
    c.id = s.i64(0);
    c.org_id = s.i64(1);
    c.address = s.text(2);
    c.display_name = s.text(3);
    c.profile = read_profile(s, 4);
    c.created_at = s.i64(19);
    c.updated_at = s.i64(20);
    return c;
  }

  static void bind_contact_fields(Stmt& s, int first, const DirectoryContact& c, const std::string& address) {
    const DirectoryProfile& p = c.profile;
    s.bind(first, address).bind(first + 1, std::string_view(c.display_name));
    const std::string* text[] = {&p.title, &p.given_name, &p.surname, &p.job_role, &p.speciality, &p.work_area,
                                 &p.unit, &p.site, &p.telephone, &p.mobile, &p.pager, &p.fax, &p.notes};
    for (int i = 0; i < 13; ++i) s.bind(first + 2 + i, std::string_view(*text[i]));
    s.bind(first + 15, p.hidden ? 1 : 0).bind(first + 16, p.mobile_hidden ? 1 : 0);
  }

  static Status note_change(Conn& c, uint64_t directory_id, UnixTime at) {
    auto ch = c.prepare("INSERT INTO directory_changes(account_id,at) VALUES(?,?)");
    ch.bind(1, static_cast<int64_t>(directory_id)).bind(2, at);
    return ch.exec();
  }

  Result<DirectoryContact> create_contact(const DirectoryContact& in, UnixTime at) override {
    int64_t id = 0;
    std::string addr = lower(in.address);
    Status st = committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare(
          "INSERT INTO directory_contacts(org_id,address,display_name,title,given_name,surname,job_role,speciality,"
          "work_area,unit,site,telephone,mobile,pager,fax,notes,hidden,mobile_hidden,created_at,updated_at) "
          "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
      s.bind(1, in.org_id);
      bind_contact_fields(s, 2, in, addr);
      s.bind(19, at).bind(20, at);
      if (Status r = s.exec(); !r) {
        if (r.error().code == Errc::invalid_argument)
          return make_error(Errc::invalid_argument, "organisation " + std::to_string(in.org_id) + " does not exist");
        if (r.error().code == Errc::already_exists)
          return make_error(Errc::already_exists, "the organisation already lists a contact " + addr);
        return r;
      }
      id = c.last_insert_rowid();
      return note_change(c, kContactIdBase + static_cast<uint64_t>(id), at);
    });
    if (!st) return st.error();
    return contact(id);
  }

  Result<DirectoryContact> contact(int64_t id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string("SELECT ") + kContactCols + "FROM directory_contacts WHERE id=?";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, id);
    if (!s.step()) return s.status() ? not_found("no directory contact " + std::to_string(id)) : s.status().error();
    return read_contact(s);
  }

  Result<std::vector<DirectoryContact>> contacts(std::optional<OrgId> org) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string all = std::string("SELECT ") + kContactCols + "FROM directory_contacts ORDER BY address,id";
    static const std::string by_org =
        std::string("SELECT ") + kContactCols + "FROM directory_contacts WHERE org_id=? ORDER BY address,id";
    auto s = (*c)->prepare(org ? by_org.c_str() : all.c_str());
    if (org) s.bind(1, *org);
    std::vector<DirectoryContact> out;
    while (s.step()) out.push_back(read_contact(s));
    if (!s.status()) return s.status().error();
    return out;
  }

  Result<std::vector<DirectoryContact>> contacts_by_address(std::string_view address) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql =
        std::string("SELECT ") + kContactCols + "FROM directory_contacts WHERE address=? ORDER BY id";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, lower(address));
    std::vector<DirectoryContact> out;
    while (s.step()) out.push_back(read_contact(s));
    if (!s.status()) return s.status().error();
    return out;
  }

  Status update_contact(const DirectoryContact& in, UnixTime at) override {
    std::string addr = lower(in.address);
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare(
          "UPDATE directory_contacts SET address=?,display_name=?,title=?,given_name=?,surname=?,job_role=?,"
          "speciality=?,work_area=?,unit=?,site=?,telephone=?,mobile=?,pager=?,fax=?,notes=?,hidden=?,mobile_hidden=?,"
          "updated_at=? WHERE id=?");
      bind_contact_fields(s, 1, in, addr);
      s.bind(18, at).bind(19, in.id);
      if (Status r = s.exec(); !r) {
        if (r.error().code == Errc::already_exists)
          return make_error(Errc::already_exists, "the organisation already lists a contact " + addr);
        return r;
      }
      if (c.changes() == 0) return not_found("no directory contact " + std::to_string(in.id));
      return note_change(c, kContactIdBase + static_cast<uint64_t>(in.id), at);
    });
  }

  Status delete_contact(int64_t id, UnixTime at) override {
    return committer_.run([&](Conn& c) -> Status {
      auto d = c.prepare("DELETE FROM directory_contacts WHERE id=?");
      d.bind(1, id);
      if (Status r = d.exec(); !r) return r;
      if (c.changes() == 0) return not_found("no directory contact " + std::to_string(id));
      return note_change(c, kContactIdBase + static_cast<uint64_t>(id), at);
    });
  }

  static constexpr const char* kListCols = "id,org_id,address,display_name,hidden,senders,created_at ";

  static DistributionList read_list(Conn& c, const Stmt& s) {
    DistributionList l;
    l.id = s.i64(0);
    l.org_id = s.i64(1);
    l.address = s.text(2);
    l.display_name = s.text(3);
    l.hidden = s.i64(4) != 0;
    l.senders = parse_list_senders(s.text(5)).value_or(ListSenders::members);  // unknown: the narrowest
    l.created_at = s.i64(6);
    auto m = c.prepare("SELECT address FROM list_members WHERE list_id=? ORDER BY address");
    m.bind(1, l.id);
    while (m.step()) l.members.push_back(m.text(0));
    return l;
  }

  Result<DistributionList> create_list(const DistributionList& in, UnixTime at) override {
    int64_t id = 0;
    std::string addr = lower(in.address);
    Status st = committer_.run([&](Conn& c) -> Status {
      if (Status r = check_not_retired(c, addr); !r) return r;
      {
        auto a = c.prepare("SELECT 1 FROM addresses WHERE address=?");
        a.bind(1, addr);
        if (a.step()) return make_error(Errc::already_exists, "address " + addr + " is already taken");
        if (!a.status()) return a.status();
      }
      auto s = c.prepare(
          "INSERT INTO distribution_lists(org_id,address,display_name,hidden,senders,created_at,updated_at) "
          "VALUES(?,?,?,?,?,?,?)");
      s.bind(1, in.org_id).bind(2, addr).bind(3, std::string_view(in.display_name)).bind(4, in.hidden ? 1 : 0);
      s.bind(5, to_string(in.senders)).bind(6, at).bind(7, at);
      if (Status r = s.exec(); !r) {
        if (r.error().code == Errc::invalid_argument)
          return make_error(Errc::invalid_argument, "organisation " + std::to_string(in.org_id) + " does not exist");
        if (r.error().code == Errc::already_exists)
          return make_error(Errc::already_exists, "address " + addr + " is already taken");
        return r;
      }
      id = c.last_insert_rowid();
      for (const auto& m : in.members) {
        auto ins = c.prepare("INSERT OR IGNORE INTO list_members(list_id,address) VALUES(?,?)");
        ins.bind(1, id).bind(2, lower(m));
        if (Status r = ins.exec(); !r) return r;
      }
      return note_change(c, kListIdBase + static_cast<uint64_t>(id), at);
    });
    if (!st) return st.error();
    return list(id);
  }

  Result<DistributionList> list(int64_t id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string("SELECT ") + kListCols + "FROM distribution_lists WHERE id=?";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, id);
    if (!s.step()) return s.status() ? not_found("no distribution list " + std::to_string(id)) : s.status().error();
    return read_list(**c, s);
  }

  Result<DistributionList> list_by_address(std::string_view address) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string("SELECT ") + kListCols + "FROM distribution_lists WHERE address=?";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, lower(address));
    if (!s.step())
      return s.status() ? not_found("no distribution list " + std::string(address)) : s.status().error();
    return read_list(**c, s);
  }

  Result<std::vector<DistributionList>> lists(std::optional<OrgId> org) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string all = std::string("SELECT ") + kListCols + "FROM distribution_lists ORDER BY address";
    static const std::string by_org =
        std::string("SELECT ") + kListCols + "FROM distribution_lists WHERE org_id=? ORDER BY address";
    auto s = (*c)->prepare(org ? by_org.c_str() : all.c_str());
    if (org) s.bind(1, *org);
    std::vector<DistributionList> out;
    while (s.step()) out.push_back(read_list(**c, s));
    if (!s.status()) return s.status().error();
    return out;
  }

  Status update_list(const DistributionList& in, UnixTime at) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("UPDATE distribution_lists SET display_name=?,hidden=?,senders=?,updated_at=? WHERE id=?");
      s.bind(1, std::string_view(in.display_name)).bind(2, in.hidden ? 1 : 0).bind(3, to_string(in.senders));
      s.bind(4, at).bind(5, in.id);
      if (Status r = s.exec(); !r) return r;
      if (c.changes() == 0) return not_found("no distribution list " + std::to_string(in.id));
      return note_change(c, kListIdBase + static_cast<uint64_t>(in.id), at);
    });
  }

  Result<bool> set_list_member(int64_t id, std::string_view member, bool present) override {
    bool changed = false;
    std::string m = lower(member);
    Status st = committer_.run([&](Conn& c) -> Status {
      auto l = c.prepare("SELECT 1 FROM distribution_lists WHERE id=?");
      l.bind(1, id);
      if (!l.step()) return l.status() ? not_found("no distribution list " + std::to_string(id)) : l.status();
      auto s = present ? c.prepare("INSERT OR IGNORE INTO list_members(list_id,address) VALUES(?,?)")
                       : c.prepare("DELETE FROM list_members WHERE list_id=? AND address=?");
      s.bind(1, id).bind(2, m);
      if (Status r = s.exec(); !r) return r;
      changed = c.changes() != 0;
      return {};
    });
    if (!st) return st.error();
    return changed;
  }

  Status delete_list(int64_t id, UnixTime at, UnixTime reusable_at) override {
    return committer_.run([&](Conn& c) -> Status {
      const uint64_t dir_id = kListIdBase + static_cast<uint64_t>(id);
      {
        auto r = c.prepare(
            "INSERT OR REPLACE INTO retired_addresses(address,account_id,retired_at,reusable_at) "
            "SELECT address,?1,?2,?3 FROM distribution_lists WHERE id=?4");
        r.bind(1, static_cast<int64_t>(dir_id)).bind(2, at).bind(3, reusable_at).bind(4, id);
        if (Status st = r.exec(); !st) return st;
        if (c.changes() == 0) return not_found("no distribution list " + std::to_string(id));
      }
      for (const char* sql : {"DELETE FROM list_members WHERE list_id=?", "DELETE FROM distribution_lists WHERE id=?"}) {
        auto d = c.prepare(sql);
        d.bind(1, id);
        if (Status st = d.exec(); !st) return st;
      }
      return note_change(c, dir_id, at);
    });
  }

  Result<std::vector<uint64_t>> entry_ids(uint64_t after, size_t limit) override {
    auto c = readers_.take();
    if (!c) return c.error();
    std::vector<uint64_t> out;
    // Contacts' ids are all below lists' (kContactIdBase < kListIdBase): contacts first,
    // each table read along its primary key from where the cursor stands.
    auto range = [&](const char* sql, uint64_t base) -> Status {
      if (out.size() >= limit) return {};
      int64_t from = after < base ? 0 : static_cast<int64_t>(after - base);
      auto s = (*c)->prepare(sql);
      s.bind(1, from).bind(2, static_cast<int64_t>(limit - out.size()));
      while (s.step()) out.push_back(base + static_cast<uint64_t>(s.i64(0)));
      return s.status();
    };
    if (after < kListIdBase)
      if (Status st = range("SELECT id FROM directory_contacts WHERE id>? ORDER BY id LIMIT ?", kContactIdBase); !st)
        return st.error();
    if (Status st = range("SELECT id FROM distribution_lists WHERE id>? ORDER BY id LIMIT ?", kListIdBase); !st)
      return st.error();
    return out;
  }

  // --- self-service reset, helpdesk checks ---------------------------------------------
  Status set_security_questions(AccountId id, std::span<const std::pair<std::string, std::string>> qa) override {
    return committer_.run([&](Conn& c) -> Status {
      auto d = c.prepare("DELETE FROM security_questions WHERE account_id=?");
      d.bind(1, id);
      if (Status r = d.exec(); !r) return r;
      int pos = 0;
      for (const auto& [q, phc] : qa) {
        auto s = c.prepare("INSERT INTO security_questions(account_id,position,question,answer_phc) VALUES(?,?,?,?)");
        s.bind(1, id).bind(2, pos++).bind(3, q).bind(4, phc);
        if (Status r = s.exec(); !r) return r;
      }
      return {};
    });
  }

  Result<std::vector<std::pair<std::string, std::string>>> security_questions(AccountId id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare("SELECT question,answer_phc FROM security_questions WHERE account_id=? ORDER BY position");
    s.bind(1, id);
    std::vector<std::pair<std::string, std::string>> out;
    while (s.step()) out.emplace_back(s.text(0), s.text(1));
    if (!s.status()) return s.status().error();
    return out;
  }

  Status set_account_secret(AccountId id, std::string_view phc, UnixTime at) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("INSERT OR REPLACE INTO account_secrets(account_id,phc,set_at) VALUES(?,?,?)");
      s.bind(1, id).bind(2, phc).bind(3, at);
      return s.exec();
    });
  }

  Result<std::string> account_secret(AccountId id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare("SELECT phc FROM account_secrets WHERE account_id=?");
    s.bind(1, id);
    if (!s.step()) return s.status() ? not_found("no account secret set") : s.status().error();
    return s.text(0);
  }

  Status add_alias(AccountId id, std::string_view alias) override {
    std::string a = lower(alias);
    return committer_.run([&](Conn& c) -> Status {
      if (Status r = check_not_retired(c, a); !r) return r;
      if (Status r = check_not_list(c, a); !r) return r;
      auto s = c.prepare("INSERT INTO addresses(address,account_id,is_alias) SELECT ?,id,1 FROM accounts WHERE id=?");
      s.bind(1, a).bind(2, id);
      if (Status r = s.exec(); !r) return make_error(r.error().code, "address " + a + " is already taken");
      if (c.changes() == 0) return not_found("no account with id " + std::to_string(id));
      return {};
    });
  }

  Status set_sending_suspended(AccountId id, bool suspended) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("UPDATE accounts SET sending_suspended=? WHERE id=?");
      s.bind(1, suspended ? 1 : 0).bind(2, id);
      if (Status r = s.exec(); !r) return r;
      if (c.changes() == 0) return not_found("no account with id " + std::to_string(id));
      return {};
    });
  }

  Status set_quota_limit(AccountId id, uint64_t bytes) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("UPDATE accounts SET quota_bytes=? WHERE id=?");
      s.bind(1, static_cast<int64_t>(bytes)).bind(2, id);
      if (Status r = s.exec(); !r) return r;
      if (c.changes() == 0) return not_found("no account with id " + std::to_string(id));
      return {};
    });
  }

  static ApiToken read_api_token(const Stmt& s) {
    ApiToken t;
    t.id = s.i64(0);
    t.account_id = s.i64(1);
    t.name = s.text(2);
    t.created_at = s.i64(3);
    t.expires_at = s.i64(4);
    t.last_used_at = s.i64(5);
    return t;
  }
  static constexpr const char* kTokenCols =
      "SELECT id,account_id,name,created_at,expires_at,last_used_at FROM api_tokens ";

  Result<ApiToken> add_api_token(AccountId id, std::string_view token_hash, std::string_view name,
                                 UnixTime expires_at) override {
    ApiToken t;
    t.account_id = id;
    t.name = std::string(name);
    t.created_at = now_s();
    t.expires_at = expires_at;
    Status st = committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare(
          "INSERT INTO api_tokens(token_hash,account_id,name,created_at,expires_at) VALUES(?,?,?,?,?)");
      s.bind(1, token_hash).bind(2, id).bind(3, name).bind(4, t.created_at).bind(5, expires_at);
      if (Status r = s.exec(); !r) return r;
      t.id = c.last_insert_rowid();
      return {};
    });
    if (!st) return st.error();
    return t;
  }

  Result<ApiToken> api_token(std::string_view token_hash) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string(kTokenCols) + "WHERE token_hash=?";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, token_hash);
    if (!s.step()) return s.status() ? Error{Errc::unauthenticated, "unknown API token"} : s.status().error();
    return read_api_token(s);
  }

  Result<std::vector<ApiToken>> api_tokens(AccountId id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string(kTokenCols) + "WHERE account_id=? ORDER BY id";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, id);
    std::vector<ApiToken> out;
    while (s.step()) out.push_back(read_api_token(s));
    if (!s.status()) return s.status().error();
    return out;
  }

  Status touch_api_token(int64_t token_id, UnixTime at) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("UPDATE api_tokens SET last_used_at=? WHERE id=?");
      s.bind(1, at).bind(2, token_id);
      return s.exec();
    });
  }

  Status delete_api_token(AccountId id, int64_t token_id) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("DELETE FROM api_tokens WHERE id=? AND account_id=?");
      s.bind(1, token_id).bind(2, id);
      if (Status r = s.exec(); !r) return r;
      if (c.changes() == 0) return not_found("no API token " + std::to_string(token_id));
      return {};
    });
  }

  Result<RevokedCredentials> revoke_credentials(AccountId id, std::string_view keep_session_hash,
                                                std::string_view keep_token_hash, bool app_passwords) override {
    RevokedCredentials out;
    Status st = committer_.run([&](Conn& c) -> Status {
      out = {};
      // (An empty view may bind as NULL, and x != NULL matches nothing: bind a hash that
      // cannot occur instead; see CONTRIBUTING.md.)
      auto sessions = c.prepare("DELETE FROM web_sessions WHERE account_id=? AND token_hash!=?");
      sessions.bind(1, id).bind(2, keep_session_hash.empty() ? std::string_view("-") : keep_session_hash);
      if (Status r = sessions.exec(); !r) return r;
      out.sessions = c.changes();
      auto tokens = c.prepare("DELETE FROM api_tokens WHERE account_id=? AND token_hash!=?");
      tokens.bind(1, id).bind(2, keep_token_hash.empty() ? std::string_view("-") : keep_token_hash);
      if (Status r = tokens.exec(); !r) return r;
      out.api_tokens = c.changes();
      if (app_passwords) {
        auto apps = c.prepare("DELETE FROM app_passwords WHERE account_id=?");
        apps.bind(1, id);
        if (Status r = apps.exec(); !r) return r;
        out.app_passwords = c.changes();
      }
      return {};
    });
    if (!st) return st.error();
    return out;
  }

  // --- mailboxes -----------------------------------------------------------
  Result<std::vector<Mailbox>> list_mailboxes(AccountId id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    static const std::string sql = std::string(kMailboxCols) + "WHERE account_id=? ORDER BY name";
    auto s = (*c)->prepare(sql.c_str());
    s.bind(1, id);
    std::vector<Mailbox> out;
    while (s.step()) out.push_back(read_mailbox(s));
    if (!s.status()) return s.status().error();
    return out;
  }

  Result<Mailbox> mailbox(AccountId id, std::string_view name) override {
    auto c = readers_.take();
    if (!c) return c.error();
    return find_mailbox(**c, id, name);
  }

  Result<Mailbox> mailbox_by_id(MailboxId id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    return mailbox_by_id(**c, id);
  }

  Result<Mailbox> create_mailbox(AccountId id, std::string_view name, std::string_view special_use) override {
    MailboxId mid = 0;
    Status st = committer_.run([&](Conn& c) -> Status {
      auto existing = find_mailbox(c, id, name);
      if (existing) return make_error(Errc::already_exists, "mailbox " + std::string(name) + " already exists");
      if (Status r = insert_mailbox(c, id, name, special_use); !r) return r;
      mid = c.last_insert_rowid();
      return add_change(c, id, mid, ChangeKind::mailbox_created, 0, 0);
    });
    if (!st) return st.error();
    return mailbox_by_id(mid);
  }

  Status delete_mailbox(MailboxId id) override {
    return committer_.run([&](Conn& c) -> Status {
      auto mb = mailbox_by_id(c, id);
      if (!mb) return mb.error();
      std::vector<std::pair<Uid, MessageId>> rows;
      {
        auto s = c.prepare("SELECT uid,message_id FROM entries WHERE mailbox_id=?");
        s.bind(1, id);
        while (s.step()) rows.emplace_back(static_cast<Uid>(s.i64(0)), s.i64(1));
        if (!s.status()) return s.status();
      }
      for (auto& [uid, msg] : rows)
        if (Status r = remove_entry(c, *mb, uid, msg, /*log_change=*/false); !r) return r;
      auto d = c.prepare("DELETE FROM mailboxes WHERE id=?");
      d.bind(1, id);
      if (Status r = d.exec(); !r) return r;
      return add_change(c, mb->account_id, id, ChangeKind::mailbox_deleted, 0, 0);
    });
  }

  Status rename_mailbox(MailboxId id, std::string_view new_name) override {
    return committer_.run([&](Conn& c) -> Status {
      auto mb = mailbox_by_id(c, id);
      if (!mb) return mb.error();
      if (find_mailbox(c, mb->account_id, new_name))
        return make_error(Errc::already_exists, "mailbox " + std::string(new_name) + " already exists");
      // Children move with their parent: "A/x" becomes "B/x".
      auto s = c.prepare(
          "UPDATE mailboxes SET name=?2||substr(name,length(?3)+1) "
          "WHERE account_id=?1 AND (name=?3 OR substr(name,1,length(?3)+1)=?3||'/')");
      s.bind(1, mb->account_id).bind(2, new_name).bind(3, mb->name);
      if (Status r = s.exec(); !r) return r;
      // Their subscriptions follow them (a subscribed folder stays visible after a rename,
      // as Dovecot does); one already held under the new name wins.
      auto u = c.prepare(
          "UPDATE OR REPLACE subscriptions SET name=?2||substr(name,length(?3)+1) "
          "WHERE account_id=?1 AND (name=?3 OR substr(name,1,length(?3)+1)=?3||'/')");
      u.bind(1, mb->account_id).bind(2, new_name).bind(3, mb->name);
      if (Status r = u.exec(); !r) return r;
      return add_change(c, mb->account_id, id, ChangeKind::mailbox_renamed, 0, 0);
    });
  }

  // --- subscriptions -------------------------------------------------------
  Result<std::vector<std::string>> subscriptions(AccountId id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare("SELECT name FROM subscriptions WHERE account_id=? ORDER BY name");
    s.bind(1, id);
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.text(0));
    if (!s.status()) return s.status().error();
    return out;
  }

  Status set_subscribed(AccountId id, std::string_view name, bool subscribed) override {
    std::string_view n = is_inbox(name) ? std::string_view("INBOX") : name;
    return committer_.run([&](Conn& c) -> Status {
      if (!subscribed) {
        auto d = c.prepare("DELETE FROM subscriptions WHERE account_id=? AND name=?");
        d.bind(1, id).bind(2, n);
        return d.exec();
      }
      auto k = c.prepare("SELECT count(*) FROM subscriptions WHERE account_id=?");
      k.bind(1, id);
      if (!k.step()) return k.status();
      if (static_cast<size_t>(k.i64(0)) >= kMaxSubscriptions)
        return make_error(Errc::too_large, "you have " + std::to_string(kMaxSubscriptions) +
                                               " subscriptions, the most an account may have; unsubscribe some first");
      while (k.step()) {
      }
      auto s = c.prepare("INSERT OR IGNORE INTO subscriptions(account_id,name) VALUES(?,?)");
      s.bind(1, id).bind(2, n);
      return s.exec();
    });
  }

  Result<UidRange> claim_recent(MailboxId id, Uid last) override {
    UidRange got{1, 0};
    Status st = committer_.run([&](Conn& c) -> Status {
      got = UidRange{1, 0};
      Uid first = 0;
      {
        auto s = c.prepare("SELECT first_recent_uid FROM mailboxes WHERE id=?");
        s.bind(1, id);
        if (!s.step()) return s.status() ? Status(not_found("no mailbox with id " + std::to_string(id))) : s.status();
        first = static_cast<Uid>(s.i64(0));
      }
      if (first > last) return {};
      auto u = c.prepare("UPDATE mailboxes SET first_recent_uid=? WHERE id=?");
      u.bind(1, static_cast<int64_t>(last) + 1).bind(2, id);
      if (Status r = u.exec(); !r) return r;
      got = UidRange{first, last};
      return {};
    }, Sync::relaxed);  // see Store::claim_recent
    if (!st) return st.error();
    return got;
  }

  Result<uint32_t> recent_count(MailboxId id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT count(*) FROM entries e JOIN mailboxes m ON m.id=e.mailbox_id "
        "WHERE e.mailbox_id=?1 AND m.id=?1 AND e.uid>=m.first_recent_uid");
    s.bind(1, id);
    if (!s.step()) return s.status() ? Result<uint32_t>(0u) : Result<uint32_t>(s.status().error());
    return static_cast<uint32_t>(s.i64(0));
  }

  // --- messages ------------------------------------------------------------
  Result<std::vector<Delivered>> deliver(const NewMessage& m, std::span<const DeliveryTarget> targets) override {
    std::vector<Delivered> out;
    Status st = committer_.run([&](Conn& c) -> Status {
      out.clear();
      auto msg = ensure_message(c, m);
      if (!msg) return msg.error();
      int added = 0;
      for (const auto& t : targets) {
        Delivered d;
        d.account_id = t.account_id;
        auto r = add_entry(c, t.account_id, t.mailbox_id, *msg, m.size + t.trace.size(), m.internal_date, t.flags,
                           join_keywords(t.keywords), t.trace, t.enforce_quota, d);
        if (!r) {
          if (r.error().code == Errc::temporary || r.error().code == Errc::io || r.error().code == Errc::corrupt)
            return r;  // the whole job fails
          d.error = r.error();
        } else {
          ++added;
        }
        out.push_back(std::move(d));
      }
      if (added == 0) return drop_if_unreferenced(c, *msg, m.blob_id);
      return {};
    });
    if (!st) return st.error();
    return out;
  }

  Result<std::vector<Delivered>> deliver_all(std::span<const NewMessage> msgs,
                                             std::span<const DeliveryTarget> targets) override {
    assert(msgs.size() == targets.size());
    std::vector<Delivered> out;
    Status st = committer_.run([&](Conn& c) -> Status {
      out.clear();
      for (size_t i = 0; i < msgs.size(); ++i) {
        const NewMessage& m = msgs[i];
        const DeliveryTarget& t = targets[i];
        auto msg = ensure_message(c, m);
        if (!msg) return msg.error();
        Delivered& d = out.emplace_back();
        d.account_id = t.account_id;
        auto r = add_entry(c, t.account_id, t.mailbox_id, *msg, m.size + t.trace.size(), m.internal_date, t.flags,
                           join_keywords(t.keywords), t.trace, t.enforce_quota, d);
        if (!r) return r;  // the job rolls back: none of them is added
      }
      return {};
    });
    if (st) return out;
    // Nothing was committed: blobs written for these messages beforehand belong to nobody
    // unless another message row holds the same content. Record them dead for the sweeper.
    (void)committer_.run([&](Conn& c) -> Status {
      for (const auto& m : msgs) {
        if (!m.inline_blob.empty()) continue;  // never left the transaction
        auto d = c.prepare(
            "INSERT OR IGNORE INTO dead_blobs(blob_id,since) SELECT ?1,?2 "
            "WHERE NOT EXISTS(SELECT 1 FROM messages WHERE blob_id=?1)");
        d.bind(1, m.blob_id).bind(2, now_s());
        if (Status r = d.exec(); !r) return r;
      }
      return {};
    });
    return st.error();
  }

  Result<std::vector<MailboxEntry>> list_entries(MailboxId id, UidRange range, bool summaries) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(CM_ENTRY_SELECT "WHERE e.mailbox_id=? AND e.uid>=? AND e.uid<=? ORDER BY e.uid");
    s.bind(1, id).bind(2, static_cast<int64_t>(range.first)).bind(3, static_cast<int64_t>(range.last));
    std::vector<MailboxEntry> out;
    while (s.step()) out.push_back(read_entry(s, summaries));
    if (!s.status()) return s.status().error();
    return out;
  }

  Result<std::vector<MailboxEntry>> changed_since(MailboxId id, ModSeq modseq) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(CM_ENTRY_SELECT "WHERE e.mailbox_id=? AND e.modseq>? ORDER BY e.uid");
    s.bind(1, id).bind(2, static_cast<int64_t>(modseq));
    std::vector<MailboxEntry> out;
    while (s.step()) out.push_back(read_entry(s, false));
    if (!s.status()) return s.status().error();
    return out;
  }

  Result<std::vector<std::pair<Uid, std::string>>> headers(MailboxId id, UidRange range) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT e.uid,e.trace,h.header FROM entries e JOIN message_headers h ON h.message_id=e.message_id "
        "WHERE e.mailbox_id=? AND e.uid>=? AND e.uid<=? ORDER BY e.uid");
    s.bind(1, id).bind(2, static_cast<int64_t>(range.first)).bind(3, static_cast<int64_t>(range.last));
    std::vector<std::pair<Uid, std::string>> out;
    while (s.step()) out.emplace_back(static_cast<Uid>(s.i64(0)), s.text(1) + s.blob(2));
    if (!s.status()) return s.status().error();
    return out;
  }

  Result<MailboxEntry> entry(MailboxId id, Uid uid) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(CM_ENTRY_SELECT "WHERE e.mailbox_id=? AND e.uid=?");
    s.bind(1, id).bind(2, static_cast<int64_t>(uid));
    if (!s.step())
      return s.status() ? not_found("no message with UID " + std::to_string(uid)) : s.status().error();
    return read_entry(s, true);
  }

  Result<FlagResult> update_flags(MailboxId id, std::span<const Uid> uids, const FlagUpdate& u) override {
    FlagResult out;
    Status st = committer_.run([&](Conn& c) -> Status {
      out = {};
      auto mb = mailbox_by_id(c, id);
      if (!mb) return mb.error();
      for (Uid uid : uids) {
        auto s = c.prepare("SELECT flags,keywords,modseq FROM entries WHERE mailbox_id=? AND uid=?");
        s.bind(1, id).bind(2, static_cast<int64_t>(uid));
        if (!s.step()) {
          if (!s.status()) return s.status();
          continue;  // expunged meanwhile: nothing to do
        }
        uint32_t flags = static_cast<uint32_t>(s.i64(0));
        auto kw = split_keywords(s.text(1));
        ModSeq ms = static_cast<ModSeq>(s.i64(2));
        if (u.unchanged_since && ms > *u.unchanged_since) {
          out.skipped.push_back(uid);
          continue;
        }
        uint32_t nf = flags;
        std::vector<std::string> nk = kw;
        switch (u.op) {
          case FlagOp::add:
            nf |= (u.flags & kAllFlags);
            nk.insert(nk.end(), u.keywords.begin(), u.keywords.end());
            break;
          case FlagOp::remove:
            nf &= ~u.flags;
            std::erase_if(nk, [&](const std::string& k) {
              return std::find(u.keywords.begin(), u.keywords.end(), k) != u.keywords.end();
            });
            break;
          case FlagOp::replace:
            nf = u.flags & kAllFlags;
            nk = u.keywords;
            break;
        }
        std::string nks = join_keywords(nk);
        if (nf == flags && nks == join_keywords(kw)) continue;
        auto bump = c.prepare(
            "UPDATE mailboxes SET highest_modseq=highest_modseq+1, unseen=unseen+? WHERE id=? "
            "RETURNING highest_modseq");
        int64_t unseen_delta = 0;
        if ((flags & kSeen) && !(nf & kSeen)) unseen_delta = 1;
        if (!(flags & kSeen) && (nf & kSeen)) unseen_delta = -1;
        bump.bind(1, unseen_delta).bind(2, id);
        if (!bump.step()) return bump.status() ? Status(not_found("mailbox vanished")) : bump.status();
        ModSeq nms = static_cast<ModSeq>(bump.i64(0));
        while (bump.step()) {
        }
        auto up = c.prepare("UPDATE entries SET flags=?,keywords=?,modseq=? WHERE mailbox_id=? AND uid=?");
        up.bind(1, static_cast<int64_t>(nf)).bind(2, nks).bind(3, static_cast<int64_t>(nms)).bind(4, id);
        up.bind(5, static_cast<int64_t>(uid));
        if (Status r = up.exec(); !r) return r;
        if (Status r = add_change(c, mb->account_id, id, ChangeKind::flags_changed, uid, nms); !r) return r;
        MailboxEntry e;
        e.mailbox_id = id;
        e.uid = uid;
        e.flags = nf;
        e.keywords = split_keywords(nks);
        e.modseq = nms;
        out.updated.push_back(std::move(e));
      }
      return {};
    }, Sync::relaxed);  // see Store::update_flags
    if (!st) return st.error();
    return out;
  }

  Result<CopyResult> copy(MailboxId src, std::span<const Uid> uids, MailboxId dest, bool move) override {
    CopyResult out;
    Status st = committer_.run([&](Conn& c) -> Status {
      out = {};
      auto smb = mailbox_by_id(c, src);
      if (!smb) return smb.error();
      auto dmb = mailbox_by_id(c, dest);
      if (!dmb) return dmb.error();
      // A move into the mailbox it is in gives the message a new UID (RFC 6851 does not
      // forbid it; Dovecot does the same): added under the next UID, then removed.
      struct Row {
        Uid uid;
        MessageId msg;
        uint64_t size;  // the entry's: message plus trace
        UnixTime date;
        uint32_t flags;
        std::string kw;
        std::string trace;  // goes with the copy
      };
      std::vector<Row> rows;
      uint64_t total = 0;
      for (Uid uid : uids) {
        auto s = c.prepare(
            "SELECT e.message_id," CM_ENTRY_SIZE ",e.internal_date,e.flags,e.keywords,e.trace FROM entries e "
            "JOIN messages m ON m.id=e.message_id WHERE e.mailbox_id=? AND e.uid=?");
        s.bind(1, src).bind(2, static_cast<int64_t>(uid));
        if (!s.step()) {
          if (!s.status()) return s.status();
          continue;
        }
        rows.push_back({uid, s.i64(0), static_cast<uint64_t>(s.i64(1)), s.i64(2), static_cast<uint32_t>(s.i64(3)),
                        s.text(4), s.text(5)});
        total += rows.back().size;
      }
      bool same_account = smb->account_id == dmb->account_id;
      if (!(move && same_account)) {
        if (Status q = check_quota(c, dmb->account_id, total); !q) return q;
      }
      out.dest_uidvalidity = dmb->uidvalidity;
      for (const auto& r : rows) {
        Delivered d;
        auto a = add_entry(c, dmb->account_id, dest, r.msg, r.size, r.date, r.flags, r.kw, r.trace, false, d);
        if (!a) return a.error();
        out.uids.emplace_back(r.uid, d.uid);
        if (move) {
          if (Status x = remove_entry(c, *smb, r.uid, r.msg, true); !x) return x;
        }
      }
      return {};
    });
    if (!st) return st.error();
    return out;
  }

  Result<std::vector<Uid>> expunge(MailboxId id, std::optional<std::vector<Uid>> uids) override {
    // The subset is looked up with binary_search below, but callers pass it in any order
    // (an IMAP UID set such as "5,1" is not sorted): sort our copy first.
    if (uids) std::sort(uids->begin(), uids->end());
    std::vector<Uid> out;
    Status st = committer_.run([&](Conn& c) -> Status {
      out.clear();
      auto mb = mailbox_by_id(c, id);
      if (!mb) return mb.error();
      std::vector<std::pair<Uid, MessageId>> rows;
      {
        auto s = c.prepare("SELECT uid,message_id FROM entries WHERE mailbox_id=? AND (flags & ?)<>0 ORDER BY uid");
        s.bind(1, id).bind(2, static_cast<int64_t>(kDeleted));
        while (s.step()) rows.emplace_back(static_cast<Uid>(s.i64(0)), s.i64(1));
        if (!s.status()) return s.status();
      }
      for (auto& [uid, msg] : rows) {
        if (uids && !std::binary_search(uids->begin(), uids->end(), uid)) continue;
        if (Status r = remove_entry(c, *mb, uid, msg, true); !r) return r;
        out.push_back(uid);
      }
      return {};
    });
    if (!st) return st.error();
    return out;
  }

  // --- quota ---------------------------------------------------------------
  Result<QuotaUsage> quota(AccountId id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT q.bytes,q.messages,a.quota_bytes FROM quota_usage q JOIN accounts a ON a.id=q.account_id "
        "WHERE q.account_id=?");
    s.bind(1, id);
    if (!s.step()) return s.status() ? not_found("no account with id " + std::to_string(id)) : s.status().error();
    return QuotaUsage{static_cast<uint64_t>(s.i64(0)), static_cast<uint64_t>(s.i64(1)),
                      static_cast<uint64_t>(s.i64(2))};
  }

  Result<std::vector<QuotaCheck>> verify_quota() override {
    auto c = readers_.take();
    if (!c) return c.error();
    // One read transaction so that counters and rows come from the same snapshot.
    if (Status b = (*c)->exec("BEGIN"); !b) return b.error();
    std::vector<QuotaCheck> out;
    auto s = (*c)->prepare(
        "SELECT a.id,q.bytes,q.messages,a.quota_bytes,"
        " (SELECT coalesce(sum(" CM_ENTRY_SIZE "),0) FROM mailboxes b JOIN entries e ON e.mailbox_id=b.id"
        "   JOIN messages m ON m.id=e.message_id WHERE b.account_id=a.id),"
        " (SELECT count(*) FROM mailboxes b JOIN entries e ON e.mailbox_id=b.id WHERE b.account_id=a.id) "
        "FROM accounts a JOIN quota_usage q ON q.account_id=a.id ORDER BY a.id");
    while (s.step()) {
      QuotaCheck q;
      q.account_id = s.i64(0);
      q.counted = {static_cast<uint64_t>(s.i64(1)), static_cast<uint64_t>(s.i64(2)), static_cast<uint64_t>(s.i64(3))};
      q.actual = {static_cast<uint64_t>(s.i64(4)), static_cast<uint64_t>(s.i64(5)), static_cast<uint64_t>(s.i64(3))};
      out.push_back(q);
    }
    Status err = s.status();
    (void)(*c)->exec("COMMIT");
    if (!err) return err.error();
    return out;
  }

  // --- change log ----------------------------------------------------------
  Result<std::vector<Change>> changes_since(AccountId id, int64_t seq, size_t limit) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT seq,account_id,mailbox_id,kind,uid,modseq FROM changes WHERE account_id=? AND seq>? "
        "ORDER BY seq LIMIT ?");
    s.bind(1, id).bind(2, seq).bind(3, static_cast<int64_t>(limit));
    std::vector<Change> out;
    while (s.step()) {
      Change ch;
      ch.seq = s.i64(0);
      ch.account_id = s.i64(1);
      ch.mailbox_id = s.i64(2);
      std::string k = s.text(3);
      for (auto kind : {ChangeKind::message_added, ChangeKind::flags_changed, ChangeKind::message_expunged,
                        ChangeKind::mailbox_created, ChangeKind::mailbox_deleted, ChangeKind::mailbox_renamed})
        if (to_string(kind) == k) ch.kind = kind;
      ch.uid = static_cast<Uid>(s.i64(4));
      ch.modseq = static_cast<ModSeq>(s.i64(5));
      out.push_back(ch);
    }
    if (!s.status()) return s.status().error();
    return out;
  }

  Result<int64_t> last_change_seq() override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare("SELECT coalesce(max(seq),0) FROM changes");
    if (!s.step()) return s.status().error();
    return s.i64(0);
  }

  Result<std::vector<Uid>> expunged_since(MailboxId id, ModSeq modseq) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT DISTINCT uid FROM changes WHERE mailbox_id=? AND modseq>? AND kind='message_expunged' ORDER BY uid");
    s.bind(1, id).bind(2, static_cast<int64_t>(modseq));
    std::vector<Uid> out;
    while (s.step()) out.push_back(static_cast<Uid>(s.i64(0)));
    if (!s.status()) return s.status().error();
    return out;
  }

  // --- audit ---------------------------------------------------------------
  // Inside a write transaction: chains `e` to the last event and inserts it (fills hash, id).
  static Status insert_audit(Conn& c, AuditEvent& e) {
    std::string prev;
    {
      auto s = c.prepare("SELECT hash FROM audit ORDER BY id DESC LIMIT 1");
      if (s.step()) prev = s.text(0);
      if (!s.status()) return s.status();
    }
    e.hash = audit_hash(prev, e);
    auto s = c.prepare(
        "INSERT INTO audit(at,actor,actor_org,action,target,target_org,outcome,detail,hash) VALUES(?,?,?,?,?,?,?,?,?)");
    s.bind(1, e.at).bind(2, e.actor).bind(3, e.actor_org).bind(4, e.action).bind(5, e.target);
    s.bind(6, e.target_org).bind(7, e.outcome).bind(8, e.detail).bind(9, e.hash);
    if (Status r = s.exec(); !r) return r;
    e.id = c.last_insert_rowid();
    return {};
  }

  Result<AuditEvent> append_audit(AuditEvent e) override {
    if (e.at == 0) e.at = now_s();
    Status st = committer_.run([&](Conn& c) -> Status { return insert_audit(c, e); });
    if (!st) return st.error();
    return e;
  }

  Result<std::vector<AuditEvent>> audit_events(std::optional<OrgId> org, int64_t after_id, size_t limit) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT id,at,actor,actor_org,action,target,target_org,outcome,detail,hash FROM audit "
        "WHERE id>?1 AND (?2 IS NULL OR target_org=?2 OR actor_org=?2) ORDER BY id LIMIT ?3");
    s.bind(1, after_id);
    if (org) s.bind(2, *org);
    else s.bind_null(2);
    s.bind(3, static_cast<int64_t>(limit));
    std::vector<AuditEvent> out;
    while (s.step()) out.push_back(read_audit(s));
    if (!s.status()) return s.status().error();
    return out;
  }

  Result<int64_t> verify_audit_chain() override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT id,at,actor,actor_org,action,target,target_org,outcome,detail,hash FROM audit ORDER BY id");
    std::string prev;
    while (s.step()) {
      AuditEvent e = read_audit(s);
      if (audit_hash(prev, e) != e.hash) return e.id;
      prev = e.hash;
    }
    if (!s.status()) return s.status().error();
    return int64_t{0};
  }

  // --- blob garbage --------------------------------------------------------
  Result<std::vector<std::string>> dead_blobs(size_t limit) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare("SELECT blob_id FROM dead_blobs ORDER BY since LIMIT ?");
    s.bind(1, static_cast<int64_t>(limit));
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.text(0));
    if (!s.status()) return s.status().error();
    return out;
  }

  Status forget_dead_blob(std::string_view id) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare("DELETE FROM dead_blobs WHERE blob_id=?");
      s.bind(1, id);
      return s.exec();
    });
  }

  Result<bool> blob_referenced(std::string_view id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare("SELECT 1 FROM messages WHERE blob_id=?");
    s.bind(1, id);
    bool found = s.step();
    if (!s.status()) return s.status().error();
    return found;
  }

  Result<std::optional<std::string>> inline_blob(std::string_view id) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(
        "SELECT b.record FROM messages m JOIN message_blobs b ON b.message_id=m.id WHERE m.blob_id=?");
    s.bind(1, id);
    if (s.step()) return std::optional<std::string>(s.blob(0));
    if (!s.status()) return s.status().error();
    return std::optional<std::string>();
  }

  // --- outbound queue --------------------------------------------------------
  Result<std::vector<OutboundEntry>> enqueue(const NewMessage& m, std::span<const NewOutbound> rcpts) override {
    std::vector<int64_t> ids;
    UnixTime now = now_s();
    Status st = committer_.run([&](Conn& c) -> Status {
      ids.clear();
      auto msg = ensure_message(c, m);
      if (!msg) return msg.error();
      for (const auto& r : rcpts) {
        auto at = r.recipient.rfind('@');
        std::string domain = lower(at == std::string::npos ? std::string_view() : std::string_view(r.recipient).substr(at + 1));
        auto s = c.prepare(
            "INSERT INTO outbound(queue_id,message_id,sender,recipient,domain,notify,orcpt,envid,ret_hdrs,require_tls,"
            "created_at,next_attempt_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
        s.bind(1, r.queue_id).bind(2, *msg).bind(3, r.sender).bind(4, r.recipient).bind(5, domain);
        s.bind(6, static_cast<int64_t>(r.notify)).bind(7, r.orcpt).bind(8, r.envid).bind(9, r.ret_headers_only ? 1 : 0);
        s.bind(10, r.require_tls ? 1 : 0).bind(11, now).bind(12, now);
        if (Status x = s.exec(); !x) return x;
        ids.push_back(c.last_insert_rowid());
        auto rc = c.prepare("UPDATE messages SET refcount=refcount+1 WHERE id=?");
        rc.bind(1, *msg);
        if (Status x = rc.exec(); !x) return x;
      }
      if (rcpts.empty()) return drop_if_unreferenced(c, *msg, m.blob_id);
      return {};
    });
    if (!st) return st.error();
    std::vector<OutboundEntry> out;
    for (int64_t id : ids) {
      auto e = outbound_by_id(id);
      if (!e) return e.error();
      out.push_back(std::move(e).value());
    }
    return out;
  }

  Result<std::vector<OutboundEntry>> claim_due(UnixTime now, size_t limit, int lease_seconds) override {
    std::vector<int64_t> ids;
    Status st = committer_.run([&](Conn& c) -> Status {
      ids.clear();
      auto s = c.prepare(
          "UPDATE outbound SET lease_until=?1 WHERE id IN (SELECT id FROM outbound WHERE next_attempt_at<=?2 "
          "AND lease_until<?2 ORDER BY next_attempt_at, id LIMIT ?3) RETURNING id");
      s.bind(1, now + lease_seconds).bind(2, now).bind(3, static_cast<int64_t>(limit));
      while (s.step()) ids.push_back(s.i64(0));
      return s.status();
    });
    if (!st) return st.error();
    std::sort(ids.begin(), ids.end());
    std::vector<OutboundEntry> out;
    for (int64_t id : ids) {
      auto e = outbound_by_id(id);
      if (e) out.push_back(std::move(e).value());
    }
    return out;
  }

  Status reschedule(int64_t id, UnixTime next_attempt_at, int attempts, std::string_view last_error,
                    bool delay_notified) override {
    return committer_.run([&](Conn& c) -> Status {
      auto s = c.prepare(
          "UPDATE outbound SET next_attempt_at=?,attempts=?,last_error=?,delay_notified=?,lease_until=0 WHERE id=?");
      s.bind(1, next_attempt_at).bind(2, attempts).bind(3, last_error).bind(4, delay_notified ? 1 : 0).bind(5, id);
      if (Status x = s.exec(); !x) return x;
      if (c.changes() == 0) return not_found("no outbound entry " + std::to_string(id));
      return {};
    });
  }

  Status complete_outbound(int64_t id) override {
    return committer_.run([&](Conn& c) -> Status {
      auto q = c.prepare("SELECT o.message_id,m.blob_id FROM outbound o JOIN messages m ON m.id=o.message_id WHERE o.id=?");
      q.bind(1, id);
      if (!q.step()) return q.status() ? Status(not_found("no outbound entry " + std::to_string(id))) : q.status();
      MessageId msg = q.i64(0);
      std::string blob = q.text(1);
      while (q.step()) {
      }
      auto d = c.prepare("DELETE FROM outbound WHERE id=?");
      d.bind(1, id);
      if (Status x = d.exec(); !x) return x;
      auto rc = c.prepare("UPDATE messages SET refcount=refcount-1 WHERE id=?");
      rc.bind(1, msg);
      if (Status x = rc.exec(); !x) return x;
      return drop_if_unreferenced(c, msg, blob);
    });
  }

  Result<std::vector<OutboundEntry>> list_outbound(size_t limit) override {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(CM_OUTBOUND_SELECT "ORDER BY o.id LIMIT ?");
    s.bind(1, static_cast<int64_t>(limit));
    std::vector<OutboundEntry> out;
    while (s.step()) out.push_back(read_outbound(s));
    if (!s.status()) return s.status().error();
    return out;
  }

  void set_pre_commit_hook(std::function<Status()> hook) override { committer_.set_hook(std::move(hook)); }

 private:
  Result<OutboundEntry> outbound_by_id(int64_t id) {
    auto c = readers_.take();
    if (!c) return c.error();
    auto s = (*c)->prepare(CM_OUTBOUND_SELECT "WHERE o.id=?");
    s.bind(1, id);
    if (!s.step()) return s.status() ? not_found("no outbound entry " + std::to_string(id)) : s.status().error();
    return read_outbound(s);
  }

  static OutboundEntry read_outbound(const Stmt& s) {
    OutboundEntry e;
    e.id = s.i64(0);
    e.queue_id = s.text(1);
    e.message_id = s.i64(2);
    e.blob_id = s.text(3);
    e.size = static_cast<uint64_t>(s.i64(4));
    e.sender = s.text(5);
    e.recipient = s.text(6);
    e.domain = s.text(7);
    e.notify = static_cast<uint32_t>(s.i64(8));
    e.orcpt = s.text(9);
    e.envid = s.text(10);
    e.ret_headers_only = s.i64(11) != 0;
    e.require_tls = s.i64(12) != 0;
    e.created_at = s.i64(13);
    e.next_attempt_at = s.i64(14);
    e.attempts = static_cast<int>(s.i64(15));
    e.last_error = s.text(16);
    e.delay_notified = s.i64(17) != 0;
    return e;
  }

  static Organisation read_org(Conn& c, const Stmt& s) {
    Organisation o;
    o.id = s.i64(0);
    o.ods_code = s.text(1);
    o.name = s.text(2);
    o.short_name = s.text(3);
    o.open = s.i64(4) != 0;
    o.created_at = s.i64(5);
    o.mfa_required = s.i64(6) != 0;
    o.successor_id = s.i64(8);
    o.closed_at = s.i64(9);
    o.large_quota_allowance = static_cast<int>(s.i64(10));
    o.sharing_agreement = s.i64(11) != 0;
    {
      std::string nets = s.text(7);
      size_t start = 0;
      while (start < nets.size()) {
        size_t comma = nets.find(',', start);
        if (comma == std::string::npos) comma = nets.size();
        if (comma > start) o.trusted_networks.push_back(nets.substr(start, comma - start));
        start = comma + 1;
      }
    }
    auto d = c.prepare("SELECT domain FROM org_domains WHERE org_id=? ORDER BY domain");
    d.bind(1, o.id);
    while (d.step()) o.domains.push_back(d.text(0));
    return o;
  }

  static Account read_account(Conn& c, const Stmt& s) {
    Account a;
    a.id = s.i64(0);
    a.address = s.text(1);
    a.display_name = s.text(2);
    a.org_id = s.i64(3);
    a.kind = parse_account_kind(s.text(4)).value_or(AccountKind::person);
    a.state = parse_account_state(s.text(5)).value_or(AccountState::disabled);
    a.roles = split_roles(s.text(6));
    a.password_hash = s.text(7);
    a.quota_bytes = static_cast<uint64_t>(s.i64(8));
    a.created_at = s.i64(9);
    a.sending_suspended = s.i64(10) != 0;
    a.password_changed_at = s.i64(11);
    a.must_change_password = s.i64(12) != 0;
    if (!s.is_null(13)) a.expiry_reminder_sent = static_cast<int>(s.i64(13));
    a.locked_until = s.i64(14);
    a.failures_reset_at = s.i64(15);
    a.aup_version = static_cast<int>(s.i64(16));
    a.last_login_at = s.i64(17);
    a.state_changed_at = s.i64(18);
    a.leaver_from = s.i64(19);
    a.legal_hold = s.i64(20) != 0;
    a.external_id = s.text(21);
    a.unfamiliar_locked_until = s.i64(22);
    auto al = c.prepare("SELECT address FROM addresses WHERE account_id=? AND is_alias=1 ORDER BY address");
    al.bind(1, a.id);
    while (al.step()) a.aliases.push_back(al.text(0));
    return a;
  }

  static AuditEvent read_audit(const Stmt& s) {
    AuditEvent e;
    e.id = s.i64(0);
    e.at = s.i64(1);
    e.actor = s.text(2);
    e.actor_org = s.i64(3);
    e.action = s.text(4);
    e.target = s.text(5);
    e.target_org = s.i64(6);
    e.outcome = s.text(7);
    e.detail = s.text(8);
    e.hash = s.text(9);
    return e;
  }

  static std::string audit_hash(const std::string& prev, const AuditEvent& e) {
    // Unit separators keep field boundaries unambiguous.
    crypto::Sha256 h;
    for (const std::string& part :
         {prev, std::to_string(e.at), e.actor, std::to_string(e.actor_org), e.action, e.target,
          std::to_string(e.target_org), e.outcome, e.detail}) {
      h.update(part);
      h.update("\x1f");
    }
    return h.hex();
  }

  static Result<Mailbox> find_mailbox(Conn& c, AccountId id, std::string_view name) {
    static const std::string sql = std::string(kMailboxCols) + "WHERE account_id=? AND name=?";
    auto s = c.prepare(sql.c_str());
    s.bind(1, id).bind(2, is_inbox(name) ? std::string_view("INBOX") : name);
    if (!s.step()) return s.status() ? not_found("no mailbox " + std::string(name)) : s.status().error();
    return read_mailbox(s);
  }

  static Result<Mailbox> mailbox_by_id(Conn& c, MailboxId id) {
    static const std::string sql = std::string(kMailboxCols) + "WHERE id=?";
    auto s = c.prepare(sql.c_str());
    s.bind(1, id);
    if (!s.step()) return s.status() ? not_found("no mailbox with id " + std::to_string(id)) : s.status().error();
    return read_mailbox(s);
  }

  Status insert_mailbox(Conn& c, AccountId id, std::string_view name, std::string_view special_use) {
    // UIDVALIDITY: strictly increasing across the whole store, starting near the clock so
    // that a restored or recreated database does not reuse old values. The high-water mark
    // is kept in its own row (schema v2): taking max() over the existing mailboxes handed a
    // deleted-then-recreated mailbox its old value again.
    auto v = c.prepare("UPDATE uidvalidity_hwm SET value=max(value+1, ?) WHERE id=1 RETURNING value");
    v.bind(1, now_s() & 0x7fffffff);
    if (!v.step()) return v.status() ? Status(make_error(Errc::corrupt, "uidvalidity_hwm row is missing")) : v.status();
    int64_t uidvalidity = v.i64(0);
    while (v.step()) {
    }
    if (!v.status()) return v.status();
    // The id, from its own high-water mark (schema v17): a rowid would hand a deleted
    // mailbox's id to the next one, and with it the old mailbox's change log.
    auto h = c.prepare(
        "UPDATE mailbox_id_hwm SET value=max(value+1, (SELECT coalesce(max(id),0)+1 FROM mailboxes)) WHERE id=1 "
        "RETURNING value");
    if (!h.step()) return h.status() ? Status(make_error(Errc::corrupt, "mailbox_id_hwm row is missing")) : h.status();
    int64_t mailbox_id = h.i64(0);
    while (h.step()) {
    }
    if (!h.status()) return h.status();
    auto s = c.prepare(
        "INSERT INTO mailboxes(id,account_id,name,special_use,uidvalidity,uidnext,highest_modseq) "
        "VALUES(?,?,?,?,?,1,1)");
    s.bind(1, mailbox_id).bind(2, id).bind(3, is_inbox(name) ? std::string_view("INBOX") : name);
    s.bind(4, special_use).bind(5, uidvalidity);
    return s.exec();
  }

  Status add_change(Conn& c, AccountId account, MailboxId mailbox, ChangeKind kind, Uid uid, ModSeq ms) {
    auto s = c.prepare("INSERT INTO changes(account_id,mailbox_id,kind,uid,modseq,at) VALUES(?,?,?,?,?,?)");
    s.bind(1, account).bind(2, mailbox).bind(3, to_string(kind)).bind(4, static_cast<int64_t>(uid));
    s.bind(5, static_cast<int64_t>(ms)).bind(6, now_s());
    return s.exec();
  }

  static Status check_quota(Conn& c, AccountId account, uint64_t adding) {
    auto s = c.prepare(
        "SELECT q.bytes,a.quota_bytes FROM quota_usage q JOIN accounts a ON a.id=q.account_id WHERE q.account_id=?");
    s.bind(1, account);
    if (!s.step()) return s.status() ? Status(not_found("no account with id " + std::to_string(account))) : s.status();
    uint64_t used = static_cast<uint64_t>(s.i64(0));
    uint64_t limit = static_cast<uint64_t>(s.i64(1));
    if (limit != 0 && used + adding > limit)
      return make_error(Errc::quota_exceeded, "mailbox is full: " + std::to_string(used) + " of " +
                                                  std::to_string(limit) + " bytes used, message needs " +
                                                  std::to_string(adding));
    return {};
  }

  // Finds or inserts the messages row for this content; returns its id.
  static Result<MessageId> ensure_message(Conn& c, const NewMessage& m) {
    {
      auto s = c.prepare("SELECT id FROM messages WHERE blob_id=?");
      s.bind(1, m.blob_id);
      if (s.step()) return s.i64(0);
      if (!s.status()) return s.status().error();
    }
    auto s = c.prepare(
        "INSERT INTO messages(blob_id,size,refcount,subject,from_addr,to_addrs,cc_addrs,date_hdr,sent_at,"
        "message_id_hdr,in_reply_to,references_hdr,has_attachments,body_structure) "
        "VALUES(?,?,0,?,?,?,?,?,?,?,?,?,?,?)");
    const auto& sm = m.summary;
    s.bind(1, m.blob_id).bind(2, static_cast<int64_t>(m.size)).bind(3, sm.subject).bind(4, sm.from);
    s.bind(5, sm.to).bind(6, sm.cc).bind(7, sm.date).bind(8, sm.sent_at).bind(9, sm.message_id);
    s.bind(10, sm.in_reply_to).bind(11, sm.references).bind(12, sm.has_attachments ? 1 : 0);
    s.bind(13, sm.body_structure);
    if (Status r = s.exec(); !r) return r.error();
    MessageId id = c.last_insert_rowid();
    if (!m.header.empty() && m.header.size() <= kMaxCachedHeader) {  // bigger: not cached, as documented
      // REPLACE: a row left for a reused message id could only be stale.
      auto h = c.prepare("INSERT OR REPLACE INTO message_headers(message_id,header) VALUES(?,?)");
      h.bind(1, id).bind_blob(2, m.header);
      if (Status r = h.exec(); !r) return r.error();
    }
    if (!m.inline_blob.empty()) {
      auto b = c.prepare("INSERT OR REPLACE INTO message_blobs(message_id,record) VALUES(?,?)");
      b.bind(1, id).bind_blob(2, m.inline_blob);
      if (Status r = b.exec(); !r) return r.error();
    }
    // The blob may have been queued for deletion; it is alive again.
    auto d = c.prepare("DELETE FROM dead_blobs WHERE blob_id=?");
    d.bind(1, m.blob_id);
    if (Status r = d.exec(); !r) return r.error();
    return id;
  }

  Status drop_if_unreferenced(Conn& c, MessageId msg, std::string_view blob_id) {
    {
      auto h = c.prepare(
          "DELETE FROM message_headers WHERE message_id=(SELECT id FROM messages WHERE id=? AND refcount<=0)");
      h.bind(1, msg);
      if (Status r = h.exec(); !r) return r;
    }
    {
      auto b = c.prepare(
          "DELETE FROM message_blobs WHERE message_id=(SELECT id FROM messages WHERE id=? AND refcount<=0)");
      b.bind(1, msg);
      if (Status r = b.exec(); !r) return r;
    }
    auto s = c.prepare("DELETE FROM messages WHERE id=? AND refcount<=0");
    s.bind(1, msg);
    if (Status r = s.exec(); !r) return r;
    if (c.changes() == 0) return {};
    auto d = c.prepare("INSERT OR IGNORE INTO dead_blobs(blob_id,since) VALUES(?,?)");
    d.bind(1, blob_id).bind(2, now_s());
    return d.exec();
  }

  // Appends one entry (message `msg`, with the entry's own `trace` lines, "" for none) to a
  // mailbox and updates every counter. `size` is the entry's: message plus trace.
  Status add_entry(Conn& c, AccountId account, MailboxId mailbox, MessageId msg, uint64_t size,
                          UnixTime internal_date, uint32_t flags, const std::string& keywords,
                          std::string_view trace, bool enforce_quota, Delivered& d) {
    if (mailbox == 0) {
      auto inbox = find_mailbox(c, account, "INBOX");
      if (!inbox) return inbox.error();
      mailbox = inbox->id;
    }
    if (enforce_quota)
      if (Status q = check_quota(c, account, size); !q) return q;
    auto s = c.prepare(
        "UPDATE mailboxes SET uidnext=uidnext+1, highest_modseq=highest_modseq+1, messages=messages+1,"
        " unseen=unseen+?, bytes=bytes+? WHERE id=? AND account_id=? RETURNING uidnext-1, highest_modseq, uidvalidity");
    s.bind(1, (flags & kSeen) ? 0 : 1).bind(2, static_cast<int64_t>(size)).bind(3, mailbox).bind(4, account);
    if (!s.step())
      return s.status() ? Status(not_found("mailbox " + std::to_string(mailbox) + " of account " +
                                           std::to_string(account) + " does not exist"))
                        : s.status();
    d.account_id = account;
    d.mailbox_id = mailbox;
    d.uid = static_cast<Uid>(s.i64(0));
    d.modseq = static_cast<ModSeq>(s.i64(1));
    d.uidvalidity = static_cast<uint32_t>(s.i64(2));
    while (s.step()) {
    }
    auto e = c.prepare(
        "INSERT INTO entries(mailbox_id,uid,message_id,internal_date,flags,keywords,modseq,trace) "
        "VALUES(?,?,?,?,?,?,?,?)");
    e.bind(1, mailbox).bind(2, static_cast<int64_t>(d.uid)).bind(3, msg).bind(4, internal_date);
    e.bind(5, static_cast<int64_t>(flags & kAllFlags)).bind(6, keywords).bind(7, static_cast<int64_t>(d.modseq));
    if (trace.empty()) e.bind_null(8);  // none: APPEND, and copies of untraced entries
    else e.bind(8, trace);
    if (Status r = e.exec(); !r) return r;
    auto rc = c.prepare("UPDATE messages SET refcount=refcount+1 WHERE id=?");
    rc.bind(1, msg);
    if (Status r = rc.exec(); !r) return r;
    auto q = c.prepare("UPDATE quota_usage SET bytes=bytes+?, messages=messages+1 WHERE account_id=?");
    q.bind(1, static_cast<int64_t>(size)).bind(2, account);
    if (Status r = q.exec(); !r) return r;
    return add_change(c, account, mailbox, ChangeKind::message_added, d.uid, d.modseq);
  }

  Status remove_entry(Conn& c, const Mailbox& mb, Uid uid, MessageId msg, bool log_change) {
    auto info = c.prepare(
        "SELECT " CM_ENTRY_SIZE ",e.flags,m.blob_id FROM entries e JOIN messages m ON m.id=e.message_id "
        "WHERE e.mailbox_id=? AND e.uid=?");
    info.bind(1, mb.id).bind(2, static_cast<int64_t>(uid));
    if (!info.step()) return info.status() ? Status(not_found("no such entry")) : info.status();
    int64_t size = info.i64(0);
    uint32_t flags = static_cast<uint32_t>(info.i64(1));
    std::string blob = info.text(2);
    while (info.step()) {
    }
    auto del = c.prepare("DELETE FROM entries WHERE mailbox_id=? AND uid=?");
    del.bind(1, mb.id).bind(2, static_cast<int64_t>(uid));
    if (Status r = del.exec(); !r) return r;
    auto up = c.prepare(
        "UPDATE mailboxes SET highest_modseq=highest_modseq+1, messages=messages-1, unseen=unseen-?, bytes=bytes-? "
        "WHERE id=? RETURNING highest_modseq");
    up.bind(1, (flags & kSeen) ? 0 : 1).bind(2, size).bind(3, mb.id);
    if (!up.step()) return up.status();
    ModSeq ms = static_cast<ModSeq>(up.i64(0));
    while (up.step()) {
    }
    auto q = c.prepare("UPDATE quota_usage SET bytes=bytes-?, messages=messages-1 WHERE account_id=?");
    q.bind(1, size).bind(2, mb.account_id);
    if (Status r = q.exec(); !r) return r;
    auto rc = c.prepare("UPDATE messages SET refcount=refcount-1 WHERE id=?");
    rc.bind(1, msg);
    if (Status r = rc.exec(); !r) return r;
    if (Status r = drop_if_unreferenced(c, msg, blob); !r) return r;
    if (log_change) return add_change(c, mb.account_id, mb.id, ChangeKind::message_expunged, uid, ms);
    return {};
  }

  // Stamps what the caller leaves undated (creation, audit events, changes, dead blobs).
  const Clock clock_;
  UnixTime now_s() const { return clock_.now(); }
  Committer committer_;
  ReaderPool readers_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const SqliteStoreOptions& opts) {
  std::error_code ec;
  if (!opts.file.parent_path().empty()) std::filesystem::create_directories(opts.file.parent_path(), ec);
  auto conn = Conn::open(opts.file.string(), true);
  if (!conn) {
    std::string msg = opts.file.string() + ": " + conn.error().message;
    if (conn.error().code == Errc::corrupt) msg += "; restore the database from a backup";
    return make_error(conn.error().code, msg);
  }
  Conn& c = **conn;
  int64_t version = 0;
  {
    auto s = c.prepare("PRAGMA user_version");
    if (!s.step()) {
      if (!s.status()) return make_error(Errc::corrupt, opts.file.string() + ": not a Caremail database (" +
                                                            s.status().error().message + ")");
    }
    version = s.i64(0);
  }
  auto migs = sqlite::migrations();
  if (version > static_cast<int64_t>(migs.size()))
    return make_error(Errc::corrupt, opts.file.string() + ": schema version " + std::to_string(version) +
                                         " is newer than this caremaild knows (" + std::to_string(migs.size()) +
                                         "); run a newer caremaild");
  for (int64_t v = version; v < static_cast<int64_t>(migs.size()); ++v) {
    if (Status s = c.exec("BEGIN IMMEDIATE"); !s) return s.error();
    Status s = c.exec(migs[static_cast<size_t>(v)]);
    if (s) {
      std::string pragma = "PRAGMA user_version=" + std::to_string(v + 1);
      s = c.exec(pragma.c_str());
    }
    if (s) s = c.exec("COMMIT");
    if (!s) {
      (void)c.exec("ROLLBACK");
      return make_error(s.error().code, opts.file.string() + ": migration to schema version " +
                                            std::to_string(v + 1) + " failed: " + s.error().message);
    }
  }
  {
    auto s = c.prepare("PRAGMA quick_check");
    if (s.step() && s.text(0) != "ok")
      return make_error(Errc::corrupt, opts.file.string() + ": database integrity check failed: " + s.text(0));
    if (!s.status()) return make_error(Errc::corrupt, opts.file.string() + ": " + s.status().error().message);
  }
  // Background checkpoints need a connection of their own; without one (it failed to
  // open) the writer checkpoints in line, slower but correct.
  auto checkpointer = Conn::open(opts.file.string(), false);
  return std::unique_ptr<Store>(new SqliteStore(std::move(conn).value(),
                                                checkpointer ? std::move(checkpointer).value() : nullptr,
                                                opts.file.string(), opts.max_batch, opts.clock));
}

}  // namespace caremail

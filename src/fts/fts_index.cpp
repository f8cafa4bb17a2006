#include "fts/fts_index.hpp"

#include <chrono>
#include <filesystem>
#include <map>

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <xapian.h>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "mime/mime.hpp"
#include "mime/text.hpp"

namespace caremail {

namespace {

constexpr size_t kBatch = 256;            // documents per commit
constexpr auto kGather = std::chrono::milliseconds(200);  // wait for more before a small batch
constexpr size_t kMaxWildcard = 50000;    // expansions of one prefix
constexpr std::string_view kIdPrefix = "Q";
constexpr std::string_view kHeaderPrefix = "XH";

metrics::Gauge& queue_gauge() {
  static auto& g = metrics::gauge("caremail_fts_queue", "Messages waiting for the full-text indexer");
  return g;
}
metrics::Counter& indexed_total() {
  static auto& c = metrics::counter("caremail_fts_indexed_total", "Messages added to the full-text index");
  return c;
}

// The header text TEXT searches besides the body: the decoded fields a person would search.
std::string header_text(std::string_view raw, const MessageSummary& s) {
  std::string h = s.subject + "\n" + s.from + "\n" + s.to + "\n" + s.cc + "\n" + s.message_id + "\n";
  h += mime::header_values(raw, "Bcc");
  h += "\n";
  h += mime::header_values(raw, "Reply-To");
  return h;
}

}  // namespace

FullTextIndex::FullTextIndex(std::filesystem::path dir, BlobReader reader)
    : dir_(std::move(dir)), reader_(std::move(reader)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  worker_ = std::thread([this] { run(); });
}

FullTextIndex::~FullTextIndex() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

std::filesystem::path FullTextIndex::db_path(AccountId account) const { return dir_ / std::to_string(account); }

void FullTextIndex::enqueue(AccountId account, std::string blob_id) {
  {
    std::lock_guard lk(mu_);
    queue_.emplace_back(account, std::move(blob_id));
  }
  queue_gauge().add(1);
  cv_.notify_one();
}

size_t FullTextIndex::queued() const {
  std::lock_guard lk(mu_);
  return queue_.size() + (busy_ ? 1 : 0);
}

void FullTextIndex::forget(AccountId account) {
  std::unique_lock lk(mu_);
  size_t before = queue_.size();
  std::erase_if(queue_, [&](const auto& q) { return q.first == account; });
  queue_gauge().add(-static_cast<int64_t>(before - queue_.size()));
  // The writer takes mu_ before each batch, so once it is idle it cannot open the account's
  // database again while we remove it.
  idle_cv_.wait(lk, [this] { return !busy_ || stop_; });
  std::error_code ec;
  std::filesystem::remove_all(db_path(account), ec);
}

void FullTextIndex::drain() {
  std::unique_lock lk(mu_);
  idle_cv_.wait(lk, [this] { return (queue_.empty() && !busy_) || stop_; });
}

std::vector<std::string> FullTextIndex::words(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  Xapian::Utf8Iterator it(text.data(), text.size()), end;
  for (; it != end; ++it) {
    unsigned ch = *it;
    if (Xapian::Unicode::is_wordchar(ch)) {
      Xapian::Unicode::append_utf8(cur, Xapian::Unicode::tolower(ch));
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

void FullTextIndex::run() {
  // Idle priority: indexing is catch-up work (SEARCH scans what is not indexed yet), and on
  // a busy machine it took a core from deliveries (the SMTP benchmark's single-connection
  // rate fell by a third). It runs on the CPU time nothing else wants; on a quiet machine
  // that is nearly all of it, so the index keeps up.
  sched_param none{};
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &none) != 0) (void)setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 19);
  for (;;) {
    std::vector<std::pair<AccountId, std::string>> batch;
    {
      std::unique_lock lk(mu_);
      busy_ = false;
      idle_cv_.notify_all();
      cv_.wait(lk, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      // Gather for a moment: a commit per message (what a trickle of deliveries would cause)
      // costs more than the indexing itself.
      cv_.wait_for(lk, kGather, [this] { return stop_ || queue_.size() >= kBatch; });
      if (stop_) return;
      while (!queue_.empty() && batch.size() < kBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queue_gauge().add(-static_cast<int64_t>(batch.size()));
      busy_ = true;
    }
    std::map<AccountId, std::vector<std::string>> by_account;
    for (auto& [a, b] : batch) by_account[a].push_back(std::move(b));
    for (auto& [account, blobs] : by_account) {
      for (int attempt = 0; attempt < 2; ++attempt) {
        try {
          index_batch(account, blobs);
          break;
        } catch (const Xapian::DatabaseCorruptError& e) {
          heal(account, e.get_description());
        } catch (const Xapian::DatabaseOpeningError& e) {
          heal(account, e.get_description());
        } catch (const Xapian::Error& e) {
          log::warn("fts.index_failed", {{"account", account}, {"error", e.get_description()}});
          break;
        }
      }
    }
  }
}

void FullTextIndex::heal(AccountId account, const std::string& why) {
  // Left half-written by a crash (commits are not fsync'd): start the account's index
  // afresh; searches scan what it does not hold and queue it again.
  log::warn("fts.index_rebuilt", {{"account", account}, {"error", why}});
  std::error_code ec;
  std::filesystem::remove_all(db_path(account), ec);
}

void FullTextIndex::index_batch(AccountId account, const std::vector<std::string>& blobs) {
  // No fsync: the index is a cache (a message it does not hold is scanned and queued again
  // by SEARCH), and its commits' fsyncs competed with deliveries' for the disk.
  Xapian::WritableDatabase db(db_path(account).string(), Xapian::DB_CREATE_OR_OPEN | Xapian::DB_NO_SYNC);
  Xapian::TermGenerator gen;
  for (const auto& blob : blobs) {
    std::string id_term = std::string(kIdPrefix) + blob;
    if (db.term_exists(id_term)) continue;
    auto raw = reader_(blob);
    if (!raw) continue;  // expunged meanwhile, or unreadable (logged by the reader)
    auto summary = mime::summarize(*raw);
    Xapian::Document doc;
    gen.set_document(doc);
    std::string body = mime::extract_text(*raw, summary ? summary->body_structure : std::string());
    gen.index_text(body);
    if (summary) gen.index_text(header_text(*raw, *summary), 1, std::string(kHeaderPrefix));
    doc.add_boolean_term(id_term);
    doc.set_data(blob);
    db.replace_document(id_term, doc);
    indexed_total().inc();
  }
  db.commit();
}

std::optional<std::unordered_set<std::string>> FullTextIndex::match(AccountId account, std::string_view text,
                                                                    bool body_only) {
  auto ws = words(text);
  if (ws.empty()) return std::nullopt;
  for (const auto& w : ws)
    if (w.size() < kMinWord) return std::nullopt;
  std::error_code ec;
  if (!std::filesystem::exists(db_path(account), ec)) return std::unordered_set<std::string>{};
  for (int attempt = 0; attempt < 3; ++attempt) {
    try {
      Xapian::Database db(db_path(account).string());
      std::vector<Xapian::Query> all;
      for (const auto& w : ws) {
        // The TermGenerator stores words as they are (lower case; no stemming): a prefix
        // query finds "referral" for "refer".
        Xapian::Query body(Xapian::Query::OP_WILDCARD, w, kMaxWildcard, Xapian::Query::WILDCARD_LIMIT_MOST_FREQUENT);
        if (body_only) {
          all.push_back(body);
        } else {
          Xapian::Query head(Xapian::Query::OP_WILDCARD, std::string(kHeaderPrefix) + w, kMaxWildcard,
                             Xapian::Query::WILDCARD_LIMIT_MOST_FREQUENT);
          all.emplace_back(Xapian::Query::OP_OR, body, head);
        }
      }
      Xapian::Query q(Xapian::Query::OP_AND, all.begin(), all.end());
      Xapian::Enquire enq(db);
      enq.set_query(q);
      enq.set_weighting_scheme(Xapian::BoolWeight());
      enq.set_docid_order(Xapian::Enquire::DONT_CARE);
      Xapian::MSet ms = enq.get_mset(0, db.get_doccount());
      std::unordered_set<std::string> out;
      for (auto it = ms.begin(); it != ms.end(); ++it) out.insert(it.get_document().get_data());
      return out;
    } catch (const Xapian::DatabaseModifiedError&) {
      continue;  // a commit landed while reading: reopen
    } catch (const Xapian::Error& e) {
      log::warn("fts.search_failed", {{"account", account}, {"error", e.get_description()}});
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::unordered_set<std::string> FullTextIndex::indexed(AccountId account) {
  std::unordered_set<std::string> out;
  std::error_code ec;
  if (!std::filesystem::exists(db_path(account), ec)) return out;
  try {
    Xapian::Database db(db_path(account).string());
    for (auto t = db.allterms_begin(std::string(kIdPrefix)); t != db.allterms_end(std::string(kIdPrefix)); ++t)
      out.insert((*t).substr(kIdPrefix.size()));
  } catch (const Xapian::Error& e) {
    log::warn("fts.read_failed", {{"account", account}, {"error", e.get_description()}});
  }
  return out;
}

}  // namespace caremail

// Full-text index for SEARCH BODY / TEXT (IMAP) and, later, JMAP and webmail search: one
// Xapian database per account under <data_dir>/fts/<account id>/, one document per message
// content (keyed by its blob id, as a message is stored once however many mailboxes hold it).
//
// Indexing happens in the background right after delivery or APPEND (the message is durable
// already, so delivery never waits for the index), on one writer thread that batches
// documents per account into one Xapian commit. The index is a cache: a message it does not
// hold yet (queued, or lost in a crash before its commit) is found by scanning it, and
// search re-queues it, so the index heals itself.
//
// Matching: the search string is split into words (Xapian's Unicode word rules, lower case);
// a message matches when every word occurs as a word or the start of a word in the message
// (BODY: its text parts; TEXT: headers and text). This is the "contains" of RFC 9051 at word
// granularity, as full-text-indexing IMAP servers do; words shorter than kMinWord are not
// looked up (the caller scans instead).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common/result.hpp"
#include "model/types.hpp"

namespace caremail {

class FullTextIndex {
 public:
  static constexpr size_t kMinWord = 3;
  // Reads a stored message by blob id (the MailService's verified blob read).
  using BlobReader = std::function<Result<std::string>(const std::string& blob_id)>;

  FullTextIndex(std::filesystem::path dir, BlobReader reader);
  ~FullTextIndex();  // finishes the current batch, drops the rest of the queue
  FullTextIndex(const FullTextIndex&) = delete;
  FullTextIndex& operator=(const FullTextIndex&) = delete;

  // Queues a message for indexing in `account`'s index. Never blocks on I/O.
  void enqueue(AccountId account, std::string blob_id);

  // Blob ids in `account`'s index matching `text` (BODY when body_only, else TEXT).
  // nullopt when the index cannot answer (a word too short, no usable word, index error):
  // the caller scans.
  std::optional<std::unordered_set<std::string>> match(AccountId account, std::string_view text, bool body_only);
  // Every blob id the account's index holds (to tell "not indexed yet" from "no match").
  std::unordered_set<std::string> indexed(AccountId account);

  // Removes `account`'s index and its queued messages (the account was removed; its id may
  // be given to a new account). Waits for a batch in progress.
  void forget(AccountId account);

  // Waits until the queue is empty (tests and benchmarks).
  void drain();
  size_t queued() const;

  // The words of `text` as the index sees them (lower case, Unicode word characters).
  static std::vector<std::string> words(std::string_view text);

 private:
  void run();
  // One account's part of a batch, one commit. Throws Xapian::Error.
  void index_batch(AccountId account, const std::vector<std::string>& blobs);
  // Removes an account's index that cannot be opened or read (a crash mid-commit).
  void heal(AccountId account, const std::string& why);
  std::filesystem::path db_path(AccountId account) const;

  const std::filesystem::path dir_;
  BlobReader reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<std::pair<AccountId, std::string>> queue_;  // guarded by mu_
  bool busy_ = false;                                    // guarded by mu_
  bool stop_ = false;                                    // guarded by mu_
  std::thread worker_;
};

}  // namespace caremail

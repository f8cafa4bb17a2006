// SEARCH, SORT and THREAD over a selected mailbox (RFC 9051 §6.4.4, RFC 5256, RFC 5957,
// RFC 7162 MODSEQ). Pure: the session supplies the messages (entries with their summaries,
// the raw message on demand) and renders the result. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "imap/parser.hpp"
#include "model/types.hpp"

namespace caremail::imap {

// One message of the selected mailbox as SEARCH sees it.
struct SearchMessage {
  uint32_t seq = 0;                 // message sequence number
  const MailboxEntry* entry = nullptr;  // with summary filled (subject, from, to, cc, dates)
  bool recent = false;              // \Recent in this session
  // The raw message as the owner sees it (MailService::fetch: entry->trace, then the stored
  // message the summary describes); called only for criteria the summary cannot answer
  // (BCC, HEADER, BODY, TEXT), at most once per message per search (the caller may cache).
  // Empty on failure.
  std::function<std::string_view()> raw;
};

struct SearchContext {
  uint32_t max_seq = 0;     // "*" in a sequence set
  Uid max_uid = 0;          // "*" in a UID set
  std::span<const Uid> saved;  // "$" (SEARCHRES), ascending uids
  UnixTime now = 0;         // OLDER / YOUNGER
  // BODY / TEXT answered by the full-text index (fts/fts_index.hpp): true or false, or
  // nullopt when the index cannot answer for this message (then the message is scanned).
  std::function<std::optional<bool>(const SearchKey&, const SearchMessage&)> text_index;
};

// Rewrites every sequence set of `key` (message numbers and UID sets, not "$") as what
// matches() reads fastest: "*" replaced by `max_seq` / `max_uid`, each range ordered, the
// ranges sorted and merged, and the set marked `resolved`. A set is then tested with a
// binary search instead of a walk over its ranges: "SEARCH 1:*,1:*,..." with 10,000
// ranges over 10,000 messages no longer compares 10^8 times (issue 14 finding 7).
// matches() gives the same answers before and after.
void resolve_sets(SearchKey& key, uint32_t max_seq, Uid max_uid);

// True when evaluating `key` may call SearchMessage::raw (lets the caller plan the fetches).
bool needs_raw(const SearchKey& key);

// Does `m` match `key`? Strings match case-insensitively as substrings of the decoded UTF-8
// text (headers RFC 2047-decoded, bodies with their transfer encoding and charset removed:
// mime::extract_text). Dates: BEFORE/ON/SINCE/SAVED* on the internal date in UTC days;
// SENT* on the day the Date header shows in its own zone (as Dovecot), the internal date
// when the header is missing or unparseable.
bool matches(const SearchKey& key, const SearchMessage& m, const SearchContext& ctx);

// SORT (RFC 5256, with DISPLAYFROM/DISPLAYTO of RFC 5957): indices into `msgs` in sorted
// order; ties broken by sequence number.
std::vector<size_t> sort_messages(std::span<const SearchArgs::SortCriterion> criteria,
                                  std::span<const SearchMessage> msgs);

// RFC 5256 §2.1 base subject (for SORT SUBJECT and THREAD), of a decoded UTF-8 subject.
std::string base_subject(std::string_view subject);

// THREAD (RFC 5256): "REFERENCES" or "ORDEREDSUBJECT". Returns the thread-list as sent after
// "* THREAD " ("(2)(3 6 (4 23)(44 7 96))"), with sequence numbers, or UIDs when `uid`.
// Unknown algorithm: "" (the session answers BAD before calling).
std::string thread_messages(std::string_view algorithm, std::span<const SearchMessage> msgs, bool uid);

}  // namespace caremail::imap

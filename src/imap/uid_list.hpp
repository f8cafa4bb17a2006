// The message sequence of a selected mailbox as UIDs, stored as runs of consecutive UIDs.
// Mail arrives with increasing UIDs and is expunged rarely, so a mailbox of 100,000
// messages is usually a handful of runs: an IDLE session holding its view costs bytes,
// not 4 bytes (or more) per message. Index i is message sequence number i + 1.
//
// Thread-safety: none (one per session).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "imap/parser.hpp"
#include "model/types.hpp"

namespace caremail::imap {

class UidList {
 public:
  static constexpr size_t npos = static_cast<size_t>(-1);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Uid back() const { return runs_.empty() ? 0 : runs_.back().first + runs_.back().count - 1; }

  // REQUIRES: i < size().
  Uid at(size_t i) const {
    const Run& r = run_of(i);
    return r.first + static_cast<Uid>(i - r.start);
  }
  // The index of `uid`, or npos.
  size_t find(Uid uid) const {
    size_t k = run_with(uid);
    if (k == npos) return npos;
    const Run& r = runs_[k];
    return uid < r.first + r.count ? r.start + (uid - r.first) : npos;
  }
  // The index of the first UID >= `uid` (size() when none).
  size_t lower_bound(Uid uid) const {
    size_t k = run_with(uid);
    if (k == npos) return 0;  // before the first run
    const Run& r = runs_[k];
    return uid < r.first + r.count ? r.start + (uid - r.first) : r.start + r.count;
  }
  // Appends a UID greater than back(); ignored otherwise.
  void push_back(Uid uid) {
    if (!runs_.empty() && uid <= back()) return;
    if (!runs_.empty() && uid == back() + 1)
      ++runs_.back().count;
    else
      runs_.push_back(Run{uid, 1, static_cast<uint32_t>(size_)});
    ++size_;
  }
  // Removes every UID of `sorted` (ascending) that is present.
  void erase(std::span<const Uid> sorted) {
    if (sorted.empty()) return;
    std::vector<Run> out;
    out.reserve(runs_.size() + sorted.size());
    size_t next = 0;
    uint32_t seq = 0;
    auto emit = [&](Uid first, uint32_t count) {
      if (count == 0) return;
      out.push_back(Run{first, count, seq});
      seq += count;
    };
    for (const Run& r : runs_) {
      Uid first = r.first;
      Uid end = r.first + r.count;  // exclusive
      while (next < sorted.size() && sorted[next] < first) ++next;
      while (next < sorted.size() && sorted[next] < end) {
        emit(first, sorted[next] - first);
        first = sorted[next] + 1;
        ++next;
      }
      emit(first, end - first);
    }
    runs_ = std::move(out);
    runs_.shrink_to_fit();
    size_ = seq;
  }
  size_t runs() const { return runs_.size(); }

 private:
  struct Run {
    Uid first;
    uint32_t count;
    uint32_t start;  // index of `first`
  };
  const Run& run_of(size_t i) const {
    auto it = std::upper_bound(runs_.begin(), runs_.end(), i, [](size_t x, const Run& r) { return x < r.start; });
    return *(it - 1);
  }
  // The last run whose first UID is <= uid, or npos.
  size_t run_with(Uid uid) const {
    auto it = std::upper_bound(runs_.begin(), runs_.end(), uid, [](Uid x, const Run& r) { return x < r.first; });
    if (it == runs_.begin()) return npos;
    return static_cast<size_t>(it - runs_.begin()) - 1;
  }

  std::vector<Run> runs_;
  size_t size_ = 0;
};

// Resolves the ranges of a sequence set (not "$") against `uids`: the indices it names,
// ascending and unique. `uid`: the numbers are UIDs (those that do not exist are ignored,
// RFC 9051 §6.4.8); otherwise message sequence numbers, and one past the end makes the
// command BAD (returns nullopt and sets `error`).
// Works on intervals: every range becomes an interval of indices, the intervals are sorted
// and merged, and only then are indices listed. So "1:*,1:*,..." with
// Limits::max_sequence_ranges ranges costs O(ranges log ranges + size()) and the result never
// holds more than size() entries (expanding each range first held 10,000 copies of the
// mailbox: 800 MB for a 10,000-message mailbox, issue 14 finding 7).
inline std::optional<std::vector<size_t>> resolve_ranges(const UidList& uids, const std::vector<SeqRange>& ranges,
                                                         bool uid, std::string& error) {
  std::vector<std::pair<size_t, size_t>> spans;  // [begin, end) indices
  spans.reserve(ranges.size());
  const size_t n = uids.size();
  for (const SeqRange& r : ranges) {
    if (uid) {
      Uid star = uids.back();
      Uid a = r.first == SeqRange::kStar ? star : r.first;
      Uid b = r.last == SeqRange::kStar ? star : r.last;
      if (a > b) std::swap(a, b);
      // "n:*" with n past the last UID still names the last message (RFC 9051 §6.4.8);
      // in an empty mailbox "*" names nothing.
      if ((r.first == SeqRange::kStar || r.last == SeqRange::kStar) && a == 0) continue;
      size_t lo = uids.lower_bound(a);
      size_t hi = b == UINT32_MAX ? n : uids.lower_bound(b + 1);
      if (lo < hi) spans.emplace_back(lo, hi);
    } else {
      uint32_t count = static_cast<uint32_t>(n);
      uint32_t a = r.first == SeqRange::kStar ? count : r.first;
      uint32_t b = r.last == SeqRange::kStar ? count : r.last;
      if (a > b) std::swap(a, b);
      if (a == 0 || b > count) {
        error = count == 0 ? "No messages in this mailbox"
                           : "Invalid message sequence number (the mailbox has " + std::to_string(count) +
                                 " messages)";
        return std::nullopt;
      }
      spans.emplace_back(size_t{a} - 1, size_t{b});
    }
  }
  std::sort(spans.begin(), spans.end());
  size_t total = 0;
  size_t merged = 0;  // spans[0, merged) are disjoint and ascending
  for (const auto& sp : spans) {
    if (merged > 0 && sp.first <= spans[merged - 1].second) {
      spans[merged - 1].second = std::max(spans[merged - 1].second, sp.second);
    } else {
      spans[merged++] = sp;
    }
  }
  spans.resize(merged);
  for (const auto& sp : spans) total += sp.second - sp.first;
  std::vector<size_t> out;
  out.reserve(total);
  for (const auto& [lo, hi] : spans)
    for (size_t i = lo; i < hi; ++i) out.push_back(i);
  return out;
}

}  // namespace caremail::imap

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
#include <span>
#include <vector>

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

}  // namespace caremail::imap

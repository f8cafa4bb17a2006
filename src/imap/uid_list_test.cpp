#include "imap/uid_list.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <set>

namespace caremail::imap {
namespace {

TEST(UidList, RunsOfConsecutiveUids) {
  UidList l;
  for (Uid u = 1; u <= 1000; ++u) l.push_back(u);
  EXPECT_EQ(l.size(), 1000u);
  EXPECT_EQ(l.runs(), 1u);
  EXPECT_EQ(l.at(0), 1u);
  EXPECT_EQ(l.at(999), 1000u);
  EXPECT_EQ(l.find(500), 499u);
  EXPECT_EQ(l.find(1001), UidList::npos);
  l.push_back(2000);
  l.push_back(1500);  // not increasing: ignored
  EXPECT_EQ(l.size(), 1001u);
  EXPECT_EQ(l.runs(), 2u);
  EXPECT_EQ(l.back(), 2000u);
  EXPECT_EQ(l.lower_bound(1001), 1000u);
  EXPECT_EQ(l.lower_bound(2001), 1001u);
  EXPECT_EQ(l.lower_bound(0), 0u);
  std::vector<Uid> gone{1, 500, 501, 1000, 2000, 3000};
  l.erase(gone);
  EXPECT_EQ(l.size(), 996u);
  EXPECT_EQ(l.at(0), 2u);
  EXPECT_EQ(l.find(502), 498u);
  EXPECT_EQ(l.find(500), UidList::npos);
  EXPECT_EQ(l.back(), 999u);
}

TEST(UidList, AgreesWithASortedVector) {
  std::mt19937 rng(7);
  UidList l;
  std::vector<Uid> ref;
  Uid next = 1;
  for (int round = 0; round < 200; ++round) {
    int adds = rng() % 50;
    for (int i = 0; i < adds; ++i) {
      next += 1 + (rng() % 4 == 0 ? rng() % 10 : 0);
      l.push_back(next);
      ref.push_back(next);
    }
    std::vector<Uid> del;
    for (Uid u : ref)
      if (rng() % 10 == 0) del.push_back(u);
    del.push_back(next + 5);  // absent
    l.erase(del);
    std::erase_if(ref, [&](Uid u) { return std::binary_search(del.begin(), del.end(), u); });
    ASSERT_EQ(l.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i) {
      ASSERT_EQ(l.at(i), ref[i]);
      ASSERT_EQ(l.find(ref[i]), i);
    }
    for (Uid probe = 0; probe < next + 3; probe += 1 + rng() % 7) {
      size_t want = std::lower_bound(ref.begin(), ref.end(), probe) - ref.begin();
      ASSERT_EQ(l.lower_bound(probe), want) << probe;
    }
  }
}

// Sequence sets resolve on intervals (issue 14 finding 7): a set of 10,000 "1:*" ranges
// against a 100,000-message view gives each index once, quickly, without materialising a copy
// of the mailbox per range (that was 8 GB here).
TEST(ResolveRanges, ManyOverlappingRangesStayBounded) {
  UidList l;
  for (Uid u = 1; u <= 100000; ++u) l.push_back(u * 2);  // one run per UID: the worst case
  std::vector<SeqRange> set(10000, SeqRange{1, SeqRange::kStar});
  std::string err;
  auto t0 = std::chrono::steady_clock::now();
  auto by_seq = resolve_ranges(l, set, false, err);
  auto by_uid = resolve_ranges(l, set, true, err);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(by_seq && by_uid) << err;
  EXPECT_EQ(by_seq->size(), 100000u);
  EXPECT_EQ(by_uid->size(), 100000u);
  EXPECT_LE(by_seq->capacity(), 100000u) << "never more than the mailbox holds";
  EXPECT_EQ(by_seq->front(), 0u);
  EXPECT_EQ(by_seq->back(), 99999u);
  EXPECT_LT(secs, 0.5);
}

TEST(ResolveRanges, MatchesOneByOneExpansion) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    UidList l;
    std::vector<Uid> ref;
    Uid next = 1;
    int count = static_cast<int>(rng() % 40);
    for (int i = 0; i < count; ++i) {
      next += 1 + rng() % 3;
      l.push_back(next);
      ref.push_back(next);
    }
    std::vector<SeqRange> set;
    int nr = 1 + static_cast<int>(rng() % 6);
    auto pick = [&](uint32_t hi) -> uint32_t {
      uint32_t r = rng() % 10;
      if (r == 0) return SeqRange::kStar;
      if (r == 1) return UINT32_MAX;
      return 1 + rng() % (hi + 3);
    };
    for (int i = 0; i < nr; ++i) set.push_back(SeqRange{pick(next), pick(next)});
    for (bool uid : {false, true}) {
      std::set<size_t> want;
      bool want_error = false;
      for (const SeqRange& r : set) {
        if (uid) {
          Uid star = ref.empty() ? 0 : ref.back();
          Uid a = r.first == SeqRange::kStar ? star : r.first, b = r.last == SeqRange::kStar ? star : r.last;
          if (a > b) std::swap(a, b);
          for (size_t i = 0; i < ref.size(); ++i)
            if (ref[i] >= a && ref[i] <= b) want.insert(i);
        } else {
          uint32_t n = static_cast<uint32_t>(ref.size());
          uint32_t a = r.first == SeqRange::kStar ? n : r.first, b = r.last == SeqRange::kStar ? n : r.last;
          if (a > b) std::swap(a, b);
          if (a == 0 || b > n) want_error = true;
          else
            for (uint32_t i = a; i <= b; ++i) want.insert(i - 1);
        }
      }
      std::string err;
      auto got = resolve_ranges(l, set, uid, err);
      if (want_error) {
        EXPECT_FALSE(got.has_value());
        EXPECT_FALSE(err.empty());
        continue;
      }
      ASSERT_TRUE(got.has_value()) << err;
      EXPECT_EQ(*got, std::vector<size_t>(want.begin(), want.end())) << "round " << round << " uid " << uid;
    }
  }
}

}  // namespace
}  // namespace caremail::imap

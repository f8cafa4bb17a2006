#include "imap/uid_list.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace caremail::imap

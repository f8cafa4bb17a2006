// The clocks of common/clock.hpp: the system one reads the wall clock, the test one stands
// still until told.
#include "common/clock.hpp"

#include <gtest/gtest.h>

#include <ctime>

namespace caremail {
namespace {

TEST(Clock, DefaultIsTheSystemClock) {
  const Clock clock;
  int64_t before = static_cast<int64_t>(std::time(nullptr));
  int64_t now = clock.now();
  int64_t after = static_cast<int64_t>(std::time(nullptr));
  EXPECT_GE(now, before);
  EXPECT_LE(now, after);
}

TEST(Clock, TestClockMovesOnlyWhenTold) {
  TestClock t(1'000'000);
  Clock c = t.clock();
  EXPECT_EQ(c.now(), 1'000'000);
  EXPECT_EQ(c.now(), 1'000'000);
  t.advance(3600);
  EXPECT_EQ(c.now(), 1'003'600);
  t.set(42);
  EXPECT_EQ(c(), 42);
}

TEST(Clock, AnyCallableIsAClock) {
  int64_t at = 7;
  Clock c([&] { return at; });
  EXPECT_EQ(c.now(), 7);
  at = 8;
  EXPECT_EQ(c.now(), 8);
}

}  // namespace
}  // namespace caremail

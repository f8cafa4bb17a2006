#include "common/time_text.hpp"

#include <gtest/gtest.h>

namespace caremail {
namespace {

TEST(TimeText, Utc) {
  EXPECT_EQ(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(1796072700), "Mon, 30 Nov 2026 21:05:00 +0000");
  EXPECT_EQ(format_utc(1796072700, "%d %B %Y"), "30 November 2026");
  EXPECT_EQ(format_utc(1796072700, "%H:%M UTC"), "21:05 UTC");
}

}  // namespace
}  // namespace caremail

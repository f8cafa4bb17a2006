#include "net/line_codec.hpp"

#include <gtest/gtest.h>

namespace caremail::net {
namespace {

TEST(LineSplitter, Lines) {
  struct Case {
    std::string input;
    size_t max;
    LineStatus status;
    std::string line;
    bool bare_lf;
    std::string rest;
  } cases[] = {
      {"NOOP\r\nQUIT\r\n", 10, LineStatus::ok, "NOOP", false, "QUIT\r\n"},
      {"NOOP\nQUIT", 10, LineStatus::ok, "NOOP", true, "QUIT"},
      {"\r\n", 10, LineStatus::ok, "", false, ""},
      {"0123456789\r\n", 10, LineStatus::ok, "0123456789", false, ""},
      {"01234567890\r\n", 10, LineStatus::too_long, "", false, ""},
      {"NOOP", 10, LineStatus::need_more, "", false, "NOOP"},
  };
  for (const auto& c : cases) {
    std::string buf = c.input, line;
    bool bare = false;
    LineSplitter split(c.max);
    EXPECT_EQ(split.next(buf, line, &bare), c.status) << c.input;
    EXPECT_EQ(line, c.line) << c.input;
    if (c.status != LineStatus::need_more) {
      EXPECT_EQ(bare, c.bare_lf) << c.input;
    }
    EXPECT_EQ(buf, c.rest) << c.input;
  }
}

TEST(LineSplitter, LongLineIsSkippedInPiecesWithBoundedMemory) {
  LineSplitter split(4);
  std::string buf, line;
  for (int i = 0; i < 100; ++i) {
    buf += "xxxxxxx";
    EXPECT_EQ(split.next(buf, line), LineStatus::need_more);
    EXPECT_LE(buf.size(), 5u);
  }
  buf += "\r\nok\r\n";
  EXPECT_EQ(split.next(buf, line), LineStatus::too_long);
  LineSplitter again(4);
  EXPECT_EQ(again.next(buf, line), LineStatus::ok);
  EXPECT_EQ(line, "ok");
}

TEST(Deflate, RoundTripInPieces) {
  Deflater d;
  Inflater i;
  ASSERT_TRUE(d.ok() && i.ok());
  std::string packed, out;
  ASSERT_TRUE(d.feed("a1 NOOP\r\n", packed));
  ASSERT_TRUE(d.feed(std::string(100000, 'z'), packed));
  for (size_t pos = 0; pos < packed.size(); pos += 7) ASSERT_TRUE(i.feed(std::string_view(packed).substr(pos, 7), out));
  EXPECT_EQ(out, "a1 NOOP\r\n" + std::string(100000, 'z'));
}

TEST(Deflate, CorruptInputFails) {
  Inflater i;
  std::string out;
  EXPECT_FALSE(i.feed(std::string("\xff\xff\xff\xff garbage", 12), out));
}

}  // namespace
}  // namespace caremail::net

// Tables for modified UTF-7 (mutf7.hpp), after Dovecot's test-imap-utf7.c.
#include "imap/mutf7.hpp"

#include <gtest/gtest.h>

#include <string>

namespace caremail::imap {
namespace {

struct RoundTrip {
  const char* utf8;
  const char* mutf7;
};

TEST(Mutf7, RoundTrips) {
  const RoundTrip cases[] = {
      {"", ""},
      {"INBOX", "INBOX"},
      {"&", "&-"},
      {"a&b&&", "a&-b&-&-"},
      {"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
       "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},  // RFC 3501 §5.1.3 example
      {"Entw\xc3\xbcrfe", "Entw&APw-rfe"},
      {"\xc3\xa9t\xc3\xa9", "&AOk-t&AOk-"},
      {"\xc3\xa9\xc3\xa9", "&AOkA6Q-"},
      {"\xf0\x9f\x98\x80", "&2D3eAA-"},  // U+1F600, a surrogate pair
      {"a\x7f" "b", "a&AH8-b"},           // DEL is not printable
      {"\t", "&AAk-"},
      {"Sent/\xd0\x9e\xd1\x82\xd0\xbf\xd1\x80\xd0\xb0\xd0\xb2\xd0\xbb\xd0\xb5\xd0\xbd\xd0\xbd\xd1\x8b\xd0\xb5",
       "Sent/&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"},
  };
  for (const RoundTrip& c : cases) {
    SCOPED_TRACE(c.mutf7);
    EXPECT_EQ(mutf7_encode(c.utf8), std::optional<std::string>(c.mutf7));
    EXPECT_EQ(mutf7_decode(c.mutf7), std::optional<std::string>(c.utf8));
    EXPECT_TRUE(mutf7_valid(c.mutf7));
  }
}

TEST(Mutf7, InvalidEncodings) {
  const char* cases[] = {
      "&",            // unterminated
      "a&AOk",        // unterminated shift
      "&AOk*-",       // '*' is not modified base64
      "&AO/-",        // '/' belongs to plain base64, not the modified one
      "&AOk=-",       // no padding in modified base64
      "&AGE-",        // 'a' encoded: printable ASCII must represent itself
      "&ACY-",        // '&' encoded: must be "&-"
      "&AOk-&AOk-",   // two adjacent shifts: must be one
      "&AOl-",        // non-zero padding bits
      "&AO-",         // a partial UTF-16 unit
      "&2D0-",        // a lone high surrogate
      "&3gA-",        // a lone low surrogate
      "&2D3YPQ-",     // high surrogate followed by another high one
      "&AAA-",        // NUL
      "caf\xc3\xa9",  // 8-bit bytes are never modified UTF-7
      "a\tb",         // control characters must be encoded
  };
  for (const char* c : cases) {
    SCOPED_TRACE(c);
    EXPECT_FALSE(mutf7_decode(c));
    EXPECT_FALSE(mutf7_valid(c));
  }
}

TEST(Mutf7, EncodeRejectsInvalidUtf8) {
  const char* cases[] = {
      "\xc0\x80",          // overlong NUL
      "\xe0\x80\xaf",      // overlong '/'
      "\xed\xa0\x80",      // surrogate
      "\xf4\x90\x80\x80",  // past U+10FFFF
      "\xc3",              // truncated
      "\x80",              // stray continuation
  };
  for (const char* c : cases) {
    SCOPED_TRACE(c);
    EXPECT_FALSE(mutf7_encode(c));
    EXPECT_FALSE(utf8_valid(c));
  }
  EXPECT_FALSE(mutf7_encode(std::string("a\0b", 3)));
  EXPECT_TRUE(utf8_valid("\xf0\x9f\x98\x80"));
}

TEST(Mutf7, EveryBmpCodePointRoundTrips) {
  for (uint32_t cp = 1; cp < 0x10000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::string u;
    if (cp < 0x80) u += static_cast<char>(cp);
    else if (cp < 0x800) {
      u += static_cast<char>(0xC0 | (cp >> 6));
      u += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      u += static_cast<char>(0xE0 | (cp >> 12));
      u += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      u += static_cast<char>(0x80 | (cp & 0x3F));
    }
    auto e = mutf7_encode("x" + u + "y");
    ASSERT_TRUE(e) << cp;
    auto d = mutf7_decode(*e);
    ASSERT_TRUE(d) << cp << " " << *e;
    ASSERT_EQ(*d, "x" + u + "y") << cp;
  }
}

}  // namespace
}  // namespace caremail::imap

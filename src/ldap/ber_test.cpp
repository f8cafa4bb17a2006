// Tables for the BER reader and writer (ber.hpp): every accepted form, every rejected one.
#include "ldap/ber.hpp"
#include "ldap/hex_test_util.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace caremail::ldap {
namespace {

using testing_hex::hex;
using testing_hex::unhex;

// ---- headers ---------------------------------------------------------------------------

struct HeaderCase {
  const char* hex;
  HeaderStatus status;
  Tag tag;
  size_t header_size;
  uint64_t length;
};

TEST(LdapBer, Headers) {
  const HeaderCase cases[] = {
      {"3000", HeaderStatus::ok, kSequence, 2, 0},
      {"0401", HeaderStatus::ok, kOctetString, 2, 1},
      {"047f", HeaderStatus::ok, kOctetString, 2, 127},
      {"048180", HeaderStatus::ok, kOctetString, 3, 128},
      {"04820100", HeaderStatus::ok, kOctetString, 4, 256},
      {"308400000005", HeaderStatus::ok, kSequence, 6, 5},  // liblber / wldap32 style
      {"63820123", HeaderStatus::ok, Tag::application(3, true), 4, 0x123},
      {"870b", HeaderStatus::ok, Tag::context(7, false), 2, 11},
      {"a0", HeaderStatus::need_more, {}, 0, 0},
      {"", HeaderStatus::need_more, {}, 0, 0},
      {"3084000000", HeaderStatus::need_more, {}, 0, 0},
      {"1f", HeaderStatus::need_more, {}, 0, 0},
      {"1f81", HeaderStatus::need_more, {}, 0, 0},
      {"1f2000", HeaderStatus::ok, Tag::universal(32), 3, 0},    // high-tag-number form
      {"df8100", HeaderStatus::need_more, {}, 0, 0},
      {"df810000", HeaderStatus::ok, Tag{TagClass::private_, false, 128}, 4, 0},
      {"3080", HeaderStatus::error, {}, 0, 0},                   // indefinite length
      {"30ff", HeaderStatus::error, {}, 0, 0},                   // reserved
      {"3089010000000000000000", HeaderStatus::error, {}, 0, 0}, // 9 length octets
      {"30888000000000000000", HeaderStatus::error, {}, 0, 0},   // 2^63
      {"1f05", HeaderStatus::error, {}, 0, 0},                   // high form for a low number
      {"1f8001", HeaderStatus::error, {}, 0, 0},                 // leading zero digit
      {"1fffffffff7f", HeaderStatus::error, {}, 0, 0},           // tag number too large
  };
  for (const HeaderCase& c : cases) {
    SCOPED_TRACE(c.hex);
    Header h;
    std::string err;
    HeaderStatus st = decode_header(unhex(c.hex), h, err);
    ASSERT_EQ(st, c.status) << err;
    if (st == HeaderStatus::ok) {
      EXPECT_EQ(h.tag, c.tag);
      EXPECT_EQ(h.header_size, c.header_size);
      EXPECT_EQ(h.length, c.length);
    }
    if (st == HeaderStatus::error) {
      EXPECT_FALSE(err.empty());
    }
  }
}

// ---- primitive values ------------------------------------------------------------------

TEST(LdapBer, Integers) {
  struct Case {
    const char* contents;
    bool ok;
    int64_t value;
  };
  const Case cases[] = {
      {"00", true, 0},          {"01", true, 1},       {"7f", true, 127},
      {"0080", true, 128},      {"ff", true, -1},      {"80", true, -128},
      {"ff7f", true, -129},     {"7fffffff", true, 2147483647},
      {"0000000001", true, 1},  // non-minimal, tolerated
      {"7fffffffffffffff", true, INT64_MAX},
      {"8000000000000000", true, INT64_MIN},
      {"", false, 0},
      {"010000000000000000", false, 0},  // 9 octets
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.contents);
    auto r = decode_integer(unhex(c.contents));
    ASSERT_EQ(r.ok(), c.ok);
    if (c.ok) {
      EXPECT_EQ(*r, c.value);
    }
  }
}

TEST(LdapBer, Booleans) {
  EXPECT_TRUE(*decode_boolean(unhex("ff")));
  EXPECT_TRUE(*decode_boolean(unhex("01")));  // any non-zero is TRUE for a receiver
  EXPECT_FALSE(*decode_boolean(unhex("00")));
  EXPECT_FALSE(decode_boolean("").ok());
  EXPECT_FALSE(decode_boolean(unhex("0000")).ok());
}

// ---- the reader ------------------------------------------------------------------------

TEST(LdapBer, ReadsNestedElements) {
  // SEQUENCE { INTEGER 5, OCTET STRING "ab", BOOLEAN TRUE, ENUMERATED 2, SEQUENCE {} }
  std::string b = unhex("300f 020105 04026162 0101ff 0a0102 3000");
  BerReader r(b);
  auto seq = r.read_constructed(kSequence);
  ASSERT_TRUE(seq.ok()) << seq.error().message;
  EXPECT_TRUE(r.at_end());
  EXPECT_EQ(*seq->read_integer(), 5);
  EXPECT_EQ(*seq->read_octet_string(), "ab");
  EXPECT_TRUE(*seq->read_boolean());
  EXPECT_EQ(*seq->read_enumerated(), 2);
  auto inner = seq->read_constructed(kSequence);
  ASSERT_TRUE(inner.ok());
  EXPECT_TRUE(inner->at_end());
  EXPECT_EQ(inner->depth(), 2u);
  EXPECT_TRUE(seq->at_end());
  EXPECT_FALSE(seq->read_any().ok());  // nothing left
}

TEST(LdapBer, RejectsMalformed) {
  struct Case {
    const char* name;
    const char* hex;
  };
  const Case cases[] = {
      {"truncated contents", "300504020102"},
      {"length past container", "3003 0405 6162"},
      {"truncated header", "30"},
      {"truncated long length", "3082 01"},
      {"indefinite length", "3080 0000"},
      {"length overflow", "3088ffffffffffffffff"},
      {"nine length octets", "3089 000000000000000001 00"},
      {"huge length", "3084ffffffff 00"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string b = unhex(c.hex);
    BerReader r(b);
    auto seq = r.read_constructed(kSequence);
    if (!seq.ok()) continue;  // rejected at the outer element
    // Or rejected on the first inner read.
    bool failed = false;
    while (!seq->at_end() && !failed) failed = !seq->read_any().ok();
    EXPECT_TRUE(failed);
  }
}

TEST(LdapBer, WrongTagsAndForms) {
  std::string b = unhex("0401 61");
  {
    BerReader r(b);
    auto e = r.read(kInteger);
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.error().message.find("expected [UNIVERSAL 2]"), std::string::npos) << e.error().message;
  }
  {
    BerReader r(b);
    auto e = r.read_any();
    ASSERT_TRUE(e.ok());
    EXPECT_FALSE(r.enter(*e).ok());  // primitive
  }
  {
    // A constructed OCTET STRING is not an OCTET STRING in LDAP.
    std::string c = unhex("2403 040161");
    BerReader r(c);
    EXPECT_FALSE(r.read_octet_string().ok());
  }
}

TEST(LdapBer, DepthIsBounded) {
  // 100 nested SEQUENCEs.
  BerWriter w;
  for (int i = 0; i < 100; ++i) w.begin(kSequence);
  for (int i = 0; i < 100; ++i) w.end();
  std::string b = std::move(w).take();

  BerLimits lim;
  lim.max_depth = 10;
  BerReader r(b, lim);
  size_t depth = 0;
  Result<BerReader> cur = r;
  for (;;) {
    auto next = cur->read_constructed(kSequence);
    if (!next.ok()) {
      EXPECT_EQ(next.error().code, Errc::too_large);
      break;
    }
    cur = std::move(next);
    ++depth;
  }
  EXPECT_EQ(depth, 10u);
}

// ---- the writer ------------------------------------------------------------------------

TEST(LdapBer, WriterMinimalEncodings) {
  struct Case {
    int64_t v;
    const char* hex;
  };
  const Case ints[] = {{0, "020100"},         {1, "020101"},       {127, "02017f"},
                       {128, "02020080"},     {-1, "0201ff"},      {-128, "020180"},
                       {-129, "0202ff7f"},    {256, "02020100"},   {2147483647, "02047fffffff"},
                       {INT64_MIN, "02088000000000000000"}};
  for (const Case& c : ints) {
    BerWriter w;
    w.integer(c.v);
    EXPECT_EQ(hex(w.bytes()), c.hex) << c.v;
    auto back = decode_integer(std::string_view(w.bytes()).substr(2));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, c.v);
  }
  BerWriter w;
  w.begin(kSequence);
  w.boolean(true);
  w.boolean(false);
  w.enumerated(53);
  w.null();
  w.octet_string("x", Tag::context(7, false));
  w.begin(Tag::application(3, true));
  w.end();
  w.end();
  EXPECT_EQ(hex(std::move(w).take()), "30100101ff0101000a0135050087017863" "00");
}

TEST(LdapBer, WriterLongLengthsAndHighTags) {
  for (size_t n : {127u, 128u, 255u, 256u, 65535u, 65536u, 1u << 20}) {
    BerWriter w;
    w.begin(kSequence);
    w.octet_string(std::string(n, 'a'));
    w.end();
    std::string b = std::move(w).take();
    BerReader r(b);
    auto seq = r.read_constructed(kSequence);
    ASSERT_TRUE(seq.ok()) << n;
    auto s = seq->read_octet_string();
    ASSERT_TRUE(s.ok()) << n;
    EXPECT_EQ(s->size(), n);
    EXPECT_TRUE(seq->at_end());
    EXPECT_TRUE(r.at_end());
  }
  BerWriter w;
  w.octet_string("", Tag::context(200, false));
  EXPECT_EQ(hex(w.bytes()), "9f814800");
  BerReader r(w.bytes());
  auto e = r.read(Tag::context(200, false));
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->contents.empty());
}

TEST(LdapBer, TagNames) {
  EXPECT_EQ(to_string(Tag::application(3, true)), "[APPLICATION 3] constructed");
  EXPECT_EQ(to_string(kOctetString), "[UNIVERSAL 4]");
  EXPECT_EQ(to_string(Tag::context(7, false)), "[7]");
}

}  // namespace
}  // namespace caremail::ldap

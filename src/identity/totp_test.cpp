// Tests for TOTP: the RFC 6238 Appendix B vectors (SHA-1, 8 digits), 6-digit codes, the
// step window, refusal of a reused or earlier step, code shape, base32 (RFC 4648 vectors)
// and the otpauth URI.
#include "identity/totp.hpp"

#include <gtest/gtest.h>

#include <set>

namespace caremail::identity {
namespace {

using std::chrono::sys_seconds;
using std::chrono::seconds;

const std::string kRfcSecret = "12345678901234567890";  // RFC 6238 Appendix B, SHA-1

sys_seconds at(int64_t t) { return sys_seconds{seconds{t}}; }

TEST(Totp, Rfc6238AppendixBSha1) {
  struct Case {
    int64_t time;
    int64_t step;
    std::string code;
  } cases[] = {
      {59, 0x1, "94287082"},
      {1111111109, 0x23523EC, "07081804"},
      {1111111111, 0x23523ED, "14050471"},
      {1234567890, 0x273EF07, "89005924"},
      {2000000000, 0x3F940AA, "69279037"},
      {20000000000, 0x27BC86AA, "65353130"},
  };
  const TotpParams eight{8, seconds{30}, 1};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.time);
    EXPECT_EQ(totp_step(at(c.time), eight), c.step);
    EXPECT_EQ(totp_code(kRfcSecret, c.step, eight), c.code);
    auto v = totp_verify(kRfcSecret, c.code, at(c.time), std::nullopt, eight);
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_EQ(*v, c.step);
    // Six digits are the low six of the same value (RFC 4226 truncation mod 10^d).
    EXPECT_EQ(totp_code(kRfcSecret, c.step), c.code.substr(2));
  }
}

TEST(Totp, WindowIsOneStepEitherSide) {
  const int64_t now = 1111111111;
  const int64_t step = totp_step(at(now));
  struct Case {
    int64_t offset;
    bool accepted;
  } cases[] = {{-3, false}, {-2, false}, {-1, true}, {0, true}, {1, true}, {2, false}, {3, false}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.offset);
    auto v = totp_verify(kRfcSecret, totp_code(kRfcSecret, step + c.offset), at(now), std::nullopt);
    if (c.accepted) {
      ASSERT_TRUE(v.ok()) << v.error().message;
      EXPECT_EQ(*v, step + c.offset);
    } else {
      ASSERT_FALSE(v.ok());
      EXPECT_EQ(v.error().code, Errc::unauthenticated);
      EXPECT_NE(v.error().message.find("not right or has expired"), std::string::npos);
    }
  }
  // A wider window is a parameter.
  TotpParams wide;
  wide.window = 2;
  EXPECT_TRUE(totp_verify(kRfcSecret, totp_code(kRfcSecret, step - 2), at(now), std::nullopt, wide).ok());
  // The window does not reach below step 0.
  EXPECT_TRUE(totp_verify(kRfcSecret, totp_code(kRfcSecret, 0), at(5), std::nullopt).ok());
}

TEST(Totp, ReuseOfTheSameOrAnEarlierStepIsRefused) {
  const sys_seconds now = at(1234567890);
  const int64_t step = totp_step(now);
  const std::string code = totp_code(kRfcSecret, step);
  auto first = totp_verify(kRfcSecret, code, now, std::nullopt);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, step);

  auto again = totp_verify(kRfcSecret, code, now + seconds{5}, *first);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::unauthenticated);
  EXPECT_NE(again.error().message.find("already been used"), std::string::npos);

  auto earlier = totp_verify(kRfcSecret, totp_code(kRfcSecret, step - 1), now, *first);
  ASSERT_FALSE(earlier.ok());
  EXPECT_NE(earlier.error().message.find("already been used"), std::string::npos);

  // After a future step was accepted (a fast clock), the current step is used up too.
  auto future = totp_verify(kRfcSecret, totp_code(kRfcSecret, step + 1), now, *first);
  ASSERT_TRUE(future.ok());
  EXPECT_EQ(*future, step + 1);
  EXPECT_FALSE(totp_verify(kRfcSecret, code, now, *future).ok());

  // The next period's code works.
  auto next = totp_verify(kRfcSecret, totp_code(kRfcSecret, step + 2), now + seconds{60}, *future);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, step + 2);
}

TEST(Totp, CodeShape) {
  const sys_seconds now = at(59);
  struct Case {
    std::string typed;
    std::optional<Errc> error;
  } cases[] = {
      {"287082", std::nullopt},
      {"287 082", std::nullopt},
      {" 287082 ", std::nullopt},
      {"287083", Errc::unauthenticated},
      {"28708", Errc::invalid_argument},
      {"2870822", Errc::invalid_argument},
      {"28708a", Errc::invalid_argument},
      {"", Errc::invalid_argument},
      {"287-082", Errc::invalid_argument},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.typed);
    auto v = totp_verify(kRfcSecret, c.typed, now, std::nullopt);
    if (!c.error) {
      ASSERT_TRUE(v.ok()) << v.error().message;
      EXPECT_EQ(*v, 1);
    } else {
      ASSERT_FALSE(v.ok());
      EXPECT_EQ(v.error().code, *c.error);
    }
  }
  auto shape = totp_verify(kRfcSecret, "12", now, std::nullopt);
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(shape.error().message.find("6 digits"), std::string::npos);
}

TEST(Totp, SecretsAreRandom) {
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    std::string s = totp_generate_secret();
    EXPECT_EQ(s.size(), 20u);
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 20u);
  // A fresh secret round-trips through base32 and makes codes that verify.
  std::string secret = totp_generate_secret();
  auto decoded = base32_decode(base32_encode(secret));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, secret);
  const sys_seconds now = at(1700000000);
  EXPECT_TRUE(totp_verify(secret, totp_code(secret, totp_step(now)), now, std::nullopt).ok());
}

TEST(Base32, Rfc4648Vectors) {
  struct Case {
    std::string raw, text;
  } cases[] = {
      {"f", "MY"},          {"fo", "MZXQ"},         {"foo", "MZXW6"},
      {"foob", "MZXW6YQ"},  {"fooba", "MZXW6YTB"},  {"foobar", "MZXW6YTBOI"},
      {kRfcSecret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.raw);
    EXPECT_EQ(base32_encode(c.raw), c.text);
    EXPECT_EQ(base32_decode(c.text), c.raw);
  }
  EXPECT_EQ(base32_decode("mzxw 6ytb oi"), "foobar");
  EXPECT_EQ(base32_decode("MZXW6YTBOI======"), "foobar");
  EXPECT_EQ(base32_decode("MZXW6YTB01"), std::nullopt);  // 0 and 1 are not base32
  EXPECT_EQ(base32_decode("MZ!W"), std::nullopt);
  EXPECT_EQ(base32_decode(""), std::nullopt);
}

TEST(Totp, OtpauthUri) {
  EXPECT_EQ(totp_uri("Caremail (Test)", "jane.smith@trust.care.example", kRfcSecret),
            "otpauth://totp/Caremail%20%28Test%29:jane.smith%40trust.care.example"
            "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Caremail%20%28Test%29"
            "&algorithm=SHA1&digits=6&period=30");
  // Non-ASCII is percent-encoded byte by byte; ':' in a name cannot split the label.
  EXPECT_EQ(totp_uri("Caf\xc3\xa9:X", "a@b", "f", TotpParams{8, seconds{60}, 1}),
            "otpauth://totp/Caf%C3%A9%3AX:a%40b?secret=MY&issuer=Caf%C3%A9%3AX&algorithm=SHA1&digits=8&period=60");
}

}  // namespace
}  // namespace caremail::identity

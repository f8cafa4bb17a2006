// Tests for recovery codes: shape and alphabet, uniqueness, real Argon2id hashes, typed
// forms accepted, and each code consumed exactly once.
#include "identity/recovery_codes.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

#include "crypto/crypto.hpp"

namespace caremail::identity {
namespace {

TEST(RecoveryCodes, AlphabetIsUnambiguous) {
  EXPECT_EQ(kRecoveryAlphabet.size(), 31u);
  EXPECT_EQ(std::set<char>(kRecoveryAlphabet.begin(), kRecoveryAlphabet.end()).size(), kRecoveryAlphabet.size());
  for (char c : std::string_view("01ilo")) EXPECT_EQ(kRecoveryAlphabet.find(c), std::string_view::npos) << c;
}

TEST(RecoveryCodes, GenerateTenWithRealHashes) {
  auto r = generate_recovery_codes();
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->codes.size(), 10u);
  ASSERT_EQ(r->hashes.size(), 10u);
  const std::regex shape("[2-9a-hjkmnp-z]{4}-[2-9a-hjkmnp-z]{4}-[2-9a-hjkmnp-z]{4}");
  for (size_t i = 0; i < 10; ++i) {
    SCOPED_TRACE(r->codes[i]);
    EXPECT_TRUE(std::regex_match(r->codes[i], shape));
    EXPECT_EQ(r->hashes[i].rfind("$argon2id$", 0), 0u);
    EXPECT_EQ(r->hashes[i].find(r->codes[i]), std::string::npos);
  }
  EXPECT_EQ(std::set<std::string>(r->codes.begin(), r->codes.end()).size(), 10u);
  EXPECT_TRUE(crypto::verify_password(r->hashes[7], r->codes[7]));
  EXPECT_FALSE(crypto::verify_password(r->hashes[7], r->codes[6]));

  // Consumed once, in the form a person types it, with the real Argon2id check.
  std::vector<std::string> stored = r->hashes;
  std::string typed = r->codes[2];
  typed.erase(std::remove(typed.begin(), typed.end(), '-'), typed.end());
  for (char& c : typed) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto used = consume_recovery_code(stored, typed);
  ASSERT_TRUE(used.ok()) << used.error().message;
  EXPECT_EQ(*used, 2u);
  EXPECT_EQ(stored.size(), 9u);
  EXPECT_EQ(std::count(stored.begin(), stored.end(), r->hashes[2]), 0);
  auto again = consume_recovery_code(stored, r->codes[2]);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::unauthenticated);
  EXPECT_NE(again.error().message.find("already been used"), std::string::npos);
  EXPECT_EQ(stored.size(), 9u);
}

TEST(RecoveryCodes, Normalize) {
  struct Case {
    std::string typed;
    std::optional<std::string> want;
  } cases[] = {
      {"abcd-efgh-jkmn", "abcd-efgh-jkmn"},
      {"ABCD-EFGH-JKMN", "abcd-efgh-jkmn"},
      {"abcdefghjkmn", "abcd-efgh-jkmn"},
      {" abcd efgh jkmn ", "abcd-efgh-jkmn"},
      {"ab-cdefgh-jk-mn", "abcd-efgh-jkmn"},
      {"abcd-efgh-jkm", std::nullopt},
      {"abcd-efgh-jkmn2", std::nullopt},
      {"abcd-efgh-jkm0", std::nullopt},
      {"abcd-efgh-jkml", std::nullopt},
      {"abcd_efgh_jkmn", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.typed);
    EXPECT_EQ(normalize_recovery_code(c.typed), c.want);
  }
}

TEST(RecoveryCodes, ConsumeFindsTheMatchingHashOnly) {
  // Fake hashes ("h:" + code) so the table runs without Argon2id.
  int calls = 0;
  VerifyFn fake = [&calls](std::string_view phc, std::string_view code) {
    ++calls;
    return phc.substr(0, 2) == "h:" && phc.substr(2) == code;
  };
  std::vector<std::string> hashes{"h:aaaa-bbbb-cccc", "", "h:dddd-eeee-ffff", "h:gggg-hhhh-jjjj"};
  auto bad = consume_recovery_code(hashes, "not a code", fake);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  EXPECT_EQ(calls, 0);  // malformed input costs no Argon2id

  auto got = consume_recovery_code(hashes, "DDDD EEEE FFFF", fake);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 2u);
  EXPECT_EQ(hashes, (std::vector<std::string>{"h:aaaa-bbbb-cccc", "", "h:gggg-hhhh-jjjj"}));
  EXPECT_EQ(calls, 2);  // the empty slot is skipped

  EXPECT_FALSE(consume_recovery_code(hashes, "dddd-eeee-ffff", fake).ok());
  EXPECT_TRUE(consume_recovery_code(hashes, "gggg-hhhh-jjjj", fake).ok());
  EXPECT_TRUE(consume_recovery_code(hashes, "aaaa-bbbb-cccc", fake).ok());
  EXPECT_EQ(hashes, std::vector<std::string>{""});
  EXPECT_FALSE(consume_recovery_code(hashes, "aaaa-bbbb-cccc", fake).ok());
}

}  // namespace
}  // namespace caremail::identity

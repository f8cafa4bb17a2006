// Tests for directory text folding: accents and case, apostrophes and hyphens, other
// scripts, bad UTF-8, addresses, and the one-edit test behind typo tolerance.
#include "directory/normalize.hpp"

#include <gtest/gtest.h>

namespace caremail::directory {
namespace {

using Words = std::vector<std::string>;

TEST(Normalize, FoldsCaseAndAccents) {
  struct Case {
    std::string in;
    Words out;
  } cases[] = {
      {"Zoë", {"zoe"}},
      {"José", {"jose"}},
      {"Siobhán O'Neill", {"siobhan", "oneill"}},
      {"SIOBHAN", {"siobhan"}},
      {"Łukasz Wiśniewski", {"lukasz", "wisniewski"}},
      {"Søren Sørensen", {"soren", "sorensen"}},
      {"Ægir Œuvre", {"aegir", "oeuvre"}},
      {"Müller-Lüdenscheidt", {"muller", "ludenscheidt"}},
      {"Straße", {"strasse"}},
      {"Yılmaz Öztürk", {"yilmaz", "ozturk"}},
      {"Jose\xCC\x81", {"jose"}},  // e + combining acute
      {"ﬁnlay", {"finlay"}},       // compatibility ligature
      {"Ward 7B", {"ward", "7b"}},
      {"  Dr.  Smith,  ", {"dr", "smith"}},
      {"Σωκράτης", {"σωκρατησ"}},  // other scripts stay, lower-cased (final sigma folds to σ)
      {"", {}},
      {"'quoted'", {"quoted"}},
      {"O’Brien", {"obrien"}},  // typographic apostrophe
      {"\xC5\x89", {"n"}},      // ŉ decomposes to ʼn: the apostrophe joins
  };
  for (const auto& c : cases) EXPECT_EQ(fold_words(c.in), c.out) << c.in;
}

TEST(Normalize, FoldingTwiceChangesNothing) {
  // A folded word typed back in finds itself (found by the fuzz target once: "ŉ").
  for (std::string_view s : {"Zoë O'Brien-Smith", "Σωκράτης", "ﬁnlay Straße", "ŉ ʼn", "Łódź"}) {
    std::string once = fold_text(s);
    EXPECT_EQ(fold_text(once), once) << s;
  }
}

TEST(Normalize, IndexModeAddsTheWordAfterAnApostrophe) {
  EXPECT_EQ(fold_words("O'Neill", WordMode::index), (Words{"oneill", "neill"}));
  EXPECT_EQ(fold_words("D'Souza", WordMode::index), (Words{"dsouza", "souza"}));
  EXPECT_EQ(fold_words("O'Ng", WordMode::index), (Words{"ong"}));  // too short to stand alone
  EXPECT_EQ(fold_words("O'Neill", WordMode::query), (Words{"oneill"}));
}

TEST(Normalize, BadUtf8SeparatesAndNeverFails) {
  EXPECT_EQ(fold_words("ab\xFF"
                       "cd"),
            (Words{"ab", "cd"}));
  EXPECT_EQ(fold_words("\xC3"), Words{});
  EXPECT_EQ(fold_words("x\xE2\x82"), (Words{"x"}));
  std::string nul("a\0b", 3);
  EXPECT_EQ(fold_words(nul), (Words{"a", "b"}));
}

TEST(Normalize, LongWordsAreCut) {
  std::string longword(500, 'a');
  auto w = fold_words(longword);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].size(), kMaxWordBytes);
  // Cut between characters, never inside one.
  std::string accented;
  for (int i = 0; i < 40; ++i) accented += "ж";  // two bytes each
  auto a = fold_words("x" + accented);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].size(), kMaxWordBytes - 1);
  EXPECT_EQ(fold_words(a[0]), a);
}

TEST(Normalize, FoldText) {
  EXPECT_EQ(fold_text("Zoë  O'Brien-Smith"), "zoe obrien smith");
  EXPECT_EQ(fold_text(""), "");
}

TEST(Normalize, FoldAddress) {
  EXPECT_EQ(fold_address("Siobhan.ONeill@Northfield.Care.Example"), "siobhan.oneill@northfield.care.example");
  EXPECT_EQ(fold_address(" a_b+c-d@x.y "), "a_b+c-d@x.y");
  EXPECT_EQ(fold_address("josé@example.org"), "jose@example.org");
  EXPECT_EQ(fold_address("RXX"), "rxx");
}

TEST(Normalize, WithinOneEdit) {
  struct Case {
    std::string a, b;
    bool near;
  } cases[] = {
      {"smith", "smith", true},    {"smith", "smyth", true},      {"smith", "smiht", true},
      {"smith", "smit", true},     {"smith", "smiths", true},     {"smith", "msith", true},
      {"smith", "msiht", false},   {"smith", "smythe", false},    {"", "a", true},
      {"", "ab", false},           {"sarah", "sara", true},       {"siobhan", "sioban", true},
      {"johnson", "jonson", true}, {"thompson", "thomson", true}, {"abc", "cba", false},
      {"abcd", "acbd", true},      {"abcd", "abdc", true},        {"abcd", "bacd", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(within_one_edit(c.a, c.b), c.near) << c.a << " / " << c.b;
    EXPECT_EQ(within_one_edit(c.b, c.a), c.near) << c.b << " / " << c.a;
  }
}

}  // namespace
}  // namespace caremail::directory

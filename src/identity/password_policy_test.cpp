// Tests for the national password policy: every rule as a table of cases (length and
// UTF-8, names, common, history), the whole check in order, configuration validation, and
// expiry reminders sent once each over a simulated year.
#include "identity/password_policy.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "crypto/crypto.hpp"
#include "temp_dir.hpp"

namespace caremail::identity {
namespace {

using namespace std::chrono_literals;

class CryptoEnv : public ::testing::Environment {
 public:
  void SetUp() override { crypto::init(); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new CryptoEnv);

std::string repeat(std::string_view s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// Expect OK when `want` is empty, else a refusal whose message contains `want`.
void expect_outcome(const Status& st, std::string_view want, Errc code = Errc::invalid_argument) {
  if (want.empty()) {
    EXPECT_TRUE(st.ok()) << st.error().message;
    return;
  }
  ASSERT_FALSE(st.ok()) << "accepted; expected: " << want;
  EXPECT_EQ(st.error().code, code);
  EXPECT_NE(st.error().message.find(want), std::string::npos) << st.error().message;
}

// ---- UTF-8 and length ----------------------------------------------------------------------

TEST(Utf8Length, CountsCodePointsAndRejectsInvalid) {
  struct Case {
    std::string s;
    std::optional<size_t> want;
  } cases[] = {
      {"", 0},
      {"abc", 3},
      {"\xc3\xa9", 1},                  // é
      {"\xe2\x82\xac", 1},              // €
      {"\xf0\x9f\x99\x82", 1},          // 🙂
      {"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x99\x82", 4},
      {"\xff", std::nullopt},
      {"\xc0\xaf", std::nullopt},       // overlong '/'
      {"\xe0\x80\xaf", std::nullopt},   // overlong, three bytes
      {"\xed\xa0\x80", std::nullopt},   // surrogate D800
      {"\xf4\x90\x80\x80", std::nullopt},  // above U+10FFFF
      {"\xe2\x82", std::nullopt},       // truncated
      {"\xc3", std::nullopt},
      {"\x80", std::nullopt},           // lone continuation byte
      {"abc\xc3(", std::nullopt},       // bad continuation
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.s));
    EXPECT_EQ(utf8_length(c.s), c.want);
  }
}

TEST(PasswordLength, Table) {
  const PasswordPolicyConfig cfg;
  const std::string e_acute = "\xc3\xa9";
  const std::string smile = "\xf0\x9f\x99\x82";
  struct Case {
    std::string password;
    AccountKind kind;
    std::string want;  // empty: accepted
  } cases[] = {
      {"", AccountKind::person, "at least 10 characters long."},
      {"abcdefghj", AccountKind::person, "must be at least 10 characters long."},
      {"abcdefghjk", AccountKind::person, ""},
      {repeat(e_acute, 9), AccountKind::person, "at least 10 characters"},  // 18 bytes, 9 characters
      {repeat(e_acute, 10), AccountKind::person, ""},
      {repeat(smile, 9), AccountKind::person, "at least 10 characters"},   // 36 bytes, 9 characters
      {repeat(smile, 10), AccountKind::person, ""},
      {repeat("x", 19), AccountKind::application, "at least 20 characters long (application accounts"},
      {repeat("x", 20), AccountKind::application, ""},
      {repeat(e_acute, 19), AccountKind::application, "at least 20"},
      {repeat(e_acute, 20), AccountKind::application, ""},
      {repeat("x", 256), AccountKind::person, ""},
      {repeat("x", 257), AccountKind::person, "at most 256 bytes"},
      {repeat(smile, 64), AccountKind::person, ""},                         // exactly 256 bytes
      {repeat(smile, 64) + "x", AccountKind::person, "at most 256 bytes"},  // 65 characters, 257 bytes
      {"abcdefghij\xff", AccountKind::person, "could not be read"},
      {"abcdefghij\xc0\xaf", AccountKind::person, "could not be read"},
      {"abcdefghij\xed\xa0\x80", AccountKind::person, "could not be read"},
      {"abcdefghij\n", AccountKind::person, "control characters"},
      {"abcde\tfghij", AccountKind::person, "control characters"},
      {"abcdefghij\x7f", AccountKind::person, "control characters"},
      {std::string("abcde\0fghij", 11), AccountKind::person, "control characters"},
      {"ten chars!", AccountKind::person, ""},  // spaces and symbols are fine: no composition rules
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.password));
    expect_outcome(check_length(c.password, c.kind, cfg), c.want);
  }
}

TEST(PasswordLength, UsesConfiguredNumbers) {
  PasswordPolicyConfig cfg;
  cfg.min_chars = 12;
  cfg.max_bytes = 30;
  expect_outcome(check_length(repeat("x", 11), AccountKind::person, cfg), "at least 12 characters");
  expect_outcome(check_length(repeat("x", 12), AccountKind::person, cfg), "");
  expect_outcome(check_length(repeat("x", 31), AccountKind::application, cfg), "at most 30 bytes");
}

// ---- Names -------------------------------------------------------------------------------------

TEST(NameWords, SplitsFoldsAndDrops) {
  EXPECT_EQ(name_words("Dr Zo\xc3\xab \xc3\x85ngstr\xc3\xb6m-Smith", "zoe.angstrom2@trust.care.example", 3),
            (std::vector<std::string>{"zoe", "angstrom", "smith"}));
  EXPECT_EQ(name_words("Mrs Ada O'Neill", "", 3), (std::vector<std::string>{"ada", "neill"}));
  EXPECT_EQ(name_words("Jo Li", "jo.li@x.example", 3), std::vector<std::string>{});
  EXPECT_EQ(name_words("", "bsmith42@x.example", 3), std::vector<std::string>{"bsmith"});
  EXPECT_EQ(name_words("Jo Li", "", 2), (std::vector<std::string>{"jo", "li"}));
  // Ligatures and sharp s fold to two letters; a decomposed accent (NFD) folds the same as
  // a composed one.
  EXPECT_EQ(name_words("\xc3\x86thelstan Strau\xc3\x9f", "", 3), (std::vector<std::string>{"aethelstan", "strauss"}));
  EXPECT_EQ(name_words("Zoe\xcc\x88", "", 3), std::vector<std::string>{"zoe"});
  // Only the local part of the address counts.
  EXPECT_EQ(name_words("", "team@smithtrust.example", 3), std::vector<std::string>{"team"});
}

TEST(PasswordNames, Table) {
  const PasswordPolicyConfig cfg;
  struct Case {
    std::string display, address, password;
    bool refused;
  } cases[] = {
      {"Jane Smith", "jane.smith@trust.care.example", "SMITHfield river 9", true},
      {"Jane Smith", "jane.smith@trust.care.example", "my dog jAnE barks", true},
      {"Jane Smith", "jane.smith@trust.care.example", "blue kettle orbit", false},
      {"Jane Smith", "jane.smith@trust.care.example", "smit hjan ejones", false},
      {"Jo Li", "jo.li@x.example", "jolly lion jumps", false},  // words under 3 letters ignored
      {"Dr Sam O'Neill", "sam.oneill@x.example", "ONeill-2024-xyz", true},
      {"Dr Sam O'Neill", "sam.oneill@x.example", "drive the boat", false},  // "Dr" is no name
      {"Zo\xc3\xab \xc3\x85ngstr\xc3\xb6m", "", "angstrom-ruins-tea", true},
      {"Zo\xc3\xab \xc3\x85ngstr\xc3\xb6m", "", "ZO\xc3\x8b rides bikes", true},       // ZOË
      {"Zo\xc3\xab \xc3\x85ngstr\xc3\xb6m", "", "Zoe\xcc\x88 rides bikes", true},     // NFD
      {"Zoe Angstrom", "", "z\xc3\xb6\xc3\xa9 on a bike", true},                      // accents on the password side
      {"Zo\xc3\xab \xc3\x85ngstr\xc3\xb6m", "", "zo-e on a bike", false},
      {"", "bsmith42@x.example", "bsmith-horse-lamp", true},
      {"", "jane@smithtrust.example", "smithtrust-lovely", false},  // the domain is not a name
      {"Mrs Ada Lovelace", "", "mrs tuesday evening", false},      // honorifics dropped
      {"Mrs Ada Lovelace", "", "LOVELACE forever!", true},
      {"\xce\x91\xce\xbb\xce\xad\xce\xbe\xce\xb7\xcf\x82", "", "my \xce\x91\xce\xbb\xce\xad\xce\xbe\xce\xb7\xcf\x82 2024",
       true},  // Αλέξης: non-Latin names are compared exactly
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.display + " / " + c.address + " / " + c.password);
    expect_outcome(check_names(c.password, c.display, c.address, cfg),
                   c.refused ? "must not contain your name" : "");
  }
}

// ---- Common ---------------------------------------------------------------------------------------

TEST(PasswordCommon, ShippedListAndRules) {
  auto common = CommonPasswords::load();
  ASSERT_TRUE(common.ok()) << common.error().message;
  struct Case {
    std::string password;
    bool refused;
  } cases[] = {
      {"qwertyuiop", true},          // on the list as it is
      {"QwertyUIOP", true},          // any case
      {"manchester", true},
      {"password", true},
      {"Password123456", true},      // common word + trailing digits
      {"password!!!!!!", true},
      {"!!Manchester2024", true},    // leading and trailing padding
      {"2024 summer !", true},
      {"passwordpassword", true},    // repeated
      {"Summer1Summer1", true},      // repeated, each unit a common word + digit
      {"correct horse battery staple", false},
      {"9 lives of a cat", false},   // padding stripped, but "lives of a cat" is not common
      {"password-is-long-now", false},
      {"mypassword123", false},      // "mypassword" is not on the list (the breached list is the net)
      {"12345678901", false},        // digits only: rule 1 alone
      {"1234567890", true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.password);
    expect_outcome(check_common(c.password, *common), c.refused ? "one of the passwords most often guessed" : "");
  }
}

TEST(PasswordCommon, ExtraListsAreAdded) {
  testing::TempDir dir;
  const auto file = dir.path() / "local.txt";
  std::ofstream(file, std::ios::binary) << "#!comment: local list\r\nSt-Elsewhere\r\n\r\nblue-lagoon-trust\n";
  std::vector<std::filesystem::path> files{file};
  auto common = CommonPasswords::load(files);
  ASSERT_TRUE(common.ok()) << common.error().message;
  EXPECT_TRUE(common->is_common("st-elsewhere2024"));
  EXPECT_TRUE(common->is_common("Blue-Lagoon-Trust"));
  EXPECT_TRUE(common->is_common("password1"));  // the shipped list is still there
  EXPECT_FALSE(common->contains_entry("#!comment: local list"));
  EXPECT_FALSE(common->contains_entry(""));

  files.push_back(dir.path() / "missing.txt");
  auto missing = CommonPasswords::load(files);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::io);
  EXPECT_NE(missing.error().message.find("missing.txt"), std::string::npos);
}

// ---- History ----------------------------------------------------------------------------------------

// A cheap stand-in for Argon2id: "phc:" + password, counting calls.
struct FakeVerify {
  int* calls;
  bool operator()(std::string_view phc, std::string_view pw) const {
    ++*calls;
    return phc.size() == pw.size() + 4 && phc.starts_with("phc:") && phc.substr(4) == pw;
  }
};

TEST(PasswordHistory, OnlyTheLastNAreChecked) {
  const std::vector<std::string> history{"phc:current-one", "phc:second", "", "phc:fourth", "phc:fifth"};
  struct Case {
    std::string password;
    size_t count;
    std::string want;
    int max_calls;
  } cases[] = {
      {"current-one", 4, "must not be one of your last 4 passwords.", 1},
      {"second", 4, "last 4 passwords", 2},
      {"fourth", 4, "last 4 passwords", 3},  // the empty entry is skipped, not verified
      {"fifth", 4, "", 3},                   // fifth most recent: allowed again
      {"fifth", 5, "last 5 passwords", 4},
      {"brand-new", 4, "", 3},
      {"current-one", 1, "must not be the same as your current password.", 1},
      {"second", 1, "", 1},
      {"current-one", 0, "", 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.password + " count " + std::to_string(c.count));
    int calls = 0;
    expect_outcome(check_history(c.password, history, c.count, FakeVerify{&calls}), c.want);
    EXPECT_LE(calls, c.max_calls);
  }
}

TEST(PasswordHistory, RealArgon2Hashes) {
  // Two real hashes only: each costs ~80 ms.
  const std::vector<std::string> history{crypto::hash_password("Old password one"),
                                         crypto::hash_password("Old password two")};
  ASSERT_FALSE(history[0].empty());
  expect_outcome(check_history("Old password two", history, 4, argon2_verify()), "last 4 passwords");
  expect_outcome(check_history("old password two", history, 4, argon2_verify()), "");  // passwords are case-sensitive
  expect_outcome(check_history("Old password three", history, 4, argon2_verify()), "");
}

// ---- The whole check -------------------------------------------------------------------------------

TEST(PasswordPolicy, RulesRunInOrder) {
  auto policy = PasswordPolicy::load({});
  ASSERT_TRUE(policy.ok()) << policy.error().message;
  const std::vector<std::string> history{"phc:Kettle orbit 42", "phc:another one here"};
  struct Case {
    std::string password;
    AccountKind kind;
    std::string want;
  } cases[] = {
      {"smith", AccountKind::person, "at least 10 characters"},           // short beats name
      {"password", AccountKind::person, "at least 10 characters"},        // short beats common
      {"Smith password 1", AccountKind::person, "must not contain your name"},
      {"Password123456", AccountKind::person, "most often guessed"},
      {"Kettle orbit 42", AccountKind::person, "last 4 passwords"},
      {"Kettle orbit 42", AccountKind::application, "at least 20 characters"},
      {"Kettle orbit 43", AccountKind::person, ""},
      {"Kettle orbit 43 and a lamp", AccountKind::application, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.password);
    int calls = 0;
    PasswordChange change{c.password, c.kind, "Jane Smith", "jane.smith@trust.care.example", history};
    expect_outcome(policy->check(change, FakeVerify{&calls}), c.want);
  }
}

TEST(PasswordPolicy, DefaultCheckUsesArgon2) {
  auto policy = PasswordPolicy::load({});
  ASSERT_TRUE(policy.ok());
  const std::vector<std::string> history{crypto::hash_password("Kettle orbit 42")};
  PasswordChange change{"Kettle orbit 42", AccountKind::person, "Jane Smith", "jane.smith@x.example", history};
  expect_outcome(policy->check(change), "last 4 passwords");
  change.password = "Kettle orbit 43";
  expect_outcome(policy->check(change), "");
}

TEST(PasswordPolicy, BreachedListIsChecked) {
  testing::TempDir dir;
  const auto file = dir.path() / "pwned.txt";
  std::vector<std::string> hashes{sha1_hex_upper("Kettle orbit 42"), sha1_hex_upper("Tardis blue box 7")};
  std::sort(hashes.begin(), hashes.end());
  std::ofstream(file, std::ios::binary) << hashes[0] << ":12\r\n" << hashes[1] << ":3\r\n";
  PasswordPolicyConfig cfg;
  cfg.breached_list = file;
  auto policy = PasswordPolicy::load(cfg);
  ASSERT_TRUE(policy.ok()) << policy.error().message;
  PasswordChange change{"Tardis blue box 7", AccountKind::person, "Jane Smith", "jane.smith@x.example", {}};
  int calls = 0;
  expect_outcome(policy->check(change, FakeVerify{&calls}), "has appeared in a known data breach");
  change.password = "Tardis blue box 8";
  expect_outcome(policy->check(change, FakeVerify{&calls}), "");
}

TEST(PasswordPolicy, LoadReportsMissingFiles) {
  testing::TempDir dir;
  PasswordPolicyConfig cfg;
  cfg.breached_list = dir.path() / "pwned-passwords-sha1.txt";
  auto policy = PasswordPolicy::load(cfg);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.error().code, Errc::not_found);
  EXPECT_NE(policy.error().message.find("[password] breached_list"), std::string::npos) << policy.error().message;
  EXPECT_NE(policy.error().message.find("pwned-passwords-sha1.txt"), std::string::npos);

  PasswordPolicyConfig cfg2;
  cfg2.extra_common_lists.push_back(dir.path() / "nope.txt");
  auto policy2 = PasswordPolicy::load(cfg2);
  ASSERT_FALSE(policy2.ok());
  EXPECT_NE(policy2.error().message.find("[password] common_lists"), std::string::npos);
}

TEST(PasswordPolicyConfig, Validate) {
  EXPECT_TRUE(validate(PasswordPolicyConfig{}).ok());
  struct Case {
    void (*mutate)(PasswordPolicyConfig&);
    std::string want;
  } cases[] = {
      {[](PasswordPolicyConfig& c) { c.min_chars = 0; }, "min_length"},
      {[](PasswordPolicyConfig& c) { c.min_chars_application = 9; }, "min_length_application"},
      {[](PasswordPolicyConfig& c) { c.max_bytes = 19; }, "max_bytes"},
      {[](PasswordPolicyConfig& c) { c.max_bytes = 5000; }, "max_bytes"},
      {[](PasswordPolicyConfig& c) { c.history_count = 65; }, "history"},
      {[](PasswordPolicyConfig& c) { c.min_name_word = 1; }, "min_name_word"},
      {[](PasswordPolicyConfig& c) { c.expiry.period = std::chrono::days(0); }, "expiry_days"},
      {[](PasswordPolicyConfig& c) { c.expiry.reminder_days = {18, 0}; }, "reminder_days"},
      {[](PasswordPolicyConfig& c) { c.expiry.reminder_days = {365}; }, "reminder_days"},
      {[](PasswordPolicyConfig& c) { c.expiry.reminder_days = {5, 5}; }, "reminder_days lists 5 twice"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.want);
    PasswordPolicyConfig cfg;
    c.mutate(cfg);
    Status st = validate(cfg);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::invalid_argument);
    EXPECT_NE(st.error().message.find("[password] " + c.want), std::string::npos) << st.error().message;
    EXPECT_FALSE(PasswordPolicy::load(cfg).ok());
  }
}

// ---- Expiry ----------------------------------------------------------------------------------------

const SysSeconds kChanged{std::chrono::sys_days{std::chrono::year{2026} / 1 / 15} + 9h + 30min};

TEST(PasswordExpiry, ExpiresAfterThePeriod) {
  const ExpiryRules rules;
  const SysSeconds exp = expires_at(kChanged, rules);
  EXPECT_EQ(exp, kChanged + std::chrono::days(365));
  EXPECT_FALSE(is_expired(kChanged, kChanged, rules));
  EXPECT_FALSE(is_expired(kChanged, exp - 1s, rules));
  EXPECT_TRUE(is_expired(kChanged, exp, rules));
  EXPECT_TRUE(is_expired(kChanged, exp + std::chrono::days(400), rules));
  ExpiryRules short_rules{std::chrono::days(90), {7}};
  EXPECT_EQ(expires_at(kChanged, short_rules), kChanged + std::chrono::days(90));
}

TEST(PasswordExpiry, ReminderDue) {
  const ExpiryRules rules;
  const SysSeconds exp = expires_at(kChanged, rules);
  using D = std::chrono::days;
  struct Case {
    SysSeconds now;
    std::optional<int> last;
    std::optional<int> want;
  } cases[] = {
      {kChanged, std::nullopt, std::nullopt},
      {exp - D(18) - 1s, std::nullopt, std::nullopt},
      {exp - D(18), std::nullopt, 18},
      {exp - D(17), 18, std::nullopt},       // sent already
      {exp - D(10), 18, 10},
      {exp - D(10), 10, std::nullopt},
      {exp - D(4), 18, 5},                   // 10 was missed: only the most urgent goes
      {exp - D(4), std::nullopt, 5},
      {exp - 12h, 2, 1},
      {exp - 12h, 1, std::nullopt},
      {exp - 1s, std::nullopt, 1},
      {exp, std::nullopt, std::nullopt},     // expired: no reminder, expiry itself takes over
      {exp + D(3), 5, std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE((exp - c.now).count());
    EXPECT_EQ(reminder_due(kChanged, c.last, c.now, rules), c.want);
  }
}

TEST(PasswordExpiry, HourlyJobSendsEachReminderOnce) {
  const ExpiryRules rules;
  std::optional<int> last;
  std::vector<int> sent;
  for (SysSeconds now = kChanged; now < kChanged + std::chrono::days(380); now += 1h) {
    if (auto d = reminder_due(kChanged, last, now, rules)) {
      sent.push_back(*d);
      last = d;
      // Sent at the first hourly run on or after the day it was due.
      EXPECT_LT(now - (expires_at(kChanged, rules) - std::chrono::days(*d)), 1h);
    }
  }
  EXPECT_EQ(sent, (std::vector<int>{18, 10, 5, 2, 1}));
}

}  // namespace
}  // namespace caremail::identity

// The national password policy (PRODUCT.md S4, NCSC-aligned): length, no names, not
// recently used, not common, not breached; and when a password expires. Pure: no I/O
// except reading the lists once at start-up (password_lists.hpp), no clock (callers pass
// `now`), no store (callers pass the password history).
//
// Every refusal is a Status with Errc::invalid_argument and a message written for the
// person changing their password (front-ends show it as it is). It never repeats the
// password or any part of it, so it is safe to log.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "identity/password_lists.hpp"
#include "identity/verify_fn.hpp"

namespace caremail::identity {

// When a password expires and when to remind its owner.
struct ExpiryRules {
  std::chrono::days period{365};                // [password] expiry_days
  std::vector<int> reminder_days{18, 10, 5, 2, 1};  // [password] reminder_days: days before expiry
};

// Every number and file of the policy. The caller fills it from the TOML configuration;
// names in brackets are the intended option names.
struct PasswordPolicyConfig {
  size_t min_chars = 10;               // [password] min_length: Unicode code points
  size_t min_chars_application = 20;   // [password] min_length_application
  // [password] max_bytes. Why a maximum at all: Argon2id and every login protocol take the
  // whole password, so it bounds the work and the line length an attacker can make us
  // handle; 256 bytes leaves room for any passphrase.
  size_t max_bytes = 256;
  size_t history_count = 4;            // [password] history: last N passwords refused
  size_t min_name_word = 3;            // [password] min_name_word: shorter name words are ignored
  std::vector<std::filesystem::path> extra_common_lists;  // [password] common_lists
  // [password] breached_list: the SHA-1 Pwned Passwords file ordered by hash. Empty turns
  // the breached check off (development, tests); production configurations should set it,
  // and the configuration loader should warn when it is empty.
  std::filesystem::path breached_list;
  ExpiryRules expiry;
};

// Start-up validation of the numbers: Errc::invalid_argument naming the option.
Status validate(const PasswordPolicyConfig& config);

enum class AccountKind {
  person,       // a member of staff (and shared mailboxes, which people sign in to)
  application,  // a system that sends mail (scanners, clinical systems): longer passwords
};

// What the policy needs to judge one new password.
struct PasswordChange {
  std::string_view password;
  AccountKind kind = AccountKind::person;
  std::string_view display_name;  // "Dr Jane O'Neill"
  std::string_view address;       // "jane.oneill@trust.care.example": only the local part is used
  // Argon2id PHC strings of earlier passwords, most recent first, the current password
  // included (it is "one of the last 4"). Only the first history_count are checked.
  std::span<const std::string> history;
};

// ---- The rules, one function each (what check() runs, in this order) ----------------

// Valid UTF-8 (no overlong forms or surrogates), no control characters (they cannot be
// typed or sent in the login protocols: SASL PLAIN separates with NUL, IMAP and SMTP lines
// end in CRLF), at most max_bytes bytes, at least min_chars (or min_chars_application)
// code points. No composition rules, by NCSC guidance.
Status check_length(std::string_view password, AccountKind kind, const PasswordPolicyConfig& config);

// The person's name words: maximal runs of letters in the display name and in the local
// part of the address, at least min_name_word letters long, lower-cased, accents removed
// from Latin letters ("Zoë Ångström" → "zoe", "angstrom"), honorifics dropped ("Mrs",
// "Prof"). Non-Latin letters count as letters and are compared exactly.
std::vector<std::string> name_words(std::string_view display_name, std::string_view address, size_t min_word);

// Refuses when any name word appears anywhere in the password, ignoring case and Latin
// accents. REQUIRES: `password` is valid UTF-8 (check_length first).
Status check_names(std::string_view password, std::string_view display_name, std::string_view address,
                   const PasswordPolicyConfig& config);

// CommonPasswords::is_common; see password_lists.hpp for the rules.
Status check_common(std::string_view password, const CommonPasswords& common);

// Errc::temporary (not a refusal) when the list cannot be read: the person should try
// again later, and the caller should alert the operator.
Status check_breached(std::string_view password, const BreachedList& breached);

// Refuses when `password` verifies against any of the first `count` entries of `history`.
// Costs one Argon2id verification per entry (~80 ms each): run it on the password-check
// pool, not an I/O thread. Empty entries are skipped.
Status check_history(std::string_view password, std::span<const std::string> history, size_t count,
                     const VerifyFn& verify);

// ---- The policy, loaded once ------------------------------------------------------------

// Thread-safety: immutable after load(); check() may run on many threads at once.
// Move-only (it owns the breached list's file).
class PasswordPolicy {
 public:
  // Validates the config, loads the common lists (shipped and extra) and opens the
  // breached list when one is configured. Any error is a start-up error naming the option
  // or file.
  static Result<PasswordPolicy> load(PasswordPolicyConfig config);

  // For tests and tools: the given lists, no files read.
  PasswordPolicy(PasswordPolicyConfig config, CommonPasswords common, std::optional<BreachedList> breached);

  // Every rule, cheapest first, the first refusal returned: length, names, common,
  // breached, history. OK means the password may be set. `verify` checks history entries.
  Status check(const PasswordChange& change, const VerifyFn& verify) const;
  // The same with crypto::verify_password. REQUIRES: crypto::init() has run.
  Status check(const PasswordChange& change) const;

  const PasswordPolicyConfig& config() const noexcept { return config_; }
  const CommonPasswords& common() const noexcept { return common_; }

 private:
  PasswordPolicyConfig config_;
  CommonPasswords common_;
  std::optional<BreachedList> breached_;
};

// ---- Expiry -------------------------------------------------------------------------------

using SysSeconds = std::chrono::sys_seconds;

// The moment the password set at `last_change` expires.
SysSeconds expires_at(SysSeconds last_change, const ExpiryRules& rules);

// True from expires_at() on.
bool is_expired(SysSeconds last_change, SysSeconds now, const ExpiryRules& rules);

// Which reminder (in days before expiry, one of rules.reminder_days) a scheduled job
// should send now, if any. The reminder for d days is due from expires_at - d days; when
// several are due (the job did not run for a while) only the most urgent is sent, and
// none once the password has expired. `last_reminder_sent` is the value this function
// returned last time for the same password (nullopt when none was sent since the
// password changed): a reminder at or after it is never sent again, so each reminder goes
// out once even if the job runs every minute. The caller stores the returned value and
// clears it when the password changes.
std::optional<int> reminder_due(SysSeconds last_change, std::optional<int> last_reminder_sent, SysSeconds now,
                                const ExpiryRules& rules);

// ---- UTF-8 helper (shared with the tests) ------------------------------------------------

// The number of code points of `s`, or nullopt when `s` is not valid UTF-8.
std::optional<size_t> utf8_length(std::string_view s);

}  // namespace caremail::identity

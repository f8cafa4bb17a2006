#include "identity/password_policy.hpp"

#include <algorithm>
#include <array>
#include <set>

#include "crypto/crypto.hpp"

namespace caremail::identity {

namespace {

// ---- UTF-8 ---------------------------------------------------------------------------

// Decodes the code point at s[i] and advances i; nullopt on any invalid sequence
// (truncated, overlong, surrogate, above U+10FFFF), which is how UTF-8 must be rejected
// rather than guessed at.
std::optional<char32_t> next_code_point(std::string_view s, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  size_t len;
  char32_t cp;
  char32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return std::nullopt;
  }
  if (s.size() - i < len) return std::nullopt;
  for (size_t k = 1; k < len; ++k) {
    unsigned char b = byte(i + k);
    if ((b & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  i += len;
  return cp;
}

// ---- Folding for name comparison ---------------------------------------------------------

// Latin-1 Supplement U+00C0..U+00FF and Latin Extended-A U+0100..U+017F to lower-case
// ASCII. '*' marks the few that become two letters (handled in fold_latin), '-' the two
// symbols (× ÷) in the range.
constexpr std::string_view kLatin1 =
    "aaaaaa*ceeeeiiii"   // C0-CF (C6 Æ)
    "dnooooo-ouuuuy**"   // D0-DF (D7 ×, DE Þ, DF ß)
    "aaaaaa*ceeeeiiii"   // E0-EF (E6 æ)
    "dnooooo-ouuuuy*y";  // F0-FF (F7 ÷, FE þ)
constexpr std::string_view kLatinExtA =
    "aaaaaacccccccc" "dddd" "eeeeeeeeee" "gggggggg" "hhhh" "iiiiiiiiii" "**" "jj" "kkk" "llllllllll"
    "nnnnnnnnn" "oooooo" "**" "rrrrrr" "ssssssss" "tttttt" "uuuuuuuuuuuu" "ww" "yyy" "zzzzzz" "s";
static_assert(kLatin1.size() == 64);
static_assert(kLatinExtA.size() == 128);

// The ASCII letters a Latin letter folds to, or empty when `cp` is not one of them.
std::string_view fold_latin(char32_t cp) {
  switch (cp) {
    case 0xC6: case 0xE6: return "ae";
    case 0xDE: case 0xFE: return "th";
    case 0xDF: return "ss";
    case 0x132: case 0x133: return "ij";
    case 0x152: case 0x153: return "oe";
    default: break;
  }
  if (cp >= 0xC0 && cp <= 0xFF) {
    const char& c = kLatin1[cp - 0xC0];
    return c == '-' ? std::string_view{} : std::string_view(&c, 1);
  }
  if (cp >= 0x100 && cp <= 0x17F) return std::string_view(&kLatinExtA[cp - 0x100], 1);
  return {};
}

bool is_combining_mark(char32_t cp) { return cp >= 0x300 && cp <= 0x36F; }

// Letters for name splitting. ASCII and Latin letters exactly; beyond Latin, any code point
// outside the punctuation, symbol and emoji blocks, which is generous on purpose: a name
// word wrongly kept only makes the check stricter.
bool is_letter(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7) return false;
  if (cp <= 0x2AF) return true;                   // Latin-1 letters, Extended-A/B, IPA
  if (cp < 0x370) return false;                   // modifier letters, combining marks
  if (cp >= 0x2000 && cp <= 0x2BFF) return false; // punctuation, symbols, arrows, maths
  if (cp >= 0x3000 && cp <= 0x303F) return false; // CJK punctuation
  if (cp >= 0xFE00 && cp <= 0xFE6F) return false; // variation selectors, small forms
  if (cp >= 0xFF00 && cp <= 0xFF20) return false; // full-width punctuation
  if (cp >= 0x1F000 && cp <= 0x1FAFF) return false;  // emoji and pictographs
  return true;
}

// Lower-case ASCII, Latin letters to their base letters, combining marks dropped; every
// other code point kept as it is. REQUIRES: valid UTF-8.
std::string fold(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    std::optional<char32_t> cp = next_code_point(s, i);
    if (!cp) {  // not reachable for checked input; keep the byte rather than loop
      out.push_back(s[start]);
      i = start + 1;
      continue;
    }
    if (*cp < 0x80) {
      char c = static_cast<char>(*cp);
      out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
    } else if (std::string_view f = fold_latin(*cp); !f.empty()) {
      out.append(f);
    } else if (!is_combining_mark(*cp)) {
      out.append(s.substr(start, i - start));
    }
  }
  return out;
}

bool is_honorific(std::string_view w) {
  static constexpr std::array<std::string_view, 14> kTitles = {
      "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lady", "lord", "rev", "revd", "hon"};
  return std::find(kTitles.begin(), kTitles.end(), w) != kTitles.end();
}

void split_words(std::string_view s, size_t min_word, std::vector<std::string>& out) {
  std::string word;
  size_t letters = 0;
  auto flush = [&] {
    if (letters >= min_word && !is_honorific(word) &&
        std::find(out.begin(), out.end(), word) == out.end())
      out.push_back(word);
    word.clear();
    letters = 0;
  };
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    std::optional<char32_t> cp = next_code_point(s, i);
    if (!cp) {  // a name from the directory should be UTF-8; a bad byte ends a word
      flush();
      i = start + 1;
      continue;
    }
    if (is_combining_mark(*cp)) continue;  // "Zoe" + U+0308 is "Zoë"
    if (!is_letter(*cp)) {
      flush();
      continue;
    }
    word += fold(s.substr(start, i - start));
    ++letters;
  }
  flush();
}

Error refuse(std::string message) { return make_error(Errc::invalid_argument, std::move(message)); }

}  // namespace

const VerifyFn& argon2_verify() {
  static const VerifyFn kArgon2 = [](std::string_view phc, std::string_view secret) {
    return crypto::verify_password(phc, secret);
  };
  return kArgon2;
}

std::optional<size_t> utf8_length(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n)
    if (!next_code_point(s, i)) return std::nullopt;
  return n;
}

// ---- Rules ---------------------------------------------------------------------------------

Status check_length(std::string_view password, AccountKind kind, const PasswordPolicyConfig& config) {
  if (password.size() > config.max_bytes)
    return refuse("Your new password is too long: it can be at most " + std::to_string(config.max_bytes) +
                  " bytes (letters with accents and other symbols take two or more bytes each).");
  std::optional<size_t> chars = utf8_length(password);
  if (!chars) return refuse("Your new password contains characters that could not be read. Please type it again.");
  for (unsigned char c : password)
    if (c < 0x20 || c == 0x7f)
      return refuse("Your new password must not contain control characters such as tabs or line breaks.");
  if (kind == AccountKind::application) {
    if (*chars < config.min_chars_application)
      return refuse("Your new password must be at least " + std::to_string(config.min_chars_application) +
                    " characters long (application accounts need longer passwords).");
  } else if (*chars < config.min_chars) {
    return refuse("Your new password must be at least " + std::to_string(config.min_chars) + " characters long.");
  }
  return {};
}

std::vector<std::string> name_words(std::string_view display_name, std::string_view address, size_t min_word) {
  std::vector<std::string> words;
  split_words(display_name, min_word, words);
  size_t at = address.rfind('@');
  split_words(at == std::string_view::npos ? address : address.substr(0, at), min_word, words);
  return words;
}

Status check_names(std::string_view password, std::string_view display_name, std::string_view address,
                   const PasswordPolicyConfig& config) {
  const std::string folded = fold(password);
  for (const std::string& w : name_words(display_name, address, config.min_name_word))
    if (folded.find(w) != std::string::npos)
      return refuse("Your new password must not contain your name or the name in your email address.");
  return {};
}

Status check_common(std::string_view password, const CommonPasswords& common) {
  if (common.is_common(password))
    return refuse(
        "Your new password is one of the passwords most often guessed by attackers (or one of them with "
        "numbers or symbols added). Please choose another: three random words make a strong password.");
  return {};
}

Status check_breached(std::string_view password, const BreachedList& breached) {
  Result<bool> found = breached.find(password);
  if (!found)
    return make_error(Errc::temporary,
                      "We could not check your new password against the list of breached passwords just now. "
                      "Please try again in a few minutes.");
  if (*found)
    return refuse("Your new password has appeared in a known data breach, so attackers will try it. "
                  "Please choose a different one.");
  return {};
}

Status check_history(std::string_view password, std::span<const std::string> history, size_t count,
                     const VerifyFn& verify) {
  const size_t n = std::min(count, history.size());
  for (size_t i = 0; i < n; ++i) {
    if (history[i].empty() || !verify(history[i], password)) continue;
    if (count == 1) return refuse("Your new password must not be the same as your current password.");
    return refuse("Your new password must not be one of your last " + std::to_string(count) + " passwords.");
  }
  return {};
}

// ---- Configuration -----------------------------------------------------------------------

Status validate(const PasswordPolicyConfig& c) {
  auto bad = [](std::string msg) { return make_error(Errc::invalid_argument, "[password] " + std::move(msg)); };
  if (c.min_chars < 1) return bad("min_length must be at least 1");
  if (c.min_chars_application < c.min_chars) return bad("min_length_application must be at least min_length");
  // Every code point is at least one byte, so a maximum below a minimum refuses everything.
  if (c.max_bytes < c.min_chars_application) return bad("max_bytes must be at least min_length_application");
  if (c.max_bytes > 4096) return bad("max_bytes must be at most 4096 (login lines are bounded)");
  if (c.history_count > 64) return bad("history must be at most 64 (each costs an Argon2id check)");
  if (c.min_name_word < 2) return bad("min_name_word must be at least 2 (1 would refuse any shared letter)");
  if (c.expiry.period.count() < 1) return bad("expiry_days must be at least 1");
  std::set<int> seen;
  for (int d : c.expiry.reminder_days) {
    if (d < 1 || d >= c.expiry.period.count())
      return bad("reminder_days must each be between 1 and expiry_days - 1 (got " + std::to_string(d) + ")");
    if (!seen.insert(d).second) return bad("reminder_days lists " + std::to_string(d) + " twice");
  }
  return {};
}

// ---- PasswordPolicy -----------------------------------------------------------------------

PasswordPolicy::PasswordPolicy(PasswordPolicyConfig config, CommonPasswords common,
                               std::optional<BreachedList> breached)
    : config_(std::move(config)), common_(std::move(common)), breached_(std::move(breached)) {}

Result<PasswordPolicy> PasswordPolicy::load(PasswordPolicyConfig config) {
  if (Status st = validate(config); !st) return st.error();
  Result<CommonPasswords> common = CommonPasswords::load(config.extra_common_lists);
  if (!common) return make_error(common.error().code, "[password] common_lists: " + common.error().message);
  std::optional<BreachedList> breached;
  if (!config.breached_list.empty()) {
    Result<BreachedList> b = BreachedList::open(config.breached_list);
    if (!b) return make_error(b.error().code, "[password] breached_list: " + b.error().message);
    breached.emplace(std::move(b).value());
  }
  return PasswordPolicy(std::move(config), std::move(common).value(), std::move(breached));
}

Status PasswordPolicy::check(const PasswordChange& c, const VerifyFn& verify) const {
  if (Status st = check_length(c.password, c.kind, config_); !st) return st;
  if (Status st = check_names(c.password, c.display_name, c.address, config_); !st) return st;
  if (Status st = check_common(c.password, common_); !st) return st;
  if (breached_)
    if (Status st = check_breached(c.password, *breached_); !st) return st;
  return check_history(c.password, c.history, config_.history_count, verify);
}

Status PasswordPolicy::check(const PasswordChange& c) const { return check(c, argon2_verify()); }

// ---- Expiry ----------------------------------------------------------------------------------

SysSeconds expires_at(SysSeconds last_change, const ExpiryRules& rules) {
  return last_change + std::chrono::duration_cast<std::chrono::seconds>(rules.period);
}

bool is_expired(SysSeconds last_change, SysSeconds now, const ExpiryRules& rules) {
  return now >= expires_at(last_change, rules);
}

std::optional<int> reminder_due(SysSeconds last_change, std::optional<int> last_reminder_sent, SysSeconds now,
                                const ExpiryRules& rules) {
  const SysSeconds expiry = expires_at(last_change, rules);
  if (now >= expiry) return std::nullopt;
  std::optional<int> due;
  for (int d : rules.reminder_days)
    if (now >= expiry - std::chrono::days(d) && (!due || d < *due)) due = d;
  if (!due || (last_reminder_sent && *due >= *last_reminder_sent)) return std::nullopt;
  return due;
}

}  // namespace caremail::identity

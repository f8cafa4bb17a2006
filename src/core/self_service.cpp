// Self-service reset and unlock, and the helpdesk's account secret (PRODUCT.md S4).
//
// A person who forgot their password, or whose phone locked the account with an old one,
// proves who they are with their three security questions or their authenticator (a TOTP or
// recovery code), then sets a new password or just lifts the lock. Nobody learns from these
// answers whether an address exists: an unknown address gets three plausible questions
// chosen from its name with a keyed hash (the same ones every time), costs the same Argon2id
// work, and fails the same way. Wrong answers are recorded against the account (protocol
// "reset", shown to the person and their administrators) but do not count towards the
// sign-in lockout, which the reset exists to undo; their own limit is lockout.failures / 2
// attempts per lockout window, per address, in memory.
//
// The account secret is a phrase the person sets so that a helpdesk member can check a
// caller's identity before resetting anything: the helpdesk types what the caller says and
// learns only "match" or "no match"; each check is audited and mismatches are limited the
// same way.
#include "core/self_service.hpp"

#include <algorithm>
#include <cctype>

#include "common/ascii.hpp"
#include "common/json_text.hpp"
#include "common/log.hpp"
#include "core/admin_service.hpp"
#include "core/audit.hpp"
#include "core/scope.hpp"
#include "crypto/crypto.hpp"

namespace caremail {

namespace {

// Questions shown for an address that has none (unknown, or never set them): the same
// shape as a real answer, so the reply says nothing about the account.
constexpr const char* kDecoyQuestions[] = {
    "What was the name of your first pet?",
    "In which town were you born?",
    "What was the name of your primary school?",
    "What is your oldest sibling's middle name?",
    "What was the make of your first car?",
    "What is the name of the street you grew up on?",
    "What was your childhood nickname?",
    "In which town did your parents meet?",
    "What was the first concert you went to?",
    "What is your favourite book?",
};
constexpr size_t kDecoys = std::size(kDecoyQuestions);

// Case, spacing and punctuation do not matter ("St. Mary's" == "st marys", "church-lane" ==
// "Church Lane"): only letters and digits count; letters beyond ASCII are kept as typed.
std::string normalize_answer(std::string_view a) {
  std::string out;
  for (unsigned char c : a)
    if (c >= 0x80 || std::isalnum(c)) out += static_cast<char>(c < 0x80 ? std::tolower(c) : c);
  return out;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

SelfService::SelfService(IdentityContext& ctx, SignInService& sign_in, AdminService& admin)
    : ctx_(ctx), store_(ctx.store), config_(ctx.config), sign_in_(sign_in), admin_(admin) {}

Status SelfService::set_security_questions(const Principal& by, std::vector<SecurityQuestion> qa) {
  if (by.system) return make_error(Errc::invalid_argument, "the service itself has no security questions");
  if (by.restricted()) return make_error(Errc::permission_denied, "finish signing in first");
  if (qa.size() != 3) return make_error(Errc::invalid_argument, "give exactly three questions with their answers");
  std::vector<std::pair<std::string, std::string>> stored;
  std::vector<std::string> seen;
  for (auto& q : qa) {
    std::string question = trim(q.question);
    std::string answer = normalize_answer(q.answer);
    if (question.size() < 5 || question.size() > 200)
      return make_error(Errc::invalid_argument, "each question must be 5 to 200 characters");
    if (answer.size() < 3 || q.answer.size() > 200)
      return make_error(Errc::invalid_argument, "each answer must have at least 3 letters or digits (at most 200 characters)");
    std::string key = normalize_answer(question);
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      return make_error(Errc::invalid_argument, "the three questions must be different");
    seen.push_back(key);
    std::string phc = crypto::hash_password(answer);
    if (phc.empty()) return make_error(Errc::temporary, "out of memory hashing the answer");
    stored.emplace_back(std::move(question), std::move(phc));
  }
  if (Status s = store_.set_security_questions(by.account_id, stored); !s) return s;
  audit(store_, by, "security_questions.set", by.address, by.org_id, "ok");
  return {};
}

Result<std::vector<std::string>> SelfService::security_questions(const Principal& by) {
  if (by.system) return make_error(Errc::invalid_argument, "the service itself has no security questions");
  auto qa = store_.security_questions(by.account_id);
  if (!qa) return qa.error();
  std::vector<std::string> out;
  for (auto& [q, phc] : *qa) out.push_back(q);
  return out;
}

std::vector<std::string> SelfService::reset_questions(std::string_view address) {
  auto acct = store_.account_by_address(address);
  if (acct && acct->kind != AccountKind::shared) {
    if (auto qa = store_.security_questions(acct->id); qa && qa->size() == 3) {
      std::vector<std::string> out;
      for (auto& [q, phc] : *qa) out.push_back(q);
      return out;
    }
  }
  // Three distinct decoys picked by a keyed hash of the address: stable for an address,
  // unpredictable without the service key.
  auto h = crypto::keyed_hash(sign_in_.secret_key(), "reset-decoy:" + ascii_lower(address));
  std::vector<std::string> out;
  std::vector<size_t> picked;
  for (size_t i = 0; out.size() < 3 && i < h.size(); ++i) {
    size_t idx = h[i] % kDecoys;
    if (std::find(picked.begin(), picked.end(), idx) != picked.end()) continue;
    picked.push_back(idx);
    out.emplace_back(kDecoyQuestions[idx]);
  }
  for (size_t idx = 0; out.size() < 3; ++idx)
    if (std::find(picked.begin(), picked.end(), idx) == picked.end()) out.emplace_back(kDecoyQuestions[idx]);
  return out;
}

bool SelfService::reset_attempts_exhausted(const std::string& key, UnixTime t, bool add) {
  std::lock_guard lk(mu_);
  auto& at = reset_failures_[key];
  while (!at.empty() && at.front() <= t - config_.lockout.window_seconds) at.pop_front();
  if (add) at.push_back(t);
  size_t limit = static_cast<size_t>(std::max(3, config_.lockout.failures / 2));
  bool out = at.size() >= limit;
  if (at.empty()) reset_failures_.erase(key);
  return out;
}

Status SelfService::self_service_reset(const SelfServiceReset& r, const AuthContext& ctx) {
  static const std::string dummy = crypto::hash_password("caremail-reset-timing-equaliser");
  const UnixTime t = now();
  const std::string key = ascii_lower(r.address);
  constexpr const char* kNoMatch =
      "the answers or the code did not match; try again, or ask your local administrator or helpdesk";
  if (sign_in_.ip_blocked(ctx.peer, t) || reset_attempts_exhausted(key, t, false))
    return make_error(Errc::permission_denied,
                      "too many attempts; wait a while, or ask your local administrator or helpdesk");
  if (r.answers.empty() && r.code.empty())
    return make_error(Errc::invalid_argument, "give the answers to your three security questions, or a code from "
                                              "your authenticator app (or a recovery code)");
  if (!r.answers.empty() && r.answers.size() != 3)
    return make_error(Errc::invalid_argument, "give an answer to each of the three questions");
  // Validate the new password's shape before checking anything (a reply about it then
  // tells nothing about the account); the whole policy runs once the person is known.
  if (r.new_password && r.new_password->size() > 256)
    return make_error(Errc::invalid_argument, "password must be at most 256 bytes");

  // The same Argon2id work whether the address exists, has questions or a second factor:
  // three checks for answers; for a code, none for a TOTP code and a full set of recovery
  // codes' worth for a recovery code (second_factor_dummy_work).
  auto acct = store_.account_by_address(key);
  bool usable = acct && acct->kind != AccountKind::shared && acct->state != AccountState::deleted;
  bool proven = false;
  if (!r.answers.empty()) {
    auto qa = usable ? store_.security_questions(acct->id) : Result<std::vector<std::pair<std::string, std::string>>>(
                                                                 make_error(Errc::not_found, "none"));
    if (qa && qa->size() == 3) {
      bool all = true;
      for (size_t i = 0; i < 3; ++i)
        all = crypto::verify_password((*qa)[i].second, normalize_answer(r.answers[i])) && all;
      proven = all;
    } else {
      for (int i = 0; i < 3; ++i) (void)crypto::verify_password(dummy, normalize_answer(r.answers[i]));
    }
  } else {
    auto m = usable ? store_.mfa(acct->id) : Result<MfaState>(make_error(Errc::not_found, "none"));
    if (m && m->enabled)
      proven = sign_in_.check_second_factor(*acct, r.code, ctx, /*count_failure=*/false).ok();
    else
      SignInService::second_factor_dummy_work(r.code);
  }
  if (!proven) {
    reset_attempts_exhausted(key, t, true);
    sign_in_.note_ip_failure(ctx.peer, t);
    std::string reason = r.answers.empty() ? "second factor" : "security answers";
    if (usable) {
      // One durable write, as for an unknown address (note_unknown_failure).
      AuthFailure f;
      f.account_id = acct->id;
      f.at = t;
      f.protocol = "reset";
      f.peer = ctx.peer;
      f.client = ctx.client.substr(0, std::min<size_t>(ctx.client.size(), 200));
      f.reason = reason;
      AuditEvent e;
      e.actor = acct->address;
      e.action = "auth.self_service";
      e.target = acct->address;
      e.target_org = acct->org_id;
      e.outcome = "denied";
      e.detail = "{\"peer\":" + json_string(ctx.peer) + "}";
      (void)store_.record_auth_failure(f, std::move(e));
    } else {
      sign_in_.note_unknown_failure(key, ctx, "auth.self_service", reason, t);
    }
    return make_error(Errc::unauthenticated, kNoMatch);
  }
  if (acct->state == AccountState::disabled)
    return make_error(Errc::permission_denied, "your account is disabled; ask your local administrator");
  const Principal self = Principal::of(*acct);
  std::string revoked_detail;
  if (r.new_password) {
    if (Status s = admin_.check_new_password(*acct, *r.new_password); !s) return s;
    std::string hash = crypto::hash_password(*r.new_password);
    if (hash.empty()) return make_error(Errc::temporary, "out of memory hashing the password");
    if (Status s = store_.set_password_hash(acct->id, hash, t, false, static_cast<size_t>(config_.password.history));
        !s)
      return s;
    sign_in_.forget_password(acct->id);
    // A reset: every session, API token and app password made with the old password ends
    // (whoever lost control of the account gets it back whole).
    auto revoked = store_.revoke_credentials(acct->id, {}, {}, /*app_passwords=*/true);
    if (!revoked) return revoked.error();
    revoked_detail = ",\"revoked\":{\"sessions\":" + std::to_string(revoked->sessions) +
                     ",\"api_tokens\":" + std::to_string(revoked->api_tokens) +
                     ",\"app_passwords\":" + std::to_string(revoked->app_passwords) + "}";
  }
  if (Status s = store_.set_locked_until(acct->id, 0, true); !s) return s;
  audit(store_, self, r.new_password ? "password.self_reset" : "auth.self_unlock", acct->address, acct->org_id, "ok",
        std::string("{\"with\":") + (r.answers.empty() ? "\"second factor\"" : "\"security answers\"") +
            ",\"peer\":" + json_string(ctx.peer) + revoked_detail + "}");
  return {};
}

Status SelfService::set_account_secret(const Principal& by, std::string_view secret) {
  if (by.system) return make_error(Errc::invalid_argument, "the service itself has no account secret");
  if (by.restricted()) return make_error(Errc::permission_denied, "finish signing in first");
  std::string norm = normalize_answer(secret);
  if (norm.size() < 6 || secret.size() > 200)
    return make_error(Errc::invalid_argument, "the account secret needs at least 6 letters or digits (at most 200 characters)");
  std::string phc = crypto::hash_password(norm);
  if (phc.empty()) return make_error(Errc::temporary, "out of memory hashing the secret");
  if (Status s = store_.set_account_secret(by.account_id, phc, now()); !s) return s;
  audit(store_, by, "account_secret.set", by.address, by.org_id, "ok");
  return {};
}

Result<bool> SelfService::check_account_secret(const Principal& by, std::string_view address, std::string_view secret) {
  auto acct = account_in_scope(store_, by, address, "account_secret.check", /*self_ok=*/false, /*helpdesk_ok=*/true);
  if (!acct) return acct.error();
  const UnixTime t = now();
  std::string key = "secret:" + acct->address;
  if (reset_attempts_exhausted(key, t, false))
    return make_error(Errc::permission_denied, "too many wrong answers for this account's secret; try again later");
  auto phc = store_.account_secret(acct->id);
  if (!phc) {
    if (phc.error().code == Errc::not_found)
      return make_error(Errc::conflict, "this person has not set an account secret; check their identity another way");
    return phc.error();
  }
  bool match = crypto::verify_password(*phc, normalize_answer(secret));
  if (!match) {
    reset_attempts_exhausted(key, t, true);
    AuthFailure f;
    f.account_id = acct->id;
    f.at = t;
    f.protocol = "helpdesk";
    f.client = by.address;
    f.reason = "account secret";
    (void)store_.record_auth_failure(f);
  }
  audit(store_, by, "account_secret.check", acct->address, acct->org_id, match ? "ok" : "mismatch");
  return match;
}

}  // namespace caremail

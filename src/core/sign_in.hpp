// SignInService: proving who someone is, on every protocol (PRODUCT.md S4, S5): passwords
// and app passwords with throttling and lockout, API tokens, the restrictions a sign-in
// carries (forced change, expiry, the Acceptable Use Policy), the second-factor check, and
// the credentials around them (app passwords, the lock, the AUP, expiry reminders).
// Every refusal is recorded; authorisation of the calls that take a Principal is here
// (core/scope.hpp). Blocking (Argon2id); thread-safe. Implementation: core/sign_in.cpp.
#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/identity_context.hpp"
#include "core/password_cache.hpp"
#include "core/principal.hpp"
#include "crypto/crypto.hpp"

namespace caremail {

// Who is signing in and how (PRODUCT.md S4: failures are recorded with the device).
struct AuthContext {
  std::string protocol = "http";  // "imap", "smtp", "http", "ldap"
  std::string peer;               // client IP address ("" unknown)
  std::string client;             // what the client calls itself: IMAP ID name, EHLO name, User-Agent
  // IMAP and SMTP clients cannot show a page: a password that must be changed or has
  // expired, or an Acceptable Use Policy not yet accepted, refuses their sign-in with a
  // message that says where to go. Over the API the sign-in succeeds with a restricted
  // Principal that may only do that.
  bool mail_client = false;
  // SessionService::start_session: the second factor is asked for there, so MFA does not
  // refuse this password sign-in the way it refuses Basic and mail clients.
  bool starts_session = false;
};

struct SignIn {
  Principal principal;
  bool app_password = false;       // signed in with an app password
  std::string alert;               // for the person now (IMAP [ALERT]): e.g. password expiring
};

// A new app password: shown once.
struct NewAppPassword {
  AppPassword info;
  std::string secret;  // "abcd-efgh-jkmn-pqrs"
};

class SignInService {
 public:
  // REQUIRES: `ctx` outlives the service.
  explicit SignInService(IdentityContext& ctx);
  SignInService(const SignInService&) = delete;
  SignInService& operator=(const SignInService&) = delete;

  // Password (or app password) sign-in on any protocol, PRODUCT.md S4:
  // - per-IP throttling first (password spraying), then the account's lockout: failures on
  //   every protocol count together; lockout.failures within lockout.window_seconds lock it
  //   for lockout.lock_seconds (audited, and the cache of verified passwords forgets it);
  // - every failure is recorded with protocol, peer and client (auth_failures);
  // - a locked account is reported as locked only to someone who knows the password;
  //   everyone else gets the same "wrong address or password" as for an unknown address;
  // - app passwords (SHA-256 lookup) are tried before the account password;
  // - then the account's state, a forced change, expiry and the AUP (see AuthContext);
  // - a password that verified within server.password_cache_seconds skips Argon2id.
  // Errc::unauthenticated with a message for the person. Blocking (Argon2id).
  Result<SignIn> sign_in(std::string_view address, std::string_view password, const AuthContext& ctx);
  // sign_in over the API context, principal only.
  Result<Principal> authenticate_password(std::string_view address, std::string_view password);
  // An API token's Principal. An expired or revoked token authenticates nothing.
  Result<Principal> authenticate_token(std::string_view token);
  const PasswordCache& password_cache() const { return password_cache_; }

  // May an account in this state sign in? (active, inactive: it wakes up, leaver.)
  static bool may_sign_in(AccountState s);

  // Lockout, for the person and their administrators (helpdesk included), never on someone
  // with more rights (may_reset_credentials): a helpdesk does not read or clear a primary
  // administrator's failures. The same holds for app passwords.
  Status unlock(const Principal& by, std::string_view address);
  Result<std::vector<AuthFailure>> auth_failures(const Principal& by, std::string_view address, size_t limit = 100);

  // App passwords: the person themselves creates and revokes; administrators and helpdesk in
  // scope with at least the account's rights may list and revoke (a lost phone).
  Result<NewAppPassword> create_app_password(const Principal& by, std::string_view name);
  Result<std::vector<AppPassword>> list_app_passwords(const Principal& by, std::string_view address);
  Status revoke_app_password(const Principal& by, std::string_view address, int64_t id);

  // Acceptable Use Policy: national administrators publish; everyone reads and accepts.
  Result<AupVersion> publish_aup(const Principal& by, std::string_view text);
  Result<AupVersion> current_aup(const Principal& by);
  Status accept_aup(const Principal& by, int version);

  // The expiry job (runs every password.expiry_check_seconds): reminder mails at
  // password.reminder_days before expiry, each once. Returns how many were sent.
  // `notify` delivers a plain-text message to the person's INBOX.
  Result<int> send_expiry_reminders(const Notifier& notify);

  // Key that seals TOTP secrets at rest and keys the self-service decoys (caremaild passes
  // the service key; by default a random one, which does not survive a restart).
  void set_secret_key(const crypto::Key& key) { secret_key_ = key; }
  const crypto::Key& secret_key() const { return secret_key_; }

  // --- For the other identity services (sessions, self-service, accounts, life cycle) ---
  // Recovery codes an account gets (SessionService::confirm_totp).
  static constexpr size_t kRecoveryCodes = 10;
  // The AAD that binds a sealed TOTP secret to its account: one cannot be moved to another row.
  static std::string totp_aad(AccountId id);
  // Checks a TOTP or recovery code (replays refused).
  // `count_failure`: a wrong code counts towards the sign-in lockout (not for a reset).
  Status check_second_factor(const Account& acct, std::string_view code, const AuthContext& ctx,
                             bool count_failure = true);
  // The Argon2id work a failed check of `code` does against a full set of recovery codes,
  // less the `checked` already done, on nothing: every failure costs the same, and an
  // unknown address what a known one does.
  static void second_factor_dummy_work(std::string_view code, size_t checked = 0);
  // Must this account give a second factor (by role, national or organisation policy, not
  // from a trusted network)? mfa_applies: that, or it has one enabled.
  bool mfa_required(const Account& acct, const std::string& peer);
  bool mfa_applies(const Account& acct, const std::string& peer);
  // Restrictions of a password sign-in (forced change, expiry, AUP): refusals for mail
  // clients, flags on the Principal otherwise; an expiry alert.
  Status restrict(const Account& acct, bool app, const AuthContext& ctx, UnixTime now, SignIn& out);
  // A completed sign-in from `peer`: last login, familiar failure count reset (at most one
  // write a minute), and the peer's network remembered as familiar (at most once an hour).
  void record_login(const Account& acct, UnixTime now, const std::string& peer);
  // An inactive account signed in: active again (audited).
  void reactivate(const Account& acct, UnixTime t);
  // Per-IP failure counting against password spraying (in memory: a restart forgets).
  bool ip_blocked(const std::string& peer, UnixTime now);
  void note_ip_failure(const std::string& peer, UnixTime now);
  // Records a failure (with its audit event, one durable write) and locks the account, or
  // its unfamiliar networks, when it was one too many.
  void note_failure(const Account& acct, const AuthContext& ctx, std::string_view reason, UnixTime now);
  // A refused sign-in for an address without an account: audited in one durable write, as
  // note_failure does for a known one (the same cost: timing does not say who exists).
  void note_unknown_failure(std::string_view address, const AuthContext& ctx, std::string_view action,
                            std::string_view reason, UnixTime now);
  // The password changed or the account stopped: the cache of verified passwords forgets it.
  void forget_password(AccountId id) { password_cache_.forget(id); }

 private:
  UnixTime now() const { return ctx_.now(); }
  // Smart lockout: the peer's network ("192.0.2.0/24", "2001:db8::/64" by
  // lockout.familiar_prefix_v4/v6; "" for no usable address) and whether the account signed
  // in from it within lockout.familiar_days (also true when it has no familiar network at
  // all, or smart lockout is off with familiar_days = 0: then every failure counts towards
  // the one lock).
  std::string source_of(const std::string& peer) const;
  bool familiar(const Account& acct, const std::string& source, UnixTime now);
  // Tells the person a lock began and which devices failed (their INBOX, via ctx_.notify).
  void notify_lock(const Account& acct, bool unfamiliar_only, UnixTime until, UnixTime now);

  IdentityContext& ctx_;
  Store& store_;
  const Config& config_;
  PasswordCache password_cache_;
  crypto::Key secret_key_{};

  struct IpFailures {
    std::deque<UnixTime> at;   // failures within the window
    UnixTime blocked_until = 0;
  };
  std::mutex ip_mu_;
  std::unordered_map<std::string, IpFailures> ip_failures_;  // guarded by ip_mu_
};

}  // namespace caremail

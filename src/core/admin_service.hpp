// AdminService: organisations, accounts, passwords, API tokens and the first-start
// bootstrap. Every call is authorised here from the Principal (PRODUCT.md A2b scopes:
// national roles act everywhere, local administrators in their own organisation only)
// and every change is audited. The identity issue extends this with the full life cycle
// and password policy. Blocking; thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"
#include "common/config.hpp"
#include "core/password_cache.hpp"
#include "identity/password_policy.hpp"
#include "core/principal.hpp"
#include "crypto/crypto.hpp"
#include "store/store.hpp"

namespace caremail {

struct CreateAccountRequest {
  std::string address;
  std::string display_name;
  std::string ods_code;             // organisation
  AccountKind kind = AccountKind::person;
  std::vector<Role> roles{Role::user};
  std::string password;             // may be empty: no password yet (cannot log in)
  std::optional<uint64_t> quota_bytes;
  // The initial password is a temporary one: the person must change it at first sign-in
  // (mail clients are refused until then). Bulk provisioning usually sets no password.
  bool must_change_password = false;
};

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
  // start_session: the second factor is asked for there, so MFA does not refuse this
  // password sign-in the way it refuses Basic and mail clients.
  bool starts_session = false;
};

// A new sign-in session (web and API): the token goes into an HttpOnly cookie, the CSRF
// token into every state-changing request (X-CSRF-Token). Both shown once.
struct SessionStart {
  std::string token;
  std::string csrf_token;
  Principal principal;
  UnixTime idle_seconds = 0;
  UnixTime expires_at = 0;
  bool public_computer = false;
  std::string alert;
};

struct TotpEnrolment {
  std::string secret;       // base32, for typing into an authenticator app
  std::string otpauth_uri;  // for a QR code
};

struct SignIn {
  Principal principal;
  bool app_password = false;       // signed in with an app password
  std::string alert;               // for the person now (IMAP [ALERT]): e.g. password expiring
};

// A new password for an account (AdminService::set_password).
struct PasswordChange {
  std::string password;
  // The person's own change: their current password. Not needed when the request carried
  // it (HTTP Basic), in the forced-change flow of a fresh sign-in, or by the service.
  std::optional<std::string> current_password;
  // Every app password of the account ends too unless this is set (the person's phones
  // then keep working; after an administrator's reset they are still refused until the
  // person has chosen a new password).
  bool keep_app_passwords = false;
  // Or, for an account enrolled in MFA, a fresh code from its authenticator (TOTP, or a
  // recovery code): the second factor proves the person as well as the password would.
  std::optional<std::string> mfa_code;
};

// A new API token: the token is shown once, the rest is what listings show.
struct NewApiToken {
  ApiToken info;
  std::string token;  // "cm_..."
};

// A new app password: shown once.
struct NewAppPassword {
  AppPassword info;
  std::string secret;  // "abcd-efgh-jkmn-pqrs"
};

// One of the three security questions a person sets for self-service reset.
struct SecurityQuestion {
  std::string question;
  std::string answer;  // hashed (Argon2id) after normalising case, spaces and punctuation
};

// A self-service reset or unlock (no sign-in): the three answers in the order the questions
// were given, or a code from the authenticator (TOTP or recovery code). With a new
// password: reset; without: unlock only.
struct SelfServiceReset {
  std::string address;
  std::vector<std::string> answers;
  std::string code;
  std::optional<std::string> new_password;
};

// What one run of the life-cycle job did.
struct LifecycleRun {
  int inactive = 0;            // active -> inactive
  int deleted = 0;             // inactive, unclaimed leavers, long-disabled -> deleted
  int purged = 0;              // deleted past the restore window: mail and account removed
  int addresses_released = 0;  // addresses free again after their lock
};

struct BootstrapResult {
  bool created = false;        // false: the service was already set up
  std::string admin_address;
  std::string admin_password;  // only when generated here (shown once, never logged)
  std::string api_token;       // only when created here
};

class AdminService {
 public:
  // `policy` null: the policy of `config` with the shipped common list only (tests).
  // `clock` is read for every expiry, lockout and life-cycle rule (tests pass a TestClock).
  AdminService(Store& store, const Config& config, std::shared_ptr<const identity::PasswordPolicy> policy = nullptr,
               Clock clock = {});

  // On first start: the national organisation (config [national]) and a first national
  // administrator. `address`/`password` empty: admin@<domain> and a generated password.
  // Also issues an API token for caremailctl. Idempotent.
  Result<BootstrapResult> bootstrap(std::string address, std::string password);

  Result<Organisation> create_organisation(const Principal& by, NewOrganisation o);
  Result<std::vector<Organisation>> list_organisations(const Principal& by);
  Result<Account> create_account(const Principal& by, CreateAccountRequest r);
  Result<std::vector<Account>> list_accounts(const Principal& by, std::optional<std::string> ods_code);
  Result<Account> get_account(const Principal& by, std::string_view address);
  // get_account by id (SCIM names users by id): the same rules, the same not_found for an
  // account out of scope as for one that does not exist.
  Result<Account> get_account_by_id(const Principal& by, AccountId id);
  // The ODS code of organisation `id`, "" when there is none. No principal: every
  // directory entry shows its organisation's code; this only turns an id into it.
  std::string ods_code(OrgId id);
  // For GET /healthz: whether the store answers. No principal: it says nothing else.
  Status check_store();
  // A reset (someone else's password: may_reset_credentials) or the person's own change
  // (the current password needed, see PasswordChange). Either way every web session and
  // API token of the account ends, and every app password unless kept; on an own change
  // the session or token making it goes on (Principal::credential_hash). Audited with the
  // counts of what ended; a wrong current password counts towards the lockout.
  Status set_password(const Principal& by, std::string_view address, const PasswordChange& change);
  Status set_password(const Principal& by, std::string_view address, std::string_view password) {
    return set_password(by, address, PasswordChange{std::string(password), std::nullopt, false});
  }
  // Suspends or lifts the suspension of an account's sending (PRODUCT.md S6).
  // Administrators in scope; audited.
  Status set_sending_suspended(const Principal& by, std::string_view address, bool suspended);
  // Issues a new API token for the principal itself (shown once), ending after
  // api.token_seconds (application accounts: api.application_token_seconds).
  Result<NewApiToken> issue_api_token(const Principal& by, std::string_view name);
  // An account's tokens (never the secret): the person, and administrators and helpdesk in
  // scope with at least the account's rights (may_reset_credentials). Revoking: the same.
  Result<std::vector<ApiToken>> list_api_tokens(const Principal& by, std::string_view address);
  Status revoke_api_token(const Principal& by, std::string_view address, int64_t id);
  // caremaild at start, with the token in data_dir/admin.token ("" when none): a new
  // operator token (api.operator_token_seconds) for the first national administrator when
  // that one no longer works (unknown, revoked, expired, its account no longer a national
  // administrator who may sign in) or has less than a third of its life left; the old one
  // is revoked. nullopt: keep the file as it is. Audited.
  Result<std::optional<std::string>> renew_operator_token(std::string_view current);

  // Authentication. An expired or revoked token authenticates nothing.
  Result<Principal> authenticate_token(std::string_view token);
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
  const PasswordCache& password_cache() const { return password_cache_; }

  // Sign-in sessions (PRODUCT.md S4, S7). start_session: password (lockout etc. as
  // sign_in), then the second factor when the account has one or must have one: `code` is a
  // TOTP code or a recovery code; without it the answer is Errc::unauthenticated with the
  // message "second factor required" (the API adds "mfa_required": true). A person who must
  // use MFA and has not set it up gets a session restricted to enrolling.
  // `public_computer`: the short idle limit (mfa.public_session_idle_seconds).
  Result<SessionStart> start_session(std::string_view address, std::string_view password, std::string_view code,
                                     bool public_computer, const AuthContext& ctx);
  // The Principal of a live session (restrictions recomputed each time). `csrf`: the token
  // the request carried when it changes anything (nullopt for reads). Ends idle and expired
  // sessions, and those of accounts no longer active or locked.
  Result<Principal> authenticate_session(std::string_view token, std::optional<std::string_view> csrf);
  Status end_session(std::string_view token);

  // TOTP enrolment by the person: begin (a new secret, not yet active), then confirm with a
  // code from the app, which turns it on and returns 10 recovery codes (shown once).
  Result<TotpEnrolment> begin_totp(const Principal& by);
  Result<std::vector<std::string>> confirm_totp(const Principal& by, std::string_view code);
  // Removes an account's second factor: the person (with a current code) or helpdesk and
  // administrators in scope (a lost phone; audited). Their sessions end.
  Status remove_mfa(const Principal& by, std::string_view address, std::string_view code = {},
                    const AuthContext& ctx = {});
  // An organisation's MFA policy: administrators of that organisation or national ones.
  // Networks in CIDR notation, at most 50.
  Status set_org_mfa_policy(const Principal& by, std::string_view ods_code, bool required,
                            std::vector<std::string> trusted_networks);
  // Key that seals TOTP secrets at rest (caremaild passes the service key; by default a
  // random one, which does not survive a restart).
  void set_secret_key(const crypto::Key& key) { secret_key_ = key; }

  // Lockout, for the person and their administrators (helpdesk included), never on someone
  // with more rights (may_reset_credentials): a helpdesk does not read or clear a primary
  // administrator's failures. The same holds for app passwords and API tokens.
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
  using Notify = std::function<Status(const Account& to, std::string subject, std::string body)>;
  Result<int> send_expiry_reminders(const Notify& notify);

  // The audit log (PRODUCT.md S9): national roles read all of it; auditors and local
  // administrators their own organisation's (events by or about it).
  Result<std::vector<AuditEvent>> audit_events(const Principal& by, int64_t after_id, size_t limit);
  // The outbound queue, for operators: national roles.
  Result<std::vector<OutboundEntry>> outbound_queue(const Principal& by, size_t limit);

  // --- Self-service reset and the account secret (PRODUCT.md S4; core/self_service.cpp) ---
  Status set_security_questions(const Principal& by, std::vector<SecurityQuestion> qa);
  // The person's own questions (texts only); empty when none are set.
  Result<std::vector<std::string>> security_questions(const Principal& by);
  // The questions to ask someone resetting `address`: theirs, or three stable decoys for an
  // address without any (so the answer never says whether an account exists).
  std::vector<std::string> reset_questions(std::string_view address);
  // Errc::unauthenticated with the same message whether the address exists or not.
  Status self_service_reset(const SelfServiceReset& r, const AuthContext& ctx);
  Status set_account_secret(const Principal& by, std::string_view secret);
  // Helpdesk and administrators in scope check what a caller says against the person's
  // secret: true/false, audited; Errc::conflict when none is set.
  Result<bool> check_account_secret(const Principal& by, std::string_view address, std::string_view secret);

  // --- Life cycle (PRODUCT.md A2, A3, A6; see core/lifecycle.cpp) ---------------------------
  // May an account in this state sign in? (active, inactive: it wakes up, leaver.)
  static bool may_sign_in(AccountState s);
  // The old organisation marks a leaver: administrator roles and a larger quota go, the
  // address and mail stay; a new organisation claims it within leaver_claim_days or it is
  // deleted. Administrators of the account's organisation.
  Status mark_leaver(const Principal& by, std::string_view address);
  // An administrator of the new organisation claims a leaver as a joiner (national
  // administrators name the organisation with `ods_code`; others claim into their own).
  Result<Account> claim_joiner(const Principal& by, std::string_view address, std::string_view ods_code = {});
  // disabled (from active/inactive), active (enable: from disabled/inactive), deleted
  // (restorable for lifecycle.restore_days). Administrators in scope, never on themselves.
  Status change_state(const Principal& by, std::string_view address, AccountState to);
  Status restore_account(const Principal& by, std::string_view address);
  // National administrators only: an account on legal hold is never deleted.
  Status set_legal_hold(const Principal& by, std::string_view address, bool hold);
  // Roles (PRODUCT.md A2b): national administrators grant any; a primary local
  // administrator the organisation's local_admin, local_helpdesk, authoriser and auditor;
  // a local administrator local_helpdesk. Nobody changes their own.
  Status set_roles(const Principal& by, std::string_view address, std::vector<Role> roles);
  // Display name and the organisation's own identifier (SCIM externalId): administrators
  // in scope. nullopt leaves a field as it is.
  Status update_profile(const Principal& by, std::string_view address, std::optional<std::string> display_name,
                        std::optional<std::string> external_id);
  // Aliases: administrators in scope, in one of the organisation's domains; a removed alias
  // is kept from anyone else for lifecycle.address_lock_days.
  Status add_alias(const Principal& by, std::string_view address, std::string_view alias);
  Status remove_alias(const Principal& by, std::string_view address, std::string_view alias);
  // A quota above the kind's default uses one of the organisation's larger quotas.
  Status set_quota(const Principal& by, std::string_view address, uint64_t bytes);
  // Closure or merger (national administrators): accounts and domains move to the successor.
  Status close_organisation(const Principal& by, std::string_view ods_code, std::string_view successor);
  Status set_quota_allowance(const Principal& by, std::string_view ods_code, int accounts);
  // The scheduled job (every lifecycle.check_seconds). `forget_index` removes a purged
  // account's full-text index.
  Result<LifecycleRun> run_lifecycle(const std::function<void(AccountId)>& forget_index = {});
  // Tells a person about their account (leaver, inactive); delivers to their INBOX.
  void set_notifier(Notify n) { notifier_ = std::move(n); }
  // Called with an account's id after every change that may show in the directory
  // (DirectoryService::refresh): creation, roles, names, state, organisation; and with the
  // directory ids (model/types.hpp) of the contacts and lists a closure moved.
  void set_observer(std::function<void(AccountId)> o) { observer_ = std::move(o); }

  // The clock (tests move it).
  void set_clock(Clock clock) { clock_ = std::move(clock); }
  UnixTime now() const { return clock_.now(); }

  // Length only (no names, lists or history): the first check of the national policy.
  static Status check_password(std::string_view password, AccountKind kind);
  // The whole national policy for `password` as `acct`'s new password (history included:
  // one Argon2id check per remembered password).
  Status check_new_password(const Account& acct, std::string_view password);
  // The configured policy (lists loaded): for caremaild's start-up.
  static Result<std::shared_ptr<const identity::PasswordPolicy>> load_policy(const Config& config);
  // An address's syntax: local@domain, 3-254 characters, a dot-atom local part of at most 64,
  // a host-name domain. The service's own addresses allow letters, digits and . - _ + before
  // the @; `external` ones (directory contacts, list members) all of RFC 5322's atext.
  static Status validate_address(std::string_view address, bool external = false);
  static Status validate_ods_code(std::string_view ods);

 private:
  // May `by` administer accounts of organisation `org`?
  bool may_administer(const Principal& by, OrgId org) const;
  // May `by` give or take away role `r` (in an organisation it administers)? PRODUCT.md A2b.
  static bool may_grant(const Principal& by, Role r);
  // May `by` reset `target`'s password or second factor (a take-over of the account)?
  // Never someone with more rights: helpdesk only plain users, local administrators not
  // other administrators, primary local administrators not each other, national roles
  // only by national administrators.
  bool may_reset_credentials(const Principal& by, const Account& target) const;

  uint64_t default_quota(AccountKind kind) const;
  // An account an administrator manages (life cycle, roles): in scope, not themselves, and
  // not someone with more rights.
  Result<Account> account_to_manage(const Principal& by, std::string_view address, std::string_view action);
  // A quota for an account of `kind` in `org` (between 1 MB and quota.max_mailbox_bytes;
  // above the default only within the organisation's allowance, which `except` does not use).
  Status check_quota(const Principal& by, OrgId org, AccountKind kind, uint64_t bytes, AccountId except,
                     std::string_view target);
  // An inactive account signed in: active again (audited).
  void reactivate(const Account& acct, UnixTime t);
  // A completed sign-in from `peer`: last login, familiar failure count reset (at most one
  // write a minute), and the peer's network remembered as familiar (at most once an hour).
  void record_login(const Account& acct, UnixTime now, const std::string& peer);
  // Smart lockout: the peer's network ("192.0.2.0/24", "2001:db8::/64" by
  // lockout.familiar_prefix_v4/v6; "" for no usable address) and whether the account signed
  // in from it within lockout.familiar_days (also true when it has no familiar network at
  // all, or smart lockout is off with familiar_days = 0: then every failure counts towards
  // the one lock).
  std::string source_of(const std::string& peer) const;
  bool familiar(const Account& acct, const std::string& source, UnixTime now);
  // Tells the person a lock began and which devices failed (their INBOX, via the notifier).
  void notify_lock(const Account& acct, bool unfamiliar_only, UnixTime until, UnixTime now);
  // The Argon2id work a failed check of `code` does against a full set of recovery codes,
  // less the `checked` already done, on nothing: every failure costs the same, and an
  // unknown address what a known one does.
  static void second_factor_dummy_work(std::string_view code, size_t checked = 0);
  // Restrictions of a password sign-in (forced change, expiry, AUP): refusals for mail
  // clients, flags on the Principal otherwise; an expiry alert.
  Status restrict(const Account& acct, bool app, const AuthContext& ctx, UnixTime now, SignIn& out);
  // Must this account give a second factor (by role, national or organisation policy, not
  // from a trusted network)? mfa_applies: that, or it has one enabled.
  bool mfa_required(const Account& acct, const std::string& peer);
  bool mfa_applies(const Account& acct, const std::string& peer);
  // Checks a TOTP or recovery code (replays refused); failures count towards lockout.
  // `count_failure`: a wrong code counts towards the sign-in lockout (not for a reset).
  Status check_second_factor(const Account& acct, std::string_view code, const AuthContext& ctx,
                             bool count_failure = true);
  // Wrong self-service answers (and account-secret checks) per key within the lockout
  // window: true when the limit is reached. `add` records one more.
  bool reset_attempts_exhausted(const std::string& key, UnixTime t, bool add);

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
  // Administrators in scope of `address` (or the person themselves when `self_ok`); the
  // account or not_found / permission_denied (audited as `action`).
  Result<Account> account_in_scope(const Principal& by, std::string_view address, std::string_view action,
                                   bool self_ok, bool helpdesk_ok);
  // Someone's sign-ins (app passwords, API tokens, failures, the lock): the person when
  // `self_ok`, or administrators and helpdesk in scope who may_reset_credentials.
  Result<Account> credentials_in_scope(const Principal& by, std::string_view address, std::string_view action,
                                       bool self_ok);
  Result<NewApiToken> issue_token(const Account& acct, std::string_view name, UnixTime lifetime);

  Store& store_;
  const Config& config_;
  std::shared_ptr<const identity::PasswordPolicy> policy_;
  PasswordCache password_cache_;
  Clock clock_;
  crypto::Key secret_key_{};
  Notify notifier_;
  std::function<void(AccountId)> observer_;
  void changed(AccountId id) {
    if (observer_) observer_(id);
  }

  struct IpFailures {
    std::deque<UnixTime> at;   // failures within the window
    UnixTime blocked_until = 0;
  };
  std::mutex ip_mu_;
  std::unordered_map<std::string, IpFailures> ip_failures_;  // guarded by ip_mu_
  std::unordered_map<std::string, std::deque<UnixTime>> reset_failures_;  // guarded by ip_mu_
};

}  // namespace caremail

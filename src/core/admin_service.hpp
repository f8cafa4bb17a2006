// AdminService: organisations, accounts, passwords and the password policy, API tokens,
// the audit log and the outbound queue for operators, and the first-start bootstrap.
// Every call is authorised here from the Principal (core/scope.hpp: national roles act
// everywhere, local administrators in their own organisation only) and every change is
// audited. The other identity services: signing in (core/sign_in.hpp), sessions and MFA
// (core/sessions.hpp), self-service reset (core/self_service.hpp), the life cycle
// (core/lifecycle.hpp); core/identity_services.hpp wires them. Blocking; thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "core/identity_context.hpp"
#include "core/principal.hpp"
#include "identity/password_policy.hpp"
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

struct BootstrapResult {
  bool created = false;        // false: the service was already set up
  std::string admin_address;
  std::string admin_password;  // only when generated here (shown once, never logged)
  std::string api_token;       // only when created here
};

class SignInService;

class AdminService {
 public:
  // `policy` null: the policy of the configuration with the shipped common list only (tests).
  // REQUIRES: `ctx` and `sign_in` outlive the service.
  AdminService(IdentityContext& ctx, SignInService& sign_in,
               std::shared_ptr<const identity::PasswordPolicy> policy = nullptr);
  AdminService(const AdminService&) = delete;
  AdminService& operator=(const AdminService&) = delete;

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
  // (SignInService::authenticate_token checks one.)
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

  // The audit log (PRODUCT.md S9): national roles read all of it; auditors and local
  // administrators their own organisation's (events by or about it).
  Result<std::vector<AuditEvent>> audit_events(const Principal& by, int64_t after_id, size_t limit);
  // The outbound queue, for operators: national roles.
  Result<std::vector<OutboundEntry>> outbound_queue(const Principal& by, size_t limit);

  // The identity services' clock.
  UnixTime now() const { return ctx_.now(); }

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

  // The quota an account of `kind` gets by default.
  uint64_t default_quota(AccountKind kind) const;
  // A quota for an account of `kind` in `org` (between 1 MB and quota.max_mailbox_bytes;
  // above the default only within the organisation's allowance, which `except` does not use).
  Status check_quota(const Principal& by, OrgId org, AccountKind kind, uint64_t bytes, AccountId except,
                     std::string_view target);

 private:
  Result<NewApiToken> issue_token(const Account& acct, std::string_view name, UnixTime lifetime);

  IdentityContext& ctx_;
  Store& store_;
  const Config& config_;
  SignInService& sign_in_;
  std::shared_ptr<const identity::PasswordPolicy> policy_;
};

}  // namespace caremail

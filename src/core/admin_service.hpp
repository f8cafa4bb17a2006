// AdminService: organisations, accounts, passwords, API tokens and the first-start
// bootstrap. Every call is authorised here from the Principal (PRODUCT.md A2b scopes:
// national roles act everywhere, local administrators in their own organisation only)
// and every change is audited. The identity issue extends this with the full life cycle
// and password policy. Blocking; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "core/principal.hpp"
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
};

struct BootstrapResult {
  bool created = false;        // false: the service was already set up
  std::string admin_address;
  std::string admin_password;  // only when generated here (shown once, never logged)
  std::string api_token;       // only when created here
};

class AdminService {
 public:
  AdminService(Store& store, const Config& config) : store_(store), config_(config) {}

  // On first start: the national organisation (config [national]) and a first national
  // administrator. `address`/`password` empty: admin@<domain> and a generated password.
  // Also issues an API token for caremailctl. Idempotent.
  Result<BootstrapResult> bootstrap(std::string address, std::string password);

  Result<Organisation> create_organisation(const Principal& by, NewOrganisation o);
  Result<std::vector<Organisation>> list_organisations(const Principal& by);
  Result<Account> create_account(const Principal& by, CreateAccountRequest r);
  Result<std::vector<Account>> list_accounts(const Principal& by, std::optional<std::string> ods_code);
  Result<Account> get_account(const Principal& by, std::string_view address);
  Status set_password(const Principal& by, std::string_view address, std::string_view password);
  // Suspends or lifts the suspension of an account's sending (PRODUCT.md S6).
  // Administrators in scope; audited.
  Status set_sending_suspended(const Principal& by, std::string_view address, bool suspended);
  // Issues a new API token for the principal itself; returns the token (shown once).
  Result<std::string> issue_api_token(const Principal& by, std::string_view name);

  // Authentication (the identity issue adds lockout, MFA and app passwords).
  Result<Principal> authenticate_token(std::string_view token);
  Result<Principal> authenticate_password(std::string_view address, std::string_view password);

  // Minimal password rule until the identity issue brings the national policy: at least 10
  // characters (PRODUCT.md S4), 20 for application accounts, at most 256.
  static Status check_password(std::string_view password, AccountKind kind);
  static Status validate_address(std::string_view address);
  static Status validate_ods_code(std::string_view ods);

 private:
  // May `by` administer accounts of organisation `org`?
  bool may_administer(const Principal& by, OrgId org) const;

  Store& store_;
  const Config& config_;
};

}  // namespace caremail

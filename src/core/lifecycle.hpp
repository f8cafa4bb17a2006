// LifecycleService: an account's life cycle, roles, profile, aliases and quota, and the
// closure of organisations (PRODUCT.md A1-A3, A2b, A6). Administrators in scope
// (core/scope.hpp), never on themselves or someone with more rights; every move audited.
// Blocking; thread-safe. Implementation (and the states): core/lifecycle.cpp.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/identity_context.hpp"
#include "core/principal.hpp"

namespace caremail {

class AdminService;
class SignInService;

// What one run of the life-cycle job did.
struct LifecycleRun {
  int inactive = 0;            // active -> inactive
  int deleted = 0;             // inactive, unclaimed leavers, long-disabled -> deleted
  int purged = 0;              // deleted past the restore window: mail and account removed
  int addresses_released = 0;  // addresses free again after their lock
};

class LifecycleService {
 public:
  // REQUIRES: `ctx`, `sign_in` and `admin` (quotas, address rules) outlive the service.
  LifecycleService(IdentityContext& ctx, SignInService& sign_in, AdminService& admin);
  LifecycleService(const LifecycleService&) = delete;
  LifecycleService& operator=(const LifecycleService&) = delete;

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
  // account's full-text index. Tells people through the context's notify.
  Result<LifecycleRun> run_lifecycle(const std::function<void(AccountId)>& forget_index = {});

 private:
  UnixTime now() const { return ctx_.now(); }
  // An account an administrator manages (life cycle, roles): in scope, not themselves, and
  // not someone with more rights.
  Result<Account> account_to_manage(const Principal& by, std::string_view address, std::string_view action);

  IdentityContext& ctx_;
  Store& store_;
  const Config& config_;
  SignInService& sign_in_;
  AdminService& admin_;
};

}  // namespace caremail

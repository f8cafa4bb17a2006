#include "core/scope.hpp"

#include <algorithm>

#include "core/audit.hpp"

namespace caremail {

bool is_local_admin(const Principal& p) { return p.has(Role::local_admin) || p.has(Role::primary_local_admin); }

bool is_local_admin(const Account& a) { return a.has_role(Role::local_admin) || a.has_role(Role::primary_local_admin); }

bool is_local_staff(const Principal& p) { return is_local_admin(p) || p.has(Role::local_helpdesk); }

bool administers_nationally(const Principal& by) {
  return !by.restricted() && (by.system || by.has(Role::national_admin));
}

bool administers(const Principal& by, OrgId org) {
  if (by.restricted()) return false;
  return administers_nationally(by) || (is_local_admin(by) && by.org_id == org);
}

bool sees_accounts_of(const Principal& by, OrgId org) {
  return by.national() || (is_local_staff(by) && by.org_id == org);
}

bool may_grant(const Principal& by, Role r) {
  if (by.system || by.has(Role::national_admin)) return true;
  if (r == Role::user) return false;
  if (by.has(Role::primary_local_admin))
    return r == Role::local_admin || r == Role::local_helpdesk || r == Role::authoriser || r == Role::auditor;
  if (by.has(Role::local_admin)) return r == Role::local_helpdesk;
  return false;
}

bool may_reset_credentials(const Principal& by, const Account& target) {
  if (by.system || (by.has(Role::national_admin) && !by.restricted())) return true;
  if (by.restricted()) return false;
  auto holds = [&](Role r) { return target.has_role(r); };
  if (holds(Role::national_admin) || holds(Role::national_helpdesk)) return false;
  bool plain_user = std::all_of(target.roles.begin(), target.roles.end(), [](Role r) { return r == Role::user; });
  if (by.has(Role::national_helpdesk)) return plain_user;
  if (by.org_id != target.org_id) return false;
  if (by.has(Role::primary_local_admin)) return !holds(Role::primary_local_admin);
  if (by.has(Role::local_admin)) return !holds(Role::primary_local_admin) && !holds(Role::local_admin);
  if (by.has(Role::local_helpdesk)) return plain_user;
  return false;
}

Result<Account> account_in_scope(Store& store, const Principal& by, std::string_view address,
                                 std::string_view action, bool self_ok, bool helpdesk_ok) {
  auto acct = store.account_by_address(address);
  if (!acct) return acct.error();
  if (self_ok && by.account_id == acct->id && !by.system) return acct;
  bool ok = administers(by, acct->org_id);
  if (!ok && helpdesk_ok && !by.restricted()) {
    ok = by.has(Role::national_helpdesk) || (by.has(Role::local_helpdesk) && by.org_id == acct->org_id);
  }
  // Accounts with national roles are managed by national administrators only.
  bool holds_national = acct->has_role(Role::national_admin) || acct->has_role(Role::national_helpdesk);
  if (ok && holds_national && !by.system && !by.has(Role::national_admin) && by.account_id != acct->id) ok = false;
  if (!ok) {
    audit(store, by, action, acct->address, acct->org_id, "denied");
    if (!by.system && !by.national() && acct->org_id != by.org_id)
      return make_error(Errc::not_found, "no account " + std::string(address));
    return make_error(Errc::permission_denied, "you may not do this for this account");
  }
  return acct;
}

Result<Account> credentials_in_scope(Store& store, const Principal& by, std::string_view address,
                                     std::string_view action, bool self_ok) {
  auto acct = account_in_scope(store, by, address, action, self_ok, /*helpdesk_ok=*/true);
  if (!acct) return acct;
  if (by.account_id == acct->id && !by.system) return acct;  // in scope, and never above one's own rank
  // A helpdesk reading a primary administrator's failures or revoking their phone's app
  // password acts above its rank (issue 14): the rank of a take-over applies.
  if (!may_reset_credentials(by, *acct)) {
    audit(store, by, action, acct->address, acct->org_id, "denied", "{\"reason\":\"rank\"}");
    return make_error(Errc::permission_denied, "you may not act on the sign-ins of someone with more rights than yours");
  }
  return acct;
}

}  // namespace caremail

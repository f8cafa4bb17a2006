// Who is acting. Every core service call takes one; authorisation decides from it alone.
#pragma once

#include <string>
#include <vector>

#include "model/types.hpp"

namespace caremail {

struct Principal {
  AccountId account_id = 0;
  std::string address;       // "system" for the service itself
  OrgId org_id = 0;
  std::vector<Role> roles;
  bool system = false;       // local delivery, scheduled jobs: not a person
  // Signed in but restricted until the person acts (PRODUCT.md S4, S5): may only change
  // their own password / accept the Acceptable Use Policy. Checked by the core services.
  bool must_change_password = false;
  bool aup_pending = false;
  bool restricted() const { return must_change_password || aup_pending; }

  static Principal of(const Account& a) { return Principal{a.id, a.address, a.org_id, a.roles, false, false, false}; }
  static Principal service() { return Principal{0, "system", 0, {}, true, false, false}; }

  bool has(Role r) const {
    for (Role x : roles) if (x == r) return true;
    return false;
  }
  bool national() const { return has(Role::national_admin) || has(Role::national_helpdesk); }
};

}  // namespace caremail

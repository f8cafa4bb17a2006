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
  bool mfa_enrolment_pending = false;  // MFA is required and not set up yet: may only enrol
  bool mfa = false;                    // signed in with a second factor (a session)
  bool restricted() const { return must_change_password || aup_pending || mfa_enrolment_pending; }

  static Principal of(const Account& a) {
    Principal p;
    p.account_id = a.id;
    p.address = a.address;
    p.org_id = a.org_id;
    p.roles = a.roles;
    return p;
  }
  static Principal service() {
    Principal p;
    p.address = "system";
    p.system = true;
    return p;
  }

  bool has(Role r) const {
    for (Role x : roles) if (x == r) return true;
    return false;
  }
  bool national() const { return has(Role::national_admin) || has(Role::national_helpdesk); }
};

}  // namespace caremail

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

  // How this request proved who it is. Changing one's own password needs the current one
  // unless the request carried it (HTTP Basic: `password`) or this is the forced-change
  // flow of a fresh sign-in (`forced_change_sign_in`: a session started after the password
  // had to be changed). An API token never counts as either (AdminService::set_password).
  enum class Via { none, password, session, token };
  Via via = Via::none;
  bool forced_change_sign_in = false;
  // SHA-256 of the session cookie or API token this request used: kept when the person
  // changes their own password with it (every other session and token ends).
  std::string credential_hash;

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

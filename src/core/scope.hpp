// Who may act on what: the organisation scopes of PRODUCT.md A2b, written once for every
// core service. National roles act everywhere; local administrators (local_admin,
// primary_local_admin) and helpdesk (local_helpdesk) in their own organisation only. A
// restricted Principal (Principal::restricted) administers nothing. Pure functions of the
// Principal (and the target account), except account_in_scope and credentials_in_scope,
// which read the store and audit their refusals. Thread-safe.
#pragma once

#include <string_view>

#include "core/principal.hpp"
#include "store/store.hpp"

namespace caremail {

// Holds a local administrator role (local_admin or primary_local_admin), in its own
// organisation. Role only: no organisation, no restriction checked.
bool is_local_admin(const Principal& p);
bool is_local_admin(const Account& a);
// A local administrator or local helpdesk (role only, as is_local_admin).
bool is_local_staff(const Principal& p);

// Is `by` an administrator of every organisation: the service or a national administrator,
// not restricted.
bool administers_nationally(const Principal& by);
// Is `by` an administrator of organisation `org`: administers_nationally, or a local
// administrator of `org`; never when restricted.
bool administers(const Principal& by, OrgId org);
// May `by` see the accounts of organisation `org` (not their mail): national roles, and
// the local administrators and helpdesk of `org`. Restriction not checked here.
bool sees_accounts_of(const Principal& by, OrgId org);

// May `by` give or take away role `r` (in an organisation it administers)? National
// administrators all; a primary local administrator the organisation's other roles
// (local_admin, local_helpdesk, authoriser, auditor); a local administrator local_helpdesk.
bool may_grant(const Principal& by, Role r);
// May `by` reset `target`'s password or second factor (a take-over of the account)?
// Never someone with more rights: helpdesk only plain users, local administrators not
// other administrators, primary local administrators not each other, national roles
// only by national administrators.
bool may_reset_credentials(const Principal& by, const Account& target);

// Administrators in scope of `address` (helpdesk too when `helpdesk_ok`, the person
// themselves when `self_ok`); accounts with national roles only for national
// administrators. The account, or not_found (out of the caller's organisation: no
// enumeration) / permission_denied, audited as `action`.
Result<Account> account_in_scope(Store& store, const Principal& by, std::string_view address,
                                 std::string_view action, bool self_ok, bool helpdesk_ok);
// Someone's sign-ins (app passwords, API tokens, failures, the lock): the person when
// `self_ok`, or administrators and helpdesk in scope who may_reset_credentials.
Result<Account> credentials_in_scope(Store& store, const Principal& by, std::string_view address,
                                     std::string_view action, bool self_ok);

}  // namespace caremail

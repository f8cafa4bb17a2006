// LifecycleService: account life cycle, roles, quotas and organisation closure
// (PRODUCT.md A1-A3, A2b, A6); contracts in lifecycle.hpp.
//
// States: active -> inactive (no sign-in for lifecycle.inactive_after_days; a sign-in makes
// it active again) -> deleted (lifecycle.delete_after_days - inactive_after_days later);
// leaver (marked by the old organisation) -> active in the organisation that claims it, or
// deleted after leaver_claim_days; disabled (by an administrator) -> deleted after
// disabled_keep_days; deleted -> restored by an administrator within restore_days, else
// purged: mail, mailboxes and credentials removed, the addresses kept from anyone else
// until address_lock_days after the deletion. Legal hold stops every step towards
// deletion. The scheduled job (run_lifecycle) makes the time-driven moves; every move is
// audited.
#include "core/lifecycle.hpp"

#include <algorithm>
#include <iterator>

#include "common/ascii.hpp"
#include "common/json_text.hpp"
#include "common/log.hpp"
#include "common/time_text.hpp"
#include "core/admin_service.hpp"
#include "core/audit.hpp"
#include "core/scope.hpp"
#include "core/sign_in.hpp"

namespace caremail {

namespace {

constexpr UnixTime kDay = 86400;

Error denied(std::string what) { return make_error(Errc::permission_denied, std::move(what)); }

bool org_scoped(Role r) {
  return r == Role::local_admin || r == Role::primary_local_admin || r == Role::local_helpdesk ||
         r == Role::authoriser || r == Role::auditor;
}

std::string roles_text(const std::vector<Role>& roles) {
  std::string out;
  for (Role r : roles) out += (out.empty() ? "" : ",") + std::string(to_string(r));
  return out;
}

}  // namespace

LifecycleService::LifecycleService(IdentityContext& ctx, SignInService& sign_in, AdminService& admin)
    : ctx_(ctx), store_(ctx.store), config_(ctx.config), sign_in_(sign_in), admin_(admin) {}

Result<Account> LifecycleService::account_to_manage(const Principal& by, std::string_view address,
                                                    std::string_view action) {
  auto acct = account_in_scope(store_, by, address, action, /*self_ok=*/false, /*helpdesk_ok=*/false);
  if (!acct) return acct;
  if (acct->id == by.account_id && !by.system)
    return make_error(Errc::invalid_argument, "you cannot do this to your own account; ask another administrator");
  // Not on someone with more rights: a local administrator cannot demote, disable or delete
  // the primary local administrator, nobody but national administrators a national role.
  // Peers may (the other primary marks a departing one a leaver); taking over a peer's
  // credentials is another matter (may_reset_credentials).
  bool ok = by.system || by.has(Role::national_admin);
  if (!ok && !acct->has_role(Role::national_admin) && !acct->has_role(Role::national_helpdesk))
    ok = by.has(Role::primary_local_admin) || (by.has(Role::local_admin) && !acct->has_role(Role::primary_local_admin));
  if (!ok) {
    audit(store_, by, action, acct->address, acct->org_id, "denied", "{\"reason\":\"rank\"}");
    return denied("you may not do this to an administrator with more rights than yours");
  }
  return acct;
}

Status LifecycleService::mark_leaver(const Principal& by, std::string_view address) {
  auto acct = account_to_manage(by, address, "account.leaver");
  if (!acct) return acct.error();
  if (acct->state != AccountState::active && acct->state != AccountState::inactive)
    return make_error(Errc::conflict, "only an active or inactive account can be marked a leaver (this one is " +
                                          std::string(to_string(acct->state)) + ")");
  if (acct->kind != AccountKind::person)
    return make_error(Errc::invalid_argument, "shared mailboxes and application accounts stay with their organisation; "
                                              "delete them instead");
  // Administrator roles and a larger quota belong to the organisation, not the person.
  uint64_t quota = std::min(acct->quota_bytes, admin_.default_quota(acct->kind));
  UnixTime t = now();
  if (Status s = store_.mark_leaver(acct->id, quota, t); !s) return s;
  ctx_.changed(acct->id);
  (void)store_.delete_sessions(acct->id);  // roles changed: sign in again
  audit(store_, by, "account.leaver", acct->address, acct->org_id, "ok",
        "{\"roles_removed\":" + json_string(roles_text(acct->roles)) + ",\"quota_bytes\":" + std::to_string(quota) +
            "}");
  if (ctx_.notify) {
    UnixTime until = t + int64_t{config_.lifecycle.leaver_claim_days} * kDay;
    (void)ctx_.notify(*acct, "Your account is ready to move with you",
                    "Your organisation has marked you as leaving. You keep your address " + acct->address +
                        " and your mail.\r\n\r\nWhen you join another health or care organisation, ask its local "
                        "administrator to claim your account as a joiner before " +
                        date_text(until) +
                        ". If nobody claims it by then, the account and its mail will be deleted.\r\n\r\nBefore "
                        "you go, make sure mail that belongs to your old role is filed in your organisation's "
                        "records and not carried over.\r\n");
  }
  return {};
}

Result<Account> LifecycleService::claim_joiner(const Principal& by, std::string_view address, std::string_view ods_code) {
  if (by.restricted()) return denied("finish signing in first");
  OrgId to = by.org_id;
  if (!ods_code.empty()) {
    auto org = store_.organisation_by_ods(ods_code);
    if (!org) {
      if (org.error().code == Errc::not_found)
        return make_error(Errc::invalid_argument, "no organisation with ODS code " + std::string(ods_code));
      return org.error();
    }
    to = org->id;
  }
  auto org = store_.organisation(to);
  if (!org) return org.error();
  auto acct = store_.account_by_address(address);
  if (!acct) return acct.error();
  if (!administers(by, to)) {
    audit(store_, by, "account.join", acct->address, to, "denied");
    return denied("only administrators of the new organisation claim a joiner");
  }
  if (!org->open) return make_error(Errc::conflict, "organisation " + org->ods_code + " is closed");
  if (acct->state != AccountState::leaver)
    return make_error(Errc::conflict, "only a leaver can be claimed; ask the person's current organisation to mark "
                                      "them as a leaver first");
  if (Status s = store_.move_account(acct->id, to, now()); !s) return s.error();
  ctx_.changed(acct->id);
  audit(store_, by, "account.join", acct->address, to, "ok",
        "{\"from_org\":" + std::to_string(acct->org_id) + ",\"to\":" + json_string(org->ods_code) + "}");
  return store_.account(acct->id);
}

Status LifecycleService::change_state(const Principal& by, std::string_view address, AccountState to) {
  const char* action = to == AccountState::disabled ? "account.disable"
                       : to == AccountState::deleted ? "account.delete"
                                                     : "account.enable";
  auto acct = account_to_manage(by, address, action);
  if (!acct) return acct.error();
  AccountState from = acct->state;
  if (to == AccountState::deleted && acct->legal_hold)
    return make_error(Errc::conflict, "the account is on legal hold and cannot be deleted");
  bool ok = false;
  switch (to) {
    case AccountState::disabled: ok = from == AccountState::active || from == AccountState::inactive; break;
    case AccountState::deleted: ok = from != AccountState::deleted; break;
    case AccountState::active: ok = from == AccountState::disabled || from == AccountState::inactive; break;
    default: break;
  }
  if (!ok)
    return make_error(Errc::conflict, "the account is " + std::string(to_string(from)) + "; it cannot be " +
                                          (to == AccountState::active ? std::string("enabled")
                                                                      : std::string(to_string(to))) +
                                          (to == AccountState::active && from == AccountState::deleted
                                               ? " (restore it instead)"
                                               : ""));
  if (Status s = store_.set_account_state(acct->id, to, now()); !s) return s;
  ctx_.changed(acct->id);
  if (to != AccountState::active) {
    (void)store_.delete_sessions(acct->id);
    sign_in_.forget_password(acct->id);
  }
  audit(store_, by, action, acct->address, acct->org_id, "ok",
        "{\"from\":" + json_string(to_string(from)) + "}");
  return {};
}

Status LifecycleService::restore_account(const Principal& by, std::string_view address) {
  auto acct = account_to_manage(by, address, "account.restore");
  if (!acct) return acct.error();
  if (acct->state != AccountState::deleted)
    return make_error(Errc::conflict, "the account is not deleted (it is " + std::string(to_string(acct->state)) + ")");
  auto org = store_.organisation(acct->org_id);
  if (org && !org->open) return make_error(Errc::conflict, "the account's organisation is closed");
  if (Status s = store_.set_account_state(acct->id, AccountState::active, now()); !s) return s;
  ctx_.changed(acct->id);
  audit(store_, by, "account.restore", acct->address, acct->org_id, "ok");
  return {};
}

Status LifecycleService::set_legal_hold(const Principal& by, std::string_view address, bool hold) {
  auto acct = store_.account_by_address(address);
  if (!acct) return acct.error();
  if (!administers_nationally(by)) {
    audit(store_, by, "account.legal_hold", acct->address, acct->org_id, "denied");
    if (!by.national() && acct->org_id != by.org_id) return make_error(Errc::not_found, "no account " + std::string(address));
    return denied("only national administrators place or lift a legal hold");
  }
  if (Status s = store_.set_legal_hold(acct->id, hold); !s) return s;
  audit(store_, by, "account.legal_hold", acct->address, acct->org_id, "ok",
        std::string("{\"hold\":") + (hold ? "true" : "false") + "}");
  return {};
}

Status LifecycleService::set_roles(const Principal& by, std::string_view address, std::vector<Role> roles) {
  auto acct = account_to_manage(by, address, "account.roles");
  if (!acct) return acct.error();
  if (std::find(roles.begin(), roles.end(), Role::user) == roles.end()) roles.insert(roles.begin(), Role::user);
  std::sort(roles.begin(), roles.end());
  roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
  std::vector<Role> before = acct->roles;
  std::sort(before.begin(), before.end());
  std::vector<Role> diff;
  std::set_symmetric_difference(before.begin(), before.end(), roles.begin(), roles.end(), std::back_inserter(diff));
  if (diff.empty()) return {};
  for (Role r : diff)
    if (!may_grant(by, r)) {
      audit(store_, by, "account.roles", acct->address, acct->org_id, "denied",
            "{\"role\":" + json_string(to_string(r)) + "}");
      return denied("you may not give or remove the role " + std::string(to_string(r)));
    }
  if (acct->kind != AccountKind::person && roles.size() > 1)
    return make_error(Errc::invalid_argument, "only personal accounts hold administrator roles");
  if (acct->state != AccountState::active && acct->state != AccountState::inactive && roles.size() > 1)
    return make_error(Errc::conflict, "a " + std::string(to_string(acct->state)) + " account cannot hold administrator roles");
  if (Status s = store_.set_roles(acct->id, roles); !s) return s;
  ctx_.changed(acct->id);
  audit(store_, by, "account.roles", acct->address, acct->org_id, "ok",
        "{\"from\":" + json_string(roles_text(acct->roles)) + ",\"to\":" + json_string(roles_text(roles)) + "}");
  return {};
}

Status LifecycleService::update_profile(const Principal& by, std::string_view address,
                                    std::optional<std::string> display_name, std::optional<std::string> external_id) {
  auto acct = account_in_scope(store_, by, address, "account.profile", /*self_ok=*/false, /*helpdesk_ok=*/false);
  if (!acct) return acct.error();
  auto printable = [](const std::string& s) {
    return std::none_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
  };
  if (display_name && (display_name->empty() || display_name->size() > 200 || !printable(*display_name)))
    return make_error(Errc::invalid_argument, "a display name must be 1 to 200 printable characters");
  if (external_id && (external_id->size() > 200 || !printable(*external_id)))
    return make_error(Errc::invalid_argument, "an external id must be at most 200 printable characters");
  if (Status s = store_.set_profile(acct->id, display_name, external_id); !s) return s;
  if (display_name) ctx_.changed(acct->id);
  std::string detail = "{";
  if (display_name) detail += "\"display_name\":" + json_string(*display_name);
  if (external_id) detail += std::string(display_name ? "," : "") + "\"external_id\":" + json_string(*external_id);
  audit(store_, by, "account.profile", acct->address, acct->org_id, "ok", detail + "}");
  return {};
}

Status LifecycleService::add_alias(const Principal& by, std::string_view address, std::string_view alias_in) {
  auto acct = account_in_scope(store_, by, address, "account.alias_add", /*self_ok=*/false, /*helpdesk_ok=*/false);
  if (!acct) return acct.error();
  std::string alias = ascii_lower(alias_in);
  if (Status s = AdminService::validate_address(alias); !s) return s;
  auto owner = store_.organisation_for_domain(alias.substr(alias.find('@') + 1));
  if (!owner || (*owner != acct->org_id && !(by.system || by.has(Role::national_admin))))
    return make_error(Errc::invalid_argument, "an alias must be in one of the organisation's domains");
  if (auto until = store_.address_reserved_until(alias); until)
    return make_error(Errc::already_exists, alias + " belonged to someone else and cannot be used before " +
                                                date_text(*until));
  if (Status s = store_.add_alias(acct->id, alias); !s) return s;
  audit(store_, by, "account.alias_add", acct->address, acct->org_id, "ok", "{\"alias\":" + json_string(alias) + "}");
  return {};
}

Status LifecycleService::remove_alias(const Principal& by, std::string_view address, std::string_view alias) {
  auto acct = account_in_scope(store_, by, address, "account.alias_remove", /*self_ok=*/false, /*helpdesk_ok=*/false);
  if (!acct) return acct.error();
  UnixTime t = now();
  if (Status s = store_.remove_alias(acct->id, alias, t, t + int64_t{config_.lifecycle.address_lock_days} * kDay); !s)
    return s;
  audit(store_, by, "account.alias_remove", acct->address, acct->org_id, "ok",
        "{\"alias\":" + json_string(alias) + "}");
  return {};
}

Status LifecycleService::set_quota(const Principal& by, std::string_view address, uint64_t bytes) {
  auto acct = account_in_scope(store_, by, address, "account.quota", /*self_ok=*/false, /*helpdesk_ok=*/false);
  if (!acct) return acct.error();
  if (bytes > admin_.default_quota(acct->kind) && acct->state == AccountState::leaver && !by.has(Role::national_admin))
    return make_error(Errc::conflict, "a leaver keeps the default quota until a new organisation claims them");
  if (Status s = admin_.check_quota(by, acct->org_id, acct->kind, bytes, acct->id, acct->address); !s) return s;
  if (Status s = store_.set_quota_limit(acct->id, bytes); !s) return s;
  audit(store_, by, "account.quota", acct->address, acct->org_id, "ok",
        "{\"from\":" + std::to_string(acct->quota_bytes) + ",\"to\":" + std::to_string(bytes) + "}");
  return {};
}

Status LifecycleService::close_organisation(const Principal& by, std::string_view ods_code, std::string_view successor) {
  auto org = store_.organisation_by_ods(ods_code);
  if (!org) return org.error();
  if (!administers_nationally(by)) {
    audit(store_, by, "organisation.close", org->ods_code, org->id, "denied");
    return denied("only national administrators close or merge organisations");
  }
  if (org->ods_code == config_.national.ods_code) return make_error(Errc::invalid_argument, "the national organisation cannot be closed");
  auto succ = store_.organisation_by_ods(successor);
  if (!succ) {
    if (succ.error().code == Errc::not_found)
      return make_error(Errc::invalid_argument, "no successor organisation with ODS code " + std::string(successor));
    return succ.error();
  }
  auto accounts = store_.list_accounts(org->id);
  if (!accounts) return accounts.error();
  auto contacts = store_.contacts(org->id);
  if (!contacts) return contacts.error();
  auto lists = store_.lists(org->id);
  if (!lists) return lists.error();
  if (Status s = store_.close_organisation(org->id, succ->id, now()); !s) return s;
  // Their organisation-scoped roles are gone: sessions start again with the new rights.
  int stripped = 0;
  for (const auto& a : *accounts) ctx_.changed(a.id);
  // Directory contacts and lists moved (or, for duplicate contacts, went) with the domains.
  for (const auto& c : *contacts) ctx_.changed(static_cast<AccountId>(c.directory_id()));
  for (const auto& l : *lists) ctx_.changed(static_cast<AccountId>(l.directory_id()));
  for (const auto& a : *accounts)
    if (std::any_of(a.roles.begin(), a.roles.end(), org_scoped)) {
      (void)store_.delete_sessions(a.id);
      ++stripped;
    }
  audit(store_, by, "organisation.close", org->ods_code, org->id, "ok",
        "{\"successor\":" + json_string(succ->ods_code) + ",\"accounts_moved\":" + std::to_string(accounts->size()) +
            ",\"roles_removed_from\":" + std::to_string(stripped) + "}");
  return {};
}

Status LifecycleService::set_quota_allowance(const Principal& by, std::string_view ods_code, int accounts) {
  auto org = store_.organisation_by_ods(ods_code);
  if (!org) return org.error();
  if (!administers_nationally(by)) {
    audit(store_, by, "organisation.quota_allowance", org->ods_code, org->id, "denied");
    return denied("only national administrators set the allowance of larger quotas");
  }
  if (accounts < 0 || accounts > 1000000) return make_error(Errc::invalid_argument, "the allowance must be 0 to 1000000 accounts");
  if (Status s = store_.set_quota_allowance(org->id, accounts); !s) return s;
  audit(store_, by, "organisation.quota_allowance", org->ods_code, org->id, "ok",
        "{\"from\":" + std::to_string(org->large_quota_allowance) + ",\"to\":" + std::to_string(accounts) + "}");
  return {};
}

Result<LifecycleRun> LifecycleService::run_lifecycle(const std::function<void(AccountId)>& forget_index) {
  const auto& L = config_.lifecycle;
  const Principal sys = Principal::service();
  const UnixTime t = now();
  constexpr size_t kBatch = 500;
  LifecycleRun run;
  bool aup_published = static_cast<bool>(store_.current_aup());

  // Active -> inactive: nobody signed in for inactive_after_days.
  for (;;) {
    auto idle = store_.accounts_idle(AccountState::active, t - L.inactive_after_days * kDay, aup_published, kBatch);
    if (!idle) return idle.error();
    for (const Account& a : *idle) {
      if (Status s = store_.set_account_state(a.id, AccountState::inactive, t); !s) return s.error();
      audit(store_, sys, "account.inactive", a.address, a.org_id, "ok");
      ++run.inactive;
      if (ctx_.notify) {
        UnixTime del = t + int64_t{L.delete_after_days - L.inactive_after_days} * kDay;
        (void)ctx_.notify(a, "Your account is inactive",
                        "Nobody has signed in to " + a.address + " for " + std::to_string(L.inactive_after_days) +
                            " days, so it is now inactive. Mail still arrives.\r\n\r\nSign in (on the web or "
                            "from your mail app) before " +
                            date_text(del) + " to keep it; otherwise it will be deleted.\r\n");
      }
    }
    if (idle->size() < kBatch) break;
  }

  // Time-driven deletions; accounts on legal hold are never returned.
  struct Step {
    AccountState from;
    int days;
    const char* why;
  };
  for (const Step& st : {Step{AccountState::inactive, L.delete_after_days - L.inactive_after_days, "inactive"},
                         Step{AccountState::leaver, L.leaver_claim_days, "leaver_not_claimed"},
                         Step{AccountState::disabled, L.disabled_keep_days, "disabled"}}) {
    for (;;) {
      auto due = store_.accounts_in_state_since(st.from, t - st.days * kDay, kBatch);
      if (!due) return due.error();
      for (const Account& a : *due) {
        if (Status s = store_.set_account_state(a.id, AccountState::deleted, t); !s) return s.error();
        ctx_.changed(a.id);
        (void)store_.delete_sessions(a.id);
        sign_in_.forget_password(a.id);
        audit(store_, sys, "account.delete", a.address, a.org_id, "ok",
              "{\"reason\":" + json_string(st.why) + "}");
        ++run.deleted;
      }
      if (due->size() < kBatch) break;
    }
  }

  // Deleted and not restored within restore_days: mail and credentials go; the addresses
  // stay reserved until address_lock_days after the deletion.
  for (;;) {
    auto due = store_.accounts_in_state_since(AccountState::deleted, t - L.restore_days * kDay, kBatch);
    if (!due) return due.error();
    for (const Account& a : *due) {
      auto boxes = store_.list_mailboxes(a.id);
      if (!boxes) return boxes.error();
      // One mailbox a transaction: a large account does not hold the writer for long.
      for (const Mailbox& mb : *boxes)
        if (Status s = store_.delete_mailbox(mb.id); !s) return s.error();
      UnixTime reusable = a.state_changed_at + int64_t{L.address_lock_days} * kDay;
      if (Status s = store_.forget_account(a.id, t, reusable); !s) return s.error();
      ctx_.changed(a.id);
      sign_in_.forget_password(a.id);
      if (forget_index) forget_index(a.id);
      audit(store_, sys, "account.purge", a.address, a.org_id, "ok",
            "{\"mailboxes\":" + std::to_string(boxes->size()) + ",\"address_reusable_at\":" + std::to_string(reusable) +
                "}");
      ++run.purged;
    }
    if (due->size() < kBatch) break;
  }

  auto released = store_.release_addresses(t);
  if (!released) return released.error();
  run.addresses_released = *released;
  return run;
}

}  // namespace caremail

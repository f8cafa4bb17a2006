#include "model/types.hpp"

namespace caremail {

std::string_view to_string(AccountKind k) {
  switch (k) {
    case AccountKind::person: return "person";
    case AccountKind::shared: return "shared";
    case AccountKind::application: return "application";
  }
  return "person";
}

std::string_view to_string(AccountState s) {
  switch (s) {
    case AccountState::active: return "active";
    case AccountState::inactive: return "inactive";
    case AccountState::leaver: return "leaver";
    case AccountState::disabled: return "disabled";
    case AccountState::deleted: return "deleted";
  }
  return "active";
}

std::string_view to_string(Role r) {
  switch (r) {
    case Role::user: return "user";
    case Role::local_admin: return "local_admin";
    case Role::primary_local_admin: return "primary_local_admin";
    case Role::local_helpdesk: return "local_helpdesk";
    case Role::authoriser: return "authoriser";
    case Role::auditor: return "auditor";
    case Role::national_admin: return "national_admin";
    case Role::national_helpdesk: return "national_helpdesk";
  }
  return "user";
}

std::string_view to_string(ChangeKind k) {
  switch (k) {
    case ChangeKind::message_added: return "message_added";
    case ChangeKind::flags_changed: return "flags_changed";
    case ChangeKind::message_expunged: return "message_expunged";
    case ChangeKind::mailbox_created: return "mailbox_created";
    case ChangeKind::mailbox_deleted: return "mailbox_deleted";
    case ChangeKind::mailbox_renamed: return "mailbox_renamed";
  }
  return "message_added";
}

std::optional<AccountKind> parse_account_kind(std::string_view s) {
  for (auto k : {AccountKind::person, AccountKind::shared, AccountKind::application})
    if (to_string(k) == s) return k;
  return std::nullopt;
}

std::optional<AccountState> parse_account_state(std::string_view s) {
  for (auto k : {AccountState::active, AccountState::inactive, AccountState::leaver, AccountState::disabled,
                 AccountState::deleted})
    if (to_string(k) == s) return k;
  return std::nullopt;
}

std::optional<Role> parse_role(std::string_view s) {
  for (auto r : {Role::user, Role::local_admin, Role::primary_local_admin, Role::local_helpdesk, Role::authoriser,
                 Role::auditor, Role::national_admin, Role::national_helpdesk})
    if (to_string(r) == s) return r;
  return std::nullopt;
}

std::string_view to_string(ListSenders s) {
  switch (s) {
    case ListSenders::anyone: return "anyone";
    case ListSenders::service: return "service";
    case ListSenders::members: return "members";
  }
  return "service";
}

std::optional<ListSenders> parse_list_senders(std::string_view s) {
  for (auto k : {ListSenders::anyone, ListSenders::service, ListSenders::members})
    if (to_string(k) == s) return k;
  return std::nullopt;
}

}  // namespace caremail

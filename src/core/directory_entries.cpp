// DirectoryService: the directory entries that are not accounts. Directory contacts
// (PRODUCT.md D1: people outside the service an organisation lists) and static
// distribution lists (a subset of M9: no approval workflow, owners, moderation or dynamic
// membership yet). Both are managed by the organisation's administrators (primary local and
// local administrators) and national administrators; every change and every refusal is
// audited; the index follows every change at once, and the store notes each change in the
// export log with the write itself. Delivery to lists is MailService's (mail_service.cpp).
#include <algorithm>
#include <chrono>
#include <cctype>

#include "common/json_text.hpp"
#include "common/log.hpp"
#include "common/time_text.hpp"
#include "common/ascii.hpp"
#include "core/admin_service.hpp"
#include "core/scope.hpp"
#include "core/directory_service.hpp"
#include "core/mail_service.hpp"

namespace caremail {

namespace {

constexpr int64_t kDay = 86400;

Error invalid(std::string what) { return make_error(Errc::invalid_argument, std::move(what)); }

bool printable(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

// An address outside the service: RFC 5322 dot-atom local part (atext and dots, which
// allows O'Neill and similar), a host name domain. Quoted local parts and address
// literals are refused: no directory needs them and they complicate every consumer.
Status valid_external_address(std::string_view a) { return AdminService::validate_address(a, true); }

std::string domain_of(std::string_view a) { return std::string(a.substr(a.rfind('@') + 1)); }

}  // namespace

Result<Organisation> DirectoryService::administered(const Principal& by, std::string_view ods_code,
                                                    std::string_view action, std::string_view target) {
  auto org = store_.organisation_by_ods(ods_code);
  if (!org) return org.error();
  if (!administers(by, org->id)) {
    audit(store_, by, action, target.empty() ? std::string_view(org->ods_code) : target, org->id, "denied");
    return make_error(Errc::permission_denied,
                      "only the administrators of " + org->ods_code +
                          " (or national administrators) manage its directory contacts and lists");
  }
  if (!org->open) return make_error(Errc::conflict, "organisation " + org->ods_code + " is closed");
  return org;
}

Status DirectoryService::validate_contact(const DirectoryContact& c) {
  if (Status s = valid_external_address(c.address); !s) return s;
  if (store_.organisation_for_domain(domain_of(c.address)))
    return invalid("a directory contact is someone outside the service: " + c.address +
                   " is one of the service's own addresses");
  if (c.display_name.empty() || c.display_name.size() > 200 || !printable(c.display_name))
    return invalid("a display name must be 1 to 200 printable characters");
  return validate_profile(c.profile);
}

void DirectoryService::index_contact(const DirectoryContact& c) {
  auto org = store_.organisation(c.org_id);
  if (!org) return;
  if (Status s = index_.upsert(contact_entry(c, *org)); !s)
    log::warn("directory.update_failed", {{"entry", static_cast<int64_t>(c.directory_id())}, {"error", s.error().message}});
}

void DirectoryService::index_list(const DistributionList& l) {
  auto org = store_.organisation(l.org_id);
  if (!org) return;
  if (Status s = index_.upsert(list_entry(l, *org)); !s)
    log::warn("directory.update_failed", {{"entry", static_cast<int64_t>(l.directory_id())}, {"error", s.error().message}});
}

// --- directory contacts ----------------------------------------------------------------

Result<std::vector<DirectoryContact>> DirectoryService::contacts(const Principal& by, std::string_view ods_code) {
  auto org = administered(by, ods_code, "directory.contact_list", "");
  if (!org) return org.error();
  return store_.contacts(org->id);
}

Result<DirectoryContact> DirectoryService::contact(const Principal& by, std::string_view ods_code, uint64_t id) {
  auto org = administered(by, ods_code, "directory.contact_list", "");
  if (!org) return org.error();
  auto absent = make_error(Errc::not_found, "organisation " + org->ods_code + " has no directory contact " + std::to_string(id));
  if (!is_contact_id(id)) return absent;
  auto c = store_.contact(static_cast<int64_t>(id - kContactIdBase));
  if (!c && c.error().code == Errc::not_found) return absent;
  if (c && c->org_id != org->id) return absent;
  return c;
}

Result<DirectoryContact> DirectoryService::create_contact(const Principal& by, std::string_view ods_code,
                                                          DirectoryContact c) {
  c.address = ascii_lower(c.address);
  auto org = administered(by, ods_code, "directory.contact_create", c.address);
  if (!org) return org.error();
  if (Status s = validate_contact(c); !s) return s.error();
  c.org_id = org->id;
  auto made = store_.create_contact(c, now());
  if (!made) return made.error();
  index_contact(*made);
  audit(store_, by, "directory.contact_create", made->address, org->id, "ok",
        "{\"id\":" + std::to_string(made->directory_id()) + ",\"display_name\":" + json_string(made->display_name) + "}");
  return made;
}

Result<DirectoryContact> DirectoryService::update_contact(const Principal& by, std::string_view ods_code, uint64_t id,
                                                          DirectoryContact c) {
  auto org = administered(by, ods_code, "directory.contact_edit", std::to_string(id));
  if (!org) return org.error();
  auto old = contact(by, ods_code, id);
  if (!old) return old.error();
  c.address = ascii_lower(c.address);
  if (Status s = validate_contact(c); !s) return s.error();
  c.id = old->id;
  c.org_id = old->org_id;
  if (Status s = store_.update_contact(c, now()); !s) return s.error();
  auto now = store_.contact(c.id);
  if (!now) return now.error();
  index_contact(*now);
  // Which fields changed, never their values (phone numbers stay out of the audit log).
  std::string changed;
  auto note = [&](const char* name, bool differs) {
    if (differs) changed += std::string(changed.empty() ? "" : ",") + json_string(name);
  };
  const DirectoryProfile &a = old->profile, &b = now->profile;
  note("address", old->address != now->address);
  note("display_name", old->display_name != now->display_name);
  note("title", a.title != b.title);
  note("given_name", a.given_name != b.given_name);
  note("surname", a.surname != b.surname);
  note("job_role", a.job_role != b.job_role);
  note("speciality", a.speciality != b.speciality);
  note("work_area", a.work_area != b.work_area);
  note("unit", a.unit != b.unit);
  note("site", a.site != b.site);
  note("telephone", a.telephone != b.telephone);
  note("mobile", a.mobile != b.mobile);
  note("pager", a.pager != b.pager);
  note("fax", a.fax != b.fax);
  note("notes", a.notes != b.notes);
  note("hidden", a.hidden != b.hidden);
  note("mobile_hidden", a.mobile_hidden != b.mobile_hidden);
  audit(store_, by, "directory.contact_edit", now->address, org->id, "ok",
        "{\"id\":" + std::to_string(id) + ",\"fields\":[" + changed + "]}");
  return now;
}

Status DirectoryService::delete_contact(const Principal& by, std::string_view ods_code, uint64_t id) {
  auto org = administered(by, ods_code, "directory.contact_delete", std::to_string(id));
  if (!org) return org.error();
  auto old = contact(by, ods_code, id);
  if (!old) return old.error();
  if (Status s = store_.delete_contact(old->id, now()); !s) return s;
  index_.remove(id);
  audit(store_, by, "directory.contact_delete", old->address, org->id, "ok", "{\"id\":" + std::to_string(id) + "}");
  return {};
}

// --- distribution lists ----------------------------------------------------------------

Status DirectoryService::validate_member(std::string_view member) {
  if (Status s = valid_external_address(member); !s) return s;
  if (!store_.organisation_for_domain(domain_of(member))) return {};  // outside the service
  // One of the service's own addresses: it must reach a mailbox now.
  if (auto a = store_.account_by_address(member)) {
    if (a->state == AccountState::deleted) return invalid("no mailbox here by that name: " + std::string(member));
    return {};
  }
  if (store_.list_by_address(member))
    return invalid(std::string(member) + " is a distribution list; lists inside lists are not supported yet");
  return invalid("no mailbox here by that name: " + std::string(member));
}

Result<DistributionList> DirectoryService::list_in(const Organisation& org, std::string_view address) {
  auto l = store_.list_by_address(address);
  if ((!l && l.error().code == Errc::not_found) || (l && l->org_id != org.id))
    return make_error(Errc::not_found, "organisation " + org.ods_code + " has no distribution list " + std::string(address));
  return l;
}

Result<std::vector<DistributionList>> DirectoryService::lists(const Principal& by, std::string_view ods_code) {
  auto org = administered(by, ods_code, "directory.list_list", "");
  if (!org) return org.error();
  return store_.lists(org->id);
}

Result<DistributionList> DirectoryService::list(const Principal& by, std::string_view ods_code,
                                                std::string_view address) {
  auto org = administered(by, ods_code, "directory.list_list", "");
  if (!org) return org.error();
  return list_in(*org, address);
}

Result<DistributionList> DirectoryService::create_list(const Principal& by, std::string_view ods_code,
                                                       DistributionList l) {
  l.address = ascii_lower(l.address);
  auto org = administered(by, ods_code, "directory.list_create", l.address);
  if (!org) return org.error();
  if (Status s = AdminService::validate_address(l.address); !s) return s.error();
  auto owner = store_.organisation_for_domain(domain_of(l.address));
  if (!owner || *owner != org->id)
    return invalid("a list's address must be in one of " + org->ods_code + "'s domains");
  if (l.display_name.empty() || l.display_name.size() > 200 || !printable(l.display_name))
    return invalid("a display name must be 1 to 200 printable characters");
  if (l.members.size() > kMaxListMembers)
    return invalid("a list has at most " + std::to_string(kMaxListMembers) + " members");
  for (auto& m : l.members) {
    m = ascii_lower(m);
    if (m == l.address) return invalid("a list cannot be a member of itself");
    if (Status s = validate_member(m); !s) return s.error();
  }
  if (auto until = store_.address_reserved_until(l.address); until)
    return make_error(Errc::already_exists, l.address + " belonged to someone else and cannot be used before " +
                                                date_text(*until));
  l.org_id = org->id;
  auto made = store_.create_list(l, now());
  if (!made) return made.error();
  index_list(*made);
  audit(store_, by, "directory.list_create", made->address, org->id, "ok",
        "{\"id\":" + std::to_string(made->directory_id()) + ",\"display_name\":" + json_string(made->display_name) +
            ",\"senders\":" + json_string(to_string(made->senders)) + ",\"hidden\":" + (made->hidden ? "true" : "false") +
            ",\"members\":" + std::to_string(made->members.size()) + "}");
  return made;
}

Result<DistributionList> DirectoryService::update_list(const Principal& by, std::string_view ods_code,
                                                       std::string_view address, const DistributionList& settings) {
  auto org = administered(by, ods_code, "directory.list_edit", ascii_lower(address));
  if (!org) return org.error();
  auto l = list_in(*org, address);
  if (!l) return l.error();
  if (settings.display_name.empty() || settings.display_name.size() > 200 || !printable(settings.display_name))
    return invalid("a display name must be 1 to 200 printable characters");
  DistributionList next = *l;
  next.display_name = settings.display_name;
  next.hidden = settings.hidden;
  next.senders = settings.senders;
  if (Status s = store_.update_list(next, now()); !s) return s.error();
  index_list(next);
  audit(store_, by, "directory.list_edit", next.address, org->id, "ok",
        "{\"display_name\":" + json_string(next.display_name) + ",\"senders\":" + json_string(to_string(next.senders)) +
            ",\"hidden\":" + (next.hidden ? "true" : "false") + "}");
  return next;
}

Result<DistributionList> DirectoryService::set_list_member(const Principal& by, std::string_view ods_code,
                                                           std::string_view address, std::string_view member_in,
                                                           bool present) {
  auto org = administered(by, ods_code, present ? "directory.list_member_add" : "directory.list_member_remove",
                          ascii_lower(address));
  if (!org) return org.error();
  auto l = list_in(*org, address);
  if (!l) return l.error();
  std::string member = ascii_lower(member_in);
  if (present) {
    if (member == l->address) return invalid("a list cannot be a member of itself");
    if (Status s = validate_member(member); !s) return s.error();
    if (l->members.size() >= kMaxListMembers &&
        !std::binary_search(l->members.begin(), l->members.end(), member))
      return invalid("a list has at most " + std::to_string(kMaxListMembers) + " members");
  }
  auto changed = store_.set_list_member(l->id, member, present);
  if (!changed) return changed.error();
  if (!present && !*changed) return make_error(Errc::not_found, member + " is not a member of " + l->address);
  if (*changed)
    audit(store_, by, present ? "directory.list_member_add" : "directory.list_member_remove", l->address, org->id,
          "ok", "{\"member\":" + json_string(member) + "}");
  return store_.list(l->id);
}

Status DirectoryService::delete_list(const Principal& by, std::string_view ods_code, std::string_view address) {
  auto org = administered(by, ods_code, "directory.list_delete", ascii_lower(address));
  if (!org) return org.error();
  auto l = list_in(*org, address);
  if (!l) return l.error();
  UnixTime t = now();
  if (Status s = store_.delete_list(l->id, t, t + int64_t{config_.lifecycle.address_lock_days} * kDay); !s) return s;
  index_.remove(l->directory_id());
  audit(store_, by, "directory.list_delete", l->address, org->id, "ok",
        "{\"id\":" + std::to_string(l->directory_id()) + ",\"members\":" + std::to_string(l->members.size()) + "}");
  return {};
}

}  // namespace caremail

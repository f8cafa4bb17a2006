#include "core/directory_service.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <unordered_map>

#include "common/json_text.hpp"
#include "common/log.hpp"
#include "core/mail_service.hpp"
#include "core/scope.hpp"
#include "directory/synth.hpp"

namespace caremail {

namespace {

Error denied(std::string what) { return make_error(Errc::permission_denied, std::move(what)); }

// Synthetic entries (benchmarks) live apart from real accounts and organisations.
constexpr uint64_t kSyntheticIdBase = uint64_t{1} << 40;
constexpr uint32_t kSyntheticOrgBase = 0x40000000u;

// Cursors: "f<last account id>:<change seq when the full export began>" during a full
// export, "c<change seq>" afterwards.
struct Cursor {
  bool full = true;
  AccountId after = 0;
  int64_t seq = 0;
};

std::optional<Cursor> parse_cursor(std::string_view c) {
  Cursor out;
  if (c.empty()) return out;
  auto num = [](std::string_view s, int64_t& v) {
    if (s.empty() || s.size() > 18) return false;
    v = 0;
    for (char ch : s) {
      if (ch < '0' || ch > '9') return false;
      v = v * 10 + (ch - '0');
    }
    return true;
  };
  if (c[0] == 'f') {
    auto colon = c.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    int64_t a = 0;
    if (!num(c.substr(1, colon - 1), a) || !num(c.substr(colon + 1), out.seq)) return std::nullopt;
    out.after = a;
    return out;
  }
  if (c[0] == 'c') {
    out.full = false;
    if (!num(c.substr(1), out.seq)) return std::nullopt;
    return out;
  }
  return std::nullopt;
}

}  // namespace

DirectoryService::DirectoryService(Store& store, const Config& config, Clock clock)
    : store_(store), config_(config), clock_(std::move(clock)) {}

directory::Viewer DirectoryService::viewer(const Principal& p) {
  directory::Viewer v;
  v.org_id = static_cast<uint32_t>(p.org_id);
  v.org_admin = is_local_staff(p);
  v.national = p.system || p.national();
  return v;
}

bool DirectoryService::listed(const Account& a) const {
  return (a.kind == AccountKind::person || a.kind == AccountKind::shared) &&
         (a.state == AccountState::active || a.state == AccountState::inactive || a.state == AccountState::leaver);
}

namespace {

bool iequals_ascii(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// What a profile says, onto an entry.
void apply_profile(directory::DirectoryEntry& e, const DirectoryProfile& p) {
  e.title = p.title;
  e.given_name = p.given_name;
  e.surname = p.surname;
  e.job_role = p.job_role;
  e.speciality = p.speciality;
  e.work_area = p.work_area;
  e.unit = p.unit;
  e.site = p.site;
  e.telephone = p.telephone;
  e.mobile = p.mobile;
  e.pager = p.pager;
  e.fax = p.fax;
  e.notes = p.notes;
  e.hidden = p.hidden;
  e.mobile_hidden = p.mobile_hidden;
}

// An entry without names of its own is found (and sorted) by its display name's words:
// the last as the surname.
void names_from_display(directory::DirectoryEntry& e) {
  if (!e.given_name.empty() || !e.surname.empty()) return;
  auto sp = e.display_name.rfind(' ');
  if (sp != std::string::npos) {
    e.given_name = e.display_name.substr(0, sp);
    e.surname = e.display_name.substr(sp + 1);
  } else {
    e.surname = e.display_name;
  }
}

// The fields every kind of entry has: who it is and whose.
directory::DirectoryEntry entry_of(uint64_t id, directory::EntryKind kind, const std::string& display_name,
                                   const std::string& address, const Organisation& org) {
  directory::DirectoryEntry e;
  e.id = id;
  e.kind = kind;
  e.display_name = display_name;
  e.address = address;
  e.org_id = static_cast<uint32_t>(org.id);
  e.ods_code = org.ods_code;
  e.org_name = org.name;
  return e;
}

directory::DirectoryEntry make_entry(const Account& a, const Organisation& org, const DirectoryProfile* p) {
  directory::DirectoryEntry e =
      entry_of(static_cast<uint64_t>(a.id),
               a.kind == AccountKind::shared ? directory::EntryKind::shared : directory::EntryKind::person,
               a.display_name, a.address, org);
  e.is_org_admin = is_local_admin(a);
  if (p) apply_profile(e, *p);
  // Without names of its own, a person's entry is found by the words of the display name.
  if (e.kind == directory::EntryKind::person) names_from_display(e);
  return e;
}

}  // namespace

directory::DirectoryEntry DirectoryService::contact_entry(const DirectoryContact& c, const Organisation& org) {
  directory::DirectoryEntry e = entry_of(c.directory_id(), directory::EntryKind::contact, c.display_name, c.address, org);
  apply_profile(e, c.profile);
  // Like a person without names of their own: found (and sorted) by the display name.
  names_from_display(e);
  return e;
}

directory::DirectoryEntry DirectoryService::list_entry(const DistributionList& l, const Organisation& org) {
  directory::DirectoryEntry e = entry_of(l.directory_id(), directory::EntryKind::list, l.display_name, l.address, org);
  e.hidden = l.hidden;
  return e;
}

std::optional<directory::DirectoryEntry> DirectoryService::build_entry(const Account& a) {
  if (!listed(a)) return std::nullopt;
  auto org = store_.organisation(a.org_id);
  if (!org) return std::nullopt;
  auto p = store_.directory_profile(a.id);
  return make_entry(a, *org, p ? &*p : nullptr);
}

Status DirectoryService::load() {
  auto t0 = std::chrono::steady_clock::now();
  directory::DirectoryIndex::Builder b;
  size_t real = 0, synthetic = 0;
  {
    auto orgs = store_.list_organisations();
    if (!orgs) return orgs.error();
    std::unordered_map<OrgId, Organisation> by_id;
    for (auto& o : *orgs) by_id.emplace(o.id, std::move(o));
    auto profiles = store_.directory_profiles();
    if (!profiles) return profiles.error();
    std::unordered_map<AccountId, DirectoryProfile> prof;
    for (auto& [id, p] : *profiles) prof.emplace(id, std::move(p));
    auto accounts = store_.list_accounts(std::nullopt);
    if (!accounts) return accounts.error();
    for (const auto& a : *accounts) {
      if (!listed(a)) continue;
      auto o = by_id.find(a.org_id);
      if (o == by_id.end()) continue;
      auto p = prof.find(a.id);
      b.add(make_entry(a, o->second, p == prof.end() ? nullptr : &p->second));
      ++real;
    }
    auto contacts = store_.contacts(std::nullopt);
    if (!contacts) return contacts.error();
    for (const auto& c : *contacts)
      if (auto o = by_id.find(c.org_id); o != by_id.end()) {
        b.add(contact_entry(c, o->second));
        ++real;
      }
    auto lists = store_.lists(std::nullopt);
    if (!lists) return lists.error();
    for (const auto& l : *lists)
      if (auto o = by_id.find(l.org_id); o != by_id.end()) {
        b.add(list_entry(l, o->second));
        ++real;
      }
  }
  const auto& d = config_.directory;
  if (d.synthetic_entries > 0) {
    directory::synth::Options opt;
    opt.seed = d.synthetic_seed;
    opt.organisations = static_cast<uint32_t>(d.synthetic_organisations);
    opt.entries = static_cast<uint32_t>(d.synthetic_entries);
    auto orgs = directory::synth::make_organisations(opt);
    directory::synth::for_each_entry(opt, orgs, [&](directory::DirectoryEntry&& e) {
      e.id += kSyntheticIdBase;
      e.org_id += kSyntheticOrgBase;
      b.add(e);
      ++synthetic;
    });
  }
  directory::DirectoryIndex built = std::move(b).finish();
  index_ = std::move(built);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto st = index_.stats();
  log::info("directory.loaded", {{"entries", static_cast<int64_t>(real)}, {"synthetic", static_cast<int64_t>(synthetic)},
                                 {"seconds", secs}, {"memory_bytes", static_cast<int64_t>(st.memory_bytes)}});
  return {};
}

void DirectoryService::refresh(AccountId id) {
  const auto uid = static_cast<uint64_t>(id);
  if (is_contact_id(uid) || is_list_id(uid)) {
    std::optional<directory::DirectoryEntry> e;
    if (is_contact_id(uid)) {
      if (auto c = store_.contact(static_cast<int64_t>(uid - kContactIdBase)))
        if (auto org = store_.organisation(c->org_id)) e = contact_entry(*c, *org);
    } else if (auto l = store_.list(static_cast<int64_t>(uid - kListIdBase))) {
      if (auto org = store_.organisation(l->org_id)) e = list_entry(*l, *org);
    }
    // The store noted the change in the export log with the write itself.
    if (!e) index_.remove(uid);
    else if (Status s = index_.upsert(*e); !s)
      log::warn("directory.update_failed", {{"entry", id}, {"error", s.error().message}});
    return;
  }
  auto a = store_.account(id);
  std::optional<directory::DirectoryEntry> e;
  if (a) e = build_entry(*a);
  bool was = index_.get(static_cast<uint64_t>(id), directory::Viewer{0, false, true}).has_value();
  if (e) {
    if (Status s = index_.upsert(*e); !s) log::warn("directory.update_failed", {{"account", id}, {"error", s.error().message}});
  } else {
    index_.remove(static_cast<uint64_t>(id));
  }
  if (e || was) (void)store_.note_directory_change(id, now());
}

void DirectoryService::refresh_organisation(OrgId id) {
  auto accounts = store_.list_accounts(id);
  if (!accounts) return;
  for (const auto& a : *accounts) refresh(a.id);
}

Result<directory::SearchResult> DirectoryService::search(const Principal& by, const directory::Query& q, size_t limit,
                                                         size_t offset) {
  if (by.restricted()) return denied("finish signing in first");
  if (limit == 0 || limit > 100) return make_error(Errc::invalid_argument, "limit must be 1 to 100");
  return index_.search(q, viewer(by), limit, offset);
}

Result<directory::DirectoryEntry> DirectoryService::entry(const Principal& by, std::string_view address,
                                                          std::string_view ods_code) {
  if (by.restricted()) return denied("finish signing in first");
  auto absent = [&] { return make_error(Errc::not_found, "no directory entry for " + std::string(address)); };
  const directory::Viewer v = viewer(by);
  auto in_org = [&](const directory::DirectoryEntry& e) {
    return ods_code.empty() || iequals_ascii(e.ods_code, ods_code);
  };
  // Accounts, aliases and lists share one namespace: at most one of them has the address.
  std::optional<uint64_t> id;
  if (auto a = store_.account_by_address(address)) id = static_cast<uint64_t>(a->id);
  else if (auto l = store_.list_by_address(address)) id = l->directory_id();
  if (id) {
    auto e = index_.get(*id, v);
    if (!e || !in_org(*e)) return absent();
    return *e;
  }
  auto contacts = store_.contacts_by_address(address);
  if (!contacts) return contacts.error();
  std::optional<directory::DirectoryEntry> found;
  for (const auto& c : *contacts) {
    auto e = index_.get(c.directory_id(), v);
    if (!e) continue;
    if (!ods_code.empty()) {
      if (in_org(*e)) return *e;
      continue;
    }
    if (e->org_id == v.org_id) return *e;
    if (!found) found = std::move(e);
  }
  if (found) return *found;
  // Entries that only the index holds (the benchmark's synthetic directory): by address.
  if (config_.directory.synthetic_entries > 0) {
    directory::Query q;
    q.address = std::string(address);
    if (!ods_code.empty()) q.ods_code = std::string(ods_code);
    auto r = index_.search(q, v, 1, 0);
    if (r && !r->hits.empty() && iequals_ascii(r->hits[0].entry.address, address)) return r->hits[0].entry;
  }
  return absent();
}

Result<std::vector<directory::DirectoryEntry>> DirectoryService::administrators(const Principal& by,
                                                                                std::string_view ods_code) {
  if (by.restricted()) return denied("finish signing in first");
  directory::Query q;
  q.admins_only = true;
  if (ods_code.empty()) {
    auto org = store_.organisation(by.org_id);
    if (!org) return org.error();
    q.ods_code = org->ods_code;
  } else {
    q.ods_code = std::string(ods_code);
  }
  auto r = index_.search(q, viewer(by), 100, 0);
  if (!r) return r.error();
  std::vector<directory::DirectoryEntry> out;
  for (auto& h : r->hits) out.push_back(std::move(h.entry));
  return out;
}

Result<Account> DirectoryService::profile_owner(const Principal& by, std::string_view address,
                                                std::string_view audit_action) {
  auto a = store_.account_by_address(address);
  if (!a) return a;
  bool self = by.account_id == a->id;
  bool admin = administers(by, a->org_id);
  if (by.restricted() || (!self && !admin)) {
    if (!audit_action.empty()) audit(store_, by, audit_action, a->address, a->org_id, "denied");
    // Another organisation's account answers like an absent one.
    if (!by.national() && by.org_id != a->org_id) return make_error(Errc::not_found, "no account " + std::string(address));
    return denied("only the person and their organisation's administrators see or edit the whole profile");
  }
  return a;
}

Result<DirectoryProfile> DirectoryService::profile(const Principal& by, std::string_view address) {
  auto a = profile_owner(by, address, "");
  if (!a) return a.error();
  auto p = store_.directory_profile(a->id);
  if (!p && p.error().code == Errc::not_found) return DirectoryProfile{};
  return p;
}

Status DirectoryService::validate_profile(const DirectoryProfile& p) {
  const std::pair<const char*, const std::string*> fields[] = {
      {"title", &p.title},         {"given_name", &p.given_name}, {"surname", &p.surname},
      {"job_role", &p.job_role},   {"speciality", &p.speciality}, {"work_area", &p.work_area},
      {"unit", &p.unit},           {"site", &p.site},             {"telephone", &p.telephone},
      {"mobile", &p.mobile},       {"pager", &p.pager},           {"fax", &p.fax},
      {"notes", &p.notes}};
  for (auto [name, v] : fields) {
    size_t max = std::string_view(name) == "notes" ? 1000 : 200;
    if (v->size() > max)
      return make_error(Errc::invalid_argument, std::string(name) + " is longer than " + std::to_string(max) + " characters");
    if (std::any_of(v->begin(), v->end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
      return make_error(Errc::invalid_argument, std::string(name) + " has control characters");
  }
  return {};
}

Status DirectoryService::set_profile(const Principal& by, std::string_view address, const DirectoryProfile& p) {
  auto a = profile_owner(by, address, "directory.edit");
  if (!a) return a.error();
  bool self = by.account_id == a->id;
  const std::pair<const char*, const std::string*> fields[] = {
      {"title", &p.title},         {"given_name", &p.given_name}, {"surname", &p.surname},
      {"job_role", &p.job_role},   {"speciality", &p.speciality}, {"work_area", &p.work_area},
      {"unit", &p.unit},           {"site", &p.site},             {"telephone", &p.telephone},
      {"mobile", &p.mobile},       {"pager", &p.pager},           {"fax", &p.fax},
      {"notes", &p.notes}};
  if (Status s = validate_profile(p); !s) return s;
  auto before = store_.directory_profile(a->id);
  if (Status s = store_.set_directory_profile(a->id, p, now()); !s) return s;
  // What changed, for the audit (values of the changed fields, never the whole profile).
  std::string changed;
  DirectoryProfile old = before ? *before : DirectoryProfile{};
  const std::string* olds[] = {&old.title, &old.given_name, &old.surname, &old.job_role, &old.speciality, &old.work_area,
                               &old.unit,  &old.site,       &old.telephone, &old.mobile, &old.pager,     &old.fax,
                               &old.notes};
  for (size_t i = 0; i < std::size(fields); ++i)
    if (*olds[i] != *fields[i].second) changed += std::string(changed.empty() ? "" : ",") + json_string(fields[i].first);
  if (old.hidden != p.hidden) changed += std::string(changed.empty() ? "" : ",") + "\"hidden\"";
  if (old.mobile_hidden != p.mobile_hidden) changed += std::string(changed.empty() ? "" : ",") + "\"mobile_hidden\"";
  audit(store_, by, "directory.edit", a->address, a->org_id, "ok",
        std::string("{\"self\":") + (self ? "true" : "false") + ",\"fields\":[" + changed + "]}");
  if (auto e = build_entry(*a)) (void)index_.upsert(*e);
  return {};
}

Status DirectoryService::set_sharing_agreement(const Principal& by, std::string_view ods_code, bool approved) {
  auto org = store_.organisation_by_ods(ods_code);
  if (!org) return org.error();
  // An authoriser of the organisation approves its agreement; national administrators may too.
  bool ok = !by.restricted() &&
            (by.system || by.has(Role::national_admin) || (by.has(Role::authoriser) && by.org_id == org->id));
  if (!ok) {
    audit(store_, by, "directory.sharing_agreement", org->ods_code, org->id, "denied");
    return denied("only the organisation's authoriser or a national administrator approves a sharing agreement");
  }
  if (Status s = store_.set_sharing_agreement(org->id, approved); !s) return s;
  audit(store_, by, "directory.sharing_agreement", org->ods_code, org->id, "ok",
        std::string("{\"approved\":") + (approved ? "true" : "false") + "}");
  return {};
}

Result<DirectoryExport> DirectoryService::export_changes(const Principal& by, std::string_view cursor_text, size_t limit) {
  if (by.restricted()) return denied("finish signing in first");
  auto org = store_.organisation(by.org_id);
  if (!org) return org.error();
  bool admin = is_local_admin(by);
  if (!by.system && !(admin && org->sharing_agreement)) {
    audit(store_, by, "directory.export", org->ods_code, org->id, "denied");
    return denied(admin ? "your organisation has no approved sharing agreement for bulk export"
                        : "only administrators of an organisation with a sharing agreement export the directory");
  }
  auto cursor = parse_cursor(cursor_text);
  if (!cursor) return make_error(Errc::invalid_argument, "unknown cursor; start again without one");
  limit = std::clamp<size_t>(limit, 1, static_cast<size_t>(config_.directory.export_page));
  // What a member of the organisation sees (not its administrators' view: hidden entries
  // stay out of other directories).
  directory::Viewer member{static_cast<uint32_t>(by.org_id), false, false};
  DirectoryExport out;
  if (cursor->full) {
    if (cursor_text.empty()) {
      auto last = store_.last_directory_change();
      if (!last) return last.error();
      cursor->seq = *last;
    }
    // Accounts, then contacts and lists, whose directory ids are all above every account's
    // (model/types.hpp), so one "last id" cursor walks both.
    std::vector<uint64_t> ids;
    if (static_cast<uint64_t>(cursor->after) < kContactIdBase) {
      auto accounts = store_.account_ids(cursor->after, limit);
      if (!accounts) return accounts.error();
      for (AccountId id : *accounts) ids.push_back(static_cast<uint64_t>(id));
    }
    if (ids.size() < limit) {
      auto more = store_.entry_ids(static_cast<uint64_t>(cursor->after), limit - ids.size());
      if (!more) return more.error();
      ids.insert(ids.end(), more->begin(), more->end());
    }
    for (uint64_t id : ids)
      if (auto e = index_.get(id, member)) out.entries.push_back(std::move(*e));
    if (ids.size() == limit) {
      out.next_cursor = "f" + std::to_string(ids.back()) + ":" + std::to_string(cursor->seq);
      out.more = true;
    } else {
      out.next_cursor = "c" + std::to_string(cursor->seq);
      out.more = true;  // the changes made during the full export follow
    }
  } else {
    auto changes = store_.directory_changes(cursor->seq, limit);
    if (!changes) return changes.error();
    int64_t seq = cursor->seq;
    for (auto [s, id] : *changes) {
      seq = std::max(seq, s);
      if (auto e = index_.get(static_cast<uint64_t>(id), member)) out.entries.push_back(std::move(*e));
      else out.removed.push_back(static_cast<uint64_t>(id));
    }
    out.next_cursor = "c" + std::to_string(seq);
    out.more = changes->size() == limit;
  }
  audit(store_, by, "directory.export", org->ods_code, org->id, "ok",
        "{\"entries\":" + std::to_string(out.entries.size()) + ",\"removed\":" + std::to_string(out.removed.size()) + "}");
  return out;
}

}  // namespace caremail

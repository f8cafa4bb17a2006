// DirectoryService: the national directory (PRODUCT.md D1-D3) over the accounts. It keeps a
// directory::DirectoryIndex in memory, built from the store at start and kept current as
// accounts and directory profiles change; every front-end (the JSON API, LDAP) searches
// through it with the caller's Principal, so privacy and scope are decided here once.
//
// Listed: person and shared-mailbox accounts that are active, inactive or leavers, with
// their directory profile (title, names, role, speciality, work area, unit, site, phones,
// notes, privacy switches) and organisation; directory contacts (people outside the
// service an organisation lists); distribution lists. Disabled and deleted accounts, and
// application accounts, are not listed. People edit their own profile; administrators
// their organisation's, its contacts and its lists; every edit and refusal is audited.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/result.hpp"
#include "core/principal.hpp"
#include "directory/index.hpp"
#include "store/store.hpp"

namespace caremail {

class AdminService;

// One page of a bulk export (PRODUCT.md D2). Cursors are opaque to the client: "" starts
// a full export (every listed entry, page by page, then the changes made meanwhile);
// afterwards the next cursor asks for what changed since. `removed`: ids no longer listed.
struct DirectoryExport {
  std::vector<directory::DirectoryEntry> entries;
  std::vector<uint64_t> removed;
  std::string next_cursor;
  bool more = false;  // ask again with next_cursor now; false: up to date (ask later)
};

class DirectoryService {
 public:
  // `clock` stamps changes (contacts, lists, profiles) for the export feed.
  DirectoryService(Store& store, const Config& config, Clock clock = {});

  // Builds the index from the store (and, for benchmarks, the configured synthetic
  // entries). At start, before serving; takes seconds at national scale.
  Status load();

  // Search as `by` may see it (directory::DirectoryIndex::search: privacy from the
  // caller's roles). Anyone signed in (not restricted); limit at most 100.
  Result<directory::SearchResult> search(const Principal& by, const directory::Query& q, size_t limit = 20,
                                         size_t offset = 0);
  // One entry by address, as `by` may see it; not_found when absent or hidden from them.
  // An account (or alias) first, then a list, then a directory contact: several
  // organisations may list the same outside address; `ods_code` picks one, else the
  // caller's own organisation's comes first.
  Result<directory::DirectoryEntry> entry(const Principal& by, std::string_view address,
                                          std::string_view ods_code = {});
  // D3: the local administrators of an organisation (its ODS code; empty: the caller's own).
  Result<std::vector<directory::DirectoryEntry>> administrators(const Principal& by, std::string_view ods_code);

  // The person's own profile, or an administrator's edit of one in scope. Audited.
  Result<DirectoryProfile> profile(const Principal& by, std::string_view address);
  Status set_profile(const Principal& by, std::string_view address, const DirectoryProfile& p);

  // D2: bulk synchronisation for organisations with an approved sharing agreement (an
  // authoriser of that organisation, or a national administrator, sets it). The export
  // holds every listed entry visible to a member of that organisation (hidden ones not).
  Status set_sharing_agreement(const Principal& by, std::string_view ods_code, bool approved);
  Result<DirectoryExport> export_changes(const Principal& by, std::string_view cursor, size_t limit);

  // --- directory contacts (D1) -------------------------------------------------------------
  // Managed by the administrators of the organisation `ods_code` (primary local and local
  // administrators) and national administrators; anyone else gets permission_denied, audited
  // (actions directory.contact_create/_edit/_delete/_list). `id` is the contact's directory
  // id (DirectoryEntry::id). The address is external (any domain but the service's own), the
  // display name 1-200 printable characters, profile fields as set_profile checks them.
  Result<std::vector<DirectoryContact>> contacts(const Principal& by, std::string_view ods_code);
  Result<DirectoryContact> contact(const Principal& by, std::string_view ods_code, uint64_t id);
  Result<DirectoryContact> create_contact(const Principal& by, std::string_view ods_code, DirectoryContact c);
  // Replaces address, display name and profile.
  Result<DirectoryContact> update_contact(const Principal& by, std::string_view ods_code, uint64_t id,
                                          DirectoryContact c);
  Status delete_contact(const Principal& by, std::string_view ods_code, uint64_t id);

  // --- distribution lists (a static subset of M9) ---------------------------------------
  // Same administrators, audited as directory.list_*. A list's address is in one of the
  // organisation's domains and free in the one address namespace (no account, alias, list or
  // retired address); members are addresses: accounts and aliases of the service (never
  // another list: nested lists are not supported yet) or outside addresses; at most
  // kMaxListMembers. Deleting a list retires its address for lifecycle.address_lock_days.
  static constexpr size_t kMaxListMembers = 5000;
  Result<std::vector<DistributionList>> lists(const Principal& by, std::string_view ods_code);
  Result<DistributionList> list(const Principal& by, std::string_view ods_code, std::string_view address);
  Result<DistributionList> create_list(const Principal& by, std::string_view ods_code, DistributionList l);
  // Display name, hidden and senders (address and members stay).
  Result<DistributionList> update_list(const Principal& by, std::string_view ods_code, std::string_view address,
                                       const DistributionList& settings);
  // Adds (present) or removes one member.
  Result<DistributionList> set_list_member(const Principal& by, std::string_view ods_code, std::string_view address,
                                           std::string_view member, bool present);
  Status delete_list(const Principal& by, std::string_view ods_code, std::string_view address);

  // An account (or its organisation) changed: re-read it and update the index. AdminService
  // calls this for every change it makes (set as its observer). A contact's or list's
  // directory id re-reads that contact or list.
  void refresh(AccountId id);
  // Every account of an organisation (closure, merger, renaming).
  void refresh_organisation(OrgId id);

  // The Viewer that `p` is in the index's terms.
  static directory::Viewer viewer(const Principal& p);
  directory::IndexStats stats() const { return index_.stats(); }

 private:
  std::optional<directory::DirectoryEntry> build_entry(const Account& a);
  // The account whose whole profile `by` may see and edit (the person, their organisation's
  // administrators); refusals audited as `audit_action` when not empty.
  Result<Account> profile_owner(const Principal& by, std::string_view address, std::string_view audit_action);
  bool listed(const Account& a) const;
  // The organisation `ods_code` when `by` administers it (its local administrators,
  // national administrators); else permission_denied, audited as `action` on `target`.
  Result<Organisation> administered(const Principal& by, std::string_view ods_code, std::string_view action,
                                    std::string_view target);
  static Status validate_profile(const DirectoryProfile& p);
  static directory::DirectoryEntry contact_entry(const DirectoryContact& c, const Organisation& org);
  static directory::DirectoryEntry list_entry(const DistributionList& l, const Organisation& org);
  Status validate_contact(const DirectoryContact& c);
  Status validate_member(std::string_view member);
  void index_contact(const DirectoryContact& c);
  void index_list(const DistributionList& l);
  Result<DistributionList> list_in(const Organisation& org, std::string_view address);

  Store& store_;
  const Config& config_;
  const Clock clock_;
  UnixTime now() const { return clock_.now(); }
  directory::DirectoryIndex index_;
};

}  // namespace caremail

// How an LDAP search maps onto the directory (PRODUCT.md D2): DNs, the search plan (which
// directory::Query finds the candidates of a filter), the entries as address-book clients
// expect them, and the search loop that checks every candidate against the exact filter.
// Pure: no sockets, no store; the directory is reached through a Fetch callback, so the
// whole mapping is tested against a directory::DirectoryIndex directly.
//
// SECURITY: filters, DNs and attribute lists come from bound but untrusted clients. The
// plan is built in one pass over a filter that FilterLimits already bounds (depth, nodes),
// holds at most kMaxQueries queries, and every query is bounded by directory::SearchLimits
// (words, window). Privacy is not decided here: the Fetch callback searches with the bound
// Principal (DirectoryService), and entries come back with what the viewer may not see
// already removed.
//
// The namespace (base_dn "o=caremail" by default):
//   <base_dn>                                   the suffix (objectClass organization)
//   ou=<ODS code>,<base_dn>                     an organisation (organizationalUnit)
//   mail=<address>,ou=<ODS code>,<base_dn>      a directory entry (inetOrgPerson)
// A subtree search at the suffix searches everything; at an organisation, that
// organisation's entries; a base search on an entry's DN returns it.
//
// Candidates (plan_search): a substring test is read twice. First the way an address-book
// user types: every component is the beginning of a word ("(cn=*smi*)" finds Smith and
// Smithson). Then, for what that did not find, the inner and final components anywhere
// inside a word, or for mail anywhere in the address (Query::contains, address_contains:
// Goldsmith, everyone at chowdhury-chemists for "(mail=*how*)"), which the index serves
// from trigram lists; a component of one or two letters narrows nothing and is only
// checked, and with no initial and no longer piece there is no second look
// ("(cn=*jo*)": word beginnings only). The plan maps each test to the query parts that
// find a superset of what the test selects, and the exact RFC 4511 filter is then
// evaluated on every candidate, so an entry is returned only when the filter matches it:
//   cn, displayName, givenName, sn, name          words of the value -> Query::text,
//                                                 then inner pieces -> Query::contains
//   mail   equality                               Query::address (whole address)
//          initial only, with '@' or 3+ octets    Query::address prefix
//          other substrings                       words of the local part -> Query::text,
//                                                 then pieces -> Query::address_contains
//   o                                             Query::organisation
//   ou                                            Query::unit
//   title                                         Query::job_role
//   businessCategory                              Query::speciality
//   departmentNumber                              Query::work_area
//   physicalDeliveryOfficeName, l                 Query::site
//   AND   the children's queries merged (a cross product of at most kMaxQueries; past
//         that, children are left out, which only widens the candidates)
//   OR    the union of the children's queries (duplicates removed), those by address
//         first (the most selective: a typeahead's "(mail=sarah.c*)" fills the page)
//   NOT, presence, ordering, telephone numbers, objectClass: no search terms
// A filter with no search terms at all ("(objectClass=*)") is "unbounded": listing the
// national directory is the bulk export's job (sharing agreements, D2), so such a search
// below the suffix is refused with unwillingToPerform (53); address-book clients always
// send what the person typed. Below an organisation it lists that organisation.
//
// Window: each query's candidates are read 100 at a time up to the index's window (1000,
// directory::SearchLimits::max_window); past it the search goes on with the plan's next
// query, and one that ends without filling its size limit ends with adminLimitExceeded (11)
// after the matches found: refine the search.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/result.hpp"
#include "directory/entry.hpp"
#include "directory/index.hpp"
#include "ldap/filter.hpp"
#include "ldap/message.hpp"

namespace caremail::ldap {

// ---- DNs -------------------------------------------------------------------------------

struct Rdn {
  std::string attribute;  // canonical_attribute() form
  std::string value;      // unescaped
  bool operator==(const Rdn&) const = default;
};

// RFC 4514 string form to RDNs, most specific first. Spaces around ',' '=' '+' are
// ignored; values may use \XX and \<special> escapes (and quotes are not accepted).
// Multi-valued RDNs ("a=1+b=2") are refused. nullopt when the DN is not valid.
// Bounded by its input: the caller checks the DN's length (Limits::max_dn) first.
std::optional<std::vector<Rdn>> parse_dn(std::string_view dn);

// A value escaped for a DN (RFC 4514 §2.4).
std::string escape_dn_value(std::string_view v);

// What a DN names in our namespace.
struct Located {
  enum class Kind {
    root_dse,      // ""
    suffix,        // base_dn
    organisation,  // ou=<ODS>,base_dn
    entry,         // mail=<address>,ou=<ODS>,base_dn
    outside,       // a valid DN that is not ours (not under base_dn, or deeper)
    invalid,       // not a DN
  };
  Kind kind = Kind::invalid;
  std::string ods_code;  // organisation, entry
  std::string address;   // entry
};
// `base_dn` as configured; compared case-insensitively, RDN by RDN.
Located locate(std::string_view dn, std::string_view base_dn);

// "mail=<address>,ou=<ODS>,<base_dn>"; an entry without an ODS code sits under the suffix.
std::string entry_dn(const directory::DirectoryEntry& e, std::string_view base_dn);

// The address a simple bind's name stands for: a plain address ("a@b.example"), or a DN
// whose first RDN is mail= or uid= holding one. nullopt otherwise (the bind fails).
std::optional<std::string> bind_address(std::string_view name);

// ---- the plan --------------------------------------------------------------------------

// At most this many directory queries per search: Thunderbird's four-way OR of one typed
// word collapses to one query, Outlook's name-or-address lookup to two.
inline constexpr size_t kMaxQueries = 8;

struct SearchPlan {
  // No search terms: see the header comment. `queries` is then empty.
  bool unbounded = false;
  // The union of their results holds every entry the filter can select (under the
  // word-beginning reading). Empty and bounded: nothing can match (e.g. "(|)").
  std::vector<directory::Query> queries;
};

SearchPlan plan_search(const Filter& f);

// Adds "in organisation `ods_code`" to every query of the plan; an unbounded plan becomes
// that organisation's listing.
void restrict_to_organisation(SearchPlan& plan, std::string_view ods_code);

// ---- entries ---------------------------------------------------------------------------

// The LDAP entry of a directory entry, every attribute with a value:
//   objectClass (top, person, organizationalPerson, inetOrgPerson), cn and displayName (the
//   display name), givenName, sn (the surname, else the display name: person requires
//   one), mail, o (organisation name), ou (unit), title (job role), personalTitle ("Dr"),
//   businessCategory (speciality), departmentNumber (work area), physicalDeliveryOfficeName
//   (site), telephoneNumber, mobile (absent when hidden from the viewer), pager,
//   facsimileTelephoneNumber, description (notes).
// Thunderbird and Outlook show cn/displayName, mail, title, o, ou, telephoneNumber, mobile,
// pager, facsimileTelephoneNumber, physicalDeliveryOfficeName and description.
Entry to_entry(const directory::DirectoryEntry& e, std::string_view base_dn);

// The root DSE (RFC 4512 §5.1), the suffix entry and an organisation's entry.
Entry root_dse(std::string_view base_dn);
Entry suffix_entry(std::string_view base_dn);
Entry organisation_entry(std::string_view ods_code, std::string_view org_name, std::string_view base_dn);

// An Entry as the filter sees it: attributes of the inetOrgPerson schema that the entry
// lacks are FALSE, attributes the schema does not know are Undefined (as slapd does).
class SchemaView : public EntryView {
 public:
  explicit SchemaView(const Entry& e) : e_(e) {}
  const std::vector<std::string>* find(std::string_view canonical) const override { return e_.find(canonical); }
  bool known_attribute(std::string_view canonical) const override;

 private:
  const Entry& e_;
};

// The view run_search() checks candidates with: the attributes to_entry() would give, held
// in buffers that fill() reuses, so that checking a candidate that fails allocates nothing.
// Same answers as SchemaView(to_entry(e)).
class CandidateView : public EntryView {
 public:
  void fill(const directory::DirectoryEntry& e);
  const std::vector<std::string>* find(std::string_view canonical) const override;
  bool known_attribute(std::string_view canonical) const override;

 private:
  std::string name_;
  std::vector<std::string> values_[17];
};

// The attribute selection of a search (RFC 4511 §4.5.1.8): empty or "*" all user
// attributes; "1.1" none; "+" (operational) adds nothing here; names select those.
struct Selection {
  bool all = true;
  std::vector<std::string> names;  // canonical
};
Selection parse_selection(const std::vector<std::string>& attributes);
Entry select(const Entry& e, const Selection& s);

// encode_search_entry(id, select(to_entry(e, base_dn), s), types_only), byte for byte, but
// written in one pass with no intermediate Entry: a typeahead answers 100 entries.
std::string encode_entry(int32_t message_id, const directory::DirectoryEntry& e, std::string_view base_dn,
                         const Selection& s, bool types_only = false);

// ---- the search loop -------------------------------------------------------------------

// Where the next candidate is: a query of the plan and an offset into its ranked results.
struct Cursor {
  size_t query = 0;
  size_t offset = 0;
  bool operator==(const Cursor&) const = default;
};

// Asks the directory for [offset, offset + limit) of a query's ranked candidates.
// REQUIRES of callers: limit <= 100.
using Fetch = std::function<Result<directory::SearchResult>(const directory::Query&, size_t limit, size_t offset)>;

struct RunOptions {
  size_t want = 0;  // matching entries wanted (the size limit or page size); >= 1
  // Look for one more match after `want` (not returned) to tell "more" from "exactly
  // `want`": sizeLimitExceeded, or a paged search's last page.
  bool probe_more = true;
  size_t window = 1000;  // directory::SearchLimits::max_window
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

struct RunResult {
  // The matches, at most `want`, in rank order, as the viewer may see them (to_entry() or
  // encode_entry() them).
  std::vector<directory::DirectoryEntry> entries;
  std::vector<uint64_t> ids;  // their directory ids
  enum class End {
    exhausted,     // every candidate checked
    more,          // `want` entries returned and at least one more matches (after `next`)
    window,        // every candidate checked, but some query's candidates passed the window
    time,          // the deadline passed
    error,         // the directory refused (error holds why)
  };
  End end = End::exhausted;
  Cursor next;     // where to resume (paged results)
  Error error{Errc::io, {}};
};

// Runs the plan from `from`: candidates in each query's rank order, each checked with
// `filter` (SchemaView), those in `seen` skipped (an entry found by an earlier query of
// the plan, or an earlier page); the entries returned are added to `seen`.
RunResult run_search(const SearchPlan& plan, const Filter& filter, std::string_view base_dn, const Fetch& fetch,
                     const RunOptions& options, Cursor from, std::unordered_set<uint64_t>& seen);

}  // namespace caremail::ldap

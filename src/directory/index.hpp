// The directory search engine (PRODUCT.md D1, D3): 1.3 million entries in memory, searched
// by name in any word order (whole words, prefixes, one typo in words of 5+ letters), by
// organisation name or ODS code, by address, by role, speciality, work area, unit or site,
// all combined with AND; ranked exact word before prefix before typo, then the viewer's own
// organisation first, then by surname and given name. Privacy is applied here, once, for
// every front-end (web, LDAP): hidden entries and hidden mobiles reach only the viewers the
// Viewer struct says may see them.
//
// Shape (see docs/ARCHITECTURE.md "Directory search" for the numbers behind it):
//   - entries stored compactly: what a candidate check reads (flags, organisation, role,
//     site..., term ids) in one 64-byte record; strings in one arena; repeated values
//     (roles, sites, organisations) interned;
//   - a term dictionary sorted so that a prefix is a range of term ids, each term with a
//     sorted posting list of document ids, and a ready-made list for every word prefix of
//     up to 4 bytes and address prefix of up to 5 characters (the first letters typed,
//     whose ranges hold thousands of terms);
//   - a deletion-neighbourhood index over the dictionary for one-typo lookup;
//   - document ids assigned in display order at build time, so that the first k matches in
//     id order are the first k in rank order: a broad typeahead stops after k per rank
//     group, and candidates are checked against the query's most selective other list by
//     galloping through it before their records are read.
// Updates (upsert, remove) need no rebuild: an updated entry gets a new document id,
// inserted into its posting lists' overlay parts (kept in display order), and its old id
// is tombstoned. compact() folds the overlay back in; stats() says when it is worth it.
//
// Thread safety: search(), get() and stats() may run concurrently from any number of
// threads. upsert() and remove() take an exclusive lock (microseconds); compact() builds
// under a shared lock, so searches go on meanwhile, and takes the exclusive lock only to
// swap; writers wait for each other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "directory/entry.hpp"

namespace caremail::directory {

// Who is searching. Decides what privacy hides from them.
struct Viewer {
  uint32_t org_id = 0;     // their organisation (DirectoryEntry::org_id); 0: none, e.g. a service
  bool org_admin = false;  // a local administrator of org_id: sees its hidden entries and mobiles
  bool national = false;   // a national administrator or helpdesk: sees everything
};

// What to find. Every non-empty part must match (AND). Text and filters are untrusted
// input: any bytes are accepted; see SearchLimits for the bounds.
struct Query {
  // Free text: words of the name, address, organisation name or ODS code, in any order.
  // A word matches a whole word, a prefix of one, or (5+ letters) a word one typo away.
  // A word containing '@' is an address, matched whole or as a prefix. The digits that
  // tell namesakes' addresses apart ("williams17") are not words: type the address.
  std::string text;
  // The text is being typed (address-book typeahead): only the last word is a prefix,
  // the earlier ones are whole words (or one typo away). A trailing space ends the word.
  bool typeahead = false;
  // The text words must match the entry's own words (its names, title and address), not
  // its organisation's: how an LDAP (cn=...) filter reads. Off, "smith northfield" finds
  // the Smiths of Northfield.
  bool names_only = false;
  // Words of 5+ letters may match a word one typo away. Off for LDAP, whose filters have
  // no such notion: a typo match passes the exact filter that follows only by accident (a
  // component inside a word), and looking for them once the exact and prefix matches run
  // short is the costliest part of a query.
  bool allow_typos = true;
  // Pieces that must each occur inside one of the entry's own words (names, title, the
  // words of its address), anywhere in it: "son" finds Johnson as well as Sonia. Folded
  // like text; pieces of one or two letters narrow nothing and are ignored. Ranked exact
  // when a word is the piece, prefix otherwise. The LDAP front-end's second pass for a
  // substring filter's inner components ("(cn=*son*)"), after the word-start pass.
  std::vector<std::string> contains;
  // Pieces that must each occur anywhere in the entry's address, domain included ("how"
  // finds everyone at chowdhury-chemists): LDAP's (mail=*how*). Folded like an address;
  // pieces shorter than 3 characters are ignored.
  std::vector<std::string> address_contains;

  std::string ods_code;      // exact, any case
  std::string organisation;  // words of the organisation's name, each a whole word or a prefix
  std::string job_role;      // words of the value, each a whole word or a prefix: "nurse"
  std::string speciality;
  std::string work_area;
  std::string unit;
  std::string site;
  std::string address;  // the whole address, any case; with address_prefix, its beginning
  bool address_prefix = false;
  std::optional<EntryKind> kind;
  bool admins_only = false;  // D3: the organisation's local administrators
  // Conditions on the stored names and address, checked once an entry's words matched and
  // before it is counted or returned: every inner list needs one assertion that holds (an
  // AND of ORs). The LDAP front-end passes its filter's substring tests, so that a page of
  // candidates is a page of matches: "(cn=williams*sa*)" finds the Williamses' words, and
  // Sarah Williams, whose cn starts with "Sarah", is dropped here, not after a round trip.
  std::vector<std::vector<SubstringAssertion>> assertions;
};

enum class Match : uint8_t { exact, prefix, fuzzy };

struct Hit {
  DirectoryEntry entry;        // with what the viewer may not see blanked
  Match match = Match::exact;  // the weakest way any text word matched
  bool own_org = false;
};

struct SearchResult {
  std::vector<Hit> hits;
  // How many entries match in all. Exact when total_exact; otherwise an estimate (a broad
  // typeahead stops scanning once the page is full), good for "about N".
  size_t total = 0;
  bool total_exact = true;
  // The scan stopped at SearchLimits::max_rejected: matches may lie beyond it.
  bool truncated = false;
};

struct SearchLimits {
  // Why: each text word is one clause checked against every candidate, and the typo
  // lookup costs a few dozen probes per word; eight words is more than any name.
  // Words past the eighth are ignored (never an error: typeahead must not fail).
  size_t max_words = 8;
  // Why: bounds the folding work per query; longer text is cut here.
  size_t max_text_bytes = 512;
  // Why: offset + limit is the work a page costs (the scan keeps that many per rank
  // group); deep paging past this is refused with invalid_argument.
  size_t max_window = 1000;
  // Why: Query::assertions can drop nearly every candidate of a broad word ("(cn=o'*)"
  // finds every word in "o", few names starting "o'"), and a page that never fills would
  // scan the whole list (100 ms at national scale). After this many dropped candidates
  // the search returns what it has, marked truncated.
  size_t max_rejected = 2000;
};

struct IndexStats {
  size_t entries = 0;            // live entries
  size_t documents = 0;          // document ids in use, tombstoned included
  size_t tombstones = 0;         // superseded or removed since the last build
  size_t overlay_documents = 0;  // added since the last build (not in build order)
  size_t terms = 0;
  size_t organisations = 0;
  size_t memory_bytes = 0;  // an estimate of what the index holds on the heap
};

class DirectoryIndex {
 public:
  DirectoryIndex();  // empty
  ~DirectoryIndex();
  DirectoryIndex(DirectoryIndex&&) noexcept;
  DirectoryIndex& operator=(DirectoryIndex&&) noexcept;
  DirectoryIndex(const DirectoryIndex&) = delete;
  DirectoryIndex& operator=(const DirectoryIndex&) = delete;

  // Builds an index in one go, streaming: add() every entry, then finish(). Cheaper in
  // memory than a vector of all entries, which the full-scale benchmark cannot afford twice.
  class Builder {
   public:
    Builder();
    ~Builder();
    Builder(Builder&&) noexcept;
    Builder& operator=(Builder&&) noexcept;
    // A later entry with the same id replaces the earlier one.
    void add(const DirectoryEntry& entry);
    DirectoryIndex finish() &&;

   private:
    struct State;
    std::unique_ptr<State> s_;
  };

  static DirectoryIndex build(const std::vector<DirectoryEntry>& entries);

  // Adds the entry, or replaces the one with the same id. Cost: the entry's words
  // (a dozen or so) each appended to a posting list, plus a dictionary insertion for a word
  // never seen before; microseconds. Errc::too_large when document ids run out (after
  // about four billion updates without compact()).
  Status upsert(const DirectoryEntry& entry);
  // Removes the entry; false when there was none with that id.
  bool remove(uint64_t id);
  // Rebuilds from the live entries: drops tombstones and puts updated entries back in
  // display order. Takes as long as a build (12 s for 1.3 million entries) and twice the
  // memory meanwhile; searches go on, updates wait. Run it when stats() shows many
  // tombstones or overlay documents (say 5% of entries), or nightly.
  void compact();

  // The page [offset, offset + limit) of the ranked matches, in this order: the weakest
  // match of any text word (all exact, then some prefix, then some typo); within that, the
  // viewer's own organisation first; then surname, given name (display name for entries
  // without a surname), id. Entries the viewer may not see are neither returned nor
  // counted. Errc::invalid_argument when the query has nothing to search by (no text word
  // and no filter) or limit is 0 or offset + limit passes limits.max_window.
  Result<SearchResult> search(const Query& query, const Viewer& viewer, size_t limit = 20, size_t offset = 0,
                              const SearchLimits& limits = {}) const;

  // One entry by id, as `viewer` may see it; nullopt when absent or hidden from them.
  std::optional<DirectoryEntry> get(uint64_t id, const Viewer& viewer) const;

  IndexStats stats() const;

 private:
  struct Impl;
  explicit DirectoryIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace caremail::directory

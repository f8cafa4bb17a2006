// Internals of the directory index shared by its two halves, index_build.cpp (building,
// updates) and index.cpp (searching). Not a contract: include only from those files.
#pragma once

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <numeric>
#include <shared_mutex>
#include <span>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "directory/index.hpp"
#include "directory/normalize.hpp"

namespace caremail::directory {
namespace detail {

constexpr uint32_t kNone = UINT32_MAX;
// Typo tolerance starts at five letters: in shorter words one edit turns most names into
// other common names ("ann" → "anna", "jan", "dan"), which would flood the results.
constexpr size_t kFuzzyMinWord = 5;
// A query word of 5 letters one deletion away from a 4-letter term: index terms from 4.
constexpr size_t kFuzzyMinTerm = kFuzzyMinWord - 1;

enum RecordFlag : uint8_t { kHidden = 1, kMobileHidden = 2, kAdmin = 4, kDeleted = 8 };

// The low-cardinality fields, interned: a few thousand distinct values between them.
enum Field { kTitle, kRole, kSpeciality, kWorkArea, kUnit, kSite, kFields };

// The per-entry strings, in arena order; the sort key first, as ranking reads it most.
enum Str { kSortKey, kGiven, kSurname, kDisplay, kAddress, kTelephone, kMobile, kPager, kFax, kNotes, kStrs };

// What filtering and ranking read for every candidate, in one cache line: checking a
// candidate costs one memory miss, not three (measured: the misses were most of a query).
// Terms past kInline, rare, live in IndexData::overflow.
constexpr size_t kInline = 8;
struct alignas(64) Record {
  uint32_t org = 0;  // index into orgs
  uint8_t flags = 0;
  EntryKind kind = EntryKind::person;
  uint16_t nterms = 0;
  std::array<uint32_t, kFields - 1> value{};  // kRole .. kSite (the title is cold)
  uint32_t overflow = 0;                      // where terms past kInline start in overflow
  std::array<uint32_t, kInline> terms{};      // the entry's own term ids, sorted
};
static_assert(sizeof(Record) == 64);

// What only a hit, or a tie in display order, needs.
struct Cold {
  uint64_t id = 0;
  uint64_t text = 0;  // offset of the record's strings in the arena
  uint32_t title = 0;
};

inline uint32_t& value_of(Record& r, int field) { return r.value[static_cast<size_t>(field - kRole)]; }
inline uint32_t value_of(const Record& r, int field) { return r.value[static_cast<size_t>(field - kRole)]; }

struct TermView {
  std::span<const uint32_t> a, b;
};

// Posting lists: a compact base built once (CSR: offsets into one array, ascending
// document ids, which is display order) plus per-key vectors for documents added since,
// each kept in display order too (by the caller's comparison), so that a scan of either
// part can stop once it has a page.
class Postings {
 public:
  // Two passes over the documents in ascending order: `each(emit)` must call emit(key, doc)
  // for every posting, the same way both times.
  template <class Each>
  void build(size_t keys, Each&& each) {
    offsets_.assign(keys + 1, 0);
    each([&](uint32_t key, uint32_t) { ++offsets_[key + 1]; });
    for (size_t k = 0; k < keys; ++k) offsets_[k + 1] += offsets_[k];
    docs_.resize(offsets_[keys]);
    std::vector<uint32_t> cursor(offsets_.begin(), offsets_.end() - 1);
    each([&](uint32_t key, uint32_t doc) { docs_[cursor[key]++] = doc; });
    overlay_.clear();
    in_overlay_.clear();
  }
  std::span<const uint32_t> base(uint32_t key) const {
    if (key + 1 >= offsets_.size()) return {};
    return {docs_.data() + offsets_[key], offsets_[key + 1] - offsets_[key]};
  }
  std::span<const uint32_t> overlay(uint32_t key) const {
    // Most keys have no overlay part: answered without hashing (a search asks for
    // thousands of keys).
    if (key >= in_overlay_.size() || !in_overlay_[key]) return {};
    auto it = overlay_.find(key);
    if (it == overlay_.end()) return {};
    return it->second;
  }
  size_t size(uint32_t key) const { return base(key).size() + overlay(key).size(); }
  template <class Less>
  void insert(uint32_t key, uint32_t doc, Less&& less) {
    auto& v = overlay_[key];
    v.insert(std::upper_bound(v.begin(), v.end(), doc, less), doc);
    if (key >= in_overlay_.size()) in_overlay_.resize(key + 1, false);
    in_overlay_[key] = true;
  }
  size_t memory() const {
    size_t m = offsets_.capacity() * 4 + docs_.capacity() * 4;
    for (const auto& [k, v] : overlay_) m += 48 + v.capacity() * 4;
    return m + in_overlay_.capacity() / 8;
  }

 private:
  std::vector<uint32_t> offsets_;
  std::vector<uint32_t> docs_;
  std::unordered_map<uint32_t, std::vector<uint32_t>> overlay_;
  std::vector<bool> in_overlay_;  // by key: has an overlay part
};

// Terms: base ids in sorted order (a prefix is a range of ids), then terms added since
// the build, which get the next ids and are found through a small ordered map.
class TermDict {
 public:
  uint32_t size() const { return static_cast<uint32_t>(start_.size() - 1); }
  uint32_t base_count() const { return base_count_; }
  std::string_view term(uint32_t id) const {
    return std::string_view(chars_).substr(start_[id], start_[id + 1] - start_[id]);
  }
  void assign_base(std::string chars, std::vector<uint64_t> start) {
    chars_ = std::move(chars);
    start_ = std::move(start);
    base_count_ = size();
    overlay_.clear();
  }
  uint32_t find(std::string_view t) const {
    uint32_t lo = lower(t);
    if (lo < base_count_ && term(lo) == t) return lo;
    auto it = overlay_.find(t);
    return it == overlay_.end() ? kNone : it->second;
  }
  // Base ids of the terms that start with `prefix`: [first, second).
  std::pair<uint32_t, uint32_t> base_range(std::string_view prefix) const {
    uint32_t lo = lower(prefix);
    uint32_t n = base_count_ - lo;
    uint32_t hi = lo;
    while (n > 0) {  // the first term past the prefix
      uint32_t half = n / 2;
      uint32_t mid = hi + half;
      if (term(mid).substr(0, prefix.size()) <= prefix) {
        hi = mid + 1;
        n -= half + 1;
      } else {
        n = half;
      }
    }
    return {lo, hi};
  }
  void overlay_range(std::string_view prefix, std::vector<uint32_t>& out) const {
    for (auto it = overlay_.lower_bound(prefix); it != overlay_.end() && it->first.starts_with(prefix); ++it) {
      out.push_back(it->second);
    }
  }
  uint32_t add(std::string_view t) {
    chars_ += t;
    start_.push_back(chars_.size());
    uint32_t id = size() - 1;
    overlay_.emplace(std::string(t), id);
    return id;
  }
  size_t overlay_count() const { return overlay_.size(); }
  size_t memory() const { return chars_.capacity() + start_.capacity() * 8 + overlay_.size() * 96; }

 private:
  uint32_t lower(std::string_view t) const {
    uint32_t lo = 0, n = base_count_;
    while (n > 0) {
      uint32_t half = n / 2;
      if (term(lo + half) < t) {
        lo += half + 1;
        n -= half + 1;
      } else {
        n = half;
      }
    }
    return lo;
  }
  std::string chars_;
  std::vector<uint64_t> start_{0};
  uint32_t base_count_ = 0;
  std::map<std::string, uint32_t, std::less<>> overlay_;
};

// The words of a small table's values (organisation names, roles, sites), sorted, for
// filters: a filter word is a whole word or a prefix of one, so its matches are a range.
class WordIndex {
 public:
  // While building (bulk), additions are appended and sort() orders them once.
  void add(uint32_t id, const std::vector<std::string>& words, bool bulk) {
    for (const auto& w : words) {
      std::pair<std::string, uint32_t> e{w, id};
      if (bulk) {
        entries_.push_back(std::move(e));
      } else {
        entries_.insert(std::upper_bound(entries_.begin(), entries_.end(), e), std::move(e));
      }
    }
  }
  void remove(uint32_t id, const std::vector<std::string>& words) {
    for (const auto& w : words) {
      auto it = std::lower_bound(entries_.begin(), entries_.end(), std::pair<std::string, uint32_t>{w, id});
      if (it != entries_.end() && it->first == w && it->second == id) entries_.erase(it);
    }
  }
  void sort() {
    std::sort(entries_.begin(), entries_.end());
    entries_.erase(std::unique(entries_.begin(), entries_.end()), entries_.end());
  }
  // The ids with, for every filter word, a word that starts with it; sorted.
  std::vector<uint32_t> match(const std::vector<std::string>& filter) const {
    std::vector<uint32_t> result, ids;
    for (size_t i = 0; i < filter.size(); ++i) {
      const std::string& w = filter[i];
      ids.clear();
      auto it = std::lower_bound(entries_.begin(), entries_.end(), std::pair<std::string, uint32_t>{w, 0});
      for (; it != entries_.end() && it->first.starts_with(w); ++it) ids.push_back(it->second);
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      if (i == 0) {
        result.swap(ids);
      } else {
        std::vector<uint32_t> both;
        std::set_intersection(result.begin(), result.end(), ids.begin(), ids.end(), std::back_inserter(both));
        result.swap(both);
      }
      if (result.empty()) break;
    }
    return result;
  }
  size_t memory() const { return entries_.capacity() * 40; }

 private:
  std::vector<std::pair<std::string, uint32_t>> entries_;
};

struct Org {
  uint32_t external_id = 0;
  std::string ods;         // as given
  std::string ods_folded;  // lower case: a word of the free text
  std::string name;
  std::vector<std::string> words;  // folded name words (index mode) and ods_folded
  // The term ids of `words`, sorted: checked once per query and organisation rather than
  // stored in each of its (thousands of) entries.
  std::vector<uint32_t> terms;
  bool terms_dirty = true;  // words changed; terms to be looked up again
};

struct ValueTable {
  std::vector<std::string> values{std::string()};  // id 0 is the empty value
  std::unordered_map<std::string, uint32_t> ids{{std::string(), 0}};
  WordIndex words;
  Postings docs;

  uint32_t intern(const std::string& v, bool bulk) {
    auto [it, inserted] = ids.emplace(v, static_cast<uint32_t>(values.size()));
    if (inserted) {
      values.push_back(v);
      words.add(it->second, fold_words(v, WordMode::index), bulk);
    }
    return it->second;
  }
};

// The fuzzy index: for every word term of 4+ bytes, the hash of the term and of each
// deletion of one byte from it. A query word's own deletions probe it; two words are one
// edit apart only if they share such a variant (then within_one_edit confirms).
struct FuzzyEntry {
  uint64_t hash;
  uint32_t term;
};

inline uint64_t hash_of(std::string_view s) { return std::hash<std::string_view>{}(s); }

template <class Fn>
void for_each_variant(std::string_view w, Fn&& fn) {
  std::string v;
  fn(hash_of(w));
  for (size_t i = 0; i < w.size(); ++i) {
    if (i > 0 && w[i] == w[i - 1]) continue;  // deleting either of a double letter gives the same
    v.assign(w.substr(0, i));
    v.append(w.substr(i + 1));
    fn(hash_of(v));
  }
}

// The prefix lists: ready-made lists for the short prefixes of terms, whose ranges hold
// thousands of terms that a search would otherwise merge one by one: words' first 1 to 4
// bytes and addresses' first 1 to 5 characters ("@" and up to 5; every address is a term
// of its own, so "@sar" spans the ten thousand addresses of the Sarahs). From there on a
// range holds a few terms ("david": david, davids, davidson). Each is coded into one
// integer: the length in the top byte, then up to 7 bytes.
inline bool is_address_term(std::string_view t) { return !t.empty() && t[0] == '@'; }

inline constexpr size_t kPrefixListBytes = 4;
inline constexpr size_t kAddressPrefixListBytes = 6;
inline size_t prefix_list_bytes(std::string_view term) {
  return is_address_term(term) ? kAddressPrefixListBytes : kPrefixListBytes;
}
inline uint64_t prefix_code(std::string_view w, size_t n) {
  uint64_t c = static_cast<uint64_t>(n) << 56;
  for (size_t i = 0; i < n; ++i) c |= static_cast<uint64_t>(static_cast<unsigned char>(w[i])) << (8 * (6 - i));
  return c;
}
// fn(code) for each prefix of `term` that has a list ("@" alone is none).
template <class Fn>
void for_each_prefix_code(std::string_view term, Fn&& fn) {
  const size_t first = is_address_term(term) ? 2 : 1, last = std::min(term.size(), prefix_list_bytes(term));
  for (size_t n = first; n <= last; ++n) fn(prefix_code(term, n));
}

// Trigram lists: every 3-byte piece of the entry's own words, for Query::contains ("son"
// finds Johnson), and of its address, for Query::address_contains. A key is the three
// bytes' low 7 bits each, plus one bit for the address: bytes of other scripts share keys
// with ASCII ones, which only widens a list (candidates are checked against their words).
inline constexpr size_t kTrigramKeys = size_t{1} << 22;
inline uint32_t trigram_key(std::string_view w, size_t i, bool address) {
  auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(w[i + k]) & 0x7f); };
  return (address ? 1u << 21 : 0u) | b(0) << 14 | b(1) << 7 | b(2);
}

inline void put_varint(std::string& out, size_t n) {
  while (n >= 0x80) {
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
}

inline size_t get_varint(const char*& p) {
  size_t n = 0;
  int shift = 0;
  while (true) {
    auto b = static_cast<unsigned char>(*p++);
    n |= static_cast<size_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return n;
    shift += 7;
  }
}

inline std::string sort_key(const DirectoryEntry& e) {
  // Surname then given name; entries without a surname (mailboxes, lists) by their name.
  std::string key = fold_text(e.surname.empty() ? e.display_name : e.surname);
  key.push_back('\x01');
  key += fold_text(e.given_name);
  return key;
}

// ---- The data ----------------------------------------------------------------------------

struct IndexData {
  std::vector<Record> records;  // by document id
  std::vector<Cold> cold;       // by document id
  // Each document's organisation again, packed: an organisation filter checks candidates
  // here (5 MB, mostly in cache) before reading their records (83 MB, a miss each).
  std::vector<uint32_t> doc_org;
  std::string arena;
  std::vector<uint32_t> overflow;  // terms of records with more than kInline
  uint32_t base_docs = 0;          // documents [0, base_docs) are in display order
  // For documents from base_docs on: the first 8 bytes of the sort key, big-endian, so
  // that ordering them (overlay posting lists) rarely needs the arena.
  std::vector<uint64_t> overlay_key;
  size_t tombstones = 0;
  std::unordered_map<uint64_t, uint32_t> by_id;  // live entries only

  TermDict dict;
  Postings term_docs;
  std::unordered_map<uint64_t, uint32_t> prefix_keys;  // prefix code → key in prefix_docs
  Postings prefix_docs;      // by the entry's terms and its organisation's
  Postings own_prefix_docs;  // by the entry's own terms: for names-only queries, where
                             // "t" must not mean everyone in a Trust
  Postings trigram_docs;     // by trigram_key of the entry's own words and address
  std::vector<FuzzyEntry> fuzzy;  // sorted by hash
  std::unordered_multimap<uint64_t, uint32_t> fuzzy_overlay;

  std::vector<Org> orgs;
  WordIndex org_words;
  bool bulk = false;  // a Builder is adding: word indexes are sorted at the end
  std::unordered_map<uint32_t, uint32_t> org_by_id;
  std::unordered_map<std::string, uint32_t> org_by_ods;  // ods_folded → index
  Postings org_docs;
  Postings admin_docs;  // per organisation, its administrators (D3): "find my administrator"
  std::array<ValueTable, kFields> values;

  std::string_view str(const Cold& r, Str which) const {
    const char* p = arena.data() + r.text;
    for (int i = 0;; ++i) {
      size_t n = get_varint(p);
      if (i == which) return {p, n};
      p += n;
    }
  }

  TermView terms(const Record& r) const {
    TermView v{{r.terms.data(), std::min<size_t>(r.nterms, kInline)}, {}};
    if (r.nterms > kInline) v.b = {overflow.data() + r.overflow, r.nterms - kInline};
    return v;
  }

  // REQUIRES: t sorted, at most UINT16_MAX.
  void set_terms(Record& r, std::span<const uint32_t> t) {
    r.nterms = static_cast<uint16_t>(t.size());
    std::copy_n(t.begin(), std::min(t.size(), kInline), r.terms.begin());
    if (t.size() > kInline) {
      r.overflow = static_cast<uint32_t>(overflow.size());
      overflow.insert(overflow.end(), t.begin() + kInline, t.end());
    }
  }

  // The document's own terms (names, title, address), sorted and unique.
  void own_terms(const Record& r, std::vector<uint32_t>& out) const {
    TermView v = terms(r);
    out.assign(v.a.begin(), v.a.end());
    out.insert(out.end(), v.b.begin(), v.b.end());
  }

  // The document's terms and its organisation's, sorted and unique: its postings.
  void all_terms(const Record& r, std::vector<uint32_t>& out) const {
    out.clear();
    TermView v = terms(r);
    out.insert(out.end(), v.a.begin(), v.a.end());
    out.insert(out.end(), v.b.begin(), v.b.end());
    const auto& ot = orgs[r.org].terms;
    out.insert(out.end(), ot.begin(), ot.end());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }

  uint32_t intern_org(const DirectoryEntry& e) {
    auto it = org_by_id.find(e.org_id);
    if (it != org_by_id.end()) {
      Org& o = orgs[it->second];
      // An organisation renamed (or recoded): what it shows changes at once for all its
      // entries; the words its older entries are found by change as they are updated or
      // at compact().
      if (o.name != e.org_name || o.ods != e.ods_code) {
        org_words.remove(it->second, o.words);
        if (o.ods != e.ods_code) {
          org_by_ods.erase(o.ods_folded);
          o.ods = e.ods_code;
          o.ods_folded = fold_address(e.ods_code);
          if (!o.ods_folded.empty()) org_by_ods[o.ods_folded] = it->second;
        }
        o.name = e.org_name;
        o.words = fold_words(o.name, WordMode::index);
        if (!o.ods_folded.empty()) o.words.push_back(o.ods_folded);
        o.terms_dirty = true;
        org_words.add(it->second, o.words, bulk);
      }
      return it->second;
    }
    auto idx = static_cast<uint32_t>(orgs.size());
    Org o;
    o.external_id = e.org_id;
    o.ods = e.ods_code;
    o.ods_folded = fold_address(e.ods_code);
    o.name = e.org_name;
    o.words = fold_words(o.name, WordMode::index);
    if (!o.ods_folded.empty()) {
      o.words.push_back(o.ods_folded);
      org_by_ods.emplace(o.ods_folded, idx);
    }
    org_words.add(idx, o.words, bulk);
    orgs.push_back(std::move(o));
    org_by_id.emplace(e.org_id, idx);
    return idx;
  }

  // Stores the entry's fields as a new record (no terms yet) and returns the words it is
  // found by, sorted and unique, apart from its organisation's.
  Record make_record(const DirectoryEntry& e, std::vector<std::string>& words, Cold& c) {
    Record r;
    c.id = e.id;
    r.kind = e.kind;
    r.flags = static_cast<uint8_t>((e.hidden ? kHidden : 0) | (e.mobile_hidden ? kMobileHidden : 0) |
                                   (e.is_org_admin ? kAdmin : 0));
    r.org = intern_org(e);
    c.title = values[kTitle].intern(e.title, bulk);
    value_of(r, kRole) = values[kRole].intern(e.job_role, bulk);
    value_of(r, kSpeciality) = values[kSpeciality].intern(e.speciality, bulk);
    value_of(r, kWorkArea) = values[kWorkArea].intern(e.work_area, bulk);
    value_of(r, kUnit) = values[kUnit].intern(e.unit, bulk);
    value_of(r, kSite) = values[kSite].intern(e.site, bulk);
    c.text = arena.size();
    const std::string key = sort_key(e);
    for (std::string_view s :
         {std::string_view(key), std::string_view(e.given_name), std::string_view(e.surname),
          std::string_view(e.display_name), std::string_view(e.address), std::string_view(e.telephone),
          std::string_view(e.mobile), std::string_view(e.pager), std::string_view(e.fax), std::string_view(e.notes)}) {
      put_varint(arena, s.size());
      arena += s;
    }

    words.clear();
    fold_words(e.title, WordMode::index, words);
    fold_words(e.given_name, WordMode::index, words);
    fold_words(e.surname, WordMode::index, words);
    fold_words(e.display_name, WordMode::index, words);
    if (!e.address.empty()) {
      std::string a = fold_address(e.address);
      size_t at = a.rfind('@');
      // The local part's words without the digits that tell namesakes apart
      // ("sarah.williams17" → "sarah", "williams"): as terms of their own, "williams2"
      // to "williams300" would turn the prefix "williams" into hundreds of lists. The
      // whole address stays findable as an address.
      size_t first = words.size();
      fold_words(std::string_view(a).substr(0, at), WordMode::index, words);
      for (size_t i = first; i < words.size(); ++i) {
        std::string& w = words[i];
        size_t end = w.size();
        while (end > 0 && w[end - 1] >= '0' && w[end - 1] <= '9') --end;
        if (end > 0) w.resize(end);  // all digits: kept as it is
      }
      words.push_back("@" + a);
    }
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    // A record holds at most 65535 terms; more would take a name of megabytes, which the
    // front-ends do not accept. Cut, never fail.
    if (words.size() > UINT16_MAX) words.resize(UINT16_MAX);
    return r;
  }

  static uint64_t key_prefix(std::string_view k) {
    uint64_t v = 0;
    for (size_t i = 0; i < 8; ++i) v = (v << 8) | (i < k.size() ? static_cast<unsigned char>(k[i]) : 0);
    return v;
  }

  // Display order among documents added since the build.
  bool overlay_before(uint32_t a, uint32_t b) const {
    uint64_t ka = overlay_key[a - base_docs], kb = overlay_key[b - base_docs];
    if (ka != kb) return ka < kb;
    return before(a, b);
  }

  bool before(uint32_t a, uint32_t b) const {
    if (a < base_docs && b < base_docs) return a < b;
    const Cold& ra = cold[a];
    const Cold& rb = cold[b];
    int c = str(ra, kSortKey).compare(str(rb, kSortKey));
    if (c != 0) return c < 0;
    if (ra.id != rb.id) return ra.id < rb.id;
    // An entry updated twice since the build has two documents with one key: a total
    // order keeps each document's copies adjacent in a merge, which is how it dedupes.
    return a < b;
  }

  bool may_see_hidden(const Record& r, const Viewer& v, uint32_t viewer_org) const {
    return v.national || (v.org_admin && r.org == viewer_org);
  }

  DirectoryEntry materialise(uint32_t doc, bool see_hidden) const {
    const Record& r = records[doc];
    const Cold& c = cold[doc];
    DirectoryEntry e;
    e.id = c.id;
    e.kind = r.kind;
    e.title = values[kTitle].values[c.title];
    e.given_name = str(c, kGiven);
    e.surname = str(c, kSurname);
    e.display_name = str(c, kDisplay);
    e.address = str(c, kAddress);
    e.job_role = values[kRole].values[value_of(r, kRole)];
    e.speciality = values[kSpeciality].values[value_of(r, kSpeciality)];
    e.work_area = values[kWorkArea].values[value_of(r, kWorkArea)];
    const Org& o = orgs[r.org];
    e.org_id = o.external_id;
    e.ods_code = o.ods;
    e.org_name = o.name;
    e.unit = values[kUnit].values[value_of(r, kUnit)];
    e.site = values[kSite].values[value_of(r, kSite)];
    e.telephone = str(c, kTelephone);
    e.mobile_hidden = r.flags & kMobileHidden;
    if (!e.mobile_hidden || see_hidden) e.mobile = str(c, kMobile);
    e.pager = str(c, kPager);
    e.fax = str(c, kFax);
    e.notes = str(c, kNotes);
    e.hidden = r.flags & kHidden;
    e.is_org_admin = r.flags & kAdmin;
    return e;
  }

  void add_fuzzy_overlay(uint32_t term) {
    std::string_view t = dict.term(term);
    if (is_address_term(t) || t.size() < kFuzzyMinTerm) return;
    std::vector<uint64_t> hs;
    for_each_variant(t, [&](uint64_t h) { hs.push_back(h); });
    std::sort(hs.begin(), hs.end());
    hs.erase(std::unique(hs.begin(), hs.end()), hs.end());
    for (uint64_t h : hs) fuzzy_overlay.emplace(h, term);
  }

  uint32_t find_prefix_key(uint64_t code) const {
    auto it = prefix_keys.find(code);
    return it == prefix_keys.end() ? kNone : it->second;
  }

  uint32_t prefix_key(uint64_t code, bool create) {
    auto it = prefix_keys.find(code);
    if (it != prefix_keys.end()) return it->second;
    if (!create) return kNone;
    auto key = static_cast<uint32_t>(prefix_keys.size());
    prefix_keys.emplace(code, key);
    return key;
  }

  // The prefix-list keys of a document's terms (all_terms), sorted and unique.
  void prefix_keys_of(std::span<const uint32_t> terms, std::vector<uint32_t>& out, bool create) {
    out.clear();
    for (uint32_t t : terms) {
      for_each_prefix_code(dict.term(t), [&](uint64_t code) { out.push_back(prefix_key(code, create)); });
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }

  // The trigram keys of a document's own terms (own_terms), sorted and unique.
  void trigram_keys_of(std::span<const uint32_t> own, std::vector<uint32_t>& out) const {
    out.clear();
    for (uint32_t t : own) {
      std::string_view w = dict.term(t);
      const bool address = is_address_term(w);
      if (address) w.remove_prefix(1);
      for (size_t i = 0; i + 3 <= w.size(); ++i) out.push_back(trigram_key(w, i, address));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }

  size_t memory() const {
    size_t m = records.capacity() * sizeof(Record) + cold.capacity() * sizeof(Cold) + arena.capacity() +
               overlay_key.capacity() * 8 + overflow.capacity() * 4 + doc_org.capacity() * 4 + by_id.size() * 40 +
               dict.memory() + term_docs.memory() + prefix_docs.memory() + own_prefix_docs.memory() +
               trigram_docs.memory() + prefix_keys.size() * 32 +
               fuzzy.capacity() * sizeof(FuzzyEntry) + fuzzy_overlay.size() * 40 + org_docs.memory() +
               admin_docs.memory();
    for (const auto& o : orgs) m += sizeof(Org) + o.name.capacity() + o.words.size() * 32 + o.terms.capacity() * 4;
    m += org_words.memory();
    for (const auto& t : values) m += t.values.size() * 96 + t.docs.memory() + t.words.memory();
    return m;
  }
};

}  // namespace detail

struct DirectoryIndex::Impl {
  // Writers (upsert, remove, compact) hold write_mu throughout, so that compact() can
  // build the new index under a shared lock of mu, with searches going on, and lose no
  // update before it swaps the new index in under the exclusive lock.
  std::mutex write_mu;
  mutable std::shared_mutex mu;
  detail::IndexData d;  // GUARDED_BY(mu); changed only with write_mu held too
};

}  // namespace caremail::directory

// Searching the directory index (see index.hpp).
#include "directory/index.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <mutex>
#include <numeric>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/case_ignore.hpp"
#include "directory/index_data.hpp"
#include "directory/normalize.hpp"

namespace caremail::directory {

using namespace detail;

// ---- Searching ---------------------------------------------------------------------------

namespace {

// One text word (or address) of the query, resolved against the dictionary.
struct Clause {
  bool allow_prefix = false;
  uint32_t exact = kNone;
  uint32_t lo = 0, hi = 0;             // base terms with the prefix (the exact one included)
  std::vector<uint32_t> extra_prefix;  // overlay terms with the prefix, sorted
  std::vector<uint32_t> fuzzy;         // terms one edit away, sorted
  uint32_t prefix_key = kNone;         // the ready-made list for a short prefix
  int max_tier = 0;
  uint64_t cost = 0;                     // postings in its widest stream
  std::array<uint64_t, 3> level_cost{};  // postings in its stream for each level

  // Query::contains: the piece may lie anywhere inside an own word (no prefix, no typos);
  // with in_address (Query::address_contains), anywhere in the address.
  bool contains = false;
  bool in_address = false;
  std::string piece;
  const TermDict* dict = nullptr;
  uint32_t trigram = 0;  // the piece's trigram with the shortest list

  // How the word matches term t: 0 exact, 1 prefix (for a piece: inside), 2 fuzzy, 3 not.
  int tier_of(uint32_t t) const {
    if (t == exact) return 0;
    if (contains) {
      std::string_view w = dict->term(t);
      if (is_address_term(w) != in_address) return 3;
      return w.find(piece, in_address ? 1 : 0) != std::string_view::npos ? 1 : 3;
    }
    if (allow_prefix && ((t >= lo && t < hi) || std::binary_search(extra_prefix.begin(), extra_prefix.end(), t))) {
      return 1;
    }
    if (!fuzzy.empty() && std::binary_search(fuzzy.begin(), fuzzy.end(), t)) return 2;
    return 3;
  }
  // The best match among `terms` (or `best`).
  int tier(std::span<const uint32_t> terms, int best = 3) const {
    for (uint32_t t : terms) {
      best = std::min(best, tier_of(t));
      if (best == 0) break;
    }
    return best;
  }
  // The best match among `terms`, and in `mask` (from bit `first` on) which of them match.
  int tier(std::span<const uint32_t> terms, size_t first, uint64_t& mask, int best = 3) const {
    for (size_t i = 0; i < terms.size(); ++i) {
      int t = tier_of(terms[i]);
      if (t < 3) mask |= uint64_t{1} << (first + i);
      best = std::min(best, t);
    }
    return best;
  }
};

// Whether every word can have an entry word of its own: masks[i] holds the entry words
// word i matches (bits), and a bipartite matching must cover all words. A handful of words
// and words: augmenting paths (Kuhn) are instant.
class DistinctWords {
 public:
  static bool possible(std::span<const uint64_t> masks) {
    if (masks.size() <= 1) return true;
    if (masks.size() == 2) return !(masks[0] == masks[1] && std::has_single_bit(masks[0]));
    DistinctWords d(masks);
    for (size_t i = 0; i < masks.size(); ++i) {
      uint64_t seen = 0;
      if (!d.place(i, seen)) return false;
    }
    return true;
  }

 private:
  explicit DistinctWords(std::span<const uint64_t> masks) : masks_(masks) { owner_.fill(-1); }
  bool place(size_t i, uint64_t& seen) {
    for (uint64_t m = masks_[i] & ~seen; m != 0; m &= m - 1) {
      int p = std::countr_zero(m);
      seen |= uint64_t{1} << p;
      if (owner_[p] < 0 || place(static_cast<size_t>(owner_[p]), seen)) {
        owner_[p] = static_cast<int16_t>(i);
        return true;
      }
    }
    return false;
  }
  std::span<const uint64_t> masks_;
  std::array<int16_t, 64> owner_;
};

// A k-way merge of posting lists sorted by `Less`, each document once.
template <class Less>
class Union {
 public:
  explicit Union(Less less = {}) : less_(less) {}
  void add(std::span<const uint32_t> s) {
    if (!s.empty()) heap_.push_back({s.data(), s.data() + s.size()});
  }
  void start() { std::make_heap(heap_.begin(), heap_.end(), Greater{less_}); }
  bool next(uint32_t& doc) {
    while (!heap_.empty()) {
      uint32_t d;
      if (heap_.size() == 1) {
        Cursor& c = heap_[0];
        d = *c.p++;
        if (c.p == c.end) heap_.clear();
      } else {
        std::pop_heap(heap_.begin(), heap_.end(), Greater{less_});
        Cursor& c = heap_.back();
        d = *c.p++;
        if (c.p == c.end) {
          heap_.pop_back();
        } else {
          std::push_heap(heap_.begin(), heap_.end(), Greater{less_});
        }
      }
      if (d != last_) {
        last_ = d;
        doc = d;
        return true;
      }
    }
    return false;
  }

 private:
  struct Cursor {
    const uint32_t* p;
    const uint32_t* end;
  };
  struct Greater {
    Less less;
    bool operator()(const Cursor& a, const Cursor& b) const { return less(*b.p, *a.p); }
  };
  Less less_;
  std::vector<Cursor> heap_;
  uint32_t last_ = kNone;
};

// The lists a stream of candidates is made of: base parts and overlay parts.
struct Stream {
  std::vector<std::span<const uint32_t>> base, overlay;
  uint64_t base_size = 0;
  void add(const Postings& p, uint32_t key) {
    auto b = p.base(key);
    if (!b.empty()) {
      base.push_back(b);
      base_size += b.size();
    }
    auto o = p.overlay(key);
    if (!o.empty()) overlay.push_back(o);
  }
};

// The matches of one rank group (level, own organisation or not): the first `need` from
// the base and the first `need` from the overlay, each of which arrives in display order.
struct Bucket {
  std::vector<uint32_t> docs;
  size_t base_n = 0;
  size_t overlay_n = 0;
  size_t count = 0;  // every match seen, kept or not
  void offer(uint32_t doc, uint32_t base_docs, size_t need) {
    ++count;
    size_t& n = doc >= base_docs ? overlay_n : base_n;
    if (n < need) {
      docs.push_back(doc);
      ++n;
    }
  }
  size_t kept(bool overlay) const { return overlay ? overlay_n : base_n; }
};

class Searcher {
 public:
  Searcher(const IndexData& d, const Query& q, const Viewer& v, const SearchLimits& limits)
      : d_(d), q_(q), v_(v), limits_(limits) {
    auto it = d.org_by_id.find(v.org_id);
    viewer_org_ = it == d.org_by_id.end() ? kNone : it->second;
  }

  Result<SearchResult> run(size_t limit, size_t offset);

 private:
  enum class DriverKind { clause, orgs, value };

  bool parse();  // false: nothing can match
  void add_word_clause(const std::string& word, bool allow_prefix);
  void add_address_clause(const std::string& address, bool allow_prefix);
  void add_contains_clause(const std::string& piece, bool in_address);
  void finish_clause(Clause& c, bool address, std::string_view word);
  bool resolve_filters();
  bool resolve_values();
  int evaluate(uint32_t doc) const;
  bool assertions_hold(uint32_t doc) const;
  Stream stream(int level) const;
  // An organisation's documents that can match: all of them, or with admins_only its
  // administrators (a few among thousands).
  const Postings& members() const { return q_.admins_only ? d_.admin_docs : d_.org_docs; }
  // The prefix lists a word's matches come from: names-only queries look at the entry's
  // own words only.
  const Postings& prefix_docs() const { return q_.names_only ? d_.own_prefix_docs : d_.prefix_docs; }
  size_t level_driver(int level) const;
  Stream clause_stream(size_t i, int level) const;
  std::optional<Stream> sieve(int level, bool driver_is_clause) const;

  const IndexData& d_;
  const Query& q_;
  const Viewer& v_;
  const SearchLimits& limits_;
  uint32_t viewer_org_ = kNone;

  std::vector<Clause> clauses_;
  // Query::assertions with their components prepared (caseIgnore), empty ones absent.
  struct Prepared {
    NameField field;
    std::optional<std::string> initial, final_;
    std::vector<std::string> any;
  };
  std::vector<std::vector<Prepared>> assertions_;
  mutable size_t rejected_ = 0;       // candidates the assertions dropped
  mutable bool budget_spent_ = false;  // rejected_ reached limits_.max_rejected: stop scanning
  // Per clause and organisation: how the clause matches the organisation's words (-1: not
  // yet known). Filled as candidates from each organisation appear.
  mutable std::vector<std::vector<int8_t>> org_tier_;
  mutable std::vector<uint64_t> masks_;  // per clause: the entry words it matches (evaluate)
  mutable std::vector<uint64_t> need_;   // the masks of the words that need an entry word
  bool any_search_term_ = false;  // text, address or an org/value filter
  bool org_filter_ = false;
  std::vector<uint8_t> org_mask_;
  std::vector<uint32_t> org_list_;
  std::array<bool, kFields> value_filter_{};
  std::array<std::vector<uint8_t>, kFields> value_mask_;
  std::array<std::vector<uint32_t>, kFields> value_list_;

  DriverKind driver_ = DriverKind::clause;
  size_t driver_index_ = 0;  // clause index or field
  uint64_t driver_cost_ = 0;
};

void Searcher::finish_clause(Clause& c, bool address, std::string_view word) {
  c.exact = d_.dict.find(word);
  if (c.allow_prefix) {
    std::tie(c.lo, c.hi) = d_.dict.base_range(word);
    d_.dict.overlay_range(word, c.extra_prefix);
    std::sort(c.extra_prefix.begin(), c.extra_prefix.end());
    if (word.size() <= prefix_list_bytes(word)) c.prefix_key = d_.find_prefix_key(prefix_code(word, word.size()));
  }
  if (!address && q_.allow_typos && word.size() >= kFuzzyMinWord) {
    std::vector<uint64_t> hs;
    for_each_variant(word, [&](uint64_t h) { hs.push_back(h); });
    for (uint64_t h : hs) {
      auto consider = [&](uint32_t t) {
        if (t != c.exact && within_one_edit(word, d_.dict.term(t))) c.fuzzy.push_back(t);
      };
      auto r = std::equal_range(d_.fuzzy.begin(), d_.fuzzy.end(), FuzzyEntry{h, 0},
                                [](const FuzzyEntry& a, const FuzzyEntry& b) { return a.hash < b.hash; });
      for (auto it = r.first; it != r.second; ++it) consider(it->term);
      auto o = d_.fuzzy_overlay.equal_range(h);
      for (auto it = o.first; it != o.second; ++it) consider(it->second);
    }
    std::sort(c.fuzzy.begin(), c.fuzzy.end());
    c.fuzzy.erase(std::unique(c.fuzzy.begin(), c.fuzzy.end()), c.fuzzy.end());
  }
  c.max_tier = !c.fuzzy.empty() ? 2 : c.allow_prefix ? 1 : 0;
  c.level_cost[0] = c.exact != kNone ? d_.term_docs.size(c.exact) : 0;
  if (c.prefix_key != kNone) {
    c.level_cost[1] = prefix_docs().size(c.prefix_key);
  } else if (c.allow_prefix) {
    for (uint32_t t = c.lo; t < c.hi; ++t) c.level_cost[1] += d_.term_docs.size(t);
    for (uint32_t t : c.extra_prefix) c.level_cost[1] += d_.term_docs.size(t);
  } else {
    c.level_cost[1] = c.level_cost[0];
  }
  c.level_cost[2] = c.level_cost[1];
  for (uint32_t t : c.fuzzy) c.level_cost[2] += d_.term_docs.size(t);
  c.cost = c.level_cost[2];
}

void Searcher::add_word_clause(const std::string& word, bool allow_prefix) {
  Clause c;
  c.allow_prefix = allow_prefix;
  finish_clause(c, false, word);
  clauses_.push_back(std::move(c));
}

void Searcher::add_address_clause(const std::string& address, bool allow_prefix) {
  Clause c;
  c.allow_prefix = allow_prefix;
  finish_clause(c, true, "@" + address);
  clauses_.push_back(std::move(c));
}

void Searcher::add_contains_clause(const std::string& piece, bool in_address) {
  Clause c;
  c.contains = true;
  c.in_address = in_address;
  c.piece = piece;
  c.dict = &d_.dict;
  c.exact = in_address ? kNone : d_.dict.find(piece);
  // Every entry whose words hold the piece is in each of its trigrams' lists: the
  // shortest one is the stream (and the others are left to the check of each candidate).
  uint64_t shortest = UINT64_MAX;
  for (size_t i = 0; i + 3 <= piece.size(); ++i) {
    uint32_t key = trigram_key(piece, i, in_address);
    uint64_t n = d_.trigram_docs.size(key);
    if (n < shortest) {
      shortest = n;
      c.trigram = key;
    }
  }
  c.max_tier = 1;
  c.level_cost[0] = c.exact != kNone ? d_.term_docs.size(c.exact) : 0;
  c.level_cost[1] = c.level_cost[2] = shortest;
  c.cost = shortest;
  clauses_.push_back(std::move(c));
}

bool Searcher::resolve_filters() {
  std::vector<std::string> words = fold_words(std::string_view(q_.organisation).substr(0, limits_.max_text_bytes));
  if (words.size() > limits_.max_words) words.resize(limits_.max_words);
  // Only punctuation in the organisation and no ODS code: no constraint.
  if (!words.empty() || !q_.ods_code.empty()) {
    org_filter_ = true;
    any_search_term_ = true;
    org_mask_.assign(d_.orgs.size(), 0);
    if (!words.empty()) org_list_ = d_.org_words.match(words);
    if (!q_.ods_code.empty()) {
      auto it = d_.org_by_ods.find(fold_address(std::string_view(q_.ods_code).substr(0, limits_.max_text_bytes)));
      if (it == d_.org_by_ods.end()) return false;
      if (!words.empty() && !std::binary_search(org_list_.begin(), org_list_.end(), it->second)) return false;
      org_list_.assign(1, it->second);
    }
    if (org_list_.empty()) return false;
    for (uint32_t o : org_list_) org_mask_[o] = 1;
  }
  return resolve_values();
}

bool Searcher::resolve_values() {
  const std::array<const std::string*, kFields> given = {nullptr,       &q_.job_role, &q_.speciality,
                                                         &q_.work_area, &q_.unit,     &q_.site};
  for (int f = kRole; f < kFields; ++f) {
    if (given[f]->empty()) continue;
    std::vector<std::string> words = fold_words(std::string_view(*given[f]).substr(0, limits_.max_text_bytes));
    if (words.size() > limits_.max_words) words.resize(limits_.max_words);
    if (words.empty()) continue;  // only punctuation: no constraint
    value_filter_[f] = true;
    any_search_term_ = true;
    const ValueTable& t = d_.values[f];
    value_mask_[f].assign(t.values.size(), 0);
    value_list_[f] = t.words.match(words);
    for (uint32_t id : value_list_[f]) value_mask_[f][id] = 1;
    if (value_list_[f].empty()) return false;
  }
  return true;
}

bool Searcher::parse() {
  std::string_view text = std::string_view(q_.text).substr(0, limits_.max_text_bytes);
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  std::vector<std::string_view> tokens;
  for (size_t i = 0; i < text.size();) {
    while (i < text.size() && is_space(text[i])) ++i;
    size_t j = i;
    while (j < text.size() && !is_space(text[j])) ++j;
    if (j > i) tokens.push_back(text.substr(i, j - i));
    i = j;
  }
  const bool ended = !text.empty() && is_space(text.back());
  // Which words may be prefixes: all of them, or in typeahead only the one being typed.
  struct Pending {
    std::string word;
    bool address;
  };
  std::vector<Pending> pending;
  for (std::string_view tok : tokens) {
    if (tok.find('@') != std::string_view::npos) {
      std::string a = fold_address(tok);
      if (a.size() > 1) pending.push_back({std::move(a), true});
    } else {
      for (auto& w : fold_words(tok)) pending.push_back({std::move(w), false});
    }
  }
  // Words past the limit are ignored (see SearchLimits::max_words).
  if (pending.size() > limits_.max_words) pending.resize(limits_.max_words);
  for (size_t i = 0; i < pending.size(); ++i) {
    bool prefix = !q_.typeahead || (i + 1 == pending.size() && !ended);
    // A word given twice is one word ("lee lee" finds Lee Lee, whose words are a set).
    auto same = [&](size_t j) {
      bool prefix_j = !q_.typeahead || (j + 1 == pending.size() && !ended);
      return pending[j].word == pending[i].word && pending[j].address == pending[i].address && prefix_j == prefix;
    };
    bool repeated = false;
    for (size_t j = 0; j < i && !repeated; ++j) repeated = same(j);
    if (repeated) continue;
    if (pending[i].address) {
      add_address_clause(pending[i].word, prefix);
    } else {
      add_word_clause(pending[i].word, prefix);
    }
  }
  if (!q_.address.empty()) {
    std::string a = fold_address(q_.address.substr(0, limits_.max_text_bytes));
    if (!a.empty()) add_address_clause(a, q_.address_prefix);
  }
  // Pieces to find inside words or addresses: three letters at least, each at most once,
  // at most max_words of each kind.
  auto add_pieces = [&](const std::vector<std::string>& given, bool in_address) {
    std::vector<std::string> pieces;
    auto keep = [&](std::string piece) {
      if (piece.size() >= 3 && std::find(pieces.begin(), pieces.end(), piece) == pieces.end()) {
        pieces.push_back(std::move(piece));
      }
    };
    for (const std::string& p : given) {
      std::string_view text = std::string_view(p).substr(0, limits_.max_text_bytes);
      if (in_address) {
        keep(fold_address(text));
      } else {
        for (auto& w : fold_words(text)) keep(std::move(w));
      }
    }
    if (pieces.size() > limits_.max_words) pieces.resize(limits_.max_words);
    for (const std::string& p : pieces) add_contains_clause(p, in_address);
  };
  add_pieces(q_.contains, false);
  add_pieces(q_.address_contains, true);
  if (!clauses_.empty()) any_search_term_ = true;
  for (const auto& clause : q_.assertions) {
    auto& out = assertions_.emplace_back();
    for (const SubstringAssertion& a : clause) {
      Prepared p{a.field, {}, {}, {}};
      if (!a.initial.empty()) p.initial = prepare_case_ignore(a.initial, false);
      if (!a.final_.empty()) p.final_ = prepare_case_ignore(a.final_, false);
      for (const std::string& x : a.any) p.any.push_back(prepare_case_ignore(x, false));
      out.push_back(std::move(p));
    }
    if (out.empty()) return false;  // an empty OR holds for no entry
  }
  org_tier_.assign(clauses_.size(), std::vector<int8_t>(d_.orgs.size(), -1));
  masks_.assign(clauses_.size(), 0);
  for (const Clause& c : clauses_) {
    if (c.cost == 0) return false;
  }
  return resolve_filters();
}

int Searcher::evaluate(uint32_t doc) const {
  const Record& r = d_.records[doc];
  if (r.flags & kDeleted) return -1;
  if ((r.flags & kHidden) && !d_.may_see_hidden(r, v_, viewer_org_)) return -1;
  if (q_.kind && r.kind != *q_.kind) return -1;
  if (q_.admins_only && !(r.flags & kAdmin)) return -1;
  if (org_filter_ && !org_mask_[r.org]) return -1;
  for (int f = kRole; f < kFields; ++f) {
    if (!value_filter_[f]) continue;
    uint32_t v = value_of(r, f);
    if (v >= value_mask_[f].size() || !value_mask_[f][v]) return -1;
  }
  int tier = 0;
  const TermView terms = d_.terms(r);
  // With two or more words each needs an entry word of its own ("david dav" is David
  // Davies, not every David); a word the organisation's name matches needs none.
  const bool distinct = clauses_.size() > 1 && terms.a.size() + terms.b.size() <= 64;
  auto org_tier = [&](size_t i) {
    int8_t& o = org_tier_[i][r.org];
    if (o < 0) o = static_cast<int8_t>(clauses_[i].tier(d_.orgs[r.org].terms));
    return static_cast<int>(o);
  };
  for (size_t i = 0; i < clauses_.size(); ++i) {
    const Clause& c = clauses_[i];
    int t;
    if (distinct && !c.contains) {
      uint64_t& m = masks_[i];
      m = 0;
      t = c.tier(terms.b, terms.a.size(), m, c.tier(terms.a, 0, m));
    } else {
      // A piece inside a word may share it with other words' pieces ("(cn=*ohn*son*)" is
      // Johnson): it takes no word of its own.
      if (distinct) masks_[i] = 0;
      t = c.tier(terms.b, c.tier(terms.a));
    }
    if (t > 0 && !q_.names_only && !c.contains) {
      int o = org_tier(i);
      if (o < 3 && distinct) masks_[i] = 0;
      t = std::min(t, o);
    }
    if (t == 3) return -1;
    tier = std::max(tier, t);
  }
  if (distinct) {
    need_.clear();
    for (uint64_t m : masks_) {
      if (m != 0) need_.push_back(m);
    }
    if (!DistinctWords::possible(need_)) {
      // Words that matched a name exactly may match the organisation's name too.
      if (q_.names_only) return -1;
      need_.clear();
      for (size_t i = 0; i < clauses_.size(); ++i) {
        if (masks_[i] != 0 && org_tier(i) == 3) need_.push_back(masks_[i]);
      }
      if (!DistinctWords::possible(need_)) return -1;
    }
  }
  if (!assertions_.empty() && !assertions_hold(doc)) {
    if (++rejected_ >= limits_.max_rejected) budget_spent_ = true;
    return -1;
  }
  return tier;
}

bool Searcher::assertions_hold(uint32_t doc) const {
  // Per thread, reused: a broad scan checks thousands of candidates.
  thread_local std::string name, value;
  const Cold& c = d_.cold[doc];
  bool have_name = false;
  auto common = [&]() -> std::string_view {
    if (!have_name) {
      common_name(d_.str(c, kDisplay), d_.str(c, kGiven), d_.str(c, kSurname), d_.str(c, kAddress), name);
      have_name = true;
    }
    return name;
  };
  auto field = [&](NameField f) -> std::string_view {
    switch (f) {
      case NameField::common_name: return common();
      case NameField::given_name: return d_.str(c, kGiven);
      case NameField::surname: {
        std::string_view s = d_.str(c, kSurname);
        return s.empty() ? common() : s;
      }
      case NameField::address: return d_.str(c, kAddress);
    }
    return {};
  };
  for (const auto& clause : assertions_) {
    bool held = false;
    for (const Prepared& a : clause) {
      prepare_case_ignore(field(a.field), true, value);
      if (substrings_match(value, a.initial ? &*a.initial : nullptr, a.any, a.final_ ? &*a.final_ : nullptr)) {
        held = true;
        break;
      }
    }
    if (!held) return false;
  }
  return true;
}

// The candidates for rank level `level` (0 exact, 1 prefix, 2 fuzzy): a superset of the
// documents whose weakest match is at that level or better.
Stream Searcher::stream(int level) const {
  Stream s;
  switch (driver_) {
    case DriverKind::orgs:
      for (uint32_t o : org_list_) s.add(members(), o);
      break;
    case DriverKind::value:
      for (uint32_t id : value_list_[driver_index_]) s.add(d_.values[driver_index_].docs, id);
      break;
    case DriverKind::clause:
      s = clause_stream(level_driver(level), level);
      break;
  }
  return s;
}

// The cheapest word for this level: for exact matches that can be a short word whose
// prefixes are everywhere ("jones o": the few entries with the word "o").
size_t Searcher::level_driver(int level) const {
  size_t best = driver_index_;
  for (size_t i = 0; i < clauses_.size(); ++i) {
    if (clauses_[i].level_cost[level] < clauses_[best].level_cost[level]) best = i;
  }
  return best;
}

// The documents where clause i matches at `level` or better.
Stream Searcher::clause_stream(size_t i, int level) const {
  Stream s;
  const Clause& c = clauses_[i];
  if (c.contains) {
    if (level == 0) {
      if (c.exact != kNone) s.add(d_.term_docs, c.exact);
    } else {
      s.add(d_.trigram_docs, c.trigram);
    }
    return s;
  }
  if (level == 0 || !c.allow_prefix) {
    if (c.exact != kNone) s.add(d_.term_docs, c.exact);
  } else if (c.prefix_key != kNone) {
    s.add(prefix_docs(), c.prefix_key);
  } else {
    for (uint32_t t = c.lo; t < c.hi; ++t) s.add(d_.term_docs, t);
    for (uint32_t t : c.extra_prefix) s.add(d_.term_docs, t);
  }
  if (level == 2) {
    for (uint32_t t : c.fuzzy) s.add(d_.term_docs, t);
  }
  return s;
}

// A second list that every match at `level` must be in, to check candidates against
// before reading their records: the smallest of the other words' streams and the filters'
// lists that has few enough lists to gallop along (see member_of in run()).
std::optional<Stream> Searcher::sieve(int level, bool driver_is_clause) const {
  constexpr size_t kMaxLists = 8;
  std::optional<Stream> best;
  uint64_t best_size = UINT64_MAX;
  auto consider = [&](Stream s) {
    if (s.base.size() <= kMaxLists && (!best || s.base_size < best_size)) {
      best_size = s.base_size;
      best = std::move(s);
    }
  };
  const size_t skip = driver_is_clause ? level_driver(level) : clauses_.size();
  for (size_t i = 0; i < clauses_.size(); ++i) {
    if (i != skip && clauses_[i].level_cost[level] < best_size) consider(clause_stream(i, level));
  }
  if (org_filter_ && org_list_.size() <= kMaxLists && !(driver_ == DriverKind::orgs)) {
    Stream s;
    for (uint32_t o : org_list_) s.add(members(), o);
    consider(std::move(s));
  }
  for (int f = kRole; f < kFields; ++f) {
    if (!value_filter_[f] || value_list_[f].size() > kMaxLists) continue;
    if (driver_ == DriverKind::value && driver_index_ == static_cast<size_t>(f)) continue;
    Stream s;
    for (uint32_t id : value_list_[f]) s.add(d_.values[f].docs, id);
    consider(std::move(s));
  }
  return best;
}

Result<SearchResult> Searcher::run(size_t limit, size_t offset) {
  if (limit == 0) return make_error(Errc::invalid_argument, "limit must be at least 1");
  if (offset > limits_.max_window || limit > limits_.max_window - offset) {
    return make_error(Errc::invalid_argument,
                      "too deep: offset + limit may be at most " + std::to_string(limits_.max_window));
  }
  const size_t need = offset + limit;
  const bool can_match = parse();
  if (!any_search_term_) {
    return make_error(Errc::invalid_argument, "nothing to search by: give a name, address or organisation");
  }
  SearchResult result;
  if (!can_match) return result;

  // Drive from the cheapest part of the query; check every candidate against all of it.
  driver_cost_ = UINT64_MAX;
  for (size_t i = 0; i < clauses_.size(); ++i) {
    if (clauses_[i].cost < driver_cost_) {
      driver_ = DriverKind::clause;
      driver_index_ = i;
      driver_cost_ = clauses_[i].cost;
    }
  }
  if (org_filter_) {
    uint64_t cost = 0;
    for (uint32_t o : org_list_) cost += members().size(o);
    if (cost < driver_cost_) {
      driver_ = DriverKind::orgs;
      driver_cost_ = cost;
    }
  }
  for (int f = kRole; f < kFields; ++f) {
    if (!value_filter_[f]) continue;
    uint64_t cost = 0;
    for (uint32_t id : value_list_[f]) cost += d_.values[f].docs.size(id);
    if (cost < driver_cost_) {
      driver_ = DriverKind::value;
      driver_index_ = static_cast<size_t>(f);
      driver_cost_ = cost;
    }
  }

  int max_tier = 0;
  for (const Clause& c : clauses_) max_tier = std::max(max_tier, c.max_tier);

  // Walks a stream in display order: the base part, then the overlay part, each until
  // done(overlay) says the page is settled (later documents of that part rank after what
  // it has). Returns by how much the base part's count should be scaled to estimate what
  // a full scan would have counted. Candidates are taken in batches whose records are
  // prefetched: a candidate's check is one memory miss, and misses in flight together
  // cost little more than one.
  bool overlay_cut = false;
  struct Scan {
    double factor = 1.0;  // what the counts of a cut walk are scaled by to estimate a full one
    bool cut = false;
  };
  auto walk = [&](const Stream& s, auto&& process, auto&& done, auto&& keep) -> Scan {
    constexpr size_t kBatch = 16;
    uint32_t batch[kBatch];
    auto run_part = [&](auto& u, bool overlay, size_t& scanned) {
      u.start();
      while (true) {
        size_t n = 0;
        while (n < kBatch && u.next(batch[n])) {
          ++scanned;  // every candidate, kept or not: the estimate scales by this
          if (!keep(batch[n])) continue;
          __builtin_prefetch(&d_.records[batch[n++]]);
        }
        if (n == 0) return false;
        for (size_t i = 0; i < n; ++i) {
          process(batch[i]);
          if (done(overlay) || budget_spent_) return true;
        }
      }
    };
    size_t scanned = 0, overlay_scanned = 0;
    Union<std::less<uint32_t>> base;
    for (auto sp : s.base) base.add(sp);
    bool stopped = run_part(base, false, scanned);
    auto less = [this](uint32_t a, uint32_t b) { return d_.overlay_before(a, b); };
    Union<decltype(less)> over(less);
    for (auto sp : s.overlay) over.add(sp);
    if (run_part(over, true, overlay_scanned)) overlay_cut = true;
    if (!stopped) return Scan{};
    return Scan{std::max(1.0, static_cast<double>(s.base_size) / static_cast<double>(std::max<size_t>(scanned, 1))),
                true};
  };
  auto size_of = [](const Stream& s) {
    uint64_t n = s.base_size;
    for (auto sp : s.overlay) n += sp.size();
    return n;
  };
  // For the walk of the viewer's own organisation: drops base documents that are not in
  // the stream `s` by galloping along its lists (cache-friendly), before their records are
  // read (a miss each). Too many lists (a short prefix's range): no filter.
  auto member_of = [&](const Stream& s, bool use = true) {
    struct Cursor {
      const uint32_t* p;
      const uint32_t* end;
    };
    std::vector<Cursor> cs;
    bool filter = use && s.base.size() <= 8;
    if (filter) {
      for (auto sp : s.base) cs.push_back({sp.data(), sp.data() + sp.size()});
    }
    return [this, cs = std::move(cs), filter](uint32_t doc) mutable {
      if (org_filter_ && !org_mask_[d_.doc_org[doc]]) return false;
      if (!filter || doc >= d_.base_docs) return true;
      for (Cursor& c : cs) {
        size_t step = 1;
        const uint32_t* lo = c.p;
        while (lo + step < c.end && lo[step] < doc) {
          lo += step;
          step *= 2;
        }
        c.p = std::lower_bound(lo, std::min(lo + step + 1, c.end), doc);
        if (c.p != c.end && *c.p == doc) return true;
      }
      return false;
    };
  };
  // No own-organisation group when the viewer has none, or the query's organisation
  // filter leaves theirs out (then walking their member list would be wasted).
  const bool no_own = viewer_org_ == kNone || (org_filter_ && !org_mask_[viewer_org_]);
  Stream own_stream;
  if (!no_own) own_stream.add(members(), viewer_org_);
  // What a walk checks candidates against first: `first` if it can gallop, else `second`.
  auto keeper = [&](const Stream& first, const std::optional<Stream>& second) {
    if (first.base.size() <= 8 || !second) return member_of(first);
    return member_of(*second);
  };

  std::array<Bucket, 3> own, other;
  double estimate = 0;
  bool exact = true;
  auto bucket_estimate = [&](Bucket& b, const Scan& scan) {
    if (scan.cut) exact = false;
    estimate += static_cast<double>(b.count) * scan.factor;
  };
  std::vector<std::pair<uint32_t, int>> ranked;  // document, level
  auto by_display = [&](uint32_t a, uint32_t b) { return d_.before(a, b); };
  auto emit_level = [&](int level) {
    for (Bucket* b : {&own[level], &other[level]}) {
      std::sort(b->docs.begin(), b->docs.end(), by_display);
      for (uint32_t doc : b->docs) {
        if (ranked.size() >= need) break;
        ranked.emplace_back(doc, level);
      }
    }
  };

  // With a filter, most candidates of a word's stream fail it and every level's walk
  // would read the whole stream again: one pass instead.
  bool filtered = org_filter_;
  for (int f = kRole; f < kFields; ++f) filtered = filtered || value_filter_[f];
  if (driver_ == DriverKind::clause && !filtered) {
    // Level by level: exact matches come from the driver's exact postings (usually few);
    // prefix and typo levels from wider streams that stop as soon as the page is full.
    // No document matches better than its weakest word can: a word that is no term and
    // no prefix of one (a typo) starts the walk at the typo level.
    int min_level = 0;
    for (const Clause& c : clauses_) {
      bool has_prefix = c.contains || (c.allow_prefix && (c.hi > c.lo || !c.extra_prefix.empty()));
      min_level = std::max(min_level, c.exact != kNone ? 0 : has_prefix ? 1 : 2);
    }
    for (int level = min_level; level <= max_tier; ++level) {
      Stream s = stream(level);
      const std::optional<Stream> sv = sieve(level, true);
      // Own-organisation matches rank first. When the organisation is smaller than the
      // stream, walk its member list instead of waiting for the stream to yield them.
      const bool own_apart = !no_own && size_of(own_stream) < size_of(s);
      Scan own_factor;
      if (own_apart) {
        own_factor = walk(
            own_stream,
            [&](uint32_t doc) {
              if (evaluate(doc) == level) own[level].offer(doc, d_.base_docs, need);
            },
            [&](bool ov) { return own[level].kept(ov) >= need; }, keeper(s, sv));
      }
      Scan factor = walk(
          s,
          [&](uint32_t doc) {
            if (evaluate(doc) != level) return;
            if (d_.records[doc].org == viewer_org_) {
              if (!own_apart) own[level].offer(doc, d_.base_docs, need);
            } else {
              other[level].offer(doc, d_.base_docs, need);
            }
          },
          [&](bool ov) {
            return other[level].kept(ov) >= need && (own_apart || no_own || own[level].kept(ov) >= need);
          },
          sv ? member_of(*sv) : member_of(s, false));
      bucket_estimate(own[level], own_apart ? own_factor : factor);
      bucket_estimate(other[level], factor);
      emit_level(level);
      if (ranked.size() >= need && level < max_tier) {
        exact = false;  // the weaker levels were not counted
        break;
      }
    }
  } else {
    // One pass over the widest stream sorts each candidate into its level. It can stop
    // early only when the exact level alone fills the page.
    const bool by_clause = driver_ == DriverKind::clause;
    Stream s = by_clause ? clause_stream(level_driver(max_tier), max_tier) : stream(0);
    const std::optional<Stream> sv = sieve(max_tier, by_clause);
    const bool own_apart = !no_own && size_of(own_stream) < size_of(s);
    Scan own_factor;
    if (own_apart) {
      own_factor = walk(
          own_stream,
          [&](uint32_t doc) {
            int t = evaluate(doc);
            if (t >= 0) own[t].offer(doc, d_.base_docs, need);
          },
          [&](bool ov) { return own[0].kept(ov) >= need; }, keeper(s, sv));
    }
    Scan factor = walk(
        s,
        [&](uint32_t doc) {
          int t = evaluate(doc);
          if (t < 0) return;
          if (d_.records[doc].org == viewer_org_) {
            if (!own_apart) own[t].offer(doc, d_.base_docs, need);
          } else {
            other[t].offer(doc, d_.base_docs, need);
          }
        },
        [&](bool ov) { return other[0].kept(ov) >= need && (own_apart || no_own || own[0].kept(ov) >= need); },
        sv ? member_of(*sv) : member_of(s, false));
    for (int level = 0; level <= max_tier; ++level) {
      bucket_estimate(own[level], own_apart ? own_factor : factor);
      bucket_estimate(other[level], factor);
      emit_level(level);
    }
  }
  result.total = static_cast<size_t>(estimate + 0.5);
  result.total_exact = exact && !overlay_cut && !budget_spent_;
  result.truncated = budget_spent_;
  for (size_t i = offset; i < ranked.size() && i < need; ++i) {
    const Record& r = d_.records[ranked[i].first];
    Hit h;
    h.entry = d_.materialise(ranked[i].first, d_.may_see_hidden(r, v_, viewer_org_));
    h.match = static_cast<Match>(ranked[i].second);
    h.own_org = r.org == viewer_org_;
    result.hits.push_back(std::move(h));
  }
  return result;
}

}  // namespace

Result<SearchResult> DirectoryIndex::search(const Query& query, const Viewer& viewer, size_t limit, size_t offset,
                                            const SearchLimits& limits) const {
  std::shared_lock lock(impl_->mu);
  Searcher s(impl_->d, query, viewer, limits);
  return s.run(limit, offset);
}

}  // namespace caremail::directory

// Building the directory index and keeping it up to date (see index.hpp).
#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <numeric>
#include <shared_mutex>
#include <span>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "directory/index.hpp"
#include "directory/index_data.hpp"
#include "directory/normalize.hpp"

namespace caremail::directory {

using namespace detail;

// ---- Building ----------------------------------------------------------------------------

struct DirectoryIndex::Builder::State {
  IndexData d;
  std::unordered_map<std::string, uint32_t> term_ids;  // term → provisional id, by first sight
  std::vector<std::string_view> terms;                 // provisional id → term (keys of term_ids)
  std::vector<uint32_t> fwd;                           // each record's provisional term ids
  std::vector<std::pair<uint32_t, uint16_t>> ranges;   // each record's [start, count) in fwd
  std::vector<std::string> words;

  uint32_t term_id(const std::string& w) {
    auto [it, inserted] = term_ids.emplace(w, static_cast<uint32_t>(terms.size()));
    if (inserted) terms.push_back(it->first);
    return it->second;
  }
};

DirectoryIndex::Builder::Builder() : s_(std::make_unique<State>()) { s_->d.bulk = true; }
DirectoryIndex::Builder::~Builder() = default;
DirectoryIndex::Builder::Builder(Builder&&) noexcept = default;
DirectoryIndex::Builder& DirectoryIndex::Builder::operator=(Builder&&) noexcept = default;

void DirectoryIndex::Builder::add(const DirectoryEntry& entry) {
  IndexData& d = s_->d;
  Cold c;
  Record r = d.make_record(entry, s_->words, c);
  s_->ranges.emplace_back(static_cast<uint32_t>(s_->fwd.size()), static_cast<uint16_t>(s_->words.size()));
  for (const std::string& w : s_->words) s_->fwd.push_back(s_->term_id(w));
  Org& o = d.orgs[r.org];
  if (o.terms_dirty) {
    o.terms.clear();
    for (const std::string& w : o.words) o.terms.push_back(s_->term_id(w));
    o.terms_dirty = false;
  }
  auto doc = static_cast<uint32_t>(d.records.size());
  auto [it, inserted] = d.by_id.emplace(entry.id, doc);
  if (!inserted) {  // the same id again: the later one wins
    d.records[it->second].flags |= kDeleted;
    it->second = doc;
  }
  d.records.push_back(r);
  d.cold.push_back(c);
}

namespace {

// Puts the built documents in display order, sorts the dictionary and makes every
// posting structure. `terms` are the provisional term strings; `fwd` and organisations'
// terms use their ids; `ranges` says which of `fwd` are each record's.
void finish_build(IndexData& d, const std::vector<std::string_view>& terms, const std::vector<uint32_t>& fwd_in,
                  const std::vector<std::pair<uint32_t, uint16_t>>& ranges) {
  d.org_words.sort();
  for (auto& t : d.values) t.words.sort();
  d.bulk = false;
  // Display order: surname, given name, id. Deleted (replaced) records are dropped.
  std::vector<uint32_t> order;
  order.reserve(d.records.size());
  for (uint32_t i = 0; i < d.records.size(); ++i) {
    if (!(d.records[i].flags & kDeleted)) order.push_back(i);
  }
  {
    std::vector<std::string_view> keys(d.records.size());
    for (uint32_t i : order) keys[i] = d.str(d.cold[i], kSortKey);
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      int c = keys[a].compare(keys[b]);
      return c != 0 ? c < 0 : d.cold[a].id < d.cold[b].id;
    });
  }

  // The dictionary in byte order, so that a prefix is a range of ids.
  std::vector<uint32_t> by_term(terms.size());
  std::iota(by_term.begin(), by_term.end(), 0);
  std::sort(by_term.begin(), by_term.end(), [&](uint32_t a, uint32_t b) { return terms[a] < terms[b]; });
  std::vector<uint32_t> new_term(terms.size());
  std::string chars;
  std::vector<uint64_t> start{0};
  start.reserve(terms.size() + 1);
  for (uint32_t i = 0; i < by_term.size(); ++i) {
    new_term[by_term[i]] = i;
    chars += terms[by_term[i]];
    start.push_back(chars.size());
  }
  d.dict.assign_base(std::move(chars), std::move(start));

  for (Org& o : d.orgs) {
    for (uint32_t& t : o.terms) t = new_term[t];
    std::sort(o.terms.begin(), o.terms.end());
    o.terms.erase(std::unique(o.terms.begin(), o.terms.end()), o.terms.end());
  }

  // Records and their terms in the new order; the arena stays as it is.
  std::vector<Record> records;
  std::vector<Cold> cold;
  records.reserve(order.size());
  cold.reserve(order.size());
  d.overflow.clear();
  std::vector<uint32_t> ts;
  for (uint32_t old : order) {
    Record r = d.records[old];
    ts.clear();
    for (uint32_t i = 0; i < ranges[old].second; ++i) ts.push_back(new_term[fwd_in[ranges[old].first + i]]);
    std::sort(ts.begin(), ts.end());
    d.set_terms(r, ts);
    records.push_back(r);
    cold.push_back(d.cold[old]);
  }
  d.records = std::move(records);
  d.cold = std::move(cold);
  d.doc_org.resize(d.records.size());
  for (size_t doc = 0; doc < d.records.size(); ++doc) d.doc_org[doc] = d.records[doc].org;
  d.base_docs = static_cast<uint32_t>(d.records.size());
  d.overlay_key.clear();
  d.tombstones = 0;
  d.by_id.clear();
  d.by_id.reserve(d.records.size());
  for (uint32_t doc = 0; doc < d.records.size(); ++doc) d.by_id[d.cold[doc].id] = doc;

  const auto ndocs = static_cast<uint32_t>(d.records.size());
  d.term_docs.build(d.dict.size(), [&](auto&& emit) {
    for (uint32_t doc = 0; doc < ndocs; ++doc) {
      d.all_terms(d.records[doc], ts);
      for (uint32_t t : ts) emit(t, doc);
    }
  });

  d.prefix_keys.clear();
  std::vector<uint32_t> keys;
  for (uint32_t t = 0; t < d.dict.size(); ++t) {  // keys first, so that build() knows how many
    for_each_prefix_code(d.dict.term(t), [&](uint64_t code) { d.prefix_key(code, true); });
  }
  // Lists by the keys `keys_of(record)` puts in `keys`.
  auto build_lists = [&](Postings& lists, size_t nkeys, auto&& keys_of) {
    lists.build(nkeys, [&](auto&& emit) {
      for (uint32_t doc = 0; doc < ndocs; ++doc) {
        keys_of(d.records[doc]);
        for (uint32_t k : keys) emit(k, doc);
      }
    });
  };
  build_lists(d.prefix_docs, d.prefix_keys.size(), [&](const Record& r) {
    d.all_terms(r, ts);
    d.prefix_keys_of(ts, keys, false);
  });
  build_lists(d.own_prefix_docs, d.prefix_keys.size(), [&](const Record& r) {
    d.own_terms(r, ts);
    d.prefix_keys_of(ts, keys, false);
  });
  build_lists(d.trigram_docs, kTrigramKeys, [&](const Record& r) {
    d.own_terms(r, ts);
    d.trigram_keys_of(ts, keys);
  });

  d.admin_docs.build(d.orgs.size(), [&](auto&& emit) {
    for (uint32_t doc = 0; doc < ndocs; ++doc) {
      if (d.records[doc].flags & kAdmin) emit(d.records[doc].org, doc);
    }
  });
  d.org_docs.build(d.orgs.size(), [&](auto&& emit) {
    for (uint32_t doc = 0; doc < ndocs; ++doc) emit(d.records[doc].org, doc);
  });
  for (int f = kRole; f < kFields; ++f) {
    d.values[f].docs.build(d.values[f].values.size(), [&](auto&& emit) {
      for (uint32_t doc = 0; doc < ndocs; ++doc) emit(value_of(d.records[doc], f), doc);
    });
  }

  d.fuzzy.clear();
  d.fuzzy_overlay.clear();
  std::vector<uint64_t> hs;
  for (uint32_t t = 0; t < d.dict.size(); ++t) {
    std::string_view w = d.dict.term(t);
    if (is_address_term(w) || w.size() < kFuzzyMinTerm) continue;
    hs.clear();
    for_each_variant(w, [&](uint64_t h) { hs.push_back(h); });
    std::sort(hs.begin(), hs.end());
    hs.erase(std::unique(hs.begin(), hs.end()), hs.end());
    for (uint64_t h : hs) d.fuzzy.push_back({h, t});
  }
  std::sort(d.fuzzy.begin(), d.fuzzy.end(), [](const FuzzyEntry& a, const FuzzyEntry& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.term < b.term;
  });
  d.fuzzy.shrink_to_fit();
}

}  // namespace

DirectoryIndex DirectoryIndex::Builder::finish() && {
  auto impl = std::make_unique<Impl>();
  finish_build(s_->d, s_->terms, s_->fwd, s_->ranges);
  impl->d = std::move(s_->d);
  s_.reset();
  return DirectoryIndex(std::move(impl));
}

DirectoryIndex DirectoryIndex::build(const std::vector<DirectoryEntry>& entries) {
  Builder b;
  for (const auto& e : entries) b.add(e);
  return std::move(b).finish();
}

DirectoryIndex::DirectoryIndex() : impl_(std::make_unique<Impl>()) {}
DirectoryIndex::DirectoryIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DirectoryIndex::~DirectoryIndex() = default;
DirectoryIndex::DirectoryIndex(DirectoryIndex&&) noexcept = default;
DirectoryIndex& DirectoryIndex::operator=(DirectoryIndex&&) noexcept = default;

// ---- Updates -----------------------------------------------------------------------------

Status DirectoryIndex::upsert(const DirectoryEntry& entry) {
  std::lock_guard writer(impl_->write_mu);
  std::unique_lock lock(impl_->mu);
  IndexData& d = impl_->d;
  if (d.records.size() >= kNone - 1 || d.overflow.size() > UINT32_MAX - UINT16_MAX) {
    return make_error(Errc::too_large, "directory index full: compact() it");
  }
  auto term_of = [&](const std::string& w) {
    uint32_t t = d.dict.find(w);
    if (t == kNone) {
      t = d.dict.add(w);
      d.add_fuzzy_overlay(t);
    }
    return t;
  };
  std::vector<std::string> words;
  Cold c;
  Record r = d.make_record(entry, words, c);
  auto doc = static_cast<uint32_t>(d.records.size());
  std::vector<uint32_t> ts;
  for (const std::string& w : words) ts.push_back(term_of(w));
  std::sort(ts.begin(), ts.end());
  d.set_terms(r, ts);
  Org& o = d.orgs[r.org];
  if (o.terms_dirty) {
    o.terms.clear();
    for (const std::string& w : o.words) o.terms.push_back(term_of(w));
    std::sort(o.terms.begin(), o.terms.end());
    o.terms.erase(std::unique(o.terms.begin(), o.terms.end()), o.terms.end());
    o.terms_dirty = false;
  }
  d.records.push_back(r);
  d.cold.push_back(c);
  d.doc_org.push_back(r.org);
  d.overlay_key.push_back(IndexData::key_prefix(d.str(c, kSortKey)));
  auto less = [&d](uint32_t a, uint32_t b) { return d.overlay_before(a, b); };
  d.all_terms(r, ts);
  for (uint32_t t : ts) d.term_docs.insert(t, doc, less);
  std::vector<uint32_t> keys;
  d.prefix_keys_of(ts, keys, true);
  for (uint32_t k : keys) d.prefix_docs.insert(k, doc, less);
  d.own_terms(r, ts);
  d.prefix_keys_of(ts, keys, true);
  for (uint32_t k : keys) d.own_prefix_docs.insert(k, doc, less);
  d.trigram_keys_of(ts, keys);
  for (uint32_t k : keys) d.trigram_docs.insert(k, doc, less);
  d.org_docs.insert(r.org, doc, less);
  if (r.flags & kAdmin) d.admin_docs.insert(r.org, doc, less);
  for (int f = kRole; f < kFields; ++f) d.values[f].docs.insert(value_of(r, f), doc, less);

  auto [it, inserted] = d.by_id.emplace(entry.id, doc);
  if (!inserted) {
    d.records[it->second].flags |= kDeleted;
    ++d.tombstones;
    it->second = doc;
  }
  return {};
}

bool DirectoryIndex::remove(uint64_t id) {
  std::lock_guard writer(impl_->write_mu);
  std::unique_lock lock(impl_->mu);
  IndexData& d = impl_->d;
  auto it = d.by_id.find(id);
  if (it == d.by_id.end()) return false;
  d.records[it->second].flags |= kDeleted;
  ++d.tombstones;
  d.by_id.erase(it);
  return true;
}

void DirectoryIndex::compact() {
  std::lock_guard writer(impl_->write_mu);
  DirectoryIndex fresh;
  {
    std::shared_lock lock(impl_->mu);
    const IndexData& d = impl_->d;
    Builder b;
    for (uint32_t doc = 0; doc < d.records.size(); ++doc) {
      if (d.records[doc].flags & kDeleted) continue;
      b.add(d.materialise(doc, true));
    }
    fresh = std::move(b).finish();
  }
  IndexData old;
  {
    std::unique_lock lock(impl_->mu);
    old = std::exchange(impl_->d, std::move(fresh.impl_->d));
  }
  // `old` is freed here, outside the lock.
}

IndexStats DirectoryIndex::stats() const {
  std::shared_lock lock(impl_->mu);
  const IndexData& d = impl_->d;
  IndexStats s;
  s.entries = d.by_id.size();
  s.documents = d.records.size();
  s.tombstones = d.tombstones;
  s.overlay_documents = d.records.size() - d.base_docs;
  s.terms = d.dict.size();
  s.organisations = d.orgs.size();
  s.memory_bytes = d.memory();
  return s;
}

std::optional<DirectoryEntry> DirectoryIndex::get(uint64_t id, const Viewer& viewer) const {
  std::shared_lock lock(impl_->mu);
  const IndexData& d = impl_->d;
  auto it = d.by_id.find(id);
  if (it == d.by_id.end()) return std::nullopt;
  const Record& r = d.records[it->second];
  auto vo = d.org_by_id.find(viewer.org_id);
  uint32_t viewer_org = vo == d.org_by_id.end() ? kNone : vo->second;
  bool see = d.may_see_hidden(r, viewer, viewer_org);
  if ((r.flags & kHidden) && !see) return std::nullopt;
  return d.materialise(it->second, see);
}

}  // namespace caremail::directory

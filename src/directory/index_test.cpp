// Tests for the directory search engine: matching (word order, prefixes, accents, typos,
// addresses, organisations, filters), ranking, privacy, paging, updates; and a randomised
// comparison with a brute-force reference over a synthetic directory, before and after
// updates, which is what proves the early-stopping scan returns the same page.
#include "directory/index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <thread>

#include "directory/normalize.hpp"
#include "directory/synth.hpp"

namespace caremail::directory {
namespace {

DirectoryEntry person(uint64_t id, uint32_t org, std::string given, std::string surname, std::string role = "",
                      std::string speciality = "") {
  DirectoryEntry e;
  e.id = id;
  e.org_id = org;
  static const std::map<uint32_t, std::pair<std::string, std::string>> kOrgs = {
      {1, {"RXX", "Northfield Hospitals NHS Foundation Trust"}},
      {2, {"A81001", "The Ashford Surgery"}},
      {3, {"RYY", "Southport and Ormskirk NHS Trust"}}};
  e.ods_code = kOrgs.at(org).first;
  e.org_name = kOrgs.at(org).second;
  e.given_name = std::move(given);
  e.surname = std::move(surname);
  e.display_name = e.given_name + " " + e.surname;
  std::string local = fold_text(e.given_name) + "." + fold_text(e.surname);
  std::replace(local.begin(), local.end(), ' ', '-');
  static const char* kDomains[] = {"", "northfield", "ashford", "southport"};
  e.address = local + std::to_string(id) + "@" + kDomains[org] + ".care.example";
  e.job_role = std::move(role);
  e.speciality = std::move(speciality);
  e.site = org == 1 ? "Northfield General Hospital" : "Main Site";
  e.telephone = "01632 960" + std::to_string(100 + id);
  return e;
}

std::vector<uint64_t> ids(const Result<SearchResult>& r) {
  std::vector<uint64_t> out;
  if (!r.ok()) return {999999};
  for (const auto& h : r->hits) out.push_back(h.entry.id);
  return out;
}

class IndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    entries_ = {
        person(1, 1, "Sarah", "Smith", "Consultant", "Cardiology"),
        person(2, 1, "John", "Smith", "Staff Nurse"),
        person(3, 2, "Sarah", "Smithson", "General Practitioner"),
        person(4, 3, "Siobhán", "O'Neill", "Consultant", "Oncology"),
        person(5, 3, "Zoë", "Jones", "Staff Nurse"),
        person(6, 1, "José", "García", "Pharmacist"),
        person(7, 2, "Sara", "Smith", "Practice Nurse"),
        person(8, 3, "Mark", "Smyth", "Porter"),
        person(9, 1, "Amelia", "Johnson", "Ward Manager"),
        person(10, 1, "Peter", "Jonson", "Porter"),
    };
    entries_[1].is_org_admin = true;  // John Smith administers Northfield
    entries_[4].is_org_admin = true;  // Zoë Jones administers Southport
    entries_[5].hidden = true;        // José García is hidden
    entries_[0].mobile = "07700 900123";
    entries_[0].mobile_hidden = true;
    entries_[2].mobile = "07700 900456";
    index_ = DirectoryIndex::build(entries_);
  }

  Result<SearchResult> find(std::string text, Viewer v = {}, bool typeahead = false) {
    Query q;
    q.text = std::move(text);
    q.typeahead = typeahead;
    return index_.search(q, v, 50);
  }

  std::vector<DirectoryEntry> entries_;
  DirectoryIndex index_;
};

TEST_F(IndexTest, NamesInAnyOrderCaseAndAccents) {
  // Sarah Smith exact, Sarah Smithson by prefix, Sara Smith one letter short of "sarah".
  EXPECT_EQ(ids(find("sarah smith")), (std::vector<uint64_t>{1, 3, 7}));
  EXPECT_EQ(ids(find("SMITH Sarah")), (std::vector<uint64_t>{1, 3, 7}));
  EXPECT_EQ(ids(find("zoe")), (std::vector<uint64_t>{5}));
  EXPECT_EQ(ids(find("Zoë JONES")), (std::vector<uint64_t>{5}));
  EXPECT_EQ(ids(find("siobhan o'neill")), (std::vector<uint64_t>{4}));
  EXPECT_EQ(ids(find("oneill")), (std::vector<uint64_t>{4}));
  EXPECT_EQ(ids(find("neill")), (std::vector<uint64_t>{4}));
}

TEST_F(IndexTest, ExactBeforePrefixBeforeFuzzyThenSurnameGiven) {
  auto r = find("smith");
  ASSERT_TRUE(r.ok());
  // Exact "smith": John, Sara, Sarah Smith (surname, then given name); prefix: Smithson;
  // one typo: Smyth.
  EXPECT_EQ(ids(r), (std::vector<uint64_t>{2, 7, 1, 3, 8}));
  EXPECT_EQ(r->hits[0].match, Match::exact);
  EXPECT_EQ(r->hits[3].match, Match::prefix);
  EXPECT_EQ(r->hits[4].match, Match::fuzzy);
  EXPECT_TRUE(r->total_exact);
  EXPECT_EQ(r->total, 5u);
}

TEST_F(IndexTest, OwnOrganisationFirstWithinAMatchLevel) {
  Viewer v{2};
  auto r = find("smith", v);
  EXPECT_EQ(ids(r), (std::vector<uint64_t>{7, 2, 1, 3, 8}));
  EXPECT_TRUE(r->hits[0].own_org);
  EXPECT_FALSE(r->hits[1].own_org);
}

TEST_F(IndexTest, Typos) {
  EXPECT_EQ(ids(find("smiht")), (std::vector<uint64_t>{2, 7, 1}));  // swap; "smyth" is two edits away
  EXPECT_EQ(ids(find("jonse")), (std::vector<uint64_t>{5}));        // swapped letters
  EXPECT_EQ(ids(find("johnsen")), (std::vector<uint64_t>{9}));      // substitution
  EXPECT_EQ(ids(find("sioban")), (std::vector<uint64_t>{4}));       // letter missing
  EXPECT_TRUE(ids(find("jnes")).empty());                           // short words: no typo tolerance
}

TEST_F(IndexTest, PrefixesAndTypeahead) {
  EXPECT_EQ(ids(find("sa sm")), (std::vector<uint64_t>{7, 1, 3}));
  EXPECT_EQ(ids(find("sarah smi", {}, true)), (std::vector<uint64_t>{1, 3, 7}));
  // In typeahead only the last word is a prefix.
  EXPECT_TRUE(ids(find("smi sarah", {}, true)).empty());
  EXPECT_EQ(ids(find("smi sarah", {}, false)), (std::vector<uint64_t>{1, 3, 7}));
  // A trailing space ends the word being typed: Smithson no longer matches.
  EXPECT_EQ(ids(find("sarah smith ", {}, true)), (std::vector<uint64_t>{1, 7}));
  // Johnson, Jones, Jonson by surname, then John Smith by given name: all prefixes.
  EXPECT_EQ(ids(find("j", {}, true)), (std::vector<uint64_t>{9, 5, 10, 2}));
}

TEST_F(IndexTest, OrganisationAddressAndFilters) {
  // Organisation words and ODS codes are part of the free text.
  EXPECT_EQ(ids(find("smith northfield")), (std::vector<uint64_t>{2, 1}));
  EXPECT_EQ(ids(find("a81001")), (std::vector<uint64_t>{7, 3}));
  Query q;
  q.text = "smith";
  q.ods_code = "rxx";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{2, 1}));
  q.ods_code.clear();
  q.organisation = "southport trust";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{8}));
  q = {};
  q.job_role = "nurse";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{5, 2, 7}));
  q.job_role = "consultant";
  q.speciality = "onc";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{4}));
  q = {};
  q.site = "northfield general";
  q.job_role = "porter";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{10}));
  q = {};
  q.address = entries_[3].address;
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{4}));
  q.address = "SARAH.";
  EXPECT_TRUE(ids(index_.search(q, {})).empty());  // exact: no such address
  q.address_prefix = true;
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{1, 3}));
  // An address typed into the free text.
  EXPECT_EQ(ids(find(entries_[4].address)), (std::vector<uint64_t>{5}));
  EXPECT_EQ(ids(find("zoe.jones5@south")), (std::vector<uint64_t>{5}));
  q = {};
  q.ods_code = "NOPE";
  auto r = index_.search(q, {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->hits.empty());
  q = {};
  q.text = "smith";
  q.kind = EntryKind::shared;
  EXPECT_TRUE(ids(index_.search(q, {})).empty());
}

TEST_F(IndexTest, NamesOnlyLeavesTheOrganisationsWordsOut) {
  // How an LDAP (cn=...) filter reads the words: "ashford" is the name of no one, though
  // two people work at The Ashford Surgery; "north*" matches no name either.
  Query q;
  q.text = "ashford";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{7, 3}));
  q.names_only = true;
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{}));
  q.text = "smith northfield";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{}));
  q.text = "north";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{}));
  // The entry's own words still match: names, by prefix and by typo, and the organisation
  // as a filter.
  q.text = "sarah smith";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{1, 3, 7}));
  q.text = "smith";
  q.organisation = "northfield";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{2, 1}));
}

TEST_F(IndexTest, TyposCanBeTurnedOff) {
  Query q;
  q.text = "sarah smith";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{1, 3, 7}));  // 7: Sara, one letter short
  q.allow_typos = false;
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{1, 3}));
  q.text = "smiht";  // no word, no prefix: only a typo would find it
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{}));
}

TEST_F(IndexTest, SubstringAssertionsDropCandidatesBeforeTheyCount) {
  // (cn=sarah*smith*): the words find Sarah Smith, Sarah Smithson and, one typo away, Sara
  // Smith; the assertion keeps those whose name starts with "sarah" and has "smith" after.
  Query q;
  q.text = "sarah smith";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{1, 3, 7}));
  q.assertions = {{SubstringAssertion{NameField::common_name, "SARAH  ", {"Smith"}, ""}}};
  auto r = index_.search(q, {});
  EXPECT_EQ(ids(r), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(r->total, 2u) << "dropped candidates are not counted";
  // Typed surname first, (cn=smith*sa*): nobody's name starts with "smith"...
  q.text = "smith sa";
  q.assertions = {{SubstringAssertion{NameField::common_name, "smith", {"sa"}, ""}}};
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{}));
  // ...but an OR with the address holds for the addresses that do ("sarah.smith1@...").
  q.text = "sarah smith";
  q.assertions = {{SubstringAssertion{NameField::common_name, "smith", {}, ""},
                   SubstringAssertion{NameField::address, "", {".smith"}, "northfield.care.example"}}};
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{1}));
  // Every inner list must hold: surname and given name.
  q.text = "smith";
  q.assertions = {{SubstringAssertion{NameField::surname, "", {}, "ith"}},
                  {SubstringAssertion{NameField::given_name, "j", {}, ""}}};
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{2}));
  // An empty OR holds for nobody.
  q.assertions = {{}};
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{}));
  // Dropping candidates is bounded: past max_rejected the scan stops, marked truncated.
  q.text = "smith";
  q.assertions = {{SubstringAssertion{NameField::common_name, "x", {}, ""}}};
  SearchLimits few;
  few.max_rejected = 2;
  auto cut = index_.search(q, {}, 20, 0, few);
  ASSERT_TRUE(cut.ok());
  EXPECT_TRUE(cut->hits.empty());
  EXPECT_TRUE(cut->truncated);
  EXPECT_FALSE(cut->total_exact);
  auto whole = index_.search(q, {});
  ASSERT_TRUE(whole.ok());
  EXPECT_FALSE(whole->truncated) << "five Smiths are under the default bound";
}

TEST_F(IndexTest, FindYourLocalAdministrator) {
  Query q;
  q.ods_code = "RXX";
  q.admins_only = true;
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{2}));
  q.ods_code = "ryy";
  auto r = index_.search(q, {});
  ASSERT_EQ(ids(r), (std::vector<uint64_t>{5}));
  EXPECT_TRUE(r->hits[0].entry.is_org_admin);
  // A leaver loses the role, a colleague gains it: no rebuild needed.
  DirectoryEntry john = entries_[1], amelia = entries_[8];
  john.is_org_admin = false;
  amelia.is_org_admin = true;
  ASSERT_TRUE(index_.upsert(john).ok());
  ASSERT_TRUE(index_.upsert(amelia).ok());
  q.ods_code = "RXX";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{9}));
  q.ods_code.clear();
  q.organisation = "northfield";
  q.text = "j";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{9}));  // Johnson, by prefix
}

TEST_F(IndexTest, PrivacyHiddenEntriesAndMobiles) {
  // Hidden: not to colleagues, other organisations' administrators or anyone without a
  // viewer; to its own organisation's administrators and national roles.
  EXPECT_TRUE(ids(find("garcia")).empty());
  EXPECT_TRUE(ids(find("garcia", Viewer{1})).empty());
  EXPECT_TRUE(ids(find("garcia", Viewer{3, true})).empty());
  EXPECT_EQ(ids(find("garcia", Viewer{1, true})), (std::vector<uint64_t>{6}));
  EXPECT_EQ(ids(find("jose", Viewer{0, false, true})), (std::vector<uint64_t>{6}));
  EXPECT_FALSE(index_.get(6, Viewer{1}).has_value());
  EXPECT_TRUE(index_.get(6, Viewer{1, true}).has_value());
  // Counts do not reveal hidden entries either.
  auto r = find("northfield");
  EXPECT_EQ(r->total, 4u);

  // Hidden mobile: blanked unless the viewer may see it; a visible mobile is shown.
  auto a = find("sarah smith", Viewer{2});
  ASSERT_EQ(ids(a), (std::vector<uint64_t>{1, 3, 7}));
  EXPECT_EQ(a->hits[0].entry.mobile, "");
  EXPECT_TRUE(a->hits[0].entry.mobile_hidden);
  EXPECT_EQ(a->hits[1].entry.mobile, "07700 900456");
  auto b = find("sarah smith", Viewer{1, true});
  EXPECT_EQ(b->hits[0].entry.mobile, "07700 900123");
  EXPECT_EQ(index_.get(1, Viewer{}).value().mobile, "");
  EXPECT_EQ(index_.get(1, Viewer{0, false, true}).value().mobile, "07700 900123");
}

TEST_F(IndexTest, EntriesComeBackWhole) {
  auto e = index_.get(4, Viewer{});
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(*e, entries_[3]);
}

TEST_F(IndexTest, PagingAndErrors) {
  auto all = find("smith");
  Query q;
  q.text = "smith";
  std::vector<uint64_t> paged;
  for (size_t off = 0; off < 6; off += 2) {
    auto r = index_.search(q, {}, 2, off);
    ASSERT_TRUE(r.ok());
    for (auto& h : r->hits) paged.push_back(h.entry.id);
  }
  EXPECT_EQ(paged, ids(all));
  EXPECT_FALSE(index_.search(q, {}, 0).ok());
  EXPECT_EQ(index_.search(q, {}, 10, 995).error().code, Errc::invalid_argument);
  Query empty;
  EXPECT_EQ(index_.search(empty, {}).error().code, Errc::invalid_argument);
  empty.text = " ,;- ";
  EXPECT_EQ(index_.search(empty, {}).error().code, Errc::invalid_argument);
  empty.admins_only = true;
  EXPECT_EQ(index_.search(empty, {}).error().code, Errc::invalid_argument);
  empty.organisation = "&&";
  empty.job_role = "-";
  EXPECT_EQ(index_.search(empty, {}).error().code, Errc::invalid_argument);
  // Nothing matching is an empty page, not an error.
  EXPECT_TRUE(ids(find("xyzzy")).empty());
}

TEST_F(IndexTest, UpdatesWithoutRebuild) {
  // A new entry, ranked among the built ones by surname.
  ASSERT_TRUE(index_.upsert(person(11, 2, "Adam", "Smith", "Receptionist")).ok());
  EXPECT_EQ(ids(find("smith")), (std::vector<uint64_t>{11, 2, 7, 1, 3, 8}));
  // A changed name: found by the new, not the old.
  DirectoryEntry changed = entries_[0];
  changed.surname = "Zimmermann";
  changed.display_name = "Sarah Zimmermann";
  changed.address = "sarah.zimmermann@northfield.care.example";
  ASSERT_TRUE(index_.upsert(changed).ok());
  EXPECT_EQ(ids(find("smith")), (std::vector<uint64_t>{11, 2, 7, 3, 8}));
  EXPECT_EQ(ids(find("zimmerman")), (std::vector<uint64_t>{1}));  // a new word, and a typo of it
  EXPECT_EQ(ids(find("zimm")), (std::vector<uint64_t>{1}));
  EXPECT_EQ(ids(find("z")), (std::vector<uint64_t>{5, 1}));  // prefix lists too
  // Removed.
  EXPECT_TRUE(index_.remove(2));
  EXPECT_FALSE(index_.remove(2));
  EXPECT_EQ(ids(find("smith")), (std::vector<uint64_t>{11, 7, 3, 8}));
  EXPECT_FALSE(index_.get(2, Viewer{0, false, true}).has_value());
  auto s = index_.stats();
  EXPECT_EQ(s.entries, 10u);
  EXPECT_EQ(s.tombstones, 2u);
  EXPECT_EQ(s.overlay_documents, 2u);
  // Hidden by an update.
  DirectoryEntry hide = entries_[4];
  hide.hidden = true;
  ASSERT_TRUE(index_.upsert(hide).ok());
  EXPECT_TRUE(ids(find("zoe")).empty());
  EXPECT_EQ(ids(find("zoe", Viewer{3, true})), (std::vector<uint64_t>{5}));

  // compact() keeps every answer and empties the overlay.
  std::vector<std::vector<uint64_t>> before;
  const char* queries[] = {"smith", "zimm", "z", "sarah", "northfield", "a81001", "jonson"};
  for (const char* t : queries) before.push_back(ids(find(t, Viewer{3, true})));
  index_.compact();
  s = index_.stats();
  EXPECT_EQ(s.tombstones, 0u);
  EXPECT_EQ(s.overlay_documents, 0u);
  EXPECT_EQ(s.entries, 10u);
  for (size_t i = 0; i < std::size(queries); ++i)
    EXPECT_EQ(ids(find(queries[i], Viewer{3, true})), before[i]) << queries[i];
}

TEST_F(IndexTest, OrganisationRenamedByAnUpdate) {
  DirectoryEntry e = entries_[2];
  e.org_name = "Ashford Medical Partnership";
  ASSERT_TRUE(index_.upsert(e).ok());
  EXPECT_EQ(index_.get(7, Viewer{}).value().org_name, "Ashford Medical Partnership");
  Query q;
  q.organisation = "partnership";
  EXPECT_EQ(ids(index_.search(q, {})), (std::vector<uint64_t>{7, 3}));
}

TEST(Index, EmptyIndex) {
  DirectoryIndex ix;
  Query q;
  q.text = "smith";
  auto r = ix.search(q, {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->hits.empty());
  EXPECT_TRUE(ix.upsert(person(1, 1, "Sarah", "Smith")).ok());
  EXPECT_EQ(ids(ix.search(q, {})), (std::vector<uint64_t>{1}));
}

TEST(Index, ConcurrentSearchesAndUpdates) {
  synth::Options o;
  o.organisations = 30;
  o.entries = 3000;
  auto data = synth::generate(o);
  DirectoryIndex ix = DirectoryIndex::build(data.entries);
  std::atomic<bool> failed{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        Query q;
        q.text = data.entries[(i * 7 + t) % data.entries.size()].display_name.substr(0, 2);
        q.typeahead = true;
        if (!ix.search(q, {}).ok()) failed = true;
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    DirectoryEntry e = data.entries[static_cast<size_t>(i)];
    e.surname = "Updated" + std::to_string(i);
    ASSERT_TRUE(ix.upsert(e).ok());
    if (i == 150) ix.compact();  // searches go on while it builds
  }
  for (auto& th : readers) th.join();
  EXPECT_FALSE(failed);
  Query q;
  q.text = "updated299";
  auto r = ix.search(q, Viewer{0, false, true});
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->hits.empty());
  EXPECT_EQ(r->hits[0].entry.id, 300u);  // then "updated29", "updated290"... one typo away
  EXPECT_EQ(r->hits[0].match, Match::exact);
  EXPECT_EQ(ix.stats().entries, data.entries.size());
}

// ---- A brute-force reference with the same rules -------------------------------------------

struct Reference {
  struct Doc {
    DirectoryEntry e;
    std::vector<std::string> words;      // the entry's own terms, addresses as "@...", each once
    std::vector<std::string> org_words;  // its organisation's name and ODS code
    std::string key;
  };
  std::map<uint64_t, Doc> docs;

  void put(const DirectoryEntry& e) {
    Doc d;
    d.e = e;
    for (const std::string* s : {&e.title, &e.given_name, &e.surname, &e.display_name}) {
      fold_words(*s, WordMode::index, d.words);
    }
    std::string a = fold_address(e.address);
    size_t first = d.words.size();
    fold_words(a.substr(0, a.rfind('@')), WordMode::index, d.words);
    for (size_t i = first; i < d.words.size(); ++i) {
      std::string& w = d.words[i];
      size_t end = w.find_last_not_of("0123456789");
      if (end != std::string::npos) w.resize(end + 1);
    }
    d.words.push_back("@" + a);
    std::sort(d.words.begin(), d.words.end());
    d.words.erase(std::unique(d.words.begin(), d.words.end()), d.words.end());
    fold_words(e.org_name, WordMode::index, d.org_words);
    d.org_words.push_back(fold_address(e.ods_code));
    d.key = fold_text(e.surname.empty() ? e.display_name : e.surname) + "\x01" + fold_text(e.given_name);
    docs[e.id] = std::move(d);
  }

  // Same semantics as the index: each text word must match a term (the organisation's, or
  // one of the entry's own that no other word takes); tier is the weakest.
  // Every filter word is a whole word or a prefix of a word of the value.
  static bool filter_matches(const std::string& filter, std::vector<std::string> value_words) {
    for (const auto& w : fold_words(filter)) {
      if (std::none_of(value_words.begin(), value_words.end(),
                       [&](const std::string& v) { return v.starts_with(w); })) {
        return false;
      }
    }
    return true;
  }

  // Whether each word can have a term of its own: every assignment, tried.
  static bool distinct_terms(const std::vector<std::vector<size_t>>& own, size_t i = 0,
                             std::vector<size_t> taken = {}) {
    if (i == own.size()) return true;
    for (size_t t : own[i]) {
      if (std::find(taken.begin(), taken.end(), t) != taken.end()) continue;
      taken.push_back(t);
      if (distinct_terms(own, i + 1, taken)) return true;
      taken.pop_back();
    }
    return false;
  }

  std::vector<uint64_t> search(const std::string& text, bool typeahead, const Viewer& v, size_t n, size_t* total,
                               const std::string& org_filter = "", const std::string& role_filter = "",
                               bool admins_only = false, bool names_only = false,
                               const std::vector<std::string>& contains = {},
                               const std::vector<std::string>& address_contains = {}) const {
    std::vector<std::pair<std::string, bool>> words;  // word, allow prefix
    std::vector<std::string> ws = fold_words(text);
    bool ended = !text.empty() && text.back() == ' ';
    for (size_t i = 0; i < ws.size(); ++i) {
      std::pair<std::string, bool> w{ws[i], !typeahead || (i + 1 == ws.size() && !ended)};
      if (std::find(words.begin(), words.end(), w) == words.end()) words.push_back(std::move(w));
    }
    struct Ranked {
      int tier;
      bool other;
      const Doc* d;
    };
    std::vector<Ranked> all;
    for (const auto& [id, d] : docs) {
      bool see = v.national || (v.org_admin && v.org_id == d.e.org_id);
      if (d.e.hidden && !see) continue;
      if (admins_only && !d.e.is_org_admin) continue;
      if (!org_filter.empty()) {
        auto ow = fold_words(d.e.org_name, WordMode::index);
        ow.push_back(fold_address(d.e.ods_code));
        if (!filter_matches(org_filter, ow)) continue;
      }
      if (!role_filter.empty() && !filter_matches(role_filter, fold_words(d.e.job_role, WordMode::index))) continue;
      int tier = 0;
      std::vector<std::vector<size_t>> own;  // per word the organisation does not match: its terms
      for (const auto& [w, prefix] : words) {
        auto tier_of = [&](const std::string& t) {
          if (t == w) return 0;
          if (prefix && t.starts_with(w)) return 1;
          if (w.size() >= 5 && t[0] != '@' && within_one_edit(w, t)) return 2;
          return 3;
        };
        int best = 3, org = 3;
        std::vector<size_t> matched;
        for (size_t i = 0; i < d.words.size(); ++i) {
          int t = tier_of(d.words[i]);
          if (t < 3) matched.push_back(i);
          best = std::min(best, t);
        }
        if (!names_only) {
          for (const auto& t : d.org_words) org = std::min(org, tier_of(t));
        }
        if (org == 3) own.push_back(std::move(matched));
        tier = std::max(tier, std::min(best, org));
      }
      for (const std::string& given : contains) {
        for (const std::string& piece : fold_words(given)) {
          if (piece.size() < 3) continue;
          int best = 3;
          for (const auto& t : d.words) {
            if (t == piece) best = 0;
            else if (t[0] != '@' && t.find(piece) != std::string::npos) best = std::min(best, 1);
          }
          tier = std::max(tier, best);
        }
      }
      for (const std::string& given : address_contains) {
        std::string piece = fold_address(given);
        if (piece.size() < 3) continue;
        bool in = std::any_of(d.words.begin(), d.words.end(), [&](const std::string& t) {
          return t[0] == '@' && t.find(piece, 1) != std::string::npos;
        });
        if (!in) tier = 3;
        tier = std::max(tier, 1);
      }
      if (tier == 3 || !distinct_terms(own)) continue;
      all.push_back({tier, d.e.org_id != v.org_id, &d});
    }
    std::sort(all.begin(), all.end(), [](const Ranked& a, const Ranked& b) {
      if (a.tier != b.tier) return a.tier < b.tier;
      if (a.other != b.other) return a.other < b.other;
      if (a.d->key != b.d->key) return a.d->key < b.d->key;
      return a.d->e.id < b.d->e.id;
    });
    *total = all.size();
    std::vector<uint64_t> out;
    for (size_t i = 0; i < all.size() && i < n; ++i) out.push_back(all[i].d->e.id);
    return out;
  }
};

void run_reference(uint64_t seed, uint32_t organisations, uint32_t entries) {
  synth::Options o;
  o.seed = seed;
  o.organisations = organisations;
  o.entries = entries;
  auto data = synth::generate(o);
  DirectoryIndex ix = DirectoryIndex::build(data.entries);
  Reference ref;
  for (const auto& e : data.entries) ref.put(e);

  std::mt19937 rng(static_cast<uint32_t>(12345 + seed));
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto make_typo = [&](std::string w) {
    if (w.size() < 5) return w;
    size_t i = 1 + pick(w.size() - 2);
    switch (pick(3)) {
      case 0:
        std::swap(w[i], w[i + 1]);
        break;
      case 1:
        w.erase(i, 1);
        break;
      default:
        w[i] = static_cast<char>('a' + pick(26));
        break;
    }
    return w;
  };
  auto random_query = [&](bool& typeahead) {
    const auto& e = data.entries[pick(data.entries.size())];
    std::vector<std::string> g = fold_words(e.given_name), s = fold_words(e.surname);
    std::string gw = g.empty() ? "x" : g[0], sw = s.empty() ? "y" : s[0];
    typeahead = pick(2) == 0;
    switch (pick(9)) {
      case 8:  // the second word a prefix of the first: only entries with two such words
        return gw + " " + gw.substr(0, 1 + pick(gw.size()));
      case 0:
        return gw.substr(0, 1 + pick(gw.size()));
      case 1:
        return gw + " " + sw.substr(0, 1 + pick(sw.size()));
      case 2:
        return sw + " " + gw;
      case 3:
        return make_typo(sw);
      case 4:
        return sw + " " + fold_words(e.org_name)[0];
      case 5:
        return sw.substr(0, 2);
      case 6:
        return gw + " " + make_typo(sw) + " ";
      default:
        return std::string(1, static_cast<char>('a' + pick(26)));
    }
  };
  int estimated = 0;
  auto check_round = [&](int rounds) {
    for (int i = 0; i < rounds; ++i) {
      bool typeahead = false;
      std::string text = random_query(typeahead);
      Viewer v;
      v.org_id = static_cast<uint32_t>(pick(4) == 0 ? 0 : 1 + pick(o.organisations));
      v.org_admin = pick(3) == 0;
      v.national = pick(20) == 0;
      size_t limit = 1 + pick(30);
      Query q;
      q.text = text;
      q.typeahead = typeahead;
      // Some with an organisation or role filter: a word (or its beginning) of a real one.
      const auto& other = data.entries[pick(data.entries.size())];
      if (pick(5) == 0) {
        auto w = fold_words(other.org_name);
        q.organisation = w[pick(w.size())].substr(0, 3 + pick(4));
      }
      if (pick(8) == 0 && !other.job_role.empty()) q.job_role = fold_words(other.job_role).back();
      q.admins_only = pick(10) == 0;
      q.names_only = pick(6) == 0;
      // Some with a piece from inside a surname ("ohnso"), alone or with the text.
      const auto& third = data.entries[pick(data.entries.size())];
      if (pick(5) == 0 && third.surname.size() >= 5) {
        std::string sw = fold_words(third.surname)[0];
        if (sw.size() >= 4) {
          size_t from = 1 + pick(sw.size() - 3);
          q.contains.push_back(sw.substr(from, 3 + pick(sw.size() - from - 2)));
          if (pick(2) == 0) q.text.clear();
        }
      }
      // Some with a piece of an address, local part or domain ("hdury-ch").
      if (pick(6) == 0) {
        std::string a = fold_address(data.entries[pick(data.entries.size())].address);
        size_t from = pick(a.size() - 3);
        q.address_contains.push_back(a.substr(from, 3 + pick(std::min<size_t>(6, a.size() - from - 2))));
        if (pick(2) == 0) q.text.clear();
      }
      auto r = ix.search(q, v, limit);
      ASSERT_TRUE(r.ok()) << text;
      size_t total = 0;
      auto want = ref.search(q.text, typeahead, v, limit, &total, q.organisation, q.job_role, q.admins_only,
                             q.names_only, q.contains, q.address_contains);
      ASSERT_EQ(ids(r), want) << "query '" << text << "' typeahead " << typeahead << " org " << v.org_id
                              << " organisation '" << q.organisation << "' role '" << q.job_role << "' admins "
                              << q.admins_only << " names only " << q.names_only << " contains '"
                              << (q.contains.empty() ? "" : q.contains[0]) << "' in address '"
                              << (q.address_contains.empty() ? "" : q.address_contains[0]) << "'";
      if (r->total_exact) {
        EXPECT_EQ(r->total, total) << text;
      } else {
        ++estimated;
        EXPECT_GE(r->total, want.size()) << text;
      }
    }
  };
  check_round(400);

  // Updates: renames, moves between organisations, hides, removals and new entries; a
  // few hundred first, then enough that the overlay lists are long and cut early too.
  auto update = [&](int i) {
    DirectoryEntry e = data.entries[pick(data.entries.size())];
    switch (pick(5)) {
      case 0:
        e.surname = data.entries[pick(data.entries.size())].surname;
        e.display_name = e.given_name + " " + e.surname;
        break;
      case 1:
        e.hidden = !e.hidden;
        break;
      case 2:
        ASSERT_EQ(ix.remove(e.id), ref.docs.erase(e.id) == 1);
        return;
      case 3:
        e.id = 100000 + static_cast<uint64_t>(i);
        e.given_name = data.entries[pick(data.entries.size())].given_name;
        e.address = "new" + std::to_string(i) + "@example.org";
        break;
      default: {
        const auto& other = data.entries[pick(data.entries.size())];
        e.org_id = other.org_id;
        e.org_name = other.org_name;
        e.ods_code = other.ods_code;
        break;
      }
    }
    ASSERT_TRUE(ix.upsert(e).ok());
    ref.put(e);
  };
  for (int i = 0; i < 300; ++i) update(i);
  check_round(400);
  for (int i = 300; i < 2500; ++i) update(i);
  check_round(400);
  EXPECT_GT(ix.stats().overlay_documents, 1000u);
  ix.compact();
  check_round(200);
  // The early stop was exercised (totals then are estimates).
  EXPECT_GT(estimated, 50);
}

TEST(IndexReference, RandomQueriesMatchBruteForceBeforeAndAfterUpdates) { run_reference(3, 40, 5000); }

// Smaller and so more crowded: most entries end up updated, overlay lists are long.
TEST(IndexReference, MostlyUpdated) { run_reference(11, 12, 2000); }

}  // namespace
}  // namespace caremail::directory

// Tests for the LDAP-to-directory mapping: DNs, bind names, plans, entries, and the search
// loop run against a real DirectoryIndex (privacy, size limit, paging, window).
#include "ldap/search.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "directory/synth.hpp"

namespace caremail::ldap {
namespace {

constexpr std::string_view kBase = "o=caremail";

Filter F(std::string_view text) {
  auto f = parse_filter(text);
  EXPECT_TRUE(f.ok()) << text;
  return f.ok() ? *f : Filter{};
}

TEST(LdapDn, Parse) {
  auto r = parse_dn("mail=a.b@x.example, ou=RXX ,O=Caremail");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0], (Rdn{"mail", "a.b@x.example"}));
  EXPECT_EQ((*r)[1], (Rdn{"ou", "RXX"}));
  EXPECT_EQ((*r)[2], (Rdn{"o", "Caremail"}));
  EXPECT_EQ(parse_dn("")->size(), 0u);
  EXPECT_EQ((*parse_dn("cn=Smith\\, John,o=x"))[0].value, "Smith, John");
  EXPECT_EQ((*parse_dn("cn=\\41b,o=x"))[0].value, "Ab");
  for (std::string_view bad : {"cn", "cn=a,", "=a", "cn=a+sn=b", "cn=\"a\"", "cn=a\\", ",cn=a"})
    EXPECT_FALSE(parse_dn(bad)) << bad;
}

TEST(LdapDn, EscapeRoundTrip) {
  for (std::string_view v : {"plain", "a,b", " lead", "trail ", "#hash", "x\\y", "a+b=c<d>;e\"f"}) {
    std::string dn = "cn=" + escape_dn_value(v) + ",o=x";
    auto r = parse_dn(dn);
    ASSERT_TRUE(r) << dn;
    EXPECT_EQ((*r)[0].value, v) << dn;
  }
}

TEST(LdapDn, Locate) {
  using K = Located::Kind;
  EXPECT_EQ(locate("", kBase).kind, K::root_dse);
  EXPECT_EQ(locate("o=caremail", kBase).kind, K::suffix);
  EXPECT_EQ(locate("O = CareMail", kBase).kind, K::suffix);
  auto org = locate("ou=RXX,o=caremail", kBase);
  EXPECT_EQ(org.kind, K::organisation);
  EXPECT_EQ(org.ods_code, "RXX");
  auto e = locate("mail=a@b.example,ou=RXX,o=caremail", kBase);
  EXPECT_EQ(e.kind, K::entry);
  EXPECT_EQ(e.address, "a@b.example");
  EXPECT_EQ(e.ods_code, "RXX");
  EXPECT_EQ(locate("dc=example,dc=com", kBase).kind, K::outside);
  EXPECT_EQ(locate("cn=x,ou=RXX,o=caremail", kBase).kind, K::outside);
  EXPECT_EQ(locate("not a dn", kBase).kind, K::invalid);
}

TEST(LdapDn, BindAddress) {
  EXPECT_EQ(bind_address("a.b@x.example"), "a.b@x.example");
  EXPECT_EQ(bind_address("mail=a.b@x.example,ou=RXX,o=caremail"), "a.b@x.example");
  EXPECT_EQ(bind_address("uid=a.b@x.example,o=caremail"), "a.b@x.example");
  EXPECT_EQ(bind_address("cn=Admin,o=caremail"), std::nullopt);
  EXPECT_EQ(bind_address("uid=ab,o=caremail"), std::nullopt);
  EXPECT_EQ(bind_address(""), std::nullopt);
  EXPECT_EQ(bind_address("someone"), std::nullopt);
}

// ---- plans ----

struct PlanCase {
  std::string filter;
  bool unbounded;
  std::vector<std::string> texts;  // each query's text ("|" then address, organisation...)
};

std::string describe(const directory::Query& q) {
  std::string s = q.text;
  if (!q.address.empty()) s += "|addr=" + q.address + (q.address_prefix ? "*" : "");
  if (!q.organisation.empty()) s += "|o=" + q.organisation;
  if (!q.unit.empty()) s += "|ou=" + q.unit;
  if (!q.job_role.empty()) s += "|role=" + q.job_role;
  if (!q.site.empty()) s += "|site=" + q.site;
  if (!q.ods_code.empty()) s += "|ods=" + q.ods_code;
  for (const auto& piece : q.contains) s += "|in=" + piece;
  for (const auto& piece : q.address_contains) s += "|in-addr=" + piece;
  return s;
}

TEST(LdapPlan, Table) {
  const PlanCase cases[] = {
      // Thunderbird's address-book search: four tests of one piece, one query for words
      // starting with it, then one for words holding it.
      {"(|(mail=*smi*)(cn=*smi*)(givenName=*smi*)(sn=*smi*))", false, {"smi", "|in-addr=smi", "|in=smi"}},
      // Outlook: name or address beginning.
      {"(&(objectClass=person)(|(cn=smi*)(mail=smi*)))", false, {"|addr=smi*", "smi"}},
      {"(|(cn=sm*)(mail=sm*)(sn=sm*))", false, {"sm"}},
      {"(mail=John.Smith@x.example)", false, {"|addr=John.Smith@x.example"}},
      {"(mail=john.smith@x*)", false, {"|addr=john.smith@x*"}},
      {"(mail=williams17*)", false, {"|addr=williams17*"}},
      // For mail the second look covers the whole address, the domain too.
      {"(mail=sarah*cr*)", false, {"sarah cr", "sarah"}},  // "cr" narrows nothing: the Sarahs
      {"(mail=*williams17*)", false, {"williams", "|in-addr=williams17"}},
      {"(mail=*chowdhury*)", false, {"chowdhury", "|in-addr=chowdhury"}},
      {"(sn=*son)", false, {"son", "|in=son"}},
      {"(cn=*jo*)", false, {"jo"}},  // two letters inside a word: nothing to bound a scan by
      {"(cn=smith*m*)", false, {"smith m", "smith"}},
      {"(cn=John Smi*)", false, {"john smi"}},
      {"(&(sn=smith)(o=northfield))", false, {"smith|o=northfield"}},
      {"(&(|(cn=sarah*)(cn=sara*))(ou=ward 7*))", false, {"sarah|ou=ward 7", "sara|ou=ward 7"}},
      {"(title=Staff Nurse)", false, {"|role=staff nurse"}},
      {"(physicalDeliveryOfficeName=Northfield*)", false, {"|site=northfield"}},
      {"(&(cn=smith)(!(title=nurse)))", false, {"smith"}},
      {"(objectClass=*)", true, {}},
      {"(!(cn=smith))", true, {}},
      {"(|(cn=smith)(objectClass=*))", true, {}},
      {"(telephoneNumber=01632*)", true, {}},
      {"(cn=*)", true, {}},
      {"(|)", false, {}},
      {"(&(cn=a*)(|))", false, {}},
  };
  for (const auto& c : cases) {
    SearchPlan p = plan_search(F(c.filter));
    EXPECT_EQ(p.unbounded, c.unbounded) << c.filter;
    std::vector<std::string> got;
    for (const auto& q : p.queries) {
      got.push_back(describe(q));
      // Text from names and addresses must match the entry's own words, never its
      // organisation's.
      if (!q.text.empty()) {
        EXPECT_TRUE(q.names_only) << c.filter;
      }
      EXPECT_FALSE(q.allow_typos) << c.filter;  // no LDAP filter matches by typo
    }
    EXPECT_EQ(got, c.texts) << c.filter;
  }
}

TEST(LdapPlan, SubstringTestsTravelWithTheQuery) {
  using directory::NameField;
  using directory::SubstringAssertion;
  // Thunderbird's autocomplete filter: one OR of the three attributes' tests, on the
  // word-start query and on the second look (the Sarahs: "wi" is too short to narrow it).
  SearchPlan t = plan_search(F("(|(cn=sarah*wi*)(mail=sarah*wi*)(sn=sarah*wi*))"));
  ASSERT_EQ(t.queries.size(), 2u);
  EXPECT_EQ(describe(t.queries[0]), "sarah wi");
  EXPECT_EQ(describe(t.queries[1]), "sarah");
  const SubstringAssertion cn{NameField::common_name, "sarah", {"wi"}, ""};
  const SubstringAssertion mail{NameField::address, "sarah", {"wi"}, ""};
  const SubstringAssertion sn{NameField::surname, "sarah", {"wi"}, ""};
  using Tests = std::vector<std::vector<SubstringAssertion>>;
  EXPECT_EQ(t.queries[0].assertions, (Tests{{cn, mail, sn}}));
  EXPECT_EQ(t.queries[1].assertions, (Tests{{cn, mail, sn}}));
  // With a longer piece the names and the address are looked into apart, each with its
  // own attributes' tests.
  SearchPlan w = plan_search(F("(|(cn=sarah*wil*)(mail=sarah*wil*))"));
  ASSERT_EQ(w.queries.size(), 3u);
  EXPECT_EQ(describe(w.queries[1]), "sarah|in=wil");
  EXPECT_EQ(describe(w.queries[2]), "sarah|in-addr=wil");
  EXPECT_EQ(w.queries[1].assertions.size(), 1u);
  EXPECT_EQ(w.queries[1].assertions[0].size(), 1u);
  EXPECT_EQ(w.queries[1].assertions[0][0].field, NameField::common_name);
  EXPECT_EQ(w.queries[2].assertions[0][0].field, NameField::address);
  // AND: both tests must hold, on each query.
  SearchPlan a = plan_search(F("(&(givenName=sa*)(sn=*ith))"));
  ASSERT_EQ(a.queries.size(), 2u);
  EXPECT_EQ(describe(a.queries[0]), "sa ith");
  EXPECT_EQ(describe(a.queries[1]), "sa|in=ith");
  EXPECT_EQ(a.queries[0].assertions.size(), 2u);
  EXPECT_EQ(a.queries[1].assertions.size(), 2u);
  // A branch with no test (equality) widens the OR to no condition.
  SearchPlan e = plan_search(F("(|(cn=smith)(sn=smith*))"));
  ASSERT_EQ(e.queries.size(), 1u);
  EXPECT_TRUE(e.queries[0].assertions.empty());
  // Attributes the index does not hold carry no test.
  SearchPlan o = plan_search(F("(&(cn=sam*)(o=north*))"));
  ASSERT_EQ(o.queries.size(), 1u);
  EXPECT_EQ(o.queries[0].assertions.size(), 1u);
}

TEST(LdapPlan, BoundedQueryCount) {
  // A wide OR of different words is a union of at most kMaxQueries queries, else unbounded.
  std::string wide = "(|";
  for (int i = 0; i < 20; ++i) wide += "(cn=name" + std::string(1, static_cast<char>('a' + i)) + ")";
  wide += ")";
  EXPECT_TRUE(plan_search(F(wide)).unbounded);
  // A wide AND of ORs is cut to at most kMaxQueries queries.
  std::string deep = "(&";
  for (int i = 0; i < 10; ++i) deep += "(|(cn=a" + std::to_string(i) + ")(sn=b" + std::to_string(i) + "))";
  deep += ")";
  SearchPlan p = plan_search(F(deep));
  EXPECT_FALSE(p.unbounded);
  EXPECT_LE(p.queries.size(), kMaxQueries);
  EXPECT_GE(p.queries.size(), 1u);
}

TEST(LdapPlan, RestrictToOrganisation) {
  SearchPlan p = plan_search(F("(objectClass=*)"));
  restrict_to_organisation(p, "RXX");
  ASSERT_FALSE(p.unbounded);
  ASSERT_EQ(p.queries.size(), 1u);
  EXPECT_EQ(p.queries[0].ods_code, "RXX");
}

// ---- entries ----

directory::DirectoryEntry person(uint64_t id, std::string given, std::string surname, uint32_t org = 1) {
  directory::DirectoryEntry e;
  e.id = id;
  e.given_name = std::move(given);
  e.surname = std::move(surname);
  e.display_name = e.given_name + " " + e.surname;
  std::string local = e.given_name + "." + e.surname;
  std::transform(local.begin(), local.end(), local.begin(), [](unsigned char c) { return std::tolower(c); });
  e.org_id = org;
  e.ods_code = org == 1 ? "RXX" : "A81001";
  e.org_name = org == 1 ? "Northfield Hospitals NHS Foundation Trust" : "The Ashford Surgery";
  e.address = local + std::to_string(id) + "@" + (org == 1 ? "northfield" : "ashford") + ".care.example";
  e.job_role = "Staff Nurse";
  e.unit = "Ward 7B";
  e.site = "Northfield General Hospital";
  e.telephone = "01632 960123";
  e.mobile = "07700 900123";
  return e;
}

TEST(LdapEntry, Attributes) {
  auto de = person(7, "Sarah", "Smith");
  de.title = "Dr";
  Entry e = to_entry(de, kBase);
  EXPECT_EQ(e.dn, "mail=sarah.smith7@northfield.care.example,ou=RXX,o=caremail");
  auto val = [&](std::string_view a) {
    auto* v = e.find(canonical_attribute(a));
    return v ? v->front() : std::string("<none>");
  };
  EXPECT_EQ(val("cn"), "Sarah Smith");
  EXPECT_EQ(val("displayName"), "Sarah Smith");
  EXPECT_EQ(val("givenName"), "Sarah");
  EXPECT_EQ(val("sn"), "Smith");
  EXPECT_EQ(val("mail"), "sarah.smith7@northfield.care.example");
  EXPECT_EQ(val("o"), "Northfield Hospitals NHS Foundation Trust");
  EXPECT_EQ(val("ou"), "Ward 7B");
  EXPECT_EQ(val("title"), "Staff Nurse");
  EXPECT_EQ(val("personalTitle"), "Dr");
  EXPECT_EQ(val("mobile"), "07700 900123");
  EXPECT_EQ(val("pager"), "<none>");  // empty values are left out
  EXPECT_TRUE(matches(F("(&(objectClass=inetOrgPerson)(cn=*smi*)(mobile=07700900123))"), SchemaView(e)));
  EXPECT_FALSE(matches(F("(pager=*)"), SchemaView(e)));
  EXPECT_TRUE(matches(F("(!(pager=1))"), SchemaView(e)));        // known, absent: FALSE, negated TRUE
  EXPECT_FALSE(matches(F("(!(frobnicate=1))"), SchemaView(e)));  // unknown: Undefined
  Entry sel = select(e, parse_selection({"CN", "mail", "unknownAttr"}));
  ASSERT_EQ(sel.attributes.size(), 2u);
  EXPECT_EQ(sel.attributes[0].name, "cn");
  EXPECT_EQ(sel.attributes[1].name, "mail");
  EXPECT_TRUE(select(e, parse_selection({"1.1"})).attributes.empty());
  EXPECT_EQ(select(e, parse_selection({"*"})), e);
  EXPECT_EQ(select(e, parse_selection({})), e);
}

TEST(LdapEntry, CandidateViewAgreesWithEntry) {
  directory::synth::Options o;
  o.entries = 300;
  o.organisations = 20;
  auto data = directory::synth::generate(o);
  const char* filters[] = {"(cn=*a*)", "(|(cn=s*)(mail=s*)(sn=s*))", "(&(objectClass=person)(title=*nurse*))",
                           "(!(pager=*))", "(mobile=*)", "(telephoneNumber=01*)", "(o=*trust*)",
                           "(&(givenName=*)(!(description=*)))", "(ou>=m)", "(unknownattr=x)",
                           "(!(unknownattr=x))", "(personalTitle=dr)", "(displayName~=sarahsmith)"};
  CandidateView view;
  for (const auto& de : data.entries) {
    Entry e = to_entry(de, kBase);
    view.fill(de);
    for (const char* f : filters) {
      Filter parsed = F(f);
      EXPECT_EQ(evaluate(parsed, view), evaluate(parsed, SchemaView(e))) << f << " " << e.dn;
    }
  }
}

TEST(LdapEntry, DirectEncodingMatchesGeneric) {
  directory::synth::Options o;
  o.entries = 200;
  o.organisations = 10;
  auto data = directory::synth::generate(o);
  auto weird = person(9, "Zoë", "O'Brien, Jr");
  weird.notes = std::string(300, 'x');  // long lengths
  data.entries.push_back(weird);
  const std::vector<std::vector<std::string>> selections = {{}, {"*"}, {"1.1"}, {"cn", "MAIL", "objectclass"},
                                                            {"mobile", "telephoneNumber", "description"}};
  for (const auto& de : data.entries)
    for (const auto& names : selections)
      for (bool types_only : {false, true})
        for (int32_t id : {1, 127, 128, 255, 256, 40000, 2147483647}) {
          Selection sel = parse_selection(names);
          EXPECT_EQ(encode_entry(id, de, kBase, sel, types_only),
                    encode_search_entry(id, select(to_entry(de, kBase), sel), types_only))
              << de.address << " id " << id;
        }
}

// ---- the search loop against a real index ----

class LdapRun : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<directory::DirectoryEntry> es;
    for (uint64_t i = 1; i <= 30; ++i) es.push_back(person(i, "Sam", "Smith", 1));
    es.push_back(person(100, "Sarah", "Goldsmith", 1));
    es.push_back(person(101, "Simon", "Jones", 2));
    auto hidden = person(102, "Hidden", "Smithers", 2);
    hidden.hidden = true;
    es.push_back(hidden);
    auto private_mobile = person(103, "Priya", "Smithson", 2);
    private_mobile.mobile_hidden = true;
    es.push_back(private_mobile);
    index_ = directory::DirectoryIndex::build(es);
  }

  Fetch fetch(directory::Viewer v) {
    return [this, v](const directory::Query& q, size_t limit, size_t offset) {
      return index_.search(q, v, limit, offset);
    };
  }

  RunResult run(std::string_view filter, size_t want, directory::Viewer v, Cursor from = {},
                std::unordered_set<uint64_t>* seen_in = nullptr, size_t window = 1000) {
    std::unordered_set<uint64_t> local;
    auto& seen = seen_in ? *seen_in : local;
    RunOptions o;
    o.want = want;
    o.window = window;
    Filter f = F(filter);
    return run_search(plan_search(f), f, kBase, fetch(v), o, from, seen);
  }

  directory::DirectoryIndex index_;
};

TEST_F(LdapRun, ThunderbirdFilterAndSizeLimit) {
  directory::Viewer outsider{1, false, false};
  auto r = run("(|(mail=*smi*)(cn=*smi*)(givenName=*smi*)(sn=*smi*))", 100, outsider);
  EXPECT_EQ(r.end, RunResult::End::exhausted);
  // 30 Sam Smiths, Priya Smithson and, from the look inside words, Sarah Goldsmith; not
  // the hidden Smithers.
  EXPECT_EQ(r.entries.size(), 32u);
  EXPECT_EQ(std::count(r.ids.begin(), r.ids.end(), 102u), 0);
  EXPECT_EQ(r.ids.back(), 100u);  // word starts first

  // A final component is a piece inside a word too; the word-start pass finds nothing.
  auto ending = run("(sn=*smith)", 100, outsider);
  EXPECT_EQ(ending.end, RunResult::End::exhausted);
  EXPECT_EQ(ending.entries.size(), 31u);  // the Smiths and Goldsmith, not Smithson

  auto limited = run("(cn=*smi*)", 4, outsider);
  EXPECT_EQ(limited.end, RunResult::End::more);
  EXPECT_EQ(limited.entries.size(), 4u);
}

TEST_F(LdapRun, Privacy) {
  directory::Viewer outsider{1, false, false};
  directory::Viewer their_admin{2, true, false};
  auto r = run("(sn=smithson)", 10, outsider);
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(to_entry(r.entries[0], kBase).find("mobile"), nullptr);
  auto a = run("(sn=smithson)", 10, their_admin);
  ASSERT_EQ(a.entries.size(), 1u);
  EXPECT_NE(to_entry(a.entries[0], kBase).find("mobile"), nullptr);
  EXPECT_EQ(run("(sn=smithers)", 10, outsider).entries.size(), 0u);
  EXPECT_EQ(run("(sn=smithers)", 10, their_admin).entries.size(), 1u);
}

TEST_F(LdapRun, ExactFilterAfterCandidates) {
  directory::Viewer v{1, false, false};
  // Candidates for "smith" include Smithson (prefix), the filter keeps only exact sn.
  auto r = run("(sn=smith)", 100, v);
  EXPECT_EQ(r.entries.size(), 30u);
  auto both = run("(&(sn=smith)(o=northfield*))", 100, v);
  EXPECT_EQ(both.entries.size(), 30u);
  auto none = run("(&(sn=smith)(o=ashford*))", 100, v);
  EXPECT_EQ(none.entries.size(), 0u);
  auto mail = run("(mail=simon.jones101@ashford.care.example)", 10, v);
  ASSERT_EQ(mail.entries.size(), 1u);
  EXPECT_EQ(mail.ids[0], 101u);
}

TEST_F(LdapRun, NameWordsAreNotOrganisationWords) {
  directory::Viewer v{1, false, false};
  // Everyone here works at Northfield or Ashford; nobody is called either.
  EXPECT_EQ(run("(cn=northfield*)", 100, v).entries.size(), 0u);
  EXPECT_EQ(run("(|(cn=ash*)(mail=ash*)(sn=ash*))", 100, v).entries.size(), 0u);
  EXPECT_EQ(run("(&(cn=sam*)(o=northfield*))", 100, v).entries.size(), 30u);
}

TEST_F(LdapRun, CandidatesThatFailTheSubstringsNeverFillTheWindow) {
  directory::Viewer v{1, false, false};
  // Surname first, as "smith sa" is typed: the words find all 30 Sam Smiths, none of whose
  // cn, mail or sn starts with "smith" and goes on to "sa". The index drops them, so even
  // a window of 10 candidates ends the search cleanly instead of passing the window.
  auto r = run("(|(cn=smith*sa*)(mail=smith*sa*)(sn=smith*sa*))", 100, v, {}, nullptr, 10);
  EXPECT_EQ(r.entries.size(), 0u);
  EXPECT_EQ(r.end, RunResult::End::exhausted);
  // Given name first finds them all.
  auto g = run("(|(cn=sam*smi*)(mail=sam*smi*)(sn=sam*smi*))", 100, v, {}, nullptr, 1000);
  EXPECT_EQ(g.entries.size(), 30u);
}

TEST_F(LdapRun, PagesCoverEverythingOnce) {
  directory::Viewer v{1, false, false};
  std::unordered_set<uint64_t> seen;
  Cursor at;
  std::vector<uint64_t> all;
  for (int page = 0; page < 20; ++page) {
    auto r = run("(|(cn=sam*)(sn=smith*))", 7, v, at, &seen);
    all.insert(all.end(), r.ids.begin(), r.ids.end());
    if (r.end != RunResult::End::more) break;
    at = r.next;
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
  EXPECT_EQ(all.size(), 31u);  // 30 Sam Smiths + Smithson
}

TEST_F(LdapRun, Window) {
  directory::Viewer v{1, false, false};
  // Candidates: every word beginning with "s"; the filter keeps few of them.
  auto r = run("(&(cn=s*)(!(cn=sam*)))", 10, v, {}, nullptr, 10);
  EXPECT_EQ(r.end, RunResult::End::window);
  EXPECT_LT(r.entries.size(), 10u);
}

}  // namespace
}  // namespace caremail::ldap

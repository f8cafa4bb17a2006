// Tables for filters (filter.hpp): RFC 4515 strings both ways, limits, and matching.
#include "ldap/filter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/case_ignore.hpp"
#include "ldap/message.hpp"

namespace caremail::ldap {
namespace {

// ---- RFC 4515 strings ----------------------------------------------------------------------

TEST(LdapFilter, ParseAndRenderRoundTrip) {
  // Each renders back exactly (the canonical form).
  const char* cases[] = {
      "(cn=Babs Jensen)",
      "(!(cn=Tim Howes))",
      "(&(objectClass=Person)(|(sn=Jensen)(cn=Babs J*)))",
      "(o=univ*of*mich*)",
      "(seeAlso=)",
      "(cn:caseExactMatch:=Fred Flintstone)",
      "(cn:=Betty Rubble)",
      "(sn:dn:2.4.6.8.10:=Barney Rubble)",
      "(o:dn:=Ace Industry)",
      "(:1.2.3:=Wilma Flintstone)",
      "(:DN:2.4.6.8.10:=Dino)",
      "(o=Parens R Us \\28for all your parenthetical needs\\29)",
      "(cn=*\\2a*)",
      "(filename=C:\\5cMyFile)",
      "(bin=\\00\\00\\00\\04)",
      "(sn=Lu\\c4\\8di\\c4\\87)",
      "(cn:=)",
      "(cn;lang-en=x)",
      "(2.5.4.3=x)",
      "(age>=21)",
      "(age<=65)",
      "(sn~=smyth)",
      "(mail=*)",
      "(&)",
      "(|)",
      "(cn=a*)",
      "(cn=*a)",
      "(cn=a*b*c*d)",
  };
  for (const char* c : cases) {
    SCOPED_TRACE(c);
    auto f = parse_filter(c);
    ASSERT_TRUE(f.ok()) << f.error().message;
    std::string s = to_string(*f);
    auto again = parse_filter(s);
    ASSERT_TRUE(again.ok()) << s;
    EXPECT_EQ(*again, *f);
    // Through BER in a SearchRequest and back: the same tree.
    Request r;
    r.message_id = 1;
    r.body = SearchRequest{"", Scope::base_object, DerefAliases::never, 0, 0, false, *f, {}};
    DecodeResult back = decode_request(encode_request(r));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(std::get<SearchRequest>(back->body).filter, *f);
  }
}

TEST(LdapFilter, RendersCanonically) {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case cases[] = {
      {"cn=Babs", "(cn=Babs)"},                          // bare item, as ldapsearch takes it
      {"(cn=\\2A)", "(cn=\\2a)"},                        // hex case
      {"(sn=Lu\\c4\\8di\\c4\\87)", "(sn=Lu\xc4\x8di\xc4\x87)"},  // valid UTF-8 shown as is
      {"(sn=\\ff\\fe)", "(sn=\\ff\\fe)"},                // not UTF-8: escaped
      {"(cn=a\\0ab)", "(cn=a\\0ab)"},                    // LF never reaches a log line
      {"(cn:DN:=x)", "(cn:dn:=x)"},
      {"(x=\\28\\29\\5c)", "(x=\\28\\29\\5c)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    auto f = parse_filter(c.in);
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_EQ(to_string(*f), c.out);
  }
}

TEST(LdapFilter, ParsedTrees) {
  auto f = parse_filter("(&(objectClass=person)(|(cn=J*n*s*)(mail=*@nhs.net))(!(title~=locum)))");
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->kind, Filter::Kind::and_);
  ASSERT_EQ(f->children.size(), 3u);
  const Filter& sub = f->children[1].children[0];
  EXPECT_EQ(sub.kind, Filter::Kind::substrings);
  EXPECT_EQ(sub.initial, "J");
  EXPECT_EQ(sub.any, (std::vector<std::string>{"n", "s"}));
  EXPECT_FALSE(sub.final_);
  const Filter& fin = f->children[1].children[1];
  EXPECT_FALSE(fin.initial);
  EXPECT_EQ(fin.final_, "@nhs.net");
  EXPECT_EQ(f->children[2].children[0].kind, Filter::Kind::approx);
  EXPECT_EQ(filter_depth(*f), 3u);
  EXPECT_EQ(filter_nodes(*f), 7u);

  auto x = parse_filter("(cn:dn:caseIgnoreMatch:=\\2a)");
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->kind, Filter::Kind::extensible);
  EXPECT_EQ(x->attribute, "cn");
  EXPECT_TRUE(x->dn_attributes);
  EXPECT_EQ(x->matching_rule, "caseIgnoreMatch");
  EXPECT_EQ(x->value, "*");
}

TEST(LdapFilter, RejectsBadStrings) {
  struct Case {
    std::string in;
    Errc code;
  };
  const Case cases[] = {
      {"", Errc::invalid_argument},
      {"()", Errc::invalid_argument},
      {"(cn=x", Errc::invalid_argument},
      {"cn=x)", Errc::invalid_argument},
      {"(cn=x))", Errc::invalid_argument},
      {"(cn=x)(sn=y)", Errc::invalid_argument},
      {"(&(cn=x)", Errc::invalid_argument},
      {"(!(cn=x)(sn=y))", Errc::invalid_argument},
      {"(!)", Errc::invalid_argument},
      {"(=x)", Errc::invalid_argument},
      {"(c n=x)", Errc::invalid_argument},
      {"(cn;=x)", Errc::invalid_argument},
      {"(1cn=x)", Errc::invalid_argument},
      {"(cn=a**b)", Errc::invalid_argument},
      {"(cn>=a*)", Errc::invalid_argument},
      {"(cn~=*)", Errc::invalid_argument},
      {"(cn=\\2)", Errc::invalid_argument},
      {"(cn=\\zz)", Errc::invalid_argument},
      {"(cn=\\)", Errc::invalid_argument},
      {"(cn=a(b)", Errc::invalid_argument},
      {std::string("(cn=a\0b)", 8), Errc::invalid_argument},
      {"(:=x)", Errc::invalid_argument},
      {"(cn:dn:dn:=x)", Errc::invalid_argument},
      {"(cn:a:b:=x)", Errc::invalid_argument},
      {"(cn:=x", Errc::invalid_argument},
      {"(cn:x=y)", Errc::invalid_argument},
      {"(cn!=x)", Errc::invalid_argument},
      {"cn", Errc::invalid_argument},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    auto f = parse_filter(c.in);
    ASSERT_FALSE(f.ok()) << to_string(*f);
    EXPECT_EQ(f.error().code, c.code) << f.error().message;
  }
}

TEST(LdapFilter, StringLimits) {
  FilterLimits lim;
  std::string deep;
  for (int i = 0; i < 32; ++i) deep += "(!";
  deep += "(cn=x)";
  for (int i = 0; i < 32; ++i) deep += ")";
  // 32 NOTs and the test: 33 levels.
  auto r = parse_filter(deep, lim);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_TRUE(parse_filter(deep.substr(2, deep.size() - 3), lim).ok());  // 32 levels

  std::string wide = "(|";
  for (int i = 0; i < 1000; ++i) wide += "(cn=x)";
  wide += ")";
  r = parse_filter(wide, lim);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);

  std::string bomb = "(cn=";
  for (int i = 0; i < 17; ++i) bomb += "*a";
  bomb += "*)";
  r = parse_filter(bomb, lim);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);
  // The pieces are counted before any is unescaped: a million stars stop early.
  r = parse_filter("(cn=" + std::string(60000, '*') + ")", lim);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);

  r = parse_filter("(cn=" + std::string(4097, 'x') + ")", lim);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);
  r = parse_filter("(" + std::string(257, 'a') + "=x)", lim);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);
  r = parse_filter(std::string(70000, '('), lim);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);  // max_string first
}

TEST(LdapFilter, AttributeDescriptions) {
  for (const char* ok : {"cn", "CN", "telephoneNumber", "x-foo", "cn;lang-en", "cn;lang-en;binary", "2.5.4.3",
                         "2.5.4.3;x", "a1-2"})
    EXPECT_TRUE(valid_attribute_description(ok)) << ok;
  for (const char* bad : {"", "1cn", "-cn", "c n", "cn;", "cn;;x", "2.5.", ".2.5", "2..5", "2", "cn_x", "cn;a_b",
                          "c\xc3\xa9"})
    EXPECT_FALSE(valid_attribute_description(bad)) << bad;
  EXPECT_EQ(canonical_attribute("commonName"), "cn");
  EXPECT_EQ(canonical_attribute("2.5.4.3"), "cn");
  EXPECT_EQ(canonical_attribute("CN;Lang-EN"), "cn;lang-en");
  EXPECT_EQ(canonical_attribute("surname"), "sn");
  EXPECT_EQ(canonical_attribute("rfc822Mailbox"), "mail");
  EXPECT_EQ(canonical_attribute("mobileTelephoneNumber"), "mobile");
  EXPECT_EQ(canonical_attribute("organizationName"), "o");
  EXPECT_EQ(canonical_attribute("displayName"), "displayname");
  EXPECT_EQ(canonical_attribute("x-Unknown"), "x-unknown");
}

// ---- matching --------------------------------------------------------------------------

const Entry kAlice{"cn=Alice Smith,ou=Cardiology,o=St Elsewhere",
                   {{"objectClass", {"top", "person", "inetOrgPerson"}},
                    {"cn", {"Alice  Smith", "Dr Alice Smith"}},
                    {"sn", {"Smith"}},
                    {"givenName", {"Alice"}},
                    {"mail", {"Alice.Smith@nhs.example"}},
                    {"telephoneNumber", {"+44 20 7946-0000"}},
                    {"title", {"Consultant"}},
                    {"ou", {"Cardiology"}},
                    {"displayName", {"Smith, Alice (Dr)"}}}};

Match eval(std::string_view filter, const Entry& entry = kAlice) {
  auto f = parse_filter(filter);
  EXPECT_TRUE(f.ok()) << filter;
  return f.ok() ? evaluate(*f, entry) : Match::undefined;
}

struct Case {
  const char* filter;
  Match want;
};

TEST(LdapFilter, Matching) {
  const Case cases[] = {
      // equality: caseIgnoreMatch with insignificant spaces
      {"(cn=alice smith)", Match::true_},
      {"(CN=  ALICE   SMITH  )", Match::true_},
      {"(commonName=Dr Alice Smith)", Match::true_},
      {"(2.5.4.3=dr alice smith)", Match::true_},
      {"(cn=Alice)", Match::false_},
      {"(mail=alice.smith@NHS.example)", Match::true_},
      {"(sn=)", Match::false_},
      // substrings
      {"(cn=*smith*)", Match::true_},
      {"(cn=ali*)", Match::true_},
      {"(cn=*SMITH)", Match::true_},
      {"(cn=a*c*s*h)", Match::true_},
      {"(cn=a*s*c*h)", Match::false_},   // order matters
      {"(cn=alice s*)", Match::true_},   // the space in an initial counts once
      {"(cn=*ice smi*)", Match::true_},  // runs of spaces in the value count once
      {"(mail=*@nhs.example)", Match::true_},
      {"(sn=smithson*)", Match::false_},
      {"(sn=*th*th*)", Match::false_},   // no overlap reuse
      {"(sn=S*h)", Match::true_},
      {"(sn=Smi*ith)", Match::false_},   // initial and final may not overlap
      // telephoneNumberMatch: spaces and hyphens do not count
      {"(telephoneNumber=+442079460000)", Match::true_},
      {"(telephoneNumber=*7946 0000)", Match::true_},
      {"(telephoneNumber=*79460*)", Match::true_},
      // presence
      {"(mail=*)", Match::true_},
      {"(mobile=*)", Match::false_},
      {"(objectClass=*)", Match::true_},
      {"(objectclass=inetorgperson)", Match::true_},
      // ordering and approx
      {"(sn>=s)", Match::true_},
      {"(sn<=s)", Match::false_},
      {"(sn>=SMITH)", Match::true_},
      {"(sn<=smith)", Match::true_},
      {"(givenName~=a lice)", Match::true_},
      {"(givenName~=alicia)", Match::false_},
      // extensible
      {"(cn:=ALICE SMITH)", Match::true_},
      {"(cn:caseExactMatch:=alice smith)", Match::false_},
      {"(cn:2.5.13.5:=Dr Alice Smith)", Match::true_},
      {"(cn:2.5.13.2:=dr alice smith)", Match::true_},
      {"(cn:1.2.3.4:=x)", Match::undefined},
      {"(:caseIgnoreMatch:=x)", Match::undefined},
      // boolean structure, Thunderbird- and Outlook-style lookups
      {"(|(cn=*smi*)(mail=*smi*)(sn=*smi*)(givenName=*smi*))", Match::true_},
      {"(&(objectClass=person)(|(cn=bob*)(mail=bob*)))", Match::false_},
      {"(&(mail=*)(|(displayName=*alice*)(ou=card*)))", Match::true_},
      {"(!(title=Consultant))", Match::false_},
      {"(!(title=Nurse))", Match::true_},
      {"(&)", Match::true_},
      {"(|)", Match::false_},
      {"(!(&))", Match::false_},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.filter);
    EXPECT_EQ(eval(c.filter), c.want);
  }
}

// A view that knows only some attributes: tests of the others are Undefined.
struct SchemaView : EntryView {
  const Entry& e;
  explicit SchemaView(const Entry& entry) : e(entry) {}
  const std::vector<std::string>* find(std::string_view canonical) const override { return e.find(canonical); }
  bool known_attribute(std::string_view canonical) const override { return canonical != "frobnicate"; }
};

TEST(LdapFilter, ThreeValuedLogic) {
  SchemaView v(kAlice);
  auto m = [&](std::string_view s) { return evaluate(*parse_filter(s), v); };
  EXPECT_EQ(m("(frobnicate=x)"), Match::undefined);
  EXPECT_EQ(m("(!(frobnicate=x))"), Match::undefined);  // and so not selected
  EXPECT_FALSE(matches(*parse_filter("(!(frobnicate=x))"), v));
  EXPECT_EQ(m("(|(frobnicate=x)(sn=smith))"), Match::true_);
  EXPECT_EQ(m("(|(frobnicate=x)(sn=jones))"), Match::undefined);
  EXPECT_EQ(m("(&(frobnicate=x)(sn=jones))"), Match::false_);
  EXPECT_EQ(m("(&(frobnicate=x)(sn=smith))"), Match::undefined);
  EXPECT_EQ(m("(mobile=x)"), Match::false_);  // known, absent
  EXPECT_EQ(m("(!(mobile=x))"), Match::true_);
}

TEST(LdapFilter, NonAsciiFoldsCase) {
  Entry e{"cn=x", {{"cn", {"Zo\xc3\xab \xc3\x89lise"}}}};
  EXPECT_TRUE(matches(*parse_filter("(cn=zo\xc3\xab \xc3\x89lise)"), e));
  EXPECT_TRUE(matches(*parse_filter("(cn=*\\c3\\89li*)"), e));
  EXPECT_TRUE(matches(*parse_filter("(cn=zo\xc3\xab \xc3\xa9lise)"), e));  // É and é
  EXPECT_FALSE(matches(*parse_filter("(cn=zoe elise)"), e));
}

// caseIgnoreMatch folds case beyond ASCII and normalises (RFC 4518 §2.2-2.3), as slapd
// does: an address book typing "ł" finds Łukasz. Accents stay significant.
TEST(LdapFilter, CaseIgnoreBeyondAscii) {
  const Entry lukasz{"cn=Łukasz Wójcik,o=St Elsewhere",
                     {{"objectClass", {"person"}},
                      {"cn", {"Łukasz Wójcik"}},
                      {"sn", {"Wójcik"}},
                      {"givenName", {"Łukasz"}}}};
  const Case cases[] = {
      {"(cn=ł*)", Match::true_},
      {"(cn=ŁUKASZ WÓJCIK)", Match::true_},
      {"(givenName=łukasz)", Match::true_},
      {"(sn=*ÓJC*)", Match::true_},
      {"(sn=Wo\\cc\\81jcik)", Match::true_},  // o + U+0301 COMBINING ACUTE is ó
      {"(sn=wojcik)", Match::false_},          // an accent is not a case
      {"(cn=l*)", Match::false_},
      {"(sn=\\ff\\fe)", Match::false_},        // not UTF-8: compared as bytes, no match
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.filter);
    EXPECT_EQ(eval(c.filter, lukasz), c.want);
  }
  EXPECT_EQ(prepare_case_ignore("  ＡＢＣ  Ｄ ", true), "abc d");  // fullwidth letters: NFKC
  EXPECT_EQ(prepare_case_ignore("STRASSE \xff", false), "strasse \xff");  // not UTF-8: ASCII folded
}

}  // namespace
}  // namespace caremail::ldap

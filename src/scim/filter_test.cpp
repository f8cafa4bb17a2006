#include "scim/filter.hpp"

#include <gtest/gtest.h>

#include <map>

namespace caremail::scim {
namespace {

std::vector<std::string> none(const std::string&) { return {}; }

Attributes of(std::map<std::string, std::vector<std::string>> m) {
  return [m](const std::string& a) {
    auto it = m.find(a);
    return it == m.end() ? std::vector<std::string>{} : it->second;
  };
}

TEST(ScimFilter, WhatProvisioningClientsSend) {
  // Entra ID and Okta look users up by userName or externalId before creating them.
  auto f = parse_filter("userName eq \"Jo.Bloggs@trust.care.example\"");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->attr, "username");
  EXPECT_EQ(f->op, Op::eq);
  EXPECT_EQ(f->value, "Jo.Bloggs@trust.care.example");
  auto jo = of({{"username", {"jo.bloggs@trust.care.example"}}, {"externalid", {"A1"}},
                {"emails.value", {"jo.bloggs@trust.care.example", "jo@trust.care.example"}}, {"active", {"true"}}});
  EXPECT_TRUE(matches(*f, jo));  // case-insensitive
  EXPECT_TRUE(matches(*parse_filter("externalId eq \"a1\""), jo));
  EXPECT_TRUE(matches(*parse_filter("emails.value eq \"jo@trust.care.example\""), jo));
  EXPECT_TRUE(matches(*parse_filter("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"JO.\""), jo));
  EXPECT_TRUE(matches(*parse_filter("active eq true and (userName co \"bloggs\" or displayName pr)"), jo));
  EXPECT_FALSE(matches(*parse_filter("not (active eq true)"), jo));
  EXPECT_TRUE(matches(*parse_filter("displayName ne \"x\""), jo));
  EXPECT_FALSE(matches(*parse_filter("displayName pr"), jo));
  EXPECT_TRUE(matches(*parse_filter("userName ew \"care.example\" AND externalId gt \"a0\""), jo));
  EXPECT_FALSE(matches(*parse_filter("userName eq \"x\""), none));
}

TEST(ScimFilter, PrecedenceAndRoundTrip) {
  auto f = parse_filter("a eq 1 or b eq 2 and c pr");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(to_string(*f), "(a eq 1 or (b eq 2 and c pr))");  // and binds tighter
  auto g = parse_filter(to_string(*f));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(to_string(*g), to_string(*f));
  auto s = parse_filter(R"(title eq "say \"hi\" \u00e9\ud83d\ude00")");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->value, "say \"hi\" \xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(parse_filter(to_string(*s))->value, s->value);
}

TEST(ScimFilter, BadInputIsAClearErrorAndBounded) {
  for (const char* bad : {"", "userName", "userName eq", "userName xx \"a\"", "userName eq unquoted",
                          "userName eq \"open", "(userName eq \"a\"", "userName eq \"a\")", "not userName pr",
                          "emails[type eq \"work\"].value eq \"x\"", "a eq \"\\q\"", "a eq \"\\ud800\"",
                          "and eq", "a eq \"x\" or"}) {
    auto f = parse_filter(bad);
    EXPECT_FALSE(f.ok()) << bad;
    if (!f.ok()) {
      EXPECT_EQ(f.error().code, Errc::invalid_argument);
      EXPECT_EQ(f.error().message.rfind("invalid filter: ", 0), 0u) << f.error().message;
    }
  }
  std::string deep(100, '(');
  deep += "a pr" + std::string(100, ')');
  EXPECT_NE(parse_filter(deep).error().message.find("nested deeper"), std::string::npos);
  std::string wide = "a pr";
  for (int i = 0; i < 100; ++i) wide += " or a pr";
  EXPECT_NE(parse_filter(wide).error().message.find("terms"), std::string::npos);
  EXPECT_NE(parse_filter(std::string(5000, 'a')).error().message.find("longer than"), std::string::npos);
}

}  // namespace
}  // namespace caremail::scim

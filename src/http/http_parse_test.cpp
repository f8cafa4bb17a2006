#include "http/http_parse.hpp"

#include <gtest/gtest.h>

namespace caremail::http {
namespace {

TEST(MediaType, Table) {
  struct Case {
    const char* text;
    bool json;       // is_media_type(application, json)
    bool json_like;  // is_json_media_type
  } cases[] = {
      {"application/json", true, true},
      {"application/json; charset=utf-8", true, true},
      {"Application/JSON;charset=\"UTF-8\"", true, true},
      {"  application/json  ;  charset=utf-8 ; ", true, true},
      {"application/scim+json", false, true},
      {"application/scim+json; charset=utf-8", false, true},
      {"application/jsonx", false, false},
      {"application/json-patch", false, false},
      {"text/plain; a=application/json", false, false},
      {"text/plain; charset=\"application/json\"", false, false},
      {"xapplication/json", false, false},
      {"application/x-www-form-urlencoded; note=json", false, false},
      {"application/json garbage", false, false},
      {"application/json; charset", false, false},
      {"application/json; charset=\"unterminated", false, false},
      {"application/", false, false},
      {"/json", false, false},
      {"", false, false},
      {"json", false, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(is_media_type(c.text, "application", "json"), c.json) << c.text;
    EXPECT_EQ(is_json_media_type(c.text), c.json_like) << c.text;
  }
}

TEST(MediaType, Parameters) {
  auto m = parse_media_type("Multipart/Form-Data; Boundary=\"a\\\"b\"; x=y");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->type, "multipart");
  EXPECT_EQ(m->subtype, "form-data");
  ASSERT_EQ(m->parameters.size(), 2u);
  EXPECT_EQ(m->parameters[0], (std::pair<std::string, std::string>{"boundary", "a\"b"}));
  EXPECT_EQ(m->parameters[1], (std::pair<std::string, std::string>{"x", "y"}));
}

TEST(Cookie, Table) {
  struct Case {
    const char* header;
    const char* name;
    std::optional<std::string> value;
  } cases[] = {
      {"cm_session=abc", "cm_session", "abc"},
      {"a=b; cm_session=abc; c=d", "cm_session", "abc"},
      {"a=b;cm_session=abc", "cm_session", "abc"},
      {"x_cm_session=evil; cm_session=good", "cm_session", "good"},
      {"cm_session_x=evil", "cm_session", std::nullopt},
      {"cm_session=\"quoted\"", "cm_session", "quoted"},
      {"cm_session=first; cm_session=second", "cm_session", "first"},
      {"cm_session=", "cm_session", ""},
      {"", "cm_session", std::nullopt},
      {"cm_session", "cm_session", std::nullopt},
      {" ; ;cm_session = spaced ", "cm_session", "spaced"},
  };
  for (const auto& c : cases) EXPECT_EQ(cookie_value(c.header, c.name), c.value) << c.header;
}

TEST(Target, PathAndQuery) {
  auto t = parse_target("/api/v1/accounts/a%40b.example/password?x=1&y=a+b&y=%2B&flag");
  EXPECT_EQ(t.path, "/api/v1/accounts/a@b.example/password");
  EXPECT_EQ(t.query.size(), 4u);
  EXPECT_EQ(t.query.find("x")->second, "1");
  EXPECT_EQ(t.query.find("flag")->second, "");
  auto ys = t.query.equal_range("y");
  EXPECT_EQ(ys.first->second, "a b");
  EXPECT_EQ(std::next(ys.first)->second, "+");
  // Decoded once: "%252F" is "%2F", never a '/'; '+' in a path stays '+'.
  EXPECT_EQ(parse_target("/a%252Fb+c").path, "/a%2Fb+c");
  EXPECT_EQ(percent_decode("%4"), "%4");
  EXPECT_EQ(percent_decode("%zz%41"), "%zzA");
  EXPECT_EQ(path_segments("//api//v1/x/"), (std::vector<std::string_view>{"api", "v1", "x"}));
  EXPECT_TRUE(path_segments("/").empty());
}

}  // namespace
}  // namespace caremail::http

#include "http/route_pattern.hpp"

#include <gtest/gtest.h>

namespace caremail::http {
namespace {

TEST(PathPattern, Table) {
  struct Case {
    const char* pattern;
    const char* path;
    bool match;
    std::vector<std::pair<std::string, std::string>> params;
  } cases[] = {
      {"/healthz", "/healthz", true, {}},
      {"/healthz", "/healthz/", false, {}},
      {"/healthz", "/healthzx", false, {}},
      {"/healthz", "healthz", false, {}},
      {"/healthz", "", false, {}},
      {"/api/v1/accounts", "/api/v1/accounts", true, {}},
      {"/api/v1/accounts", "/api/v1/Accounts", false, {}},
      {"/api/v1/accounts", "/api/v1//accounts", false, {}},
      {"/api/v1/accounts/{address}", "/api/v1/accounts/a@b.nhs.uk", true, {{"address", "a@b.nhs.uk"}}},
      {"/api/v1/accounts/{address}", "/api/v1/accounts/", false, {}},
      {"/api/v1/accounts/{address}", "/api/v1/accounts", false, {}},
      // A parameter is one segment: it never swallows a suffix.
      {"/api/v1/accounts/{address}", "/api/v1/accounts/a@b/password", false, {}},
      {"/api/v1/accounts/{address}/password", "/api/v1/accounts/a@b/password", true, {{"address", "a@b"}}},
      {"/api/v1/accounts/{address}/password", "/api/v1/accounts//password", false, {}},
      {"/api/v1/accounts/{address}/password", "/api/v1/accounts/a@b/password/", false, {}},
      {"/api/v1/accounts/{address}/mailboxes/{name}/messages/{uid}/raw",
       "/api/v1/accounts/a@b/mailboxes/INBOX/messages/7/raw",
       true,
       {{"address", "a@b"}, {"name", "INBOX"}, {"uid", "7"}}},
      {"/api/v1/accounts/{address}/mailboxes/{name}/messages/{uid}/raw",
       "/api/v1/accounts/a@b/mailboxes/INBOX/messages/7", false, {}},
      {"/api/v1/organisations/{ods}/mfa", "/api/v1/organisations/mfa", false, {}},
  };
  for (const auto& c : cases) {
    PathParams params{{"stale", "x"}};
    const PathPattern pattern(c.pattern);  // the names in `params` point into it
    bool m = pattern.match(c.path, params);
    EXPECT_EQ(m, c.match) << c.pattern << " " << c.path;
    if (!m) {
      EXPECT_EQ(params.size(), 1u) << "left as it was: " << c.path;
      continue;
    }
    ASSERT_EQ(params.size(), c.params.size()) << c.path;
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_EQ(params[i].first, c.params[i].first);
      EXPECT_EQ(params[i].second, c.params[i].second);
    }
  }
}

TEST(PathPattern, KeepsItsText) {
  EXPECT_EQ(PathPattern("/api/v1/me/mfa/totp").text(), "/api/v1/me/mfa/totp");
}

}  // namespace
}  // namespace caremail::http

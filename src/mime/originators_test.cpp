// Table tests for mime::originators (the From check's reading) and originator_domains:
// every way issue 14 found to fool the old check, and the other odd forms a reader might
// see differently (folding, encoded words, comments, quoting, obsolete syntax, case).
#include "mime/originators.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace caremail::mime {
namespace {

struct Case {
  const char* name;
  std::string header;                     // header lines, "\r\n" separated, without the blank line
  std::vector<std::string> want;          // every originator address (from, sender, resent); empty: refused
};

std::string message(const std::string& header) { return header + "\r\n\r\nFrom: body@text.example\r\nhi\r\n"; }

TEST(Originators, Table) {
  const std::vector<Case> cases = {
      // Accepted, with what they resolve to.
      {"plain", "From: me@x.example", {"me@x.example"}},
      {"name and angle", "From: Jo Bloggs <me@x.example>", {"me@x.example"}},
      {"quoted name", "From: \"Bloggs, Jo\" <me@x.example>", {"me@x.example"}},
      {"quoted name with an at", "From: \"ceo@x.example\" <me@x.example>", {"me@x.example"}},
      {"encoded name", "From: =?utf-8?q?J=C3=B6_B?= <me@x.example>", {"me@x.example"}},
      {"encoded name hiding an at", "From: =?utf-8?q?ceo=40x.example?= <me@x.example>", {"me@x.example"}},
      {"folded", "From: Jo Bloggs\r\n <me@x.example>", {"me@x.example"}},
      {"folded with tab", "From:\r\n\tme@x.example", {"me@x.example"}},
      {"lower case name", "from: me@x.example", {"me@x.example"}},
      {"upper case name", "FROM: me@x.example", {"me@x.example"}},
      {"space before colon (obsolete)", "From : me@x.example", {"me@x.example"}},
      {"tab before colon (obsolete)", "From\t: me@x.example", {"me@x.example"}},
      {"domain case", "From: me@X.Example", {"me@x.example"}},
      {"comment after", "From: me@x.example (Jo Bloggs)", {"me@x.example"}},
      {"comment hiding an angle address", "From: ceo@x.example (<me@x.example>)", {"ceo@x.example"}},
      {"quoted local part", "From: \"me\"@x.example", {"me@x.example"}},
      {"quoted local part with space", "From: \"m e\"@x.example", {"m e@x.example"}},
      {"two mailboxes", "From: <ceo@x.example>, <me@x.example>", {"ceo@x.example", "me@x.example"}},
      {"group", "From: team: a@x.example, b@x.example;", {"a@x.example", "b@x.example"}},
      {"with sender", "From: ceo@x.example\r\nSender: me@x.example", {"ceo@x.example", "me@x.example"}},
      {"sender any case", "From: me@x.example\r\nsEnDeR : ceo@x.example", {"me@x.example", "ceo@x.example"}},
      {"resent from", "From: a@y.example\r\nResent-From: me@x.example", {"a@y.example", "me@x.example"}},
      {"other fields around", "Subject: hi\r\nFrom: me@x.example\r\nX-Thing: a@b", {"me@x.example"}},
      {"bare LF lines", "Subject: hi\nFrom: me@x.example", {"me@x.example"}},
      // Malformed, but every address a reader could see is found, so each is checked.
      {"two addresses run together", "From: me@x.example ceo@x.example", {"me@x.example", "ceo@x.example"}},
      {"nested angles", "From: <<ceo@x.example>>", {"ceo@x.example"}},
      // Refused.
      {"no From", "Subject: hi", {}},
      {"two From fields", "From: me@x.example\r\nFrom: ceo@x.example", {}},
      {"two From, second after space", "From: me@x.example\r\nFrom : ceo@x.example", {}},
      {"two From, other case", "From: me@x.example\r\nfrom: ceo@x.example", {}},
      {"empty From", "From: ", {}},
      {"empty From, folded", "From:\r\n ", {}},
      {"empty group only", "From: undisclosed-recipients:;", {}},
      {"no at", "From: ceo", {}},
      {"name without address", "From: Chief Executive", {}},
      {"encoded word only", "From: =?utf-8?q?ceo=40x.example?=", {}},
      {"unquoted at in name", "From: ceo@x.example <me@x.example>", {}},
      {"route", "From: <@relay.example:ceo@x.example>", {}},
      {"two Sender fields", "From: me@x.example\r\nSender: me@x.example\r\nSender: ceo@x.example", {}},
      {"Sender with two", "From: me@x.example\r\nSender: me@x.example, ceo@x.example", {}},
      {"non-field line", "From: me@x.example\r\ngarbage line\r\nFrom: ceo@x.example", {}},
      {"mbox From line", "From me@x.example Sat Nov 21 10:00:00 2026\r\nFrom: me@x.example", {}},
      {"space inside name", "Fr om: ceo@x.example\r\nFrom: me@x.example", {}},
      {"continuation first", " From: ceo@x.example\r\nFrom: me@x.example", {}},
      {"bare CR", "From: me@x.example\rFrom: ceo@x.example", {}},
      {"domain literal", "From: ceo@[192.0.2.1]", {}},
      {"unterminated quote", "From: \"me@x.example", {}},
      {"deep groups", "From: a:b:c:d:e:f:g:h:i:j:k@x.example;;;;;;;;;;", {}},
  };
  for (const auto& c : cases) {
    auto r = originators(message(c.header));
    if (c.want.empty()) {
      EXPECT_FALSE(r.ok()) << c.name << ": accepted " << (r ? r->all().size() : 0) << " addresses";
      if (!r) {
        EXPECT_EQ(r.error().code, Errc::invalid_argument) << c.name;
      }
    } else {
      ASSERT_TRUE(r.ok()) << c.name << ": " << r.error().message;
      EXPECT_EQ(r->all(), c.want) << c.name;
    }
  }
}

TEST(Originators, ErrorsSayWhatIsWrong) {
  EXPECT_EQ(originators(message("Subject: x")).error().message, "the message has no From field");
  EXPECT_EQ(originators(message("From: a@x\r\nFrom: b@x")).error().message,
            "the message has 2 From fields; it must have one");
  EXPECT_NE(originators(message("From: a@x.example <b@x.example>")).error().message.find("cannot be read as addresses"),
            std::string::npos);
}

TEST(Originators, BodyDoesNotCount) {
  // No blank line yet: the header section ends at the input's end.
  auto r = originators("From: me@x.example\r\n\r\nFrom: ceo@x.example\r\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->from, std::vector<std::string>{"me@x.example"});
  EXPECT_TRUE(originators("From: me@x.example").ok());
}

TEST(Originators, Limits) {
  std::string many = "From: ";
  for (int i = 0; i < 101; ++i) many += (i ? ", a" : "a") + std::to_string(i) + "@x.example";
  EXPECT_FALSE(originators(message(many)).ok());
  std::string big = "X-Pad: " + std::string(2u << 20, 'a') + "\r\nFrom: me@x.example";
  EXPECT_FALSE(originators(message(big)).ok());
}

TEST(OriginatorDomains, FindsEveryDomainLeniently) {
  using V = std::vector<std::string>;
  EXPECT_EQ(originator_domains(message("From: me@Outside.example")), V{"outside.example"});
  EXPECT_EQ(originator_domains(message("From: me@a.example\r\ngarbage\r\nfrom : ceo@Hosted.example")),
            (V{"a.example", "hosted.example"}));
  EXPECT_EQ(originator_domains(message("From: \"ceo@hosted.example\" <me@a.example>")),
            (V{"a.example", "hosted.example"}));
  EXPECT_EQ(originator_domains(message("From: =?utf-8?q?ceo=40hosted.example?= <me@a.example>")),
            (V{"a.example", "hosted.example"}));
  EXPECT_EQ(originator_domains(message("Sender: x@s.example\r\nResent-From: y@r.example")),
            (V{"r.example", "s.example"}));
  EXPECT_EQ(originator_domains(message("Subject: a@b.example")), V{});
  EXPECT_EQ(originator_domains("From: a@x.example\r\n\r\nFrom: b@hosted.example\r\n"), V{"x.example"});
}

}  // namespace
}  // namespace caremail::mime

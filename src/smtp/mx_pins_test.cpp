// Tests for the MX pins of require-TLS domains (smtp.require_tls_mx): the host patterns
// (one label for a wildcard, as MTA-STS) and which pin a recipient domain gets.
#include "smtp/mx_pins.hpp"

#include <gtest/gtest.h>

namespace caremail::smtp {
namespace {

TEST(MxPins, HostPatterns) {
  struct Case {
    const char* host;
    const char* pattern;
    bool match;
  } cases[] = {
      {"mx1.partner.example", "mx1.partner.example", true},
      {"MX1.Partner.Example", "mx1.partner.example", true},
      {"mx1.partner.example.", "mx1.partner.example", true},   // DNS's trailing dot
      {"mx2.partner.example", "mx1.partner.example", false},
      {"partner.example", "mx1.partner.example", false},
      {"mx1.partner.example.evil.example", "mx1.partner.example", false},
      {"evilmx1.partner.example", "mx1.partner.example", false},
      {"mail.gsi.gov.uk", "*.gsi.gov.uk", true},
      {"gsi.gov.uk", "*.gsi.gov.uk", false},                   // the wildcard is one label
      {"a.b.gsi.gov.uk", "*.gsi.gov.uk", false},
      {"mailgsi.gov.uk", "*.gsi.gov.uk", false},
      {".gsi.gov.uk", "*.gsi.gov.uk", false},
      {"*.gsi.gov.uk", "*.gsi.gov.uk", false},
      {"gsi.gov.uk.evil.example", "*.gsi.gov.uk", false},
      {"127.0.0.1", "127.0.0.1", true},                         // a relay route's address
      {"127.0.0.2", "127.0.0.1", false},
      {"", "mx1.partner.example", false},
      {"mx1.partner.example", "", false},
  };
  for (const auto& c : cases)
    EXPECT_EQ(mx_host_matches(c.host, c.pattern), c.match) << c.host << " vs " << c.pattern;
}

TEST(MxPins, PinForDomain) {
  std::vector<Config::Smtp::MxPin> pins{
      {"partner.example", {"mx1.partner.example", "mx2.partner.example"}},
      {"*.gsi.gov.uk", {"*.gsi.gov.uk"}},
  };
  ASSERT_NE(mx_pin_for("partner.example", pins), nullptr);
  EXPECT_EQ(mx_pin_for("Partner.Example", pins), &pins[0]);
  EXPECT_EQ(mx_pin_for("sub.partner.example", pins), nullptr);  // exact entries are exact
  EXPECT_EQ(mx_pin_for("gsi.gov.uk", pins), &pins[1]);
  EXPECT_EQ(mx_pin_for("trust.nhs.gsi.gov.uk", pins), &pins[1]);
  EXPECT_EQ(mx_pin_for("gsi.gov.uk.evil.example", pins), nullptr);
  EXPECT_EQ(mx_pin_for("other.example", pins), nullptr);

  EXPECT_TRUE(mx_pinned("mx2.partner.example", pins[0]));
  EXPECT_FALSE(mx_pinned("mx3.partner.example", pins[0]));
  EXPECT_FALSE(mx_pinned("localhost", pins[0]));
  EXPECT_TRUE(mx_pinned("relay.gsi.gov.uk", pins[1]));
}

}  // namespace
}  // namespace caremail::smtp

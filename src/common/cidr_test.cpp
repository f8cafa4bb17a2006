// Table tests for CIDR matching (trusted networks exempt from MFA).
#include "common/cidr.hpp"

#include <gtest/gtest.h>

namespace caremail {
namespace {

TEST(Cidr, TableOfCases) {
  struct Case {
    const char* address;
    const char* net;
    bool in;
  } cases[] = {
      {"10.20.3.4", "10.20.0.0/16", true},   {"10.21.3.4", "10.20.0.0/16", false},
      {"10.20.3.4", "10.20.3.4", true},      {"10.20.3.5", "10.20.3.4", false},
      {"192.168.1.130", "192.168.1.128/25", true}, {"192.168.1.127", "192.168.1.128/25", false},
      {"1.2.3.4", "0.0.0.0/0", true},        {"2001:db8::1", "2001:db8::/32", true},
      {"2001:db9::1", "2001:db8::/32", false}, {"::ffff:10.20.1.1", "10.20.0.0/16", true},
      {"10.20.1.1", "2001:db8::/32", false}, {"not an address", "10.0.0.0/8", false},
      {"10.0.0.1", "10.0.0.0/33", false},    {"10.0.0.1", "10.0.0.0/-1", false},
      {"10.0.0.1", "10.0.0.0/8x", false},    {"", "10.0.0.0/8", false},
  };
  for (const auto& c : cases) EXPECT_EQ(address_in_network(c.address, c.net), c.in) << c.address << " " << c.net;
  EXPECT_TRUE(valid_network("10.0.0.0/8"));
  EXPECT_TRUE(valid_network("2001:db8::/128"));
  EXPECT_FALSE(valid_network("2001:db8::/129"));
  EXPECT_FALSE(valid_network("10.0.0.0/"));
  EXPECT_FALSE(valid_network("example.org/8"));
}

}  // namespace
}  // namespace caremail

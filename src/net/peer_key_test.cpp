#include "net/peer_key.hpp"

#include <gtest/gtest.h>

namespace caremail::net {
namespace {

std::string key(std::string_view a) { return peer_key(a, 32, 64); }

TEST(PeerKey, IPv6SharesItsSlash64) {
  EXPECT_EQ(key("2001:db8::1"), key("2001:db8::2"));
  EXPECT_EQ(key("2001:db8::1"), key("2001:db8:0:0:ffff:ffff:ffff:ffff"));
  EXPECT_EQ(key("2001:db8::1"), "2001:db8::/64");
  EXPECT_NE(key("2001:db8::1"), key("2001:db8:0:1::1"));
}

TEST(PeerKey, IPv4AddressesStandAlone) {
  EXPECT_NE(key("10.0.0.1"), key("10.0.0.2"));
  EXPECT_EQ(key("10.0.0.1"), "10.0.0.1/32");
}

TEST(PeerKey, MappedIPv6IsIPv4) {
  EXPECT_EQ(key("::ffff:10.0.0.1"), key("10.0.0.1"));
  EXPECT_NE(key("::ffff:10.0.0.1"), key("::ffff:10.0.0.2"));
}

TEST(PeerKey, PrefixesAreConfigurable) {
  EXPECT_EQ(peer_key("10.0.0.1", 24, 64), peer_key("10.0.0.200", 24, 64));
  EXPECT_EQ(peer_key("10.0.0.1", 24, 64), "10.0.0.0/24");
  EXPECT_NE(peer_key("10.0.0.1", 24, 64), peer_key("10.0.1.1", 24, 64));
  EXPECT_EQ(peer_key("2001:db8:aaaa::1", 32, 48), peer_key("2001:db8:aaaa:bbbb::1", 32, 48));
  EXPECT_NE(peer_key("2001:db8::1", 32, 128), peer_key("2001:db8::2", 32, 128));
  EXPECT_EQ(peer_key("10.1.2.3", 12, 64), "10.0.0.0/12");  // a prefix inside a byte
  EXPECT_EQ(peer_key("::ffff:10.0.0.9", 24, 128), "10.0.0.0/24");
}

TEST(PeerKey, NotAnAddressIsItself) {
  EXPECT_EQ(key("not an address"), "not an address");
  EXPECT_EQ(key(""), "");
}

}  // namespace
}  // namespace caremail::net

// IP networks in CIDR notation ("10.0.0.0/8", "2001:db8::/32", or a single address), for
// the trusted networks an organisation exempts from MFA. Pure; thread-safe.
#pragma once

#include <string_view>

namespace caremail {

// True when `cidr` is an IPv4 or IPv6 address with an optional /prefix that fits it.
bool valid_network(std::string_view cidr);
// True when `address` (IPv4 or IPv6 text, an IPv4-mapped IPv6 address counting as IPv4)
// lies inside `cidr`. Invalid input of either kind is false.
bool address_in_network(std::string_view address, std::string_view cidr);

}  // namespace caremail

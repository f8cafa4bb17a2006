// What the per-IP connection limit counts by: the peer's network, not its exact address.
// One host on IPv6 usually holds a whole /64 (SLAAC, privacy addresses), so keying on the
// exact address let one client open max_connections_per_ip connections from each of 2^64
// addresses. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace caremail::net {

// The network of `address` ("2001:db8::1" -> "2001:db8::/64", "10.0.0.1" -> "10.0.0.1/32")
// under the given prefix lengths (IPv4 1..32, IPv6 1..128; out-of-range values are
// clamped). An IPv4-mapped IPv6 address ("::ffff:10.0.0.1") counts as the IPv4 address. Text
// that is not an IP address is returned unchanged (it then only shares a key with itself).
std::string peer_key(std::string_view address, int ipv4_prefix, int ipv6_prefix);

}  // namespace caremail::net

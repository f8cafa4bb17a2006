#include "common/cidr.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstring>
#include <optional>
#include <string>

namespace caremail {

namespace {

struct Addr {
  std::array<unsigned char, 16> b{};
  int bits = 0;  // 32 or 128
};

std::optional<Addr> parse_addr(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string s(text);
  Addr a;
  if (inet_pton(AF_INET, s.c_str(), a.b.data()) == 1) {
    a.bits = 32;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.b.data()) == 1) {
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a.b.data(), mapped, 12) == 0) {  // ::ffff:a.b.c.d is IPv4
      std::memmove(a.b.data(), a.b.data() + 12, 4);
      std::memset(a.b.data() + 4, 0, 12);
      a.bits = 32;
      return a;
    }
    a.bits = 128;
    return a;
  }
  return std::nullopt;
}

std::optional<std::pair<Addr, int>> parse_net(std::string_view cidr) {
  auto slash = cidr.find('/');
  auto base = parse_addr(cidr.substr(0, slash));
  if (!base) return std::nullopt;
  int prefix = base->bits;
  if (slash != std::string_view::npos) {
    auto p = cidr.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (ec != std::errc() || end != p.data() + p.size() || prefix < 0 || prefix > base->bits) return std::nullopt;
  }
  return std::make_pair(*base, prefix);
}

}  // namespace

bool valid_network(std::string_view cidr) { return parse_net(cidr).has_value(); }

bool address_in_network(std::string_view address, std::string_view cidr) {
  auto a = parse_addr(address);
  auto n = parse_net(cidr);
  if (!a || !n || a->bits != n->first.bits) return false;
  int prefix = n->second;
  for (int i = 0; i < prefix / 8; ++i)
    if (a->b[i] != n->first.b[i]) return false;
  if (prefix % 8) {
    unsigned char mask = static_cast<unsigned char>(0xff << (8 - prefix % 8));
    if ((a->b[prefix / 8] & mask) != (n->first.b[prefix / 8] & mask)) return false;
  }
  return true;
}

}  // namespace caremail

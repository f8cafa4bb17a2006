#include "net/peer_key.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace caremail::net {

namespace {

// Clears every bit after the first `prefix` of `bytes`.
void mask(unsigned char* bytes, size_t len, int prefix) {
  for (size_t i = 0; i < len; ++i) {
    int keep = std::clamp(prefix - static_cast<int>(i) * 8, 0, 8);
    bytes[i] &= static_cast<unsigned char>(0xff00u >> keep);
  }
}

}  // namespace

std::string peer_key(std::string_view address, int ipv4_prefix, int ipv6_prefix) {
  std::string text(address);
  unsigned char v6[16];
  unsigned char v4[4];
  bool is_v4 = false;
  if (inet_pton(AF_INET, text.c_str(), v4) == 1) {
    is_v4 = true;
  } else if (inet_pton(AF_INET6, text.c_str(), v6) == 1) {
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(v6, kMapped, 12) == 0) {
      std::memcpy(v4, v6 + 12, 4);
      is_v4 = true;
    }
  } else {
    return text;
  }
  char out[INET6_ADDRSTRLEN];
  if (is_v4) {
    int p = std::clamp(ipv4_prefix, 1, 32);
    mask(v4, 4, p);
    inet_ntop(AF_INET, v4, out, sizeof out);
    return std::string(out) + "/" + std::to_string(p);
  }
  int p = std::clamp(ipv6_prefix, 1, 128);
  mask(v6, 16, p);
  inet_ntop(AF_INET6, v6, out, sizeof out);
  return std::string(out) + "/" + std::to_string(p);
}

}  // namespace caremail::net

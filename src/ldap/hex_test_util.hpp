// Hex for the LDAP tests' byte vectors ("30 0c 02 01 01", spaces ignored). Tests only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace caremail::ldap::testing_hex {

inline std::string unhex(std::string_view h) {
  std::string digits, out;
  for (char c : h)
    if (c != ' ') digits.push_back(c);
  auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (size_t i = 0; i + 1 < digits.size(); i += 2)
    out.push_back(static_cast<char>(nib(digits[i]) * 16 + nib(digits[i + 1])));
  return out;
}

inline std::string hex(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    out.push_back(kHex[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kHex[static_cast<uint8_t>(c) & 15]);
  }
  return out;
}

}  // namespace caremail::ldap::testing_hex

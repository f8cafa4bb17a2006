// Appends `s` as a JSON string literal (quotes included). Control characters and DEL are
// escaped, so the result is always one line. REQUIRES: `s` is UTF-8 (bytes >= 0x80 are
// copied as they are). For the few places that write JSON by hand to stay light; anything
// that also parses JSON uses Boost.JSON.
#pragma once

#include <string>
#include <string_view>

namespace caremail {

inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20 || u == 0x7f) {
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

inline std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

}  // namespace caremail

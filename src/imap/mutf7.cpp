// Modified UTF-7; the rules are in mutf7.hpp.
#include "imap/mutf7.hpp"

#include <cstdint>

namespace caremail::imap {

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == ',') return 63;
  return -1;
}

void put_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes one code point at `i`; returns false on invalid UTF-8.
bool next_utf8(std::string_view s, size_t& i, uint32_t& cp) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t min;
  if (c < 0x80) { cp = c; ++i; return true; }
  if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; min = 0x80; }
  else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; min = 0x800; }
  else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; min = 0x10000; }
  else return false;
  if (s.size() - i - 1 < n) return false;
  for (size_t k = 1; k <= n; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  i += n + 1;
  return true;
}

// Appends the modified base64 of UTF-16BE `units` between '&' and '-'.
void put_shift(std::string& out, const std::u16string& units) {
  out += '&';
  uint32_t bits = 0;
  int nbits = 0;
  for (char16_t u : units) {
    bits = (bits << 16) | u;
    nbits += 16;
    while (nbits >= 6) {
      nbits -= 6;
      out += kB64[(bits >> nbits) & 0x3F];
    }
    bits &= (1u << nbits) - 1;
  }
  if (nbits > 0) out += kB64[(bits << (6 - nbits)) & 0x3F];
  out += '-';
}

}  // namespace

bool utf8_valid(std::string_view in) {
  uint32_t cp;
  for (size_t i = 0; i < in.size();)
    if (!next_utf8(in, i, cp)) return false;
  return true;
}

std::optional<std::string> mutf7_encode(std::string_view in) {
  std::string out;
  std::u16string run;  // pending non-printable code points as UTF-16
  for (size_t i = 0; i < in.size();) {
    uint32_t cp;
    if (!next_utf8(in, i, cp) || cp == 0) return std::nullopt;
    if (cp >= 0x20 && cp <= 0x7E) {
      if (!run.empty()) {
        put_shift(out, run);
        run.clear();
      }
      if (cp == '&') out += "&-";
      else out += static_cast<char>(cp);
    } else if (cp >= 0x10000) {
      cp -= 0x10000;
      run += static_cast<char16_t>(0xD800 + (cp >> 10));
      run += static_cast<char16_t>(0xDC00 + (cp & 0x3FF));
    } else {
      run += static_cast<char16_t>(cp);
    }
  }
  if (!run.empty()) put_shift(out, run);
  return out;
}

std::optional<std::string> mutf7_decode(std::string_view in) {
  std::string out;
  bool after_shift = false;  // the previous thing was a base64 run: another may not follow
  for (size_t i = 0; i < in.size();) {
    auto c = static_cast<unsigned char>(in[i]);
    if (c < 0x20 || c > 0x7E) return std::nullopt;
    if (c != '&') {
      out += static_cast<char>(c);
      ++i;
      after_shift = false;
      continue;
    }
    size_t end = in.find('-', i + 1);
    if (end == std::string_view::npos) return std::nullopt;  // unterminated
    if (end == i + 1) {  // "&-"
      out += '&';
      i = end + 1;
      after_shift = false;
      continue;
    }
    if (after_shift) return std::nullopt;  // "&...-&...-": not canonical
    uint32_t bits = 0;
    int nbits = 0;
    uint32_t high = 0;  // pending high surrogate
    for (size_t k = i + 1; k < end; ++k) {
      int v = b64_value(static_cast<unsigned char>(in[k]));
      if (v < 0) return std::nullopt;
      bits = (bits << 6) | static_cast<uint32_t>(v);
      nbits += 6;
      if (nbits >= 16) {
        nbits -= 16;
        uint32_t u = (bits >> nbits) & 0xFFFF;
        bits &= (1u << nbits) - 1;
        if (high != 0) {
          if (u < 0xDC00 || u > 0xDFFF) return std::nullopt;
          put_utf8(out, 0x10000 + ((high - 0xD800) << 10) + (u - 0xDC00));
          high = 0;
        } else if (u >= 0xD800 && u <= 0xDBFF) {
          high = u;
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
          return std::nullopt;
        } else if ((u >= 0x20 && u <= 0x7E) || u == 0) {
          return std::nullopt;  // printable ASCII must represent itself; NUL never allowed
        } else {
          put_utf8(out, u);
        }
      }
    }
    // Leftover bits: fewer than 6 and all zero (RFC 2152 padding), else a partial unit.
    if (high != 0 || nbits >= 6 || bits != 0) return std::nullopt;
    i = end + 1;
    after_shift = true;
  }
  return out;
}

bool mutf7_valid(std::string_view in) { return mutf7_decode(in).has_value(); }

}  // namespace caremail::imap

#include "smtp/reply.hpp"

#include <cassert>

namespace caremail::smtp {

size_t utf8_char_length(std::string_view s, size_t pos) noexcept {
  assert(pos < s.size());
  auto b = static_cast<unsigned char>(s[pos]);
  if (b < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
    cp = b & 0x1Fu;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    cp = b & 0x0Fu;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    cp = b & 0x07u;
  } else {
    return 0;  // continuation byte, C0/C1 overlong lead, or F5..FF
  }
  if (s.size() - pos < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    auto c = static_cast<unsigned char>(s[pos + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3Fu);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool is_utf8(std::string_view s) noexcept {
  size_t i = 0;
  while (i < s.size()) {
    // ASCII runs are the common case.
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = utf8_char_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

namespace {

// Appends one reply line, sanitised and cut to kMaxReplyLine.
void append_line(std::string& out, int code, char sep, std::string_view enhanced,
                 std::string_view text, bool utf8) {
  size_t start = out.size();
  out += static_cast<char>('0' + code / 100);
  out += static_cast<char>('0' + code / 10 % 10);
  out += static_cast<char>('0' + code % 10);
  out += sep;
  if (!enhanced.empty()) {
    for (char c : enhanced) out += (c >= '0' && c <= '9') || c == '.' ? c : '?';
    if (!text.empty()) out += ' ';
  }
  size_t budget = kMaxReplyLine - 2;  // CRLF
  size_t i = 0;
  while (i < text.size() && out.size() - start < budget) {
    auto b = static_cast<unsigned char>(text[i]);
    if (b == '\t') {
      out += ' ';
      ++i;
    } else if (b < 0x20 || b == 0x7F) {
      out += '?';
      ++i;
    } else if (b < 0x80) {
      out += static_cast<char>(b);
      ++i;
    } else {
      size_t n = utf8 ? utf8_char_length(text, i) : 0;
      if (n == 0) {
        out += '?';
        ++i;
      } else {
        if (out.size() - start + n > budget) break;  // never cut a character in two
        out.append(text.substr(i, n));
        i += n;
      }
    }
  }
  if (out.size() - start == 4 && sep == ' ') out.pop_back();  // "250" rather than "250 "
  out += "\r\n";
}

}  // namespace

std::string format_reply(int code, std::string_view enhanced, std::string_view text, bool utf8) {
  assert(code >= 200 && code <= 599);
  std::string out;
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  for (;;) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      append_line(out, code, ' ', enhanced, text, utf8);
      return out;
    }
    append_line(out, code, '-', enhanced, text.substr(0, nl), utf8);
    text.remove_prefix(nl + 1);
  }
}

std::string format_reply(const Reply& r, bool utf8) {
  return format_reply(r.code, r.enhanced, r.text, utf8);
}

std::vector<std::string> ehlo_keywords(const EhloCapabilities& caps) {
  std::vector<std::string> k;
  if (caps.pipelining) k.emplace_back("PIPELINING");
  if (caps.size) k.push_back("SIZE " + std::to_string(*caps.size));
  if (caps.starttls) k.emplace_back("STARTTLS");
  if (!caps.auth.empty()) {
    std::string a = "AUTH";
    for (const std::string& m : caps.auth) a += ' ' + m;
    k.push_back(std::move(a));
  }
  if (caps.enhancedstatuscodes) k.emplace_back("ENHANCEDSTATUSCODES");
  if (caps.eightbitmime) k.emplace_back("8BITMIME");
  if (caps.binarymime) k.emplace_back("BINARYMIME");
  if (caps.chunking) k.emplace_back("CHUNKING");
  if (caps.dsn) k.emplace_back("DSN");
  if (caps.smtputf8) k.emplace_back("SMTPUTF8");
  return k;
}

std::string format_ehlo(std::string_view server_name, std::string_view greeting,
                        const EhloCapabilities& caps) {
  std::string text(server_name);
  if (!greeting.empty()) {
    text += ' ';
    text += greeting;
  }
  for (const std::string& k : ehlo_keywords(caps)) {
    text += '\n';
    text += k;
  }
  return format_reply(250, {}, text);
}

}  // namespace caremail::smtp

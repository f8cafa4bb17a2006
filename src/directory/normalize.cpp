#include "directory/normalize.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <cstdint>

namespace caremail::directory {
namespace {

constexpr bool is_ascii_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

constexpr char ascii_lower(unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c); }

bool is_apostrophe(int32_t cp) { return cp == '\'' || cp == 0x2019 || cp == 0x2018 || cp == 0x02BC; }

// Latin letters that Unicode does not decompose, so STRIPMARK leaves them as they are;
// people type them without the stroke. Input is already case folded (lower case).
std::string_view latin_without_decomposition(int32_t cp) {
  switch (cp) {
    case 0x00F8:
      return "o";  // ø
    case 0x00E6:
      return "ae";  // æ
    case 0x0153:
      return "oe";  // œ
    case 0x0142:
      return "l";  // ł
    case 0x0111:
      return "d";  // đ
    case 0x00F0:
      return "d";  // ð
    case 0x00FE:
      return "th";  // þ
    case 0x0131:
      return "i";  // ı (dotless i)
    case 0x0127:
      return "h";  // ħ
    case 0x0180:
      return "b";  // ƀ
    default:
      return {};
  }
}

// What one code point becomes: appended to `word` when it is part of a word (letters,
// digits, after folding), or false when it separates words.
bool fold_code_point(int32_t cp, std::string& word) {
  constexpr auto kOptions = static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD |
                                                           UTF8PROC_STRIPMARK | UTF8PROC_IGNORE);
  utf8proc_int32_t buf[18];
  int boundclass = 0;
  utf8proc_ssize_t n = utf8proc_decompose_char(cp, buf, 18, kOptions, &boundclass);
  if (n < 0 || n > 18) return false;
  if (n == 0) return true;  // default-ignorable (soft hyphen, zero-width joiner): part of the word
  bool any = false;
  for (utf8proc_ssize_t i = 0; i < n; ++i) {
    int32_t c = buf[i];
    if (is_apostrophe(c)) continue;  // "ŉ" is ʼ + n: joins, as a typed apostrophe does
    if (c < 0x80) {
      if (is_ascii_alnum(static_cast<unsigned char>(c))) {
        word.push_back(ascii_lower(static_cast<unsigned char>(c)));
        any = true;
      }
      continue;
    }
    if (std::string_view f = latin_without_decomposition(c); !f.empty()) {
      word += f;
      any = true;
      continue;
    }
    utf8proc_category_t cat = utf8proc_category(c);
    bool letter_or_digit = (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
                           (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
    if (!letter_or_digit) continue;
    utf8proc_uint8_t enc[4];
    utf8proc_ssize_t len = utf8proc_encode_char(c, enc);
    word.append(reinterpret_cast<const char*>(enc), static_cast<size_t>(len));
    any = true;
  }
  return any;
}

// Walks `text` word by word; calls emit(word, tail) at the end of each word, where tail is
// the part after the last inner apostrophe (empty when none).
template <class Emit>
void scan_words(std::string_view text, Emit&& emit) {
  std::string word;
  size_t tail_start = std::string::npos;  // offset in `word` after an apostrophe
  auto finish = [&] {
    if (!word.empty()) {
      if (word.size() > kMaxWordBytes) {
        // Cut at a character boundary: a word stays valid UTF-8.
        size_t cut = kMaxWordBytes;
        while (cut > 0 && (static_cast<unsigned char>(word[cut]) & 0xC0) == 0x80) --cut;
        word.resize(cut);
      }
      std::string_view tail;
      if (tail_start != std::string::npos && tail_start < word.size()) {
        tail = std::string_view(word).substr(tail_start);
      }
      emit(std::string_view(word), tail);
    }
    word.clear();
    tail_start = std::string::npos;
  };
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      if (is_ascii_alnum(c)) {
        word.push_back(ascii_lower(c));
      } else if (c == '\'' && !word.empty()) {
        tail_start = word.size();
      } else {
        finish();
      }
      continue;
    }
    utf8proc_int32_t cp = -1;
    utf8proc_ssize_t len = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(n - i), &cp);
    if (len <= 0 || cp < 0) {  // not UTF-8: a separator, one byte at a time
      ++i;
      finish();
      continue;
    }
    i += static_cast<size_t>(len);
    if (is_apostrophe(cp)) {
      if (!word.empty()) tail_start = word.size();
      continue;
    }
    if (!fold_code_point(cp, word)) finish();
  }
  finish();
}

}  // namespace

void fold_words(std::string_view text, WordMode mode, std::vector<std::string>& out) {
  scan_words(text, [&](std::string_view word, std::string_view tail) {
    out.emplace_back(word);
    if (mode == WordMode::index && tail.size() >= 3) out.emplace_back(tail);
  });
}

std::vector<std::string> fold_words(std::string_view text, WordMode mode) {
  std::vector<std::string> out;
  fold_words(text, mode, out);
  return out;
}

std::string fold_text(std::string_view text) {
  std::string out;
  scan_words(text, [&](std::string_view word, std::string_view) {
    if (!out.empty()) out.push_back(' ');
    out += word;
  });
  return out;
}

std::string fold_address(std::string_view address) {
  std::string out;
  out.reserve(address.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(address.data());
  size_t i = 0;
  const size_t n = address.size();
  std::string piece;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      if (c > 0x20 && c < 0x7f) out.push_back(ascii_lower(c));
      continue;
    }
    utf8proc_int32_t cp = -1;
    utf8proc_ssize_t len = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(n - i), &cp);
    if (len <= 0 || cp < 0) {
      ++i;
      continue;
    }
    i += static_cast<size_t>(len);
    piece.clear();
    if (fold_code_point(cp, piece)) out += piece;
  }
  if (out.size() > 320) {  // RFC 5321 paths are at most 256 octets; more is noise
    size_t cut = 320;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  return out;
}

bool within_one_edit(std::string_view a, std::string_view b) noexcept {
  if (a.size() > b.size()) std::swap(a, b);
  const size_t la = a.size();
  const size_t lb = b.size();
  if (lb - la > 1) return false;
  size_t i = 0;
  while (i < la && a[i] == b[i]) ++i;
  if (i == la) return true;  // equal, or b is a plus one byte at the end
  if (la == lb) {
    if (a.substr(i + 1) == b.substr(i + 1)) return true;                                              // substitution
    return i + 1 < la && a[i] == b[i + 1] && a[i + 1] == b[i] && a.substr(i + 2) == b.substr(i + 2);  // swap
  }
  return a.substr(i) == b.substr(i + 1);  // insertion into a
}

}  // namespace caremail::directory

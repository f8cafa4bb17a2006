// Small helpers the GMime-based files of src/mime share (private to src/mime): owners for
// GLib objects and strings, and ASCII case for header field names, which RFC 5322 compares
// without regard to case (never Unicode case: field names are ASCII).
#pragma once

#include <gmime/gmime.h>

#include <memory>
#include <string_view>

namespace caremail::mime::detail {

struct GFree {
  void operator()(void* p) const noexcept { g_free(p); }
};
using GCharPtr = std::unique_ptr<char, GFree>;

struct GUnref {
  void operator()(void* p) const noexcept {
    if (p != nullptr) g_object_unref(p);
  }
};
template <class T>
using GRef = std::unique_ptr<T, GUnref>;

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// Could GMime's address parser recurse deeper than `max_depth` group levels on `v`? Every
// ':' counts as an opening and every ';' as a closing, except inside a *terminated* quoted
// string ("Re: x" display names); an unterminated quote is not skipped, because GMime then
// parses what follows it as addresses (a stack overflow was seen with '"' followed by
// "g:g:g:..."). Comments are not skipped either: this over-estimates, which only refuses odd
// mail.
inline bool address_nesting_is_safe(std::string_view v, int max_depth) {
  int depth = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '"') {
      size_t j = i + 1;
      while (j < v.size() && v[j] != '"') j += (v[j] == '\\') ? 2 : 1;
      if (j < v.size()) i = j;  // terminated: skip it whole
    } else if (c == ':') {
      if (++depth > max_depth) return false;
    } else if (c == ';') {
      if (depth > 0) --depth;
    }
  }
  return true;
}

}  // namespace caremail::mime::detail

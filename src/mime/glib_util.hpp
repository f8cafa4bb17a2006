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

}  // namespace caremail::mime::detail

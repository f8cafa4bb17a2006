#include "common/case_ignore.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace caremail {

namespace {

// Case folding and NFKC (RFC 4518 §2.2-2.3) of a value that is not all ASCII; false when
// it is not UTF-8 (then it is compared byte for byte, ASCII letters folded).
bool fold_unicode(std::string_view v, std::string& out) {
  utf8proc_uint8_t* mapped = nullptr;
  auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(v.data()), static_cast<utf8proc_ssize_t>(v.size()),
                        &mapped, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE |
                                                                UTF8PROC_CASEFOLD));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(mapped, &std::free);
  if (n < 0) return false;
  out.assign(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
  return true;
}

}  // namespace

void prepare_case_ignore(std::string_view v, bool trim, std::string& out) {
  // Most values are ASCII: folded here without a copy. Others are case-folded and
  // normalised first (Ł and ł, "ﬁ" and "fi", a precomposed é and e + U+0301 are equal).
  thread_local std::string folded;
  const bool ascii = std::all_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (!ascii && fold_unicode(v, folded)) v = folded;
  out.clear();
  out.reserve(v.size());
  bool pending_space = false;
  for (char c : v) {
    if (c == ' ') {
      pending_space = true;
      continue;
    }
    if (pending_space && (!out.empty() || !trim)) out.push_back(' ');
    pending_space = false;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
  }
  if (pending_space && !trim) out.push_back(' ');
}

std::string prepare_case_ignore(std::string_view v, bool trim) {
  std::string out;
  prepare_case_ignore(v, trim, out);
  return out;
}

bool substrings_match(std::string_view value, const std::string* initial, std::span<const std::string> any,
                      const std::string* final_) {
  size_t pos = 0;
  if (initial) {
    if (value.substr(0, initial->size()) != *initial) return false;
    pos = initial->size();
  }
  for (const std::string& a : any) {
    if (a.empty()) continue;
    size_t at = value.find(a, pos);
    if (at == std::string_view::npos) return false;
    pos = at + a.size();
  }
  if (final_) {
    if (value.size() < pos + final_->size()) return false;
    if (value.substr(value.size() - final_->size()) != *final_) return false;
  }
  return true;
}

}  // namespace caremail

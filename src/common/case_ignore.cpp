#include "common/case_ignore.hpp"

namespace caremail {

void prepare_case_ignore(std::string_view v, bool trim, std::string& out) {
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

#include "smtp/mx_pins.hpp"

namespace caremail::smtp {

namespace {

std::string lower_name(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);  // "mx.example.org." is the same name
  std::string out(s);
  for (char& ch : out)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return out;
}

bool ends_with_label(const std::string& name, const std::string& base) {
  return name.size() > base.size() + 1 && name.compare(name.size() - base.size(), base.size(), base) == 0 &&
         name[name.size() - base.size() - 1] == '.';
}

}  // namespace

bool mx_host_matches(std::string_view host, std::string_view pattern) {
  std::string h = lower_name(host);
  std::string p = lower_name(pattern);
  if (h.empty() || p.empty()) return false;
  if (p.rfind("*.", 0) != 0) return h == p;
  std::string base = p.substr(2);
  if (!ends_with_label(h, base)) return false;
  std::string_view first(h.data(), h.size() - base.size() - 1);
  // One label: no dot in what the '*' stands for (and not empty, checked above).
  return first.find('.') == std::string_view::npos && first != "*";
}

const Config::Smtp::MxPin* mx_pin_for(std::string_view domain, const std::vector<Config::Smtp::MxPin>& pins) {
  std::string d = lower_name(domain);
  for (const auto& pin : pins) {
    const std::string& p = pin.domain;
    if (p.rfind("*.", 0) == 0) {
      std::string base = p.substr(2);
      if (d == base || ends_with_label(d, base)) return &pin;
    } else if (d == p) {
      return &pin;
    }
  }
  return nullptr;
}

bool mx_pinned(std::string_view host, const Config::Smtp::MxPin& pin) {
  for (const auto& p : pin.hosts)
    if (mx_host_matches(host, p)) return true;
  return false;
}

}  // namespace caremail::smtp

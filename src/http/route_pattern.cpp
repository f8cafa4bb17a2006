#include "http/route_pattern.hpp"

#include <cassert>

namespace caremail::http {

PathPattern::PathPattern(std::string_view pattern) : text_(pattern) {
  assert(!pattern.empty() && pattern.front() == '/');
  std::string_view rest = pattern.substr(1);
  while (true) {
    auto slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    Segment s;
    if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
      s.text = std::string(seg.substr(1, seg.size() - 2));
      s.parameter = true;
    } else {
      assert(seg.find_first_of("{}") == std::string_view::npos);
      s.text = std::string(seg);
    }
    segments_.push_back(std::move(s));
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
}

bool PathPattern::match(std::string_view path, PathParams& params) const {
  if (path.empty() || path.front() != '/') return false;
  std::string_view rest = path.substr(1);
  PathParams found;
  for (size_t i = 0; i < segments_.size(); ++i) {
    auto slash = rest.find('/');
    bool last = i + 1 == segments_.size();
    // The last segment must take the rest of the path; the others must end at a '/'.
    if (last != (slash == std::string_view::npos)) return false;
    std::string_view seg = rest.substr(0, slash);
    const Segment& s = segments_[i];
    if (s.parameter) {
      if (seg.empty()) return false;
      found.emplace_back(s.text, seg);
    } else if (seg != s.text) {
      return false;
    }
    if (!last) rest = rest.substr(slash + 1);
  }
  params = std::move(found);
  return true;
}

}  // namespace caremail::http

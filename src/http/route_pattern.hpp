// Path patterns for route tables: "/api/v1/accounts/{address}/password". Pure (no Boost, no
// I/O): table-tested in route_pattern_test.cpp and run on every request's decoded path.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace caremail::http {

// (name, value) of each {parameter} a path matched, in the pattern's order. The values view
// the matched path: they live as long as it does.
using PathParams = std::vector<std::pair<std::string_view, std::string_view>>;

class PathPattern {
 public:
  // REQUIRES: `pattern` starts with '/'; a segment is either literal text or a whole
  // "{name}" (our own constants, checked by assert).
  explicit PathPattern(std::string_view pattern);

  // True when `path` (decoded, no query) has exactly the pattern's segments: a literal
  // segment matches itself (case-sensitive), a {name} segment any non-empty segment (never a
  // '/', so "{address}" cannot swallow ".../password"). On a match, `params` is replaced by
  // the captured values; otherwise left as it was.
  bool match(std::string_view path, PathParams& params) const;

  const std::string& text() const { return text_; }

 private:
  struct Segment {
    std::string text;  // the literal, or the parameter's name
    bool parameter = false;
  };
  std::string text_;
  std::vector<Segment> segments_;
};

}  // namespace caremail::http

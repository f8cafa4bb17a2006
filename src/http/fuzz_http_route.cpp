// libFuzzer target for what the HTTP front-end does with a request target before routing
// (http/http_parse.hpp: parse_target, path_segments; Api::route then compares the decoded
// path with fixed prefixes and splits it at '/'). Checks, besides "no crash, no leak, no
// UB": the path is decoded once (never longer than its text; a second decode of "%252F"
// is not applied); segments are non-empty, hold no '/', and joined with '/' give the path
// without its repeated slashes; the query has at most one pair per '&'-separated piece.
//
//   build-fuzz/src/fuzz_http_route -max_total_time=600 $(mktemp -d) tests/fuzz/corpus/http_route
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/http_parse.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view target(reinterpret_cast<const char*>(data), size);
  auto t = caremail::http::parse_target(target);
  auto q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  check(t.path.size() <= raw_path.size());
  check(t.path == caremail::http::percent_decode(raw_path));
  if (q == std::string_view::npos) {
    check(t.query.empty());
  } else {
    size_t pieces = 1;
    for (char c : target.substr(q + 1)) pieces += c == '&';
    check(t.query.size() <= pieces);
  }
  auto segs = caremail::http::path_segments(t.path);
  std::string joined;
  for (auto s : segs) {
    check(!s.empty());
    check(s.find('/') == std::string_view::npos);
    joined += '/';
    joined += s;
  }
  std::string squeezed;
  for (char c : t.path)
    if (c != '/' || squeezed.empty() || squeezed.back() != '/') squeezed += c;
  if (!squeezed.empty() && squeezed.front() != '/') squeezed.insert(squeezed.begin(), '/');
  if (squeezed.size() > 1 && squeezed.back() == '/') squeezed.pop_back();
  if (squeezed == "/") squeezed.clear();
  check(joined == squeezed);
  return 0;
}

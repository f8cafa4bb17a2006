// libFuzzer target for query strings and percent-decoding (http/http_parse.hpp). Checks,
// besides "no crash, no leak, no UB": decoding never lengthens; every byte string survives
// percent-encoding then decoding (with and without form decoding); parse_query of a query
// built from the decoded pairs (each part percent-encoded) gives the same pairs back.
//
//   build-fuzz/src/fuzz_http_query -max_total_time=600 $(mktemp -d) tests/fuzz/corpus/http_query
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

std::string encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    out += '%';
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace caremail::http;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check(percent_decode(in).size() <= in.size());
  check(percent_decode(in, true).size() <= in.size());
  check(percent_decode(encode(in)) == in);
  check(percent_decode(encode(in), true) == in);

  auto pairs = parse_query(in);
  std::string rebuilt;
  for (const auto& [k, v] : pairs) {
    if (!rebuilt.empty()) rebuilt += '&';
    rebuilt += encode(k) + "=" + encode(v);
  }
  auto again = parse_query(rebuilt);
  // Pairs with an empty key and value encode to "=", which parse_query keeps: same pairs.
  check(again == pairs);
  return 0;
}

// libFuzzer target for the SCIM filter parser: never crashes, stays within its limits, and
// what it renders parses back to the same tree.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "scim/filter.hpp"

namespace {
size_t depth(const caremail::scim::Filter& f) {
  size_t d = 0;
  for (const auto& c : f.children) d = std::max(d, depth(c));
  return d + 1;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto f = caremail::scim::parse_filter(text);
  if (!f) return 0;
  if (depth(*f) > 64) std::abort();
  std::string again = caremail::scim::to_string(*f);
  caremail::scim::FilterLimits roomy;
  roomy.max_length = 1 << 20;
  roomy.max_depth = 1000;  // the rendering adds parentheses
  roomy.max_nodes = 1000;
  auto g = caremail::scim::parse_filter(again, roomy);
  if (!g || caremail::scim::to_string(*g) != again) std::abort();
  (void)caremail::scim::matches(*f, [](const std::string&) { return std::vector<std::string>{"x", "True"}; });
  return 0;
}

// libFuzzer target for the From check's reading (mime/originators.hpp). Beyond "no crash,
// no leak, no UB" it checks the promises the header makes: on success at least one From
// address, at most one Sender, every address local@domain with a lower-case domain and no
// control characters; the lenient reading never fails and gives sorted, unique, lower-case
// domains, and includes the domain of every address the strict reading found.
//
//   make fuzz && build-fuzz/src/fuzz_from_check -max_len=4096 $(mktemp -d) tests/fuzz/corpus/from_check
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mime/originators.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view msg(reinterpret_cast<const char*>(data), size);
  caremail::mime::OriginatorLimits limits;
  limits.max_header_bytes = 64 * 1024;
  auto r = caremail::mime::originators(msg, limits);
  auto domains = caremail::mime::originator_domains(msg, limits);
  if (!std::is_sorted(domains.begin(), domains.end())) std::abort();
  if (std::adjacent_find(domains.begin(), domains.end()) != domains.end()) std::abort();
  for (const auto& d : domains)
    if (d.empty() || std::any_of(d.begin(), d.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) std::abort();
  if (!r) {
    if (r.error().message.empty()) std::abort();
    return 0;
  }
  if (r->from.empty() || r->sender.size() > 1) std::abort();
  for (const auto& a : r->all()) {
    size_t at = a.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 == a.size()) std::abort();
    for (char c : a) {
      auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) std::abort();
    }
    std::string_view domain = std::string_view(a).substr(at + 1);
    if (std::any_of(domain.begin(), domain.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) std::abort();
    std::string d(domain);
    while (!d.empty() && d.back() == '.') d.pop_back();
    while (!d.empty() && d.front() == '.') d.erase(0, 1);
    if (!d.empty() && !std::binary_search(domains.begin(), domains.end(), d)) std::abort();
  }
  return 0;
}

// libFuzzer target for mime::summarize. Beyond "no crash, no leak, no UB" it checks the
// promises mime.hpp makes about the output, so a wrong offset or bad UTF-8 is a finding too.
//
//   make fuzz   # builds build-fuzz/src/fuzz_mime
//   build-fuzz/src/fuzz_mime -max_len=65536 $(mktemp -d) tests/fuzz/corpus/mime
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mime/mime.hpp"

namespace {

// Strict UTF-8 check (no overlongs, surrogates or code points past U+10FFFF).
bool is_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    size_t len = b < 0x80 ? 1 : (b >= 0xC2 && b <= 0xDF) ? 2 : (b >= 0xE0 && b <= 0xEF) ? 3
                 : (b >= 0xF0 && b <= 0xF4) ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1Fu) : len == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (size_t k = 1; k < len; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool initialised = [] {
    caremail::mime::init();
    return true;
  }();
  (void)initialised;

  std::string_view raw(reinterpret_cast<const char*>(data), size);
  // Small limits so the fuzzer reaches the limit paths with small inputs too.
  caremail::mime::Limits limits;
  limits.max_depth = 8;
  limits.max_parts = 64;
  limits.max_headers = 64;
  limits.max_header_bytes = 16384;
  for (const caremail::mime::Limits& l : {caremail::mime::Limits{}, limits}) {
    auto r = caremail::mime::summarize(raw, l);
    if (!r.ok()) {
      if (r.error().code != caremail::Errc::too_large) std::abort();
      continue;
    }
    const caremail::MessageSummary& s = *r;
    for (std::string_view f : {std::string_view(s.subject), std::string_view(s.from),
                               std::string_view(s.to), std::string_view(s.cc),
                               std::string_view(s.date), std::string_view(s.message_id),
                               std::string_view(s.in_reply_to), std::string_view(s.references),
                               std::string_view(s.body_structure)})
      if (!is_utf8(f)) std::abort();
    if (s.body_structure.empty() || s.body_structure.front() != '{' ||
        s.body_structure.back() != '}')
      std::abort();
  }
  return 0;
}

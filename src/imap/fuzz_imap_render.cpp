// libFuzzer target for the IMAP message renderers (render.hpp) and the text extraction and
// SEARCH text helpers they share with the index (mime/text.hpp): ENVELOPE's address parser,
// BODYSTRUCTURE from the summary JSON, every kind of section, BINARY decoding. Beyond "no
// crash, no leak, no UB" it checks that a section is always a slice of the input's size
// class (never more than the message, except HEADER.FIELDS's one trailing CRLF), with and
// without a per-entry trace (Delivered-To) in front of the stored message.
//
//   make fuzz   # builds build-fuzz/src/fuzz_imap_render
//   ./build-fuzz/src/fuzz_imap_render -max_len=65536 $(mktemp -d) tests/fuzz/corpus/mime
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "imap/render.hpp"
#include "mime/mime.hpp"
#include "mime/text.hpp"

using namespace caremail;

namespace {

// Every renderer over `raw` = a per-entry trace of `base` octets + the message `json`
// describes (render.hpp).
void render_all(std::string_view raw, const std::string& json, size_t base) {
  (void)imap::envelope(raw);
  (void)imap::body_structure(raw, json, true, false, base);
  (void)imap::body_structure(raw, json, false, false, base);
  for (auto text : {imap::Section::Text::none, imap::Section::Text::header, imap::Section::Text::text,
                    imap::Section::Text::mime, imap::Section::Text::header_fields}) {
    for (std::vector<uint32_t> part : {std::vector<uint32_t>{}, {1}, {2}, {1, 1}, {2, 1, 3}}) {
      imap::Section s;
      s.part = part;
      s.text = text;
      if (text == imap::Section::Text::header_fields) s.fields = {"subject", "from"};
      if (text == imap::Section::Text::mime && part.empty()) continue;
      auto out = imap::section_text(raw, json, s, base);
      if (out && out->size() > raw.size() + 2) std::abort();
      std::string bin;
      (void)imap::binary_section(raw, json, part, bin, base);
      if (bin.size() > raw.size()) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto summary = mime::summarize(raw);
  std::string json = summary ? summary->body_structure : std::string();
  render_all(raw, json, 0);
  const std::string traced = "Delivered-To: fuzz@example.org\r\n" + std::string(raw);
  render_all(traced, json, traced.size() - raw.size());
  (void)mime::extract_text(raw, json, 1u << 20);
  (void)mime::header_values(raw, "to");
  return 0;
}

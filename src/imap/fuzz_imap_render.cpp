// libFuzzer target for the IMAP message renderers (render.hpp), the text extraction and
// SEARCH text helpers they share with the index (mime/text.hpp), and SORT/THREAD over the
// message's summary (search.hpp: first addresses, base subjects, reference chains).
// ENVELOPE's address parser, BODYSTRUCTURE from the summary JSON, every kind of section, BINARY decoding. Beyond "no
// crash, no leak, no UB" it checks that a section is never more than the message, with and
// without a per-entry trace (Delivered-To) in front of the stored message. A section is a
// slice of the message, except HEADER.FIELDS[.NOT]: that one is rebuilt, each field line
// ending in CRLF, then the delimiting blank line (RFC 9051 §6.4.5), so it may exceed the
// message by one octet per bare-LF line end, two for a last line without one and two for
// the blank line. (A 35-octet header with no line end gives 39 octets: Dovecot answers
// the same; the old bound of message + 2 was the target's mistake, not the renderer's.)
//
//   make fuzz   # builds build-fuzz/src/fuzz_imap_render
//   ./build-fuzz/src/fuzz_imap_render -max_len=65536 $(mktemp -d) tests/fuzz/corpus/mime
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "imap/render.hpp"
#include "imap/search.hpp"
#include "mime/mime.hpp"
#include "mime/text.hpp"

using namespace caremail;

namespace {

// Every renderer over `raw` = a per-entry trace of `base` octets + the message `json`
// describes (render.hpp).
void render_all(std::string_view raw, const std::string& json, size_t base) {
  const size_t line_ends = static_cast<size_t>(std::count(raw.begin(), raw.end(), '\n'));
  (void)imap::envelope(raw);
  (void)imap::body_structure(raw, json, true, false, base);
  (void)imap::body_structure(raw, json, false, false, base);
  using Text = imap::Section::Text;
  for (auto text : {Text::none, Text::header, Text::text, Text::mime, Text::header_fields,
                    Text::header_fields_not}) {
    const bool rebuilt = text == Text::header_fields || text == Text::header_fields_not;
    for (std::vector<uint32_t> part : {std::vector<uint32_t>{}, {1}, {2}, {1, 1}, {2, 1, 3}}) {
      imap::Section s;
      s.part = part;
      s.text = text;
      if (rebuilt) s.fields = {"subject", "from"};
      if (text == Text::mime && part.empty()) continue;
      auto out = imap::section_text(raw, json, s, base);
      if (out && out->size() > raw.size() + (rebuilt ? line_ends + 4 : 0)) std::abort();
      std::string bin;
      (void)imap::binary_section(raw, json, part, bin, base);
      if (bin.size() > raw.size()) std::abort();
    }
  }
}

// SORT and THREAD over the message's summary (its decoded From/To/Cc, Subject, Message-ID,
// References): three copies with the input's subject, address lists and references, so
// that base subjects, first addresses and reference chains come from the fuzzer. The
// result must name every message once.
void sort_and_thread(std::string_view raw, const MessageSummary& summary) {
  std::vector<MailboxEntry> entries(3);
  std::vector<imap::SearchMessage> msgs;
  for (size_t i = 0; i < entries.size(); ++i) {
    entries[i].uid = static_cast<Uid>(i + 1);
    entries[i].summary = summary;
    entries[i].internal_date = static_cast<UnixTime>(i);
    if (i == 1) entries[i].summary.message_id = std::string(raw.substr(0, 64));
    if (i == 2) entries[i].summary.references = entries[1].summary.message_id + " " + summary.references;
    msgs.push_back(imap::SearchMessage{static_cast<uint32_t>(i + 1), &entries[i], false, {}});
  }
  using Key = imap::SearchArgs::SortCriterion::Key;
  for (Key k : {Key::arrival, Key::cc, Key::date, Key::from, Key::size, Key::subject, Key::to, Key::displayfrom,
                Key::displayto}) {
    std::vector<imap::SearchArgs::SortCriterion> crit{{k, false}, {Key::subject, true}};
    std::vector<size_t> order = imap::sort_messages(crit, msgs);
    if (order.size() != msgs.size()) std::abort();
    std::sort(order.begin(), order.end());
    for (size_t i = 0; i < order.size(); ++i)
      if (order[i] != i) std::abort();
  }
  for (const char* alg : {"REFERENCES", "ORDEREDSUBJECT"}) {
    std::string t = imap::thread_messages(alg, msgs, false);
    for (char c : {'1', '2', '3'})
      if (std::count(t.begin(), t.end(), c) != 1) std::abort();
  }
  (void)imap::base_subject(raw);
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
  if (summary) sort_and_thread(raw, *summary);
  return 0;
}

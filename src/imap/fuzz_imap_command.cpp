// libFuzzer target for the IMAP command parser (parser.hpp). Beyond "no crash, no leak, no
// UB" it checks the promises parser.hpp makes: feed() never consumes more than it is given,
// any split of the stream gives the same events, limits hold on what is returned, and
// mutf7 decode/encode round-trip.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -o fuzz_imap_command
//       src/imap/fuzz_imap_command.cpp src/imap/parser.cpp src/imap/mutf7.cpp
//   ./fuzz_imap_command -max_len=4096 $(mktemp -d) tests/fuzz/corpus/imap_command
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "imap/mutf7.hpp"
#include "imap/parser.hpp"

namespace {

using namespace caremail::imap;

void check(bool ok) {
  if (!ok) std::abort();
}

void check_command(const Command& c, const Limits& lim) {
  check(!c.tag.empty() || c.verb == Verb::line);
  check(c.set.ranges.size() <= lim.max_sequence_ranges);
  check(!c.set.saved || c.set.ranges.empty());
  for (const SeqRange& r : c.set.ranges) (void)r;
  if (!c.mailbox.empty() && c.verb != Verb::line) check(c.mailbox.size() <= lim.max_mailbox);
  uint64_t total = 0;
  for (const AppendMessage& m : c.messages) {
    check(m.data.size() <= lim.max_literal);
    total += m.data.size();
    check(!m.catenate || (m.data.empty() && !m.parts.empty()));
    for (const CatPart& part : m.parts) {
      if (!part.url) {
        total += part.value.size();
        continue;
      }
      // CATENATE's IMAP URLs (parse_imap_url): what comes back names one message.
      check(!part.value.empty());
      if (auto u = parse_imap_url(part.value)) {
        check(u->uid != 0 && !u->mailbox.empty());
        check(!u->uidvalidity || *u->uidvalidity != 0);
        check(!u->partial || u->partial->second != 0);
        for (char ch : u->mailbox) check(static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f);
      }
    }
  }
  check(total <= lim.max_append_total);
  if (c.verb == Verb::line) check(c.line.size() <= lim.max_line);
}

// Feeds `in` in chunks cut at `cuts` (ascending) and records what a session would see.
std::vector<std::string> run(std::string_view in, const std::vector<size_t>& cuts,
                             const Limits& lim) {
  std::vector<std::string> ev;
  Parser p(lim);
  size_t start = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    size_t end = i < cuts.size() ? cuts[i] : in.size();
    std::string_view chunk = in.substr(start, end - start);
    start = end;
    for (;;) {
      size_t n = p.feed(chunk);
      check(n <= chunk.size());
      chunk.remove_prefix(n);
      ParseStatus s = p.status();
      if (s == ParseStatus::need_continuation) {
        // "+" only within the limits (a message literal only when APPEND may run).
        check(!p.literal().message || p.literal().size <= lim.max_literal);
        check(!p.literal().message || (lim.allowed_verbs & verb_bit(Verb::append)) != 0);
        ev.push_back("+" + std::to_string(p.literal().size));
        continue;
      }
      if (s == ParseStatus::need_more) {
        check(chunk.empty());
        break;
      }
      if (s == ParseStatus::done) {
        check_command(p.command(), lim);
        ev.push_back(debug_string(p.command(), true));
      } else {
        const ParseError& e = p.error();
        check(!e.text.empty());
        for (char ch : e.text) check(ch >= 0x20 && ch < 0x7F);  // safe to put in a reply
        for (char ch : e.tag) check(ch > 0x20 && ch < 0x7F && ch != '+');
        ev.push_back("E[" + e.tag + "]" + e.text + (e.close_connection ? "!" : ""));
        if (e.close_connection) return ev;
      }
      p.next();
      // Exercise raw lines too: after an IDLE, the next line is read raw.
      if (s == ParseStatus::done && p.status() == ParseStatus::need_more &&
          !ev.empty() && ev.back().find(" IDLE") != std::string::npos)
        p.expect_line();
    }
  }
  return ev;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Limits small;  // small limits reach the limit paths with small inputs
  small.max_line = 256;
  small.max_literal = 64;
  small.max_append_total = 100;
  small.max_nonsync_literal = 32;
  small.max_nesting = 6;
  small.max_sequence_ranges = 8;
  small.max_tokens = 64;
  small.max_mailbox = 16;
  Limits preauth = small;  // before login: few verbs, no messages (issue 14)
  preauth.max_literal = 0;
  preauth.max_append_total = 0;
  preauth.allowed_verbs = verb_bit(Verb::capability) | verb_bit(Verb::noop) | verb_bit(Verb::logout) |
                          verb_bit(Verb::login) | verb_bit(Verb::authenticate) | verb_bit(Verb::id);
  for (const Limits& lim : {Limits{}, small, preauth}) {
    std::vector<std::string> whole = run(in, {}, lim);
    // Byte by byte, and a split derived from the input.
    std::vector<size_t> every;
    for (size_t i = 1; i < size && size <= 512; ++i) every.push_back(i);
    if (!every.empty()) check(run(in, every, lim) == whole);
    std::vector<size_t> some;
    uint32_t h = 2166136261u;
    for (size_t i = 1; i < size; ++i) {
      h = (h ^ data[i]) * 16777619u;
      if (h % 7 == 0) some.push_back(i);
    }
    check(run(in, some, lim) == whole);
  }

  // mutf7: decode, then encode gives back the input (only canonical forms are accepted);
  // encode of valid UTF-8 decodes back.
  if (auto d = mutf7_decode(in)) {
    auto e = mutf7_encode(*d);
    check(e && *e == in);
  }
  if (auto e = mutf7_encode(in)) {
    check(mutf7_valid(*e));
    check(*mutf7_decode(*e) == in);
  }
  return 0;
}

// libFuzzer target for smtp::parse_command. Beyond "no crash, no leak, no UB" it checks the
// promises command.hpp makes, so a limit not applied or a reply that could inject a line is
// a finding too.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -o fuzz_smtp_command
//       src/smtp/fuzz_smtp_command.cpp src/smtp/command.cpp src/smtp/reply.cpp
//   ./fuzz_smtp_command -max_len=4096 tests/fuzz/corpus/smtp_command
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtp/command.hpp"
#include "smtp/reply.hpp"

namespace {

using namespace caremail::smtp;

void check(bool ok) {
  if (!ok) std::abort();
}

bool ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// A formatted reply: every line "ddd[- ]...", at most 512 octets, CRLF only at line ends,
// no other control bytes.
void check_wire_reply(std::string_view w) {
  check(w.size() >= 5 && w.substr(w.size() - 2) == "\r\n");
  while (!w.empty()) {
    size_t eol = w.find("\r\n");
    check(eol != std::string_view::npos && eol + 2 <= kMaxReplyLine && eol >= 3);
    std::string_view line = w.substr(0, eol);
    for (char c : line) check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F);
    w.remove_prefix(eol + 2);
  }
}

void check_result(std::string_view line, const CommandLimits& lim, bool utf8) {
  CommandResult r = parse_command(line, lim, utf8);
  if (!r.ok()) {
    const CommandError& e = r.error();
    check(e.code == 500 || e.code == 501 || e.code == 553 || e.code == 555);
    check(e.enhanced.size() == 5 && e.enhanced[0] == '5');
    check(!e.text.empty());
    check_wire_reply(format_reply(e.reply()));
    return;
  }
  check(line.size() <= lim.max_line);
  const Command& c = r.value();
  if (c.verb == Verb::ehlo || c.verb == Verb::helo) check(!c.domain.empty() && c.domain.size() <= lim.max_domain);
  if (c.verb == Verb::mail || c.verb == Verb::rcpt) {
    const Path& p = c.path;
    bool path_utf8 = c.verb == Verb::mail ? c.mail.smtputf8 : utf8;
    if (!path_utf8) check(ascii(p.local) && ascii(p.domain) && !p.utf8);
    check(is_utf8(p.local) && is_utf8(p.domain));
    if (p.kind != Path::Kind::postmaster) check(p.local.size() <= lim.max_local_part);
    check(p.domain.size() <= lim.max_domain);
    check(p.address().size() + 2 <= lim.max_path);
    if (p.kind == Path::Kind::null) check(c.verb == Verb::mail && p.local.empty());
    if (p.kind == Path::Kind::postmaster) check(c.verb == Verb::rcpt && p.domain.empty());
    if (p.kind == Path::Kind::mailbox) {
      check(!p.domain.empty());
      check(p.local_value().size() <= p.local.size());
      // Round trip: the address as written parses back to itself.
      std::string again = (c.verb == Verb::mail ? "MAIL FROM:<" : "RCPT TO:<") + p.address() +
                          (c.verb == Verb::mail && p.utf8 ? "> SMTPUTF8" : ">");
      CommandResult r2 = parse_command(again, lim, utf8);
      check(r2.ok() && r2->path.address() == p.address() && r2->path.kind == p.kind);
    }
    if (c.mail.envid) check(c.mail.envid->size() <= 100);
    if (c.rcpt.notify.never)
      check(!c.rcpt.notify.success && !c.rcpt.notify.failure && !c.rcpt.notify.delay);
    if (c.rcpt.orcpt) check(!c.rcpt.orcpt->address.empty() && is_utf8(c.rcpt.orcpt->address));
  }
  if (c.verb == Verb::auth) check(!c.mechanism.empty() && c.mechanism.size() <= 20);
  check(is_utf8(c.argument));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  CommandLimits small;  // small limits reach the limit paths with small inputs too
  small.max_line = 64;
  small.max_path = 32;
  small.max_local_part = 8;
  small.max_domain = 16;
  for (const CommandLimits& lim : {CommandLimits{}, small})
    for (bool utf8 : {false, true}) check_result(line, lim, utf8);

  // xtext: decode(encode(x)) == x for any bytes.
  auto d = xtext_decode(xtext_encode(line));
  check(d && *d == line);
  // format_reply never emits an injectable line, whatever the text.
  check_wire_reply(format_reply(250, "2.0.0", line, size % 2 == 0));
  return 0;
}

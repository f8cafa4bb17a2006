// libFuzzer target for the LDAP wire layer: arbitrary bytes through the Framer, the request
// decoder, the filter renderer and parser. Beyond "no crash, no leak, no UB" it checks the
// promises message.hpp and filter.hpp make, so a limit not applied, a diagnostic that could
// inject a log line, or an encoding that does not survive a round trip is a finding too.
//
//   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCAREMAIL_FUZZ=ON ...
//   build-fuzz/src/fuzz_ldap_message -max_len=65536 $(mktemp -d) tests/fuzz/corpus/ldap_message
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ldap/ber.hpp"
#include "ldap/filter.hpp"
#include "ldap/message.hpp"

namespace {

using namespace caremail::ldap;

void check(bool ok) {
  if (!ok) std::abort();
}

bool printable(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return false;
  return true;
}

const Entry& sample_entry() {
  static const Entry e{"cn=Alice Smith,o=Example",
                       {{"objectClass", {"top", "person"}},
                        {"cn", {"Alice Smith"}},
                        {"mail", {"alice@example.org"}},
                        {"telephoneNumber", {"+44 20 7946 0000"}}}};
  return e;
}

// A filter that came out of a decoder or parser: within the limits, renders to a printable
// string that parses back to the same tree, and evaluates without trouble.
void check_filter(const Filter& f, const FilterLimits& lim) {
  check(filter_depth(f) <= lim.max_depth);
  check(filter_nodes(f) <= lim.max_nodes);
  std::string s = to_string(f);
  check(printable(s));
  FilterLimits roomy = lim;
  roomy.max_string = SIZE_MAX;
  auto back = parse_filter(s, roomy);
  check(back.ok());
  check(*back == f);
  (void)evaluate(f, sample_entry());
}

void check_request(std::string_view msg, const Limits& lim) {
  DecodeResult r = decode_request(msg, lim);
  if (!r.ok()) {
    const DecodeError& e = r.error();
    check(!e.message.empty() && printable(e.message));
    for (char c : e.message) check(static_cast<unsigned char>(c) < 0x80);
    if (!e.disconnect) {
      check(e.message_id > 0);
      bool response = false;
      for (Op req : {Op::bind_request, Op::search_request, Op::modify_request, Op::add_request, Op::del_request,
                     Op::moddn_request, Op::compare_request, Op::extended_request})
        response = response || response_for(req) == e.response;
      check(response);
    }
    std::string reply = encode_error(e);
    Framer fr(lim);
    check(fr.feed(reply) == reply.size() || reply.size() > lim.max_message);
    return;
  }
  const Request& req = r.value();
  check(req.message_id > 0);
  check(req.controls.size() <= lim.max_controls);
  check(printable(debug_string(req)));
  if (const auto* s = std::get_if<SearchRequest>(&req.body)) {
    check_filter(s->filter, lim.filter);
    check(s->attributes.size() <= lim.max_attributes);
    check(s->base.size() <= lim.max_dn);
    check(s->size_limit >= 0 && s->time_limit >= 0);
  } else {
    check(!req.paged);
  }
  if (const auto* b = std::get_if<BindRequest>(&req.body)) {
    check(b->version == 3 && b->password.size() <= lim.max_password);
    check(debug_string(req).find("password=") != std::string::npos);
  }
  // Re-encoding gives a message that decodes to the same request, and is stable.
  std::string again = encode_request(req);
  DecodeResult r2 = decode_request(again, lim);
  check(r2.ok());
  check(r2.value() == req);
  check(encode_request(r2.value()) == again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  Limits small;  // small limits reach the limit paths with small inputs
  small.max_message = 512;
  small.max_dn = 16;
  small.max_password = 8;
  small.max_attributes = 3;
  small.max_controls = 2;
  small.max_oid = 24;
  small.max_cookie = 4;
  small.filter.max_depth = 4;
  small.filter.max_nodes = 8;
  small.filter.max_substring_components = 3;
  small.filter.max_value = 8;
  small.filter.max_attribute = 8;
  small.filter.max_string = 128;

  for (const Limits& lim : {Limits{}, small}) {
    // Frame the stream in chunks whose size comes from the first octet, so the fuzzer also
    // explores the splits; every complete message goes through the decoder.
    size_t step = size == 0 ? 1 : 1 + data[0] % 17;
    Framer fr(lim);
    size_t pos = 0, messages = 0;
    while (pos < in.size() && messages < 64) {
      std::string_view chunk = in.substr(pos, step);
      size_t used = fr.feed(chunk);
      pos += used;
      if (fr.status() == FrameStatus::error) {
        check(printable(fr.error()));
        check(fr.buffered() <= 10);  // rejected from the header alone
        break;
      }
      if (fr.status() == FrameStatus::complete) {
        check(fr.message().size() <= lim.max_message);
        check_request(fr.message(), lim);
        fr.next();
        ++messages;
      } else {
        check(used == chunk.size());
      }
    }
    // The decoder alone, on the raw input (it must cope with what a framer would refuse).
    check_request(in, lim);

    // The RFC 4515 parser on the raw input.
    auto f = parse_filter(in, lim.filter);
    if (f.ok()) check_filter(*f, lim.filter);
    else check(printable(f.error().message));
  }
  return 0;
}

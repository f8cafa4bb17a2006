// libFuzzer target for COMPRESS=DEFLATE (net/line_codec.hpp, Inflater and Deflater), the
// inflating half of which reads whatever a peer sends once compression is on. Checks,
// besides "no crash, no leak, no UB, no hang": inflating arbitrary bytes in reads of any
// size either fails or gives the same output as inflating them whole, and never more than
// deflate's bound (about 1032 times the input); deflating any bytes in any pieces and
// inflating the result gives those bytes back.
//
//   build-fuzz/src/fuzz_proto_inflate -max_total_time=600 $(mktemp -d) tests/fuzz/corpus/proto_inflate
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/line_codec.hpp"

namespace {

using caremail::net::Deflater;
using caremail::net::Inflater;

void check(bool ok) {
  if (!ok) std::abort();
}

// Feeds `in` in pieces whose sizes come from `seed`; false when the inflater refused.
bool inflate_in_pieces(std::string_view in, unsigned seed, std::string& out) {
  Inflater z;
  check(z.ok());
  size_t pos = 0;
  while (pos < in.size()) {
    seed = seed * 1103515245u + 12345u;
    size_t n = 1 + (seed >> 16) % 512;
    if (n > in.size() - pos) n = in.size() - pos;
    if (!z.feed(in.substr(pos, n), out)) return false;
    pos += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  unsigned seed = data[1];
  std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);
  if (data[0] & 1) {
    // Arbitrary compressed input, as a hostile peer sends it.
    std::string whole, pieces;
    Inflater z;
    bool ok_whole = z.feed(body, whole);
    bool ok_pieces = inflate_in_pieces(body, seed, pieces);
    check(whole.size() <= body.size() * 1032 + 64 * 1024);
    if (ok_whole && ok_pieces) check(whole == pieces);
    // A failure may come earlier or later with other read sizes, but what both produced
    // before it must agree.
    size_t common = std::min(whole.size(), pieces.size());
    check(whole.compare(0, common, pieces, 0, common) == 0);
  } else {
    // Round trip: our own deflate, cut where the input says, inflates to the input.
    Deflater d;
    check(d.ok());
    std::string packed;
    size_t pos = 0;
    unsigned s = seed;
    while (pos < body.size()) {
      s = s * 1103515245u + 12345u;
      size_t n = 1 + (s >> 16) % 300;
      if (n > body.size() - pos) n = body.size() - pos;
      check(d.feed(body.substr(pos, n), packed));
      pos += n;
    }
    std::string back;
    check(inflate_in_pieces(packed, seed ^ 0x5a, back));
    check(back == body);
  }
  return 0;
}

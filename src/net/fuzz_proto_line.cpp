// libFuzzer target for ProtoStream's line reading (net/line_codec.hpp, LineSplitter). The
// input is split into reads at places the input itself chooses, as a network would.
// Checks, besides "no crash, no leak, no UB": every line handed out is at most `max` bytes
// and holds no LF; lines and too_long results match a plain split of the whole input on
// LF, whatever the read boundaries; the buffer never holds more than max + 1 bytes of an
// unfinished line beyond the last read.
//
//   build-fuzz/src/fuzz_proto_line -max_total_time=600 $(mktemp -d) tests/fuzz/corpus/proto_line
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "net/line_codec.hpp"

namespace {

using caremail::net::LineSplitter;
using caremail::net::LineStatus;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Out {
  LineStatus status;
  std::string line;
  bool bare_lf;
  bool operator==(const Out&) const = default;
};

// The reference: split the whole stream on LF.
std::vector<Out> reference(std::string_view s, size_t max) {
  std::vector<Out> out;
  size_t pos = 0;
  for (;;) {
    size_t lf = s.find('\n', pos);
    if (lf == std::string_view::npos) break;
    size_t end = lf;
    bool cr = end > pos && s[end - 1] == '\r';
    if (cr) --end;
    std::string_view line = s.substr(pos, end - pos);
    if (line.size() > max) out.push_back({LineStatus::too_long, "", !cr});
    else out.push_back({LineStatus::ok, std::string(line), !cr});
    pos = lf + 1;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  // Byte 0: the line limit (0..255); byte 1: the seed of the read sizes; the rest: the stream.
  size_t max = data[0];
  unsigned seed = data[1];
  std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  std::vector<Out> got;
  std::string buf;
  size_t pos = 0;
  LineSplitter split(max);
  while (true) {
    std::string line;
    bool bare = false;
    LineStatus st = split.next(buf, line, &bare);
    if (st != LineStatus::need_more) {
      check(line.find('\n') == std::string::npos);
      check(st == LineStatus::ok ? line.size() <= max : line.empty());
      got.push_back({st, line, bare});
      split = LineSplitter(max);
      continue;
    }
    check(buf.size() <= max + 1 && buf.find('\n') == std::string::npos);
    if (pos >= stream.size()) break;
    seed = seed * 1103515245u + 12345u;
    size_t n = 1 + (seed >> 16) % 64;
    if (n > stream.size() - pos) n = stream.size() - pos;
    buf.append(stream.substr(pos, n));
    pos += n;
  }
  check(got == reference(stream, max));
  return 0;
}

// libFuzzer target for the DATA and BDAT readers. Besides "no crash, no leak, no UB" it
// checks: the same stream fed whole and in two different random splits gives the same
// outcome; consumed never exceeds the input; DATA only ever ends right after CRLF.CRLF;
// an accepted message has only CRLF line ends, no NUL and is within the limits; memory held
// never exceeds max_message_bytes.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -o fuzz_smtp_data
//       src/smtp/fuzz_smtp_data.cpp src/smtp/data_reader.cpp src/smtp/reply.cpp
//   ./fuzz_smtp_data -max_len=65536 tests/fuzz/corpus/smtp_data
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/data_reader.hpp"

namespace {

using namespace caremail::smtp;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Outcome {
  DataStatus status;
  uint64_t consumed;
  std::optional<Reply> rejection;
  std::string message;
  uint64_t size;
  size_t fields;
};

bool same(const Outcome& a, const Outcome& b) {
  if (a.status != b.status || a.consumed != b.consumed || a.message != b.message ||
      a.size != b.size || a.fields != b.fields || a.rejection.has_value() != b.rejection.has_value())
    return false;
  return !a.rejection || (a.rejection->code == b.rejection->code &&
                          a.rejection->enhanced == b.rejection->enhanced &&
                          a.rejection->text == b.rejection->text);
}

// Tiny deterministic generator so the splits depend only on the input.
struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

Outcome feed_split(std::string_view in, const DataLimits& lim, uint64_t seed) {
  DataReader r(lim);
  Rng rng{seed | 1};
  size_t pos = 0;
  uint64_t total = 0;
  while (pos < in.size()) {
    size_t n = seed == 0 ? in.size() - pos : 1 + rng.next() % 17;
    if (n > in.size() - pos) n = in.size() - pos;
    size_t used = r.feed(in.substr(pos, n));
    check(used <= n);
    total += used;
    check(r.message().capacity() <= lim.max_message_bytes + 64);
    if (r.status() != DataStatus::need_more) break;
    check(used == n);
    pos += n;
  }
  check(total == r.consumed() && total <= in.size());
  if (r.status() != DataStatus::need_more) check(r.feed(in) == 0);
  return Outcome{r.status(), r.consumed(), r.rejection(), r.message(), r.message_size(),
                 r.header_fields()};
}

void check_data(std::string_view in, const DataLimits& lim, uint64_t seed) {
  Outcome whole = feed_split(in, lim, 0);
  check(same(whole, feed_split(in, lim, seed)));
  check(same(whole, feed_split(in, lim, seed * 31 + 7)));

  if (whole.status == DataStatus::done) {
    std::string framed = "\r\n" + std::string(in.substr(0, whole.consumed));
    // Ends exactly at the first CRLF.CRLF of CRLF + input.
    check(framed.size() >= 5 && framed.compare(framed.size() - 5, 5, "\r\n.\r\n") == 0);
    check(framed.find("\r\n.\r\n") == framed.size() - 5);
  } else if (whole.status == DataStatus::need_more) {
    check(whole.consumed == in.size());
    check(("\r\n" + std::string(in)).find("\r\n.\r\n") == std::string::npos);
  }
  if (!whole.rejection && whole.status == DataStatus::done) {
    const std::string& m = whole.message;
    check(m.size() <= lim.max_message_bytes && m.size() == whole.size);
    check(m.find('\0') == std::string::npos);
    for (size_t i = 0; i < m.size(); ++i) {
      if (m[i] == '\n') check(i > 0 && m[i - 1] == '\r');
      if (m[i] == '\r') check(i + 1 < m.size() && m[i + 1] == '\n');
    }
    check(whole.fields <= lim.max_headers);
  } else if (whole.rejection) {
    check(whole.message.empty());
  }
}

void check_bdat(std::string_view in, const DataLimits& lim, bool binary, uint64_t seed) {
  BdatReader one(lim, binary), many(lim, binary);
  one.append_chunk(in);
  Rng rng{seed | 1};
  size_t pos = 0;
  while (pos < in.size()) {
    size_t n = 1 + rng.next() % 23;
    if (n > in.size() - pos) n = in.size() - pos;
    many.append_chunk(in.substr(pos, n));
    check(many.message().capacity() <= lim.max_message_bytes + 64);
    pos += n;
  }
  check(one.message() == many.message() && one.message_size() == many.message_size() &&
        one.header_fields() == many.header_fields() &&
        one.rejection().has_value() == many.rejection().has_value());
  if (one.rejection()) {
    check(one.rejection()->text == many.rejection()->text && one.message().empty());
  } else {
    check(one.message() == in);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint64_t seed = data[0] * 0x9E3779B97F4A7C15ull + size;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

  DataLimits small;  // small limits so every limit path is reachable with small inputs
  small.max_message_bytes = 200;
  small.max_header_bytes = 64;
  small.max_headers = 4;
  small.max_line = 40;
  small.max_stream_bytes = 600;
  for (const DataLimits& lim : {DataLimits{}, small}) {
    check_data(in, lim, seed);
    check_bdat(in, lim, false, seed);
    check_bdat(in, lim, true, seed);
  }
  return 0;
}

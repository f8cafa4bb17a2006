// The pure pieces of ProtoStream's input side: splitting the read buffer into lines, and
// RFC 4978 COMPRESS=DEFLATE (raw deflate both ways). No sockets, no Boost: unit-tested and
// fuzzed on their own (net/fuzz_proto_line.cpp, net/fuzz_proto_inflate.cpp).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace caremail::net {

enum class LineStatus { need_more, ok, too_long };

// One line being read from a buffer that grows as bytes arrive. One per read_line call.
class LineSplitter {
 public:
  // `max`: the longest line (without its CRLF) handed out; a longer one is skipped to its
  // end and reported as too_long, holding at most max + 1 bytes meanwhile.
  explicit LineSplitter(size_t max) : max_(max) {}

  // Looks for the end of the line in `buf` (received, not yet consumed; the caller appends
  // to it between calls). ok: `line` holds the line without CRLF or LF and `*bare_lf` (when
  // given) says whether it ended in a bare LF; too_long: `line` is empty. In both cases the
  // line and its end are erased from `buf`. need_more: read more and call again (`buf` may
  // have been emptied of an over-long line's bytes).
  LineStatus next(std::string& buf, std::string& line, bool* bare_lf = nullptr);

 private:
  size_t max_;
  size_t scanned_ = 0;   // bytes of buf already known to hold no LF
  bool overflow_ = false;
};

// The inflating half of COMPRESS=DEFLATE.
class Inflater {
 public:
  Inflater();
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  bool ok() const { return ok_; }
  // Appends what `in` inflates to onto `out`. False on a corrupt stream or its end (RFC
  // 4978 streams never end): the session must close.
  // Bound: deflate's ratio is at most about 1032:1, so 4 KB in is at most ~4 MB out.
  bool feed(std::string_view in, std::string& out);

 private:
  struct Z;
  std::unique_ptr<Z> z_;
  bool ok_ = false;
};

// The deflating half: each feed() ends in a sync flush, so the peer can read all of it.
class Deflater {
 public:
  Deflater();
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  bool ok() const { return ok_; }
  // Appends the compressed form of `in` to `out`. False on a zlib error.
  bool feed(std::string_view in, std::string& out);

 private:
  struct Z;
  std::unique_ptr<Z> z_;
  bool ok_ = false;
};

}  // namespace caremail::net

#include "net/line_codec.hpp"

#include <zlib.h>

namespace caremail::net {

LineStatus LineSplitter::next(std::string& buf, std::string& line, bool* bare_lf) {
  line.clear();
  if (scanned_ > buf.size()) scanned_ = 0;  // the caller consumed bytes: scan again
  auto lf = buf.find('\n', scanned_);
  if (lf != std::string::npos) {
    size_t end = lf;
    bool cr = end > 0 && buf[end - 1] == '\r';
    if (cr) --end;
    if (bare_lf) *bare_lf = !cr;
    bool too_long = overflow_ || end > max_;
    if (!too_long) line.assign(buf, 0, end);
    buf.erase(0, lf + 1);
    scanned_ = 0;
    overflow_ = false;
    return too_long ? LineStatus::too_long : LineStatus::ok;
  }
  if (buf.size() > max_ + 1) {
    // Too long: drop what we have, report it at the end of the line. One byte is kept
    // (when it is a CR) so that a CRLF split across reads still ends the line as CRLF.
    overflow_ = true;
    bool cr = buf.back() == '\r';
    buf.clear();
    if (cr) buf.push_back('\r');
  }
  scanned_ = buf.size();
  return LineStatus::need_more;
}

namespace {
constexpr size_t kOutChunk = 64 * 1024;
}

struct Inflater::Z {
  z_stream s{};
};

Inflater::Inflater() : z_(std::make_unique<Z>()) {
  // Window 2^15 to read: the client may use any.
  ok_ = inflateInit2(&z_->s, -15) == Z_OK;
}

Inflater::~Inflater() {
  if (ok_) inflateEnd(&z_->s);
}

bool Inflater::feed(std::string_view in, std::string& out) {
  if (!ok_) return false;
  z_stream& zs = z_->s;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  // Until the input is used up AND zlib had room to spare: when the output filled the
  // buffer exactly, zlib may still hold output (the rest of a match), which would otherwise
  // wait for the peer's next packet; the peer, waiting for our reply, never sends one
  // (found by fuzz_proto_inflate, tests/fuzz/crashes/proto_inflate/).
  for (;;) {
    size_t old = out.size();
    out.resize(old + kOutChunk);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + old);
    zs.avail_out = static_cast<uInt>(kOutChunk);
    int rc = inflate(&zs, Z_SYNC_FLUSH);
    out.resize(out.size() - zs.avail_out);
    if (rc == Z_BUF_ERROR) return zs.avail_in == 0;  // nothing more to give; stuck with input left: broken
    if (rc != Z_OK) return false;                    // corrupt stream, or its end
    if (zs.avail_in == 0 && zs.avail_out > 0) return true;
  }
}

struct Deflater::Z {
  z_stream s{};
};

Deflater::Deflater() : z_(std::make_unique<Z>()) {
  // Window 2^12 and memLevel 5 to write keep the per-connection state near 40 KB instead of
  // 256 KB (any window is valid to send).
  ok_ = deflateInit2(&z_->s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 5, Z_DEFAULT_STRATEGY) == Z_OK;
}

Deflater::~Deflater() {
  if (ok_) deflateEnd(&z_->s);
}

bool Deflater::feed(std::string_view in, std::string& out) {
  if (!ok_) return false;
  z_stream& zs = z_->s;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  do {
    size_t old = out.size();
    out.resize(old + in.size() / 2 + 1024);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + old);
    zs.avail_out = static_cast<uInt>(out.size() - old);
    if (deflate(&zs, Z_SYNC_FLUSH) == Z_STREAM_ERROR) return false;
    out.resize(out.size() - zs.avail_out);
  } while (zs.avail_out == 0 || zs.avail_in > 0);
  return true;
}

}  // namespace caremail::net

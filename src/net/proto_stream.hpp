// ProtoStream: the byte stream of a line-based protocol session (SMTP, later IMAP, LDAP
// uses its own framing): plain TCP that may become TLS (STARTTLS) or start as TLS
// (implicit TLS ports), with a read buffer for pipelined input and a deadline on every
// operation. One per session, used from the session's strand only.
//
// SECURITY: start_tls() discards any plaintext already buffered, so commands injected
// before the handshake (CVE-2011-0411 style) are never executed after it.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

namespace caremail::net {

enum class ReadStatus { ok, eof, timeout, too_long, error, cancelled };

class ProtoStream {
 public:
  using Clock = std::chrono::steady_clock;

  ProtoStream(boost::asio::ip::tcp::socket sock, std::shared_ptr<boost::asio::ssl::context> tls);
  ProtoStream(const ProtoStream&) = delete;
  ProtoStream& operator=(const ProtoStream&) = delete;

  ~ProtoStream();

  bool tls_available() const { return tls_ctx_ != nullptr; }
  // RFC 4978 COMPRESS=DEFLATE from now on, both directions (after the OK was written).
  // False when already active or zlib failed.
  bool start_deflate();
  bool is_compressed() const { return z_ != nullptr; }
  bool is_tls() const { return ssl_.has_value(); }
  // TLS protocol version and cipher after a handshake ("TLSv1.3", "TLS_AES_256_GCM_SHA384").
  std::string tls_version() const;
  std::string tls_cipher() const;

  // Server-side handshake (implicit TLS, or after the STARTTLS reply). False on failure;
  // the session must then close.
  boost::asio::awaitable<bool> start_tls(Clock::duration timeout);

  // Client-side handshake (the outbound SMTP client after STARTTLS). With `verify`, the
  // peer's certificate must chain to a trusted CA and match `server_name`.
  boost::asio::awaitable<bool> start_tls_client(std::shared_ptr<boost::asio::ssl::context> ctx,
                                                const std::string& server_name, bool verify,
                                                Clock::duration timeout, std::string* error = nullptr);

  // Reads one line ending in LF; `line` receives it without the CRLF (or LF) and
  // `bare_lf` tells whether it ended in a bare LF. A line longer than `max` is consumed
  // up to its end and reported as too_long (the session replies and carries on).
  // `timeout` covers the whole line, however many reads it takes (a peer trickling a
  // byte at a time is cut off when it passes).
  boost::asio::awaitable<ReadStatus> read_line(std::string& line, size_t max, Clock::duration timeout,
                                               bool* bare_lf = nullptr);

  // Timeouts below are per read: callers that frame messages themselves (LDAP, DATA)
  // pass what is left of their own deadline.
  // Moves whatever is buffered (or, if nothing is, what one read returns) into `out`,
  // appending at most `max` bytes. For DATA and BDAT.
  boost::asio::awaitable<ReadStatus> read_some(std::string& out, size_t max, Clock::duration timeout);

  // Framing done by the caller (DATA, BDAT): look at the buffered bytes, consume some,
  // and read more when the buffer does not hold enough.
  std::string_view peek() const { return buf_; }
  void consume(size_t n) { buf_.erase(0, n); }
  boost::asio::awaitable<ReadStatus> read_more(Clock::duration timeout) { return fill(timeout); }

  // Bytes received but not yet consumed (pipelined commands).
  bool has_buffered() const { return !buf_.empty(); }
  // Drops unconsumed input (used before a TLS handshake).
  void discard_buffered() { buf_.clear(); }

  boost::asio::awaitable<bool> write(std::string_view data, Clock::duration timeout);

  // Sends TLS close_notify (when TLS) and closes the socket. Never throws.
  boost::asio::awaitable<void> close();

 private:
  boost::asio::awaitable<ReadStatus> fill(Clock::duration timeout);
  // Plain TCP: appends what has arrived without waiting; `timeout` means nothing had.
  ReadStatus read_now();
  // Plain TCP: until the socket is readable (ok), the deadline passes or it fails. An empty
  // read buffer is given back meanwhile.
  boost::asio::awaitable<ReadStatus> wait_readable(Clock::duration timeout);
  boost::asio::awaitable<std::pair<ReadStatus, size_t>> read_raw(char* p, size_t n, Clock::duration timeout);
  struct Deflate;

  // Deadlines cancel the pending operation but leave the socket open, so the session can
  // still say goodbye ("421 ... timeout") before it closes.
  boost::asio::ip::tcp::socket sock_;
  std::shared_ptr<boost::asio::ssl::context> tls_ctx_;
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> ssl_;
  std::string buf_;  // received, not yet consumed
  std::unique_ptr<Deflate> z_;  // COMPRESS=DEFLATE when set
};

}  // namespace caremail::net

#include "net/proto_stream.hpp"

#include <algorithm>

#include "net/deadline.hpp"
#include "net/line_codec.hpp"

namespace caremail::net {

namespace asio = boost::asio;

namespace {

constexpr size_t kReadChunk = 16 * 1024;

ReadStatus status_of(const boost::system::error_code& ec) {
  if (!ec) return ReadStatus::ok;
  if (ec == asio::error::operation_aborted) return ReadStatus::cancelled;
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated || ec == asio::error::connection_reset)
    return ReadStatus::eof;
  return ReadStatus::error;
}

}  // namespace

ProtoStream::ProtoStream(asio::ip::tcp::socket sock, std::shared_ptr<asio::ssl::context> tls)
    : sock_(std::move(sock)), tls_ctx_(std::move(tls)) {
  // Synchronous reads and writes below answer would_block instead of waiting; the
  // asynchronous operations are unaffected.
  boost::system::error_code ec;
  sock_.non_blocking(true, ec);
}

std::string ProtoStream::tls_version() const {
  return ssl_ ? SSL_get_version(const_cast<asio::ssl::stream<asio::ip::tcp::socket&>&>(*ssl_).native_handle())
              : std::string();
}

std::string ProtoStream::tls_cipher() const {
  if (!ssl_) return {};
  const char* c = SSL_get_cipher_name(const_cast<asio::ssl::stream<asio::ip::tcp::socket&>&>(*ssl_).native_handle());
  return c ? c : "";
}

asio::awaitable<bool> ProtoStream::start_tls(Clock::duration timeout) {
  if (!tls_ctx_ || ssl_) co_return false;
  buf_.clear();  // never carry plaintext across the handshake
  ssl_.emplace(sock_, *tls_ctx_);
  auto hs = ssl_->async_handshake(asio::ssl::stream_base::server, asio::deferred);
  auto result = co_await with_deadline(std::move(hs), timeout);
  co_return result && !std::get<0>(*result);
}

asio::awaitable<bool> ProtoStream::start_tls_client(std::shared_ptr<asio::ssl::context> ctx,
                                                  const std::string& server_name, bool verify,
                                                  Clock::duration timeout, std::string* error) {
  if (ssl_) co_return false;
  buf_.clear();
  tls_ctx_ = std::move(ctx);
  ssl_.emplace(sock_, *tls_ctx_);
  SSL_set_tlsext_host_name(ssl_->native_handle(), server_name.c_str());
  if (verify) {
    ssl_->set_verify_mode(asio::ssl::verify_peer);
    ssl_->set_verify_callback(asio::ssl::host_name_verification(server_name));
  } else {
    ssl_->set_verify_mode(asio::ssl::verify_none);
  }
  auto hs = ssl_->async_handshake(asio::ssl::stream_base::client, asio::deferred);
  auto result = co_await with_deadline(std::move(hs), timeout);
  if (!result) {
    if (error) *error = "TLS handshake timed out";
    co_return false;
  }
  auto [ec] = *result;
  if (ec && error) *error = ec.message();
  co_return !ec;
}

// RFC 4978 COMPRESS=DEFLATE: raw deflate both ways, each write ending in a sync flush.
struct ProtoStream::Deflate {
  Inflater in;
  Deflater out;
};

bool ProtoStream::start_deflate() {
  if (z_) return false;
  auto z = std::make_unique<Deflate>();
  if (!z->in.ok() || !z->out.ok()) return false;
  z_ = std::move(z);
  return true;
}

ProtoStream::~ProtoStream() = default;

asio::awaitable<std::pair<ReadStatus, size_t>> ProtoStream::read_raw(char* p, size_t n, Clock::duration timeout) {
  std::optional<std::tuple<boost::system::error_code, size_t>> r;
  if (ssl_) {
    auto op = ssl_->async_read_some(asio::buffer(p, n), asio::deferred);
    r = co_await with_deadline(std::move(op), timeout);
  } else {
    auto op = sock_.async_read_some(asio::buffer(p, n), asio::deferred);
    r = co_await with_deadline(std::move(op), timeout);
  }
  if (!r) co_return std::pair{ReadStatus::timeout, size_t{0}};
  auto [ec, got] = *r;
  if (got > 0) co_return std::pair{ReadStatus::ok, got};
  co_return std::pair{ec ? status_of(ec) : ReadStatus::eof, size_t{0}};
}

ReadStatus ProtoStream::read_now() {
  // What has arrived, at most a chunk: a request of a few hundred bytes costs a small
  // allocation, not 16 KB allocated and zeroed (a third of the LDAP I/O thread's time at
  // 800 queries/s once went to that).
  boost::system::error_code ec;
  size_t avail = sock_.available(ec);
  if (ec) return status_of(ec);
  size_t chunk = avail > 0 ? std::min(avail, kReadChunk) : size_t{1};
  size_t old = buf_.size();
  buf_.resize(old + chunk);
  size_t got = sock_.read_some(asio::buffer(buf_.data() + old, chunk), ec);
  buf_.resize(old + got);
  if (got > 0) return ReadStatus::ok;
  if (ec == asio::error::would_block || ec == asio::error::try_again) return ReadStatus::timeout;  // nothing yet
  return ec ? status_of(ec) : ReadStatus::eof;
}

asio::awaitable<ReadStatus> ProtoStream::wait_readable(Clock::duration timeout) {
  if (buf_.empty()) std::string().swap(buf_);  // an idle connection holds no read buffer
  auto ready = sock_.async_wait(asio::socket_base::wait_read, asio::deferred);
  auto waited = co_await with_deadline(std::move(ready), timeout);
  if (!waited) co_return ReadStatus::timeout;
  auto [wec] = *waited;
  co_return status_of(wec);
}

asio::awaitable<ReadStatus> ProtoStream::fill(Clock::duration timeout) {
  if (!ssl_ && !z_) {
    // Plain TCP: read at once what has already arrived (a pipelined command, or one that
    // came while the reply was being written), without a trip through the scheduler and a
    // timer; otherwise wait for readability (IMAP IDLE can last 30 minutes) and read then.
    ReadStatus st = read_now();
    if (st != ReadStatus::timeout) co_return st;
    st = co_await wait_readable(timeout);
    if (st != ReadStatus::ok) co_return st;
    st = read_now();
    // Readable but nothing to read (a spurious wake-up): the caller reads again.
    co_return st == ReadStatus::timeout ? ReadStatus::ok : st;
  }
  if (z_) {
    if (!ssl_) {
      ReadStatus st = co_await wait_readable(timeout);
      if (st != ReadStatus::ok) co_return st;
    }
    // 4 KB compressed is at most ~4 MB inflated (deflate's ratio is bounded near 1032:1).
    std::string chunk(4096, '\0');
    auto [st, n] = co_await read_raw(chunk.data(), chunk.size(), timeout);
    if (st != ReadStatus::ok) co_return st;
    if (!z_->in.feed(std::string_view(chunk.data(), n), buf_)) co_return ReadStatus::error;  // corrupt stream
    co_return ReadStatus::ok;
  }
  // TLS.
  const size_t chunk = kReadChunk;
  size_t old = buf_.size();
  buf_.resize(old + chunk);
  std::pair<ReadStatus, size_t> r;
  try {
    r = co_await read_raw(buf_.data() + old, chunk, timeout);
  } catch (...) {
    // Cancelled from outside (IMAP IDLE races the read against a change notification):
    // the unread tail must not stay in the buffer as input.
    buf_.resize(old);
    throw;
  }
  buf_.resize(old + r.second);
  co_return r.first;
}

asio::awaitable<ReadStatus> ProtoStream::read_line(std::string& line, size_t max, Clock::duration timeout,
                                                   bool* bare_lf) {
  // One deadline for the whole line, not one per read: a peer sending a byte at a time
  // must not hold the session past `timeout` (each read would otherwise restart it).
  const auto deadline = Clock::now() + timeout;
  LineSplitter split(max);
  for (;;) {
    LineStatus ls = split.next(buf_, line, bare_lf);
    if (ls == LineStatus::ok) co_return ReadStatus::ok;
    if (ls == LineStatus::too_long) co_return ReadStatus::too_long;
    auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) co_return ReadStatus::timeout;
    ReadStatus st = co_await fill(left);
    if (st != ReadStatus::ok) co_return st;
  }
}

asio::awaitable<ReadStatus> ProtoStream::read_some(std::string& out, size_t max, Clock::duration timeout) {
  if (buf_.empty()) {
    ReadStatus st = co_await fill(timeout);
    if (st != ReadStatus::ok) co_return st;
  }
  size_t n = std::min(max, buf_.size());
  out.append(buf_, 0, n);
  buf_.erase(0, n);
  co_return ReadStatus::ok;
}

asio::awaitable<bool> ProtoStream::write(std::string_view data, Clock::duration timeout) {
  std::string packed;
  if (z_) {
    if (!z_->out.feed(data, packed)) co_return false;
    data = packed;
  }
  if (!ssl_) {
    // Plain TCP: write what the socket takes now (a reply nearly always fits its send
    // buffer), and wait only for the rest.
    boost::system::error_code ec;
    size_t sent = 0;
    while (sent < data.size()) {
      size_t n = sock_.write_some(asio::buffer(data.data() + sent, data.size() - sent), ec);
      sent += n;
      if (ec) break;
    }
    if (sent == data.size()) co_return true;
    if (ec != asio::error::would_block && ec != asio::error::try_again) co_return false;
    data.remove_prefix(sent);
  }
  std::optional<std::tuple<boost::system::error_code, size_t>> r;
  if (ssl_) {
    auto op = asio::async_write(*ssl_, asio::buffer(data), asio::deferred);
    r = co_await with_deadline(std::move(op), timeout);
  } else {
    auto op = asio::async_write(sock_, asio::buffer(data), asio::deferred);
    r = co_await with_deadline(std::move(op), timeout);
  }
  co_return r && !std::get<0>(*r);
}

asio::awaitable<void> ProtoStream::close() {
  if (ssl_) {
    auto sd = ssl_->async_shutdown(asio::deferred);
    auto done = co_await with_deadline(std::move(sd), std::chrono::seconds(2));
    (void)done;
  }
  boost::system::error_code ec;
  sock_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  sock_.close(ec);
}

}  // namespace caremail::net

#include "net/proto_stream.hpp"

namespace caremail::net {

namespace asio = boost::asio;

namespace {
constexpr size_t kReadChunk = 16 * 1024;

ReadStatus status_of(const boost::system::error_code& ec) {
  if (!ec) return ReadStatus::ok;
  if (ec == boost::beast::error::timeout) return ReadStatus::timeout;
  if (ec == asio::error::operation_aborted) return ReadStatus::cancelled;
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated || ec == asio::error::connection_reset)
    return ReadStatus::eof;
  return ReadStatus::error;
}
}  // namespace

ProtoStream::ProtoStream(asio::ip::tcp::socket sock, std::shared_ptr<asio::ssl::context> tls)
    : tcp_(std::move(sock)), tls_ctx_(std::move(tls)) {}

std::string ProtoStream::tls_version() const {
  return ssl_ ? SSL_get_version(const_cast<asio::ssl::stream<boost::beast::tcp_stream&>&>(*ssl_).native_handle())
              : std::string();
}

std::string ProtoStream::tls_cipher() const {
  if (!ssl_) return {};
  const char* c =
      SSL_get_cipher_name(const_cast<asio::ssl::stream<boost::beast::tcp_stream&>&>(*ssl_).native_handle());
  return c ? c : "";
}

asio::awaitable<bool> ProtoStream::start_tls(std::chrono::seconds timeout) {
  if (!tls_ctx_ || ssl_) co_return false;
  buf_.clear();  // never carry plaintext across the handshake
  ssl_.emplace(tcp_, *tls_ctx_);
  tcp_.expires_after(timeout);
  auto [ec] = co_await ssl_->async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

asio::awaitable<ReadStatus> ProtoStream::fill(std::chrono::seconds timeout) {
  size_t old = buf_.size();
  buf_.resize(old + kReadChunk);
  tcp_.expires_after(timeout);
  boost::system::error_code ec;
  size_t n = 0;
  if (ssl_) {
    std::tie(ec, n) = co_await ssl_->async_read_some(asio::buffer(buf_.data() + old, kReadChunk),
                                                      asio::as_tuple(asio::use_awaitable));
  } else {
    std::tie(ec, n) = co_await tcp_.async_read_some(asio::buffer(buf_.data() + old, kReadChunk),
                                                     asio::as_tuple(asio::use_awaitable));
  }
  buf_.resize(old + n);
  if (n > 0) co_return ReadStatus::ok;
  co_return ec ? status_of(ec) : ReadStatus::eof;
}

asio::awaitable<ReadStatus> ProtoStream::read_line(std::string& line, size_t max, std::chrono::seconds timeout,
                                                   bool* bare_lf) {
  line.clear();
  bool overflow = false;
  size_t scanned = 0;
  for (;;) {
    auto lf = buf_.find('\n', scanned);
    if (lf != std::string::npos) {
      size_t end = lf;
      bool cr = end > 0 && buf_[end - 1] == '\r';
      if (cr) --end;
      if (bare_lf) *bare_lf = !cr;
      if (!overflow) {
        if (end > max) overflow = true;
        else line.assign(buf_, 0, end);
      }
      buf_.erase(0, lf + 1);
      co_return overflow ? ReadStatus::too_long : ReadStatus::ok;
    }
    if (buf_.size() > max + 1) {
      // Too long: drop what we have, remember to report it at the end of the line.
      overflow = true;
      buf_.clear();
    }
    scanned = buf_.size();
    ReadStatus st = co_await fill(timeout);
    if (st != ReadStatus::ok) co_return st;
  }
}

asio::awaitable<ReadStatus> ProtoStream::read_some(std::string& out, size_t max, std::chrono::seconds timeout) {
  if (buf_.empty()) {
    ReadStatus st = co_await fill(timeout);
    if (st != ReadStatus::ok) co_return st;
  }
  size_t n = std::min(max, buf_.size());
  out.append(buf_, 0, n);
  buf_.erase(0, n);
  co_return ReadStatus::ok;
}

asio::awaitable<bool> ProtoStream::write(std::string_view data, std::chrono::seconds timeout) {
  tcp_.expires_after(timeout);
  boost::system::error_code ec;
  if (ssl_) {
    std::tie(ec, std::ignore) =
        co_await asio::async_write(*ssl_, asio::buffer(data), asio::as_tuple(asio::use_awaitable));
  } else {
    std::tie(ec, std::ignore) =
        co_await asio::async_write(tcp_, asio::buffer(data), asio::as_tuple(asio::use_awaitable));
  }
  co_return !ec;
}

asio::awaitable<void> ProtoStream::close() {
  if (ssl_) {
    tcp_.expires_after(std::chrono::seconds(2));
    co_await ssl_->async_shutdown(asio::as_tuple(asio::use_awaitable));
  }
  boost::system::error_code ec;
  tcp_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  tcp_.socket().close(ec);
}

}  // namespace caremail::net

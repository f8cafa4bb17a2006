#include "smtp/session.hpp"

#include <boost/asio/ssl.hpp>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "crypto/crypto.hpp"

namespace caremail::smtp {

namespace asio = boost::asio;

std::string_view to_string(Mode m) {
  switch (m) {
    case Mode::mx: return "mx";
    case Mode::submission: return "submission";
    case Mode::submissions: return "submissions";
  }
  return "mx";
}

namespace {

metrics::Counter& sessions_total() {
  static auto& c = metrics::counter("caremail_smtp_sessions_total", "SMTP sessions accepted");
  return c;
}

using Handler = asio::awaitable<void> (*)(Session&, Command&);

// The command table: verb -> handler. State checks live in the handlers.
Handler handler_for(Verb v) {
  switch (v) {
    case Verb::ehlo:
    case Verb::helo: return cmd_ehlo;
    case Verb::starttls: return cmd_starttls;
    case Verb::auth: return cmd_auth;
    case Verb::mail: return cmd_mail;
    case Verb::rcpt: return cmd_rcpt;
    case Verb::data: return cmd_data;
    case Verb::bdat: return cmd_bdat;
    case Verb::rset:
    case Verb::noop:
    case Verb::quit:
    case Verb::vrfy:
    case Verb::expn:
    case Verb::help: return cmd_misc;
  }
  return cmd_misc;
}

}  // namespace

Session::Session(std::shared_ptr<Shared> shared, asio::ip::tcp::socket sock, net::PeerInfo peer, Mode mode)
    : shared_(std::move(shared)), stream_(std::move(sock), shared_->tls), peer_(std::move(peer)), mode_(mode) {}

bool Session::is_loopback() const {
  boost::system::error_code ec;
  auto a = asio::ip::make_address(peer_.address, ec);
  return !ec && a.is_loopback();
}

bool Session::auth_offered() const {
  if (mode_ == Mode::mx || user) return false;
  return stream_.is_tls() || (config().smtp.allow_plaintext_auth_on_loopback && is_loopback());
}

EhloCapabilities Session::capabilities() const {
  EhloCapabilities c;
  c.size = config().quota.max_message_bytes;
  c.starttls = stream_.tls_available() && !stream_.is_tls();
  if (auth_offered()) c.auth = {"PLAIN", "LOGIN"};
  return c;
}

DataLimits Session::data_limits() const {
  DataLimits l;
  l.max_message_bytes = config().quota.max_message_bytes;
  return l;
}

void Session::reply(int code, std::string_view enhanced, std::string_view text) {
  out_ += format_reply(code, enhanced, text, client_utf8);
}

asio::awaitable<bool> Session::flush() {
  if (out_.empty()) co_return true;
  std::string data;
  data.swap(out_);
  bool written = co_await stream_.write(data, std::chrono::seconds(config().limits.command_timeout_seconds));
  co_return written;
}

void Session::reset_transaction() {
  txn_.reset();
  client_utf8 = false;
}

Transaction& Session::begin_transaction() {
  txn_.emplace();
  // Short, unique, log-friendly: follows the message through every log line.
  txn_->queue_id = crypto::random_token(9);
  return *txn_;
}

asio::awaitable<void> Session::dispatch(Command& cmd) { co_await handler_for(cmd.verb)(*this, cmd); }

asio::awaitable<void> Session::run() {
  sessions_total().inc();
  // Shutdown cancels our pending read; we still want to say 421 after that.
  co_await asio::this_coro::throw_if_cancelled(false);
  const auto& cfg = config();
  log::info("smtp.connect", {{"session", peer_.id}, {"mode", to_string(mode_)}, {"peer", peer_.address}});
  if (mode_ == Mode::submissions) {
    bool secured = co_await stream_.start_tls(std::chrono::seconds(cfg.limits.command_timeout_seconds));
    if (!secured) {
      log::info("smtp.tls_failed", {{"session", peer_.id}, {"peer", peer_.address}});
      co_await stream_.close();
      co_return;
    }
  }
  reply(220, "", cfg.server.hostname + " ESMTP Caremail");
  CommandLimits limits;
  std::string line;
  std::string end_reason = "quit";
  // Until the first accepted MAIL FROM (MX) or a successful AUTH (submission) the session
  // is held to a few commands and seconds: before that, a client is only holding a slot.
  bool engaged = false;
  int commands_before_mail = 0;
  const auto preauth_deadline =
      net::ProtoStream::Clock::now() + std::chrono::seconds(cfg.smtp.preauth_timeout_seconds);
  while (!closing_) {
    if (!stream_.has_buffered()) {
      bool flushed = co_await flush();
      if (!flushed) {
        end_reason = "write failed";
        break;
      }
    }
    bool bare_lf = false;
    net::ReadStatus st = net::ReadStatus::timeout;
    net::ProtoStream::Clock::duration wait = command_timeout();
    if (!engaged) wait = std::min(wait, preauth_deadline - net::ProtoStream::Clock::now());
    // Shutdown cancelling the read is a value (ReadStatus::cancelled), not an exception.
    if (wait > net::ProtoStream::Clock::duration::zero()) {
      st = co_await stream_.read_line(line, limits.max_line, wait, &bare_lf);
    }
    if (st == net::ReadStatus::too_long) {
      reply(500, "5.5.6", "Line too long");
      error_counted();
    } else if (st == net::ReadStatus::timeout) {
      reply(421, "4.4.2", cfg.server.hostname + " Timeout: closing connection");
      end_reason = "timeout";
      break;
    } else if (st == net::ReadStatus::cancelled) {
      co_await asio::this_coro::reset_cancellation_state();
      reply(421, "4.3.2", cfg.server.hostname + " Service shutting down, try again later");
      end_reason = "shutdown";
      break;
    } else if (st != net::ReadStatus::ok) {
      end_reason = "disconnected";
      break;
    } else if (++commands_ > cfg.smtp.max_commands) {
      reply(421, "4.7.0", "Too many commands in one connection");
      end_reason = "too many commands";
      break;
    } else {
      auto parsed = parse_command(line, limits, client_utf8);
      if (!parsed) {
        reply(parsed.error().reply());
        error_counted();
        if (parsed.error().close_connection) {
          end_reason = "unparseable";
          break;
        }
      } else {
        co_await dispatch(parsed.value());
      }
      if (!engaged) engaged = in_transaction() || user.has_value();
      if (!engaged && ++commands_before_mail >= cfg.smtp.max_commands_before_mail && !closing_) {
        reply(421, "4.7.0", "Too many commands without a mail transaction, closing connection");
        end_reason = "too many commands before mail";
        break;
      }
    }
    if (errors_ >= cfg.smtp.max_errors) {
      reply(421, "4.7.0", "Too many errors, closing connection");
      end_reason = "too many errors";
      break;
    }
  }
  bool flushed = co_await flush();
  if (!flushed) log::debug("smtp.final_reply_lost", {{"session", peer_.id}});
  co_await stream_.close();
  log::info("smtp.disconnect", {{"session", peer_.id},
                                {"reason", end_reason},
                                {"commands", commands_},
                                {"errors", errors_},
                                {"user", user ? user->address : std::string()}});
}

Result<uint16_t> listen_smtp(std::shared_ptr<Shared> shared, const std::string& name, const Endpoint& ep, Mode mode) {
  net::Server& server = shared->server;
  return server.listen(name, ep, [shared, mode](asio::ip::tcp::socket sock, net::PeerInfo peer) -> asio::awaitable<void> {
    Session s(shared, std::move(sock), std::move(peer), mode);
    co_await s.run();
  });
}

}  // namespace caremail::smtp

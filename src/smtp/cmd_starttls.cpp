// STARTTLS (RFC 3207)
//   starttls = "STARTTLS" CRLF
// 502 when this listener has no TLS, 503 when TLS is already active. After "220 Ready"
// the handshake runs; anything the client pipelined after STARTTLS is discarded (never
// executed inside TLS), and the session forgets EHLO and AUTH state (RFC 3207 4.2).
#include "common/log.hpp"
#include "smtp/session.hpp"

namespace caremail::smtp {

boost::asio::awaitable<void> cmd_starttls(Session& s, Command&) {
  if (s.stream().is_tls()) {
    s.reply(503, "5.5.1", "TLS already active");
    s.error_counted();
    co_return;
  }
  if (!s.stream().tls_available()) {
    s.reply(502, "5.5.1", "STARTTLS not offered here");
    s.error_counted();
    co_return;
  }
  if (s.in_transaction()) {
    s.reply(503, "5.5.1", "STARTTLS is not allowed inside a mail transaction");
    s.error_counted();
    co_return;
  }
  s.reply(220, "2.0.0", "Ready to start TLS");
  bool flushed = co_await s.flush();
  if (!flushed) {
    s.close_after_reply();
    co_return;
  }
  bool secured = co_await s.stream().start_tls(std::chrono::seconds(s.config().limits.command_timeout_seconds));
  if (!secured) {
    log::info("smtp.tls_failed", {{"session", s.peer().id}, {"peer", s.peer().address}});
    s.close_after_reply();
    co_return;
  }
  s.helo.clear();
  s.esmtp = false;
  s.user.reset();
  s.reset_transaction();
  log::info("smtp.tls", {{"session", s.peer().id}, {"version", s.stream().tls_version()},
                         {"cipher", s.stream().tls_cipher()}});
}

}  // namespace caremail::smtp

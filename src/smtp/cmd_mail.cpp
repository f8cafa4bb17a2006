// MAIL (RFC 5321 4.1.1.2, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 3461 DSN, RFC 6531)
//   mail = "MAIL FROM:" Reverse-path [ SP Mail-parameters ] CRLF
// Needs HELO/EHLO; on submission ports needs AUTH, and the sender must be one the user may
// send as (MailService::may_send_as decides); not inside another transaction. A declared
// SIZE over the limit is refused here, before any data moves. On port 25 a sender in one
// of the service's own domains is refused (550 5.7.1) unless the peer is a trusted relay
// (smtp.trusted_relays): only the submission port, after AUTH, speaks for our domains.
#include "common/log.hpp"
#include "smtp/session.hpp"

namespace caremail::smtp {

boost::asio::awaitable<void> cmd_mail(Session& s, Command& c) {
  if (s.helo.empty()) {
    s.reply(503, "5.5.1", "Send EHLO or HELO first");
    s.error_counted();
    co_return;
  }
  if (s.in_transaction()) {
    s.reply(503, "5.5.1", "Nested MAIL command");
    s.error_counted();
    co_return;
  }
  if (s.mode() != Mode::mx && !s.user) {
    s.reply(530, "5.7.0", "Authentication required");
    s.error_counted();
    co_return;
  }
  const auto& p = c.mail;
  if (!s.esmtp && (p.size || p.body != Body::unspecified || p.smtputf8 || p.ret != Ret::unspecified || p.envid)) {
    s.reply(555, "5.5.4", "MAIL parameters need EHLO");
    s.error_counted();
    co_return;
  }
  if (p.body == Body::binary_mime) {
    s.reply(555, "5.5.4", "BODY=BINARYMIME is not offered");
    s.error_counted();
    co_return;
  }
  uint64_t limit = s.config().quota.max_message_bytes;
  if (p.size && *p.size > limit) {
    s.reply(552, "5.3.4", "Message size exceeds the limit of " + std::to_string(limit) + " bytes");
    co_return;
  }
  if (s.mode() != Mode::mx) {
    if (c.path.kind == Path::Kind::null) {
      s.reply(553, "5.7.1", "Submitted mail needs a sender address");
      s.error_counted();
      co_return;
    }
    std::string from = c.path.local_value() + "@" + c.path.domain;
    auto check = [&mail = s.shared().mail, by = *s.user, from]() { return mail.may_send_as(by, from); };
    Status allowed = co_await s.shared().server.blocking(std::move(check));
    if (!allowed) {
      s.reply(553, "5.7.1", allowed.error().message);
      co_return;
    }
    auto suspended = [&mail = s.shared().mail, by = *s.user]() { return mail.sending_allowed(by); };
    Status may_send = co_await s.shared().server.blocking(std::move(suspended));
    if (!may_send) {
      s.reply(550, "5.7.1", may_send.error().message);
      co_return;
    }
  }
  if (s.mode() == Mode::mx && c.path.kind != Path::Kind::null && !from_trusted_relay(s)) {
    // Issue 14: until the gateway checks SPF/DKIM/DMARC, nobody on port 25 is believed to
    // be one of us; our people sign in on the submission port.
    std::string domain = c.path.domain;
    while (!domain.empty() && domain.back() == '.') domain.pop_back();  // "ceo@ours.example." is ours too
    auto is_local = [&mail = s.shared().mail, domain]() { return mail.is_local_domain(domain); };
    bool local = co_await s.shared().server.blocking(std::move(is_local));
    if (local) {
      count_local_sender_refused();
      log::warn("smtp.local_sender_refused", {{"session", s.peer().id}, {"peer", s.peer().address},
                                              {"from", c.path.address()}, {"where", "envelope"}});
      s.reply(550, "5.7.1", "Sender address " + c.path.address() +
                                " is in a domain of this service: sign in and send through the submission port");
      co_return;
    }
  }
  Transaction& t = s.begin_transaction();
  t.from = c.path;
  t.params = c.mail;
  s.client_utf8 = p.smtputf8;
  log::info("smtp.mail", {{"session", s.peer().id},
                          {"queue_id", t.queue_id},
                          {"from", c.path.address()},
                          {"size", p.size ? std::to_string(*p.size) : std::string()},
                          {"user", s.user ? s.user->address : std::string()}});
  s.reply(250, "2.1.0", "Ok");
}

}  // namespace caremail::smtp

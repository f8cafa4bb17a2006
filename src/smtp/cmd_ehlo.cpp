// EHLO / HELO (RFC 5321 4.1.1.1)
//   ehlo = "EHLO" SP ( Domain / address-literal ) CRLF
//   helo = "HELO" SP Domain CRLF
// Any time: resets the transaction. EHLO lists the extensions this listener offers now
// (AUTH only on submission ports, and only after TLS unless loopback is allowed).
#include "smtp/session.hpp"

namespace caremail::smtp {

boost::asio::awaitable<void> cmd_ehlo(Session& s, Command& c) {
  s.reset_transaction();
  s.helo = c.domain;
  s.esmtp = c.verb == Verb::ehlo;
  if (s.esmtp) {
    s.reply_raw(format_ehlo(s.config().server.hostname, "Hello " + c.domain, s.capabilities()));
  } else {
    s.reply(250, "", s.config().server.hostname + " Hello " + c.domain);
  }
  co_return;
}

}  // namespace caremail::smtp

// RSET, NOOP, QUIT, VRFY, EXPN, HELP (RFC 5321 4.1.1.5 - 4.1.1.10)
//   rset = "RSET" CRLF            noop = "NOOP" [ SP String ] CRLF
//   quit = "QUIT" CRLF            vrfy = "VRFY" SP String CRLF
//   expn = "EXPN" SP String CRLF  help = "HELP" [ SP String ] CRLF
// VRFY and EXPN never reveal who exists (directory harvesting): 252 and 502.
#include "smtp/session.hpp"

namespace caremail::smtp {

boost::asio::awaitable<void> cmd_misc(Session& s, Command& c) {
  switch (c.verb) {
    case Verb::rset:
      s.reset_transaction();
      s.reply(250, "2.0.0", "Ok");
      break;
    case Verb::noop:
      s.reply(250, "2.0.0", "Ok");
      break;
    case Verb::quit:
      s.reply(221, "2.0.0", s.config().server.hostname + " closing connection");
      s.close_after_reply();
      break;
    case Verb::vrfy:
      s.reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
      break;
    case Verb::expn:
      s.reply(502, "5.5.1", "EXPN is not available");
      break;
    default:
      s.reply(214, "2.0.0", "Caremail: see RFC 5321; commands EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT STARTTLS AUTH");
      break;
  }
  co_return;
}

}  // namespace caremail::smtp

// STARTTLS (RFC 9051 §6.2.1), LOGIN (§6.2.3), AUTHENTICATE PLAIN (§6.2.2, RFC 4616) with
// SASL-IR (RFC 4959).
// Not-authenticated state only. LOGIN and AUTHENTICATE are refused without TLS (LOGINDISABLED
// is advertised) unless imap.allow_plaintext_auth_on_loopback and the peer is on loopback.
// Credentials are checked by SignInService::sign_in (lockout, failures recorded with the ID
// the client gave, expiry, AUP; an expiring password gets an [ALERT]) on the server's
// bounded password-hashing pool: when its queue is full the answer is NO [UNAVAILABLE]
// at once. The connection is closed after imap.max_auth_failures. Secrets are never logged.
#include "common/log.hpp"
#include "crypto/crypto.hpp"
#include "imap/session.hpp"

namespace caremail::imap {

namespace {

boost::asio::awaitable<void> starttls(Session& s, Command& c) {
  if (s.stream().is_tls()) {
    s.bad(c, "TLS is already active");
    co_return;
  }
  if (!s.stream().tls_available()) {
    s.bad(c, "STARTTLS is not offered here");
    co_return;
  }
  s.ok(c, "Begin TLS negotiation now");
  bool flushed = co_await s.flush();
  if (!flushed) {
    s.close_after_reply();
    co_return;
  }
  // Anything pipelined after STARTTLS is plaintext an attacker may have injected: the
  // stream drops it before the handshake.
  bool secured = co_await s.stream().start_tls(s.write_timeout());
  if (!secured) {
    log::info("imap.tls_failed", {{"session", s.peer().id}, {"peer", s.peer().address}});
    s.close_after_reply();
    co_return;
  }
  log::info("imap.tls", {{"session", s.peer().id}, {"version", s.stream().tls_version()},
                         {"cipher", s.stream().tls_cipher()}});
}

boost::asio::awaitable<void> check_credentials(Session& s, Command& c, std::string username, std::string password) {
  AuthContext ctx;
  ctx.protocol = "imap";
  ctx.peer = s.peer().address;
  ctx.client = s.client_name;
  ctx.mail_client = true;
  auto check = [&auth = s.shared().auth, username, password, ctx]() {
    return auth.sign_in(username, password, ctx);
  };
  auto checked = co_await s.shared().server.blocking_auth(std::move(check));
  if (!checked) {
    // The hashing queue is full (a flood of sign-ins): a temporary failure the client
    // retries (RFC 5530), not counted as a wrong password.
    log::warn("imap.auth_busy", {{"session", s.peer().id}, {"peer", s.peer().address}});
    s.no(c, "[UNAVAILABLE] Too many sign-ins at once; try again in a few seconds");
    co_return;
  }
  auto& who = *checked;
  if (!who) {
    ++s.auth_failures;
    log::warn("imap.auth_failed", {{"session", s.peer().id}, {"peer", s.peer().address}, {"user", username}});
    // The plain reason (wrong password, locked, expired, AUP) is for the person: clients
    // show the text of an [ALERT]-less NO as the error.
    const std::string& why = who.error().message;
    if (why == "wrong address or password")
      s.no(c, "[AUTHENTICATIONFAILED] Invalid user name or password");
    else
      s.no(c, "[AUTHENTICATIONFAILED] " + why);
    if (s.auth_failures >= s.config().imap.max_auth_failures) {
      s.untagged("BYE Too many failed logins, closing the connection");
      s.close_after_reply();
    }
    co_return;
  }
  std::string alert = std::move(who->alert);
  s.logged_in(std::move(who->principal));
  log::info("imap.login", {{"session", s.peer().id}, {"user", s.user->address}, {"peer", s.peer().address}});
  if (!alert.empty()) s.untagged("OK [ALERT] " + alert);
  s.ok(c, "[CAPABILITY " + s.capabilities() + "] Logged in");
}

boost::asio::awaitable<void> login(Session& s, Command& c) {
  if (!s.login_allowed()) {
    s.no(c, "[PRIVACYREQUIRED] Use STARTTLS (or port 993) before logging in");
    co_return;
  }
  co_await check_credentials(s, c, c.user, c.password);
}

boost::asio::awaitable<void> authenticate(Session& s, Command& c) {
  if (c.mechanism != "PLAIN") {
    s.no(c, "[CANNOT] Unsupported authentication mechanism; use PLAIN");
    co_return;
  }
  if (!s.login_allowed()) {
    s.no(c, "[PRIVACYREQUIRED] Use STARTTLS (or port 993) before logging in");
    co_return;
  }
  std::string response;
  if (c.initial_response) {
    response = *c.initial_response == "=" ? std::string() : *c.initial_response;
  } else {
    // Empty challenge, then one line from the client (RFC 9051 §6.2.2).
    s.raw("+ \r\n");
    s.parser().expect_line();
    bool flushed = co_await s.flush();
    if (!flushed) {
      s.close_after_reply();
      co_return;
    }
    // The session loop reads the line; we read it here ourselves to keep the exchange in
    // one place.
    for (;;) {
      if (s.stream().has_buffered()) {
        size_t n = s.parser().feed(s.stream().peek());
        s.stream().consume(n);
      }
      s.note_progress();
      auto st = s.parser().status();
      if (st == ParseStatus::done || st == ParseStatus::error) break;
      // The same deadlines as for a command: the whole line, and the time to log in.
      std::chrono::seconds wait = s.read_timeout();
      net::ReadStatus rs = net::ReadStatus::timeout;
      if (wait.count() > 0) {
        rs = co_await s.stream().read_more(wait);
      }
      if (rs != net::ReadStatus::ok) {
        if (rs == net::ReadStatus::timeout) s.untagged(s.timeout_text());
        s.close_after_reply();
        co_return;
      }
    }
    if (s.parser().status() == ParseStatus::error) {
      bool close = s.parser().error().close_connection;
      s.parser().next();
      s.bad(c, "Authentication response too long");
      if (close) s.close_after_reply();
      co_return;
    }
    response = s.parser().take_command().line;
    s.parser().next();
    if (response == "*") {
      s.bad(c, "Authentication cancelled");
      co_return;
    }
  }
  auto decoded = crypto::base64_decode(response);
  if (!decoded) {
    s.bad(c, "The authentication response is not valid base64");
    co_return;
  }
  // authzid NUL authcid NUL passwd
  auto first = decoded->find('\0');
  auto second = first == std::string::npos ? std::string::npos : decoded->find('\0', first + 1);
  if (second == std::string::npos) {
    s.bad(c, "Malformed PLAIN response");
    co_return;
  }
  std::string authzid = decoded->substr(0, first);
  std::string username = decoded->substr(first + 1, second - first - 1);
  std::string password = decoded->substr(second + 1);
  if (!authzid.empty() && authzid != username) {
    ++s.auth_failures;
    s.no(c, "[AUTHORIZATIONFAILED] Acting as another user is not supported");
    co_return;
  }
  co_await check_credentials(s, c, std::move(username), std::move(password));
}

}  // namespace

boost::asio::awaitable<void> cmd_auth(Session& s, Command& c) {
  switch (c.verb) {
    case Verb::starttls: co_await starttls(s, c); break;
    case Verb::login: co_await login(s, c); break;
    default: co_await authenticate(s, c); break;
  }
}

}  // namespace caremail::imap

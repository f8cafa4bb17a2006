// AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms.
//   auth = "AUTH" SP sasl-mech [ SP initial-response ] CRLF
//   then, per challenge:  base64 CRLF  /  "*" CRLF (cancel)
// Submission ports only; after EHLO; not inside a transaction; once per session; only
// over TLS (or loopback when smtp.allow_plaintext_auth_on_loopback). Credentials are
// checked by SignInService::sign_in (lockout, failures recorded with the EHLO name) on the
// server's bounded password-hashing pool: when its queue is full the answer is 454 4.7.0 at
// once. Never logs secrets.
#include "common/log.hpp"
#include "crypto/crypto.hpp"
#include "smtp/session.hpp"

namespace caremail::smtp {

namespace {

constexpr size_t kMaxResponse = 12288;  // RFC 4954 4: server must accept 12288 octets

// Reads one client response to a 334 challenge. nullopt: cancelled ("*"), malformed or
// the connection failed (then the session is closing).
boost::asio::awaitable<std::optional<std::string>> challenge(Session& s, std::string_view prompt) {
  s.reply_raw("334 " + std::string(prompt) + "\r\n");
  bool flushed = co_await s.flush();
  if (!flushed) {
    s.close_after_reply();
    co_return std::nullopt;
  }
  std::string line;
  auto st = co_await s.stream().read_line(line, kMaxResponse, s.command_timeout());
  if (st != net::ReadStatus::ok) {
    if (st != net::ReadStatus::too_long) s.close_after_reply();
    s.reply(500, "5.5.6", "Authentication exchange line too long");
    co_return std::nullopt;
  }
  if (line == "*") {
    s.reply(501, "5.7.0", "Authentication cancelled");
    co_return std::nullopt;
  }
  auto decoded = crypto::base64_decode(line);
  if (!decoded) {
    s.reply(501, "5.5.2", "Cannot decode the response (not base64)");
    co_return std::nullopt;
  }
  co_return decoded;
}

}  // namespace

boost::asio::awaitable<void> cmd_auth(Session& s, Command& c) {
  if (s.mode() == Mode::mx) {
    s.reply(502, "5.5.1", "AUTH is not available on this port; use the submission port");
    s.error_counted();
    co_return;
  }
  if (s.user) {
    s.reply(503, "5.5.1", "Already authenticated");
    s.error_counted();
    co_return;
  }
  if (!s.esmtp) {
    s.reply(503, "5.5.1", "Send EHLO first");
    s.error_counted();
    co_return;
  }
  if (s.in_transaction()) {
    s.reply(503, "5.5.1", "AUTH is not allowed inside a mail transaction");
    s.error_counted();
    co_return;
  }
  if (!s.auth_offered()) {
    s.reply(538, "5.7.11", "Encryption required: use STARTTLS first");
    s.error_counted();
    co_return;
  }
  std::string username, password;
  if (c.mechanism == "PLAIN") {
    std::optional<std::string> resp;
    if (c.initial_response && *c.initial_response != "=") {
      resp = crypto::base64_decode(*c.initial_response);
      if (!resp) {
        s.reply(501, "5.5.2", "Cannot decode the response (not base64)");
        s.error_counted();
        co_return;
      }
    } else if (c.initial_response) {
      resp = std::string();
    } else {
      resp = co_await challenge(s, "");
      if (!resp) co_return;
    }
    // authzid NUL authcid NUL passwd
    auto first = resp->find('\0');
    auto second = first == std::string::npos ? std::string::npos : resp->find('\0', first + 1);
    if (second == std::string::npos) {
      s.reply(501, "5.5.2", "Malformed PLAIN response");
      s.error_counted();
      co_return;
    }
    std::string authzid = resp->substr(0, first);
    username = resp->substr(first + 1, second - first - 1);
    password = resp->substr(second + 1);
    if (!authzid.empty() && authzid != username) {
      s.reply(535, "5.7.8", "Authentication credentials invalid (acting as another user is not supported)");
      ++s.auth_failures;
      co_return;
    }
  } else if (c.mechanism == "LOGIN") {
    std::optional<std::string> u;
    if (c.initial_response && *c.initial_response != "=") u = crypto::base64_decode(*c.initial_response);
    else u = co_await challenge(s, "VXNlcm5hbWU6");  // "Username:"
    if (!u) co_return;
    auto p = co_await challenge(s, "UGFzc3dvcmQ6");   // "Password:"
    if (!p) co_return;
    username = std::move(*u);
    password = std::move(*p);
  } else {
    s.reply(504, "5.5.4", "Unrecognized authentication mechanism; use PLAIN or LOGIN");
    s.error_counted();
    co_return;
  }

  AuthContext ctx;
  ctx.protocol = "smtp";
  ctx.peer = s.peer().address;
  ctx.client = s.helo.substr(0, 100);  // the EHLO name: often the device's host name
  ctx.mail_client = true;
  auto check = [&auth = s.shared().auth, username, password, ctx]() {
    return auth.sign_in(username, password, ctx);
  };
  auto checked = co_await s.shared().server.blocking_auth(std::move(check));
  if (!checked) {
    // The hashing queue is full (a flood of sign-ins): temporary (RFC 4954 §6), retried.
    log::warn("smtp.auth_busy", {{"session", s.peer().id}, {"peer", s.peer().address}});
    s.reply(454, "4.7.0", "Temporary authentication failure: too many sign-ins at once, try again shortly");
    co_return;
  }
  auto& who = *checked;
  if (!who) {
    ++s.auth_failures;
    log::warn("smtp.auth_failed", {{"session", s.peer().id}, {"peer", s.peer().address}, {"user", username}});
    const std::string& why = who.error().message;
    if (why == "wrong address or password")
      s.reply(535, "5.7.8", "Authentication credentials invalid");
    else  // locked, expired, policy: the plain reason, which mail clients show
      s.reply(535, "5.7.8", "Authentication refused: " + why);
    if (s.auth_failures >= s.config().smtp.max_auth_failures) {
      s.reply(421, "4.7.0", "Too many authentication failures, closing connection");
      s.close_after_reply();
    }
    co_return;
  }
  s.user = std::move(who->principal);
  log::info("smtp.auth", {{"session", s.peer().id}, {"user", s.user->address}, {"mechanism", c.mechanism}});
  s.reply(235, "2.7.0", "Authentication successful");
}

}  // namespace caremail::smtp

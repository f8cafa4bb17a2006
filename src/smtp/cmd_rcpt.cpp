// RCPT (RFC 5321 4.1.1.3, RFC 3461 NOTIFY/ORCPT)
//   rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path )
//          [ SP Rcpt-parameters ] CRLF
// Needs MAIL. Local recipients are checked now: unknown (or disabled) 550 5.1.1, full
// 552 5.2.2 (no figures), a distribution list this sender may not write to 550 5.7.1. Other domains: the MX port never relays (550 5.7.1); submission
// (after AUTH) hands them to the outbound queue. More than smtp.max_recipients: 452 4.5.3.
#include <algorithm>

#include "common/log.hpp"
#include "smtp/session.hpp"

namespace caremail::smtp {

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return s;
}
}  // namespace

boost::asio::awaitable<void> cmd_rcpt(Session& s, Command& c) {
  if (!s.in_transaction()) {
    s.reply(503, "5.5.1", "Send MAIL first");
    s.error_counted();
    co_return;
  }
  Transaction& t = s.txn();
  if (t.bdat) {
    s.reply(503, "5.5.1", "RCPT is not allowed after BDAT");
    s.error_counted();
    co_return;
  }
  if (c.rcpt.notify.given && !s.esmtp) {
    s.reply(555, "5.5.4", "RCPT parameters need EHLO");
    s.error_counted();
    co_return;
  }
  if (static_cast<int>(t.rcpts.size()) >= s.config().smtp.max_recipients) {
    s.reply(452, "4.5.3", "Too many recipients");
    co_return;
  }
  Recipient r;
  r.path = c.path;
  r.params = c.rcpt;
  const std::string& national = s.config().national.domain;
  if (c.path.kind == Path::Kind::postmaster) {
    r.address = "postmaster@" + lower(national);
  } else {
    r.address = c.path.local_value() + "@" + lower(c.path.domain);
  }
  std::string domain = r.address.substr(r.address.rfind('@') + 1);
  bool local_part_postmaster = lower(c.path.local_value()) == "postmaster";

  auto is_local = [&mail = s.shared().mail, domain]() { return mail.is_local_domain(domain); };
  bool local = co_await s.shared().server.blocking(std::move(is_local));
  if (!local) {
    if (s.mode() == Mode::mx || !s.user) {
      log::info("smtp.rcpt_refused", {{"session", s.peer().id}, {"queue_id", t.queue_id}, {"to", r.address},
                                      {"reason", "relay denied"}});
      s.reply(550, "5.7.1", "Relaying denied: " + r.address + " is not a domain of this service");
      co_return;
    }
    // Authenticated submission: the outbound queue takes it after the data.
    t.rcpts.push_back(std::move(r));
    s.reply(250, "2.1.5", "Ok");
    co_return;
  }
  uint64_t size = t.params.size.value_or(0);
  // The sender matters for distribution lists (who may send to them).
  Sender from{t.from.address(), s.user, s.config().smtp.trust_envelope_sender_for_lists};
  auto check = [&mail = s.shared().mail, addr = r.address, size, from]() {
    return mail.check_recipient(addr, size, from);
  };
  auto ok = co_await s.shared().server.blocking(std::move(check));
  if (!ok && local_part_postmaster && ok.error().code == Errc::not_found) {
    // RFC 5321 4.5.1: postmaster must always be accepted; it reaches the national postmaster.
    r.address = "postmaster@" + lower(national);
    auto again = [&mail = s.shared().mail, addr = r.address]() { return mail.check_recipient(addr, 0); };
    ok = co_await s.shared().server.blocking(std::move(again));
  }
  if (!ok) {
    log::info("smtp.rcpt_refused", {{"session", s.peer().id}, {"queue_id", t.queue_id}, {"to", r.address},
                                    {"reason", std::string(to_string(ok.error().code))}});
    // Only "unknown" or "full": a stranger learns neither that a mailbox is disabled nor
    // how full it is (issue 14); the log above keeps the reason.
    switch (ok.error().code) {
      case Errc::not_found:
      case Errc::conflict: s.reply(550, "5.1.1", "No such user here: " + r.address); break;
      case Errc::quota_exceeded: s.reply(552, "5.2.2", "Mailbox full: " + r.address); break;
      case Errc::permission_denied: s.reply(550, "5.7.1", ok.error().message); break;  // a list's senders
      default: s.reply(451, "4.3.0", "Temporary problem checking the recipient, try again later"); break;
    }
    co_return;
  }
  r.local = *ok;
  t.rcpts.push_back(std::move(r));
  s.reply(250, "2.1.5", "Ok");
}

}  // namespace caremail::smtp
